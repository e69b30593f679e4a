"""confusion_matrix: a C x C matrix of (weighted) counts, rows = true class.

See ``metricore._backends.protocol.Backend.confusion_matrix`` for the contract and
``csrc/include/metricore/confusion_matrix.hpp`` for the C++ twin.

Two passes per chunk of samples: pass 1 validates each sample and writes its bin
(true * C + predicted) to a small scratch array (a branch-free loop, vectorized for class-id
inputs); pass 2 scatter-adds the weights. Where the matrix is small next to the batch, pass 2
goes to a zeroed local matrix (four interleaved copies for C <= 64, so that runs of equal
bins do not serialize on store-to-load forwarding) added to ``out`` at the end; where it is
large (C up to 10^4 with small batches) the scratch holds the whole batch and pass 2 goes
straight to ``out``, but only after pass 1 has validated every sample. Either way ``out`` is
untouched by a bad batch, and every index is in range whatever the inputs: invalid ids are
clamped before they are combined, ignored samples carry the true id C (a trash row, or
skipped).
"""

import numpy as np

from metricore._backends.protocol import ErrorCode

from ._args import ARGUMENT_ERROR, TypingError, explain
from ._elementwise import U, class_index, row_class, row_weight, same_rows, weight_ok
from ._jit import jit

_TRUE_CLASS = int(ErrorCode.TRUE_CLASS)
_PRED_CLASS = int(ErrorCode.PRED_CLASS)
_NAN_SCORE = int(ErrorCode.NAN_SCORE)
_BAD_WEIGHT = int(ErrorCode.BAD_WEIGHT)

_CHUNK = 4096  # samples per chunk when the matrix is local

_I64 = np.dtype(np.int64)
_F64 = np.dtype(np.float64)


@jit
def _first_error(y_true, y_pred, sample_weight, has_ignore, ignore_label, num_classes, start):
    """The first bad sample from ``start`` on, in the protocol's order: y_true, y_pred, weight."""
    for i in range(start, y_true.shape[0]):
        v = y_true[U(i)]
        if has_ignore and v == ignore_label:
            continue
        if class_index(v, num_classes) < 0:
            return _TRUE_CLASS, i, 0
        if y_pred.ndim == 1:
            if class_index(y_pred[U(i)], num_classes) < 0:
                return _PRED_CLASS, i, 0
        else:
            for j in range(y_pred.shape[1]):
                s = y_pred[U(i), U(j)]
                if s != s:
                    return _NAN_SCORE, i, j
        if not weight_ok(row_weight(sample_weight, i)):
            return _BAD_WEIGHT, i, 0
    return 0, 0, 0


@jit
def _scatter_local(bins, n, sample_weight, start, hist):
    """hist[q, bin] += w for the first n samples of bins; sample r goes to copy r % copies
    (interleaved copies keep runs of equal bins from serializing on store-to-load
    forwarding); ignored samples land in the trash row."""
    r = 0
    if hist.shape[0] == 4:
        while r + 4 <= n:
            for q in range(4):
                hist[q, U(bins[U(r + q)])] += row_weight(sample_weight, start + r + q)
            r += 4
    while r < n:
        hist[0, U(bins[U(r)])] += row_weight(sample_weight, start + r)
        r += 1


@jit
def _scatter_out(bins, sample_weight, flat_out):
    """flat_out[bin] += w for the whole (validated) batch; ignored samples are skipped."""
    cells = flat_out.shape[0]
    for r in range(bins.shape[0]):
        b = bins[U(r)]
        if b < cells:
            flat_out[U(b)] += row_weight(sample_weight, r)


