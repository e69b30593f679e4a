"""Every kernel family on every backend reproduces the NumPy reference backend on shared data:
counts bit for bit, float sums to 1e-12; every label dtype, strided and broadcast inputs,
weights, and errors (same code and location, ``out`` untouched).
"""

import numpy as np
import pytest

from metricore import _dispatch
from metricore._backends.protocol import FAMILIES, LABEL_DTYPES, ErrorCode, MomentKind

from _numpy_backend import BACKEND as REF


@pytest.fixture
def kernels(backend):
    return _dispatch.cpu_backend(backend)


def _strided(arr, how):
    """The same values in another memory layout (the kernels must read strides)."""
    if how == "contiguous":
        return arr
    if how == "step":  # every other row of a bigger array
        big = np.empty((arr.shape[0] * 2,) + arr.shape[1:], dtype=arr.dtype)
        big[::2] = arr
        return big[::2]
    if how == "fortran":
        return np.asfortranarray(arr)
    if how == "reversed":
        return np.ascontiguousarray(arr[::-1])[::-1]
    raise ValueError(how)


LAYOUTS = ("contiguous", "step", "fortran", "reversed")


def _run_both(kernels, family, *args, out_shape, out_dtype):
    out = np.zeros(out_shape, dtype=out_dtype)
    ref = np.zeros(out_shape, dtype=out_dtype)
    err = getattr(kernels, family)(*args, out)
    ref_err = getattr(REF, family)(*args, ref)
    return tuple(int(e) for e in err), out, ref_err, ref


