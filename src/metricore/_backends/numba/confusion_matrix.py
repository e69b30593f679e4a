"""confusion_matrix: a C x C matrix of (weighted) counts, rows = true class.

See ``metricore._backends.protocol.Backend.confusion_matrix`` for the contract and
``csrc/include/metricore/confusion_matrix.hpp`` for the C++ twin.

Two passes per chunk of samples: pass 1 validates each sample and writes its (true,
predicted) class ids to a small scratch array (a branch-free loop, vectorized for class-id
inputs); pass 2 scatter-adds the weights. Where the matrix is small next to the batch
(C * (C + 1) <= N) pass 2 goes to a zeroed local matrix added to ``out`` at the end; where it
is large (C up to 10^4 with small batches) the scratch holds the whole batch and pass 2 goes
straight to ``out``, but only after pass 1 has validated every sample. Either way ``out`` is
untouched by a bad batch, and every index is in range whatever the inputs: invalid ids are
clamped before they are stored, ignored samples carry the true id C and are skipped.
"""

import numpy as np

from metricore._backends.protocol import ErrorCode

from ._elementwise import U, class_index, first_argmax, row_weight, weight_ok
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
def _sample_ids(y_true, y_pred, sample_weight, has_ignore, ignore_label, i, num_classes):
    """(true id, predicted id, bad) of sample i, both ids in range; an ignored sample has true
    id ``num_classes`` and is never bad (only its y_true is looked at)."""
    v = y_true[U(i)]
    skip = has_ignore & (v == ignore_label)
    true_id = class_index(v, num_classes)
    if y_pred.ndim == 1:
        pred_id = class_index(y_pred[U(i)], num_classes)
        pred_bad = pred_id < 0
    else:
        pred_id, pred_bad = first_argmax(y_pred, i, num_classes)
    bad = (true_id < 0) | pred_bad | (not weight_ok(row_weight(sample_weight, i)))
    true_id = num_classes if skip else max(true_id, 0)
    return true_id, max(pred_id, 0), bad & (not skip)


@jit
def _scatter(ids, n, sample_weight, start, target):
    """target[t, p] += w for the first n samples of ids (2, chunk); ignored ones are skipped."""
    num_classes = target.shape[0]
    for r in range(n):
        t = ids[0, U(r)]
        if t < num_classes:
            target[U(t), U(ids[1, U(r)])] += row_weight(sample_weight, start + r)


@jit
def _confusion_matrix_kernel(y_true, y_pred, sample_weight, has_ignore, ignore_label, out):
    num_rows = y_true.shape[0]
    num_classes = out.shape[0]
    if num_classes == 0:  # no id is in range: every sample not ignored is bad
        return _first_error(y_true, y_pred, sample_weight, has_ignore, ignore_label, 0, 0)
    local = num_classes * (num_classes + 1) <= num_rows
    chunk = min(_CHUNK, num_rows) if local else num_rows
    ids = np.empty((2, chunk), np.int64)
    hist = np.zeros((num_classes if local else 0, num_classes), out.dtype)
    for start in range(0, num_rows, chunk):
        n = min(chunk, num_rows - start)
        bad = False
        for r in range(n):
            t, p, b = _sample_ids(
                y_true, y_pred, sample_weight, has_ignore, ignore_label, start + r, num_classes
            )
            ids[0, U(r)] = t
            ids[1, U(r)] = p
            bad |= b
        if bad:
            return _first_error(
                y_true, y_pred, sample_weight, has_ignore, ignore_label, num_classes, start
            )
        if local:
            _scatter(ids, n, sample_weight, start, hist)
        else:  # a single chunk: the whole batch has validated
            _scatter(ids, n, sample_weight, start, out)
    if local:
        for t in range(num_classes):
            for p in range(num_classes):
                out[t, p] += hist[t, p]
    return 0, 0, 0


def confusion_matrix(y_true, y_pred, sample_weight, ignore_label, out):
    """Backend.confusion_matrix: adds the (C, C) matrix into out; returns (code, row, col)."""
    if y_true.ndim != 1:
        raise ValueError(f"confusion_matrix: y_true must be 1-D (N,); got shape {y_true.shape}")
    n = y_true.shape[0]
    out_shape = out.shape
    if len(out_shape) != 2 or out_shape[0] != out_shape[1]:
        raise ValueError(f"confusion_matrix: out must be a square (C, C) matrix; got {out_shape}")
    pred_shape = y_pred.shape
    if pred_shape != (n,) and pred_shape != (n, out_shape[0]):
        raise ValueError(
            f"confusion_matrix: y_pred must have shape ({n},) or ({n}, {out_shape[0]}); got {pred_shape}"
        )
    if sample_weight is None:
        out_dtype = _I64
    else:
        out_dtype = _F64
        if sample_weight.shape != (n,):
            raise ValueError(
                f"confusion_matrix: sample_weight must have shape ({n},); got {sample_weight.shape}"
            )
    if out.dtype is not out_dtype and out.dtype != out_dtype:
        raise TypeError(f"confusion_matrix: out must have dtype {out_dtype} here; got {out.dtype}")
    if n == 0:
        return (0, 0, 0)
    if ignore_label is None:
        return _confusion_matrix_kernel(y_true, y_pred, sample_weight, False, 0, out)
    return _confusion_matrix_kernel(y_true, y_pred, sample_weight, True, ignore_label, out)
