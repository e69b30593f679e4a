"""The grouped (sliced) kernel families on every backend that has them reproduce the NumPy
reference backend: counts bit for bit, float sums to 1e-12; G = 1, 7 and 50,000 (few rows),
int32 and int64 group ids in several layouts, every label dtype, weights, and errors (same
code and location, the state untouched). A grouped call with one group equals the ungrouped
kernel.

Each distinct combination of argument types is one more Numba compilation, so the label
dtypes cycle through the group ids' dtypes and layouts, weights and score dtypes instead of
taking their product (each is read on its own; no code path depends on a pair).
"""

import numpy as np
import pytest

from metricore import _dispatch
from metricore._backends.protocol import GROUPED_FAMILIES, LABEL_DTYPES, ErrorCode, MomentKind

from _numpy_backend import BACKEND as REF
from test_backends import _strided

OK = (0, 0, 0)
NUM_GROUPS = (1, 7, 50_000)
GROUP_DTYPES = (np.int32, np.int64)
GROUP_LAYOUTS = ("contiguous", "step", "reversed")  # "reversed": a negative stride

def _label_case(k, dtype):
    """Label dtype number k, with the group ids' dtype and layout, the weighting (int64 or
    float64 state) and the scores' dtype cycling alongside: every pair of group id dtype and
    weighting comes up."""
    group_dtype, layout = GROUP_DTYPES[k % 2], GROUP_LAYOUTS[k % 3]
    weighted = (k // 2) % 2 == 1
    score_dtype = (np.float32, np.float64)[(k // 3) % 2]
    name = f"{dtype}-{np.dtype(group_dtype)}-{layout}-{'weighted' if weighted else 'counts'}"
    return pytest.param(dtype, group_dtype, layout, weighted, score_dtype, id=name)


LABEL_CASES = [_label_case(k, dtype) for k, dtype in enumerate(LABEL_DTYPES)]
LABEL_ARGS = "dtype, group_dtype, group_layout, weighted, score_dtype"


@pytest.fixture
def kernels(backend):
    kernels = _dispatch.cpu_backend(backend)
    if not hasattr(kernels, "score_histogram_grouped"):
        pytest.skip(f"the {backend} backend has no grouped kernels yet")
    return kernels


def _groups(rng, n, num_groups, dtype=np.int64, layout="contiguous"):
    return _strided(rng.integers(0, num_groups, n).astype(dtype), layout)


def _rows(num_groups):
    """Many rows per group for small G; a few rows for a huge G (the kernels' cost must not
    grow with G)."""
    return 40 if num_groups > 1000 else 301


def _state(rng, shape, dtype):
    """A nonzero starting state (the kernels add to it), float values in [1, 2)."""
    if dtype == np.int64:
        return rng.integers(0, 100, shape).astype(np.int64)
    return 1.0 + rng.random(shape)


def _run_both(kernels, family, groups, *args, states):
    """Runs the backend and the reference from copies of the same ``states``."""
    mine = [None if s is None else s.copy() for s in states]
    ref = [None if s is None else s.copy() for s in states]
    err = tuple(int(e) for e in getattr(kernels, family)(groups, *args, *mine))
    ref_err = tuple(int(e) for e in getattr(REF, family)(groups, *args, *ref))
    return err, ref_err, mine, ref


def _check(result):
    err, ref_err, mine, ref = result
    assert err == ref_err == OK
    for a, b in zip(mine, ref):
        if a is None:
            continue
        if a.dtype == np.int64:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)


# --------------------------------------------------------------- score_histogram
def _hist_states(rng, num_groups, num_thresholds, m, weighted, sums):
    shape = (num_groups, 2, num_thresholds + 1, m)
    out = _state(rng, shape, np.float64 if weighted else np.int64)
    return out, (_state(rng, shape[:1] + shape[2:], np.float64) if sums else None)


@pytest.mark.parametrize(LABEL_ARGS, LABEL_CASES)
def test_score_histogram_grouped_labels(kernels, rng, dtype, group_dtype, group_layout,
                                        weighted, score_dtype):
    labels = 4
    thresholds = np.array([0.0, 0.25, 0.5, 0.9])
    for num_groups in NUM_GROUPS:
        n = _rows(num_groups)
        groups = _groups(rng, n, num_groups, group_dtype, group_layout)
        t = rng.integers(0, 2, (n, labels)).astype(dtype)
        p = rng.random((n, labels)).astype(score_dtype)
        p[::17] = 0.5  # exactly on a threshold: not above it
        p[::23] = 0.0
        w = np.broadcast_to(rng.random((n, 1)), (n, labels)) if weighted else None
        for class_id, m in [(-1, labels), (-1, 1), (2, 1)]:
            for sums in (False, True):
                states = _hist_states(rng, num_groups, len(thresholds), m, weighted, sums)
                _check(_run_both(kernels, "score_histogram_grouped", groups, t, p, w, thresholds,
                                 class_id, states=states))


@pytest.mark.parametrize("dtype", [np.bool_, np.int32, np.float64])
def test_score_histogram_grouped_class_ids(kernels, rng, dtype):
    """One-vs-rest: y_true holds class ids, column j's label is y_true == j."""
    c = 2 if dtype == np.bool_ else 5
    thresholds = np.linspace(0.0, 1.0, 11)
    for num_groups in NUM_GROUPS:
        n = _rows(num_groups)
        groups = _groups(rng, n, num_groups)
        t = rng.integers(0, c, n).astype(dtype)
        p = rng.random((n, c)).astype(np.float32)
        for w in (None, _strided(rng.random((n, c)), "fortran")):
            for class_id, m in [(-1, c), (-1, 1), (1, 1)]:
                states = _hist_states(rng, num_groups, len(thresholds), m, w is not None, True)
                _check(_run_both(kernels, "score_histogram_grouped", groups, t, p, w, thresholds,
                                 class_id, states=states))


@pytest.mark.parametrize("num", [0, 1, 200, 65536])
def test_score_histogram_grouped_threshold_grids(kernels, rng, num):
    """Small batches (binary search) and big ones (grid) against many or no thresholds;
    scores on the thresholds, infinite and signed zeros."""
    thresholds = np.linspace(0.0, 1.0, num) if num != 1 else np.array([0.5])
    for n in (5, 3000):
        groups = _groups(rng, n, 7)
        t = rng.integers(0, 2, (n, 1)).astype(np.uint8)
        p = rng.random((n, 1))
        if num:
            p[::3, 0] = rng.choice(thresholds, size=p[::3].shape[0])
        p[::11] = np.inf
        p[::13] = -np.inf
        p[::17] = -0.0
        for w in (None, rng.random((n, 1))):
            states = _hist_states(rng, 7, num, 1, w is not None, True)
            _check(_run_both(kernels, "score_histogram_grouped", groups, t, p, w, thresholds, -1,
                             states=states))


# --------------------------------------------------------------- confusion_matrix
@pytest.mark.parametrize(LABEL_ARGS, LABEL_CASES)
def test_confusion_matrix_grouped(kernels, rng, dtype, group_dtype, group_layout, weighted,
                                  score_dtype):
    c = 2 if dtype == np.bool_ else 7
    for num_groups in NUM_GROUPS:
        n = _rows(num_groups)
        groups = _groups(rng, n, num_groups, group_dtype, group_layout)
        t = rng.integers(0, c, n).astype(dtype)
        ids = rng.integers(0, c, n).astype(dtype)
        scores = rng.random((n, c))
        scores[::11, 0] = scores[::11, 1] = 2.0  # ties: the first maximum wins
        w = rng.random(n) * 3 if weighted else None
        for p in (ids, _strided(scores.astype(score_dtype), "fortran")):
            for ignore in (None, 1):
                states = (_state(rng, (num_groups, c, c), np.float64 if weighted else np.int64),)
                _check(_run_both(kernels, "confusion_matrix_grouped", groups, t, p, w, ignore,
                                 states=states))


# --------------------------------------------------------------- topk_matches
@pytest.mark.parametrize(LABEL_ARGS, LABEL_CASES)
def test_topk_matches_grouped(kernels, rng, dtype, group_dtype, group_layout, weighted,
                              score_dtype):
    c = 2 if dtype == np.bool_ else 6
    for num_groups in NUM_GROUPS:
        n = _rows(num_groups)
        groups = _groups(rng, n, num_groups, group_dtype, group_layout)
        ids = rng.integers(0, c, n)
        p = rng.integers(0, 4, (n, c)).astype(score_dtype)  # many ties
        w = rng.random(n) if weighted else None
        # class ids with contiguous scores, one-hot rows with strided ones
        for t, pl in ((ids.astype(dtype), p), (np.eye(c, dtype=dtype)[ids], _strided(p, "step"))):
            for k in (0, 1, 2, c):
                states = (_state(rng, (num_groups, 2), np.float64 if weighted else np.int64),)
                _check(_run_both(kernels, "topk_matches_grouped", groups, t, pl, w, k,
                                 states=states))


def test_topk_matches_grouped_wide_rows(kernels, rng):
    """Rows wide enough for the short-vector scan (unit column stride)."""
    n, c = 500, 37
    groups = _groups(rng, n, 7)
    ids = rng.integers(0, c, n)
    for p in (rng.integers(0, 5, (n, c)).astype(np.float32), rng.integers(0, 5, (n, c)) * 1.0):
        for k in (0, 1, 5):
            _check(_run_both(kernels, "topk_matches_grouped", groups, ids, p, None, k,
                             states=(_state(rng, (7, 2), np.int64),)))


# --------------------------------------------------------------- moments
@pytest.mark.parametrize("kind", list(MomentKind))
@pytest.mark.parametrize("group_dtype, score_dtype", [(np.int32, np.float32),
                                                      (np.int64, np.float64)])
def test_moments_grouped(kernels, rng, kind, group_dtype, score_dtype):
    d = 3
    for num_groups in NUM_GROUPS:
        n = _rows(num_groups)
        groups = _groups(rng, n, num_groups, group_dtype, "reversed" if num_groups == 7 else "step")
        t = rng.normal(size=(n, d))
        p = rng.normal(size=(n, d)).astype(score_dtype)
        if kind in (MomentKind.EQUAL, MomentKind.BINARY_MATCH):
            t = rng.integers(0, 2, (n, d)).astype(np.float64)
            if kind == MomentKind.EQUAL:
                p = rng.integers(0, 2, (n, d)).astype(score_dtype)
        weights = [None, rng.random((n, 1))]
        if kind != MomentKind.COSINE:
            weights.append(_strided(rng.random((n, d)), "fortran"))
        for tl, pl in ((t, p), (t[:, :1], p[:, :1])):  # D > 1, and one column
            for w in weights:
                if w is not None and w.shape[1] > 1:  # one weight per element
                    w = w[:, : tl.shape[1]]
                states = (_state(rng, (num_groups, 2), np.float64),)
                _check(_run_both(kernels, "moments_grouped", groups, int(kind), 0.5, tl, pl, w,
                                 states=states))


# --------------------------------------------------------------- column_moments
@pytest.mark.parametrize("group_dtype, weighted", [(np.int32, False), (np.int64, True)])
def test_column_moments_grouped(kernels, rng, group_dtype, weighted):
    d = 4
    for num_groups in NUM_GROUPS:
        n = _rows(num_groups)
        groups = _groups(rng, n, num_groups, group_dtype, "step")
        t = rng.normal(loc=1e6, size=(n, d))
        p = t + rng.normal(size=(n, d))
        shift = t[0].copy()
        w = rng.random(n) if weighted else None
        for tl in (t, _strided(t, "fortran"), t[:, :1]):
            pl = p[:, : tl.shape[1]]
            states = (_state(rng, (num_groups, 4, tl.shape[1]), np.float64),)
            _check(_run_both(kernels, "column_moments_grouped", groups, tl, pl, w,
                             shift[: tl.shape[1]].copy(), states=states))


# --------------------------------------------------------------- one group
def test_one_group_equals_the_ungrouped_kernel(kernels, rng):
    """All ids 0 and G = 1: the ungrouped kernel's result, counts bit for bit (float sums up
    to rounding: the ungrouped kernels sum in blocks)."""
    n = 1000
    zeros = np.zeros(n, np.int32)

    def same(family, *args, states):
        """``states``: (shape, dtype) of each state array, or None."""
        grouped = [None if s is None else np.zeros((1,) + s[0], s[1]) for s in states]
        plain = [None if s is None else np.zeros(*s) for s in states]
        assert tuple(getattr(kernels, family + "_grouped")(zeros, *args, *grouped)) == OK
        assert tuple(getattr(kernels, family)(*args, *plain)) == OK
        for a, b in zip(grouped, plain):
            if a is None:
                continue
            if a.dtype == np.int64:
                np.testing.assert_array_equal(a[0], b)
            else:
                np.testing.assert_allclose(a[0], b, rtol=1e-12)

    t = rng.integers(0, 2, (n, 3)).astype(np.int8)
    p = rng.random((n, 3))
    w = rng.random((n, 3))
    for thresholds in (np.linspace(0, 1, 200), np.sort(rng.random(9))):
        buckets = len(thresholds) + 1
        same("score_histogram", t, p, None, thresholds, -1,
             states=[((2, buckets, 3), np.int64), None])
        same("score_histogram", t, p, w, thresholds, -1,
             states=[((2, buckets, 3), np.float64), ((buckets, 3), np.float64)])
    ids = rng.integers(0, 5, n)
    scores = rng.random((n, 5))
    same("confusion_matrix", ids, scores, None, None, states=[((5, 5), np.int64)])
    same("topk_matches", ids, scores, None, 2, states=[((2,), np.int64)])
    same("topk_matches", ids, scores, w[:, 0], 0, states=[((2,), np.float64)])
    for kind in MomentKind:
        same("moments", int(kind), 0.5, p, scores[:, :3], w[:, :1], states=[((2,), np.float64)])
    same("column_moments", p, scores[:, :3], w[:, 0], p[0].copy(),
         states=[((4, 3), np.float64)])


# --------------------------------------------------------------- errors
def _error_cases():
    """(family, arguments after groups, states as (shape without G, dtype) or None, the
    family's own bad value's (code, row, col)); the bad value is in row 2."""
    thresholds = np.array([0.5])
    t2 = np.array([[0, 1], [1, 0], [0, 0], [1, 1]], np.int8)
    p2 = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]])
    ids = np.array([0, 1, 2, 1])
    p3 = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.5, 0.6, 0.7], [0.1, 0.9, 0.0]])
    w4 = np.ones(4)
    counts = [((2, 2, 2), np.int64), ((2, 2), np.float64)]  # histograms and score sums

    def bad(a, where, value):
        a = a.copy()
        a[where] = value
        return a

    return [
        ("score_histogram_grouped", (bad(t2, (2, 1), 2), p2, None, thresholds, -1), counts,
         (ErrorCode.BINARY_LABEL, 2, 1)),
        ("score_histogram_grouped", (t2, bad(p2, (2, 1), np.nan), None, thresholds, -1), counts,
         (ErrorCode.NAN_SCORE, 2, 1)),
        ("score_histogram_grouped", (ids % 2, p2, bad(np.ones((4, 2)), (2, 0), np.inf),
                                     thresholds, -1), [((2, 2, 2), np.float64), None],
         (ErrorCode.BAD_WEIGHT, 2, 0)),
        ("score_histogram_grouped", (bad(ids, 2, 7), p3, None, thresholds, 1),
         [((2, 2, 1), np.int64), ((2, 1), np.float64)], (ErrorCode.TRUE_CLASS, 2, 0)),
        ("confusion_matrix_grouped", (bad(ids, 2, 5), ids, None, None), [((3, 3), np.int64)],
         (ErrorCode.TRUE_CLASS, 2, 0)),
        # ignore_label 1: row 1 is skipped, but its group id is still checked
        ("confusion_matrix_grouped", (ids, bad(ids, 2, -1), None, 1), [((3, 3), np.int64)],
         (ErrorCode.PRED_CLASS, 2, 0)),
        ("confusion_matrix_grouped", (ids, bad(p3, (2, 2), np.nan), None, None),
         [((3, 3), np.int64)], (ErrorCode.NAN_SCORE, 2, 2)),
        ("confusion_matrix_grouped", (ids, ids, bad(w4, 2, np.nan), None),
         [((3, 3), np.float64)], (ErrorCode.BAD_WEIGHT, 2, 0)),
        ("topk_matches_grouped", (bad(ids.astype(np.float64), 2, 1.5), p3, None, 0),
         [((2,), np.int64)], (ErrorCode.TRUE_CLASS, 2, 0)),
        ("topk_matches_grouped", (ids, bad(p3, (2, 1), np.nan), None, 2), [((2,), np.int64)],
         (ErrorCode.NAN_SCORE, 2, 1)),
        ("topk_matches_grouped", (ids, p3, bad(w4, 2, -np.inf), 1), [((2,), np.float64)],
         (ErrorCode.BAD_WEIGHT, 2, 0)),
        ("moments_grouped", (int(MomentKind.SQUARED), 0.0, p2, p2,
                             bad(np.ones((4, 2)), (2, 1), np.nan)), [((2,), np.float64)],
         (ErrorCode.BAD_WEIGHT, 2, 1)),
        ("column_moments_grouped", (p2, p2, bad(w4, 2, np.inf), p2[0].copy()),
         [((4, 2), np.float64)], (ErrorCode.BAD_WEIGHT, 2, 0)),
    ]


