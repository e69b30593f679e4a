"""States that travel: ``metric.save(path)``, ``metricore.load(path)``, collections'
``save_state``/``load_state``, and the clear errors for files of another metric, another
configuration or another format version."""

import json

import numpy as np
import pytest

import metricore as mc
from metricore import saving
from test_lifecycle import CASES, _same, _states_equal

SAVABLE = sorted(c for c in CASES if "Wrapper" not in c)  # wrappers hold a Python function


@pytest.mark.parametrize("case", SAVABLE)
def test_save_load_round_trip(case, backend, rng, tmp_path):
    factory, data = CASES[case]
    m = factory(backend)
    m.update_state(*data(rng))
    m.update_state(*data(rng))
    path = tmp_path / "m.npz"
    m.save(path)
    loaded = mc.load(path)
    assert type(loaded) is type(m) and loaded.get_config() == m.get_config()
    assert _states_equal(loaded, m), case  # same arrays, same dtypes (int64 counts stay exact)
    assert _same(loaded.result(), m.result()), case
    into = factory(backend)
    into.load_state(path)  # a path works wherever a state mapping does
    assert _same(into.result(), m.result()), case
    batch = data(rng)  # a loaded state goes on accumulating like the original
    loaded.update_state(*batch)
    m.update_state(*batch)
    assert _same(loaded.result(), m.result()), case


def test_no_pickle_in_the_file(tmp_path, rng):
    m = mc.AUC()
    m.update_state(rng.integers(0, 2, 50), rng.random(50))
    path = tmp_path / "auc.npz"
    m.save(path)
    with np.load(path, allow_pickle=False) as z:  # loads without pickle
        meta = json.loads(str(z["__metricore__"]))
    assert meta["format_version"] == saving.FORMAT_VERSION
    assert meta["class_name"] == "AUC" and meta["config"]["num_thresholds"] == 200


def test_loading_another_metric_or_config_fails_clearly(tmp_path, rng):
    path = tmp_path / "precision.npz"
    m = mc.Precision(thresholds=[0.3, 0.5])
    m.update_state(rng.integers(0, 2, 20), rng.random(20))
    m.save(path)
    with pytest.raises(ValueError, match="Precision.*cannot load it into Recall"):
        mc.Recall().load_state(path)
    with pytest.raises(ValueError, match="configured"):
        mc.Precision(thresholds=[0.5]).load_state(path)
    with pytest.raises(ValueError, match="not of a MetricCollection"):
        mc.MetricCollection([mc.Precision()]).load_state(path)


def test_other_format_versions_and_other_files_fail_clearly(tmp_path):
    path = tmp_path / "m.npz"
    mc.Mean().save(path)
    with np.load(path) as z:
        arrays = dict(z)
    meta = json.loads(str(arrays["__metricore__"]))
    meta["format_version"] = 99
    arrays["__metricore__"] = np.array(json.dumps(meta))
    future = tmp_path / "future.npz"
    with open(future, "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(ValueError, match="version 99"):
        mc.load(future)
    plain = tmp_path / "plain.npz"
    with open(plain, "wb") as f:
        np.savez(f, x=np.zeros(3))
    with pytest.raises(ValueError, match="not a metricore state file"):
        mc.load(plain)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="cannot read"):
        mc.load(junk)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="cannot read"):
        mc.load(truncated)


def test_function_wrappers_refuse_to_save(tmp_path):
    m = mc.MeanMetricWrapper(lambda t, p: np.abs(t - p))
    with pytest.raises(TypeError, match="function"):
        m.save(tmp_path / "w.npz")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_collection_round_trip_and_config_check(backend, rng, tmp_path):
    coll = mc.MetricCollection({"acc": mc.BinaryAccuracy(backend=backend),
                                "auc": mc.AUC(backend=backend),
                                "mse": mc.MeanSquaredError(backend=backend)})
    t, p = rng.integers(0, 2, 300), rng.random(300)
    coll.update_state(t, p)
    path = tmp_path / "c.npz"
    coll.save_state(path)
    loaded = mc.load(path)
    assert list(loaded.keys()) == ["acc", "auc", "mse"]
    for name, value in coll.result().items():
        assert _same(loaded.result()[name], value)
    other = mc.MetricCollection({"acc": mc.BinaryAccuracy(threshold=0.7), "auc": mc.AUC(),
                                 "mse": mc.MeanSquaredError()})
    with pytest.raises(ValueError, match="collection of"):
        other.load_state(path)
    same = mc.MetricCollection({"acc": mc.BinaryAccuracy(), "auc": mc.AUC(), "mse": mc.MeanSquaredError()})
    same.load_state(path)
    assert _same(same.result()["auc"], coll.result()["auc"])
