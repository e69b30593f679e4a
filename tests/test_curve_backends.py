"""The curve kernel families (score_histogram, binary_clf_curve) on every backend reproduce the
NumPy reference backend: counts bit for bit, float sums to 1e-12; every label dtype, class-id
y_true, strided and broadcast inputs, weights, threshold grids of every kind, and errors (same
code and location, ``out`` and ``score_sums`` untouched).

Batch sizes are chosen to reach each code path of the C++ kernel: small batches (validated in
a pre-pass with weights or sums, else as they are added to ``out``, a bad one's earlier
chunks then taken back out), big ones (validated as they are scattered: counts into a local
histogram added to ``out`` at the end, uint8 counts with carries for many buckets, weights
straight into ``out``, restored on error), evenly spaced thresholds (the vectorized grid)
and uneven ones (per-element search).
"""

import numpy as np
import pytest

from metricore import _dispatch
from metricore._backends.protocol import LABEL_DTYPES, ErrorCode

from _numpy_backend import BACKEND as REF
from test_backends import LAYOUTS, _strided


@pytest.fixture
def kernels(backend):
    return _dispatch.cpu_backend(backend)


def keras_grid(num):
    """Keras' AUC thresholds: evenly spaced in (0, 1), with -eps and 1 + eps at the ends."""
    eps = 1e-7
    return np.array([-eps] + [i / (num - 1) for i in range(1, num - 1)] + [1 + eps])


def _labels(rng, shape, dtype):
    return rng.integers(0, 2, shape).astype(dtype)


def _fast_expected(t, p, w, thresholds, class_id, m, out, sums):
    """The reference's accumulation, for big valid batches (its row-by-row validation loop
    would take seconds)."""
    p = np.asarray(p, dtype=np.float64)
    n, num_labels = p.shape
    t = np.asarray(t)
    if t.ndim == 1:
        t = (t.astype(np.float64)[:, None] == np.arange(num_labels)[None]).astype(np.float64)
    else:
        t = t.astype(np.float64)
    w = np.ones(p.shape) if w is None else np.broadcast_to(np.asarray(w, np.float64), p.shape)
    cols = range(num_labels) if class_id < 0 else [class_id]
    buckets = np.searchsorted(thresholds, p, side="left")
    hist = np.zeros(out.shape)
    acc = np.zeros(out.shape[1:])
    for j in cols:
        mm = 0 if m == 1 else j
        for label in (0, 1):
            sel = t[:, j] == label
            hist[label, :, mm] += np.bincount(buckets[sel, j], weights=w[sel, j], minlength=out.shape[1])
        acc[:, mm] += np.bincount(buckets[:, j], weights=w[:, j] * p[:, j], minlength=out.shape[1])
    out += hist.astype(out.dtype)
    if sums is not None:
        sums += acc


def _hist_both(kernels, t, p, w, thresholds, class_id=-1, m=None, sums=True, fast=False, seed=0):
    """Runs the backend and the reference on the same inputs, from the same nonzero state."""
    m = (p.shape[1] if class_id < 0 else 1) if m is None else m
    rng = np.random.default_rng(seed)
    shape = (2, len(thresholds) + 1, m)
    if w is None:
        out = rng.integers(0, 100, shape).astype(np.int64)
    else:
        out = rng.random(shape)
    ref = out.copy()
    ss = rng.random(shape[1:]) if sums else None
    rs = None if ss is None else ss.copy()
    err = tuple(int(e) for e in kernels.score_histogram(t, p, w, thresholds, class_id, out, ss))
    if fast:
        _fast_expected(t, p, w, thresholds, class_id, m, ref, rs)
        ref_err = (0, 0, 0)
    else:
        ref_err = tuple(int(e) for e in REF.score_histogram(t, p, w, thresholds, class_id, ref, rs))
    return err, ref_err, out, ref, ss, rs


