"""Curve metrics against their references, on every CPU backend: scikit-learn (exact AUROC,
average precision, curves, multiclass/multilabel averages), Keras' documented numbers and
definitions (binned AUC and the *At* metrics; Keras itself is compared in the ``keras``
suite below), torchmetrics (binned AUROC/AP on its grid, calibration error); random data,
ties, batch splits and merges; edge cases and bad input.
"""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

import metricore as mc
from _reference import feed, split3
from conftest import batches

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _binary(rng, n, ties=False, dtype=np.float32):
    y = rng.integers(0, 2, n)
    s = rng.random(n)
    if ties:
        s = np.round(s, 2)
    return y, s.astype(dtype)


def _run(metric, arrays, rng, sizes=(1, 7, 32, 1000)):
    return feed(metric, arrays, batches(len(arrays[0]), rng, sizes))


# ------------------------------------------------------------------ exact mode vs sklearn
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_auroc_and_ap_equal_sklearn(backend, rng, ties, weighted, dtype):
    y, s = _binary(rng, 3000, ties, dtype)
    w = rng.random(3000) * (rng.random(3000) > 0.1) if weighted else None
    roc = _run(mc.AUC(num_thresholds=None, backend=backend), (y, s, w), rng)
    pr = _run(mc.AUC(num_thresholds=None, curve="PR", backend=backend), (y, s, w), rng)
    ap = _run(mc.AveragePrecision(backend=backend), (y, s, w), rng)
    auroc = _run(mc.AUROC(backend=backend), (y, s, w), rng)
    expected_roc = sklearn_metrics.roc_auc_score(y, s, sample_weight=w)
    expected_ap = sklearn_metrics.average_precision_score(y, s, sample_weight=w)
    assert abs(roc.result() - expected_roc) < 1e-12
    assert abs(auroc.result() - expected_roc) < 1e-12
    assert abs(pr.result() - expected_ap) < 1e-12
    assert abs(ap.result() - expected_ap) < 1e-12


