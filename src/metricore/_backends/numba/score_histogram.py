"""score_histogram: per-bucket weight of positive and negative samples, in one pass.

See ``metricore._backends.protocol.Backend.score_histogram`` for the contract and
``csrc/include/metricore/score_histogram.hpp`` for the C++ twin.

Two passes over the batch, so that ``out`` is written in place and still all or nothing,
with no T-sized local histogram to zero and commit:

1. Validation: a branch-free scan (labels 0/1 or class ids in range, no NaN score, finite
   weights) that LLVM vectorizes; only a batch holding a bad element is scanned again,
   slowly, for the first one in the protocol's order.
2. Accumulation, chunk by chunk, in four loops that each do one thing (one fused loop is
   about twice as slow): (A) each score's cell c of a uniform grid of T cells over
   [thresholds[0], thresholds[-1]] (vectorized); (G) threshold c, from a table (scalar
   loads: AVX-512 gathers are slower on the Zen 5 measured); (B) the element's index in
   ``out``, label * (T + 1) * M + bucket * M + m with bucket = c + (threshold c < score)
   (vectorized); (S) the scatter-add into ``out`` (and ``score_sums``).

Step B is exact when the grid is an *identity grid*: threshold k lies in cell k for every k,
which holds for evenly spaced thresholds (Keras' AUC grid, ``linspace``) and most short
lists. The cell is monotone in the value, so thresholds before c are below a score of cell
c and those after it above: only threshold c needs comparing. For float32 scores the table
holds each threshold rounded down to float32 (for a float32 s, ``s > t`` iff ``s > t32``),
half the bytes in cache (T = 65,536 is 256 KiB); float64 scores compare with the thresholds
themselves. Other threshold sets take ``_elementwise.bucket`` (a finer grid and a short
scan), and small batches a binary search, so that their cost does not grow with T.
"""

import numpy as np
from numba import types

from metricore._backends.protocol import ErrorCode

from ._args import ARGUMENT_ERROR, TypingError, explain
from ._bits import bits_float32, float_bits
from ._elementwise import (
    U,
    _cell,
    binary_label,
    bucket,
    bucket_grid,
    class_index,
    element_weight,
    same_shape,
    weight_ok,
)
from ._jit import jit, specialize

_BINARY_LABEL = int(ErrorCode.BINARY_LABEL)
_TRUE_CLASS = int(ErrorCode.TRUE_CLASS)
_NAN_SCORE = int(ErrorCode.NAN_SCORE)
_BAD_WEIGHT = int(ErrorCode.BAD_WEIGHT)

_CHUNK = 1024  # elements per chunk: the loops' buffers stay in L1
# Binary search instead of the grid when elements * log2(T + 1) * _SEARCH_RATIO < T: setting
# the grid up costs about as much per threshold as 1/16 of a search step per element.
_SEARCH_RATIO = 16

_I64 = np.dtype(np.int64)
_F64 = np.dtype(np.float64)


@jit
def _f32_floor(t):
    """The largest float32 not above the float64 t: for a float32 s, s > t iff s > it.

    Branch-free (rounding goes either way about half the time): one float32 step down from
    f = float32(t) when f > t is the bits of f minus 1 if f > 0, else plus 1 with the sign
    set (+0.0 steps to the negative denormal)."""
    f = np.float32(t)
    bits = float_bits(f)
    down = bits - np.uint32(1) if f > 0 else (bits | np.uint32(0x80000000)) + np.uint32(1)
    return bits_float32(down if np.float64(f) > t else bits)


# ------------------------------------------------------------------ identity grid
def _score_table(thresholds, like):
    """Thresholds in the dtype of ``like``'s scores: float32 rounded down, or float64 as is."""


@specialize(_score_table)
def _score_table_impl(thresholds, like):
    if like.dtype == types.float32:

        def rounded(thresholds, like):
            table = np.empty(thresholds.shape[0], np.float32)
            for k in range(thresholds.shape[0]):
                table[U(k)] = _f32_floor(thresholds[U(k)])
            return table

        return rounded
    if like.dtype == types.float64:
        return lambda thresholds, like: thresholds
    return None


