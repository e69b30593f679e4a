"""Metrics with state on a GPU (``pytest -m cuda``): same numbers as on the host.

Every metric with a CUDA path is updated batch by batch with CuPy arrays (and some with CUDA
torch tensors) and compared with the same metric updated with the same batches as NumPy
arrays: counts exactly, float sums to rounding. Also: errors are recorded on the device and
raised by ``check()`` / ``result()`` with the state left as before the failing batch; state
never mixes places; a loop of metric updates captures in a CUDA graph (no host sync);
merges, collections, and metrics without a CUDA path refusing device input clearly.
Skips as a whole without CuPy or a CUDA device.
"""

import numpy as np
import pytest

import metricore as mc

from _device_cases import (C, CASES, assert_same, batches, check_collection,
                           check_deferred_sticky_errors,
                           check_metrics_without_a_cuda_path_refuse,
                           check_state_never_mixes_places, cupy_or_skip, run_pair, update)

pytestmark = pytest.mark.cuda
cp = cupy_or_skip("the CUDA metric tests")


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_metric_on_gpu_matches_the_host(case, weighted):
    _, factory, kind = case
    host, dev, want, got = run_pair(factory, kind, weighted, cp.asarray)
    assert isinstance(got, cp.ndarray) and got.device.id == 0, type(got)
    assert_same(got, want)
    for name, value in dev.state.items():  # the state itself: counts exact
        assert isinstance(value, cp.ndarray)
        assert_same(value, host.state[name])


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in
                                  ("Precision", "AUC", "SparseCategoricalAccuracy",
                                   "MeanSquaredError", "ConfusionMatrix")], ids=lambda c: c[0])
def test_torch_tensors_stay_torch_on_the_gpu(case):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    _, factory, kind = case
    host, dev, want, got = run_pair(factory, kind, True,
                                    lambda a: torch.as_tensor(a, device="cuda"))
    assert isinstance(got, torch.Tensor) and got.is_cuda
    assert_same(got, want)


def test_merge_of_gpu_shards_equals_one_host_metric():
    data = batches("binary", 3, count=4)
    host, shards = mc.AUC(num_thresholds=1000), [mc.AUC(num_thresholds=1000) for _ in range(2)]
    for i, b in enumerate(data):
        update(host, b, np.asarray)
        update(shards[i % 2], b, cp.asarray)
    shards[0].merge_state(shards[1])
    assert_same(shards[0].result(), host.result())


def test_errors_are_recorded_on_the_device_and_raised_by_check():
    check_deferred_sticky_errors(cp)


def test_label_and_weight_errors_name_their_argument():
    t, p, w = batches("ids", 5, count=1)[0]
    t = t.copy()
    t[3] = C + 2
    m = mc.SparseCategoricalAccuracy()
    m.update_state(cp.asarray(t), cp.asarray(p))
    with pytest.raises(ValueError, match=r"y_true .*index \(3"):
        m.check()
    w = w.copy()
    w[9] = np.inf
    m = mc.MeanSquaredError()
    tr, pr, _ = batches("regression", 5, count=1)[0]
    m.update_state(cp.asarray(tr), cp.asarray(pr), sample_weight=cp.asarray(w))
    with pytest.raises(ValueError, match=r"sample_weight .*index \(9"):
        m.result()


def test_state_never_mixes_places():
    check_state_never_mixes_places(cp)


def test_metrics_without_a_cuda_path_refuse_device_arrays():
    check_metrics_without_a_cuda_path_refuse(cp)


def test_collection_on_the_gpu():
    check_collection(cp)


def test_a_loop_of_metric_updates_captures_in_a_cuda_graph():
    """Stream capture fails on any synchronizing call: update_state never waits."""
    cases = {"Precision": ("binary", mc.Precision), "AUC": ("binary", mc.AUC),
             "SparseCategoricalAccuracy": ("ids", mc.SparseCategoricalAccuracy),
             "MeanSquaredError": ("regression", mc.MeanSquaredError)}
    stream = cp.cuda.Stream(non_blocking=True)
    for name, (kind, cls) in cases.items():
        (t, p, w), = batches(kind, 9, count=1)
        host, dev = cls(), cls()
        with stream:
            dt, dp, dw = cp.asarray(t), cp.asarray(p), cp.asarray(w)
            dev.update_state(dt, dp, sample_weight=dw)  # places the state, compiles
            stream.synchronize()
            stream.begin_capture()
            for _ in range(3):
                dev.update_state(dt, dp, sample_weight=dw)
            graph = stream.end_capture()
            graph.launch()
            stream.synchronize()
        for _ in range(4):
            host.update_state(t, p, sample_weight=w)
        assert_same(dev.result(), host.result())
