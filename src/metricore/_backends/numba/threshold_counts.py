"""threshold_counts: TP/FP/TN/FN at T thresholds for L binary labels, in one pass.

See ``metricore._backends.protocol.Backend.threshold_counts`` for the contract and
``csrc/include/metricore/threshold_counts.hpp`` for the C++ twin.

Each counted element adds its weight to one bucket of a local histogram: bucket b = the
number of thresholds strictly below the score, in the positive histogram if y_true is 1,
else the negative one. At the end TP[t] = sum of positive buckets b > t, FN[t] = sum of
positive buckets b <= t, and FP/TN likewise from the negative histogram: each of the four is
its own prefix/suffix sum (never TN = total - FP, which cancels for float weights). One
threshold pooled into one count (binary accuracy, precision at 0.5 ...) takes a branch-free
loop of four sums instead, which LLVM vectorizes. ``out`` is written only after the whole
batch validated.
"""

import numpy as np
from numba import types

from metricore._backends.protocol import ErrorCode

from ._args import ARGUMENT_ERROR, TypingError, explain
from ._elementwise import (
    U,
    binary_label,
    bucket,
    bucket_grid,
    element_weight,
    same_shape,
    tree_sum,
    weight_ok,
)
from ._jit import inline, jit, specialize

_BINARY_LABEL = int(ErrorCode.BINARY_LABEL)
_NAN_SCORE = int(ErrorCode.NAN_SCORE)
_BAD_WEIGHT = int(ErrorCode.BAD_WEIGHT)

_BLOCK = 256  # rows per block of the one-column sums (a power of two: tree_sum halves it)

_I64 = np.dtype(np.int64)
_F64 = np.dtype(np.float64)


# ------------------------------------------------------------------ errors
@jit
def _row_error(y_true, y_pred, sample_weight, i, lo, hi, ranked):
    """(code, col) of the first bad element of row i in the protocol's order, or (0, 0).

    Row-major; within an element: y_true (counted columns [lo, hi)), y_pred (counted
    columns, or every column when top_k ranks the row), then the weight (counted columns).
    """
    for j in range(y_true.shape[1]):
        counted = (j >= lo) & (j < hi)
        if counted and not binary_label(y_true[U(i), U(j)])[0]:
            return _BINARY_LABEL, j
        p = y_pred[U(i), U(j)]
        if (counted or ranked) and p != p:
            return _NAN_SCORE, j
        if counted and not weight_ok(element_weight(sample_weight, i, j)):
            return _BAD_WEIGHT, j
    return 0, 0


@jit
def _first_error(y_true, y_pred, sample_weight, lo, hi, ranked):
    """The batch's first bad element as (code, row, col); called only once one is known."""
    for i in range(y_true.shape[0]):
        code, col = _row_error(y_true, y_pred, sample_weight, i, lo, hi, ranked)
        if code != 0:
            return code, i, col
    return 0, 0, 0


# ------------------------------------------------------------------ one threshold, pooled
@jit
def _score_threshold(y_pred, threshold):
    """The largest value of y_pred's dtype not above ``threshold``.

    For a score s of that dtype, s > it iff float64(s) > threshold, so the binary loop
    compares float32 scores without widening them.
    """
    t = np.empty(2, y_pred.dtype)
    t[0] = threshold
    t[1] = -np.inf
    if np.float64(t[0]) > threshold:
        t[0] = np.nextafter(t[0], t[1])
    return t[0]


@jit
def _binary_terms(t, p, w, threshold):
    """One element's (TP, FP, TN, FN) contributions and whether it is bad, branch-free."""
    valid, label = binary_label(t)
    pred = np.int64(p > threshold)
    bad = (not valid) | (p != p) | (not weight_ok(w))
    neg = 1 - label
    npred = 1 - pred
    return w * (label & pred), w * (neg & pred), w * (neg & npred), w * (label & npred), bad


def _column_sums(y_true, y_pred, sample_weight, threshold, j, start, n, bufs):
    """(TP, FP, TN, FN, bad) of rows [start, start + n) of column j, n <= _BLOCK."""


