"""binary_clf_curve: the exact curve's points from one sort (scikit-learn's _binary_clf_curve).

See ``metricore._backends.protocol.Backend.binary_clf_curve`` for the contract and
``csrc/include/metricore/binary_clf_curve.hpp`` for the C++ twin.

1. Keys: each score maps to an unsigned key that sorts like the float (float32 to uint32,
   float64 to uint64; ``s + 0.0`` first, so that -0.0 and 0.0 are one key). One read-only
   pass counts every radix digit of every key.
2. Sort: an LSD radix sort on 11-bit digits (3 passes for float32 keys, 6 for float64) that
   carries the label (and weight) along, skipping a pass whose digit every key shares
   (float32 scores held as float64 skip their low passes); the first pass reads the inputs
   (computing the keys again), the others go between two buffers. It is stable: equal keys
   keep their input order.
3. Walk: from the largest key down, a linear, branch-free scan adding each weight to the
   positive or negative total and emitting a point where the next key differs. Equal keys
   are visited in decreasing input order, the order of scikit-learn's reversed stable
   argsort, so weighted sums are the reference's to the last bit.

(Sorting each class apart and merging the two is slower: the merge's next index depends on
the last comparison, a chain through a load per element.)
"""

import numpy as np
from numba import types

from ._args import ARGUMENT_ERROR, TypingError, explain
from ._bits import bits_float32, bits_float64, float_bits
from ._elementwise import same_rows
from ._jit import jit, specialize

_BITS = 11  # radix digit width
_ALL64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_SIGN64 = np.uint64(0x8000000000000000)
_RADIX = 1 << _BITS
_BAD_LABEL = 1  # the kernel's code for a y_true value other than 0 or 1

_U8 = np.dtype(np.uint8)
_BOOL = np.dtype(np.bool_)
_F64 = np.dtype(np.float64)


# ------------------------------------------------------------------ keys
def _key(s):
    """The unsigned key of a score: keys sort like the scores (-0.0 == 0.0, no NaN)."""


@specialize(_key)
def _key_impl(s):
    if s == types.float32:

        def key32(s):
            b = float_bits(s + np.float32(0.0))
            flip = np.uint32(0xFFFFFFFF) if b >> np.uint32(31) else np.uint32(0x80000000)
            return np.uint32(b ^ flip)

        return key32
    if s == types.float64:

        def key64(s):
            b = float_bits(s + 0.0)
            flip = _ALL64 if b >> np.uint64(63) else _SIGN64
            return b ^ flip

        return key64
    return None


def _score(k):
    """The score of a key, as float64."""


@specialize(_score)
def _score_impl(k):
    if k == types.uint32:

        def score32(k):
            flip = np.uint32(0x80000000) if k >> np.uint32(31) else np.uint32(0xFFFFFFFF)
            return np.float64(bits_float32(k ^ flip))

        return score32
    if k == types.uint64:

        def score64(k):
            flip = _SIGN64 if k >> np.uint64(63) else _ALL64
            return bits_float64(k ^ flip)

        return score64
    return None


# Typed on whether the batch is weighted (Numba prunes an ``x is None`` branch only where x
# is None; elsewhere both branches are typed, and Optional types result).
def _row(buffers, b):
    """Row b of (2, n) buffers, or None."""


@specialize(_row)
def _row_impl(buffers, b):
    if isinstance(buffers, types.NoneType):
        return lambda buffers, b: None
    return lambda buffers, b: buffers[b]


@jit
def _digit(k, shift):
    return np.int64((np.uint64(k) >> np.uint64(shift)) & np.uint64(_RADIX - 1))


# ------------------------------------------------------------------ passes
@jit
def _first_bad_label(y_true):
    """The index of the first label other than 0 or 1, or -1 (a vectorized scan first)."""
    bad = False
    for i in range(y_true.shape[0]):
        bad |= np.uint8(y_true[i]) > 1
    if bad:
        for i in range(y_true.shape[0]):
            if np.uint8(y_true[i]) > 1:
                return i
    return -1


@jit
def _count_digits(y_score, counts):
    """counts[p, d] += 1 for digit d of pass p of each score's key."""
    for i in range(y_score.shape[0]):
        k = _key(y_score[i])
        for p in range(counts.shape[0]):
            counts[p, _digit(k, p * _BITS)] += 1


@jit
def _scatter_inputs(y_score, y_true, sample_weight, shift, offsets, keys, labels, weights):
    """The first pass that moves anything: keys computed from the inputs, labels and weights
    copied, each element to the next slot of its digit (offsets: each digit's first)."""
    for i in range(y_score.shape[0]):
        k = _key(y_score[i])
        d = _digit(k, shift)
        at = offsets[d]
        offsets[d] = at + 1
        keys[at] = k
        labels[at] = np.uint8(y_true[i])
        if weights is not None:
            weights[at] = sample_weight[i]


@jit
def _scatter(shift, offsets, keys, labels, weights, to_keys, to_labels, to_weights):
    """A later pass: from one buffer to the other."""
    for i in range(keys.shape[0]):
        k = keys[i]
        d = _digit(k, shift)
        at = offsets[d]
        offsets[d] = at + 1
        to_keys[at] = k
        to_labels[at] = labels[i]
        if weights is not None:
            to_weights[at] = weights[i]


@jit
def _count_distinct(keys):
    """The number of distinct values of sorted keys."""
    n = keys.shape[0]
    distinct = np.int64(n > 0)
    for i in range(1, n):
        distinct += keys[i] != keys[i - 1]
    return distinct


