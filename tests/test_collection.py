"""MetricCollection: fused results equal the metrics updated one by one, one kernel pass per
group of compatible metrics, atomic updates, and the lifecycle on the whole collection."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import metricore as mc
from metricore import _dispatch
from conftest import batches


def _members(backend):
    return {
        "acc": mc.BinaryAccuracy(backend=backend),
        "precision": mc.Precision(backend=backend),
        "recall": mc.Recall(backend=backend),
        "f1": mc.F1Score(threshold=0.5, backend=backend),
        "auc": mc.AUC(backend=backend),
        "pr_auc": mc.AUC(curve="PR", num_thresholds=1000, backend=backend),
        "p_at_r": mc.PrecisionAtRecall(0.5, backend=backend),
        "ece": mc.CalibrationError(backend=backend),
        "tp": mc.TruePositives(thresholds=[0.3, 0.6], backend=backend),
        "auroc": mc.AUROC(thresholds=100, backend=backend),
        "exact": mc.AUC(num_thresholds=None, backend=backend),  # not fusable: own update
        "mse": mc.MeanSquaredError(backend=backend),  # another family
    }


def _equal(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True)


class _Counting:
    """Wraps a backend, counting score_histogram calls."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0

    def score_histogram(self, *args):
        self.calls += 1
        return self.inner.score_histogram(*args)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.parametrize("weighted", [False, True, "mixed"])
def test_fused_results_equal_separate_metrics(backend, rng, weighted):
    n = 3000
    y = rng.integers(0, 2, (n, 1))
    s = rng.random((n, 1)).astype(np.float32)
    w = rng.random(n)
    fused = mc.MetricCollection(_members(backend))
    separate = _members(backend)
    for k, sl in enumerate(batches(n, rng)):
        use = w[sl] if weighted is True or (weighted == "mixed" and k % 2) else None
        fused.update_state(y[sl], s[sl], use)
        for m in separate.values():
            m.update_state(y[sl], s[sl], sample_weight=use)
    result = fused.result()
    assert list(result) == list(separate)
    for name, m in separate.items():
        assert _equal(result[name], m.result()), name
    # the non-fusable ones ran on their own, the rest shared one group
    groups = fused._groups
    assert len(groups) == 1 and set(groups[0].members) == set(separate) - {"exact", "mse"}


def test_one_histogram_pass_per_batch(backend, rng, monkeypatch):
    counting = _Counting(_dispatch.cpu_backend(backend))
    monkeypatch.setitem(_dispatch._backends, backend, counting)
    members = {k: v for k, v in _members(backend).items() if k not in ("exact", "mse")}
    c = mc.MetricCollection(members)
    y, s = rng.integers(0, 2, (100, 1)), rng.random((100, 1))
    for _ in range(5):
        c.update_state(y, s)
    assert counting.calls == 5
    c.result()
    unfused = mc.MetricCollection(_members(backend), fuse=False)
    counting.calls = 0
    unfused.update_state(y, s)
    assert counting.calls == 6  # every curve metric on its own (exact mode validates too)


def test_groups_follow_how_inputs_are_read(backend, rng):
    c = mc.MetricCollection({
        "auc": mc.AUC(backend=backend),
        "p": mc.Precision(backend=backend),
        "p1": mc.Precision(class_id=1, backend=backend),
        "r1": mc.Recall(class_id=1, backend=backend),
        "ml": mc.AUC(multi_label=True, backend=backend),
        "f1": mc.F1Score(threshold=0.4, backend=backend),
        "topk": mc.Precision(top_k=1, backend=backend),
        "logits": mc.AUC(from_logits=True, backend=backend),
    })
    y = rng.integers(0, 2, (500, 3))
    s = rng.random((500, 3))
    w = rng.random(500)
    c.update_state(y, s, w)
    keys = sorted(tuple(sorted(g.members)) for g in c._groups)
    assert keys == [("auc", "p"), ("f1", "ml"), ("p1", "r1")]
    assert sorted(c._solo) == ["logits", "topk"]
    res = c.result()
    for name, m in {"auc": mc.AUC(backend=backend), "p": mc.Precision(backend=backend),
                    "p1": mc.Precision(class_id=1, backend=backend),
                    "ml": mc.AUC(multi_label=True, backend=backend),
                    "f1": mc.F1Score(threshold=0.4, backend=backend)}.items():
        m.update_state(y, s, w)
        assert _equal(res[name], m.result()), name


