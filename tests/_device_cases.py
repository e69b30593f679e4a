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
