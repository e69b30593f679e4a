"""Grouped (sliced) evaluation: ``MetricCollection.update_state(..., by=keys)``.

Every metric that supports groups, on every backend, must give for each group exactly what
the same metric gives on that group's rows alone (counts exact, floats to rounding), across
batch splits, key types, merges of collections with different groups, save/load, and
failed updates that leave everything (groups included) as it was.
"""

import pickle

import numpy as np
import pytest

import metricore as mc
from conftest import batches
from test_lifecycle import CASES, _same

# Cases a grouped collection refuses (TypeError naming the metric): top_k threshold counts
# have no grouped kernel.
UNGROUPABLE = {"Recall"}
GROUPABLE = sorted(set(CASES) - UNGROUPABLE)


def _take(x, rows):
    return np.asarray(x)[rows]


def _per_group_reference(make, t, p, keys, w=None):
    out = {}
    for key in np.unique(keys):
        rows = keys == key
        m = make()
        if w is None:
            m.update_state(_take(t, rows), _take(p, rows))
        else:
            m.update_state(_take(t, rows), _take(p, rows), sample_weight=w[rows])
        out[key.item()] = m.result()
    return out


def _data(case, rng, n):
    _, data = CASES[case]
    parts = [data(rng) for _ in range(-(-n // 64))]
    t = np.concatenate([np.asarray(a) for a, _ in parts])[:n]
    p = np.concatenate([np.asarray(b) for _, b in parts])[:n]
    return t, p


def _assert_grouped_equal(got, expected, label):
    assert list(got) == sorted(expected), label
    for key, value in expected.items():
        assert _same(got[key], value), (label, key, got[key], value)


@pytest.mark.parametrize("case", GROUPABLE)
def test_each_group_equals_its_rows_alone(case, backend, rng):
    factory, _ = CASES[case]
    n = 400
    t, p = _data(case, rng, n)
    keys = rng.integers(0, 7, n)
    coll = mc.MetricCollection({case: factory(backend)})
    for rows in batches(n, rng, sizes=(1, 13, 200)):
        coll.update_state(t[rows], p[rows], by=keys[rows])
    expected = _per_group_reference(lambda: factory(backend), t, p, keys)
    _assert_grouped_equal(coll.result()[case], expected, case)


def _binary_collection(backend):
    return mc.MetricCollection({
        "acc": mc.BinaryAccuracy(backend=backend),
        "precision": mc.Precision(backend=backend),
        "recall": mc.Recall(thresholds=[0.3, 0.6], backend=backend),
        "auc": mc.AUC(backend=backend),
        "auroc": mc.AUROC(task="binary", thresholds=100, backend=backend),
        "ece": mc.CalibrationError(backend=backend),
        "mse": mc.MeanSquaredError(backend=backend),
    })


@pytest.mark.parametrize("weighted", [False, True])
def test_fused_collection_by_string_and_arrow_keys(backend, rng, weighted):
    pa = pytest.importorskip("pyarrow")
    n = 3000
    t = rng.integers(0, 2, n)
    p = rng.random(n).astype(np.float32)
    w = rng.random(n) if weighted else None
    keys = np.array(["north", "south", "east", "west", "x"])[rng.integers(0, 5, n)]
    by_numpy, by_arrow, by_dict = (_binary_collection(backend) for _ in range(3))
    for rows in batches(n, rng, sizes=(1, 50, 999)):
        wr = None if w is None else w[rows]
        by_numpy.update_state(t[rows], p[rows], wr, by=keys[rows])
        by_arrow.update_state(t[rows], p[rows], wr, by=pa.array(keys[rows]))
        by_dict.update_state(t[rows], p[rows], wr,
                             by=pa.chunked_array([pa.array(keys[rows]).dictionary_encode()]))
    for name, metric in _binary_collection(backend).items():
        expected = _per_group_reference(lambda: metric.fresh(), t, p, keys, w)
        for coll in (by_numpy, by_arrow, by_dict):
            _assert_grouped_equal(coll.result()[name], expected, name)
    assert by_numpy.group_keys == sorted(set(keys.tolist()))


def test_counts_are_exact_int64_per_group(backend, rng):
    n = 5000
    t, p = rng.integers(0, 5, n), rng.integers(0, 5, n)
    keys = rng.integers(0, 40, n)
    coll = mc.MetricCollection({"cm": mc.ConfusionMatrix(5, backend=backend)})
    coll.update_state(t, p, by=keys)
    state = coll.state["cm"]["matrix"]
    assert state.dtype == np.int64 and state.shape == (40, 5, 5)
    result = coll.result()["cm"]
    for key in range(40):
        rows = keys == key
        expected = np.zeros((5, 5), np.int64)
        np.add.at(expected, (t[rows], p[rows]), 1)
        assert np.array_equal(result[key], expected)


def test_fifty_thousand_groups(backend, rng):
    n, groups = 120_000, 50_000
    t, p = rng.integers(0, 2, n), rng.random(n)
    keys = rng.integers(0, groups, n) * 3 + 10  # sparse integer keys
    coll = mc.MetricCollection({"precision": mc.Precision(backend=backend),
                                "mae": mc.MeanAbsoluteError(backend=backend),
                                "auc": mc.AUC(num_thresholds=50, backend=backend)})
    for rows in batches(n, rng, sizes=(4096, 30000)):
        coll.update_state(t[rows], p[rows], by=keys[rows])
    result = coll.result()
    seen = np.unique(keys)
    assert list(result["mae"]) == seen.tolist()
    for key in rng.choice(seen, 25, replace=False):
        rows = keys == key
        for name, make in (("precision", mc.Precision), ("mae", mc.MeanAbsoluteError)):
            m = make(backend=backend)
            m.update_state(t[rows], p[rows])
            assert _same(result[name][int(key)], m.result()), (name, key)
        m = mc.AUC(num_thresholds=50, backend=backend)
        m.update_state(t[rows], p[rows])
        assert _same(result["auc"][int(key)], m.result())


def test_merge_aligns_groups_by_key(backend, rng):
    n = 2000
    t, p = rng.integers(0, 2, n), rng.random(n)
    keys = rng.integers(0, 9, n)
    whole = _binary_collection(backend)
    whole.update_state(t, p, by=keys)
    # shards see different key subsets, in different first-seen orders
    shards = []
    for part in (keys < 4, (keys >= 4) & (keys % 2 == 0), keys % 2 == 1):
        shard = _binary_collection(backend)
        rows = np.flatnonzero(part)[::-1]
        shard.update_state(t[rows], p[rows], by=keys[rows])
        shards.append(pickle.loads(pickle.dumps(shard)))  # states travel
    merged = _binary_collection(backend)
    merged.merge_state(shards)
    got, expected = merged.result(), whole.result()
    for name in expected:
        _assert_grouped_equal(got[name], expected[name], name)


def test_failed_grouped_update_leaves_everything_unchanged(backend, rng):
    n = 500
    t, p = rng.integers(0, 2, n), rng.random(n)
    keys = rng.integers(0, 5, n)
    coll = _binary_collection(backend)
    coll.update_state(t, p, by=keys)
    before = coll.state
    keys_before = coll.group_keys
    bad_t = t.copy()
    bad_t[-1] = 3  # not a binary label, in the last row
    new_keys = keys + 1000  # every key new: states would grow
    for args in ((bad_t, p, None), (t, np.where(np.arange(n) == 7, np.nan, p), None),
                 (t, p, np.where(np.arange(n) == 9, np.inf, 1.0))):
        with pytest.raises(ValueError):
            coll.update_state(*args, by=new_keys)
        assert coll.group_keys == keys_before
        after = coll.state
        for name in before:
            for var in before[name]:
                assert np.array_equal(after[name][var], before[name][var]), (name, var)


def test_bad_by_arguments(backend, rng):
    t, p = rng.integers(0, 2, 10), rng.random(10)
    coll = _binary_collection(backend)
    with pytest.raises(ValueError, match="10 rows"):
        coll.update_state(t, p, by=np.zeros(9, int))
    with pytest.raises(ValueError, match="NaN"):
        coll.update_state(t, p, by=np.full(10, np.nan))
    coll.update_state(t, p, by=np.zeros(10, int))
    with pytest.raises(ValueError, match="by="):
        coll.update_state(t, p)  # grouped from the first batch to the next reset
    coll.reset_state()
    coll.update_state(t, p)
    with pytest.raises(ValueError, match="by="):
        coll.update_state(t, p, by=np.zeros(10, int))


@pytest.mark.parametrize("case", sorted(UNGROUPABLE))
def test_ungroupable_metrics_say_so(case, backend, rng):
    factory, data = CASES[case]
    t, p = data(rng)
    coll = mc.MetricCollection({case: factory(backend)})
    with pytest.raises(TypeError, match="by group"):
        coll.update_state(t, p, by=np.zeros(len(t), int))
    coll.update_state(t, p)  # still usable ungrouped
    assert coll.group_keys is None


def _with_exact(backend):
    coll = _binary_collection(backend)
    metrics = dict(coll.items())
    metrics["exact_auroc"] = mc.AUROC(task="binary", backend=backend)
    metrics["exact_ap"] = mc.AveragePrecision(task="binary", backend=backend)
    return mc.MetricCollection(metrics)


def test_exact_curves_by_group_merge_by_key(backend, rng):
    n = 3000
    t, p, w = rng.integers(0, 2, n), rng.random(n).astype(np.float32), rng.random(n)
    keys = rng.integers(0, 6, n)
    whole, a, b = _with_exact(backend), _with_exact(backend), _with_exact(backend)
    half = n // 2
    whole.update_state(t, p, w, by=keys)
    a.update_state(t[:half], p[:half], w[:half], by=keys[:half])
    b.update_state(t[half:], p[half:], w[half:], by=keys[half:] + 3)  # keys 3.. shared
    b_state = pickle.loads(pickle.dumps(b))
    expected = {}
    for name, metric in _with_exact(backend).items():
        expected[name] = _per_group_reference(lambda: metric.fresh(), t, p, keys, w)
        _assert_grouped_equal(whole.result()[name], expected[name], name)
    a.merge_state(b_state)
    merged = a.result()["exact_auroc"]
    assert sorted(merged) == list(range(9))
    for key in (0, 1, 2, 6, 7, 8):
        rows = (np.arange(n) < half) & (keys == key) if key < 3 else (
            (np.arange(n) >= half) & (keys + 3 == key))
        m = mc.AUROC(task="binary", backend=backend)
        m.update_state(t[rows], p[rows], w[rows])
        assert _same(merged[key], m.result()), key


def test_grouped_state_saves_and_loads(backend, rng, tmp_path):
    n = 1000
    t, p = rng.integers(0, 2, n), rng.random(n)
    keys = np.array(["a", "b", "c"])[rng.integers(0, 3, n)]
    coll = _with_exact(backend)
    coll.update_state(t, p, by=keys)
    path = tmp_path / "state.npz"
    coll.save_state(path)
    loaded = mc.load(path)
    assert isinstance(loaded, mc.MetricCollection) and loaded.group_keys == ["a", "b", "c"]
    got, expected = loaded.result(), coll.result()
    for name in expected:
        _assert_grouped_equal(got[name], expected[name], name)
    # loaded states keep accumulating and merging by key
    loaded.update_state(t[:10], p[:10], by=np.array(["z"] * 10))
    assert loaded.group_keys == ["a", "b", "c", "z"]