@jit
def _confusion_matrix_kernel(y_true, y_pred, sample_weight, has_ignore, ignore_label, out):
    num_rows = y_true.shape[0]
    num_classes = out.shape[0]
    if y_pred.ndim == 1:
        pred_ok = y_pred.shape[0] == num_rows
    else:
        pred_ok = (y_pred.shape[0] == num_rows) & (y_pred.shape[1] == num_classes)
    if not pred_ok or out.shape[1] != num_classes or not same_rows(sample_weight, num_rows):
        return ARGUMENT_ERROR, 0, 0
    if num_rows == 0:
        return 0, 0, 0
    if num_classes == 0:  # no id is in range: every sample not ignored is bad
        return _first_error(y_true, y_pred, sample_weight, has_ignore, ignore_label, 0, 0)
    cells = num_classes * num_classes
    flat_out = out.reshape(cells)
    copies = 4 if num_classes <= 64 else 1
    local = copies * (cells + num_classes) <= max(num_rows // 2, 64)
    chunk = min(_CHUNK, num_rows) if local else num_rows
    bins = np.empty(chunk, np.int64)  # true * C + predicted; true == C: ignored (trash row)
    hist = np.zeros((copies if local else 0, cells + num_classes), out.dtype)
    for start in range(0, num_rows, chunk):
        n = min(chunk, num_rows - start)
        bad = False
        for r in range(n):  # pass 1: branch-free, every bin in range
            i = start + r
            v = y_true[U(i)]
            skip = has_ignore & (v == ignore_label)  # looks at y_true only
            true_id = class_index(v, num_classes)
            pred_id, pred_bad = row_class(y_pred, i, num_classes)
            w_bad = not weight_ok(row_weight(sample_weight, i))
            bad |= ((true_id < 0) | pred_bad | w_bad) & (not skip)
            bins[U(r)] = (num_classes if skip else max(true_id, 0)) * num_classes + pred_id
        if bad:
            return _first_error(
                y_true, y_pred, sample_weight, has_ignore, ignore_label, num_classes, start
            )
        if local:
            _scatter_local(bins, n, sample_weight, start, hist)
        else:  # a single chunk: the whole batch has validated
            _scatter_out(bins, sample_weight, flat_out)
    if local:
        for q in range(hist.shape[0]):
            for k in range(cells):
                flat_out[k] += hist[q, k]
    return 0, 0, 0


def _check(y_true, y_pred, sample_weight, ignore_label, out):
    """The arguments' shapes and dtypes, named in the error (the wrapper's slow path)."""
    if y_true.ndim != 1:
        raise ValueError(f"confusion_matrix: y_true must be 1-D (N,); got shape {y_true.shape}")
    n = y_true.shape[0]
    out_shape = out.shape
    if len(out_shape) != 2 or out_shape[0] != out_shape[1]:
        raise ValueError(f"confusion_matrix: out must be a square (C, C) matrix; got {out_shape}")
    pred_shape = y_pred.shape
    if pred_shape != (n,) and pred_shape != (n, out_shape[0]):
        raise ValueError(
            f"confusion_matrix: y_pred must have shape ({n},) or ({n}, {out_shape[0]}); "
            f"got {pred_shape}"
        )
    if y_pred.ndim == 2 and y_pred.dtype != np.float32 and y_pred.dtype != np.float64:
        raise TypeError(
            f"confusion_matrix: y_pred scores must be float32 or float64; got {y_pred.dtype}"
        )
    out_dtype = _I64
    if sample_weight is not None:
        out_dtype = _F64
        if sample_weight.shape != (n,):
            raise ValueError(
                f"confusion_matrix: sample_weight must have shape ({n},); got {sample_weight.shape}"
            )
    if out.dtype != out_dtype:
        raise TypeError(f"confusion_matrix: out must have dtype {out_dtype} here; got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError("confusion_matrix: out must be C-contiguous")


def confusion_matrix(y_true, y_pred, sample_weight, ignore_label, out):
    """Backend.confusion_matrix: adds the (C, C) matrix into out; returns (code, row, col)."""
    if out.dtype is not (_I64 if sample_weight is None else _F64):
        _check(y_true, y_pred, sample_weight, ignore_label, out)
    try:
        if ignore_label is None:
            result = _confusion_matrix_kernel(y_true, y_pred, sample_weight, False, 0, out)
        else:
            result = _confusion_matrix_kernel(
                y_true, y_pred, sample_weight, True, ignore_label, out
            )
    except TypingError as error:
        explain(_check, (y_true, y_pred, sample_weight, ignore_label, out), error)
    if result[0] < 0:
        explain(_check, (y_true, y_pred, sample_weight, ignore_label, out))
    return result
