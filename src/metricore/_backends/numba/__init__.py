"""The Numba CPU backend: one module per kernel family, the same contract as the C++ one.

Every kernel is jitted through ``_jit.jit`` (the only place Numba options live) and compiles
lazily: importing this package compiles nothing; a kernel compiles on its first call for the
argument types it meets and is cached on disk for later processes. The functions read their
inputs in place through any strides (including 0 and negative ones, and read-only views) and
never copy them.

    >>> import numpy as np
    >>> from metricore._backends.numba import BACKEND
    >>> out = np.zeros((2,), np.int64)
    >>> BACKEND.topk_matches(np.array([1, 0]), np.array([[0.2, 0.8], [0.3, 0.7]]), None, 0, out)
    (0, 0, 0)
    >>> out.tolist()
    [1, 2]
"""

from .binary_clf_curve import binary_clf_curve
from .confusion_matrix import confusion_matrix
from .grouped import (
    column_moments_grouped,
    confusion_matrix_grouped,
    moments_grouped,
    score_histogram_grouped,
    topk_matches_grouped,
)
from .moments import column_moments, moments, moments_custom
from .score_histogram import score_histogram
from .threshold_counts import threshold_counts
from .topk_matches import topk_matches


class NumbaBackend:
    """``metricore._backends.protocol.Backend`` and ``GroupedBackend`` on Numba kernels.

    The methods are the family modules' functions themselves (static), so a call adds no
    Python frame to the hot path.
    """

    name = "numba"
    threshold_counts = staticmethod(threshold_counts)
    confusion_matrix = staticmethod(confusion_matrix)
    topk_matches = staticmethod(topk_matches)
    moments = staticmethod(moments)
    column_moments = staticmethod(column_moments)
    moments_custom = staticmethod(moments_custom)
    score_histogram = staticmethod(score_histogram)
    binary_clf_curve = staticmethod(binary_clf_curve)
    score_histogram_grouped = staticmethod(score_histogram_grouped)
    confusion_matrix_grouped = staticmethod(confusion_matrix_grouped)
    topk_matches_grouped = staticmethod(topk_matches_grouped)
    moments_grouped = staticmethod(moments_grouped)
    column_moments_grouped = staticmethod(column_moments_grouped)


BACKEND = NumbaBackend()

__all__ = [
    "BACKEND",
    "NumbaBackend",
    "binary_clf_curve",
    "column_moments",
    "column_moments_grouped",
    "confusion_matrix",
    "confusion_matrix_grouped",
    "moments",
    "moments_custom",
    "moments_grouped",
    "score_histogram",
    "score_histogram_grouped",
    "threshold_counts",
    "topk_matches",
    "topk_matches_grouped",
]