@specialize(_column_sums)
def _column_sums_impl(y_true, y_pred, sample_weight, threshold, j, start, n, bufs):
    if isinstance(sample_weight, types.NoneType):
        # Integer counts: running sums, which LLVM vectorizes (integer addition reassociates).
        def counts(y_true, y_pred, sample_weight, threshold, j, start, n, bufs):
            tp = fp = tn = fn = 0
            bad = False
            for r in range(n):
                i = start + r
                a, b, c, d, e = _binary_terms(y_true[U(i), U(j)], y_pred[U(i), U(j)], 1, threshold)
                tp += a
                fp += b
                tn += c
                fn += d
                bad |= e
            return tp, fp, tn, fn, bad

        return counts

    # Float sums: each element's terms into block buffers, summed pairwise (both vectorize;
    # running float sums would be one serial chain each).
    def sums(y_true, y_pred, sample_weight, threshold, j, start, n, bufs):
        bad = False
        for r in range(n):
            i = start + r
            a, b, c, d, e = _binary_terms(
                y_true[U(i), U(j)], y_pred[U(i), U(j)], sample_weight[U(i), U(j)], threshold
            )
            bufs[0, U(r)] = a
            bufs[1, U(r)] = b
            bufs[2, U(r)] = c
            bufs[3, U(r)] = d
            bad |= e
        bufs[:, n:] = 0.0
        return tree_sum(bufs[0]), tree_sum(bufs[1]), tree_sum(bufs[2]), tree_sum(bufs[3]), bad

    return sums


@jit
def _single_threshold(y_true, y_pred, sample_weight, threshold, lo, hi, out):
    """T == 1 and one pooled count: four sums (int64, or float64 when weighted)."""
    tp = fp = tn = fn = 0
    bad = False
    if hi - lo == 1:  # one column: blocks of a flat loop that LLVM vectorizes
        bufs = np.empty((4, 0 if sample_weight is None else _BLOCK))
        for start in range(0, y_true.shape[0], _BLOCK):
            n = min(_BLOCK, y_true.shape[0] - start)
            a, b, c, d, e = _column_sums(
                y_true, y_pred, sample_weight, threshold, lo, start, n, bufs
            )
            tp += a
            fp += b
            tn += c
            fn += d
            bad |= e
    else:
        for i in range(y_true.shape[0]):
            for j in range(lo, hi):
                a, b, c, d, e = _binary_terms(
                    y_true[U(i), U(j)], y_pred[U(i), U(j)], element_weight(sample_weight, i, j),
                    threshold,
                )
                tp += a
                fp += b
                tn += c
                fn += d
                bad |= e
    if bad:
        return _first_error(y_true, y_pred, sample_weight, lo, hi, False)
    out[0, 0, 0] += tp
    out[1, 0, 0] += fp
    out[2, 0, 0] += tn
    out[3, 0, 0] += fn
    return 0, 0, 0


# ------------------------------------------------------------------ general: histograms
@inline
def _kth_largest(y_pred, i, k, heap):
    """(k-th largest score of row i, how many scores equal to it are kept, NaN seen), k < L.

    A min-heap of the k largest scores so far: O(L log k). ``ops.top_k`` keeps every score
    above the k-th largest value v, then the first (k - #{> v}) scores equal to v.
    """
    num_columns = y_pred.shape[1]
    size = 0
    nan = False
    for j in range(num_columns):
        s = np.float64(y_pred[U(i), U(j)])
        nan |= s != s
        if size < k:  # push, sift up
            c = size
            size += 1
            while c > 0:
                parent = (c - 1) >> 1
                if heap[parent] <= s:
                    break
                heap[c] = heap[parent]
                c = parent
            heap[c] = s
        elif s > heap[0]:  # replace the root, sift down
            c = 0
            while True:
                child = 2 * c + 1
                if child >= k:
                    break
                if child + 1 < k and heap[child + 1] < heap[child]:
                    child += 1
                if heap[child] >= s:
                    break
                heap[c] = heap[child]
                c = child
            heap[c] = s
    kth = heap[0]
    above = 0
    for j in range(num_columns):
        above += np.float64(y_pred[U(i), U(j)]) > kth
    return kth, k - above, nan


