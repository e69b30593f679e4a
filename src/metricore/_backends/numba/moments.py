"""moments and column_moments: weighted float64 sums of per-row error terms, and the
per-column sums behind R^2.

See ``metricore._backends.protocol.Backend.moments`` / ``column_moments`` for the contract
and ``csrc/include/metricore/moments.hpp`` for the C++ twin.

Blocked summation without fastmath: a block of 256 rows writes its row terms to a buffer
(a plain loop, which LLVM vectorizes when the term is elementwise), the buffer is summed
pairwise level by level (each level a vectorized loop), and the block sums go into a
partial that joins the total every 256 blocks. Every float64 addition thus adds terms of
similar magnitude, so the relative error stays near 1e-14 for N up to 2^24 and beyond.

One kernel body serves every kind and the user functions of ``moments_custom``: a factory
closes it over the kind (a compile-time constant, so LLVM keeps one term's code in the loop)
or over the user's jitted function (inlined into the loop).
"""

import functools

import numpy as np
from numba import types
from numba.core.registry import CPUDispatcher

from metricore._backends.protocol import ErrorCode, MomentKind

from ._args import ARGUMENT_ERROR, TypingError, explain
from ._elementwise import (
    COSINE,
    U,
    cosine_term,
    element_weight,
    moment_term,
    row_weight,
    same_rows,
    tree_sum,
    weight_ok,
)
from ._jit import inline, jit, jit_uncached, specialize

_BAD_WEIGHT = int(ErrorCode.BAD_WEIGHT)
_CUSTOM = -1  # the kind of a user-function kernel

_BLOCK = 256  # rows per summation block (a power of two: tree_sum halves it)
_CASCADE = 256  # block sums per partial

_F64 = np.dtype(np.float64)


# ------------------------------------------------------------------ shared helpers
@jit
def _weight_columns(sample_weight):
    if sample_weight is None:
        return 0
    return sample_weight.shape[1]


@jit
def _weights_fit(sample_weight, num_rows, num_columns, cosine):
    """(N, 1) or (N, D) weights (COSINE: (N, 1)), or None."""
    if sample_weight is None:
        return True
    w_rows, w_columns = sample_weight.shape
    return (w_rows == num_rows) & ((w_columns == 1) | ((w_columns == num_columns) & (not cosine)))


@jit
def _first_bad_weight(sample_weight, start):
    """The first non-finite weight from row ``start`` on, as (code, row, col)."""
    if sample_weight is None:
        return 0, 0, 0
    for i in range(start, sample_weight.shape[0]):
        for j in range(sample_weight.shape[1]):
            if not weight_ok(sample_weight[U(i), U(j)]):
                return _BAD_WEIGHT, i, j
    return 0, 0, 0


def _element(fn, kind, t, p, param):
    """f(t, p): the built-in ``kind``'s term when ``fn`` is None, else the user's function
    (float64 arguments). Inlined, never compiled on its own, so that a user's function never
    reaches the disk cache."""


@specialize(_element)
def _element_impl(fn, kind, t, p, param):
    if isinstance(fn, types.NoneType):
        return lambda fn, kind, t, p, param: moment_term(kind, t, p, param)
    return lambda fn, kind, t, p, param: np.float64(fn(np.float64(t), np.float64(p)))


@inline
def _row_sums(kind, fn, param, y_true, y_pred, sample_weight, i, per_element):
    """(weighted row term, row weight, bad weight) of row i (D > 1 or COSINE)."""
    num_columns = y_true.shape[1]
    if kind == COSINE:
        dot = tt = pp = 0.0
        for j in range(num_columns):
            t = np.float64(y_true[U(i), U(j)])
            p = np.float64(y_pred[U(i), U(j)])
            dot += t * p
            tt += t * t
            pp += p * p
        w = element_weight(sample_weight, i, 0)
        return w * cosine_term(dot, tt, pp), w, not weight_ok(w)
    if per_element:  # W == D: mean_j (w_ij f_ij) and mean_j w_ij
        s = sw = 0.0
        bad = False
        for j in range(num_columns):
            w = element_weight(sample_weight, i, j)
            bad |= not weight_ok(w)
            s += w * _element(fn, kind, y_true[U(i), U(j)], y_pred[U(i), U(j)], param)
            sw += w
        return s / num_columns, sw / num_columns, bad
    s = 0.0
    for j in range(num_columns):
        s += _element(fn, kind, y_true[U(i), U(j)], y_pred[U(i), U(j)], param)
    w = element_weight(sample_weight, i, 0)
    return w * (s / num_columns), w, not weight_ok(w)