def _check_hist(res):
    err, ref_err, out, ref, ss, rs = res
    assert err == ref_err == (0, 0, 0)
    if out.dtype == np.int64:
        np.testing.assert_array_equal(out, ref)
    else:
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-300)
    if ss is not None:
        np.testing.assert_allclose(ss, rs, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------- score_histogram
# Every label dtype in the contiguous layout, and every other layout with one dtype each
# (each new dtype x layout pair is one more Numba compilation: the full product would
# dominate the suite's time without covering another code path).
_DTYPE_LAYOUTS = [(d, "contiguous") for d in LABEL_DTYPES] + [
    (LABEL_DTYPES[(3 * i + 1) % len(LABEL_DTYPES)], layout) for i, layout in enumerate(LAYOUTS[1:])]


@pytest.mark.parametrize("dtype, layout", _DTYPE_LAYOUTS, ids=str)
@pytest.mark.parametrize("weighted", [False, True])
def test_score_histogram_labels_layouts(kernels, rng, dtype, layout, weighted):
    n, labels = 301, 4
    t = _strided(_labels(rng, (n, labels), dtype), layout)
    p = _strided(rng.random((n, labels)).astype(rng.choice([np.float32, np.float64])), layout)
    thresholds = np.array([0.0, 0.25, 0.5, 0.9])
    p[::17] = 0.5  # exactly on a threshold: not above it
    p[::23] = 0.0
    w = np.broadcast_to(rng.random((n, 1)), (n, labels)) if weighted else None
    for class_id, m in [(-1, labels), (-1, 1), (2, 1)]:
        for sums in (False, True):
            _check_hist(_hist_both(kernels, t, p, w, thresholds, class_id, m, sums))


@pytest.mark.parametrize("dtype", LABEL_DTYPES, ids=str)
@pytest.mark.parametrize("n", [7, 3000])
def test_score_histogram_class_ids(kernels, rng, dtype, n):
    c = 2 if dtype == np.bool_ else 5
    t = rng.integers(0, c, n).astype(dtype)
    p = rng.random((n, c)).astype(np.float32)
    thresholds = keras_grid(50)
    for w in (None, _strided(rng.random((n, c)), "fortran"), np.broadcast_to(rng.random((n, 1)), (n, c))):
        for class_id, m in [(-1, c), (-1, 1), (1, 1)]:
            _check_hist(_hist_both(kernels, t, p, w, thresholds, class_id, m))
        _check_hist(_hist_both(kernels, _strided(t, "reversed"), _strided(p, "step"), w, thresholds))


@pytest.mark.parametrize("weight_layout", ["step", "fortran", "reversed", "row-broadcast", "scalar-broadcast"])
def test_score_histogram_weight_layouts(kernels, rng, weight_layout):
    n, labels = 2000, 3
    t = _labels(rng, (n, labels), np.int8)
    p = rng.random((n, labels))
    if weight_layout == "row-broadcast":
        w = np.broadcast_to(rng.random((n, 1)), (n, labels))
    elif weight_layout == "scalar-broadcast":
        w = np.broadcast_to(np.float64(2.5), (n, labels))
    else:
        w = _strided(rng.random((n, labels)), weight_layout)
    w32 = np.ascontiguousarray(w).astype(np.float32)
    for thresholds in (keras_grid(200), np.sort(rng.random(37))):
        for class_id, m in [(-1, labels), (-1, 1), (0, 1)]:
            _check_hist(_hist_both(kernels, t, p, w, thresholds, class_id, m))
            _check_hist(_hist_both(kernels, t, p, w32, thresholds, class_id, m))


@pytest.mark.parametrize("score_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("num", [0, 1, 2, 3, 4, 200])
def test_score_histogram_threshold_counts_and_special_scores(kernels, rng, score_dtype, num):
    n = 5000
    thresholds = keras_grid(num) if num >= 2 else np.array([0.5])[:num]
    t = _labels(rng, (n, 1), np.uint8)
    p = rng.random((n, 1)).astype(score_dtype)
    if num:
        p[::3, 0] = rng.choice(thresholds, size=p[::3].shape[0])  # on (or next to) thresholds
    p[::11] = np.inf
    p[::13] = -np.inf
    p[::17] = -0.0
    p[::19] = 1.0
    for w in (None, rng.random((n, 1))):
        for rows in (slice(0, 40), slice(None)):  # small (pre-pass) and big batches
            _check_hist(_hist_both(kernels, t[rows], p[rows], None if w is None else w[rows], thresholds))


@pytest.mark.parametrize("num", [200, 65536])
@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.float32])
def test_score_histogram_keras_grid(kernels, rng, num, dtype):
    thresholds = keras_grid(num)
    n = (1 << 19) if num > 1000 else 20_000
    t = _labels(rng, (n, 1), dtype)
    p = rng.random((n, 1)).astype(np.float32)
    p[::5, 0] = thresholds[rng.integers(0, num, p[::5].shape[0])].astype(np.float32)
    p[::7, 0] = np.nextafter(p[::7, 0], np.float32(2))
    _check_hist(_hist_both(kernels, t, p, None, thresholds, sums=False, fast=True))
    w = rng.random((n, 1))
    _check_hist(_hist_both(kernels, t, p, w, thresholds, sums=True, fast=True))
    # float64 scores exactly on the thresholds
    p64 = thresholds[rng.integers(0, num, n)][:, None]
    _check_hist(_hist_both(kernels, t, p64, None, thresholds, sums=False, fast=True))
    # small batches: counts only, no per-call cost in T
    for rows in (slice(0, 1), slice(5, 37)):
        _check_hist(_hist_both(kernels, t[rows], p[rows], None, thresholds))