@inline
def _row_has_nan(y_pred, i):
    nan = False
    for j in range(y_pred.shape[1]):
        v = y_pred[U(i), U(j)]
        nan |= v != v
    return nan


@jit
def _commit_histograms(hist, out):
    """out[q, t, m] += the four prefix/suffix sums of hist (2, T + 1, M): [0] = positives."""
    num_thresholds = hist.shape[1] - 1
    num_counts = hist.shape[2]
    pos = np.zeros(num_counts, hist.dtype)
    neg = np.zeros(num_counts, hist.dtype)
    for b in range(num_thresholds, 0, -1):  # predicted positive at t = b - 1: buckets > t
        for m in range(num_counts):
            pos[m] += hist[0, b, m]
            neg[m] += hist[1, b, m]
            out[0, b - 1, m] += pos[m]
            out[1, b - 1, m] += neg[m]
    pos[:] = 0
    neg[:] = 0
    for b in range(num_thresholds):  # predicted negative at t = b: buckets <= t
        for m in range(num_counts):
            pos[m] += hist[0, b, m]
            neg[m] += hist[1, b, m]
            out[2, b, m] += neg[m]
            out[3, b, m] += pos[m]


@jit
def _element(y_true, y_pred, sample_weight, i, j):
    """(score, label, weight, bad) of element (i, j)."""
    s = np.float64(y_pred[U(i), U(j)])
    valid, label = binary_label(y_true[U(i), U(j)])
    w = element_weight(sample_weight, i, j)
    return s, label, w, (not valid) | (s != s) | (not weight_ok(w))


@inline
def _add_element(y_true, y_pred, sample_weight, grid, hist, i, j, m, kept):
    """Adds element (i, j) to histogram m: to the bucket of its score if ``kept``, else to
    bucket 0 (positive at no threshold). Returns whether it is bad (then adds nothing)."""
    s, label, w, bad = _element(y_true, y_pred, sample_weight, i, j)
    if not bad:
        hist[U(1 - label), U(np.int64(kept) * bucket(grid, s)), U(m)] += w
    return bad


@jit
def _histogram_counts(y_true, y_pred, sample_weight, thresholds, top_k, lo, hi, out):
    """Any T, per-label or pooled counts, top_k: one histogram bucket per counted element,
    in the positive (0) or negative (1) histogram of its column (per label) or of all."""
    num_rows, num_labels = y_true.shape
    per_label = np.int64(out.shape[2] > 1)  # element (i, j) goes to histogram j * per_label
    hist = np.zeros((2, thresholds.shape[0] + 1, out.shape[2]), out.dtype)
    grid = bucket_grid(thresholds)
    if top_k == 0 and hi - lo == 1:  # one column (AUC ...): a flat loop
        for i in range(num_rows):
            if _add_element(y_true, y_pred, sample_weight, grid, hist, i, lo, 0, True):
                code, col = _row_error(y_true, y_pred, sample_weight, i, lo, hi, False)
                return code, i, col
    elif top_k == 0:
        for i in range(num_rows):
            for j in range(lo, hi):
                m = j * per_label
                if _add_element(y_true, y_pred, sample_weight, grid, hist, i, j, m, True):
                    code, col = _row_error(y_true, y_pred, sample_weight, i, lo, hi, False)
                    return code, i, col
    else:
        heap = np.empty(max(min(top_k, num_labels), 1))
        kth = -np.inf  # top_k >= L keeps every score
        keep_equal = num_labels
        for i in range(num_rows):
            if top_k < num_labels:
                kth, keep_equal, nan = _kth_largest(y_pred, i, top_k, heap)
            else:
                nan = _row_has_nan(y_pred, i)
            if nan:
                code, col = _row_error(y_true, y_pred, sample_weight, i, lo, hi, True)
                return code, i, col
            equal_seen = 0
            for j in range(hi):  # from column 0: ties go to the lower columns
                s = np.float64(y_pred[U(i), U(j)])
                tie = s == kth
                kept = (s > kth) | (tie & (equal_seen < keep_equal))
                equal_seen += tie
                if j >= lo:
                    m = j * per_label
                    if _add_element(y_true, y_pred, sample_weight, grid, hist, i, j, m, kept):
                        code, col = _row_error(y_true, y_pred, sample_weight, i, lo, hi, True)
                        return code, i, col
    _commit_histograms(hist, out)
    return 0, 0, 0