@jit
def _identity_grid(thresholds, y_pred):
    """(table, lo, scale, top, identity): the table of ``_score_table``, ``_elementwise._cell``'s
    arguments for T cells over the thresholds' span (everything in cell 0 when the span is
    empty or not finite), and whether threshold k lies in cell k for every k. T >= 1."""
    num_thresholds = thresholds.shape[0]
    lo = thresholds[0] if num_thresholds > 0 else 0.0
    hi = thresholds[num_thresholds - 1] if num_thresholds > 0 else 0.0
    finite_span = (hi > lo) & (hi - lo < np.inf)
    scale = num_thresholds / (hi - lo) if finite_span else 0.0
    top = np.float64(num_thresholds - 1)
    identity = True
    for k in range(num_thresholds):
        identity &= _cell(thresholds[U(k)], lo, scale, top) == k
    return _score_table(thresholds, y_pred), lo, scale, top, identity


@jit
def _search(thresholds, s):
    """The number of thresholds strictly below s, by a branch-free binary search."""
    base = 0
    n = thresholds.shape[0]
    while n > 0:
        half = n >> 1
        below = thresholds[U(base + half)] < s
        base = base + half + 1 if below else base
        n = n - half - 1 if below else half
    return base


# ------------------------------------------------------------------ errors
@jit
def _first_error(y_true, y_pred, sample_weight, lo, hi, start):
    """The first bad element from row ``start`` on, as (code, row, col), in the protocol's
    order: y_true (class ids: once per row, at column 0), then per counted column the label,
    the score and the weight."""
    num_labels = y_pred.shape[1]
    for i in range(start, y_pred.shape[0]):
        if y_true.ndim == 1:
            if class_index(y_true[U(i)], num_labels) < 0:
                return _TRUE_CLASS, i, 0
        for j in range(lo, hi):
            if y_true.ndim == 2:
                if not binary_label(y_true[U(i), U(j)])[0]:
                    return _BINARY_LABEL, i, j
            s = y_pred[U(i), U(j)]
            if s != s:
                return _NAN_SCORE, i, j
            if not weight_ok(element_weight(sample_weight, i, j)):
                return _BAD_WEIGHT, i, j
    return 0, 0, 0


@jit
def _first_bad_chunk(y_true, y_pred, sample_weight, lo, hi):
    """The first row of the first chunk holding a bad element, or -1: branch-free loops."""
    num_rows, num_labels = y_pred.shape
    for start in range(0, num_rows, _CHUNK):
        n = min(_CHUNK, num_rows - start)
        bad = False
        if y_true.ndim == 1:
            for r in range(n):
                bad |= class_index(y_true[U(start + r)], num_labels) < 0
        for j in range(lo, hi):
            for r in range(n):
                i = start + r
                s = y_pred[U(i), U(j)]
                bad |= (s != s) | (not weight_ok(element_weight(sample_weight, i, j)))
                if y_true.ndim == 2:
                    bad |= not binary_label(y_true[U(i), U(j)])[0]
        if bad:
            return start
    return -1


# ------------------------------------------------------------------ accumulation
@jit
def _scatter(y_pred, sample_weight, j, start, n, keys, flat_out, flat_sums, half):
    """flat_out[key] += w (and flat_sums[bucket * M + m] += w * s) for n elements of
    column j: loop (S). A key >= half is a positive element's."""
    for r in range(n):
        i = start + r
        k = keys[U(r)]
        w = element_weight(sample_weight, i, j)
        flat_out[U(k)] += w
        if flat_sums is not None:
            b = k - half if k >= half else k
            flat_sums[U(b)] += np.float64(w) * np.float64(y_pred[U(i), U(j)])


def _flat_sums(score_sums, half):
    """score_sums as a flat (T + 1) * M array, or None (typed apart: Numba prunes an
    ``x is None`` branch only where x is None)."""


@specialize(_flat_sums)
def _flat_sums_impl(score_sums, half):
    if isinstance(score_sums, types.NoneType):
        return lambda score_sums, half: None
    return lambda score_sums, half: score_sums.reshape(half)