def _check(out, ref):
    if out.dtype == np.int64:
        np.testing.assert_array_equal(out, ref)
    else:
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("dtype", LABEL_DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("weighted", [False, True])
def test_threshold_counts(kernels, rng, dtype, layout, weighted):
    n, labels = 301, 4
    t = _strided(rng.integers(0, 2, (n, labels)).astype(dtype), layout)
    p = _strided(rng.random((n, labels)).astype(rng.choice([np.float32, np.float64])), layout)
    p[::17] = 0.5  # exact threshold hits: strictly greater is positive
    thresholds = np.array([0.0, 0.25, 0.5, 0.9], dtype=np.float64)
    w = np.broadcast_to(rng.random((n, 1)), (n, labels)) if weighted else None
    dt = np.float64 if weighted else np.int64
    for top_k, class_id, m in [(0, -1, labels), (0, -1, 1), (0, 2, 1), (2, -1, labels), (1, 3, 1), (4, -1, 1)]:
        err, out, ref_err, ref = _run_both(kernels, "threshold_counts", t, p, w, thresholds, top_k,
                                           class_id, out_shape=(4, 4, m), out_dtype=dt)
        assert err == ref_err == (0, 0, 0)
        _check(out, ref)


def test_threshold_counts_single_threshold_fast_path(kernels, rng):
    n = 10_007
    t = rng.integers(0, 2, (n, 1)).astype(np.int8)
    p = rng.random((n, 1)).astype(np.float32)
    for thr in (0.0, 0.5, 1.0):
        err, out, ref_err, ref = _run_both(kernels, "threshold_counts", t, p, None, np.array([thr]), 0, -1,
                                           out_shape=(4, 1, 1), out_dtype=np.int64)
        assert err == (0, 0, 0)
        _check(out, ref)
        assert out.sum() == n


def test_threshold_counts_top_k_ties_go_to_lower_index(kernels):
    t = np.array([[1, 1, 1, 0]], dtype=np.int8)
    p = np.array([[0.5, 0.7, 0.7, 0.7]])
    out = np.zeros((4, 1, 4), dtype=np.int64)
    assert tuple(kernels.threshold_counts(t, p, None, np.array([0.1]), 2, -1, out)) == (0, 0, 0)
    # kept: columns 1 and 2 (the two lower-index 0.7s); 0 and 3 are predicted negative
    np.testing.assert_array_equal(out[:, 0, :], [[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]])


@pytest.mark.parametrize("dtype", LABEL_DTYPES, ids=str)
@pytest.mark.parametrize("weighted", [False, True])
def test_confusion_matrix_from_ids_and_scores(kernels, rng, dtype, weighted):
    c = 2 if dtype == np.bool_ else 7
    n = 503
    t = rng.integers(0, c, n).astype(dtype)
    ids = rng.integers(0, c, n).astype(dtype)
    scores = rng.random((n, c))
    scores[::11, 0] = scores[::11, 1] = 2.0  # ties: first maximum wins
    w = rng.random(n) * 3 if weighted else None
    dt = np.float64 if weighted else np.int64
    for p in (ids, _strided(ids, "step"), scores, _strided(scores.astype(np.float32), "fortran")):
        for ignore in (None, 1):
            err, out, ref_err, ref = _run_both(kernels, "confusion_matrix", t, p, w, ignore,
                                               out_shape=(c, c), out_dtype=dt)
            assert err == ref_err == (0, 0, 0)
            _check(out, ref)


@pytest.mark.parametrize("c, n", [(10_000, 1000), (1000, 100_000), (300, 5)])
def test_confusion_matrix_many_classes(kernels, rng, c, n):
    t = rng.integers(0, c, n)
    p = rng.integers(0, c, n)
    err, out, _, ref = _run_both(kernels, "confusion_matrix", t, p, None, None,
                                 out_shape=(c, c), out_dtype=np.int64)
    assert err == (0, 0, 0)
    _check(out, ref)


@pytest.mark.parametrize("dtype", LABEL_DTYPES, ids=str)
@pytest.mark.parametrize("weighted", [False, True])
def test_topk_matches(kernels, rng, dtype, weighted):
    c = 2 if dtype == np.bool_ else 6
    n = 401
    ids = rng.integers(0, c, n)
    p = rng.integers(0, 4, (n, c)).astype(np.float32)  # many ties
    w = rng.random(n) if weighted else None
    dt = np.float64 if weighted else np.int64
    for t in (ids.astype(dtype), np.eye(c, dtype=dtype)[ids]):
        for k in (0, 1, 2, c):
            for pl in (p, _strided(p, "fortran"), _strided(p.astype(np.float64), "step")):
                err, out, ref_err, ref = _run_both(kernels, "topk_matches", t, pl, w, k,
                                                   out_shape=(2,), out_dtype=dt)
                assert err == ref_err == (0, 0, 0)
                _check(out, ref)


@pytest.mark.parametrize("kind", list(MomentKind))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_moments(kernels, rng, kind, layout):
    n, d = 257, 3
    t = rng.normal(size=(n, d))
    p = rng.normal(size=(n, d)).astype(rng.choice([np.float32, np.float64]))
    if kind in (MomentKind.EQUAL, MomentKind.BINARY_MATCH):
        t = rng.integers(0, 2, (n, d)).astype(np.float64)
        if kind == MomentKind.EQUAL:
            p = rng.integers(0, 2, (n, d)).astype(np.float64)
    t, p = _strided(t, layout), _strided(p, layout)
    weights = [None, rng.random((n, 1))]
    if kind != MomentKind.COSINE:
        weights.append(_strided(rng.random((n, d)), layout))
    for w in weights:
        err, out, ref_err, ref = _run_both(kernels, "moments", int(kind), 0.5, t, p, w,
                                           out_shape=(2,), out_dtype=np.float64)
        assert err == ref_err == (0, 0, 0)
        np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_moments_blocked_summation_is_accurate(kernels, rng):
    n = 1 << 21
    t = rng.random((n, 1))
    p = (t + rng.normal(scale=1e-3, size=(n, 1))).astype(np.float32)
    out = np.zeros(2)
    assert tuple(kernels.moments(int(MomentKind.ABSOLUTE), 0.0, t, p, None, out)) == (0, 0, 0)
    exact = np.sum(np.abs(t - p.astype(np.float64)))  # NumPy's pairwise sum
    assert out[1] == n
    np.testing.assert_allclose(out[0], exact, rtol=1e-12)


def test_column_moments(kernels, rng):
    n, d = 1001, 4
    t = rng.normal(loc=1e6, size=(n, d))
    p = t + rng.normal(size=(n, d))
    shift = t[0].copy()
    for w in (None, rng.random(n)):
        for tl in (t, _strided(t, "fortran")):
            err, out, ref_err, ref = _run_both(kernels, "column_moments", tl, p, w, shift,
                                               out_shape=(4, d), out_dtype=np.float64)
            assert err == ref_err == (0, 0, 0)
            np.testing.assert_allclose(out, ref, rtol=1e-11)


# ------------------------------------------------------------------- errors
ERROR_CASES = [
    ("threshold_counts", lambda: (np.array([[0], [2], [3]]), np.array([[0.1], [0.2], [0.3]]), None,
                                  np.array([0.5]), 0, -1), (4, 1, 1), ErrorCode.BINARY_LABEL, (1, 0)),
    ("threshold_counts", lambda: (np.array([[0, 1], [1, 0]]), np.array([[0.1, 0.2], [np.nan, 0.3]]), None,
                                  np.array([0.5]), 0, -1), (4, 1, 2), ErrorCode.NAN_SCORE, (1, 0)),
    ("threshold_counts", lambda: (np.array([[0], [1]]), np.array([[0.1], [0.2]]),
                                  np.array([[1.0], [np.inf]]), np.array([0.5]), 0, -1), (4, 1, 1),
     ErrorCode.BAD_WEIGHT, (1, 0)),
    ("confusion_matrix", lambda: (np.array([0, 1, 5]), np.array([0, 1, 2]), None, None), (3, 3),
     ErrorCode.TRUE_CLASS, (2, 0)),
    ("confusion_matrix", lambda: (np.array([0.0, 1.5]), np.array([0, 1]), None, None), (3, 3),
     ErrorCode.TRUE_CLASS, (1, 0)),
    ("confusion_matrix", lambda: (np.array([0, 1, 2]), np.array([0, -1, 2]), None, None), (3, 3),
     ErrorCode.PRED_CLASS, (1, 0)),
    ("confusion_matrix", lambda: (np.array([0, 1]), np.array([[0.1, 0.2, 0.3], [0.3, np.nan, 0.1]]),
                                  None, None), (3, 3), ErrorCode.NAN_SCORE, (1, 1)),
    ("confusion_matrix", lambda: (np.array([0, 1]), np.array([0, 1]), np.array([1.0, np.nan]), None),
     (3, 3), ErrorCode.BAD_WEIGHT, (1, 0)),
    ("topk_matches", lambda: (np.array([0, 3]), np.array([[0.1, 0.9], [0.3, 0.7]]), None, 0), (2,),
     ErrorCode.TRUE_CLASS, (1, 0)),
    ("topk_matches", lambda: (np.array([0, 1]), np.array([[0.1, 0.9], [np.nan, 0.7]]), None, 1), (2,),
     ErrorCode.NAN_SCORE, (1, 0)),
    ("moments", lambda: (int(MomentKind.ABSOLUTE), 0.0, np.ones((2, 1)), np.ones((2, 1)),
                         np.array([[1.0], [-np.inf]])), (2,), ErrorCode.BAD_WEIGHT, (1, 0)),
    # no columns: nothing to sum, the weights are still checked
    ("column_moments", lambda: (np.zeros((3, 0)), np.zeros((3, 0)), np.array([1.0, np.nan, 2.0]),
                                np.zeros(0)), (4, 0), ErrorCode.BAD_WEIGHT, (1, 0)),
]


@pytest.mark.parametrize("i", range(len(ERROR_CASES)))
def test_errors_report_first_bad_element_and_leave_out_untouched(kernels, i):
    family, make_args, out_shape, code, where = ERROR_CASES[i]
    args = make_args()
    for dtype in (np.int64, np.float64):
        if family in ("moments", "column_moments"):  # float64 sums whatever the weights
            dtype = np.float64
        weighted = args[2] is not None if family != "moments" else True
        if family not in ("moments", "column_moments") and (dtype == np.float64) != weighted:
            continue
        out = np.full(out_shape, 7, dtype=dtype)
        err = tuple(int(e) for e in getattr(kernels, family)(*args, out))
        assert err[0] == code, err
        assert err[1:] == where, err
        assert (out == 7).all()
        assert REF_ERR(family, args, out_shape, dtype) == err


def REF_ERR(family, args, out_shape, dtype):
    return tuple(int(e) for e in getattr(REF, family)(*args, np.zeros(out_shape, dtype=dtype)))


def test_empty_batches(kernels):
    e = np.zeros((0, 3))
    ei = np.zeros((0, 3), dtype=np.int64)
    out = np.zeros((4, 1, 3), dtype=np.int64)
    assert tuple(kernels.threshold_counts(ei, e, None, np.array([0.5]), 0, -1, out)) == (0, 0, 0)
    out = np.zeros((3, 3), dtype=np.int64)
    assert tuple(kernels.confusion_matrix(np.zeros(0, np.int64), e, None, None, out)) == (0, 0, 0)
    out = np.zeros(2, dtype=np.int64)
    assert tuple(kernels.topk_matches(np.zeros(0, np.int64), e, None, 1, out)) == (0, 0, 0)
    out = np.zeros(2)
    assert tuple(kernels.moments(1, 0.0, e, e, None, out)) == (0, 0, 0)
    assert (out == 0).all()


def test_cpp_and_numba_agree_bit_for_bit_on_counts(rng):
    cpp, nb = _dispatch.cpu_backend("cpp"), _dispatch.cpu_backend("numba")
    t = rng.integers(0, 2, (5000, 3)).astype(np.int8)
    p = rng.random((5000, 3)).astype(np.float32)
    w = np.broadcast_to(rng.random((5000, 1)), (5000, 3))
    thresholds = np.linspace(0, 1, 13)
    a, b = np.zeros((4, 13, 3)), np.zeros((4, 13, 3))
    cpp.threshold_counts(t, p, w, thresholds, 0, -1, a)
    nb.threshold_counts(t, p, w, thresholds, 0, -1, b)
    np.testing.assert_allclose(a, b, rtol=1e-13)
    a, b = np.zeros((4, 13, 3), np.int64), np.zeros((4, 13, 3), np.int64)
    cpp.threshold_counts(t, p, None, thresholds, 0, -1, a)
    nb.threshold_counts(t, p, None, thresholds, 0, -1, b)
    np.testing.assert_array_equal(a, b)


def test_reference_backend_implements_every_family():
    assert all(callable(getattr(REF, f)) for f in FAMILIES)