def test_exact_curves_equal_sklearn_arrays(backend, rng):
    y, s = _binary(rng, 2000, ties=True)
    w = rng.random(2000)
    for weights in (None, w):
        m = _run(mc.AUC(num_thresholds=None, backend=backend), (y, s, weights), rng)
        for drop in (True, False):
            mine = m.roc_curve(drop_intermediate=drop)
            theirs = sklearn_metrics.roc_curve(y, s, sample_weight=weights, drop_intermediate=drop)
            for a, b in zip(mine, theirs):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
        mine = m.precision_recall_curve()
        theirs = sklearn_metrics.precision_recall_curve(y, s, sample_weight=weights)
        for a, b in zip(mine, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_exact_merge_equals_one_pass_and_state_is_compact(backend, rng):
    y, s = _binary(rng, 5000, ties=True)
    whole = mc.AUC(num_thresholds=None, backend=backend)
    whole.update_state(y, s)
    shards = []
    for sl in split3(5000, rng):
        shard = mc.AUC(num_thresholds=None, backend=backend)
        shard.update_state(y[sl], s[sl])
        shards.append(shard)
    merged = mc.AUC(num_thresholds=None, backend=backend)
    merged.merge_state(shards)
    assert merged.result() == whole.result()
    state = whole.state
    assert set(state) == {"scores", "labels"}  # no weights until a weighted batch
    assert state["scores"].dtype == np.float32 and state["scores"].shape == (5000, 1)
    assert state["labels"].dtype == np.uint8
    # a weighted batch adds unit weights for the rows already held
    whole.update_state([1, 0], [0.3, 0.2], sample_weight=[2.0, 0.5])
    assert whole.state["weights"].shape == (5002, 1)
    assert (whole.state["weights"][:5000] == 1).all()


def test_exact_appends_are_amortized_and_old_views_stay_valid(backend, rng):
    m = mc.AUC(num_thresholds=None, backend=backend)
    y, s = _binary(rng, 64)
    m.update_state(y[:32], s[:32])
    before = m.state["scores"]
    snapshot = before.copy()
    buffers = set()
    for i in range(200):
        m.update_state(y[32:], s[32:])
        buffers.add(id(m._buffers["scores"][0]))
    assert len(buffers) < 10  # geometric growth, not a copy per update
    np.testing.assert_array_equal(before, snapshot)
    clone = copy.deepcopy(m)
    clone.update_state(y, s)  # the clone appends into its own buffer
    assert m.state["scores"].shape[0] == 32 + 200 * 32
    assert clone.state["scores"].shape[0] == 32 + 201 * 32 + 32


@pytest.mark.parametrize("average", ["macro", "weighted", "micro", None])
def test_multilabel_auroc_and_ap_equal_sklearn(backend, rng, average):
    y = rng.integers(0, 2, (1500, 4))
    s = np.round(rng.random((1500, 4)), 3)
    for thresholds in (None,):
        auroc = _run(mc.AUROC(task="multilabel", num_labels=4, average=average,
                              thresholds=thresholds, backend=backend), (y, s), rng)
        ap = _run(mc.AveragePrecision(task="multilabel", num_labels=4, average=average,
                                      backend=backend), (y, s), rng)
        np.testing.assert_allclose(auroc.result(), sklearn_metrics.roc_auc_score(
            y, s, average=average), rtol=1e-12)
        np.testing.assert_allclose(ap.result(), sklearn_metrics.average_precision_score(
            y, s, average=average), rtol=1e-12)


@pytest.mark.parametrize("average", ["macro", "weighted", None])
def test_multiclass_ovr_auroc_equals_sklearn(backend, rng, average):
    c = 5
    y = rng.integers(0, c, 2000)
    p = rng.random((2000, c))
    p /= p.sum(axis=1, keepdims=True)
    m = _run(mc.AUROC(task="multiclass", num_classes=c, average=average, backend=backend),
             (y, p), rng)
    if average is None:
        expected = [sklearn_metrics.roc_auc_score(y == k, p[:, k]) for k in range(c)]
    else:
        expected = sklearn_metrics.roc_auc_score(y, p, multi_class="ovr", average=average)
    np.testing.assert_allclose(m.result(), expected, rtol=1e-12)


def test_multiclass_micro_is_the_one_hot_pool(backend, rng):
    c = 4
    y = rng.integers(0, c, 1000)
    p = rng.random((1000, c))
    m = _run(mc.AUROC(task="multiclass", num_classes=c, average="micro", backend=backend),
             (y, p), rng)
    onehot = np.eye(c)[y]
    assert abs(m.result() - sklearn_metrics.roc_auc_score(onehot.ravel(), p.ravel())) < 1e-12
    binned = _run(mc.AUROC(task="multiclass", num_classes=c, average="micro", thresholds=500,
                           backend=backend), (y, p), rng)
    assert abs(binned.result() - m.result()) < 5e-3


# ------------------------------------------------------------------ binned mode
def _direct_counts(y, s, thresholds, w=None):
    """TP, FP, TN, FN at each threshold by comparing every sample with every threshold."""
    w = np.ones(len(y)) if w is None else w
    pred = s[None, :].astype(np.float64) > thresholds[:, None]
    pos = y[None, :] == 1
    return [((a & b) * w).sum(axis=1) for a, b in
            ((pos, pred), (~pos, pred), (~pos, ~pred), (pos, ~pred))]


@pytest.mark.parametrize("num_thresholds", [2, 3, 200, 1000])
@pytest.mark.parametrize("weighted", [False, True])
def test_binned_counts_are_the_keras_counts(backend, rng, num_thresholds, weighted):
    y, s = _binary(rng, 2000, ties=True)
    s[:50] = 0.5  # scores on a threshold: strictly greater is positive
    s[50:60] = 0.0
    s[60:70] = 1.0
    w = rng.random(2000) if weighted else None
    m = _run(mc.AUC(num_thresholds=num_thresholds, backend=backend), (y, s, w), rng)
    thresholds = np.asarray(m.thresholds)
    assert thresholds[0] == -1e-7 and thresholds[-1] == 1 + 1e-7 and thresholds.size == num_thresholds
    expected = _direct_counts(y, s, thresholds, w)
    for mine, theirs in zip((m.true_positives, m.false_positives, m.true_negatives,
                             m.false_negatives), expected):
        if weighted:
            np.testing.assert_allclose(mine, theirs, rtol=1e-12)
        else:
            assert mine.dtype == np.int64
            np.testing.assert_array_equal(mine, theirs)


def test_keras_documented_values(backend):
    y, s = [0, 0, 1, 1], [0, 0.5, 0.3, 0.9]
    cases = [
        (lambda: mc.AUC(num_thresholds=3, backend=backend), y, s, None, 0.75),
        (lambda: mc.AUC(num_thresholds=3, backend=backend), y, s, [1, 0, 0, 1], 1.0),
        (lambda: mc.PrecisionAtRecall(0.5, backend=backend), [0, 0, 0, 1, 1],
         [0, 0.3, 0.8, 0.3, 0.8], None, 0.5),
        (lambda: mc.PrecisionAtRecall(0.5, backend=backend), [0, 0, 0, 1, 1],
         [0, 0.3, 0.8, 0.3, 0.8], [2, 2, 2, 1, 1], 1 / 3),
        (lambda: mc.RecallAtPrecision(0.8, backend=backend), y, s, None, 0.5),
        (lambda: mc.RecallAtPrecision(0.8, backend=backend), y, s, [1, 0, 0, 1], 1.0),
        (lambda: mc.SensitivityAtSpecificity(0.5, backend=backend), [0, 0, 0, 1, 1],
         [0, 0.3, 0.8, 0.3, 0.8], None, 0.5),
        (lambda: mc.SensitivityAtSpecificity(0.5, backend=backend), [0, 0, 0, 1, 1],
         [0, 0.3, 0.8, 0.3, 0.8], [1, 1, 2, 2, 1], 1 / 3),
        (lambda: mc.SpecificityAtSensitivity(0.5, backend=backend), [0, 0, 0, 1, 1],
         [0, 0.3, 0.8, 0.3, 0.8], None, 2 / 3),
        (lambda: mc.SpecificityAtSensitivity(0.5, backend=backend), [0, 0, 0, 1, 1],
         [0, 0.3, 0.8, 0.3, 0.8], [1, 1, 2, 2, 2], 0.5),
    ]
    for make, t, p, w, expected in cases:
        m = make()
        m.update_state(t, p, sample_weight=w)
        assert abs(float(m.result()) - expected) < 1e-6, (m, expected)


def test_high_resolution_binned_auroc_is_within_1e4_of_exact(backend, rng):
    n = 1_000_000
    y = rng.integers(0, 2, n)
    s = np.clip(rng.normal(0.5 + 0.1 * y, 0.2), 0, 1).astype(np.float32)
    binned = mc.AUC(num_thresholds=65536, backend=backend)
    binned.update_state(y, s)
    exact = sklearn_metrics.roc_auc_score(y, s)
    assert abs(binned.result() - exact) < 1e-4
    coarse = mc.AUC(backend=backend)  # 200 thresholds: visibly coarser
    coarse.update_state(y, s)
    assert abs(coarse.result() - exact) > abs(binned.result() - exact)


def test_binned_state_is_constant_in_memory(backend, rng):
    m = mc.AUC(num_thresholds=65536, backend=backend)
    y, s = _binary(rng, 100)
    m.update_state(y, s)
    size = m.state["histogram"].nbytes
    for _ in range(10):
        m.update_state(y, s)
    assert m.state["histogram"].nbytes == size == 2 * 65537 * 8


def test_multi_label_and_label_weights_follow_keras_definitions(backend, rng):
    y = rng.integers(0, 2, (800, 3))
    s = rng.random((800, 3)).astype(np.float32)
    lw = np.array([0.2, 0.5, 0.3])
    per_label = [_run(mc.AUC(backend=backend), (y[:, j], s[:, j]), rng).result() for j in range(3)]
    m = _run(mc.AUC(multi_label=True, backend=backend), (y, s), rng)
    assert abs(m.result() - np.mean(per_label)) < 1e-12
    m = _run(mc.AUC(multi_label=True, label_weights=lw, backend=backend), (y, s), rng)
    assert abs(m.result() - np.sum(lw * per_label) / lw.sum()) < 1e-12
    # multi_label=False pools every element, label_weights weighting each column's elements
    pooled = _run(mc.AUC(label_weights=lw, backend=backend), (y, s), rng)
    flat = _run(mc.AUC(backend=backend), (y.ravel(), s.ravel(),
                                          np.broadcast_to(lw, y.shape).ravel()), rng)
    assert abs(pooled.result() - flat.result()) < 1e-12


def test_scores_outside_unit_interval_are_clamped_and_logits_work(backend, rng):
    y, s = _binary(rng, 2000)
    wide = (s.astype(np.float64) * 1.6 - 0.3)
    a = _run(mc.AUC(backend=backend), (y, wide), rng)
    b = _run(mc.AUC(backend=backend), (y, np.clip(wide, 0, 1)), rng)
    assert a.result() == b.result()
    logits = rng.normal(size=2000) * 3
    prob = 1 / (1 + np.exp(-logits))
    a = _run(mc.AUC(from_logits=True, backend=backend), (y, logits), rng)
    b = _run(mc.AUC(backend=backend), (y, prob), rng)
    assert abs(a.result() - b.result()) < 1e-12
    exact = _run(mc.AUC(num_thresholds=None, from_logits=True, backend=backend), (y, logits), rng)
    assert abs(exact.result() - sklearn_metrics.roc_auc_score(y, logits)) < 1e-12


def test_binned_curves_are_arrays_per_threshold(backend, rng):
    y, s = _binary(rng, 500)
    m = _run(mc.AUC(num_thresholds=11, backend=backend), (y, s), rng)
    fpr, tpr, thr = m.roc_curve()
    tp, fp, tn, fn = _direct_counts(y, s, np.asarray(m.thresholds))
    np.testing.assert_allclose(tpr, tp / (tp + fn))
    np.testing.assert_allclose(fpr, fp / (fp + tn))
    np.testing.assert_array_equal(thr, m.thresholds)
    precision, recall, thr = m.precision_recall_curve()
    assert precision.shape == recall.shape == (12,) and precision[-1] == 1 and recall[-1] == 0
    multi = _run(mc.AUROC(task="multilabel", num_labels=3, thresholds=5, backend=backend),
                 (rng.integers(0, 2, (100, 3)), rng.random((100, 3))), rng)
    fprs, tprs, thrs = multi.roc_curve()
    assert len(fprs) == 3 and fprs[0].shape == (5,)


# ------------------------------------------------------------------ torchmetrics
torch = pytest.importorskip("torch")
tmc = pytest.importorskip("torchmetrics.classification")


@pytest.mark.parametrize("thresholds", [None, 100, [0.1, 0.25, 0.5, 0.9]])
def test_binary_auroc_and_ap_equal_torchmetrics(backend, rng, thresholds):
    y, s = _binary(rng, 3000)
    mine = _run(mc.AUROC(thresholds=thresholds, backend=backend), (y, s), rng)
    theirs = tmc.BinaryAUROC(thresholds=thresholds)
    theirs.update(torch.from_numpy(s), torch.from_numpy(y))
    assert abs(mine.result() - float(theirs.compute())) < 1e-6
    mine = _run(mc.AveragePrecision(thresholds=thresholds, backend=backend), (y, s), rng)
    theirs = tmc.BinaryAveragePrecision(thresholds=thresholds)
    theirs.update(torch.from_numpy(s), torch.from_numpy(y))
    assert abs(mine.result() - float(theirs.compute())) < 1e-6


@pytest.mark.parametrize("average", ["macro", "weighted", None])
def test_multiclass_binned_auroc_equals_torchmetrics(backend, rng, average):
    y = rng.integers(0, 4, 2000)
    p = rng.random((2000, 4)).astype(np.float32)
    p /= p.sum(axis=1, keepdims=True)
    mine = _run(mc.AUROC(task="multiclass", num_classes=4, thresholds=50, average=average,
                         backend=backend), (y, p), rng)
    theirs = tmc.MulticlassAUROC(num_classes=4, thresholds=50, average=average or "none")
    theirs.update(torch.from_numpy(p), torch.from_numpy(y))
    np.testing.assert_allclose(mine.result(), theirs.compute().numpy(), atol=1e-6)


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_calibration_error_equals_torchmetrics(backend, rng, norm):
    y, s = _binary(rng, 3000)
    mine = _run(mc.CalibrationError(n_bins=15, norm=norm, backend=backend), (y, s), rng)
    theirs = tmc.BinaryCalibrationError(n_bins=15, norm=norm)
    theirs.update(torch.from_numpy(s), torch.from_numpy(y))
    assert abs(mine.result() - float(theirs.compute())) < 1e-6
    c = 3
    yc = rng.integers(0, c, 3000)
    p = rng.random((3000, c)).astype(np.float32)
    p /= p.sum(axis=1, keepdims=True)
    mine = _run(mc.CalibrationError(task="multiclass", num_classes=c, norm=norm,
                                    backend=backend), (yc, p), rng)
    theirs = tmc.MulticlassCalibrationError(num_classes=c, n_bins=15, norm=norm)
    theirs.update(torch.from_numpy(p), torch.from_numpy(yc))
    assert abs(mine.result() - float(theirs.compute())) < 1e-6


# ------------------------------------------------------------------ edge cases
@pytest.mark.parametrize("num_thresholds", [200, None])
def test_one_class_only_is_nan_with_a_warning_in_both_modes(backend, num_thresholds):
    for y in ([0, 0, 0], [1, 1, 1]):
        m = mc.AUC(num_thresholds=num_thresholds, backend=backend)
        m.update_state(y, [0.2, 0.6, 0.9])
        with pytest.warns(mc.UndefinedMetricWarning):
            assert np.isnan(m.result())
    # PR needs positives only: all-positive is well defined (precision 1 everywhere)
    m = mc.AUC(num_thresholds=num_thresholds, curve="PR", backend=backend)
    m.update_state([1, 1, 1], [0.2, 0.6, 0.9])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert abs(m.result() - 1.0) < 1e-6
    m = mc.AUC(num_thresholds=num_thresholds, curve="PR", backend=backend)
    m.update_state([0, 0, 0], [0.2, 0.6, 0.9])
    with pytest.warns(mc.UndefinedMetricWarning):
        assert np.isnan(m.result())


def test_macro_average_skips_undefined_labels_with_a_warning(backend, rng):
    y = rng.integers(0, 2, (200, 3))
    y[:, 1] = 0  # label 1 never positive
    s = rng.random((200, 3))
    for thresholds in (None, 200):
        m = mc.AUROC(task="multilabel", num_labels=3, thresholds=thresholds, backend=backend)
        m.update_state(y, s)
        with pytest.warns(mc.UndefinedMetricWarning, match=r"\[1\]"):
            value = m.result()
        ok = [sklearn_metrics.roc_auc_score(y[:, j], s[:, j]) for j in (0, 2)]
        assert abs(value - np.mean(ok)) < (1e-12 if thresholds is None else 1e-2)


def test_empty_metric_results(backend):
    for m in (mc.AUC(backend=backend), mc.AUC(num_thresholds=None, backend=backend),
              mc.AUROC(backend=backend)):
        with pytest.warns(mc.UndefinedMetricWarning):
            assert np.isnan(m.result())


BAD = [
    (lambda b: mc.AUC(backend=b), [0, 2, 1], [0.1, 0.2, 0.3], None, "binary"),
    (lambda b: mc.AUC(num_thresholds=None, backend=b), [0, 2, 1], [0.1, 0.2, 0.3], None, "binary"),
    (lambda b: mc.AUC(backend=b), [0, 1, 1], [0.1, np.nan, 0.3], None, "NaN"),
    (lambda b: mc.AUC(num_thresholds=None, backend=b), [0, 1, 1], [0.1, np.nan, 0.3], None, "NaN"),
    (lambda b: mc.AUC(num_thresholds=None, backend=b), [0, 1, 1], [0.1, 0.2, 0.3],
     [1, np.inf, 1], "sample_weight"),
    (lambda b: mc.AUC(backend=b), [0, 1, 1], [0.1, 0.2], None, "shape"),
    (lambda b: mc.AUROC(task="multiclass", num_classes=3, backend=b), [0, 3],
     [[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]], None, "y_true"),
    (lambda b: mc.AUROC(task="multiclass", num_classes=3, thresholds=10, backend=b), [0, 1.5],
     [[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]], None, "1.5"),
    (lambda b: mc.AUROC(task="multiclass", num_classes=3, backend=b), [0, 1],
     [[0.2, 0.3], [0.1, 0.1]], None, "3 columns"),
    (lambda b: mc.PrecisionAtRecall(0.5, class_id=3, backend=b), [[0, 1]], [[0.3, 0.4]], None,
     "class_id"),
    (lambda b: mc.CalibrationError(task="multiclass", num_classes=2, backend=b), [0, 2],
     [[0.2, 0.8], [0.5, 0.5]], None, "y_true"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input_raises_and_leaves_state_unchanged(backend, i):
    make, t, p, w, fragment = BAD[i]
    m = make(backend)
    if isinstance(m, mc.AUROC) and m.task == "multiclass":
        m.update_state([0, 1, 2], [[0.6, 0.2, 0.2], [0.1, 0.7, 0.2], [0.3, 0.3, 0.4]])
    elif isinstance(m, mc.CalibrationError) and m.task == "multiclass":
        m.update_state([0, 1], [[0.6, 0.4], [0.1, 0.9]])
    elif getattr(m, "class_id", None) is not None:
        m.update_state([[0, 1, 1, 0]], [[0.3, 0.4, 0.1, 0.2]])
    else:
        m.update_state([0, 1, 1], [0.2, 0.8, 0.6])
    before = {k: (v.dtype, v.shape, v.tobytes()) for k, v in m.state.items()}
    with pytest.raises(ValueError, match=fragment):
        m.update_state(t, p, sample_weight=w)
    assert {k: (v.dtype, v.shape, v.tobytes()) for k, v in m.state.items()} == before


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(num_thresholds=1), "num_thresholds"),
    (dict(curve="XY"), "curve"),
    (dict(summation_method="left"), "summation_method"),
    (dict(thresholds=[0.5, 1.5]), r"\[0, 1\]"),
    (dict(num_labels=3), "multi_label"),
    (dict(label_weights=[1, -1]), "label_weights"),
])
def test_bad_auc_arguments(kwargs, fragment):
    with pytest.raises((ValueError, TypeError), match=fragment):
        mc.AUC(**kwargs)


