"""binary_clf_curve: the exact curve's points from one sort (scikit-learn's _binary_clf_curve).

See ``metricore._backends.protocol.Backend.binary_clf_curve`` for the contract and
``csrc/include/metricore/binary_clf_curve.hpp`` for the C++ twin.

1. Split: one pass maps each score to an unsigned key that sorts like the float (float32 to
   uint32, float64 to uint64; ``s + 0.0`` first, so that -0.0 and 0.0 are one key), writes
   it to the positives' or the negatives' array (branch-free: to both, advancing one) with
   its weight when weighted, and counts every radix digit of every key, per class.
2. Sort: an LSD radix sort of each class on 11-bit digits (3 passes for float32 keys, 6 for
   float64), skipping a pass whose digit every key shares (float32 scores held as float64
   skip their low passes). It is stable: equal keys keep their input order.
3. Walk: from the largest key down, one element per step of a branch-free merge of the two
   sorted classes, adding its weight to the positive or negative total and emitting a point
   whenever the next key differs. Equal keys are visited in decreasing input order, the
   order of scikit-learn's reversed stable argsort, so weighted sums match it exactly.
"""

import numpy as np
from numba import types

from ._args import ARGUMENT_ERROR, TypingError, explain
from ._bits import bits_float32, bits_float64, float_bits
from ._jit import jit, specialize

_BITS = 11  # radix digit width
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
            flip = (
                np.uint64(0xFFFFFFFFFFFFFFFF) if b >> np.uint64(63) else np.uint64(0x8000000000000000)
            )
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
            flip = np.uint64(0x8000000000000000) if k >> np.uint64(63) else np.uint64(0xFFFFFFFFFFFFFFFF)
            return bits_float64(k ^ flip)

        return score64
    return None


def _new_keys(n, like):
    """An uninitialized key array for scores of ``like``'s dtype."""


@specialize(_new_keys)
def _new_keys_impl(n, like):
    if like.dtype == types.float32:
        return lambda n, like: np.empty(n, np.uint32)
    if like.dtype == types.float64:
        return lambda n, like: np.empty(n, np.uint64)
    return None


# Helpers typed on whether the batch is weighted (Numba prunes ``x is None`` branches only
# when x is None, so the weighted case would see Optional types).
def _zero(sample_weight):
    """The int 0 when unweighted (exact int64 counts), else 0.0."""


@specialize(_zero)
def _zero_impl(sample_weight):
    if isinstance(sample_weight, types.NoneType):
        return lambda sample_weight: 0
    return lambda sample_weight: 0.0


def _weight_buffer(sample_weight, n):
    """n uninitialized float64 weights, or None when unweighted."""


@specialize(_weight_buffer)
def _weight_buffer_impl(sample_weight, n):
    if isinstance(sample_weight, types.NoneType):
        return lambda sample_weight, n: None
    return lambda sample_weight, n: np.empty(n)


def _scratch(weights):
    """An uninitialized array like weights, or None."""


@specialize(_scratch)
def _scratch_impl(weights):
    if isinstance(weights, types.NoneType):
        return lambda weights: None
    return lambda weights: np.empty_like(weights)


def _head(weights, n):
    """weights[:n], or None."""


@specialize(_head)
def _head_impl(weights, n):
    if isinstance(weights, types.NoneType):
        return lambda weights, n: None
    return lambda weights, n: weights[:n]


@jit
def _digit(k, shift):
    return np.int64((np.uint64(k) >> np.uint64(shift)) & np.uint64(_RADIX - 1))


# ------------------------------------------------------------------ passes
@jit
def _count_positives(y_true):
    """(number of nonzero labels, index of the first label other than 0 or 1, or -1)."""
    n = y_true.shape[0]
    positives = 0
    bad = False
    for i in range(n):
        v = np.uint8(y_true[i])
        positives += v != 0
        bad |= v > 1
    if bad:
        for i in range(n):
            if np.uint8(y_true[i]) > 1:
                return positives, i
    return positives, -1


@jit
def _split(y_score, y_true, sample_weight, keys, weights, counts):
    """Keys (and weights) of the positives to keys[0] / weights[0], of the negatives to
    keys[1] / weights[1], in input order; counts[c, p, d] += 1 for digit d of pass p of each
    key of class c (1: positive). Each array has one spare slot: both classes are written
    every step."""
    num_passes = counts.shape[1]
    pos_keys, neg_keys = keys
    pos_weights, neg_weights = weights
    a = 0
    b = 0
    for i in range(y_score.shape[0]):
        positive = np.int64(y_true[i] != 0)
        k = _key(y_score[i])
        pos_keys[a] = k
        neg_keys[b] = k
        if sample_weight is not None:
            w = sample_weight[i]
            pos_weights[a] = w
            neg_weights[b] = w
        a += positive
        b += 1 - positive
        for p in range(num_passes):
            counts[positive, p, _digit(k, p * _BITS)] += 1


@jit
def _radix_sort(keys, weights, counts):
    """Sorts keys (with weights, or None) ascending and stably; returns the sorted arrays
    (the inputs' buffers or new ones). counts[p, d]: keys whose pass-p digit is d."""
    n = keys.shape[0]
    src, dst = keys, np.empty_like(keys)
    weight_src, weight_dst = weights, _scratch(weights)
    offsets = np.empty(_RADIX, np.int64)
    for p in range(counts.shape[0]):
        shift = p * _BITS
        if n == 0 or counts[p, _digit(src[0], shift)] == n:
            continue  # every key has this digit: the pass would not move anything
        total = 0
        for d in range(_RADIX):
            offsets[d] = total
            total += counts[p, d]
        for i in range(n):
            k = src[i]
            d = _digit(k, shift)
            at = offsets[d]
            offsets[d] = at + 1
            dst[at] = k
            if weights is not None:
                weight_dst[at] = weight_src[i]
        src, dst = dst, src
        weight_src, weight_dst = weight_dst, weight_src
    return src, weight_src


