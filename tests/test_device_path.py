"""The metric layer's device path on any machine: CuPy and the CUDA backend emulated.

``_fake_cupy`` stands in for CuPy (arrays that say they are CuPy's) and for the CUDA
backend (the NumPy reference kernels with the device's deferred, sticky error record), so
the code that places state, defers errors to ``check()``, returns results in the batches'
kind, and routes collections and merges runs here, in CI. The real kernels and CuPy are
tested by ``test_cuda_backend.py`` and ``test_cuda_metrics.py`` on a GPU (``-m cuda``).
"""

import numpy as np
import pytest

import metricore as mc
from _device_cases import (CASES, assert_same, batches, check_collection,
                           check_deferred_sticky_errors,
                           check_metrics_without_a_cuda_path_refuse,
                           check_state_never_mixes_places, run_pair, update)
from _fake_cupy import FakeArray, installed


@pytest.fixture
def cp(monkeypatch):
    with installed(monkeypatch) as module:
        yield module


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_device_path_matches_the_host(cp, case, weighted):
    _, factory, kind = case
    host, dev, want, got = run_pair(factory, kind, weighted, cp.asarray)
    assert type(got) is FakeArray  # a device array, in the batches' kind
    assert dev._device is not None and host._device is None
    assert_same(got, want)
    for name, value in dev.state.items():
        assert type(value) is FakeArray
        assert_same(value, host.state[name])


def test_errors_are_deferred_to_check_and_sticky(cp):
    check_deferred_sticky_errors(cp)


def test_state_never_mixes_places(cp):
    check_state_never_mixes_places(cp)


def test_metrics_without_a_cuda_path_refuse_device_arrays(cp):
    check_metrics_without_a_cuda_path_refuse(cp)


def test_collection_routes_device_batches_metric_by_metric(cp):
    check_collection(cp)


def test_merge_forward_save_and_load_on_the_device(cp, tmp_path):
    data = batches("binary", 9, count=4)
    host = mc.AUC(num_thresholds=500)
    shards = [mc.AUC(num_thresholds=500) for _ in range(2)]
    for i, b in enumerate(data):
        update(host, b, np.asarray)
        update(shards[i % 2], b, cp.asarray)
    merged = mc.AUC(num_thresholds=500)  # pristine: takes the shards' device
    merged.merge_state(shards)
    assert merged._device is not None
    assert_same(merged.result(), host.result())
    with pytest.raises(ValueError, match="another device"):
        host.merge_state(shards[0])
    # torchmetrics' forward: the batch's own value, and the state grows
    m = mc.Precision()
    value = m(cp.asarray(data[0][0]), cp.asarray(data[0][1]))
    ref = mc.Precision()
    update(ref, (data[0][0], data[0][1], None), np.asarray)
    assert type(value) is FakeArray and m._device is not None
    assert_same(value, ref.result())
    # saving copies the state to the host; loading into a device metric keeps it there
    path = tmp_path / "auc.npz"
    merged.save(path)
    again = mc.AUC(num_thresholds=500)
    update(again, data[0], cp.asarray)
    again.load_state(path)
    assert type(again.state["histogram"]) is FakeArray
    assert_same(again.result(), host.result())


def test_device_metrics_pickle_and_go_on(cp):
    import pickle

    data = batches("binary", 10, count=3)
    m, ref = mc.AUC(num_thresholds=300), mc.AUC(num_thresholds=300)
    for b in data[:2]:
        update(m, b, cp.asarray)
        update(ref, b, np.asarray)
    again = pickle.loads(pickle.dumps(m))
    assert again._device is not None and again._workspace is not None
    update(again, data[2], cp.asarray)
    update(ref, data[2], np.asarray)
    assert type(again.result()) is FakeArray
    assert_same(again.result(), ref.result())
