"""binary_clf_curve: placeholder (being written)."""


def binary_clf_curve(y_score, y_true, sample_weight):
    raise NotImplementedError
