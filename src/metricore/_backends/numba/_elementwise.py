"""Per-element arithmetic shared by the Numba kernels: the formulas of ``protocol.py``.

Each function is small and jitted on its own; LLVM inlines them into the kernels' loops.
They mirror ``csrc/include/metricore/elementwise.hpp`` term for term, so that the two
backends agree exactly on counts and to the last bits on most sums.

Indices: kernels index arrays with ``U(i)`` (an unsigned cast). Numba adds a negative-index
wraparound to every signed index it cannot prove non-negative, and that select stops LLVM
from vectorizing the loop; an unsigned index has no wraparound.
"""

import math

import numpy as np

from metricore._backends.protocol import MomentKind

from ._jit import jit

U = np.uint64

EPSILON = 1e-7  # Keras' backend epsilon
COSINE_FLOOR = 1e-12  # Keras' l2_normalize floor on the squared norm
LOG2 = math.log(2.0)

VALUE = int(MomentKind.VALUE)
ABSOLUTE = int(MomentKind.ABSOLUTE)
SQUARED = int(MomentKind.SQUARED)
ABSOLUTE_PERCENTAGE = int(MomentKind.ABSOLUTE_PERCENTAGE)
SQUARED_LOG = int(MomentKind.SQUARED_LOG)
LOG_COSH = int(MomentKind.LOG_COSH)
EQUAL = int(MomentKind.EQUAL)
BINARY_MATCH = int(MomentKind.BINARY_MATCH)
COSINE = int(MomentKind.COSINE)


# ------------------------------------------------------------------ thresholds
@jit
def bucket(thresholds, score):
    """The number of thresholds strictly below ``score``: it is positive at t < bucket.

    Branch-free binary search over sorted thresholds; the result is in [0, T] whatever the
    inputs, so it always indexes a histogram of T + 1 buckets.
    """
    n = thresholds.shape[0]
    if n <= 0:
        return 0
    base = 0
    while n > 1:
        half = n >> 1
        base = base + half if thresholds[U(base + half)] < score else base
        n -= half
    return base + (1 if thresholds[U(base)] < score else 0)


# ------------------------------------------------------------------ labels
@jit
def binary_label(v):
    """(valid, label): y_true of a binary problem must be 0 or 1 (NaN is neither)."""
    one = v == 1
    return one | (v == 0), np.int64(one)


@jit
def class_index(v, num_classes):
    """``v`` as a class id if it is an integral value in [0, num_classes), else -1.

    The cast runs only on values already known to be in range (NaN fails the range test).
    """
    in_range = (v >= 0) & (v < num_classes)
    iv = np.int64(v) if in_range else np.int64(0)
    return iv if in_range & (iv == v) else np.int64(-1)


@jit
def first_argmax(values, i, num_columns):
    """(index of the first maximum of row i, whether the row holds NaN)."""
    best = values[U(i), U(0)]
    nan = best != best
    idx = 0
    for j in range(1, num_columns):
        v = values[U(i), U(j)]
        nan |= v != v
        greater = v > best
        best = v if greater else best
        idx = j if greater else idx
    return idx, nan


# ------------------------------------------------------------------ weights
@jit
def weight_ok(w):
    """Finite iff w - w == 0 (inf - inf and NaN - NaN are NaN): vectorizes, needs no libm."""
    return (w - w) == 0


@jit
def row_weight(sample_weight, i):
    """The weight of sample i of a (N,) weight vector; the integer 1 when unweighted, so that
    unweighted counts stay exact int64 (the ``is None`` branch is resolved at compile time)."""
    if sample_weight is None:
        return 1
    return sample_weight[U(i)]


@jit
def element_weight(sample_weight, i, j):
    """The weight of element (i, j) of a (N, W) weight array; 1 when unweighted."""
    if sample_weight is None:
        return 1
    return sample_weight[U(i), U(j)]


# ------------------------------------------------------------------ moment terms
@jit
def nan_max(a, b):
    """max that propagates a NaN in ``a``, like Keras' ops.maximum."""
    return b if a < b else a


@jit
def softplus(z):
    """log(1 + exp(z)), written so that exp never overflows."""
    return math.log1p(math.exp(-abs(z))) + (z if z > 0.0 else 0.0)


@jit
def moment_term(kind, t, p, param):
    """The row kinds' per-element term f(t, p) in float64 (COSINE has none: see cosine_term).

    ``kind`` is a compile-time constant in every caller, so LLVM keeps only its branch.
    """
    t = np.float64(t)
    p = np.float64(p)
    if kind == VALUE:
        return p
    if kind == ABSOLUTE:
        return abs(t - p)
    if kind == SQUARED:
        d = t - p
        return d * d
    if kind == ABSOLUTE_PERCENTAGE:
        return 100.0 * (abs(t - p) / nan_max(abs(t), EPSILON))
    if kind == SQUARED_LOG:
        d = math.log(nan_max(p, EPSILON) + 1.0) - math.log(nan_max(t, EPSILON) + 1.0)
        return d * d
    if kind == LOG_COSH:
        x = p - t
        return x + softplus(-2.0 * x) - LOG2
    if kind == EQUAL:
        return 1.0 if t == p else 0.0
    if kind == BINARY_MATCH:
        return 1.0 if (1.0 if p > param else 0.0) == t else 0.0
    return 0.0


@jit
def cosine_term(dot, tt, pp):
    """COSINE's row term from sum t p, sum t^2 and sum p^2 (Keras normalizes each vector by
    sqrt(max(sum x^2, 1e-12)) and takes the dot product)."""
    return dot / (math.sqrt(nan_max(tt, COSINE_FLOOR)) * math.sqrt(nan_max(pp, COSINE_FLOOR)))