@jit
def _threshold_counts_kernel(y_true, y_pred, sample_weight, thresholds, top_k, class_id, out):
    num_labels = y_true.shape[1]
    num_counts = out.shape[2]
    if (
        y_pred.shape != y_true.shape
        or not same_shape(sample_weight, y_true)
        or out.shape[0] != 4
        or out.shape[1] != thresholds.shape[0]
        or (num_counts != 1 and (num_counts != num_labels or class_id >= 0))
        or top_k < 0
        or class_id < -1
        or class_id >= num_labels
    ):
        return ARGUMENT_ERROR, 0, 0
    if y_true.shape[0] == 0:
        return 0, 0, 0
    lo = class_id if class_id >= 0 else 0
    hi = class_id + 1 if class_id >= 0 else num_labels
    if top_k == 0 and thresholds.shape[0] == 1 and num_counts == 1:
        threshold = _score_threshold(y_pred, thresholds[0])
        return _single_threshold(y_true, y_pred, sample_weight, threshold, lo, hi, out)
    return _histogram_counts(y_true, y_pred, sample_weight, thresholds, top_k, lo, hi, out)


# ------------------------------------------------------------------ Python entry point
def _check(y_true, y_pred, sample_weight, thresholds, top_k, class_id, out):
    """The arguments' shapes and dtypes, named in the error (the wrapper's slow path)."""
    shape = y_true.shape
    if len(shape) != 2:
        raise ValueError(f"threshold_counts: y_true must be 2-D (N, L); got shape {shape}")
    if y_pred.shape != shape:
        raise ValueError(f"threshold_counts: y_pred must have shape {shape}; got {y_pred.shape}")
    if y_pred.dtype != np.float32 and y_pred.dtype != np.float64:
        raise TypeError(f"threshold_counts: y_pred must be float32 or float64; got {y_pred.dtype}")
    out_dtype = _I64
    if sample_weight is not None:
        out_dtype = _F64
        if sample_weight.shape != shape:
            raise ValueError(
                f"threshold_counts: sample_weight must have shape {shape}; "
                f"got {sample_weight.shape}"
            )
    if thresholds.ndim != 1 or thresholds.dtype != _F64:
        raise TypeError("threshold_counts: thresholds must be a 1-D float64 array")
    if top_k < 0:
        raise ValueError(f"threshold_counts: top_k must be >= 0; got {top_k}")
    if class_id < -1 or class_id >= shape[1]:
        raise ValueError(
            f"threshold_counts: class_id must be -1 or in [0, {shape[1]}); got {class_id}"
        )
    if out.dtype != out_dtype:
        raise TypeError(f"threshold_counts: out must have dtype {out_dtype} here; got {out.dtype}")
    out_shape = out.shape
    if (
        len(out_shape) != 3
        or out_shape[0] != 4
        or out_shape[1] != thresholds.shape[0]
        or (out_shape[2] != 1 and (out_shape[2] != shape[1] or class_id >= 0))
    ):
        raise ValueError(
            f"threshold_counts: out must have shape (4, {thresholds.shape[0]}, M) with M = 1"
            f" (or M = L = {shape[1]} when class_id is -1); got {out_shape}"
        )


def threshold_counts(y_true, y_pred, sample_weight, thresholds, top_k, class_id, out):
    """Backend.threshold_counts: adds TP/FP/TN/FN into out (4, T, M); (code, row, col)."""
    if out.dtype is not (_I64 if sample_weight is None else _F64):
        _check(y_true, y_pred, sample_weight, thresholds, top_k, class_id, out)
    try:
        result = _threshold_counts_kernel(
            y_true, y_pred, sample_weight, thresholds, top_k, class_id, out
        )
    except TypingError as error:
        explain(_check, (y_true, y_pred, sample_weight, thresholds, top_k, class_id, out), error)
    if result[0] < 0:
        explain(_check, (y_true, y_pred, sample_weight, thresholds, top_k, class_id, out))
    return result
