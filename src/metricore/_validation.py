"""Shape and dtype checks shared by all backends, and the kernels' error triples as exceptions.

Conversions are explicit and few. Kernels read, without a copy and through any strides:
labels of dtype bool, int8, uint8, int32, int64, float32, float64; scores of dtype float32,
float64; weights float32/float64. Everything else is converted here, once per batch:
int16/uint16 labels to int32, uint32/uint64 labels to int64, float16 to float32, integer
or bool scores to float64, other weights to float64. Strings, objects and complex numbers
are refused with a TypeError.

Value checks (labels in range, NaN scores, non-finite weights) are not done here: the
kernels do them in their single pass and report an ``(code, row, col)`` triple that
``raise_for_error`` turns into a ``ValueError``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from metricore._backends.protocol import ErrorCode
from metricore._dispatch import to_numpy

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_LABEL_OK = frozenset("?bBilqfd")  # bool, int8, uint8, int32, int64 (l/q), float32, float64
_LABEL_WIDEN = {"h": np.int32, "H": np.int32, "I": np.int64, "L": np.int64, "Q": np.int64,
                "e": np.float32, "p": np.int64, "P": np.int64}


def _kind_error(name: str, arr: np.ndarray, what: str) -> TypeError:
    return TypeError(f"{name} must be {what}; got dtype {arr.dtype}")


def labels(x, name: str = "y_true") -> np.ndarray:
    """A label array in a dtype the kernels read (see the module docstring)."""
    arr = to_numpy(x)
    char = arr.dtype.char
    if char in _LABEL_OK and arr.dtype.isnative:
        return arr
    if char in _LABEL_WIDEN and arr.dtype.isnative:
        return arr.astype(_LABEL_WIDEN[char])
    if arr.dtype.kind in "biuf":
        return arr.astype(arr.dtype.newbyteorder("="))
    raise _kind_error(name, arr, "numeric (bool, integer or float)")


def scores(x, name: str = "y_pred") -> np.ndarray:
    """A float32/float64 score array (integers and bools widen to float64, float16 to float32)."""
    arr = to_numpy(x)
    dt = arr.dtype
    if dt is _F32 or dt is _F64 or dt == _F32 or dt == _F64:
        return arr
    if dt.kind == "f":
        return arr.astype(_F32 if dt.itemsize <= 4 else _F64)
    if dt.kind in "biu":
        return arr.astype(_F64)
    raise _kind_error(name, arr, "numeric (bool, integer or float)")


def _float_weights(sample_weight, name):
    w = to_numpy(sample_weight)
    if w.dtype.char not in "fd" or not w.dtype.isnative:
        if w.dtype.kind not in "biuf":
            raise _kind_error(name, w, "numeric")
        w = w.astype(_F64)
    return w


def _broadcast_leading(w, shape, name, original_shape):
    """Broadcasts ``w`` to ``shape`` aligning *leading* axes (a weight per sample, per
    sample and time step, ...), the way Keras expands weights; a zero-copy view."""
    shape = tuple(shape)
    if w.ndim == len(shape) + 1 and w.shape[-1] == 1:
        w = w[..., 0]
    if 0 < w.ndim < len(shape):
        w = w.reshape(w.shape + (1,) * (len(shape) - w.ndim))
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(
            f"{name} of shape {original_shape} cannot be broadcast to the predictions' "
            f"shape {shape}"
        ) from None


def weights(sample_weight, shape: Sequence[int], name: str = "sample_weight") -> Optional[np.ndarray]:
    """``sample_weight`` as float32/float64, broadcast (a zero-copy view) to ``shape``.

    Keras' rules: a scalar, one weight per sample ``(N,)`` / ``(N, 1)``, per leading axes
    (``(N, T)`` for ``(N, T, C)`` predictions), or the full shape. Returns None for None.
    """
    if sample_weight is None:
        return None
    w = _float_weights(sample_weight, name)
    if w.shape == tuple(shape):
        return w
    return _broadcast_leading(w, shape, name, np.shape(sample_weight))


def rows(arr: np.ndarray) -> np.ndarray:
    """Rows = every leading axis, columns = the last axis: (N,) -> (N, 1), (N, T, C) -> (N*T, C).

    Metrics act along the last axis (classes, labels, outputs), as Keras does.
    """
    if arr.ndim == 2:
        return arr
    if arr.ndim == 1:
        return arr[:, None]
    if arr.ndim == 0:
        return arr.reshape(1, 1)
    return arr.reshape(-1, arr.shape[-1])


def moment_weights(sample_weight, shape, name: str = "sample_weight"):
    """Weights for the moments kernel over ``rows(...)`` of ``shape``: (R, C) when given per
    element, else one per row, (R, 1) (see the protocol)."""
    if sample_weight is None:
        return None
    w = _float_weights(sample_weight, name)
    if w.ndim == 1 and len(shape) <= 2 and w.shape[0] == shape[0]:
        return w[:, None]  # the common case, one weight per sample: no broadcasting needed
    shape = tuple(shape)
    if w.ndim == len(shape) + 1 and w.shape[-1] == 1:
        w = w[..., 0]
    if len(shape) >= 2 and w.ndim == len(shape) and w.shape[-1] == shape[-1] and shape[-1] > 1:
        return rows(_broadcast_leading(w, shape, name, np.shape(sample_weight)))
    row_shape = shape[:-1] if len(shape) >= 2 else shape
    if len(shape) >= 2 and w.ndim == len(shape) and w.shape[-1] == 1:
        w = w[..., 0]
    per_row = _broadcast_leading(w, row_shape, name, np.shape(sample_weight))
    return per_row.reshape(-1, 1)


def row_weights(sample_weight, n: int, name: str = "sample_weight") -> Optional[np.ndarray]:
    """A per-sample weight vector of length ``n`` (scalar, (N,) or (N, 1) accepted)."""
    if sample_weight is None:
        return None
    w = to_numpy(sample_weight)
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.ndim > 1:
        raise ValueError(f"{name} must have shape ({n},) or ({n}, 1); got {w.shape}")
    if w.dtype != _F32 and w.dtype != _F64:
        if w.dtype.kind not in "biuf":
            raise _kind_error(name, w, "numeric")
        w = w.astype(_F64)
    if w.ndim == 0:
        return np.broadcast_to(w, (n,))
    if w.shape[0] != n:
        raise ValueError(f"{name} must have length {n} (one weight per sample); got shape {w.shape}")
    return w


def same_rank(y_true: np.ndarray, y_pred: np.ndarray):
    """Keras' squeeze_or_expand_to_same_rank: drop a trailing size-1 axis where ranks differ by one."""
    dt, dp = y_true.ndim, y_pred.ndim
    if dt == dp + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    elif dp == dt + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred[..., 0]
    return y_true, y_pred