@jit
def _sort_kernel(y_score, y_true, sample_weight, keys, labels, weights):
    """Radix-sorts the batch into one of two buffers: keys, labels and weights (or None) are
    (2, n). Returns (code, where, buffer, number of distinct scores): code 0, ARGUMENT_ERROR
    (lengths differ) or _BAD_LABEL (y_true[where] is not 0 or 1)."""
    n = y_score.shape[0]
    if (
        y_true.shape[0] != n
        or not same_rows(sample_weight, n)
        or keys.shape[1] != n
        or labels.shape[1] != n
        or not _same_buffers(weights, n)
    ):
        return ARGUMENT_ERROR, 0, 0, 0
    bad = _first_bad_label(y_true)
    if bad >= 0:
        return _BAD_LABEL, bad, 0, 0
    if n == 0:
        return 0, 0, 0, 0
    counts = np.zeros(((keys.itemsize * 8 + _BITS - 1) // _BITS, _RADIX), np.int64)
    _count_digits(y_score, counts)
    first_key = _key(y_score[0])
    offsets = np.empty(_RADIX, np.int64)
    src = -1  # the inputs
    for p in range(counts.shape[0]):
        shift = p * _BITS
        if counts[p, _digit(first_key, shift)] == n:
            continue  # every key has this digit: the pass would not move anything
        total = 0
        for d in range(_RADIX):
            offsets[d] = total
            total += counts[p, d]
        if src < 0:
            _scatter_inputs(
                y_score, y_true, sample_weight, shift, offsets, keys[0], labels[0], _row(weights, 0)
            )
            src = 0
        else:
            dst = 1 - src
            _scatter(
                shift, offsets, keys[src], labels[src], _row(weights, src),
                keys[dst], labels[dst], _row(weights, dst),
            )
            src = dst
    if src < 0:  # every key is the same: the inputs in order
        offsets[:] = 0
        _scatter_inputs(
            y_score, y_true, sample_weight, 0, offsets, keys[0], labels[0], _row(weights, 0)
        )
        src = 0
    return 0, 0, src, _count_distinct(keys[src])


@jit
def _walk(keys, labels, weights, zero, out):
    """From the largest key down: out = (thresholds, tps, fps) gets one point per distinct
    key, the totals over the keys >= it."""
    thresholds, tps, fps = out
    tp = zero
    fp = zero
    k = 0
    for i in range(keys.shape[0] - 1, -1, -1):
        key = keys[i]
        positive = labels[i] != 0
        if weights is None:
            tp += np.int64(positive)
            fp += np.int64(not positive)
        else:
            w = weights[i]
            tp += w if positive else 0.0
            fp += 0.0 if positive else w
        thresholds[k] = _score(key)
        tps[k] = tp
        fps[k] = fp
        k += np.int64((i == 0) or (keys[max(i - 1, 0)] != key))


@jit
def _same_buffers(weights, n):
    if weights is None:
        return True
    return weights.shape[1] == n


# ------------------------------------------------------------------ Python entry point
def _check(y_score, y_true, sample_weight):
    """The arguments' shapes and dtypes, named in the error (the wrapper's slow path)."""
    if y_score.ndim != 1:
        raise ValueError(f"binary_clf_curve: y_score must be 1-D; got shape {y_score.shape}")
    if y_score.dtype != np.float32 and y_score.dtype != np.float64:
        raise TypeError(
            f"binary_clf_curve: y_score must be float32 or float64; got {y_score.dtype}"
        )
    if y_true.dtype != _U8 and y_true.dtype != _BOOL:
        raise TypeError(f"binary_clf_curve: y_true must be uint8 or bool; got {y_true.dtype}")
    if y_true.shape != y_score.shape:
        raise ValueError(
            f"binary_clf_curve: y_true must have the shape of y_score {y_score.shape}; "
            f"got {y_true.shape}"
        )
    if sample_weight is not None:
        if sample_weight.dtype != _F64:
            raise TypeError(
                f"binary_clf_curve: sample_weight must be float64; got {sample_weight.dtype}"
            )
        if sample_weight.shape != y_score.shape:
            raise ValueError(
                f"binary_clf_curve: sample_weight must have the shape of y_score "
                f"{y_score.shape}; got {sample_weight.shape}"
            )


def binary_clf_curve(y_score, y_true, sample_weight):
    """Backend.binary_clf_curve: (thresholds, tps, fps) of the distinct scores, decreasing.

    The buffers are allocated here, by NumPy, which asks for huge pages: at n = 2^24 the
    page faults of Numba-allocated buffers cost a third of the time."""
    _check(y_score, y_true, sample_weight)  # result-time work: the checks are negligible
    n = y_score.shape[0]
    keys = np.empty((2, n), np.uint32 if y_score.dtype == np.float32 else np.uint64)
    labels = np.empty((2, n), np.uint8)
    weights = None if sample_weight is None else np.empty((2, n))
    args = (y_score, y_true, sample_weight)
    try:
        code, where, b, num_points = _sort_kernel(
            y_score, y_true, sample_weight, keys, labels, weights
        )
    except TypingError as error:
        explain(_check, args, error)
    if code == _BAD_LABEL:
        raise ValueError(
            f"binary_clf_curve: y_true must hold only 0 and 1; got {int(y_true[where])} at index "
            f"{where}"
        )
    if code != 0:
        explain(_check, args)
    thresholds = np.empty(num_points)
    sums = np.int64 if sample_weight is None else np.float64
    out = (thresholds, np.empty(num_points, sums), np.empty(num_points, sums))
    _walk(keys[b], labels[b], None if weights is None else weights[b], sums(0), out)
    return out