def _label(y_true, i, j, num_labels):
    """1 if element (i, j) is positive, else 0 (a validated batch): y_true (N, L) holds the
    labels, y_true (N,) the class ids of a one-vs-rest problem."""


@specialize(_label)
def _label_impl(y_true, i, j, num_labels):
    if y_true.ndim == 2:
        return lambda y_true, i, j, num_labels: np.int64(y_true[U(i), U(j)] == 1)
    return lambda y_true, i, j, num_labels: np.int64(
        class_index(y_true[U(i)], num_labels) == j
    )


@jit
def _accumulate(y_true, y_pred, sample_weight, thresholds, lo, hi, out, score_sums, search):
    """Adds the validated batch to out (and score_sums): buckets from the identity grid when
    the thresholds make one, else from ``bucket``; by binary search when ``search``."""
    num_rows, num_labels = y_pred.shape
    num_thresholds = thresholds.shape[0]
    num_counts = out.shape[2]
    per_label = num_counts > 1
    half = (num_thresholds + 1) * num_counts  # out[1]: the positive histograms
    flat_out = out.reshape(2 * half)
    flat_sums = _flat_sums(score_sums, half)
    chunk = min(_CHUNK, num_rows)
    keys = np.empty(chunk, np.int64)
    # mode 0: identity grid; 1: bucket's grid; 2: binary search (no O(T) set-up)
    table, grid_lo, scale, top, identity = _identity_grid(
        thresholds[: 1 if search else num_thresholds], y_pred
    )
    mode = 2 if search else (0 if identity else 1)
    grid = bucket_grid(thresholds[: num_thresholds if mode == 1 else 0])
    cells = np.empty(chunk if mode == 0 else 0, np.int32)
    entries = np.empty(chunk if mode == 0 else 0, table.dtype)
    for start in range(0, num_rows, chunk):
        n = min(chunk, num_rows - start)
        for j in range(lo, hi):
            m = j if per_label else 0
            if mode == 0:
                for r in range(n):  # (A)
                    s = np.float64(y_pred[U(start + r), U(j)])
                    cells[U(r)] = np.int32(_cell(s, grid_lo, scale, top))
                for r in range(n):  # (G)
                    entries[U(r)] = table[U(cells[U(r)])]
                for r in range(n):  # (B)
                    i = start + r
                    b = np.int64(cells[U(r)]) + np.int64(entries[U(r)] < y_pred[U(i), U(j)])
                    keys[U(r)] = _label(y_true, i, j, num_labels) * half + b * num_counts + m
            elif mode == 1:
                for r in range(n):
                    i = start + r
                    b = bucket(grid, np.float64(y_pred[U(i), U(j)]))
                    keys[U(r)] = _label(y_true, i, j, num_labels) * half + b * num_counts + m
            else:
                for r in range(n):
                    i = start + r
                    b = _search(thresholds, np.float64(y_pred[U(i), U(j)]))
                    keys[U(r)] = _label(y_true, i, j, num_labels) * half + b * num_counts + m
            _scatter(y_pred, sample_weight, j, start, n, keys, flat_out, flat_sums, half)


@jit
def _sums_fit(score_sums, num_buckets, num_counts):
    if score_sums is None:
        return True
    return (score_sums.shape[0] == num_buckets) & (score_sums.shape[1] == num_counts)


@jit
def _score_histogram_kernel(y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums):
    num_rows, num_labels = y_pred.shape
    num_thresholds = thresholds.shape[0]
    num_counts = out.shape[2]
    if y_true.ndim == 1:
        true_ok = y_true.shape[0] == num_rows
    else:
        true_ok = y_true.shape == y_pred.shape
    if (
        not true_ok
        or not same_shape(sample_weight, y_pred)
        or out.shape[0] != 2
        or out.shape[1] != num_thresholds + 1
        or (num_counts != 1 and (num_counts != num_labels or class_id >= 0))
        or class_id < -1
        or class_id >= num_labels
        or not _sums_fit(score_sums, num_thresholds + 1, num_counts)
    ):
        return ARGUMENT_ERROR, 0, 0
    if num_rows == 0:
        return 0, 0, 0
    lo = class_id if class_id >= 0 else 0
    hi = class_id + 1 if class_id >= 0 else num_labels
    start = _first_bad_chunk(y_true, y_pred, sample_weight, lo, hi)
    if start >= 0:
        return _first_error(y_true, y_pred, sample_weight, lo, hi, start)
    depth = 1  # binary search steps per element, about log2(T + 1)
    while (num_thresholds + 1) >> depth:
        depth += 1
    search = (num_thresholds == 0) | (num_rows * (hi - lo) * depth * _SEARCH_RATIO < num_thresholds)
    _accumulate(y_true, y_pred, sample_weight, thresholds, lo, hi, out, score_sums, search)
    return 0, 0, 0


