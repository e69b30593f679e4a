"""score_histogram: per-bucket weight of positive and negative samples, in one pass.

See ``metricore._backends.protocol.Backend.score_histogram`` for the contract and
``csrc/include/metricore/score_histogram.hpp`` for the C++ twin.

The batch goes in chunks of rows, each counted column of a chunk in two loops: (K) each
element's index in the histograms -- label * (T + 1) * M + bucket * M + m -- and (S) the
scatter-add (and the score sums'). All or nothing, two ways:

* small batches (fewer elements than a few times the state's size) are validated first, by
  a branch-free pre-pass, then added straight to ``out``: no T-sized local histogram to
  zero and commit, so that their cost does not grow with T;
* big ones are validated in loop K, chunk by chunk, and go to local histograms added to
  ``out`` at the end. A histogram bigger than L1 makes nearly every scatter miss it, and
  its lines crowd the streamed batch out of L2 so that the hardware prefetcher loses its
  lead: then the next chunk's rows are prefetched while the current one is processed
  (``_prefetch``), and unweighted counts are uint8 (an eighth of out's int64 footprint at
  T = 65,536), a count that wraps to 0 logged as a carry of 256 (``_narrow_counts``).
  Small local histograms (int32 counts) are kept in 4 copies, element r adding to copy
  r % 4 (``_COPIES``), so that runs of elements in one bucket do not wait on each other's
  add.

Either way a bad batch is then scanned again, slowly, for its first bad element in the
protocol's order.

The bucket of a score (the number of thresholds strictly below it) comes, by the kind of
thresholds and the size of the batch, from:

* uniform thresholds (Keras' AUC grid, ``linspace``; set up in O(T), vectorized): with
  u = (s - t[0]) * (T - 1) / (t[T-1] - t[0]), the same rounded arithmetic puts threshold k
  at u_k = k within delta (measured, at most 0.05), and it is monotone, so u < u_k implies
  s < t[k] and u > u_k implies s > t[k]: the bucket is the number of k below u - delta,
  unless a threshold c lies within delta of u, when it is c + (t[c] < s) (two truncations
  and a compare, ``_uniform_bucket``). Loop K is branch-free and
  vectorized (no table); the rare ambiguous elements (a fraction 2 delta of evenly spread
  scores) are settled in loop S with one comparison. Keras' grid has its ends -eps and
  1 + eps off the grid of the others, by eps * (T - 1) in u: at many thresholds that makes
  too many ambiguous elements (1.3% at T = 65,536), so then ("ends" mode) the grid is
  fitted to t[1], ..., t[T-2] only and t[0], t[T-1] are compared exactly;
* other thresholds: ``_elementwise.bucket`` (a grid of 2T cells and a short scan);
* small batches (elements * log2(T) below T / 4): a binary search, so that their cost does
  not grow with T.
"""

import numpy as np
from numba import types

from metricore._backends.protocol import ErrorCode

from ._args import ARGUMENT_ERROR, TypingError, explain
from ._bits import bits_float64, float_bits
from ._elementwise import (
    U,
    binary_label,
    bucket,
    bucket_grid,
    class_index,
    element_weight,
    labels_fit,
    same_shape,
    weight_ok,
)
from ._jit import inline, jit, specialize
from ._prefetch import prefetch_block

_BINARY_LABEL = int(ErrorCode.BINARY_LABEL)
_TRUE_CLASS = int(ErrorCode.TRUE_CLASS)
_NAN_SCORE = int(ErrorCode.NAN_SCORE)
_BAD_WEIGHT = int(ErrorCode.BAD_WEIGHT)

_CHUNK = 1024  # rows per chunk: the loops' buffers stay in L1
_CHUNK_PREFETCHED = 512  # next to big histograms (those that prefetch): keep them small
# Binary search instead of a grid when elements * log2(T + 1) * _SEARCH_RATIO < T: setting a
# grid up costs about as much per threshold as a quarter of a search step per element.
_SEARCH_RATIO = 4
# Validation in loop K, into local histograms, when elements >= _FUSE_RATIO * the state's
# size (in the uniform modes); else a pre-pass, then straight to out.
_FUSE_RATIO = 4
_MAX_DELTA = 0.05  # uniform thresholds: at most 10% of evenly spread scores are ambiguous
# Prefetch the next chunk (validating in loop K) when the histograms exceed about an L1.
_PREFETCH_ABOVE = 32 * 1024  # bytes
# Local histograms of up to _COPIES_BELOW bytes (counts and sums, at 8 bytes each) are kept
# in _COPIES copies, element r adding to copy r % _COPIES: consecutive elements in one
# bucket (the scores of a confident model: most near 0 or 1) then do not wait on each
# other's add through memory. (C++: kCopies.)
_COPIES = 4
_COPIES_BELOW = 32 * 1024  # bytes
# Local count histograms of more than _NARROW_ABOVE bytes as int32 (more than about an L1)
# are uint8 counts instead (``_narrow_counts``). (C++: kNarrowAbove.)
_NARROW_ABOVE = 32 * 1024  # bytes