@jit
def _walk(pos_keys, num_pos, pos_weights, neg_keys, num_neg, neg_weights, zero, out):
    """Merges the sorted classes from the top; writes the points to out = (thresholds, tps,
    fps) and returns their number. Key arrays have at least one element."""
    thresholds, tps, fps = out
    i1 = num_pos - 1
    i0 = num_neg - 1
    tp = zero
    fp = zero
    k = 0
    for _ in range(num_pos + num_neg):
        k1 = pos_keys[max(i1, 0)]
        k0 = neg_keys[max(i0, 0)]
        take1 = (i1 >= 0) & ((i0 < 0) | (k1 >= k0))
        key = k1 if take1 else k0
        if pos_weights is None:
            tp += np.int64(take1)
            fp += np.int64(not take1)
        else:
            tp += pos_weights[max(i1, 0)] if take1 else 0.0
            fp += 0.0 if take1 else neg_weights[max(i0, 0)]
        i1 -= np.int64(take1)
        i0 -= np.int64(not take1)
        same = ((i1 >= 0) & (pos_keys[max(i1, 0)] == key)) | (
            (i0 >= 0) & (neg_keys[max(i0, 0)] == key)
        )
        thresholds[k] = _score(key)
        tps[k] = tp
        fps[k] = fp
        k += np.int64(not same)
    return k


@jit
def _binary_clf_curve_kernel(y_score, y_true, sample_weight):
    """(thresholds, tps, fps, code, where): code 0, ARGUMENT_ERROR (lengths differ) or
    _BAD_LABEL (y_true[where] is not 0 or 1)."""
    n = y_score.shape[0]
    zero = _zero(sample_weight)
    empty = np.empty(0, np.float64)
    empty_sums = np.full(0, zero)  # the dtype of tps and fps
    if y_true.shape[0] != n or (sample_weight is not None and sample_weight.shape[0] != n):
        return empty, empty_sums, empty_sums.copy(), ARGUMENT_ERROR, 0
    num_pos, bad = _count_positives(y_true)
    if bad >= 0:
        return empty, empty_sums, empty_sums.copy(), _BAD_LABEL, bad
    num_neg = n - num_pos
    num_passes = (_new_keys(0, y_score).itemsize * 8 + _BITS - 1) // _BITS
    keys = (_new_keys(num_pos + 1, y_score), _new_keys(num_neg + 1, y_score))
    weights = (_weight_buffer(sample_weight, num_pos + 1), _weight_buffer(sample_weight, num_neg + 1))
    counts = np.zeros((2, num_passes, _RADIX), np.int64)
    _split(y_score, y_true, sample_weight, keys, weights, counts)
    pos_keys, pos_weights = _radix_sort(keys[0][:num_pos], _head(weights[0], num_pos), counts[1])
    neg_keys, neg_weights = _radix_sort(keys[1][:num_neg], _head(weights[1], num_neg), counts[0])
    out = (np.empty(n), np.full(n, zero), np.full(n, zero))
    k = _walk(
        _padded(pos_keys), num_pos, pos_weights, _padded(neg_keys), num_neg, neg_weights, zero, out
    )
    thresholds, tps, fps = out
    if 2 * k < n:  # do not keep a mostly unused buffer alive
        return thresholds[:k].copy(), tps[:k].copy(), fps[:k].copy(), 0, 0
    return thresholds[:k], tps[:k], fps[:k], 0, 0


@jit
def _padded(keys):
    """keys, or a one-element array when empty (the walk reads index 0 of an empty class)."""
    if keys.shape[0] > 0:
        return keys
    return np.zeros(1, keys.dtype)


# ------------------------------------------------------------------ Python entry point
def _check(y_score, y_true, sample_weight):
    """The arguments' shapes and dtypes, named in the error (the wrapper's slow path)."""
    if y_score.ndim != 1:
        raise ValueError(f"binary_clf_curve: y_score must be 1-D; got shape {y_score.shape}")
    if y_score.dtype != np.float32 and y_score.dtype != np.float64:
        raise TypeError(f"binary_clf_curve: y_score must be float32 or float64; got {y_score.dtype}")
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
    """Backend.binary_clf_curve: (thresholds, tps, fps) of the distinct scores, decreasing."""
    if (y_true.dtype is not _U8 and y_true.dtype is not _BOOL) or (
        sample_weight is not None and sample_weight.dtype is not _F64
    ):
        _check(y_score, y_true, sample_weight)
    try:
        thresholds, tps, fps, code, where = _binary_clf_curve_kernel(y_score, y_true, sample_weight)
    except TypingError as error:
        explain(_check, (y_score, y_true, sample_weight), error)
    if code == _BAD_LABEL:
        raise ValueError(
            f"binary_clf_curve: y_true must hold only 0 and 1; got {y_true[where]!r} at index {where}"
        )
    if code != 0:
        explain(_check, (y_score, y_true, sample_weight))
    return thresholds, tps, fps