# ------------------------------------------------------------------ moments
def _make_moments_kernel(kind, fn, jit_fn):
    """The moments kernel for a built-in ``kind`` (fn None) or a user's function."""

    @jit_fn
    def kernel(param, y_true, y_pred, sample_weight, out):
        num_rows, num_columns = y_true.shape
        if (
            y_pred.shape != y_true.shape
            or num_columns == 0
            or not _weights_fit(sample_weight, num_rows, num_columns, kind == COSINE)
            or out.shape[0] != 2
        ):
            return ARGUMENT_ERROR, 0, 0
        if num_rows == 0:
            return 0, 0, 0
        per_element = _weight_columns(sample_weight) > 1
        num_buf = np.zeros(_BLOCK)
        den_buf = np.zeros(_BLOCK)
        total_num = total_den = part_num = part_den = 0.0
        blocks = 0
        for start in range(0, num_rows, _BLOCK):
            n = min(_BLOCK, num_rows - start)
            if n < _BLOCK:
                num_buf[:] = 0.0
                den_buf[:] = 0.0
            bad = False
            if num_columns == 1 and kind != COSINE:  # one element per row: vectorizes
                for r in range(n):
                    i = start + r
                    w = element_weight(sample_weight, i, 0)
                    bad |= not weight_ok(w)
                    num_buf[U(r)] = w * _element(fn, kind, y_true[U(i), 0], y_pred[U(i), 0], param)
                    den_buf[U(r)] = w
            else:
                for r in range(n):
                    a, b, e = _row_sums(
                        kind, fn, param, y_true, y_pred, sample_weight, start + r, per_element
                    )
                    num_buf[U(r)] = a
                    den_buf[U(r)] = b
                    bad |= e
            if bad:
                return _first_bad_weight(sample_weight, start)
            part_num += tree_sum(num_buf)
            part_den += tree_sum(den_buf)
            blocks += 1
            if blocks == _CASCADE:
                total_num += part_num
                total_den += part_den
                part_num = part_den = 0.0
                blocks = 0
        out[0] += total_num + part_num
        out[1] += total_den + part_den
        return 0, 0, 0

    return kernel


# One dispatcher per kind; nothing compiles until a kind is first used.
_KERNELS = tuple(_make_moments_kernel(int(k), None, jit) for k in MomentKind)


@functools.lru_cache(maxsize=64)
def _custom_kernel(fn):
    if not isinstance(fn, CPUDispatcher):
        raise TypeError(
            "moments_custom: fn must be a function compiled with numba.njit; "
            f"got {type(fn).__name__}"
        )
    return _make_moments_kernel(_CUSTOM, fn, jit_uncached)


def _check_moments(kind, y_true, y_pred, sample_weight, out, name="moments"):
    """The arguments' shapes and dtypes, named in the error (the wrapper's slow path)."""
    shape = y_pred.shape
    if len(shape) != 2:
        raise ValueError(f"{name}: y_pred must be 2-D (N, D); got shape {shape}")
    if y_pred.dtype != np.float32 and y_pred.dtype != np.float64:
        raise TypeError(f"{name}: y_pred must be float32 or float64; got {y_pred.dtype}")
    if shape[1] == 0:
        raise ValueError(f"{name}: y_pred must have at least one column")
    if y_true.shape != shape:
        raise ValueError(f"{name}: y_true must have shape {shape}; got {y_true.shape}")
    if sample_weight is not None:
        w_shape = sample_weight.shape
        columns_ok = len(w_shape) == 2 and (w_shape[1] == 1 or w_shape[1] == shape[1])
        if not columns_ok or w_shape[0] != shape[0]:
            raise ValueError(
                f"{name}: sample_weight must have shape ({shape[0]}, 1) or {shape}; got {w_shape}"
            )
        if kind == COSINE and w_shape[1] != 1:
            raise ValueError(
                f"{name}: COSINE takes one weight per row: sample_weight must be (N, 1)"
            )
    if out.dtype != _F64:
        raise TypeError(f"{name}: out must have dtype float64; got {out.dtype}")
    if out.shape != (2,):
        raise ValueError(f"{name}: out must have shape (2,); got {out.shape}")


def moments(kind, param, y_true, y_pred, sample_weight, out):
    """Backend.moments: out[0] += weighted sum of row terms, out[1] += sum of weights."""
    if not 0 <= kind < len(_KERNELS):
        raise ValueError(f"moments: unknown moment kind {kind}")
    if out.dtype is not _F64:
        _check_moments(kind, y_true, y_pred, sample_weight, out)
    try:
        result = _KERNELS[kind](param, y_true, y_pred, sample_weight, out)
    except TypingError as error:
        explain(_check_moments, (kind, y_true, y_pred, sample_weight, out), error)
    if result[0] < 0:
        explain(_check_moments, (kind, y_true, y_pred, sample_weight, out))
    return result


def moments_custom(fn, y_true, y_pred, sample_weight, out):
    """``moments`` with a user's per-element term ``fn(t, p) -> float`` (a ``numba.njit``
    function, called with float64 arguments and inlined into the loop). One kernel per
    function, compiled on its first use and kept in memory."""
    kernel = _custom_kernel(fn)
    args = (_CUSTOM, y_true, y_pred, sample_weight, out, "moments_custom")
    if out.dtype is not _F64:
        _check_moments(*args)
    try:
        result = kernel(0.0, y_true, y_pred, sample_weight, out)
    except TypingError as error:
        explain(_check_moments, args, error)
    if result[0] < 0:
        explain(_check_moments, args)
    return result


