"""Per-element arithmetic shared by the Numba kernels: the formulas of ``protocol.py``.

Scalar helpers are small ``_jit.jit`` functions, which LLVM inlines; helpers holding a loop
are ``_jit.inline`` (LLVM declines to inline those), and helpers whose body depends on the
argument types are ``_jit.specialize`` overloads, so a hot loop never holds a call. They
mirror ``csrc/include/metricore/elementwise.hpp`` term for term, so that the two backends
agree exactly on counts and to the last bits on most sums.

Indices: kernels index arrays with ``U(i)`` (an unsigned cast). Numba adds a negative-index
wraparound to every signed index it cannot prove non-negative, and that select stops LLVM
from vectorizing the loop; an unsigned index has no wraparound.
"""

import math

import numpy as np
from numba import types

from metricore._backends.protocol import MomentKind

from ._jit import inline, jit, specialize

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
# The bucket of a score among T sorted thresholds is the number of thresholds strictly
# below it, so the score is predicted positive (score > thresholds[t]) exactly at t < bucket.
# A binary search per element costs a dependent load and a mispredicted branch per level
# (LLVM turns its select into a branch), so the kernels look the bucket up on a uniform grid
# over [thresholds[0], thresholds[-1]] instead: cell() is monotone in the score, thresholds
# in an earlier cell are below the score and thresholds in a later one above it, so only
# those sharing the score's cell are compared -- about one with 2T cells for Keras' evenly
# spaced thresholds, and never an index out of range whatever the thresholds.
@jit
def _cell(v, lo, scale, top):
    c = (v - lo) * scale
    c = c if c < top else top
    c = c if c >= 0.0 else 0.0  # also maps NaN to 0
    return np.int64(c)


@jit
def bucket_grid(thresholds):
    """The lookup table of ``bucket`` for sorted thresholds: a tuple to pass along."""
    num_thresholds = thresholds.shape[0]
    lo = thresholds[0] if num_thresholds > 0 else 0.0
    hi = thresholds[num_thresholds - 1] if num_thresholds > 0 else 0.0
    finite_span = (hi > lo) & (hi - lo < np.inf)
    num_cells = 2 * num_thresholds if finite_span else 1  # 1 cell: a linear scan
    scale = num_cells / (hi - lo) if finite_span else 0.0
    top = np.float64(num_cells - 1)
    padded = np.empty(num_thresholds + 1)  # +inf sentinel: the scan stops in range
    padded[:num_thresholds] = thresholds
    padded[num_thresholds] = np.inf
    first = np.empty(num_cells, np.int64)  # first threshold whose cell is >= c
    t = 0
    for c in range(num_cells):
        while t < num_thresholds and _cell(thresholds[t], lo, scale, top) < c:
            t += 1
        first[c] = t
    return padded, first, lo, scale, top


@jit
def bucket(grid, score):
    """The number of thresholds strictly below ``score`` (not NaN), in [0, T]."""
    padded, first, lo, scale, top = grid
    b = first[U(_cell(score, lo, scale, top))]
    b += np.int64(padded[U(b)] < score)  # the usual single step, branch-free
    while padded[U(b)] < score:
        b += 1
    return b


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


@inline
def first_argmax(values, i, num_columns):
    """(index of the first maximum of row i, whether the row holds NaN); num_columns >= 1."""
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


def row_class(values, i, num_classes):
    """(class of sample i, bad): ``values`` holds class ids (1-D; bad if not an integral value
    in [0, num_classes)) or rows whose first maximum is the class (2-D; bad if NaN). The class
    is always in [0, num_classes) (num_classes >= 1), so it can index."""


@specialize(row_class)
def _row_class(values, i, num_classes):
    if values.ndim == 1:

        def ids(values, i, num_classes):
            c = class_index(values[U(i)], num_classes)
            return max(c, 0), c < 0

        return ids
    return lambda values, i, num_classes: first_argmax(values, i, num_classes)


# ------------------------------------------------------------------ weights
@jit
def weight_ok(w):
    """Finite iff w - w == 0 (inf - inf and NaN - NaN are NaN): vectorizes, needs no libm."""
    return (w - w) == 0


def row_weight(sample_weight, i):
    """The weight of sample i of a (N,) weight vector; the integer 1 when unweighted (None),
    so that unweighted counts stay exact int64."""


@specialize(row_weight)
def _row_weight(sample_weight, i):
    if isinstance(sample_weight, types.NoneType):
        return lambda sample_weight, i: 1
    return lambda sample_weight, i: sample_weight[U(i)]


@jit
def same_shape(sample_weight, like):
    """Whether the weights (or None) have the shape of ``like`` (a kernel's argument check)."""
    if sample_weight is None:
        return True
    return sample_weight.shape == like.shape


@jit
def labels_fit(y_true, y_pred):
    """Whether y_true fits (N, L) y_pred: (N,) class ids, or (N, L) labels."""
    if y_true.ndim == 1:
        return y_true.shape[0] == y_pred.shape[0]
    return y_true.shape == y_pred.shape


@jit
def same_rows(sample_weight, num_rows):
    """Whether the (N,) weights (or None) have ``num_rows`` entries."""
    if sample_weight is None:
        return True
    return sample_weight.shape[0] == num_rows


def element_weight(sample_weight, i, j):
    """The weight of element (i, j) of a (N, W) weight array; 1 when unweighted (None)."""


@specialize(element_weight)
def _element_weight(sample_weight, i, j):
    if isinstance(sample_weight, types.NoneType):
        return lambda sample_weight, i, j: 1
    return lambda sample_weight, i, j: sample_weight[U(i), U(j)]


# ------------------------------------------------------------------ summation
@jit
def tree_sum(buf):
    """Pairwise sum of a power-of-two buffer, level by level (each level a loop that LLVM
    vectorizes without reassociating anything); clobbers buf. Exact for integers."""
    half = buf.shape[0] >> 1
    while half >= 1:
        for k in range(half):
            buf[U(k)] += buf[U(k + half)]
        half >>= 1
    return buf[0]


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