@pytest.mark.parametrize("i", range(len(_error_cases())))
@pytest.mark.parametrize("bad_group", [None, "before", "same", "after"])
def test_grouped_errors_leave_state_untouched(kernels, i, bad_group):
    """The family's bad value in row 2, and a bad group id (negative, or G) in row 1, 2 or 3:
    the earlier row wins, the group id on a tie."""
    family, args, states, (code, row, col) = _error_cases()[i]
    group_dtype = GROUP_DTYPES[i % 2]
    num_groups = 3
    for bad_id in (-1, num_groups):
        groups = np.array([0, 2, 1, 2], group_dtype)
        expected = (int(code), row, col)
        if bad_group is not None:
            where = {"before": 1, "same": 2, "after": 3}[bad_group]
            groups[where] = bad_id
            if where <= row:
                expected = (int(ErrorCode.GROUP), where, 0)
        mine = [None if s is None else np.full((num_groups,) + s[0], 7, s[1]) for s in states]
        ref = [None if s is None else s.copy() for s in mine]
        assert tuple(int(e) for e in getattr(kernels, family)(groups, *args, *mine)) == expected
        assert all(s is None or (s == 7).all() for s in mine)
        assert tuple(int(e) for e in getattr(REF, family)(groups, *args, *ref)) == expected