def test_copy_pickle_config_of_exact_and_binned(backend, rng):
    y, s = _binary(rng, 500)
    for m in (mc.AUC(num_thresholds=None, backend=backend), mc.AUC(num_thresholds=64,
                                                                   backend=backend),
              mc.AUROC(task="multiclass", num_classes=3, backend=backend)):
        if isinstance(m, mc.AUROC):
            data = (rng.integers(0, 3, 500), rng.random((500, 3)))
        else:
            data = (y, s)
        m.update_state(*data)
        expected = m.result()
        for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
            assert clone.result() == expected
            clone.update_state(*data)
            assert m.result() == expected
        rebuilt = type(m).from_config(m.get_config())
        rebuilt.load_state(m.state)
        assert rebuilt.result() == expected
        fresh = m.fresh()
        fresh.update_state(*data)
        assert fresh.result() == expected
        assert m.result() == expected


# ------------------------------------------------------------------ Keras itself
@pytest.mark.keras
@pytest.mark.parametrize("kwargs", [
    dict(), dict(curve="PR"), dict(summation_method="minoring"),
    dict(summation_method="majoring", curve="PR"), dict(num_thresholds=50),
    dict(thresholds=[0.25, 0.5, 0.75]), dict(multi_label=True),
    dict(multi_label=True, label_weights=[0.2, 0.3, 0.5]), dict(label_weights=[1.0, 2.0, 0.5]),
    dict(from_logits=True),
])
def test_auc_equals_keras(backend, rng, kwargs):
    keras = pytest.importorskip("keras")
    n = 600
    y = rng.integers(0, 2, (n, 3))
    s = (rng.integers(0, 64, (n, 3)) / 64).astype(np.float32)  # dyadic: same in float32
    if kwargs.get("from_logits"):
        s = (rng.integers(-256, 256, (n, 3)) / 64).astype(np.float32)
    w = rng.random(n).astype(np.float32)
    mine = mc.AUC(backend=backend, **kwargs)
    theirs = keras.metrics.AUC(**kwargs)
    for sl in batches(n, rng, (1, 7, 32, 100)):
        mine.update_state(y[sl], s[sl], w[sl])
        theirs.update_state(y[sl], s[sl], sample_weight=w[sl])
    np.testing.assert_allclose(mine.result(), float(theirs.result()), rtol=2e-5, atol=1e-6)


