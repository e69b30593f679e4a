"""topk_matches: counts the rows whose true class is predicted (the accuracy family).

See ``metricore._backends.protocol.Backend.topk_matches`` for the contract and
``csrc/include/metricore/topk_matches.hpp`` for the C++ twin.

  k == 0: match iff the first argmax of the score row is the true class c, i.e. every score
          before c is < s_c and every score after it is <= s_c;
  k >= 1: match iff fewer than k scores of the row are > s_c (``tf.math.in_top_k``: ties in).

Either is one branch-free pass over the row that also detects NaN: on explicit short vectors
(``_simd``) for rows of unit column stride and at least one vector's width, else a plain
loop. Rows go in blocks whose sums are added to the totals (short float64 chains when
weighted); ``out`` is written once, after the whole batch validated.
"""

import numpy as np

from metricore._backends.protocol import ErrorCode

from ._args import ARGUMENT_ERROR, TypingError, explain
from ._elementwise import (
    U,
    class_index,
    labels_fit,
    row_class,
    row_weight,
    same_rows,
    weight_ok,
)
from ._jit import jit
from ._simd import VECTOR_BYTES, row_beaten

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
def _topk_matches_kernel(y_true, y_pred, sample_weight, k, out):
    num_rows, num_classes = y_pred.shape
    if (not labels_fit(y_true, y_pred) or not same_rows(sample_weight, num_rows) or k < 0
            or out.shape[0] != 2):
        return ARGUMENT_ERROR, 0, 0
    if num_rows == 0:
        return 0, 0, 0
    if num_classes == 0:  # no class id is in range
        return _first_error(y_true, y_pred, sample_weight)
    need = max(k, 1)
    width = VECTOR_BYTES // y_pred.itemsize
    vector_rows = (y_pred.strides[1] == y_pred.itemsize) & (num_classes >= width)
    true_ids = np.empty(_BLOCK, np.int64)
    hits = total = 0
    bad = False
    for start in range(0, num_rows, _BLOCK):
        n = min(_BLOCK, num_rows - start)
        for r in range(n):  # the block's true classes first: off the rows' critical path
            c, true_bad = row_class(y_true, start + r, num_classes)
            true_ids[U(r)] = c
            bad |= true_bad
        block_hits = block_total = 0
        for r in range(n):
            i = start + r
            c = true_ids[U(r)]
            s = y_pred[U(i), U(c)]
            tie = c if k == 0 else 0  # first argmax: an equal score before c beats it too
            if vector_rows:
                above, nan = row_beaten(y_pred, i, s, tie, width)
            else:
                above = 0
                nan = False
                for j in range(num_classes):
                    v = y_pred[U(i), U(j)]
                    above += (v > s) | ((j < tie) & (v == s))
                    nan |= v != v
            w = row_weight(sample_weight, i)
            bad |= nan | (not weight_ok(w))
            block_hits += w * (above < need)
            block_total += w
        hits += block_hits
        total += block_total
    if bad:
        return _first_error(y_true, y_pred, sample_weight)
    out[0] += hits
    out[1] += total
    return 0, 0, 0


def _check(y_true, y_pred, sample_weight, k, out):
    """The arguments' shapes and dtypes, named in the error (the wrapper's slow path)."""
    pred_shape = y_pred.shape
    if len(pred_shape) != 2:
        raise ValueError(f"topk_matches: y_pred must be 2-D (N, C); got shape {pred_shape}")
    if y_pred.dtype != np.float32 and y_pred.dtype != np.float64:
        raise TypeError(f"topk_matches: y_pred must be float32 or float64; got {y_pred.dtype}")
    n = pred_shape[0]
    if y_true.shape != (n,) and y_true.shape != pred_shape:
        raise ValueError(
            f"topk_matches: y_true must have shape ({n},) or {pred_shape}; got {y_true.shape}"
        )
    out_dtype = _I64
    if sample_weight is not None:
        out_dtype = _F64
        if sample_weight.shape != (n,):
            raise ValueError(
                f"topk_matches: sample_weight must have shape ({n},); got {sample_weight.shape}"
            )
    if k < 0:
        raise ValueError(f"topk_matches: k must be >= 0; got {k}")
    if out.dtype != out_dtype:
        raise TypeError(f"topk_matches: out must have dtype {out_dtype} here; got {out.dtype}")
    if out.shape != (2,):
        raise ValueError(f"topk_matches: out must have shape (2,); got {out.shape}")


def topk_matches(y_true, y_pred, sample_weight, k, out):
    """Backend.topk_matches: out[0] += sum w * match, out[1] += sum w; returns (code, row, col)."""
    if out.dtype is not (_I64 if sample_weight is None else _F64):
        _check(y_true, y_pred, sample_weight, k, out)
    try:
        result = _topk_matches_kernel(y_true, y_pred, sample_weight, k, out)
    except TypingError as error:
        explain(_check, (y_true, y_pred, sample_weight, k, out), error)
    if result[0] < 0:
        explain(_check, (y_true, y_pred, sample_weight, k, out))
    return result