def test_grouped_bad_group_in_a_huge_state(kernels, rng):
    """A bad id far into a batch over 50,000 groups: nothing is written."""
    num_groups, n = 50_000, 64
    groups = _groups(rng, n, num_groups)
    groups[40] = num_groups
    out = np.full((num_groups, 2), 3, np.int64)
    err = kernels.topk_matches_grouped(groups, rng.integers(0, 4, n), rng.random((n, 4)), None,
                                       1, out)
    assert tuple(int(e) for e in err) == (int(ErrorCode.GROUP), 40, 0)
    assert (out == 3).all()


def test_grouped_empty_batches(kernels):
    none = np.zeros(0, np.int64)
    e = np.zeros((0, 3))
    out = np.zeros((4, 2, 2, 3), np.int64)
    assert tuple(kernels.score_histogram_grouped(none, e, e, None, np.array([0.5]), -1, out,
                                                 None)) == OK
    assert tuple(kernels.confusion_matrix_grouped(none, none, e, None, None,
                                                  np.zeros((4, 3, 3), np.int64))) == OK
    assert tuple(kernels.topk_matches_grouped(none, none, e, None, 1,
                                              np.zeros((4, 2), np.int64))) == OK
    out = np.zeros((4, 2))
    assert tuple(kernels.moments_grouped(none, 1, 0.0, e, e, None, out)) == OK
    assert tuple(kernels.column_moments_grouped(none, e, e, None, np.zeros(3),
                                                np.zeros((4, 4, 3)))) == OK
    assert not out.any()


def test_grouped_rejects_bad_arguments(kernels, rng):
    n = 5
    t, p = rng.integers(0, 3, n), rng.random((n, 3))
    out = np.zeros((2, 2), np.int64)
    with pytest.raises(TypeError):  # group ids must be int32 or int64
        kernels.topk_matches_grouped(np.zeros(n, np.float64), t, p, None, 1, out)
    with pytest.raises(ValueError):  # one id per row
        kernels.topk_matches_grouped(np.zeros(n + 1, np.int64), t, p, None, 1, out)
    with pytest.raises(ValueError):  # no leading group axis
        kernels.topk_matches_grouped(np.zeros(n, np.int64), t, p, None, 1, np.zeros(2, np.int64))
    with pytest.raises(ValueError):  # score_sums' G differs from out's
        kernels.score_histogram_grouped(np.zeros(n, np.int64), t, p, None, np.array([0.5]), -1,
                                        np.zeros((2, 2, 2, 3), np.int64), np.zeros((3, 2, 3)))


def test_reference_backend_implements_every_grouped_family():
    assert all(callable(getattr(REF, f)) for f in GROUPED_FAMILIES)
