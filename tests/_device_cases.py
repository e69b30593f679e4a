"""Data and metric cases shared by the GPU metric tests (test_cuda_metrics.py, real CuPy)
and their host emulation (test_device_path.py, tests/_fake_cupy.py)."""

import warnings

import numpy as np

import metricore as mc

C = 5  # classes
L = 3  # labels


def batches(kind, seed, n=700, count=3, weighted=True):
    """``count`` host batches (y_true, y_pred, sample_weight) of a data kind."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        w = rng.random(n) if weighted else None
        if kind == "binary":
            t = (rng.random((n, 1)) < 0.4).astype(np.int8)
            p = rng.random((n, 1)).astype(np.float32)
            p[rng.random((n, 1)) < 0.05] = 0.5  # ties with the default threshold
        elif kind == "multilabel":
            t = (rng.random((n, L)) < 0.4).astype(np.float32)
            p = rng.random((n, L)).astype(np.float32)
        elif kind == "ids":
            t = rng.integers(0, C, n).astype(np.int32)
            p = rng.dirichlet(np.ones(C), n).astype(np.float32)
        elif kind == "onehot":
            t = np.eye(C, dtype=np.float32)[rng.integers(0, C, n)]
            p = rng.dirichlet(np.ones(C), n).astype(np.float32)
        elif kind == "id_pairs":
            t = rng.integers(0, C, n).astype(np.int64)
            p = rng.integers(0, C, n).astype(np.int64)
        elif kind == "regression":
            t = rng.random((n, 2)) + 0.1
            p = (rng.random((n, 2)) + 0.1).astype(np.float32)
        elif kind == "values":
            t, p = None, rng.random(n)
        else:  # pragma: no cover
            raise ValueError(kind)
        out.append((t, p, w))
    return out


# (id, factory, data kind)
CASES = [
    ("BinaryAccuracy", lambda: mc.BinaryAccuracy(), "binary"),
    ("Precision", lambda: mc.Precision(), "binary"),
    ("Recall", lambda: mc.Recall(), "binary"),
    ("TruePositives", lambda: mc.TruePositives(), "binary"),
    ("FalsePositives", lambda: mc.FalsePositives(thresholds=[0.2, 0.5, 0.8]), "binary"),
    ("TrueNegatives", lambda: mc.TrueNegatives(), "binary"),
    ("FalseNegatives", lambda: mc.FalseNegatives(), "binary"),
    ("Precision-thresholds", lambda: mc.Precision(thresholds=[0.3, 0.5, 0.7]), "binary"),
    ("Recall-top_k", lambda: mc.Recall(top_k=2), "multilabel"),
    ("Precision-class_id", lambda: mc.Precision(class_id=1), "multilabel"),
    ("AUC", lambda: mc.AUC(), "binary"),
    ("AUC-65536", lambda: mc.AUC(num_thresholds=65536), "binary"),
    ("AUC-PR", lambda: mc.AUC(curve="PR"), "binary"),
    ("AUC-multilabel", lambda: mc.AUC(multi_label=True, num_labels=L), "multilabel"),
    ("PrecisionAtRecall", lambda: mc.PrecisionAtRecall(0.5), "binary"),
    ("SensitivityAtSpecificity", lambda: mc.SensitivityAtSpecificity(0.5), "binary"),
    ("SpecificityAtSensitivity", lambda: mc.SpecificityAtSensitivity(0.5), "binary"),
    ("RecallAtPrecision", lambda: mc.RecallAtPrecision(0.5), "binary"),
    ("CalibrationError", lambda: mc.CalibrationError(), "binary"),
    ("F1Score-macro", lambda: mc.F1Score(average="macro", threshold=0.5), "multilabel"),
    ("FBetaScore-argmax", lambda: mc.FBetaScore(beta=2.0), "onehot"),
    ("SparseCategoricalAccuracy", lambda: mc.SparseCategoricalAccuracy(), "ids"),
    ("SparseTopKCategoricalAccuracy", lambda: mc.SparseTopKCategoricalAccuracy(k=2), "ids"),
    ("CategoricalAccuracy", lambda: mc.CategoricalAccuracy(), "onehot"),
    ("TopKCategoricalAccuracy", lambda: mc.TopKCategoricalAccuracy(k=3), "onehot"),
    ("ConfusionMatrix", lambda: mc.ConfusionMatrix(C), "id_pairs"),
    ("MeanIoU", lambda: mc.MeanIoU(C), "id_pairs"),
    ("MeanSquaredError", lambda: mc.MeanSquaredError(), "regression"),
    ("MeanAbsoluteError", lambda: mc.MeanAbsoluteError(), "regression"),
    ("RootMeanSquaredError", lambda: mc.RootMeanSquaredError(), "regression"),
    ("MeanAbsolutePercentageError", lambda: mc.MeanAbsolutePercentageError(), "regression"),
    ("MeanSquaredLogarithmicError", lambda: mc.MeanSquaredLogarithmicError(), "regression"),
    ("LogCoshError", lambda: mc.LogCoshError(), "regression"),
    ("CosineSimilarity", lambda: mc.CosineSimilarity(), "regression"),
    ("Mean", lambda: mc.Mean(), "values"),
    ("Sum", lambda: mc.Sum(), "values"),
]


def update(metric, batch, to_device):
    t, p, w = (None if a is None else to_device(a) for a in batch)
    if t is None:
        metric.update_state(p, sample_weight=w)
    else:
        metric.update_state(t, p, sample_weight=w)


def host_array(x):
    if hasattr(x, "get"):
        return x.get()
    if type(x).__module__.startswith("torch"):
        return x.cpu().numpy()
    return np.asarray(x)


def assert_same(got, want):
    got, want = host_array(got), np.asarray(want)
    assert got.shape == want.shape
    if want.dtype.kind in "iub":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def run_pair(factory, kind, weighted, to_device, seed=0):
    data = batches(kind, seed, weighted=weighted)
    host, dev = factory(), factory()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b in data:
            update(host, b, np.asarray)
            update(dev, b, to_device)
        return host, dev, host.result(), dev.result()


# ---------------------------------------------------------------------------------------------
# Checks run twice: with real CuPy on a GPU (test_cuda_metrics.py) and with the emulated CuPy
# of _fake_cupy.py in CI (test_device_path.py). ``cp`` is the module in use.
def cupy_or_skip(what):
    """CuPy with at least one CUDA device, or the calling test module skipped."""
    import pytest

    cp = pytest.importorskip("cupy", reason=f"{what} need CuPy")
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception:  # no driver, or no device: CuPy raises CUDARuntimeError
        count = 0
    if count == 0:
        pytest.skip("no CUDA device visible to CuPy", allow_module_level=True)
    return cp


def check_deferred_sticky_errors(cp):
    """A bad batch raises nothing in update_state; check() and result() raise it, the state
    stays as before it (later batches too: sticky), and reset_state() clears it."""
    import pytest

    good, bad = batches("binary", 4, count=2)
    bad_p = bad[1].copy()
    bad_p[7, 0] = np.nan
    m, ref = mc.Precision(), mc.Precision()
    update(m, good, cp.asarray)
    update(ref, good, np.asarray)
    before = m.state["confusion"].get()
    m.update_state(cp.asarray(bad[0]), cp.asarray(bad_p))  # no exception: nothing waits
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


def check_state_never_mixes_places(cp):
    import pytest

    b = batches("binary", 6, count=1)[0]
    m = mc.Recall()
    update(m, b, np.asarray)
    with pytest.raises(ValueError, match="state is on the host but this batch is on cuda:0"):
        update(m, b, cp.asarray)
    m.reset_state()  # a fresh state may go anywhere
    update(m, b, cp.asarray)
    with pytest.raises(ValueError, match="state is on cuda:0 but this batch is on the host"):
        update(m, b, np.asarray)
    with pytest.raises(ValueError, match="one device: argument 0 is on cuda:0 and argument 1"):
        m.update_state(cp.asarray(b[0]), b[1])
    m.reset_state()  # back to the host
    update(m, b, np.asarray)
    assert m._device is None and isinstance(m.result(), np.floating)


def check_metrics_without_a_cuda_path_refuse(cp):
    import pytest

    b = batches("binary", 7, count=1)[0]
    for m in (mc.AUC(num_thresholds=None), mc.MeanMetricWrapper(lambda t, p: p),
              mc.R2Score()):
        with pytest.raises(mc.DeviceArrayError, match="has no CUDA path"):
            m.update_state(cp.asarray(b[0]), cp.asarray(b[1]))
        assert m._pristine  # nothing changed


def check_collection(cp):
    """Device batches update every member on the device; refusals come before any update."""
    import pytest

    data = batches("binary", 8)

    def make():
        return mc.MetricCollection([mc.BinaryAccuracy(), mc.Precision(), mc.Recall(),
                                    mc.F1Score(threshold=0.5), mc.AUC()])

    host, dev = make(), make()
    for t, p, w in data:
        host.update_state(t, p, sample_weight=w)
        dev.update_state(cp.asarray(t), cp.asarray(p), sample_weight=cp.asarray(w))
    want, got = host.result(), dev.result()
    assert set(got) == set(want)
    for name in want:
        assert isinstance(got[name], cp.ndarray)
        assert_same(got[name], want[name])
    with pytest.raises(ValueError, match="by="):
        dev.update_state(cp.asarray(data[0][0]), cp.asarray(data[0][1]), by=np.zeros(700))
    refusing = mc.MetricCollection([mc.Precision(), mc.AUC(num_thresholds=None)])
    with pytest.raises(mc.DeviceArrayError, match="no CUDA path"):
        refusing.update_state(cp.asarray(data[0][0]), cp.asarray(data[0][1]))
    assert all(m._pristine for m in refusing._metrics.values())  # checked before any update
