"""topk_matches: counts the rows whose true class is predicted (the accuracy family).

See ``metricore._backends.protocol.Backend.topk_matches`` for the contract and
``csrc/include/metricore/topk_matches.hpp`` for the C++ twin.

  k == 0: match iff the first argmax of the score row is the true class c, i.e. every score
          before c is < s_c and every score after it is <= s_c;
  k >= 1: match iff fewer than k scores of the row are > s_c (``tf.math.in_top_k``: ties in).

Either is one branch-free pass over the row that also detects NaN. Rows go in blocks whose
sums are added to the totals (short float64 chains when weighted); ``out`` is written once,
after the whole batch validated.
"""

import numpy as np

from metricore._backends.protocol import ErrorCode

from ._elementwise import U, class_index, first_argmax, row_weight, weight_ok
from ._jit import jit

_TRUE_CLASS = int(ErrorCode.TRUE_CLASS)
_NAN_SCORE = int(ErrorCode.NAN_SCORE)
_BAD_WEIGHT = int(ErrorCode.BAD_WEIGHT)

_BLOCK = 256

_I64 = np.dtype(np.int64)
_F64 = np.dtype(np.float64)


@jit
def _first_error(y_true, y_pred, sample_weight):
    """The first bad row in the protocol's order: y_true, y_pred (first NaN), then weight."""
    num_classes = y_pred.shape[1]
    for i in range(y_pred.shape[0]):
        if y_true.ndim == 2:
            for j in range(y_true.shape[1]):
                v = y_true[U(i), U(j)]
                if v != v:
                    return _TRUE_CLASS, i, j
            if num_classes == 0:
                return _TRUE_CLASS, i, 0
        elif class_index(y_true[U(i)], num_classes) < 0:
            return _TRUE_CLASS, i, 0
        for j in range(num_classes):
            s = y_pred[U(i), U(j)]
            if s != s:
                return _NAN_SCORE, i, j
        if not weight_ok(row_weight(sample_weight, i)):
            return _BAD_WEIGHT, i, 0
    return 0, 0, 0


@jit
def _true_class(y_true, i, num_classes):
    """(true class of row i clamped to [0, C), bad): a class id, or a row's first argmax."""
    if y_true.ndim == 1:
        c = class_index(y_true[U(i)], num_classes)
        return max(c, 0), c < 0
    return first_argmax(y_true, i, num_classes)


@jit
def _row_match(y_pred, i, c, k):
    """(whether row i predicts class c, whether the row holds NaN)."""
    s = y_pred[U(i), U(c)]
    nan = False
    if k == 0:
        beaten = False
        for j in range(y_pred.shape[1]):
            v = y_pred[U(i), U(j)]
            beaten |= (v > s) | ((j < c) & (v == s))
            nan |= v != v
        return not beaten, nan
    above = 0
    for j in range(y_pred.shape[1]):
        v = y_pred[U(i), U(j)]
        above += v > s
        nan |= v != v
    return above < k, nan


@jit
def _topk_matches_kernel(y_true, y_pred, sample_weight, k, out):
    num_rows, num_classes = y_pred.shape
    if num_classes == 0:  # no class id is in range
        return _first_error(y_true, y_pred, sample_weight)
    hits = total = 0
    bad = False
    for start in range(0, num_rows, _BLOCK):
        block_hits = block_total = 0
        for i in range(start, min(start + _BLOCK, num_rows)):
            c, true_bad = _true_class(y_true, i, num_classes)
            match, nan = _row_match(y_pred, i, c, k)
            w = row_weight(sample_weight, i)
            bad |= true_bad | nan | (not weight_ok(w))
            block_hits += w * match
            block_total += w
        hits += block_hits
        total += block_total
    if bad:
        return _first_error(y_true, y_pred, sample_weight)
    out[0] += hits
    out[1] += total
    return 0, 0, 0


def topk_matches(y_true, y_pred, sample_weight, k, out):
    """Backend.topk_matches: out[0] += sum w * match, out[1] += sum w; returns (code, row, col)."""
    pred_shape = y_pred.shape
    if len(pred_shape) != 2:
        raise ValueError(f"topk_matches: y_pred must be 2-D (N, C); got shape {pred_shape}")
    n = pred_shape[0]
    if y_true.shape != (n,) and y_true.shape != pred_shape:
        raise ValueError(
            f"topk_matches: y_true must have shape ({n},) or {pred_shape}; got {y_true.shape}"
        )
    if sample_weight is None:
        out_dtype = _I64
    else:
        out_dtype = _F64
        if sample_weight.shape != (n,):
            raise ValueError(
                f"topk_matches: sample_weight must have shape ({n},); got {sample_weight.shape}"
            )
    if k < 0:
        raise ValueError(f"topk_matches: k must be >= 0; got {k}")
    if out.dtype is not out_dtype and out.dtype != out_dtype:
        raise TypeError(f"topk_matches: out must have dtype {out_dtype} here; got {out.dtype}")
    if out.shape != (2,):
        raise ValueError(f"topk_matches: out must have shape (2,); got {out.shape}")
    if n == 0:
        return (0, 0, 0)
    return _topk_matches_kernel(y_true, y_pred, sample_weight, k, out)