# ------------------------------------------------------------------ Python entry point
def _check(y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums):
    """The arguments' shapes and dtypes, named in the error (the wrapper's slow path)."""
    shape = y_pred.shape
    if len(shape) != 2:
        raise ValueError(f"score_histogram: y_pred must be 2-D (N, L); got shape {shape}")
    if y_pred.dtype != np.float32 and y_pred.dtype != np.float64:
        raise TypeError(f"score_histogram: y_pred must be float32 or float64; got {y_pred.dtype}")
    if y_true.shape != shape and y_true.shape != shape[:1]:
        raise ValueError(
            f"score_histogram: y_true must have shape {shape} (labels) or {shape[:1]} "
            f"(class ids); got {y_true.shape}"
        )
    if y_true.dtype.kind not in "biuf":
        raise TypeError(f"score_histogram: y_true must be numeric; got {y_true.dtype}")
    out_dtype = _I64
    if sample_weight is not None:
        out_dtype = _F64
        if sample_weight.shape != shape:
            raise ValueError(
                f"score_histogram: sample_weight must have shape {shape}; "
                f"got {sample_weight.shape}"
            )
        if sample_weight.dtype != np.float32 and sample_weight.dtype != np.float64:
            raise TypeError(
                f"score_histogram: sample_weight must be float32 or float64; "
                f"got {sample_weight.dtype}"
            )
    if thresholds.ndim != 1 or thresholds.dtype != _F64:
        raise TypeError("score_histogram: thresholds must be a 1-D float64 array")
    if class_id < -1 or class_id >= shape[1]:
        raise ValueError(
            f"score_histogram: class_id must be -1 or in [0, {shape[1]}); got {class_id}"
        )
    num_buckets = thresholds.shape[0] + 1
    if out.dtype != out_dtype:
        raise TypeError(f"score_histogram: out must have dtype {out_dtype} here; got {out.dtype}")
    out_shape = out.shape
    if (
        len(out_shape) != 3
        or out_shape[0] != 2
        or out_shape[1] != num_buckets
        or (out_shape[2] != 1 and (out_shape[2] != shape[1] or class_id >= 0))
    ):
        raise ValueError(
            f"score_histogram: out must have shape (2, {num_buckets}, M) with M = 1"
            f" (or M = L = {shape[1]} when class_id is -1); got {out_shape}"
        )
    if not out.flags.c_contiguous:
        raise ValueError("score_histogram: out must be C-contiguous")
    if score_sums is not None:
        if score_sums.dtype != _F64:
            raise TypeError(f"score_histogram: score_sums must be float64; got {score_sums.dtype}")
        if score_sums.shape != out_shape[1:]:
            raise ValueError(
                f"score_histogram: score_sums must have shape {out_shape[1:]}; "
                f"got {score_sums.shape}"
            )
        if not score_sums.flags.c_contiguous:
            raise ValueError("score_histogram: score_sums must be C-contiguous")


def score_histogram(y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums):
    """Backend.score_histogram: adds the (2, T + 1, M) histograms into out (and the score sums
    into score_sums); returns (code, row, col)."""
    if out.dtype is not (_I64 if sample_weight is None else _F64) or (
        score_sums is not None and score_sums.dtype is not _F64
    ):
        _check(y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums)
    try:
        result = _score_histogram_kernel(
            y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums
        )
    except TypingError as error:
        explain(
            _check, (y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums), error
        )
    if result[0] < 0:
        explain(_check, (y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums))
    return result