# ------------------------------------------------------------------ column_moments
@jit
def column_terms(t, p, shift):
    """(t - shift, t - p) in float64: the deviations behind one element's shifted sums."""
    t = np.float64(t)
    return t - shift, t - np.float64(p)


@jit
def first_bad_row_weight(sample_weight, start, num_rows):
    """The first non-finite weight of (N,) weights (or None) from row ``start`` on, as
    (code, row, 0)."""
    for i in range(start, num_rows):
        if not weight_ok(row_weight(sample_weight, i)):
            return _BAD_WEIGHT, i, 0
    return 0, 0, 0


@jit
def _column_moments_kernel(y_true, y_pred, sample_weight, shift, out):
    num_rows, num_columns = y_true.shape
    if (
        y_pred.shape != y_true.shape
        or not same_rows(sample_weight, num_rows)
        or shift.shape[0] != num_columns
        or out.shape[0] != 4
        or out.shape[1] != num_columns
    ):
        return ARGUMENT_ERROR, 0, 0
    if num_rows == 0:
        return 0, 0, 0
    total = np.zeros((4, num_columns))
    part = np.zeros((4, num_columns))
    block = np.zeros((4, num_columns))
    if num_columns == 1:  # per-row terms into buffers, summed pairwise: vectorizes
        bufs = np.zeros((4, _BLOCK))
    else:  # independent columns: the inner loop vectorizes across them
        bufs = np.zeros((4, 0))
    blocks = 0
    for start in range(0, num_rows, _BLOCK):
        n = min(_BLOCK, num_rows - start)
        bad = False
        if num_columns == 1:
            if n < _BLOCK:
                bufs[:, :] = 0.0
            s0 = shift[0]
            for r in range(n):
                i = start + r
                w = row_weight(sample_weight, i)
                bad |= not weight_ok(w)
                d, e = column_terms(y_true[U(i), 0], y_pred[U(i), 0], s0)
                bufs[0, U(r)] = w
                bufs[1, U(r)] = w * d
                bufs[2, U(r)] = w * d * d
                bufs[3, U(r)] = w * e * e
            for q in range(4):
                block[q, 0] = tree_sum(bufs[q])
        else:
            block[:, :] = 0.0
            for r in range(n):
                i = start + r
                w = row_weight(sample_weight, i)
                bad |= not weight_ok(w)
                for j in range(num_columns):
                    d, e = column_terms(y_true[U(i), U(j)], y_pred[U(i), U(j)], shift[U(j)])
                    block[0, U(j)] += w
                    block[1, U(j)] += w * d
                    block[2, U(j)] += w * d * d
                    block[3, U(j)] += w * e * e
        if bad:
            return first_bad_row_weight(sample_weight, start, num_rows)
        part += block
        blocks += 1
        if blocks == _CASCADE:
            total += part
            part[:, :] = 0.0
            blocks = 0
    for q in range(4):
        for j in range(num_columns):
            out[q, j] += total[q, j] + part[q, j]
    return 0, 0, 0


def _check_column_moments(y_true, y_pred, sample_weight, shift, out):
    """The arguments' shapes and dtypes, named in the error (the wrapper's slow path)."""
    shape = y_pred.shape
    if len(shape) != 2:
        raise ValueError(f"column_moments: y_pred must be 2-D (N, D); got shape {shape}")
    if y_pred.dtype != np.float32 and y_pred.dtype != np.float64:
        raise TypeError(f"column_moments: y_pred must be float32 or float64; got {y_pred.dtype}")
    if y_true.shape != shape:
        raise ValueError(f"column_moments: y_true must have shape {shape}; got {y_true.shape}")
    if sample_weight is not None and sample_weight.shape != (shape[0],):
        raise ValueError(
            f"column_moments: sample_weight must have shape ({shape[0]},); "
            f"got {sample_weight.shape}"
        )
    if shift.shape != (shape[1],) or shift.dtype != _F64:
        raise TypeError(f"column_moments: shift must be a float64 array of shape ({shape[1]},)")
    if out.dtype != _F64:
        raise TypeError(f"column_moments: out must have dtype float64; got {out.dtype}")
    if out.shape != (4, shape[1]):
        raise ValueError(f"column_moments: out must have shape (4, {shape[1]}); got {out.shape}")


def column_moments(y_true, y_pred, sample_weight, shift, out):
    """Backend.column_moments: per-column shifted sums for R^2 into out (4, D)."""
    if out.dtype is not _F64:
        _check_column_moments(y_true, y_pred, sample_weight, shift, out)
    try:
        result = _column_moments_kernel(y_true, y_pred, sample_weight, shift, out)
    except TypingError as error:
        explain(_check_column_moments, (y_true, y_pred, sample_weight, shift, out), error)
    if result[0] < 0:
        explain(_check_column_moments, (y_true, y_pred, sample_weight, shift, out))
    return result
