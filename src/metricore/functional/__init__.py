"""Pure formulas over state arrays: no state, no kernels, no input handling.

Zero denominators give 0.0, as Keras' ``divide_no_nan`` does.
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-7  # Keras' backend.epsilon()


def epsilon() -> float:
    """Keras' fuzz factor (``keras.backend.epsilon()``), for ports of Keras metrics."""
    return EPSILON


def safe_div(num, den):
    """num / den elementwise, 0.0 where den == 0 (Keras' divide_no_nan)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out[()] if out.ndim == 0 else out


def precision(tp, fp):
    return safe_div(tp, np.add(tp, fp))


def recall(tp, fn):
    return safe_div(tp, np.add(tp, fn))


def fbeta_keras(tp, fp, fn, beta: float):
    """Keras' FBetaScore formula, epsilon terms included (so results match Keras)."""
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    p = tp / (tp + fp + EPSILON)
    r = tp / (tp + fn + EPSILON)
    b2 = beta * beta
    return (p * r) / (b2 * p + r + EPSILON) * (1 + b2)


def iou_per_class(cm):
    """Intersection over union per class from a confusion matrix (rows true, columns predicted)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    return safe_div(tp, cm.sum(axis=0) + cm.sum(axis=1) - tp), cm.sum(axis=0) + cm.sum(axis=1) - tp
