"""Property tests (hypothesis) of the threshold arithmetic every CPU backend runs: the bucket of
a score (the number of thresholds strictly below it) in ``score_histogram`` and its grouped
twin, and the strict ``score > threshold`` test in ``threshold_counts``, against
``np.searchsorted``.

The kernels pick among several ways to find a bucket (a fitted uniform grid, a grid fitted
without its two ends, a cell table, a binary search) by the thresholds' spacing, the batch's
size and whether the threshold array is read-only; each settles scores close to a threshold
with an exact comparison. The generated threshold sets sit on and around the edges of those
choices (nearly even grids with jitter up to the fit's tolerance and past it, ends moved by
an ulp, Keras' epsilon or far away, infinite ends, large offsets), and the scores on, an ulp
either side of, and between the thresholds, in float32 and float64. Counts must be exact.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metricore import _dispatch

# Derandomized: CI runs the same examples every time (a new failure is then reproducible);
# widen locally with --hypothesis-seed or a larger max_examples.
PROPERTY = settings(max_examples=250, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


from conftest import BACKENDS

# Parametrized, not a fixture: hypothesis runs many inputs through one test call.
each_backend = pytest.mark.parametrize("name", BACKENDS)


@st.composite
def threshold_sets(draw):
    """Strictly increasing float64 thresholds around an even grid."""
    num = draw(st.one_of(st.integers(1, 70), st.sampled_from([199, 200, 1001, 4096])))
    lo = draw(st.sampled_from([0.0, -1.0, 0.1, 1e6, -3e-5]))
    span = draw(st.sampled_from([1.0, 1e-3, 10.0, 1e-9]))
    jitter = draw(st.sampled_from([0.0, 1e-12, 1e-6, 1e-3, 0.02, 0.049, 0.051, 0.2, 0.45]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    t = lo + span * np.linspace(0.0, 1.0, num)
    t = t + rng.uniform(-jitter, jitter, num) * (span / max(num - 1, 1))
    t = np.unique(t)
    if t.size >= 3:
        ends = draw(st.sampled_from(["none", "ulp", "keras", "far", "inf", "ulp_low"]))
        if ends == "ulp":  # the last an ulp above the one before it
            t[-1] = np.nextafter(t[-2], np.inf)
        elif ends == "ulp_low":
            t[0] = np.nextafter(t[1], -np.inf)
        elif ends == "keras":
            t[0], t[-1] = t[1] - 1e-7, t[-2] + 1e-7
        elif ends == "far":
            t[0], t[-1] = t[1] - 0.25 * span, t[-2] + 0.25 * span
        elif ends == "inf":
            t[0], t[-1] = -np.inf, np.inf
        t = np.unique(t)
    return t


@st.composite
def batches(draw, thresholds):
    """(labels (N, 1) int8, scores (N, 1)) with scores on, near and between thresholds."""
    n = draw(st.one_of(st.integers(1, 40), st.integers(41, 3000)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    finite = thresholds[np.isfinite(thresholds)]
    if finite.size == 0:
        finite = np.array([0.0])
    pick = finite[rng.integers(0, finite.size, n)]
    near = np.nextafter(pick, np.where(rng.random(n) < 0.5, -np.inf, np.inf))
    lo, hi = finite[0], finite[-1]
    width = max(hi - lo, 1e-9)
    between = rng.uniform(lo - 0.1 * width, hi + 0.1 * width, n)
    special = rng.choice([-np.inf, np.inf, lo, hi, 0.0], n)
    kind = rng.integers(0, 4, n)
    scores = np.choose(kind, [pick, near, between, special]).astype(dtype)
    if dtype == np.float32:  # also an ulp either side of the float32 rounding
        step = rng.integers(-1, 2, n)
        scores = np.where(step < 0, np.nextafter(scores, np.float32(-np.inf)),
                          np.where(step > 0, np.nextafter(scores, np.float32(np.inf)), scores))
    labels = rng.integers(0, 2, (n, 1)).astype(np.int8)
    return labels, scores[:, None]


def _read_only(thresholds, frozen):
    t = np.array(thresholds)  # owns its memory: a read-only one keeps its fitted grid
    t.setflags(write=not frozen)
    return t


def _buckets(thresholds, scores):
    return np.searchsorted(thresholds, scores[:, 0].astype(np.float64), side="left")


def _draw(name, data):
    """(kernels, thresholds, labels, scores, the thresholds as the kernel gets them: read-only
    or writeable) for one example."""
    thresholds = data.draw(threshold_sets())
    labels, scores = data.draw(batches(thresholds))
    t = _read_only(thresholds, data.draw(st.booleans()))
    return _dispatch.cpu_backend(name), thresholds, labels, scores, t


@each_backend
@PROPERTY
@given(data=st.data())
def test_score_histogram_buckets_match_searchsorted(name, data):
    kernels, thresholds, labels, scores, t = _draw(name, data)
    out = np.zeros((2, t.size + 1, 1), np.int64)
    for _ in range(2):  # twice: a read-only array's grid is fitted once, then reused
        assert tuple(kernels.score_histogram(labels, scores, None, t, -1, out, None)) == (0, 0, 0)
    expected = np.zeros_like(out)
    np.add.at(expected, (labels[:, 0].astype(np.int64), _buckets(thresholds, scores), 0), 2)
    np.testing.assert_array_equal(out, expected)


@each_backend
@PROPERTY
@given(data=st.data())
def test_threshold_counts_match_searchsorted(name, data):
    kernels, thresholds, labels, scores, t = _draw(name, data)
    out = np.zeros((4, t.size, 1), np.int64)
    assert tuple(kernels.threshold_counts(labels, scores, None, t, 0, -1, out)) == (0, 0, 0)
    above = _buckets(thresholds, scores)[:, None] > np.arange(t.size)[None]  # score > t[k]
    positive = labels[:, 0:1] == 1
    expected = np.stack([(above & positive).sum(0), (above & ~positive).sum(0),
                         (~above & ~positive).sum(0), (~above & positive).sum(0)])[:, :, None]
    np.testing.assert_array_equal(out, expected)


@each_backend
@PROPERTY
@given(data=st.data())
def test_grouped_score_histogram_buckets_match_searchsorted(name, data):
    kernels, thresholds, labels, scores, t = _draw(name, data)
    num_groups = data.draw(st.integers(1, 5))
    groups = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).integers(
        0, num_groups, labels.shape[0])
    out = np.zeros((num_groups, 2, t.size + 1, 1), np.int64)
    assert tuple(kernels.score_histogram_grouped(groups, labels, scores, None, t, -1, out,
                                                 None)) == (0, 0, 0)
    expected = np.zeros_like(out)
    np.add.at(expected, (groups, labels[:, 0].astype(np.int64), _buckets(thresholds, scores), 0),
              1)
    np.testing.assert_array_equal(out, expected)