def matching_rows(y_true: np.ndarray, y_pred: np.ndarray):
    """Keras rank rules, a shape check naming both shapes, then ``rows`` of each."""
    t, p = same_rank(y_true, y_pred)
    if t.shape != p.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape; got y_true {y_true.shape} and "
            f"y_pred {y_pred.shape}"
        )
    return t, p


def class_ids(x, name: str) -> np.ndarray:
    """A 1-D array of class ids ((N,) or (N, 1) accepted)."""
    arr = labels(x, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must hold one class id per sample, shape (N,); got {arr.shape}")
    return arr


def check_lengths(n: int, **arrays) -> None:
    for name, arr in arrays.items():
        if arr is not None and arr.shape[0] != n:
            raise ValueError(
                f"{name} has {arr.shape[0]} samples where {n} were expected; shapes: "
                + ", ".join(f"{k} {v.shape}" for k, v in arrays.items() if v is not None)
            )


def thresholds(values, default: float = 0.5, name: str = "thresholds") -> np.ndarray:
    """A strictly increasing float64 array of thresholds in [0, 1] (Keras' range)."""
    if values is None:
        values = [default]
    arr = np.array(values, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if np.isnan(arr).any() or (arr < 0).any() or (arr > 1).any():
        bad = arr[np.isnan(arr) | (arr < 0) | (arr > 1)]
        raise ValueError(f"{name} must lie in [0, 1]; got {bad.tolist()}")
    if arr.size > 1 and not (np.diff(arr) > 0).all():
        raise ValueError(f"{name} must be strictly increasing; got {arr.tolist()}")
    return np.ascontiguousarray(arr)


def positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


# ------------------------------------------------------------------- errors
_UNSEEN = object()  # the batch is not at hand: an error recorded on a GPU (check())


def _at(arr, row, col):
    if arr is None:
        return _UNSEEN, (row, col)
    if arr.ndim == 1:
        return arr[row], (row,)
    return arr[row, col], (row, col)


def _found(value, idx) -> str:
    if value is _UNSEEN:
        return (f"found one at index {idx} of a batch given to update_state on the GPU "
                "(that batch and later ones were not added; reset_state() clears the error)")
    return f"found {value!r} at index {idx}"


def raise_for_error(err, y_true=None, y_pred=None, sample_weight=None, num_classes=None,
                    groups=None) -> None:
    """Turns a kernel's ``(code, row, col)`` into a ValueError naming the argument and value."""
    code, row, col = err
    if code == ErrorCode.OK:
        return
    if code == ErrorCode.BINARY_LABEL:
        value, idx = _at(y_true, row, col)
        msg = "y_true must hold binary labels (0 or 1); " + _found(value, idx)
    elif code == ErrorCode.TRUE_CLASS:
        value, idx = _at(y_true, row, col)
        if y_true is not None and y_true.ndim == 2 and num_classes is None:
            value = "a row"
        msg = (f"y_true must hold integer class ids in [0, {num_classes}); "
               + _found(value, idx))
    elif code == ErrorCode.PRED_CLASS:
        value, idx = _at(y_pred, row, col)
        msg = (f"y_pred must hold integer class ids in [0, {num_classes}); "
               + _found(value, idx))
    elif code == ErrorCode.NAN_SCORE:
        value, idx = _at(y_pred, row, col)
        msg = "y_pred must not hold NaN; " + _found(value, idx)
    elif code == ErrorCode.BAD_WEIGHT:
        value, idx = _at(sample_weight, row, col)
        msg = "sample_weight must be finite; " + _found(value, idx)
    elif code == ErrorCode.GROUP:
        value, idx = _at(groups, row, 0)
        msg = "by must hold group ids in range; " + _found(value, idx)
    else:  # pragma: no cover - a kernel returned an unknown code
        msg = f"kernel error code {code} at index {(row, col)}"
    raise ValueError(msg)
