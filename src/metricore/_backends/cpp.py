"""The C++ backend: the pybind11 functions of ``metricore._core``, bound without wrappers.

Each ``_core`` function already has the protocol's signature and return value, so the
adapter adds no Python frame to the hot path. User-written per-element functions cannot be
compiled into C++, so ``moments_custom`` is the Numba backend's.
"""

from metricore import _core


class CppBackend:
    name = "cpp"
    threshold_counts = staticmethod(_core.threshold_counts)
    confusion_matrix = staticmethod(_core.confusion_matrix)
    topk_matches = staticmethod(_core.topk_matches)
    moments = staticmethod(_core.moments)
    column_moments = staticmethod(_core.column_moments)
    score_histogram = staticmethod(_core.score_histogram)
    binary_clf_curve = staticmethod(_core.binary_clf_curve)
    score_histogram_grouped = staticmethod(_core.score_histogram_grouped)
    confusion_matrix_grouped = staticmethod(_core.confusion_matrix_grouped)
    topk_matches_grouped = staticmethod(_core.topk_matches_grouped)
    moments_grouped = staticmethod(_core.moments_grouped)
    column_moments_grouped = staticmethod(_core.column_moments_grouped)

    @staticmethod
    def moments_custom(fn, y_true, y_pred, sample_weight, out):
        from metricore._backends.numba import moments_custom

        return moments_custom(fn, y_true, y_pred, sample_weight, out)


BACKEND = CppBackend()