@pytest.mark.parametrize("num", [7, 200, 1000])
def test_score_histogram_runs_in_one_bucket(kernels, rng, num):
    """Scores of a confident model (most exactly 0 or 1, or within a bucket of them): big
    batches count small histograms in several interleaved copies, element r in copy r % 4,
    added up at the end; every layout of the copies' sum must equal the reference (odd batch
    sizes: a tail after the last full group of 4; per-label and pooled; sums; weights; class
    ids)."""
    thresholds = keras_grid(num)
    for n in (10_007, 4 * 1024 + 3):
        p = rng.random((n, 3))
        confident = rng.random((n, 3)) < 0.9
        p = np.where(confident, np.where(rng.random((n, 3)) < 0.5, 0.0, 1.0), p)
        p[: n // 3] = 0.0  # a long run in bucket 1, every column
        p = p.astype(np.float32)
        t = _labels(rng, (n, 3), np.int8)
        ids = rng.integers(0, 3, n)
        w = rng.random((n, 3))
        for class_id, m in [(-1, 3), (-1, 1), (2, 1)]:
            for sums in (False, True):
                _check_hist(_hist_both(kernels, t, p, None, thresholds, class_id, m, sums, fast=True))
            _check_hist(_hist_both(kernels, ids, p, None, thresholds, class_id, m, fast=True))
            _check_hist(_hist_both(kernels, t, p, w, thresholds, class_id, m, True, fast=True))


def test_score_histogram_hot_buckets_many_thresholds(kernels, rng):
    """Big unweighted batches over many buckets (uint8 local counts, a count that wraps
    logged as a carry): buckets that get hundreds of thousands of elements (one
    count wrapping over a thousand times), positive and negative, scattered plainly and
    through the settling of ambiguous scores (on a threshold), per label and pooled; then a
    late bad element after many carries leaves out unchanged."""
    n, labels, num = 300_000, 2, 16384
    thresholds = keras_grid(num)
    p = rng.random((n, labels))
    pick = rng.random((n, labels))
    p[pick < 0.5] = 1.0  # the last bucket
    p[(pick >= 0.5) & (pick < 0.6)] = thresholds[2000]  # float64, on it: settled, bucket 2000
    t = _labels(rng, (n, labels), np.uint8)
    t[: n // 2, 0] = 1  # a long run of positives in one column
    for class_id, m in [(-1, labels), (-1, 1), (1, 1)]:
        _check_hist(_hist_both(kernels, t, p, None, thresholds, class_id, m, sums=False, fast=True))
    tt = t.copy()
    tt[n - 5, 1] = 3
    for m in (1, labels):
        out = rng.integers(0, 1 << 40, (2, num + 1, m))
        before = out.copy()
        err = tuple(int(e) for e in kernels.score_histogram(tt, p, None, thresholds, -1, out, None))
        assert err == (int(ErrorCode.BINARY_LABEL), n - 5, 1)
        assert out.tobytes() == before.tobytes()


@pytest.mark.parametrize("kind", ["random", "jittered", "clustered", "far", "huge", "union",
                                  "far_ends", "infinite_ends", "jittered_tight_ends"])
def test_score_histogram_uneven_thresholds(kernels, rng, kind):
    n = 6000
    if kind == "random":
        thresholds = np.unique(rng.random(300))
    elif kind == "jittered":  # nearly even: the grid, with more ambiguous scores
        thresholds = np.linspace(0, 1, 101) + rng.uniform(-1e-4, 1e-4, 101)
    elif kind == "clustered":
        thresholds = np.unique(np.concatenate([rng.random(50) * 1e-3, 0.5 + rng.random(50) * 1e-6]))
    elif kind == "union":  # a metric collection's union: Keras' grid plus a few thresholds
        thresholds = np.unique(np.concatenate([keras_grid(200), [0.3, 0.5, 0.55], keras_grid(7)]))
    elif kind == "far_ends":  # an even grid but for its ends (Numba: fitted without them)
        thresholds = np.concatenate([[-0.25], np.linspace(0, 1, 298), [1.0 + 1e-3]])
    elif kind == "jittered_tight_ends":
        # Numba fits the jittered inside without its ends, and a score just above the last
        # threshold (one ulp above the one before) falls within the fit's tolerance of the
        # last fitted index: it must count in bucket T, not be settled past it.
        inner = np.sort(np.linspace(0.1, 0.9, 38) + rng.uniform(-6e-4, 6e-4, 38))
        thresholds = np.concatenate([[0.0], inner, [np.nextafter(inner[-1], 2)]])
    elif kind == "infinite_ends":
        thresholds = np.concatenate([[-np.inf], np.linspace(0.1, 0.9, 98), [np.inf]])
    elif kind == "far":  # all thresholds above every score
        thresholds = np.array([10.0, 20.0, 30.0])
    else:  # large magnitudes
        thresholds = 1e6 + np.linspace(0, 1, 64)
    t = _labels(rng, (n, 2), np.int32)
    p = rng.random((n, 2)) if kind != "huge" else 1e6 + rng.random((n, 2))
    p[::9] = np.repeat(rng.choice(thresholds, p[::9].shape[0])[:, None], 2, axis=1)
    p[::13] = rng.choice([-np.inf, -0.25, -0.1, 0.0, 1.0, 1.0005, 1.001, 1.5, np.inf], (p[::13].shape[0], 2))
    ends = np.nextafter(thresholds[[0, 0, -1, -1]], [-np.inf, np.inf, -np.inf, np.inf])
    p[::11] = rng.choice(ends, (p[::11].shape[0], 2))  # one ulp either side of each end
    for w in (None, rng.random((n, 2))):
        _check_hist(_hist_both(kernels, t, p, w, thresholds))
        _check_hist(_hist_both(kernels, t, p, w, thresholds, m=1))


def test_score_histogram_pooled_flat_and_per_label(kernels, rng):
    n, labels = 4000, 6
    t = _labels(rng, (n, labels), np.bool_)
    p = rng.random((n, labels)).astype(np.float32)
    thresholds = keras_grid(200)
    for layout in LAYOUTS:
        for m in (1, labels):
            _check_hist(_hist_both(kernels, _strided(t, layout), _strided(p, layout), None, thresholds, m=m))
    # Pooling M=1 is the sum of the per-label histograms.
    a = np.zeros((2, 201, labels), np.int64)
    b = np.zeros((2, 201, 1), np.int64)
    assert tuple(kernels.score_histogram(t, p, None, thresholds, -1, a, None)) == (0, 0, 0)
    assert tuple(kernels.score_histogram(t, p, None, thresholds, -1, b, None)) == (0, 0, 0)
    np.testing.assert_array_equal(a.sum(axis=2, keepdims=True), b)
    assert b.sum() == n * labels


def test_score_histogram_accumulates_over_batches(kernels, rng):
    n = 10_000
    t = _labels(rng, (n, 1), np.int8)
    p = rng.random((n, 1)).astype(np.float32)
    thresholds = keras_grid(200)
    whole = np.zeros((2, 201, 1), np.int64)
    parts = np.zeros((2, 201, 1), np.int64)
    kernels.score_histogram(t, p, None, thresholds, -1, whole, None)
    for s in (slice(0, 1), slice(1, 33), slice(33, 5000), slice(5000, n)):
        kernels.score_histogram(t[s], p[s], None, thresholds, -1, parts, None)
    np.testing.assert_array_equal(whole, parts)


def test_score_histogram_empty_batches(kernels):
    thresholds = keras_grid(10)
    for t in (np.zeros((0, 3), np.int8), np.zeros(0, np.int64)):
        out = np.full((2, 11, 3), 5, np.int64)
        sums = np.full((11, 3), 0.25)
        assert tuple(kernels.score_histogram(t, np.zeros((0, 3)), None, thresholds, -1, out, sums)) == (0, 0, 0)
        assert (out == 5).all() and (sums == 0.25).all()
        out = np.full((2, 11, 1), 5.0)
        assert tuple(kernels.score_histogram(t, np.zeros((0, 3), np.float32), np.zeros((0, 3)), thresholds,
                                             1, out, None)) == (0, 0, 0)
        assert (out == 5.0).all()


# errors: (y_true, y_pred, sample_weight, class_id, m, code, (row, col))
def _error_cases():
    nan, inf = np.nan, np.inf
    p2 = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    return [
        (np.array([[0, 1], [1, 2], [0, 0]]), p2, None, -1, 2, ErrorCode.BINARY_LABEL, (1, 1)),
        (np.array([[0, 1], [1, 0], [0.5, 0]]), p2, None, -1, 1, ErrorCode.BINARY_LABEL, (2, 0)),
        (np.array([[0, 1], [1, nan], [0, 0]]), p2, None, 1, 1, ErrorCode.BINARY_LABEL, (1, 1)),
        (np.array([[0, 1], [3, 0], [0, 0]]), p2, None, 0, 1, ErrorCode.BINARY_LABEL, (1, 0)),
        # the label comes before the score, the score before the weight, in a row
        (np.array([[0, 1], [1, 2], [0, 0]]), np.array([[0.1, 0.2], [nan, 0.4], [0.5, 0.6]]), None, -1, 2,
         ErrorCode.NAN_SCORE, (1, 0)),
        (np.array([[0, 1], [1, 2], [0, 0]]), np.array([[0.1, 0.2], [0.3, nan], [0.5, 0.6]]), None, -1, 2,
         ErrorCode.BINARY_LABEL, (1, 1)),
        (np.array([[0, 1], [1, 1], [0, 0]]), np.array([[0.1, 0.2], [0.3, 0.4], [nan, 0.6]]),
         np.array([[1.0, 1.0], [1.0, inf], [1.0, 1.0]]), -1, 2, ErrorCode.BAD_WEIGHT, (1, 1)),
        (np.array([[0, 1], [1, 1], [0, 0]]), np.array([[0.1, 0.2], [0.3, 0.4], [nan, 0.6]]),
         np.array([[1.0, 1.0], [1.0, 1.0], [nan, 1.0]]), -1, 1, ErrorCode.NAN_SCORE, (2, 0)),
        (np.array([[0, 1], [1, 1], [0, 0]]), p2, np.array([[1.0, 1.0], [1.0, 1.0], [1.0, -inf]]), -1, 1,
         ErrorCode.BAD_WEIGHT, (2, 1)),
        # uncounted columns are not validated
        (np.array([[0, 1], [1, 7], [0, 0]]), np.array([[0.1, 0.2], [0.3, nan], [0.5, nan]]),
         np.array([[1.0, nan], [1.0, 1.0], [-inf, 1.0]]), 0, 1, ErrorCode.BAD_WEIGHT, (2, 0)),
        # class ids: once per row, at column 0, before the row's scores
        (np.array([0, 2, 1]), p2, None, -1, 2, ErrorCode.TRUE_CLASS, (1, 0)),
        (np.array([0.0, 1.0, 1.5]), p2, None, 1, 1, ErrorCode.TRUE_CLASS, (2, 0)),
        (np.array([0, -1, 1], np.int8), np.array([[0.1, 0.2], [0.3, nan], [0.5, 0.6]]), None, -1, 1,
         ErrorCode.TRUE_CLASS, (1, 0)),
        (np.array([0, 1, 1], np.int32), np.array([[0.1, 0.2], [0.3, nan], [0.5, 0.6]]), None, -1, 1,
         ErrorCode.NAN_SCORE, (1, 1)),
    ]


@pytest.mark.parametrize("i", range(len(_error_cases())))
def test_score_histogram_errors_leave_state_untouched(kernels, i):
    t, p, w, class_id, m, code, where = _error_cases()[i]
    thresholds = np.array([0.25, 0.5])
    for tt, pp, ww in ((t, p, w), (_strided(t, "reversed"), _strided(p, "fortran"), w)):
        dtype = np.float64 if ww is not None else np.int64
        out = np.full((2, 3, m), 7, dtype=dtype)
        sums = np.full((3, m), 0.125)
        err = tuple(int(e) for e in kernels.score_histogram(tt, pp, ww, thresholds, class_id, out, sums))
        assert err == (int(code),) + where
        assert (out == 7).all() and (sums == 0.125).all()
        ref = REF.score_histogram(tt, pp, ww, thresholds, class_id, np.zeros((2, 3, m), dtype), None)
        assert tuple(int(e) for e in ref) == err


@pytest.mark.parametrize("bad", ["label", "class", "nan", "weight"])
@pytest.mark.parametrize("n, where", [(50, 31), (100_000, 3), (100_000, 77_777), (100_000, 99_999)])
def test_score_histogram_errors_in_big_batches(kernels, rng, bad, n, where):
    """Big batches are validated while they are scattered: a late error must undo it all."""
    labels = 2
    thresholds = keras_grid(200)
    p = rng.random((n, labels)).astype(np.float32)
    w = rng.random((n, labels)) if bad == "weight" else None
    if bad == "class":
        t = rng.integers(0, labels, n)
        t[where] = labels
        expect = (int(ErrorCode.TRUE_CLASS), where, 0)
    else:
        t = _labels(rng, (n, labels), np.float32)
        if bad == "label":
            t[where, 1] = 0.5
            expect = (int(ErrorCode.BINARY_LABEL), where, 1)
        elif bad == "nan":
            p[where, 1] = np.nan
            expect = (int(ErrorCode.NAN_SCORE), where, 1)
        else:
            w[where, 1] = np.inf
            expect = (int(ErrorCode.BAD_WEIGHT), where, 1)
    for m in (1, labels):
        out = rng.random((2, 201, m)) if w is not None else rng.integers(0, 9, (2, 201, m))
        sums = rng.random((201, m))
        before, sums_before = out.copy(), sums.copy()
        err = tuple(int(e) for e in kernels.score_histogram(t, p, w, thresholds, -1, out, sums))
        assert err == expect
        assert out.tobytes() == before.tobytes() and sums.tobytes() == sums_before.tobytes()


# Big batches with many buckets: local count histograms (C++ uint32, Numba int32) added to
# out at the end, and the next chunk's rows prefetched (any layout: dense blocks, columns of a
# wide matrix, negative strides, the flattened pooled run).
@pytest.mark.parametrize("layout", LAYOUTS)
def test_score_histogram_big_batches_many_buckets(kernels, rng, layout):
    n, labels, num = 60_000, 3, 4096
    thresholds = keras_grid(num)
    t = _strided(_labels(rng, (n, labels), np.uint8), layout)
    p = rng.random((n, labels)).astype(np.float32)
    p[::5] = thresholds[rng.integers(0, num, p[::5].shape)]  # on thresholds: ambiguous codes
    p = _strided(p, layout)
    ids = _strided(rng.integers(0, labels, (n, 1)), layout)[:, 0]
    w = _strided(rng.random((n, labels)), layout)
    for class_id, m in [(-1, labels), (-1, 1), (1, 1)]:
        for sums in (False, True):
            _check_hist(_hist_both(kernels, t, p, None, thresholds, class_id, m, sums, fast=True))
        _check_hist(_hist_both(kernels, ids, p, None, thresholds, class_id, m, fast=True))
        _check_hist(_hist_both(kernels, t, p, w, thresholds, class_id, m, fast=True))


@pytest.mark.parametrize("bad", ["label", "class", "nan"])
def test_score_histogram_one_column_errors_many_buckets(kernels, rng, bad):
    """Counts of one column over many buckets from a batch smaller than a few histograms
    (C++: validated as they are added straight to out, a bad batch's earlier chunks then
    taken back out): any error leaves out bit for bit unchanged and names the element, and
    the next batch counts from the unchanged state."""
    n, num = 100_000, 65536
    thresholds = keras_grid(num)
    thresholds.setflags(write=False)
    p = rng.random((n, 2)).astype(np.float32)
    t = rng.integers(0, 2, n) if bad == "class" else _labels(rng, (n, 2), np.int8)
    for where in (0, 511, 512, 1000, n // 2 + 123, n - 1):
        tt, pp = t.copy(), p.copy()
        if bad == "class":
            tt[where] = 2
            expect = (int(ErrorCode.TRUE_CLASS), where, 0)
        elif bad == "label":
            tt[where, 1] = 2
            expect = (int(ErrorCode.BINARY_LABEL), where, 1)
        else:
            pp[where, 1] = np.nan
            expect = (int(ErrorCode.NAN_SCORE), where, 1)
        out = rng.integers(0, 1 << 40, (2, num + 1, 1))
        before = out.copy()
        err = tuple(int(e) for e in kernels.score_histogram(tt, pp, None, thresholds, 1, out, None))
        assert err == expect
        assert out.tobytes() == before.tobytes()
    _check_hist(_hist_both(kernels, t, p, None, thresholds, 1, 1, sums=False, fast=True))


@pytest.mark.parametrize("layout", ["contiguous", "fortran", "reversed"])
@pytest.mark.parametrize("bad", ["label", "class", "nan"])
def test_score_histogram_errors_undone_many_buckets(kernels, rng, layout, bad):
    """Unweighted counts without sums from a batch smaller than the histograms are validated
    as they are added straight to out (C++), every counted column in turn per chunk of rows:
    an error in a later column of a later chunk takes back the chunks before it and the
    columns before it in its own chunk, per label (one run per column) and pooled (one
    flattened run where the layout allows it): out bit for bit unchanged."""
    n, labels, num = 2000, 3, 4096  # 6,000 elements, 8,194 or more counts
    thresholds = keras_grid(num)
    p = rng.random((n, labels))
    p[::7] = thresholds[rng.integers(0, num, p[::7].shape)]  # float64, on thresholds: settled
    t = rng.integers(0, labels, n) if bad == "class" else _labels(rng, (n, labels), np.uint8)
    for where, col in ((0, 0), (1000, 2), (1024, 1), (1535, 0), (n - 1, 2)):
        tt, pp = t.copy(), p.copy()
        if bad == "class":
            tt[where] = labels
            expect = (int(ErrorCode.TRUE_CLASS), where, 0)
        elif bad == "label":
            tt[where, col] = 2
            expect = (int(ErrorCode.BINARY_LABEL), where, col)
        else:
            pp[where, col] = np.nan
            expect = (int(ErrorCode.NAN_SCORE), where, col)
        tt = _strided(tt, layout) if tt.ndim == 2 else tt
        for m in (1, labels):
            out = rng.integers(0, 1 << 40, (2, num + 1, m))
            before = out.copy()
            err = tuple(int(e) for e in kernels.score_histogram(
                tt, _strided(pp, layout), None, thresholds, -1, out, None))
            assert err == expect
            assert out.tobytes() == before.tobytes()
    for m in (1, labels):
        _check_hist(_hist_both(kernels, _strided(t, layout) if t.ndim == 2 else t,
                               _strided(p, layout), None, thresholds, -1, m, sums=False))


@pytest.mark.parametrize("bad", ["label", "class", "nan", "weight"])
def test_score_histogram_late_errors_many_buckets(kernels, rng, bad):
    """A bad element late in a big batch over 65,536 thresholds: the local histogram is dropped
    (or out restored), out and score_sums are bit for bit unchanged, and the next batch counts
    from the unchanged state."""
    n, labels, num = 400_000, 2, 65536
    thresholds = keras_grid(num)
    p = rng.random((n, labels)).astype(np.float32)
    w = rng.random((n, labels)) if bad == "weight" else None
    t = rng.integers(0, labels, n) if bad == "class" else _labels(rng, (n, labels), np.int8)
    for where in (n // 2 + 123, n - 1):
        tt, pp, ww = t.copy(), p.copy(), None if w is None else w.copy()
        if bad == "class":
            tt[where] = -1
            expect = (int(ErrorCode.TRUE_CLASS), where, 0)
        elif bad == "label":
            tt[where, 1] = 2
            expect = (int(ErrorCode.BINARY_LABEL), where, 1)
        elif bad == "nan":
            pp[where, 1] = np.nan
            expect = (int(ErrorCode.NAN_SCORE), where, 1)
        else:
            ww[where, 1] = -np.inf
            expect = (int(ErrorCode.BAD_WEIGHT), where, 1)
        for m in (1, labels):
            for sums in (None, rng.random((num + 1, m))):
                shape = (2, num + 1, m)
                out = rng.random(shape) if w is not None else rng.integers(0, 1 << 40, shape)
                before = out.copy()
                sums_before = None if sums is None else sums.copy()
                err = tuple(int(e) for e in kernels.score_histogram(tt, pp, ww, thresholds, -1, out, sums))
                assert err == expect
                assert out.tobytes() == before.tobytes()
                if sums is not None:
                    assert sums.tobytes() == sums_before.tobytes()
                if w is None and sums is None:  # the same state takes a valid batch exactly
                    assert tuple(kernels.score_histogram(t, p, None, thresholds, -1, out, None)) == (0, 0, 0)
                    _fast_expected(t, p, None, thresholds, -1, m, before, None)
                    np.testing.assert_array_equal(out, before)


def test_score_histogram_rejects_bad_arguments(kernels):
    t = np.zeros((4, 2), np.int8)
    p = np.zeros((4, 2))
    thr = np.array([0.5])
    with pytest.raises((TypeError, ValueError)):
        kernels.score_histogram(t, p, None, thr, -1, np.zeros((2, 2, 2)), None)  # float out, unweighted
    with pytest.raises((TypeError, ValueError)):
        kernels.score_histogram(t, p, None, thr, -1, np.zeros((2, 3, 2), np.int64), None)  # T + 1 wrong
    with pytest.raises((TypeError, ValueError)):
        kernels.score_histogram(t, p, None, thr, 0, np.zeros((2, 2, 2), np.int64), None)  # M with class_id
    with pytest.raises((TypeError, ValueError)):
        kernels.score_histogram(t, p, None, thr, -1, np.zeros((2, 2, 2), np.int64), np.zeros((3, 2)))


# --------------------------------------------------------------- binary_clf_curve
def _curve_check(kernels, s, y, w):
    thr, tps, fps = kernels.binary_clf_curve(s, y, w)
    r_thr, r_tps, r_fps = REF.binary_clf_curve(s, y, w)
    assert thr.dtype == np.float64
    np.testing.assert_array_equal(thr, r_thr)
    assert not np.signbit(thr[thr == 0]).any()  # -0.0 and 0.0 are one value, reported as 0.0
    if w is None:
        assert tps.dtype == fps.dtype == np.int64
        np.testing.assert_array_equal(tps, r_tps)
        np.testing.assert_array_equal(fps, r_fps)
    else:
        assert tps.dtype == fps.dtype == np.float64
        np.testing.assert_allclose(tps, r_tps, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(fps, r_fps, rtol=1e-12, atol=1e-300)
    return thr, tps, fps


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n", [0, 1, 2, 17, 5000])
def test_binary_clf_curve_ties_and_special_values(kernels, rng, dtype, weighted, n):
    s = np.round(rng.standard_normal(n), 2).astype(dtype)  # many ties
    s[::7] = -0.0
    s[::9] = 0.0
    s[3:4] = np.inf
    s[5:6] = -np.inf
    y = (rng.random(n) < 0.4).astype(np.uint8)
    w = rng.random(n) * 3 if weighted else None
    _curve_check(kernels, s, y, w)
    _curve_check(kernels, s, y.astype(np.bool_), w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_clf_curve_repeated_infinities_are_one_point(kernels, rng, dtype):
    """The reference (like scikit-learn: np.diff(inf, inf) is NaN) would report a repeated
    +-inf once per element; the protocol wants distinct scores: compare with the reference run
    on finite stand-ins that sort the same way."""
    n = 500
    s = np.round(rng.standard_normal(n), 1).astype(dtype)
    s[::11] = np.inf
    s[::13] = -np.inf
    y = (rng.random(n) < 0.5).astype(np.uint8)
    finite = np.where(np.isposinf(s), 1e300, np.where(np.isneginf(s), -1e300, s.astype(np.float64)))
    for w in (None, rng.random(n)):
        thr, tps, fps = kernels.binary_clf_curve(s, y, w)
        r_thr, r_tps, r_fps = REF.binary_clf_curve(finite, y, w)
        np.testing.assert_array_equal(thr, np.where(r_thr == 1e300, np.inf, np.where(r_thr == -1e300, -np.inf, r_thr)))
        np.testing.assert_allclose(tps, r_tps, rtol=1e-12)
        np.testing.assert_allclose(fps, r_fps, rtol=1e-12)
        assert thr[0] == np.inf and thr[-1] == -np.inf


@pytest.mark.parametrize("layout", ["step", "reversed"])
def test_binary_clf_curve_strided(kernels, rng, layout):
    n = 3001
    s = np.round(rng.random(n), 3)
    y = (rng.random(n) < 0.5).astype(np.uint8)
    w = rng.random(n)

    def lay(a):
        return _strided(a[:, None], layout)[:, 0]

    for ww in (None, lay(w)):
        _curve_check(kernels, lay(s), lay(y), ww)
        _curve_check(kernels, lay(s.astype(np.float32)), lay(y), ww)


@pytest.mark.parametrize("label", [0, 1])
def test_binary_clf_curve_one_class(kernels, rng, label):
    n = 1000
    s = np.round(rng.random(n), 2).astype(np.float32)
    y = np.full(n, label, np.uint8)
    for w in (None, rng.random(n)):
        thr, tps, fps = _curve_check(kernels, s, y, w)
        assert (tps == 0).all() if label == 0 else (fps == 0).all()


def test_binary_clf_curve_empty_and_single(kernels):
    thr, tps, fps = kernels.binary_clf_curve(np.zeros(0), np.zeros(0, np.uint8), None)
    assert thr.shape == tps.shape == fps.shape == (0,)
    thr, tps, fps = kernels.binary_clf_curve(np.array([-0.0], np.float32), np.array([1], np.uint8), None)
    assert list(thr) == [0.0] and not np.signbit(thr[0]) and list(tps) == [1] and list(fps) == [0]
    thr, tps, fps = kernels.binary_clf_curve(np.array([0.5]), np.array([0], np.uint8), np.array([2.5]))
    assert list(thr) == [0.5] and list(tps) == [0.0] and list(fps) == [2.5]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_clf_curve_big(kernels, rng, dtype):
    n = 1_000_000
    s = rng.random(n).astype(dtype)
    s[::3] = np.round(s[::3], 3)
    y = (rng.random(n) < 0.5).astype(np.uint8)
    for w in (None, rng.random(n)):
        thr, tps, fps = _curve_check(kernels, s, y, w)
        if w is None:
            assert tps[-1] == y.sum() and fps[-1] == n - y.sum()


def test_binary_clf_curve_matches_scikit_learn(kernels, rng):
    metrics = pytest.importorskip("sklearn.metrics")
    n = 20_000
    s = np.round(rng.random(n), 2)
    y = (rng.random(n) < 0.3).astype(np.uint8)
    w = rng.random(n) + 0.1
    for ww in (None, w):
        # roc_curve without dropping points is _binary_clf_curve normalized, after a leading inf
        fpr, tpr, thr = metrics.roc_curve(y, s, sample_weight=ww, drop_intermediate=False)
        a_thr, a_tps, a_fps = kernels.binary_clf_curve(s, y, ww)
        np.testing.assert_array_equal(a_thr, thr[1:])
        np.testing.assert_allclose(a_tps / a_tps[-1], tpr[1:], rtol=1e-12)
        np.testing.assert_allclose(a_fps / a_fps[-1], fpr[1:], rtol=1e-12)


# --------------------------------------------------------------- C++ only
@pytest.fixture
def cpp():
    from metricore import _core

    yield _dispatch.cpu_backend("cpp")
    _core._set_score_histogram_isa(_core._score_histogram_max_isa())


def test_cpp_score_histogram_every_isa_level(cpp, rng):
    """The vector stages are compiled for several ISA levels, picked at run time: test each."""
    from metricore import _core

    for level in range(_core._score_histogram_max_isa() + 1):
        _core._set_score_histogram_isa(level)
        for dtype in LABEL_DTYPES:
            for score_dtype in (np.float32, np.float64):
                n = 5000
                t = _labels(rng, (n, 2), dtype)
                p = rng.random((n, 2)).astype(score_dtype)
                thresholds = keras_grid(200)
                p[::4, 0] = thresholds[rng.integers(0, 200, p[::4].shape[0])]
                p[::5] = np.inf
                for w in (None, rng.random((n, 2)).astype(score_dtype)):
                    _check_hist(_hist_both(cpp, t, p, w, thresholds, fast=True))
                    _check_hist(_hist_both(cpp, t, p, w, thresholds, m=1, fast=True))
                ids = rng.integers(0, 2, n).astype(dtype)
                _check_hist(_hist_both(cpp, ids, p, None, thresholds, fast=True))
                bad = t.copy()
                bad[4321, 1] = 2 if dtype != np.bool_ else 1
                if dtype != np.bool_:
                    out = np.zeros((2, 201, 2), np.int64)
                    assert tuple(cpp.score_histogram(bad, p, None, thresholds, -1, out, None)) == (1, 4321, 1)
                    assert not out.any()


def test_cpp_binary_clf_curve_validates_arguments(cpp):
    s = np.array([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="y_true"):
        cpp.binary_clf_curve(s, np.array([0, 2, 1], np.uint8), None)
    with pytest.raises(ValueError, match="y_true"):
        cpp.binary_clf_curve(s, np.array([0, 1], np.uint8), None)
    with pytest.raises(ValueError, match="sample_weight"):
        cpp.binary_clf_curve(s, np.array([0, 1, 1], np.uint8), np.ones(4))
    with pytest.raises(TypeError, match="y_true"):
        cpp.binary_clf_curve(s, np.array([0, 1, 1], np.int64), None)


# --------------------------------------------------------------- backends agree
def test_native_backends_agree_bit_for_bit_on_histogram_counts(rng):
    cpp, nb = _dispatch.cpu_backend("cpp"), _dispatch.cpu_backend("numba")
    for n, num in ((5000, 200), (300_000, 65536), (40, 65536)):
        thresholds = keras_grid(num)
        t = rng.integers(0, 2, (n, 3)).astype(np.int8)
        p = rng.random((n, 3)).astype(np.float32)
        p[::3, 1] = thresholds[rng.integers(0, num, p[::3].shape[0])]
        for m in (1, 3):
            a = np.zeros((2, num + 1, m), np.int64)
            b = np.zeros((2, num + 1, m), np.int64)
            assert tuple(cpp.score_histogram(t, p, None, thresholds, -1, a, None)) == (0, 0, 0)
            assert tuple(nb.score_histogram(t, p, None, thresholds, -1, b, None)) == (0, 0, 0)
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ read-only thresholds
def _frozen(a):
    a = np.array(a, dtype=np.float64)
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("thresholds", [
    keras_grid(200), keras_grid(65536), np.linspace(0, 1, 1000),
    np.sort(np.random.default_rng(3).random(500)),  # uneven: no grid
], ids=["keras200", "keras65536", "linspace1000", "uneven500"])
@pytest.mark.parametrize("n", [32, 1000, 20000])
def test_read_only_thresholds_keep_their_grid_and_give_the_same_counts(kernels, thresholds, n):
    """Kernels keep the bucket grid of a read-only threshold array between calls (no O(T)
    fit per batch); every batch size must give the very counts of a writeable copy (analysed
    per call) and of the reference."""
    rng = np.random.default_rng(n)
    T = thresholds.size
    frozen = _frozen(thresholds)
    t = _labels(rng, (n, 2), np.int8)
    p = rng.random((n, 2)).astype(np.float32)
    p[: n // 10, 0] = thresholds[rng.integers(0, T, n // 10)]  # on thresholds: ambiguous codes
    w = rng.random((n, 2))
    for weights, dtype in ((None, np.int64), (w, np.float64)):
        outs = []
        for thr in (frozen, np.array(thresholds), frozen):  # the second frozen call: cached
            out, sums = np.zeros((2, T + 1, 2), dtype), np.zeros((T + 1, 2))
            assert tuple(kernels.score_histogram(t, p, weights, thr, -1, out, sums)) == (0, 0, 0)
            outs.append((out, sums))
        ref, ref_sums = np.zeros((2, T + 1, 2), dtype), np.zeros((T + 1, 2))
        REF.score_histogram(t, p, weights, np.array(thresholds), -1, ref, ref_sums)
        for out, sums in outs:
            np.testing.assert_array_equal(out, ref) if weights is None else \
                np.testing.assert_allclose(out, ref, rtol=1e-12)
            np.testing.assert_allclose(sums, ref_sums, rtol=1e-12, atol=1e-12)


def test_writeable_thresholds_changed_in_place_are_read_afresh(kernels):
    rng = np.random.default_rng(5)
    t, p = _labels(rng, (5000, 1), np.int8), rng.random((5000, 1))

    def count_while_changing(passed, values):
        """Counts twice through ``passed``, halving ``values`` (its memory) in between."""
        for _ in range(2):
            out = np.zeros((2, values.size + 1, 1), np.int64)
            kernels.score_histogram(t, p, None, passed, -1, out, None)
            ref = np.zeros_like(out)
            REF.score_histogram(t, p, None, values.copy(), -1, ref, None)
            np.testing.assert_array_equal(out, ref)
            values *= 0.5  # same memory, new values: nothing cached may survive this

    thr = keras_grid(65536)
    count_while_changing(thr, thr)
    base = keras_grid(65536)
    view = base.view()
    view.flags.writeable = False  # read-only, but its values change through the base
    count_while_changing(view, base)


def test_curve_metrics_pass_read_only_thresholds(backend):
    import copy

    import metricore as mc

    m = mc.AUC(num_thresholds=65536, backend=backend)
    m.update_state([0, 1, 1], [0.2, 0.7, 0.4])
    assert not m._kernel_thresholds.flags.writeable
    twin = copy.deepcopy(m)  # a deep copy is frozen again (_rebind_variables)
    twin.update_state([0, 1], [0.1, 0.9])
    m.update_state([0, 1], [0.1, 0.9])
    assert not twin._kernel_thresholds.flags.writeable
    assert float(twin.result()) == float(m.result())
