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
from _device_cases import CASES, assert_same, batches, run_pair, update
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
    good, bad = batches("binary", 4, count=2)
    bad_p = bad[1].copy()
    bad_p[7, 0] = np.nan
    m, ref = mc.Precision(), mc.Precision()
    update(m, good, cp.asarray)
    update(ref, good, np.asarray)
    before = m.state["confusion"].get()
    m.update_state(cp.asarray(bad[0]), cp.asarray(bad_p))  # no exception here
    m.update_state(cp.asarray(good[0]), cp.asarray(good[1]))  # validated, not added
    with pytest.raises(ValueError, match=r"NaN; found one at index \(7, 0\) of a batch"):
        m.check()
    with pytest.raises(ValueError, match="NaN"):
        m.result()
    np.testing.assert_array_equal(m.state["confusion"].get(), before)
    m.reset_state()
    update(m, good, cp.asarray)
    m.check()
    assert_same(m.result(), ref.result())


def test_state_never_mixes_places(cp):
    b = batches("binary", 6, count=1)[0]
    m = mc.Recall()
    update(m, b, np.asarray)
    with pytest.raises(ValueError, match="state is on the host but this batch is on cuda:0"):
        update(m, b, cp.asarray)
    m.reset_state()
    update(m, b, cp.asarray)
    with pytest.raises(ValueError, match="state is on cuda:0 but this batch is on the host"):
        update(m, b, np.asarray)
    with pytest.raises(ValueError, match="one device: argument 0 is on cuda:0 and argument 1"):
        m.update_state(cp.asarray(b[0]), b[1])
    m.reset_state()  # back to the host
    update(m, b, np.asarray)
    assert m._device is None and isinstance(m.result(), np.floating)


def test_metrics_without_a_cuda_path_refuse_device_arrays(cp):
    b = batches("binary", 7, count=1)[0]
    for m in (mc.AUC(num_thresholds=None), mc.MeanMetricWrapper(lambda t, p: p),
              mc.R2Score()):
        with pytest.raises(mc.DeviceArrayError, match="has no CUDA path"):
            m.update_state(cp.asarray(b[0]), cp.asarray(b[1]))
        assert m._pristine  # nothing changed


def test_collection_routes_device_batches_metric_by_metric(cp):
    data = batches("binary", 8)

    def make():
        return mc.MetricCollection([mc.BinaryAccuracy(), mc.Precision(), mc.AUC()])

    host, dev = make(), make()
    for t, p, w in data:
        host.update_state(t, p, sample_weight=w)
        dev.update_state(cp.asarray(t), cp.asarray(p), sample_weight=cp.asarray(w))
    want, got = host.result(), dev.result()
    for name in want:
        assert type(got[name]) is FakeArray
        assert_same(got[name], want[name])
    with pytest.raises(ValueError, match="by="):
        dev.update_state(cp.asarray(data[0][0]), cp.asarray(data[0][1]), by=np.zeros(700))
    refusing = mc.MetricCollection([mc.Precision(), mc.AUC(num_thresholds=None)])
    with pytest.raises(mc.DeviceArrayError, match="no CUDA path"):
        refusing.update_state(cp.asarray(data[0][0]), cp.asarray(data[0][1]))
    assert all(m._pristine for m in refusing._metrics.values())  # checked before any update


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