# Uniform thresholds: the ends (t[0], t[T-1]) are compared exactly, and the grid fitted to
# the others, when fitting all of them leaves delta above this (the two compares cost about
# as much per element as 2 * delta ambiguous elements).
_ENDS_DELTA = 0.002

_UNIFORM = 0
_GRID = 1
_SEARCH = 2
_UNIFORM_ENDS = 3  # uniform, ends compared exactly

_I64 = np.dtype(np.int64)
_F64 = np.dtype(np.float64)


# ------------------------------------------------------------------ buckets
@jit
def _uniform_fit(thresholds, skip, limit):
    """(lo, scale, delta) of u = (s - lo) * scale for the n = T - 2 * skip >= 1 thresholds
    t[skip], ..., t[T-1-skip]: lo = t[skip], scale = (n - 1) / (t[T-1-skip] - lo) (1 if
    n == 1), delta = max |u_k - k| (inf if the span is infinite, or too small to invert);
    once that exceeds ``limit``, a lower bound of it (checked every _CHUNK thresholds).
    Vectorized blocks (the maximum of non-negative floats taken on their bits, an integer
    reduction)."""
    n = thresholds.shape[0] - 2 * skip
    lo = thresholds[skip]
    scale = 1.0 if n == 1 else (n - 1) / (thresholds[U(skip + n - 1)] - lo)
    if not ((lo > -np.inf) & (scale > 0.0) & (scale < np.inf)):
        return 0.0, 0.0, np.inf
    worst = np.uint64(0)
    for k0 in range(0, n, _CHUNK):
        for k in range(k0, min(k0 + _CHUNK, n)):
            error = float_bits(abs((thresholds[U(skip + k)] - lo) * scale - np.float64(k)))
            worst = error if error > worst else worst
        if bits_float64(worst) > limit:
            break
    return lo, scale, bits_float64(worst)


@jit
def _uniform_grid(thresholds):
    """(mode, grid) for T >= 2 thresholds: _UNIFORM or _UNIFORM_ENDS with
    ``_uniform_bucket``'s parameters (lo, scale, delta, top, t[0], t[T-1]) -- top the number
    of fitted thresholds, T or T - 2 -- or _GRID if neither fit has delta <= _MAX_DELTA."""
    num_thresholds = thresholds.shape[0]
    first, last = thresholds[0], thresholds[num_thresholds - 1]
    lo, scale, delta = _uniform_fit(thresholds, 0, _ENDS_DELTA)
    mode, top = _UNIFORM, num_thresholds
    if delta > _ENDS_DELTA and num_thresholds >= 3:
        inner_lo, inner_scale, inner_delta = _uniform_fit(thresholds, 1, np.inf)
        if inner_delta < delta:
            lo, scale, delta = inner_lo, inner_scale, inner_delta
            mode, top = _UNIFORM_ENDS, num_thresholds - 2
        else:  # all of them, after all: their delta, not a bound
            lo, scale, delta = _uniform_fit(thresholds, 0, np.inf)
    if not delta <= _MAX_DELTA:
        mode = _GRID
    return mode, (lo, scale, delta, np.float64(top), first, last)


