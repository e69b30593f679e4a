"""binary_clf_curve: the exact curve's points from one sort (scikit-learn's _binary_clf_curve).

See ``metricore._backends.protocol.Backend.binary_clf_curve`` for the contract and
``csrc/include/metricore/binary_clf_curve.hpp`` for the C++ twin.

1. Keys: one pass maps each score to an unsigned key that sorts like the float (float32 to
   uint32, float64 to uint64; ``s + 0.0`` first, so that -0.0 and 0.0 are one key), copies
   the labels (and weights) beside it, and counts every radix digit of every key.
2. Sort: an LSD radix sort on 11-bit digits (3 passes for float32 keys, 6 for float64) that
   carries the label (and weight) along, skipping a pass whose digit every key shares
   (float32 scores held as float64 skip their low passes). It is stable: equal keys keep
   their input order.
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
def _prepare(y_score, y_true, sample_weight, keys, labels, weights, counts):
    """keys[i] = the key of y_score[i], labels[i] = y_true[i], weights[i] = sample_weight[i];
    counts[p, d] += 1 for digit d of pass p of each key."""
    num_passes = counts.shape[0]
    for i in range(y_score.shape[0]):
        k = _key(y_score[i])
        keys[i] = k
        labels[i] = np.uint8(y_true[i])
        if sample_weight is not None:
            weights[i] = sample_weight[i]
        for p in range(num_passes):
            counts[p, _digit(k, p * _BITS)] += 1


@jit
def _radix_sort(keys, labels, weights, counts):
    """Sorts keys ascending and stably, with their labels and weights (or None); returns the
    sorted arrays (the inputs' buffers or new ones). counts[p, d]: keys whose pass-p digit
    is d."""
    n = keys.shape[0]
    src, dst = keys, np.empty_like(keys)
    label_src, label_dst = labels, np.empty_like(labels)
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
            label_dst[at] = label_src[i]
            if weights is not None:
                weight_dst[at] = weight_src[i]
        src, dst = dst, src
        label_src, label_dst = label_dst, label_src
        weight_src, weight_dst = weight_dst, weight_src
    return src, label_src, weight_src


@jit
def _count_distinct(keys):
    """The number of distinct values of sorted keys."""
    n = keys.shape[0]
    distinct = np.int64(n > 0)
    for i in range(1, n):
        distinct += keys[i] != keys[i - 1]
    return distinct


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
def _binary_clf_curve_kernel(y_score, y_true, sample_weight):
    """(thresholds, tps, fps, code, where): code 0, ARGUMENT_ERROR (lengths differ) or
    _BAD_LABEL (y_true[where] is not 0 or 1)."""
    n = y_score.shape[0]
    zero = _zero(sample_weight)
    if y_true.shape[0] != n or not _same_length(sample_weight, n):
        return np.empty(0), np.full(0, zero), np.full(0, zero), ARGUMENT_ERROR, 0
    bad = _first_bad_label(y_true)
    if bad >= 0:
        return np.empty(0), np.full(0, zero), np.full(0, zero), _BAD_LABEL, bad
    keys = _new_keys(n, y_score)
    labels = np.empty(n, np.uint8)
    weights = _weight_buffer(sample_weight, n)
    counts = np.zeros(((keys.itemsize * 8 + _BITS - 1) // _BITS, _RADIX), np.int64)
    _prepare(y_score, y_true, sample_weight, keys, labels, weights, counts)
    keys, labels, weights = _radix_sort(keys, labels, weights, counts)
    num_points = _count_distinct(keys)
    out = (np.empty(num_points), _sums(num_points, zero), _sums(num_points, zero))
    _walk(keys, labels, weights, zero, out)
    return out[0], out[1], out[2], 0, 0


@jit
def _sums(n, zero):
    """n uninitialized totals of zero's type (int64 or float64)."""
    return np.empty(n, np.asarray(zero).dtype)


@jit
def _same_length(sample_weight, n):
    if sample_weight is None:
        return True
    return sample_weight.shape[0] == n


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