@pytest.mark.keras
@pytest.mark.parametrize("name, value", [
    ("PrecisionAtRecall", 0.6), ("RecallAtPrecision", 0.55), ("SensitivityAtSpecificity", 0.4),
    ("SpecificityAtSensitivity", 0.7),
])
@pytest.mark.parametrize("class_id", [None, 1])
def test_constrained_metrics_equal_keras(backend, rng, name, value, class_id):
    keras = pytest.importorskip("keras")
    n = 500
    y = rng.integers(0, 2, (n, 3))
    s = (rng.integers(0, 64, (n, 3)) / 64).astype(np.float32)
    w = rng.random(n).astype(np.float32)
    mine = getattr(mc, name)(value, num_thresholds=100, class_id=class_id, backend=backend)
    theirs = getattr(keras.metrics, name)(value, num_thresholds=100, class_id=class_id)
    for sl in batches(n, rng, (1, 7, 32, 100)):
        mine.update_state(y[sl], s[sl], w[sl])
        theirs.update_state(y[sl], s[sl], sample_weight=w[sl])
    np.testing.assert_allclose(mine.result(), float(theirs.result()), rtol=2e-5, atol=1e-6)


def test_exact_copies_do_not_carry_growth_buffers(backend, rng):
    m = mc.AUC(num_thresholds=None, backend=backend)
    y, s = _binary(rng, 5000)
    for i in range(0, 5000, 500):
        m.update_state(y[i:i + 500], s[i:i + 500])
    size = len(pickle.dumps(m))
    assert size < 5000 * 5 * 1.5  # the state (4 B scores + 1 B labels), not the buffers
    clone = copy.deepcopy(m)
    assert not clone._buffers and clone.result() == m.result()