@jit
def _uniform_bucket(s, grid, ends):
    """(bucket, c): the bucket of score s (float64) among uniform thresholds (``grid`` from
    ``_uniform_grid``; ``ends``: _UNIFORM_ENDS mode), exact unless c >= 0, when the element
    is in bucket + (thresholds[c] < s). Branch-free; a NaN score gives bucket 0 (it is never
    counted).

    The n fitted thresholds sit at u_k = k within delta, so with d a little above delta,
    the k < b1 = floor(u + 1 - d) are surely below s and the k >= b2 = floor(u + 1 + d)
    surely above (u_k <= k + delta < u, resp. u_k >= k - delta > u, and u is monotone in
    s); 2d < 1 leaves at most one threshold between, c = b1 when b2 = b1 + 1. ``slack``
    (a few ulps of n) covers the rounding of u + 1 -+ d; u is clamped to [-0.5, n - 0.5],
    beyond which every fitted threshold is on one side (also NaN, to -0.5), so that both
    floors are truncations of values >= 0.45. No rounding instruction and one compare:
    the update of 2^20 elements took 15% (65,536 thresholds) to 23% (200) less time than
    with u rounded to the nearest index and its distance tested (the C++ twin's
    bucket_grid_code works the same way). In ends mode t[0] and t[T-1] add a count each when
    below s, and the fitted threshold k is t[k + 1]."""
    lo, scale, delta, top, first, last = grid
    slack = (top + 2.0) * 4.440892098500626e-16  # (n + 2) * 2^-51
    below = 1.0 - (delta + slack)
    above = 1.0 + (delta + slack)
    u = (s - lo) * scale
    u = u if u > -0.5 else -0.5  # also maps NaN to -0.5
    u = u if u < top - 0.5 else top - 0.5
    b1 = np.int64(u + below)
    b2 = np.int64(u + above)
    if ends:
        e = np.int64(first < s) + np.int64(last < s)
        return b1 + e, b1 + 1 if b1 != b2 else np.int64(-1)
    return b1, b1 if b1 != b2 else np.int64(-1)


@jit
def _search(thresholds, s):
    """The number of thresholds strictly below s (s not NaN). First a guess from where s
    falls between the end thresholds, checked against the two thresholds around it (right
    for every score of an even grid but the ones on a threshold): a few scores then cost
    the same with 200 thresholds or 65,536, whose binary search would miss the cache at
    every step. Else a branch-free binary search. (``bucket_index_near`` in C++.)"""
    n = thresholds.shape[0]
    if n > 1:
        first = thresholds[0]
        span = thresholds[U(n - 1)] - first
        if 0.0 < span < np.inf:
            g = (s - first) * ((n - 1) / span) + 1.0
            g = g if g > 0.0 else 0.0
            g = g if g < n else float(n)
            b = np.int64(g)
            lo_ok = b == 0 or thresholds[U(b - 1)] < s
            hi_ok = b == n or not thresholds[U(b)] < s
            if lo_ok and hi_ok:
                return b
    base = 0
    while n > 0:
        half = n >> 1
        below = thresholds[U(base + half)] < s
        base = base + half + 1 if below else base
        n = n - half - 1 if below else half
    return base


# ------------------------------------------------------------------ errors
@jit
def _first_error(y_true, y_pred, sample_weight, lo, hi, start):
    """The first bad element from row ``start`` on, as (code, row, col), in the protocol's
    order: y_true (class ids: once per row, at column 0), then per counted column the label,
    the score and the weight."""
    num_labels = y_pred.shape[1]
    for i in range(start, y_pred.shape[0]):
        if y_true.ndim == 1:
            if class_index(y_true[U(i)], num_labels) < 0:
                return _TRUE_CLASS, i, 0
        for j in range(lo, hi):
            if y_true.ndim == 2:
                if not binary_label(y_true[U(i), U(j)])[0]:
                    return _BINARY_LABEL, i, j
            s = y_pred[U(i), U(j)]
            if s != s:
                return _NAN_SCORE, i, j
            if not weight_ok(element_weight(sample_weight, i, j)):
                return _BAD_WEIGHT, i, j
    return 0, 0, 0


@jit
def _first_bad_chunk(y_true, y_pred, sample_weight, lo, hi):
    """The first row of the first chunk holding a bad element, or -1: branch-free loops."""
    num_rows, num_labels = y_pred.shape
    for start in range(0, num_rows, _CHUNK):
        n = min(_CHUNK, num_rows - start)
        bad = False
        if y_true.ndim == 1:
            for r in range(n):
                bad |= class_index(y_true[U(start + r)], num_labels) < 0
        for j in range(lo, hi):
            for r in range(n):
                i = start + r
                s = y_pred[U(i), U(j)]
                bad |= (s != s) | (not weight_ok(element_weight(sample_weight, i, j)))
                if y_true.ndim == 2:
                    bad |= not binary_label(y_true[U(i), U(j)])[0]
        if bad:
            return start
    return -1