def test_failed_update_leaves_every_state_unchanged(backend, rng):
    c = mc.MetricCollection(_members(backend))
    y, s = rng.integers(0, 2, (50, 1)), rng.random((50, 1))
    c.update_state(y, s)
    before = {k: {n: a.tobytes() for n, a in st.items()} for k, st in c.state.items()}
    bad_y = y.copy()
    bad_y[7] = 3
    with pytest.raises(ValueError, match="binary"):
        c.update_state(bad_y, s)
    bad_s = s.copy()
    bad_s[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        c.update_state(y, bad_s)
    with pytest.raises(ValueError, match="sample_weight"):
        c.update_state(y, s, np.r_[np.ones(49), np.inf])
    after = {k: {n: a.tobytes() for n, a in st.items()} for k, st in c.state.items()}
    assert after == before


def test_lazy_member_state_is_undone_too(backend, rng):
    c = mc.MetricCollection([mc.AUC(multi_label=True, backend=backend),
                             mc.F1Score(threshold=0.5, backend=backend)])
    with pytest.raises(ValueError):
        c.update_state([[0, 2]], [[0.1, 0.2]])
    assert all(not st for st in c.state.values()) or all(
        not m._built for m in c.values() if isinstance(m, mc.AUC))


def test_merge_reset_config_copy_call(backend, rng):
    y, s = rng.integers(0, 2, (400, 1)), rng.random((400, 1))
    whole = mc.MetricCollection(_members(backend), prefix="val_")
    whole.update_state(y, s)
    a = mc.MetricCollection(_members(backend), prefix="val_")
    b = mc.MetricCollection(_members(backend), prefix="val_")
    a.update_state(y[:150], s[:150])
    b.update_state(y[150:], s[150:])
    a.merge_state(b)
    expected = whole.result()
    assert all(k.startswith("val_") for k in expected)
    for k, v in a.result().items():
        assert _equal(v, expected[k]), k
    for clone in (copy.deepcopy(whole), pickle.loads(pickle.dumps(whole))):
        for k, v in clone.result().items():
            assert _equal(v, expected[k]), k
        clone.update_state(y, s)
    rebuilt = mc.MetricCollection.from_config(whole.get_config())
    rebuilt.load_state(whole.state)
    for k, v in rebuilt.result().items():
        assert _equal(v, expected[k]), k
    # __call__: the batch's own values, and the state accumulates
    c = mc.MetricCollection(_members(backend))
    c.update_state(y[:200], s[:200])
    batch_values = c(y[200:], s[200:])
    alone = mc.MetricCollection(_members(backend))
    alone.update_state(y[200:], s[200:])
    for k, v in alone.result().items():
        assert _equal(batch_values[k], v), k
    for k, v in c.result().items():
        assert _equal(v, expected["val_" + k]), k
    c.reset_state()
    fresh = mc.MetricCollection(_members(backend))
    with pytest.warns(mc.UndefinedMetricWarning):
        r1, r2 = c.result(), fresh.result()
    for k in r1:
        assert _equal(r1[k], r2[k]), k


def test_members_read_through_the_collection_are_current(backend, rng):
    c = mc.MetricCollection([mc.AUC(backend=backend), mc.Precision(backend=backend)])
    y, s = rng.integers(0, 2, 100), rng.random(100)
    c.update_state(y, s)
    auc = mc.AUC(backend=backend)
    auc.update_state(y, s)
    assert c["auc"].result() == auc.result()
    assert dict(c.items())["precision"].result() == c.result()["precision"]


def test_bad_collections():
    with pytest.raises(ValueError, match="named"):
        mc.MetricCollection([mc.AUC(), mc.AUC()])
    with pytest.raises(TypeError):
        mc.MetricCollection([mc.AUC(), "auc"])
    with pytest.raises(ValueError, match="at least one"):
        mc.MetricCollection([])
    a = mc.MetricCollection([mc.AUC()])
    with pytest.raises(ValueError, match="same metric names"):
        a.merge_state(mc.MetricCollection([mc.Precision()]))