# ------------------------------------------------------------------ accumulation
def _flat_sums(score_sums, half):
    """score_sums as a flat (T + 1) * M array, or None (typed apart: Numba prunes an
    ``x is None`` branch only where x is None)."""


@specialize(_flat_sums)
def _flat_sums_impl(score_sums, half):
    if isinstance(score_sums, types.NoneType):
        return lambda score_sums, half: None
    return lambda score_sums, half: score_sums.reshape(half)


def _size(score_sums):
    """score_sums.size, or 0."""


@specialize(_size)
def _size_impl(score_sums):
    if isinstance(score_sums, types.NoneType):
        return lambda score_sums: 0
    return lambda score_sums: score_sums.size


def _local_counts(sample_weight, n):
    """A zeroed local histogram: int32 counts (half the cache footprint of out's int64; the
    caller keeps batches below 2^31 elements), or float64 weights."""


@specialize(_local_counts)
def _local_counts_impl(sample_weight, n):
    if isinstance(sample_weight, types.NoneType):
        return lambda sample_weight, n: np.zeros(n, np.int32)
    return lambda sample_weight, n: np.zeros(n)


def _count(out, i, w, carries):
    """out[i] += w; with a carry log (uint8 counts, ``_narrow_counts``), a count that wraps
    to 0 appends i to it."""


@specialize(_count)
def _count_impl(out, i, w, carries):
    if isinstance(carries, types.NoneType):
        def add(out, i, w, carries):
            out[U(i)] += w
        return add

    def count(out, i, w, carries):
        v = np.uint8(out[U(i)] + 1)
        out[U(i)] = v
        if v == 0:  # rare, and predicted: the add's flags, one branch
            c = carries[0] + 1
            carries[U(c)] = i
            carries[0] = c
    return count


@jit
def _narrow_counts(y_true, y_pred, thresholds, lo, hi, M, out, mode, grid, num_elements):
    """The big unweighted local histogram (one copy, no sums) in uint8 counts: an eighth of
    out's int64 cache footprint (T = 65,536: 128 KiB, against 512 KiB of int32 counts), whose
    scatter is bound by its cache misses: 5% faster at 2^20 elements (uint16 counts measured
    no faster than int32). A count that wraps to 0 logs a carry of 256: one branch per add,
    on the add's own flags, rarely taken (a confident model's scores, most of them in two
    buckets, take it every 256 of their adds: no slower than int32 counts there); a
    branch-free flag per chunk, two more instructions per add, measured slower. Adds the
    counts and carries to ``out`` (flat) and returns True, or returns False at a chunk
    holding a bad element, out untouched."""
    counts = np.zeros(out.size, np.uint8)
    # A carry takes 256 adds to one count of this batch: [number of carries, indices...]
    carries = np.zeros(num_elements // 256 + 2, np.int64)
    if not _accumulate(
        y_true, y_pred, None, thresholds, lo, hi, M, counts, None, mode, grid, True, 1, carries
    ):
        return False
    for k in range(out.size):
        out[U(k)] += counts[U(k)]
    for c in range(carries[0]):
        out[U(carries[c + 1])] += 256
    return True


def _local_sums(score_sums, n):
    """Zeroed local score sums, or None."""


@specialize(_local_sums)
def _local_sums_impl(score_sums, n):
    if isinstance(score_sums, types.NoneType):
        return lambda score_sums, n: None
    return lambda score_sums, n: np.zeros(n)


def _label(y_true, i, j, num_labels):
    """1 if element (i, j) is positive, else 0 (also for an invalid label or id, so that an
    index formed from it is in range): y_true (N, L) holds the labels, y_true (N,) the class
    ids of a one-vs-rest problem."""


@specialize(_label)
def _label_impl(y_true, i, j, num_labels):
    if y_true.ndim == 2:
        return lambda y_true, i, j, num_labels: np.int64(y_true[U(i), U(j)] == 1)
    return lambda y_true, i, j, num_labels: np.int64(
        class_index(y_true[U(i)], num_labels) == j
    )


def _prefetch_weights(sample_weight, r0, r1, c0, c1):
    """prefetch_block of the weights, or nothing (None)."""


@specialize(_prefetch_weights)
def _prefetch_weights_impl(sample_weight, r0, r1, c0, c1):
    if isinstance(sample_weight, types.NoneType):
        return lambda sample_weight, r0, r1, c0, c1: None
    return lambda sample_weight, r0, r1, c0, c1: prefetch_block(sample_weight, r0, r1, c0, c1)


def _weight(weights, r):
    """weights[r], or 1 (None)."""


@specialize(_weight)
def _weight_impl(weights, r):
    if isinstance(weights, types.NoneType):
        return lambda weights, r: 1
    return lambda weights, r: weights[U(r)]


def _weights_buffer(sample_weight, n):
    """A buffer for a chunk's weights (float64), or None."""


@specialize(_weights_buffer)
def _weights_buffer_impl(sample_weight, n):
    if isinstance(sample_weight, types.NoneType):
        return lambda sample_weight, n: None
    return lambda sample_weight, n: np.empty(n)


@jit
def _load_weights(sample_weight, j, start, n, weights):
    """weights[r] = sample_weight[start + r, j] as float64 (vectorized; nothing when
    unweighted); returns whether one is not finite."""
    bad = False
    if sample_weight is not None:
        for r in range(n):
            w = np.float64(sample_weight[U(start + r), U(j)])
            weights[U(r)] = w
            bad |= not weight_ok(w)
    return bad


@jit
def _add(out, sums, k, w, s, half, copy, carries):
    """out[k + copy's offset] += w (``_count``), and with sums, its bucket's sum += w * s
    (float64 s)."""
    _count(out, k + copy * 2 * half, w, carries)
    if sums is not None:
        b = k - half if k >= half else k
        sums[U(b + copy * half)] += np.float64(w) * s


@inline
def _scatter(y_pred, weights, thresholds, j, start, n, keys, ties, settle, out, sums, half, M,
             copies, carries):
    """Loop (S) for n elements of column j: out[key] += w (and sums[bucket * M + m] += w * s),
    with ``settle``, settling an ambiguous bucket (ties[r] = c >= 0) with one comparison. A
    key >= half is a positive element's; w = weights[r], or 1 (None). ``copies`` (a power of
    2: 1 or _COPIES): out and sums hold that many copies of the histograms, element r adding
    to copy r % copies. ``carries``: uint8 counts' carry log (``_count``), or None.

    Inlined into ``_accumulate``: a call per chunk passed some 40 words of arguments (2%
    of the update at 2^20 elements over 65,536 thresholds).

    A chunk without ambiguous elements (most of them) takes a loop of the adds alone: fewer
    instructions per element keep more of the adds' cache misses in flight when ``out`` is
    big (65,536 thresholds at batch 65,536: 83 -> 66 us); with 4 copies, unrolled by 4 so
    that each copy's offset is a constant."""
    if settle:
        for r in range(n):
            i = start + r
            k = keys[U(r)]
            c = ties[U(r)]
            s = np.float64(y_pred[U(i), U(j)])
            if c >= 0:
                k += M * np.int64(thresholds[U(c)] < s)
            w = _weight(weights, r)
            _add(out, sums, k, w, s, half, r & (copies - 1), carries)
        return
    r = 0
    if copies == 1:  # the adds alone (65,536 thresholds: bound by out's cache misses)
        for r in range(n):
            w = _weight(weights, r)
            s = _score(y_pred, sums, start + r, j)
            _add(out, sums, keys[U(r)], w, s, half, 0, carries)
        return
    if copies == 4:
        while r + 4 <= n:
            for copy in range(4):  # unrolled: each copy's offset is a constant
                q = r + copy
                w = _weight(weights, q)
                s = _score(y_pred, sums, start + q, j)
                _add(out, sums, keys[U(q)], w, s, half, copy, carries)
            r += 4
    while r < n:
        w = _weight(weights, r)
        s = _score(y_pred, sums, start + r, j)
        _add(out, sums, keys[U(r)], w, s, half, r & (copies - 1), carries)
        r += 1


def _score(y_pred, sums, i, j):
    """y_pred[i, j] as float64 where the sums need it, else 0.0 (not read)."""


@specialize(_score)
def _score_impl(y_pred, sums, i, j):
    if isinstance(sums, types.NoneType):
        return lambda y_pred, sums, i, j: 0.0
    return lambda y_pred, sums, i, j: np.float64(y_pred[U(i), U(j)])


@jit
def _accumulate(
    y_true, y_pred, sample_weight, thresholds, lo, hi, M, flat_out, flat_sums, mode, grid, validate,
    copies=1, carries=None,
):
    """Adds the batch's columns [lo, hi) to flat_out, a flat (2, T + 1, M) histogram (and to
    flat_sums, flat (T + 1, M), or None), the buckets by ``mode`` (``grid``: the parameters
    of ``_uniform_grid``). With ``validate`` (the uniform modes), loop K validates the
    elements too, and at the first chunk holding a bad one this returns False, the chunks
    before it added; the batch is then streamed from memory, and the next chunk's rows are
    prefetched if the histograms are big. Else returns True. ``carries``: the carry log of
    uint8 counts (``_narrow_counts``), or None."""
    num_rows, num_labels = y_pred.shape
    num_thresholds = thresholds.shape[0]
    per_label = M > 1
    half = (num_thresholds + 1) * M  # flat_out[half:]: the positive histograms
    histogram_bytes = flat_out.size * flat_out.itemsize + _size(flat_sums) * 8
    prefetch = validate and histogram_bytes > _PREFETCH_ABOVE
    chunk = min(_CHUNK_PREFETCHED if prefetch else _CHUNK, num_rows)
    keys = np.empty(chunk, np.int64)
    ties = np.empty(chunk, np.int64)
    weights = _weights_buffer(sample_weight, chunk)
    cells = bucket_grid(thresholds[: num_thresholds if mode == _GRID else 0])
    ends = mode == _UNIFORM_ENDS
    for start in range(0, num_rows, chunk):
        n = min(chunk, num_rows - start)
        if prefetch:
            ahead, end = start + chunk, start + 2 * chunk
            prefetch_block(y_pred, ahead, end, lo, hi)
            prefetch_block(y_true, ahead, end, lo, hi)
            _prefetch_weights(sample_weight, ahead, end, lo, hi)
        bad = False
        if validate and y_true.ndim == 1:
            for r in range(n):
                bad |= class_index(y_true[U(start + r)], num_labels) < 0
        for j in range(lo, hi):
            m = j if per_label else 0
            settle = False  # whether the chunk has ambiguous elements
            if mode == _UNIFORM or mode == _UNIFORM_ENDS:
                for r in range(n):  # (K): branch-free, vectorized
                    i = start + r
                    v = y_pred[U(i), U(j)]
                    b, c = _uniform_bucket(np.float64(v), grid, ends)
                    keys[U(r)] = _label(y_true, i, j, num_labels) * half + b * M + m
                    ties[U(r)] = c
                    settle |= c >= 0
                    bad |= v != v
                    if y_true.ndim == 2:
                        bad |= not binary_label(y_true[U(i), U(j)])[0]
                bad |= _load_weights(sample_weight, j, start, n, weights)
                if validate and bad:
                    return False
            else:
                for r in range(n):  # (K), scalar
                    i = start + r
                    s = np.float64(y_pred[U(i), U(j)])
                    b = bucket(cells, s) if mode == _GRID else _search(thresholds, s)
                    keys[U(r)] = _label(y_true, i, j, num_labels) * half + b * M + m
                _load_weights(sample_weight, j, start, n, weights)
            _scatter(
                y_pred, weights, thresholds, j, start, n, keys, ties, settle, flat_out, flat_sums,
                half, M, copies, carries,
            )
    return True


def _float_scores(y_pred):
    """True; compiles only for float32 / float64 scores (else the wrapper's checks explain)."""


@specialize(_float_scores)
def _float_scores_impl(y_pred):
    if y_pred.dtype in (types.float32, types.float64):
        return lambda y_pred: True
    return None


@jit
def _sums_fit(score_sums, num_buckets, num_counts):
    if score_sums is None:
        return True
    return (score_sums.shape[0] == num_buckets) & (score_sums.shape[1] == num_counts)


@jit
def histogram_args_fit(y_true, y_pred, sample_weight, num_thresholds, class_id, histogram):
    """Whether the arguments fit together and ``histogram``, the shape (2, T + 1, M) of one
    histogram state (the grouped kernel passes out's shape past its group axis)."""
    num_labels = y_pred.shape[1]
    sides, buckets, num_counts = histogram
    return (
        labels_fit(y_true, y_pred)
        and _float_scores(y_pred)
        and same_shape(sample_weight, y_pred)
        and sides == 2
        and buckets == num_thresholds + 1
        and (num_counts == 1 or (num_counts == num_labels and class_id < 0))
        and -1 <= class_id < num_labels
    )


@jit
def _score_histogram_kernel(y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums,
                            known_mode, known_grid):
    """``known_mode`` >= 0: ``_uniform_grid``'s (mode, grid) of these thresholds, computed
    once by the caller (``_known_grid``), so the uniform grid costs no setup per batch."""
    num_rows, num_labels = y_pred.shape
    num_thresholds = thresholds.shape[0]
    num_counts = out.shape[2]
    if not histogram_args_fit(
        y_true, y_pred, sample_weight, num_thresholds, class_id, out.shape
    ) or not _sums_fit(score_sums, num_thresholds + 1, num_counts):
        return ARGUMENT_ERROR, 0, 0
    if num_rows == 0:
        return 0, 0, 0
    lo = class_id if class_id >= 0 else 0
    hi = class_id + 1 if class_id >= 0 else num_labels
    num_elements = num_rows * (hi - lo)
    depth = 1  # binary search steps per element, about log2(T + 1)
    while (num_thresholds + 1) >> depth:
        depth += 1
    grid = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    if known_mode >= 0:
        mode, grid = known_mode, known_grid
    elif num_thresholds == 0 or num_elements * depth * _SEARCH_RATIO < num_thresholds:
        mode = _SEARCH
    elif num_thresholds == 1:
        mode = _GRID
    else:
        mode, grid = _uniform_grid(thresholds)
    half = (num_thresholds + 1) * num_counts
    # big unweighted histograms count into uint8 local counts: zeroed and added cheaply
    # enough to pay from a batch of the state's size (not _FUSE_RATIO times it)
    narrow = sample_weight is None and score_sums is None and 2 * half * 4 > _NARROW_ABOVE
    fuse = (
        ((mode == _UNIFORM) | (mode == _UNIFORM_ENDS))
        & (num_elements >= (1 if narrow else _FUSE_RATIO) * (out.size + _size(score_sums)))
        & (num_elements < 1 << 31)
    )
    if not fuse:  # validate first, then add straight to out
        start = _first_bad_chunk(y_true, y_pred, sample_weight, lo, hi)
        if start >= 0:
            return _first_error(y_true, y_pred, sample_weight, lo, hi, start)
        _accumulate(
            y_true, y_pred, sample_weight, thresholds, lo, hi, num_counts, out.reshape(2 * half),
            _flat_sums(score_sums, half), mode, grid, False,
        )
        return 0, 0, 0
    # validate as we go, into local histograms added to out at the end
    copies = _COPIES if 3 * half * _COPIES * 8 <= _COPIES_BELOW else 1
    if narrow:
        if not _narrow_counts(
            y_true, y_pred, thresholds, lo, hi, num_counts, out.reshape(2 * half), mode, grid,
            num_elements,
        ):
            start = _first_bad_chunk(y_true, y_pred, sample_weight, lo, hi)
            return _first_error(y_true, y_pred, sample_weight, lo, hi, start)
        return 0, 0, 0
    local_out = _local_counts(sample_weight, copies * 2 * half)
    local_sums = _local_sums(score_sums, copies * half)
    if not _accumulate(
        y_true, y_pred, sample_weight, thresholds, lo, hi, num_counts, local_out, local_sums,
        mode, grid, True, copies,
    ):
        start = _first_bad_chunk(y_true, y_pred, sample_weight, lo, hi)
        return _first_error(y_true, y_pred, sample_weight, lo, hi, start)
    flat_out = out.reshape(2 * half)
    for copy in range(copies):
        for k in range(2 * half):
            flat_out[U(k)] += local_out[U(copy * 2 * half + k)]
    if score_sums is not None:
        flat_sums = score_sums.reshape(half)
        for copy in range(copies):
            for k in range(half):
                flat_sums[U(k)] += local_sums[U(copy * half + k)]
    return 0, 0, 0


# ------------------------------------------------------------------ Python entry point
def _check(y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums):
    """The arguments' shapes and dtypes, named in the error (the wrapper's slow path)."""
    shape = y_pred.shape
    if len(shape) != 2:
        raise ValueError(f"score_histogram: y_pred must be 2-D (N, L); got shape {shape}")
    if y_pred.dtype != np.float32 and y_pred.dtype != np.float64:
        raise TypeError(f"score_histogram: y_pred must be float32 or float64; got {y_pred.dtype}")
    if y_true.shape != shape and y_true.shape != shape[:1]:
        raise ValueError(
            f"score_histogram: y_true must have shape {shape} (labels) or {shape[:1]} "
            f"(class ids); got {y_true.shape}"
        )
    if y_true.dtype.kind not in "biuf":
        raise TypeError(f"score_histogram: y_true must be numeric; got {y_true.dtype}")
    out_dtype = _I64
    if sample_weight is not None:
        out_dtype = _F64
        if sample_weight.shape != shape:
            raise ValueError(
                f"score_histogram: sample_weight must have shape {shape}; "
                f"got {sample_weight.shape}"
            )
        if sample_weight.dtype != np.float32 and sample_weight.dtype != np.float64:
            raise TypeError(
                f"score_histogram: sample_weight must be float32 or float64; "
                f"got {sample_weight.dtype}"
            )
    if thresholds.ndim != 1 or thresholds.dtype != _F64:
        raise TypeError("score_histogram: thresholds must be a 1-D float64 array")
    if class_id < -1 or class_id >= shape[1]:
        raise ValueError(
            f"score_histogram: class_id must be -1 or in [0, {shape[1]}); got {class_id}"
        )
    num_buckets = thresholds.shape[0] + 1
    if out.dtype != out_dtype:
        raise TypeError(f"score_histogram: out must have dtype {out_dtype} here; got {out.dtype}")
    out_shape = out.shape
    if (
        len(out_shape) != 3
        or out_shape[0] != 2
        or out_shape[1] != num_buckets
        or (out_shape[2] != 1 and (out_shape[2] != shape[1] or class_id >= 0))
    ):
        raise ValueError(
            f"score_histogram: out must have shape (2, {num_buckets}, M) with M = 1"
            f" (or M = L = {shape[1]} when class_id is -1); got {out_shape}"
        )
    if not out.flags.c_contiguous:
        raise ValueError("score_histogram: out must be C-contiguous")
    if score_sums is not None:
        if score_sums.dtype != _F64:
            raise TypeError(f"score_histogram: score_sums must be float64; got {score_sums.dtype}")
        if score_sums.shape != out_shape[1:]:
            raise ValueError(
                f"score_histogram: score_sums must have shape {out_shape[1:]}; "
                f"got {score_sums.shape}"
            )
        if not score_sums.flags.c_contiguous:
            raise ValueError("score_histogram: score_sums must be C-contiguous")


_NO_GRID = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
_known_grids = {}  # id(thresholds) -> (thresholds, mode, grid); the array is kept alive


def _known_grid(thresholds):
    """(mode, grid) of read-only uniform thresholds, fitted once per array object (a metric
    passes the same read-only array every batch: the O(T) fit, a few microseconds at 65,536
    thresholds, is then paid once and small batches use the grid too); (-1, _) otherwise.
    Only read-only arrays owning their memory (a read-only view can change through its
    base), whose values then cannot change unless someone sets them writeable again, which
    metricore never does; holding the array keeps its id from being reused."""
    flags = getattr(thresholds, "flags", None)
    if (flags is None or flags.writeable or not flags.owndata or thresholds.ndim != 1
            or thresholds.dtype != _F64 or thresholds.shape[0] < 2):
        return -1, _NO_GRID
    hit = _known_grids.get(id(thresholds))
    if hit is not None and hit[0] is thresholds:
        return hit[1], hit[2]
    mode, grid = _uniform_grid(thresholds)
    if mode != _UNIFORM and mode != _UNIFORM_ENDS:
        mode = -1  # uneven thresholds: the per-batch choice stands
    if len(_known_grids) >= 64:
        _known_grids.clear()
    _known_grids[id(thresholds)] = (thresholds, mode, grid)
    return mode, grid


def score_histogram(y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums):
    """Backend.score_histogram: adds the (2, T + 1, M) histograms into out (and the score sums
    into score_sums); returns (code, row, col)."""
    if out.dtype is not (_I64 if sample_weight is None else _F64) or (
        score_sums is not None and score_sums.dtype is not _F64
    ):
        _check(y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums)
    known_mode, known_grid = _known_grid(thresholds)
    try:
        result = _score_histogram_kernel(
            y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums, known_mode,
            known_grid
        )
    except TypingError as error:
        explain(
            _check, (y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums), error
        )
    if result[0] < 0:
        explain(_check, (y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums))
    return result
