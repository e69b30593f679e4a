"""Reference conformance: every metric against scikit-learn / NumPy float64 / torchmetrics.

Each comparison is made three ways (``check_all_ways``): the whole data set as one batch,
split into random batches of mixed sizes (1, odd, large), and split into three shards,
one metric per shard, merged with ``merge_state``. Unweighted counts must be exactly
equal int64; floats agree to rtol=1e-12 unless a comment says why not.

Expected values come from ``tests/_reference.py`` (NumPy float64 written from the Keras
definitions) and, where they have the metric, scikit-learn and torchmetrics.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest
from sklearn import metrics as skm

import _reference as R
import metricore as mc
from _reference import feed, split3, take
from conftest import batches

RTOL = 1e-12


# =========================================================================== helpers
def check_result(got, expected, exact=False, rtol=RTOL, atol=0.0, what=""):
    """int64 and exactly equal (``exact``), or float64 and close."""
    got_arr, exp = np.asarray(got), np.asarray(expected)
    assert got_arr.shape == exp.shape, f"{what}: shape {got_arr.shape} != expected {exp.shape}"
    if exact:
        assert got_arr.dtype == np.int64, f"{what}: dtype {got_arr.dtype}, expected int64"
        np.testing.assert_array_equal(got_arr, exp, err_msg=what)
    else:
        assert got_arr.dtype == np.float64, f"{what}: dtype {got_arr.dtype}, expected float64"
        np.testing.assert_allclose(got_arr, exp, rtol=rtol, atol=atol, err_msg=what)


def results_all_ways(make, arrays, rng):
    """{how: result} for one batch, random batches, and 3 shards merged (two ways)."""
    n = len(arrays[0])
    out = {}
    one = make()
    one.update_state(*arrays)
    out["one batch"] = one.result()
    out["random batches"] = feed(make(), arrays, batches(n, rng)).result()
    shards = []
    for s in split3(n, rng):
        part = take(arrays, s)
        shards.append(feed(make(), part, batches(len(part[0]), rng)))
    fresh = make()
    fresh.merge_state(shards)  # a list into an empty metric
    out["3 shards merged into a fresh metric"] = fresh.result()
    first = shards[0]
    for other in shards[1:]:  # one at a time into the first shard
        first.merge_state(other)
    out["3 shards merged one by one"] = first.result()
    return out


def check_all_ways(make, arrays, expected, rng, exact=False, rtol=RTOL, atol=0.0):
    for how, got in results_all_ways(make, arrays, rng).items():
        check_result(got, expected, exact=exact, rtol=rtol, atol=atol, what=how)


def binary_scores(rng, shape, specials=(0.5,)):
    """Uniform scores with ~10% set exactly to a threshold, 0 or 1 (strictness matters)."""
    p = rng.random(shape)
    values = np.array(list(specials) + [0.0, 1.0])
    mask = rng.random(shape) < 0.1
    p[mask] = rng.choice(values, size=int(mask.sum()))
    return p


def sample_weights(rng, n, zeros=True):
    w = rng.uniform(0.0, 2.0, n)
    if zeros:
        w[rng.random(n) < 0.05] = 0.0
    return w


def tied_scores(rng, shape, levels=5):
    """Scores on a coarse grid {0, 1/(levels-1), ..., 1}: many ties, exact 0.5."""
    return rng.integers(0, levels, shape) / (levels - 1)


def one_hot(ids, num_classes):
    return np.eye(num_classes)[ids]


def sk_weights(w, shape):
    """A per-element weight array, flattened, for sklearn on raveled multilabel data."""
    return None if w is None else np.ascontiguousarray(R.weights_like(w, shape)).ravel()


# ===================================================== threshold family: counts
COUNTS = ((mc.TruePositives, 0), (mc.FalsePositives, 1), (mc.TrueNegatives, 2),
          (mc.FalseNegatives, 3))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("thresholds", [None, 0.3, [0.0, 0.25, 0.5, 0.9, 1.0]])
def test_counts_binary(backend, rng, weighted, thresholds):
    n = 3000
    thr = [0.5] if thresholds is None else list(np.atleast_1d(thresholds))
    t = rng.integers(0, 2, n)
    p = binary_scores(rng, n, thr)
    w = sample_weights(rng, n) if weighted else None
    expected = R.threshold_counts(t, p, w, thr)
    scalar = thresholds is None or np.ndim(thresholds) == 0
    for cls, row in COUNTS:
        exp = expected[row][0] if scalar else expected[row]
        check_all_ways(lambda: cls(thresholds=thresholds, backend=backend), (t, p, w), exp, rng,
                       exact=not weighted)
    # The reference itself against scikit-learn's confusion matrix.
    for i, th in enumerate(thr):
        tn, fp, fn, tp = skm.confusion_matrix(t, p > th, labels=[0, 1], sample_weight=w).ravel()
        np.testing.assert_allclose([e[i] for e in expected], [tp, fp, tn, fn], rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("thresholds", [None, 0.7, [0.1, 0.35, 0.5, 0.8]])
def test_precision_recall_binary_vs_sklearn(backend, rng, weighted, thresholds):
    n = 2500
    thr = [0.5] if thresholds is None else list(np.atleast_1d(thresholds))
    t = rng.integers(0, 2, n)
    p = binary_scores(rng, n, thr)
    w = sample_weights(rng, n) if weighted else None
    prec = [skm.precision_score(t, p > th, sample_weight=w, zero_division=0.0) for th in thr]
    rec = [skm.recall_score(t, p > th, sample_weight=w, zero_division=0.0) for th in thr]
    scalar = thresholds is None or np.ndim(thresholds) == 0
    if scalar:
        prec, rec = prec[0], rec[0]
    check_all_ways(lambda: mc.Precision(thresholds=thresholds, backend=backend), (t, p, w), prec,
                   rng)
    check_all_ways(lambda: mc.Recall(thresholds=thresholds, backend=backend), (t, p, w), rec, rng)
    # Keras' rank rules: y_true (N,) with y_pred (N, 1), and weights (N, 1), same numbers.
    w1 = None if w is None else w[:, None]
    check_all_ways(lambda: mc.Precision(thresholds=thresholds, backend=backend),
                   (t, p[:, None], w1), prec, rng)
    check_all_ways(lambda: mc.Recall(thresholds=thresholds, backend=backend),
                   (t[:, None], p, w1), rec, rng)


@pytest.mark.parametrize("weight_shape", [None, "row", "row1", "full"])
def test_threshold_family_multilabel_pooled(backend, rng, weight_shape):
    """(N, L) inputs are flattened into one pool of N*L decisions (Keras, multi_label=False)."""
    n, L = 1500, 4
    thr = [0.2, 0.6]
    t = rng.integers(0, 2, (n, L))
    p = binary_scores(rng, (n, L), thr)
    w = {None: None, "row": rng.uniform(0, 2, n), "row1": rng.uniform(0, 2, (n, 1)),
         "full": rng.uniform(0, 2, (n, L))}[weight_shape]
    expected = R.threshold_counts(t, p, w, thr)
    for cls, row in COUNTS:
        check_all_ways(lambda: cls(thresholds=thr, backend=backend), (t, p, w), expected[row],
                       rng, exact=w is None)
    sw = sk_weights(w, (n, L))
    prec = [skm.precision_score(t.ravel(), p.ravel() > th, sample_weight=sw) for th in thr]
    rec = [skm.recall_score(t.ravel(), p.ravel() > th, sample_weight=sw) for th in thr]
    check_all_ways(lambda: mc.Precision(thresholds=thr, backend=backend), (t, p, w), prec, rng)
    check_all_ways(lambda: mc.Recall(thresholds=thr, backend=backend), (t, p, w), rec, rng)


TOPK_CLASSID = [(1, None), (2, None), (3, None), (5, None), (None, 0), (None, 3), (1, 2), (2, 0),
                (3, 4)]


@pytest.mark.parametrize("top_k,class_id", TOPK_CLASSID)
@pytest.mark.parametrize("thresholds", [None, [0.1, 0.5, 0.8]])
@pytest.mark.parametrize("weighted", [None, "row", "full"])
def test_precision_recall_top_k_class_id(backend, rng, top_k, class_id, thresholds, weighted):
    """Keras' definition: top_k keeps exactly the k largest scores per row (ties to the lower
    index), others are negative; class_id then restricts to one column; positive iff
    score > threshold (strict)."""
    n, L = 1200, 5
    t = rng.integers(0, 2, (n, L))
    p = tied_scores(rng, (n, L))  # heavy ties: top_k tie-breaking and strictness both matter
    w = make_weights(rng, (n, L), weighted)
    tp, fp, tn, fn = R.threshold_counts(t, p, w, thresholds, top_k=top_k, class_id=class_id)
    precision, recall = R.safe_div(tp, tp + fp), R.safe_div(tp, tp + fn)
    if thresholds is None:
        precision, recall = precision[0], recall[0]
    kw = dict(thresholds=thresholds, top_k=top_k, class_id=class_id, backend=backend)
    check_all_ways(lambda: mc.Precision(**kw), (t, p, w), precision, rng)
    check_all_ways(lambda: mc.Recall(**kw), (t, p, w), recall, rng)


def test_reference_topk_tie_rule():
    """The reference's top_k: the k largest, ties to the lower index (as tf.math.top_k)."""
    p = np.array([[0.5, 0.9, 0.5, 0.5], [0.2, 0.2, 0.2, 0.2]])
    np.testing.assert_array_equal(R.topk_mask(p, 2), [[1, 1, 0, 0], [1, 1, 0, 0]])


def test_precision_top1_on_one_hot_is_argmax_accuracy(backend, rng):
    n, C = 2000, 6
    ids = rng.integers(0, C, n)
    t = one_hot(ids, C)
    p = np.round(rng.random((n, C)), 1)  # ties: the first maximum is kept
    expected = skm.accuracy_score(ids, np.argmax(p, axis=1))
    for cls in (mc.Precision, mc.Recall):
        check_all_ways(lambda: cls(top_k=1, backend=backend), (t, p, None), expected, rng)


def test_recall_class_id_is_column_recall(backend, rng):
    n, C = 2000, 4
    t = rng.integers(0, 2, (n, C))
    p = binary_scores(rng, (n, C))
    w = sample_weights(rng, n)
    for c in range(C):
        rec = skm.recall_score(t[:, c], p[:, c] > 0.5, sample_weight=w)
        prec = skm.precision_score(t[:, c], p[:, c] > 0.5, sample_weight=w)
        check_all_ways(lambda: mc.Recall(class_id=c, backend=backend), (t, p, w), rec, rng)
        check_all_ways(lambda: mc.Precision(class_id=c, backend=backend), (t, p, w), prec, rng)


# ============================================================== F-beta / F1
FBETAS = (1.0, 2.0, 0.5)


def make_fbeta(beta, average, threshold, backend):
    if beta == 1.0:
        return lambda: mc.F1Score(average=average, threshold=threshold, backend=backend)
    return lambda: mc.FBetaScore(average=average, beta=beta, threshold=threshold, backend=backend)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.5, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_fbeta_multilabel(backend, rng, average, threshold, weighted):
    n, C = 2000, 4
    t = rng.integers(0, 2, (n, C))
    t[:, 3] = rng.random(n) < 0.1  # a rare class
    p = np.round(rng.random((n, C)), 2)  # ties at the row maximum (threshold=None)
    p[rng.random(n) < 0.03] = 0.0  # all-zero rows: no prediction at all (Keras' 1e-9 rule)
    w = sample_weights(rng, n) if weighted else None
    pred = R.fbeta_predictions(p, threshold).astype(np.int64)
    for beta in FBETAS:
        expected = R.fbeta_expected(t, p, w, beta, average, threshold)
        check_all_ways(make_fbeta(beta, average, threshold, backend), (t, p, w), expected, rng)
        sk = skm.fbeta_score(t, pred, beta=beta, average=average, sample_weight=w,
                             zero_division=0.0)
        # sklearn has no epsilon terms: it agrees to ~1e-7 relative on counts in the hundreds.
        np.testing.assert_allclose(expected, sk, rtol=1e-6)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_f1_multiclass_argmax(backend, rng, average):
    """One-hot targets, softmax scores, threshold=None: the row maximum is the prediction."""
    n, C = 3000, 5
    ids = rng.integers(0, C, n)
    logits = rng.normal(size=(n, C)) + 1.5 * one_hot(ids, C)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    t = one_hot(ids, C)
    w = sample_weights(rng, n)
    # raw logits too: negative row maxima are still predictions (only |max| <= 1e-9 is not)
    for scores, weights in ((p, None), (p, w), (logits, w)):
        expected = R.fbeta_expected(t, scores, weights, 1.0, average, None)
        check_all_ways(lambda: mc.F1Score(average=average, backend=backend),
                       (t, scores, weights), expected, rng)
        sk = skm.f1_score(ids, np.argmax(scores, axis=1), labels=np.arange(C), average=average,
                          sample_weight=weights, zero_division=0.0)
        np.testing.assert_allclose(expected, sk, rtol=1e-6)


def test_classification_vs_torchmetrics(backend, rng):
    torch = pytest.importorskip("torch")
    tmf = pytest.importorskip("torchmetrics.functional.classification")
    n, C = 3000, 4
    t = rng.integers(0, 2, (n, C))
    p = rng.random((n, C))  # in [0, 1]: torchmetrics thresholds without a sigmoid
    T, P = torch.from_numpy(t), torch.from_numpy(p)
    # torchmetrics reduces precision/recall/F-beta in float32: rtol 1e-6.
    for thr in (0.3, 0.5):
        check_all_ways(lambda: mc.Precision(thr, backend=backend), (t[:, 0], p[:, 0], None),
                       float(tmf.binary_precision(P[:, 0], T[:, 0], threshold=thr)), rng,
                       rtol=1e-6)
        check_all_ways(lambda: mc.Recall(thr, backend=backend), (t[:, 0], p[:, 0], None),
                       float(tmf.binary_recall(P[:, 0], T[:, 0], threshold=thr)), rng, rtol=1e-6)
    for average in ("micro", "macro", "weighted", "none"):
        expected = tmf.multilabel_fbeta_score(P, T, beta=2.0, num_labels=C, average=average,
                                              threshold=0.5).numpy()
        check_all_ways(lambda: mc.FBetaScore(None if average == "none" else average, beta=2.0,
                                             threshold=0.5, backend=backend),
                       (t, p, None), expected, rng, rtol=1e-6)
    ids = rng.integers(0, C, n)
    pids = np.where(rng.random(n) < 0.4, ids, rng.integers(0, C, n))
    expected = tmf.multiclass_confusion_matrix(torch.from_numpy(pids), torch.from_numpy(ids),
                                               num_classes=C).numpy().astype(np.int64)
    check_all_ways(lambda: mc.ConfusionMatrix(C, backend=backend), (ids, pids, None), expected,
                   rng, exact=True)
    expected = float(tmf.multiclass_accuracy(P, torch.from_numpy(ids), num_classes=C,
                                             average="micro", top_k=1))
    check_all_ways(lambda: mc.SparseCategoricalAccuracy(backend=backend), (ids, p, None),
                   expected, rng, rtol=1e-6)


# ============================================================ ConfusionMatrix
@pytest.mark.parametrize("num_classes", [1, 2, 7, 1000])
@pytest.mark.parametrize("weighted", [False, True])
def test_confusion_matrix_ids(backend, rng, num_classes, weighted):
    C = num_classes
    n = 20000 if C == 1000 else 3000
    t = rng.integers(0, C, n)
    p = np.where(rng.random(n) < 0.5, t, rng.integers(0, C, n))
    w = sample_weights(rng, n) if weighted else None
    expected = R.confusion_matrix(t, p, C, w)
    check_all_ways(lambda: mc.ConfusionMatrix(C, backend=backend), (t, p, w), expected, rng,
                   exact=not weighted)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("score_dtype", [np.float32, np.float64])
def test_confusion_matrix_from_scores(backend, rng, weighted, score_dtype):
    n, C = 3000, 5
    t = rng.integers(0, C, n)
    scores = np.round(rng.random((n, C)), 1).astype(score_dtype)  # ties: first maximum
    w = sample_weights(rng, n) if weighted else None
    expected = R.confusion_matrix(t, R.argmax_first(scores), C, w)
    check_all_ways(lambda: mc.ConfusionMatrix(C, backend=backend), (t, scores, w), expected, rng,
                   exact=not weighted)
    check_all_ways(lambda: mc.ConfusionMatrix(C, sparse_y_pred=False, backend=backend),
                   (t, scores, w), expected, rng, exact=not weighted)
    check_all_ways(lambda: mc.ConfusionMatrix(C, sparse_y_true=False, sparse_y_pred=False,
                                              backend=backend),
                   (one_hot(t, C), scores, w), expected, rng, exact=not weighted)


@pytest.mark.parametrize("ignore_class", [0, 2, -1, 255])
def test_confusion_matrix_ignore_class(backend, rng, ignore_class):
    n, C = 2500, 4
    t = rng.integers(0, C, n)
    if ignore_class not in range(C):  # a "void" label outside the classes (segmentation)
        t[rng.random(n) < 0.2] = ignore_class
    p = rng.integers(0, C, n)
    w = sample_weights(rng, n)
    keep = t != ignore_class
    for weights in (None, w):
        expected = R.confusion_matrix(t[keep], p[keep], C,
                                      None if weights is None else weights[keep])
        check_all_ways(lambda: mc.ConfusionMatrix(C, ignore_class=ignore_class, backend=backend),
                       (t, p, weights), expected, rng, exact=weights is None)


# ==================================================================== MeanIoU
@pytest.mark.parametrize("weighted", [False, True])
def test_mean_iou_vs_jaccard(backend, rng, weighted):
    """Classes absent from both y_true and y_pred (zero denominator) are left out of the mean."""
    n, C = 3000, 7
    t = rng.choice([0, 1, 3], n)
    p = np.where(rng.random(n) < 0.6, t, rng.choice([0, 1, 3, 4], n))
    w = sample_weights(rng, n) if weighted else None
    # Class 5 occurs only in predictions: with weights, only where the weight is 0, so its
    # weighted denominator is 0 and it must be dropped; unweighted it counts (IoU 0).
    spots = rng.choice(n, 20, replace=False)
    p[spots] = 5
    if weighted:
        w[spots] = 0.0
    cm = R.confusion_matrix(t, p, C, w)
    expected = R.mean_iou(cm)
    present = R.present_classes(cm)
    assert (5 in present) == (not weighted)
    sk = skm.jaccard_score(t, p, labels=present, average="macro", sample_weight=w)
    np.testing.assert_allclose(expected, sk, rtol=1e-12)
    check_all_ways(lambda: mc.MeanIoU(C, backend=backend), (t, p, w), expected, rng)


def test_mean_iou_ignore_class_and_scores(backend, rng):
    n, C = 2500, 5
    t = rng.integers(0, C, n)
    scores = rng.random((n, C)) + 0.8 * one_hot(t, C)
    w = sample_weights(rng, n)
    keep = t != 1
    pred = np.argmax(scores, axis=1)
    for weights in (None, w):
        kw = None if weights is None else weights[keep]
        expected = R.mean_iou(R.confusion_matrix(t[keep], pred[keep], C, kw))
        present = R.present_classes(R.confusion_matrix(t[keep], pred[keep], C, kw))
        sk = skm.jaccard_score(t[keep], pred[keep], labels=present, average="macro",
                               sample_weight=kw)
        np.testing.assert_allclose(expected, sk, rtol=1e-12)
        check_all_ways(lambda: mc.MeanIoU(C, ignore_class=1, sparse_y_pred=False, backend=backend),
                       (t, scores, weights), expected, rng)


# ========================================================== accuracy family
SHAPES_WEIGHTS = [((1500,), None), ((1500,), "row"), ((1500, 1), None), ((1500, 1), "row"),
                  ((1500, 1), "row1"), ((1500, 3), None), ((1500, 3), "row"),
                  ((1500, 3), "row1"), ((1500, 3), "full")]


def make_weights(rng, shape, kind, zeros=True):
    n = shape[0]
    if kind is None:
        return None
    if kind == "row":
        return sample_weights(rng, n, zeros)
    if kind == "row1":
        return sample_weights(rng, n, zeros)[:, None]
    w = rng.uniform(0.0, 2.0, shape)
    if zeros:
        w[rng.random(shape) < 0.05] = 0.0
    return w


@pytest.mark.parametrize("shape,wkind", SHAPES_WEIGHTS)
def test_accuracy(backend, rng, shape, wkind):
    t = rng.integers(0, 3, shape)
    p = rng.integers(0, 3, shape).astype(np.float64)
    w = make_weights(rng, shape, wkind)
    expected = R.weighted_mean(R.term("equal", t, p), w)
    check_all_ways(lambda: mc.Accuracy(backend=backend), (t, p, w), expected, rng)


@pytest.mark.parametrize("shape,wkind", SHAPES_WEIGHTS)
@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_binary_accuracy(backend, rng, shape, wkind, threshold):
    t = rng.integers(0, 2, shape)
    p = binary_scores(rng, shape, (threshold,))
    w = make_weights(rng, shape, wkind)
    expected = R.weighted_mean(R.term("binary", t, p, threshold), w)
    check_all_ways(lambda: mc.BinaryAccuracy(threshold=threshold, backend=backend), (t, p, w),
                   expected, rng)
    if len(shape) == 1 and wkind != "full":
        sk = skm.accuracy_score(t, p > threshold, sample_weight=w)
        np.testing.assert_allclose(expected, sk, rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_categorical_accuracy(backend, rng, weighted):
    n, C = 3000, 6
    ids = rng.integers(0, C, n)
    p = np.round(rng.random((n, C)), 1)  # ties: first maximum (argmax)
    w = sample_weights(rng, n) if weighted else None
    expected = skm.accuracy_score(ids, np.argmax(p, axis=1), sample_weight=w)
    check_all_ways(lambda: mc.CategoricalAccuracy(backend=backend), (one_hot(ids, C), p, w),
                   expected, rng)
    # Soft (label-smoothed) targets: the true class is the argmax of y_true.
    soft = one_hot(ids, C) * 0.8 + 0.2 / C
    check_all_ways(lambda: mc.CategoricalAccuracy(backend=backend), (soft, p, w), expected, rng)
    check_all_ways(lambda: mc.SparseCategoricalAccuracy(backend=backend), (ids, p, w), expected,
                   rng)
    check_all_ways(lambda: mc.SparseCategoricalAccuracy(backend=backend),
                   (ids[:, None].astype(np.float32), p, w), expected, rng)


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("weighted", [False, True])
def test_top_k_accuracy_ties_in(backend, rng, k, weighted):
    """tf.math.in_top_k: a target tied with the k-th score counts as in."""
    n, C = 3000, 8
    ids = rng.integers(0, C, n)
    p = tied_scores(rng, (n, C), levels=4)
    w = sample_weights(rng, n) if weighted else None
    expected = R.weighted_fraction(R.in_top_k(ids, p, k), w)
    check_all_ways(lambda: mc.SparseTopKCategoricalAccuracy(k=k, backend=backend), (ids, p, w),
                   expected, rng)
    check_all_ways(lambda: mc.SparseTopKCategoricalAccuracy(k=k, backend=backend),
                   (ids[:, None], p, w), expected, rng)
    check_all_ways(lambda: mc.TopKCategoricalAccuracy(k=k, backend=backend),
                   (one_hot(ids, C), p, w), expected, rng)


@pytest.mark.parametrize("k", [1, 3])
def test_top_k_accuracy_vs_sklearn(backend, rng, k):
    n, C = 3000, 8
    ids = rng.integers(0, C, n)
    p = rng.random((n, C))  # no ties: sklearn's definition coincides
    w = sample_weights(rng, n)
    for weights in (None, w):
        expected = skm.top_k_accuracy_score(ids, p, k=k, labels=np.arange(C), sample_weight=weights)
        check_all_ways(lambda: mc.SparseTopKCategoricalAccuracy(k=k, backend=backend),
                       (ids, p, weights), expected, rng)


def test_sparse_top_k_from_sorted_ids(backend, rng):
    n, C, k = 2000, 10, 3
    ids = rng.integers(0, C, n)
    p = rng.random((n, C))
    sorted_ids = np.argsort(-p, axis=1)
    w = sample_weights(rng, n)
    for weights in (None, w):
        expected = R.weighted_fraction(R.in_top_k(ids, p, k), weights)
        check_all_ways(lambda: mc.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True,
                                                                backend=backend),
                       (ids, sorted_ids, weights), expected, rng)


# ================================================================ regression
REGRESSION = [
    (mc.MeanAbsoluteError, "abs"),
    (mc.MeanSquaredError, "sq"),
    (mc.RootMeanSquaredError, "sq"),
    (mc.MeanAbsolutePercentageError, "mape"),
    (mc.MeanSquaredLogarithmicError, "msle"),
    (mc.LogCoshError, "logcosh"),
]
REGRESSION_IDS = [cls.__name__ for cls, _ in REGRESSION]


def regression_data(rng, shape, kind):
    t = rng.normal(size=shape)
    p = t + rng.normal(0.3, 1.0, shape)
    if kind == "mape":  # zeros and tiny targets hit the max(|t|, 1e-7) clamp
        t[rng.random(shape) < 0.01] = 0.0
        t[rng.random(shape) < 0.01] = 1e-9
    if kind == "msle":  # negatives and tiny values hit the max(x, 1e-7) clamps
        t, p = np.abs(t) * 2 - 0.3, np.abs(p) * 2 - 0.3
    return t, p


def expected_regression(cls, kind, t, p, w):
    value = R.weighted_mean(R.term(kind, t, p), w)
    return np.sqrt(value) if cls is mc.RootMeanSquaredError else value


@pytest.mark.parametrize("cls,kind", REGRESSION, ids=REGRESSION_IDS)
@pytest.mark.parametrize("shape,wkind", SHAPES_WEIGHTS)
def test_regression(backend, rng, cls, kind, shape, wkind):
    """(N,) is N samples of one output; (N, D) averages each row's D terms (Keras)."""
    t, p = regression_data(rng, shape, kind)
    w = make_weights(rng, shape, wkind)
    expected = expected_regression(cls, kind, t, p, w)
    check_all_ways(lambda: cls(backend=backend), (t, p, w), expected, rng)


@pytest.mark.parametrize("d", [1, 3])
def test_regression_vs_sklearn(backend, rng, d):
    n = 2000
    t = rng.uniform(0.5, 3.0, (n, d))
    p = rng.uniform(0.1, 3.0, (n, d))
    w = sample_weights(rng, n)
    for weights in (None, w):
        kw = dict(sample_weight=weights)
        cases = [
            (mc.MeanAbsoluteError, skm.mean_absolute_error(t, p, **kw)),
            (mc.MeanSquaredError, skm.mean_squared_error(t, p, **kw)),
            (mc.RootMeanSquaredError, np.sqrt(skm.mean_squared_error(t, p, **kw))),
            (mc.MeanAbsolutePercentageError, 100 * skm.mean_absolute_percentage_error(t, p, **kw)),
            (mc.MeanSquaredLogarithmicError, skm.mean_squared_log_error(t, p, **kw)),
        ]
        for cls, expected in cases:
            check_all_ways(lambda: cls(backend=backend), (t, p, weights), expected, rng)


def test_regression_vs_torchmetrics(backend, rng):
    torch = pytest.importorskip("torch")
    tmf = pytest.importorskip("torchmetrics.functional")
    n, d = 2000, 3
    t = rng.uniform(0.5, 3.0, (n, d))
    p = t + rng.normal(0, 0.5, (n, d))
    p = np.abs(p)
    T, P = torch.from_numpy(t), torch.from_numpy(p)  # float64 tensors
    cases = [
        (mc.MeanAbsoluteError, tmf.mean_absolute_error(P, T), RTOL),
        (mc.MeanSquaredError, tmf.mean_squared_error(P, T), RTOL),
        (mc.RootMeanSquaredError, torch.sqrt(tmf.mean_squared_error(P, T)), RTOL),
        (mc.MeanAbsolutePercentageError, 100 * tmf.mean_absolute_percentage_error(P, T), RTOL),
        (mc.MeanSquaredLogarithmicError, tmf.mean_squared_log_error(P, T), RTOL),
        (mc.LogCoshError, tmf.log_cosh_error(P, T).mean(), RTOL),
        # torchmetrics returns the mean cosine as float32 even for float64 inputs
        (mc.CosineSimilarity, tmf.cosine_similarity(P, T, reduction="mean"), 1e-6),
    ]
    for cls, expected, rtol in cases:
        expected = float(expected)
        check_all_ways(lambda: cls(backend=backend), (t, p, None), expected, rng, rtol=rtol)
        # torch tensors are accepted as inputs, too, with the same result
        m = cls(backend=backend)
        m.update_state(T, P)
        check_result(m.result(), expected, rtol=rtol, what=f"{cls.__name__} on torch tensors")
    for aggregation, multioutput in (("uniform_average", "uniform_average"),
                                     ("variance_weighted_average", "variance_weighted"),
                                     (None, "raw_values")):
        expected = tmf.r2_score(P, T, multioutput=multioutput).numpy()
        check_all_ways(lambda: mc.R2Score(class_aggregation=aggregation, backend=backend),
                       (t, p, None), expected, rng)


@pytest.mark.parametrize("wkind", [None, "row", "row1"])
def test_cosine_similarity(backend, rng, wkind):
    n, d = 2000, 4
    t = rng.normal(size=(n, d))
    p = t + rng.normal(0, 1.5, (n, d))
    t[rng.random(n) < 0.02] = 0.0  # zero rows: Keras' 1e-12 clamp gives cosine 0
    p[rng.random(n) < 0.02] = 0.0
    w = make_weights(rng, (n, d), wkind)
    rows = R.cosine_rows(t, p)
    expected = R.weighted_mean(rows, w)
    check_all_ways(lambda: mc.CosineSimilarity(backend=backend), (t, p, w), expected, rng)
    # the reference's row term against scikit-learn on the non-zero rows
    from sklearn.preprocessing import normalize

    nz = (np.abs(t).sum(1) > 0) & (np.abs(p).sum(1) > 0)
    sk_rows = (normalize(t[nz]) * normalize(p[nz])).sum(axis=1)
    np.testing.assert_allclose(rows[nz], sk_rows, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(rows[~nz], 0.0)


# ====================================================================== R2Score
R2_AGG = {None: "raw_values", "uniform_average": "uniform_average",
          "variance_weighted_average": "variance_weighted"}


@pytest.mark.parametrize("aggregation", list(R2_AGG))
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("d", [1, 4])
def test_r2_vs_sklearn(backend, rng, aggregation, weighted, d):
    n = 2500
    scale = rng.uniform(0.5, 5.0, d)
    t = rng.normal(size=(n, d)) * scale + rng.uniform(-3, 3, d)
    p = t + 0.7 * rng.normal(size=(n, d)) * scale
    w = sample_weights(rng, n) if weighted else None
    expected = skm.r2_score(t, p, sample_weight=w, multioutput=R2_AGG[aggregation])
    check_all_ways(lambda: mc.R2Score(class_aggregation=aggregation, backend=backend), (t, p, w),
                   expected, rng)
    if weighted:  # (N, 1) weights, same numbers
        check_all_ways(lambda: mc.R2Score(class_aggregation=aggregation, backend=backend),
                       (t, p, w[:, None]), expected, rng)


def test_r2_large_mean(backend, rng):
    """Targets 1e6 + noise: the naive sum-of-squares formula would cancel catastrophically
    (relative error ~1e-4 here); sklearn's two-pass value is accurate to ~1e-15."""
    n, d = 3000, 2
    t = 1e6 + rng.normal(size=(n, d))
    p = t + 0.7 * rng.normal(size=(n, d))
    w = sample_weights(rng, n)
    for weights in (None, w):
        for aggregation, multioutput in R2_AGG.items():
            expected = skm.r2_score(t, p, sample_weight=weights, multioutput=multioutput)
            check_all_ways(lambda: mc.R2Score(class_aggregation=aggregation, backend=backend),
                           (t, p, weights), expected, rng)
    # the moments family on the same data: MSE is shift-invariant, Mean is not.
    check_all_ways(lambda: mc.MeanSquaredError(backend=backend), (t, p, w),
                   R.weighted_mean(R.term("sq", t, p), w), rng)
    check_all_ways(lambda: mc.Mean(backend=backend), (t, w), R.weighted_mean(t, w), rng)


def test_r2_constant_target(backend):
    """A constant column: 0.0 for imperfect predictions, 1.0 for perfect ones (sklearn)."""
    t = np.full((40, 2), 3.0)
    p = t.copy()
    p[:, 0] += np.linspace(-1, 1, 40)
    for aggregation in (None, "uniform_average"):
        m = mc.R2Score(class_aggregation=aggregation, backend=backend)
        m.update_state(t, p)
        check_result(m.result(), skm.r2_score(t, p, multioutput=R2_AGG[aggregation]),
                     what=str(aggregation))


def test_r2_variance_weighted_all_constant_targets(backend):
    """Every column constant: variance weights are all 0; sklearn falls back to uniform
    weights (so perfect predictions score 1.0, as they do with uniform_average)."""
    t = np.full((40, 2), 3.0)
    p = t.copy()
    p[:, 0] += np.linspace(-1, 1, 40)
    for pred in (p, t):
        m = mc.R2Score(class_aggregation="variance_weighted_average", backend=backend)
        m.update_state(t, pred)
        check_result(m.result(), skm.r2_score(t, pred, multioutput="variance_weighted"))


@pytest.mark.parametrize("d", [1, 3])
def test_r2_adjusted(backend, rng, d):
    """Keras' adjusted R2: n is the number of values seen (num_samples = y_true.size)."""
    n, k = 500, 4
    t = rng.normal(size=(n, d))
    p = t + rng.normal(size=(n, d))
    expected = R.adjusted_r2(skm.r2_score(t, p), n * d, k)
    check_all_ways(lambda: mc.R2Score(num_regressors=k, backend=backend), (t, p, None),
                   expected, rng)


# ============================================================ Mean, Sum, wrappers
MEAN_SHAPES = [((2000,), None), ((2000,), "row"), ((2000,), "scalar"), ((2000, 3), None),
               ((2000, 3), "row"), ((2000, 3), "row1"), ((2000, 3), "full")]


def mean_weights(rng, shape, kind):
    return 2.5 if kind == "scalar" else make_weights(rng, shape, kind)


@pytest.mark.parametrize("shape,wkind", MEAN_SHAPES)
def test_mean(backend, rng, shape, wkind):
    v = rng.normal(size=shape)
    w = mean_weights(rng, shape, wkind)
    check_all_ways(lambda: mc.Mean(backend=backend), (v, w), R.weighted_mean(v, w), rng)


@pytest.mark.parametrize("shape,wkind", MEAN_SHAPES)
def test_sum(backend, rng, shape, wkind):
    v = rng.normal(size=shape)
    w = mean_weights(rng, shape, wkind)
    check_all_ways(lambda: mc.Sum(backend=backend), (v, w), R.weighted_sum(v, w), rng)


def test_mean_sum_vs_numpy_average(backend, rng):
    v = rng.normal(size=3000)
    w = sample_weights(rng, 3000)
    check_all_ways(lambda: mc.Mean(backend=backend), (v, w), np.average(v, weights=w), rng)
    check_all_ways(lambda: mc.Sum(backend=backend), (v, w), np.dot(v, w), rng)


def max_abs_error(y_true, y_pred, power=1.0):
    """An array function: one value per sample."""
    return np.max(np.abs(np.asarray(y_true) - np.asarray(y_pred)) ** power, axis=-1)


@mc.elementwise
def squared_error(t, p):
    return (t - p) * (t - p)


@mc.elementwise
def hinge(t, p):
    return max(0.0, 1.0 - t * p)


def hinge_np(t, p):
    return np.maximum(0.0, 1.0 - np.asarray(t, np.float64) * np.asarray(p, np.float64))


@pytest.mark.parametrize("wkind", [None, "row", "row1"])
def test_mean_metric_wrapper_array_fn(backend, rng, wkind):
    n, d = 2000, 3
    t, p = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    w = make_weights(rng, (n, d), wkind)
    values = max_abs_error(t, p, power=2.0)
    check_all_ways(lambda: mc.MeanMetricWrapper(max_abs_error, power=2.0, backend=backend),
                   (t, p, w), R.weighted_mean(values, w), rng)
    check_all_ways(lambda: mc.SumMetricWrapper(max_abs_error, power=2.0, backend=backend),
                   (t, p, w), R.moment_sums(values, w)[0], rng)


@pytest.mark.parametrize("shape,wkind", [((2000,), None), ((2000,), "row"), ((2000, 3), None),
                                         ((2000, 3), "row"), ((2000, 3), "full")])
def test_wrappers_elementwise(rng, shape, wkind):
    """@elementwise functions run on the Numba kernel whatever the backend: tested once."""
    t = rng.normal(size=shape)
    p = rng.normal(size=shape)
    w = make_weights(rng, shape, wkind)
    values = hinge_np(t, p)
    check_all_ways(lambda: mc.MeanMetricWrapper(hinge, backend="numba"), (t, p, w),
                   R.weighted_mean(values, w), rng)
    check_all_ways(lambda: mc.SumMetricWrapper(hinge, backend="numba"), (t, p, w),
                   R.moment_sums(values, w)[0], rng)
    # the wrapper built on the C++ backend takes the same path
    check_all_ways(lambda: mc.MeanMetricWrapper(hinge, backend="cpp"), (t, p, w),
                   R.weighted_mean(values, w), rng)
    if shape == (2000, 3) and wkind == "row":
        # an elementwise squared error is exactly MeanSquaredError's definition
        check_all_ways(lambda: mc.MeanMetricWrapper(squared_error, backend="numba"), (t, p, w),
                       R.weighted_mean(R.term("sq", t, p), w), rng)


# ===================================================== rank-3 (sequence) inputs
# (N, T, C) outputs, e.g. one prediction per time step. Keras' semantics act on the last
# axis: top_k and class_id pick among the C scores of each (n, t); a cosine is taken
# between last-axis vectors; per-sample values are averaged over the rest. Weights may be
# (N,) (metricore: one per sample), (N, T) or the full (N, T, C) shape.
def rank3_weights(rng, shape, kind):
    N, T, C = shape
    return {None: None, "N": rng.uniform(0, 2, N), "NT": rng.uniform(0, 2, (N, T)),
            "NTC": rng.uniform(0, 2, (N, T, C))}[kind]


def rows_of(w, T):
    """Rank-3 weights as weights of the (N*T, C) rows."""
    if w is None:
        return None
    if w.ndim == 1:
        return np.repeat(w, T)
    return w.reshape(w.shape[0] * T, *w.shape[2:])


@pytest.mark.parametrize("wkind", [None, "N", "NT", "NTC"])
@pytest.mark.parametrize("top_k,class_id", [(None, None), (2, None), (None, 3), (1, 2)])
def test_threshold_family_rank3_last_axis(backend, rng, wkind, top_k, class_id):
    N, T, C = 300, 3, 5
    t = rng.integers(0, 2, (N, T, C))
    p = tied_scores(rng, (N, T, C))
    w = rank3_weights(rng, (N, T, C), wkind)
    tp, fp, tn, fn = R.threshold_counts(t.reshape(-1, C), p.reshape(-1, C), rows_of(w, T), None,
                                        top_k=top_k, class_id=class_id)
    kw = dict(top_k=top_k, class_id=class_id, backend=backend)
    check_all_ways(lambda: mc.Precision(**kw), (t, p, w), R.safe_div(tp, tp + fp)[0], rng)
    check_all_ways(lambda: mc.Recall(**kw), (t, p, w), R.safe_div(tp, tp + fn)[0], rng)
    if top_k is None and class_id is None:
        check_all_ways(lambda: mc.TruePositives(backend=backend), (t, p, w), tp[0], rng,
                       exact=w is None)


@pytest.mark.parametrize("wkind", [None, "N", "NT", "NTC"])
def test_moments_rank3(backend, rng, wkind):
    N, T, C = 300, 3, 4
    t = rng.normal(size=(N, T, C))
    p = t + rng.normal(0.3, 1.0, (N, T, C))
    w = rank3_weights(rng, (N, T, C), wkind)
    for cls, kind in REGRESSION:
        if wkind == "NTC":  # per-element weights (metricore's extension; Keras has none here)
            expected = R.weighted_mean(R.term(kind, t, p).reshape(N, -1), w.reshape(N, -1))
        else:  # Keras' functions take the mean over the last axis, then Mean reduces
            expected = R.keras_mean(R.term(kind, t, p).mean(axis=-1), w)
        if cls is mc.RootMeanSquaredError:
            expected = np.sqrt(expected)
        check_all_ways(lambda: cls(backend=backend), (t, p, w), expected, rng)
    ti = rng.integers(0, 3, (N, T, C))
    pi = rng.integers(0, 3, (N, T, C)).astype(np.float64)
    check_all_ways(lambda: mc.Accuracy(backend=backend), (ti, pi, w),
                   R.keras_mean(R.term("equal", ti, pi), w), rng)
    check_all_ways(lambda: mc.Mean(backend=backend), (p, w), R.keras_mean(p, w), rng)
    check_all_ways(lambda: mc.Sum(backend=backend), (p, w), R.keras_sum(p, w), rng)


@pytest.mark.parametrize("wkind", [None, "N", "NT"])
def test_cosine_similarity_rank3_last_axis(backend, rng, wkind):
    """axis=-1: one cosine per last-axis vector, then Keras' per-sample mean."""
    N, T, C = 300, 3, 4
    t = rng.normal(size=(N, T, C))
    p = t + rng.normal(0.3, 1.0, (N, T, C))
    w = rank3_weights(rng, (N, T, C), wkind)
    cos = R.cosine_rows(t.reshape(-1, C), p.reshape(-1, C)).reshape(N, T)
    check_all_ways(lambda: mc.CosineSimilarity(backend=backend), (t, p, w),
                   R.keras_mean(cos, w), rng)


@pytest.mark.parametrize("wkind", [None, "N", "NT"])
def test_accuracy_family_rank3(backend, rng, wkind):
    N, T, C = 300, 3, 6
    ids = rng.integers(0, C, (N, T))
    p = tied_scores(rng, (N, T, C), levels=4)
    w = rank3_weights(rng, (N, T, C), wkind)
    wr = rows_of(w, T)
    check_all_ways(lambda: mc.SparseCategoricalAccuracy(backend=backend), (ids, p, w),
                   R.weighted_fraction(np.argmax(p, -1).ravel() == ids.ravel(), wr), rng)
    check_all_ways(lambda: mc.CategoricalAccuracy(backend=backend), (one_hot(ids, C), p, w),
                   R.weighted_fraction(np.argmax(p, -1).ravel() == ids.ravel(), wr), rng)
    check_all_ways(lambda: mc.SparseTopKCategoricalAccuracy(k=2, backend=backend), (ids, p, w),
                   R.weighted_fraction(R.in_top_k(ids.ravel(), p.reshape(-1, C), 2), wr), rng)


@pytest.mark.parametrize("weighted", [False, True])
def test_segmentation_confusion_matrix_and_iou(backend, rng, weighted):
    """(N, H, W) label maps and (N, H, W, C) score maps, per-pixel weights."""
    N, H, W, C = 20, 8, 6, 5
    t = rng.integers(0, C, (N, H, W))
    scores = rng.random((N, H, W, C)) + 0.6 * one_hot(t, C)
    pred = np.argmax(scores, axis=-1)
    w = rng.uniform(0, 2, (N, H, W)) if weighted else None
    cm = R.confusion_matrix(t, pred, C, None if w is None else w.ravel())
    check_all_ways(lambda: mc.ConfusionMatrix(C, backend=backend), (t, pred, w), cm, rng,
                   exact=not weighted)
    check_all_ways(lambda: mc.MeanIoU(C, sparse_y_pred=False, backend=backend), (t, scores, w),
                   R.mean_iou(cm), rng)


# ===================================================================== catalog
# One entry per metric configuration, used by the generic tests below (input dtypes and
# layouts, torch/list inputs, edge cases). data(rng, n) -> the positional inputs without
# sample_weight; expected(*data, w) -> the reference value.


@dataclass
class Case:
    name: str
    make: Callable[[str], Any]
    data: Callable[[Any, int], tuple]
    expected: Callable[..., Any]
    counts: bool = False  # result is an exact int64 count when unweighted
    tags: set = field(default_factory=set)


def _bin(L=3, specials=(0.3, 0.5, 0.7)):
    return lambda rng, n: (rng.integers(0, 2, (n, L)), binary_scores(rng, (n, L), specials))


def _ids(C, scores=False):
    def data(rng, n):
        t = rng.integers(0, C, n)
        if scores:
            return t, rng.random((n, C)) + 0.5 * one_hot(t, C)
        return t, np.where(rng.random(n) < 0.5, t, rng.integers(0, C, n))
    return data


def _onehot(C, levels=None):
    def data(rng, n):
        ids = rng.integers(0, C, n)
        p = tied_scores(rng, (n, C), levels) if levels else rng.random((n, C))
        return one_hot(ids, C), p
    return data


def _sparse(C, levels=None):
    def data(rng, n):
        p = tied_scores(rng, (n, C), levels) if levels else rng.random((n, C))
        return rng.integers(0, C, n), p
    return data


def _reg(d=3, kind="sq"):
    def data(rng, n):
        t = rng.normal(size=(n, d))
        p = t + rng.normal(0.5, 1.0, (n, d))
        if kind in ("mape", "msle"):
            t = rng.uniform(0.5, 3.0, (n, d))
            p = rng.uniform(-0.5, 3.0, (n, d))
        return t, p
    return data


def _values(shape_tail=()):
    return lambda rng, n: (rng.normal(size=(n,) + shape_tail),)


def _counts(row, thr, **kw):
    return lambda t, p, w: R.threshold_counts(t, p, w, thr, **kw)[row]


def _prec(thr, **kw):
    def f(t, p, w):
        tp, fp, _, _ = R.threshold_counts(t, p, w, thr, **kw)
        return R.safe_div(tp, tp + fp)
    return f


def _rec(thr, **kw):
    def f(t, p, w):
        tp, _, _, fn = R.threshold_counts(t, p, w, thr, **kw)
        return R.safe_div(tp, tp + fn)
    return f


def _first(f):
    return lambda *a: f(*a)[0]


def _r2(multioutput):
    def f(t, p, w):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return skm.r2_score(t, p, sample_weight=w, multioutput=multioutput)
    return f


CATALOG = [
    Case("TruePositives[.3,.5,.7]", lambda b: mc.TruePositives([0.3, 0.5, 0.7], backend=b),
         _bin(), _counts(0, [0.3, 0.5, 0.7]), counts=True),
    Case("FalsePositives(.5)", lambda b: mc.FalsePositives(0.5, backend=b), _bin(),
         _first(_counts(1, [0.5])), counts=True),
    Case("TrueNegatives()", lambda b: mc.TrueNegatives(backend=b), _bin(),
         _first(_counts(2, [0.5])), counts=True),
    Case("FalseNegatives[0,.5,1]", lambda b: mc.FalseNegatives([0.0, 0.5, 1.0], backend=b),
         _bin(), _counts(3, [0.0, 0.5, 1.0]), counts=True),
    Case("Precision[.3,.7]", lambda b: mc.Precision([0.3, 0.7], backend=b), _bin(),
         _prec([0.3, 0.7])),
    Case("Recall(top_k=2,class_id=1)", lambda b: mc.Recall(top_k=2, class_id=1, backend=b),
         lambda rng, n: (rng.integers(0, 2, (n, 4)), tied_scores(rng, (n, 4))),
         _first(_rec(None, top_k=2, class_id=1))),
    Case("Precision(top_k=1)", lambda b: mc.Precision(top_k=1, backend=b), _onehot(5, 4),
         _first(_prec(None, top_k=1))),
    Case("F1Score(macro,.5)", lambda b: mc.F1Score("macro", threshold=0.5, backend=b),
         _bin(4, (0.5,)), lambda t, p, w: R.fbeta_expected(t, p, w, 1.0, "macro", 0.5)),
    Case("FBetaScore(None,beta=2)", lambda b: mc.FBetaScore(None, beta=2.0, backend=b),
         _bin(4, ()), lambda t, p, w: R.fbeta_expected(t, p, w, 2.0, None, None),
         tags={"per_label"}),
    Case("FBetaScore(weighted,beta=.5,.3)",
         lambda b: mc.FBetaScore("weighted", beta=0.5, threshold=0.3, backend=b), _bin(4),
         lambda t, p, w: R.fbeta_expected(t, p, w, 0.5, "weighted", 0.3)),
    Case("F1Score(micro)", lambda b: mc.F1Score("micro", backend=b), _onehot(4, 4),
         lambda t, p, w: R.fbeta_expected(t, p, w, 1.0, "micro", None)),
    Case("ConfusionMatrix(6)", lambda b: mc.ConfusionMatrix(6, backend=b), _ids(6),
         lambda t, p, w: R.confusion_matrix(t, p, 6, w), counts=True, tags={"ids"}),
    Case("ConfusionMatrix(5,scores)", lambda b: mc.ConfusionMatrix(5, backend=b),
         _ids(5, scores=True), lambda t, p, w: R.confusion_matrix(t, R.argmax_first(p), 5, w),
         counts=True, tags={"ids"}),
    Case("MeanIoU(6)", lambda b: mc.MeanIoU(6, backend=b), _ids(6),
         lambda t, p, w: R.mean_iou(R.confusion_matrix(t, p, 6, w)), tags={"ids"}),
    Case("MeanIoU(4,ignore_class=0)", lambda b: mc.MeanIoU(4, ignore_class=0, backend=b), _ids(4),
         lambda t, p, w: R.mean_iou(R.confusion_matrix(
             t[t != 0], p[t != 0], 4, None if w is None else w[t != 0])), tags={"ids"}),
    Case("Accuracy", lambda b: mc.Accuracy(backend=b),
         lambda rng, n: (rng.integers(0, 3, (n, 2)), rng.integers(0, 3, (n, 2)).astype(float)),
         lambda t, p, w: R.weighted_mean(R.term("equal", t, p), w)),
    Case("BinaryAccuracy(.7)", lambda b: mc.BinaryAccuracy(threshold=0.7, backend=b), _bin(),
         lambda t, p, w: R.weighted_mean(R.term("binary", t, p, 0.7), w)),
    Case("CategoricalAccuracy", lambda b: mc.CategoricalAccuracy(backend=b), _onehot(5, 5),
         lambda t, p, w: R.weighted_fraction(np.argmax(p, 1) == np.argmax(t, 1), w)),
    Case("SparseCategoricalAccuracy", lambda b: mc.SparseCategoricalAccuracy(backend=b),
         _sparse(5, 5), lambda t, p, w: R.weighted_fraction(np.argmax(p, 1) == t, w),
         tags={"ids"}),
    Case("TopKCategoricalAccuracy(2)", lambda b: mc.TopKCategoricalAccuracy(k=2, backend=b),
         _onehot(6, 4), lambda t, p, w: R.weighted_fraction(R.in_top_k(np.argmax(t, 1), p, 2), w)),
    Case("SparseTopKCategoricalAccuracy(3)",
         lambda b: mc.SparseTopKCategoricalAccuracy(k=3, backend=b), _sparse(7, 4),
         lambda t, p, w: R.weighted_fraction(R.in_top_k(t, p, 3), w), tags={"ids"}),
    Case("MeanAbsoluteError", lambda b: mc.MeanAbsoluteError(backend=b), _reg(),
         lambda t, p, w: R.weighted_mean(R.term("abs", t, p), w)),
    Case("MeanSquaredError", lambda b: mc.MeanSquaredError(backend=b), _reg(),
         lambda t, p, w: R.weighted_mean(R.term("sq", t, p), w)),
    Case("RootMeanSquaredError", lambda b: mc.RootMeanSquaredError(backend=b), _reg(),
         lambda t, p, w: np.sqrt(R.weighted_mean(R.term("sq", t, p), w))),
    Case("MeanAbsolutePercentageError", lambda b: mc.MeanAbsolutePercentageError(backend=b),
         _reg(kind="mape"), lambda t, p, w: R.weighted_mean(R.term("mape", t, p), w)),
    Case("MeanSquaredLogarithmicError", lambda b: mc.MeanSquaredLogarithmicError(backend=b),
         _reg(kind="msle"), lambda t, p, w: R.weighted_mean(R.term("msle", t, p), w)),
    Case("LogCoshError", lambda b: mc.LogCoshError(backend=b), _reg(),
         lambda t, p, w: R.weighted_mean(R.term("logcosh", t, p), w)),
    Case("CosineSimilarity", lambda b: mc.CosineSimilarity(backend=b), _reg(4),
         lambda t, p, w: R.weighted_mean(R.cosine_rows(t, p), w)),
    Case("R2Score", lambda b: mc.R2Score(backend=b), _reg(2), _r2("uniform_average"),
         tags={"r2"}),
    Case("R2Score(None)", lambda b: mc.R2Score(class_aggregation=None, backend=b), _reg(3),
         _r2("raw_values"), tags={"r2"}),
    Case("R2Score(variance_weighted)",
         lambda b: mc.R2Score(class_aggregation="variance_weighted_average", backend=b), _reg(3),
         _r2("variance_weighted"), tags={"r2"}),
    Case("Mean", lambda b: mc.Mean(backend=b), _values(), R.weighted_mean),
    Case("Mean(N,3)", lambda b: mc.Mean(backend=b), _values((3,)), R.weighted_mean),
    Case("Sum", lambda b: mc.Sum(backend=b), _values(), R.weighted_sum),
    Case("MeanMetricWrapper(array fn)",
         lambda b: mc.MeanMetricWrapper(max_abs_error, backend=b), _reg(),
         lambda t, p, w: R.weighted_mean(max_abs_error(t, p), w)),
    Case("MeanMetricWrapper(elementwise)",
         lambda b: mc.MeanMetricWrapper(hinge, backend=b), _reg(),
         lambda t, p, w: R.weighted_mean(hinge_np(t, p), w), tags={"elementwise"}),
    Case("SumMetricWrapper(array fn)",
         lambda b: mc.SumMetricWrapper(max_abs_error, backend=b), _reg(),
         lambda t, p, w: R.moment_sums(max_abs_error(t, p), w)[0]),
    Case("SumMetricWrapper(elementwise)",
         lambda b: mc.SumMetricWrapper(hinge, backend=b), _reg(),
         lambda t, p, w: R.moment_sums(hinge_np(t, p), w)[0], tags={"elementwise"}),
]
CATALOG_IDS = [c.name for c in CATALOG]
catalog = pytest.mark.parametrize("case", CATALOG, ids=CATALOG_IDS)


def numba_only(case, backend):
    """User ``@elementwise`` functions always run on the Numba kernel (C++ cannot compile
    them), and each new layout costs a compile: test them once, under "numba"."""
    if "elementwise" in case.tags and backend != "numba":
        pytest.skip("@elementwise functions run on the Numba kernel whatever the backend")


def run(case, backend, arrays):
    m = case.make(backend)
    m.update_state(*arrays)
    return m.result()


@catalog
@pytest.mark.parametrize("weighted", [False, True])
def test_catalog_all_ways(backend, rng, case, weighted):
    numba_only(case, backend)
    n = 1500
    data = case.data(rng, n)
    w = sample_weights(rng, n) if weighted else None
    check_all_ways(lambda: case.make(backend), data + (w,), case.expected(*data, w), rng,
                   exact=case.counts and not weighted)


@catalog
@pytest.mark.parametrize("weighted", [False, True])
def test_single_sample(backend, rng, case, weighted):
    numba_only(case, backend)
    if "r2" in case.tags:
        pytest.skip("R^2 of one sample is undefined (sklearn: nan)")
    data = case.data(rng, 1)
    w = rng.uniform(0.5, 2.0, 1) if weighted else None
    check_result(run(case, backend, data + (w,)), case.expected(*data, w),
                 exact=case.counts and not weighted)


@catalog
def test_empty_batch_is_a_no_op(backend, rng, case):
    numba_only(case, backend)
    data = case.data(rng, 50)
    w = sample_weights(rng, 50)
    empty = tuple(a[:0] for a in data)
    for weights in (None, w):
        m = case.make(backend)
        m.update_state(*data, weights)
        before = {k: v.copy() for k, v in m.state.items()}
        result = m.result()
        m.update_state(*empty, None if weights is None else weights[:0])
        after = m.state
        assert before.keys() == after.keys()
        for key in before:
            assert before[key].dtype == after[key].dtype, key
            np.testing.assert_array_equal(before[key], after[key], err_msg=key)
        np.testing.assert_array_equal(m.result(), result)
    # An empty batch on a fresh metric leaves its result as it was.
    if "per_label" not in case.tags:  # (an FBeta average=None result has 0 labels when fresh)
        fresh = case.make(backend)
        initial = fresh.result()
        fresh.update_state(*empty)
        np.testing.assert_array_equal(fresh.result(), initial)
        then = case.make(backend)
        then.update_state(*empty)
        then.update_state(*data)
        np.testing.assert_array_equal(then.result(), run(case, backend, data + (None,)))


@catalog
def test_merge_with_untouched_shards(backend, rng, case):
    """Shards that saw no data (or only an empty batch) merge as zeros, in any position."""
    numba_only(case, backend)
    n = 600
    data = case.data(rng, n)
    w = sample_weights(rng, n)
    for weights in (None, w):
        arrays = data + (weights,)
        full = feed(case.make(backend), arrays, batches(n, rng))
        touched = case.make(backend)
        touched.update_state(*take(arrays, slice(0, 0)))
        merged = case.make(backend)
        merged.merge_state([case.make(backend), full, touched, case.make(backend)])
        check_result(merged.result(), case.expected(*data, weights),
                     exact=case.counts and weights is None)


@catalog
def test_call_returns_the_batch_value(backend, rng, case):
    """``metric(y_true, y_pred)`` returns the batch alone and accumulates it (torchmetrics'
    forward; Keras 3 returns the running value instead)."""
    numba_only(case, backend)
    n = 800
    data = case.data(rng, n)
    w = sample_weights(rng, n)
    first, second = slice(0, 300), slice(300, n)
    m = case.make(backend)
    for part in (first, second):
        args = take(data + (w,), part)
        check_result(m(*args), case.expected(*args), what=f"batch {part}")
    check_result(m.result(), case.expected(*data, w), what="running")


@catalog
def test_zero_weights_drop_samples(backend, rng, case):
    numba_only(case, backend)
    n = 1000
    data = case.data(rng, n)
    w = rng.uniform(0.5, 2.0, n)
    w[rng.random(n) < 0.3] = 0.0
    keep = w != 0
    check_result(run(case, backend, data + (w,)),
                 run(case, backend, take(data, keep) + (w[keep],)), rtol=1e-12)


@catalog
def test_all_zero_weights(backend, rng, case):
    numba_only(case, backend)
    if "r2" in case.tags:
        pytest.skip("R^2 with no weight at all is undefined (sklearn raises, Keras gives nan)")
    n = 300
    data = case.data(rng, n)
    w = np.zeros(n)
    got = run(case, backend, data + (w,))
    check_result(got, case.expected(*data, w))
    assert not np.any(np.asarray(got)), got


@catalog
@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_extreme_weights(backend, rng, case, scale):
    """Weights ~1e-300 or ~1e300 (every partial sum stays a normal float64 for n = 500)."""
    numba_only(case, backend)
    n = 500
    data = case.data(rng, n)
    w = rng.uniform(0.5, 2.0, n) * scale
    check_all_ways(lambda: case.make(backend), data + (w,), case.expected(*data, w), rng,
                   atol=0.0)


def strided(a, how):
    """The same values as ``a`` in a non-contiguous layout."""
    a = np.asarray(a)
    if how == "step":
        big = np.zeros((a.shape[0] * 2,) + tuple(s * 3 for s in a.shape[1:]), dtype=a.dtype)
        index = (slice(None, None, 2),) + (slice(None, None, 3),) * (a.ndim - 1)
        big[index] = a
        return big[index]
    if how == "fortran":  # a transposed view of a C array
        return np.ascontiguousarray(a.T).T
    if how == "negative":
        return a[::-1].copy()[::-1]
    raise ValueError(how)


@catalog
@pytest.mark.parametrize("how", ["step", "fortran", "negative"])
def test_non_contiguous_inputs(backend, rng, case, how):
    if how == "fortran" and "elementwise" in case.tags:
        pytest.skip("(a user function's kernel compiles per layout: 'step' covers strides)")
    numba_only(case, backend)
    n = 700
    data = case.data(rng, n)
    w = sample_weights(rng, n)
    for weights in (None, w):
        arrays = data + (weights,)
        views = tuple(None if a is None else strided(a, how) for a in arrays)
        if how != "fortran":
            assert not views[0].flags.c_contiguous
        expected = run(case, backend, tuple(None if a is None else np.ascontiguousarray(a)
                                            for a in arrays))
        got = run(case, backend, views)
        assert np.asarray(got).dtype == np.asarray(expected).dtype
        if np.asarray(expected).dtype.kind == "i":
            np.testing.assert_array_equal(got, expected)
        else:  # a contiguous fast path (SIMD lanes) may sum in another order: last bits only
            np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)


@catalog
def test_broadcast_weight_view(backend, rng, case):
    """A stride-0 weight view (np.broadcast_to) gives the numbers of a real array (to the
    last bits only: a kernel may sum a constant weight in another order)."""
    if "elementwise" in case.tags:
        pytest.skip("(a user function's kernel compiles per layout: 'step' covers strides)")
    n = 400
    data = case.data(rng, n)
    w = np.broadcast_to(np.float64(0.7), (n,))
    check_result(run(case, backend, data + (w,)), run(case, backend, data + (np.full(n, 0.7),)),
                 rtol=1e-14)


@catalog
def test_torch_and_list_inputs(backend, rng, case):
    numba_only(case, backend)
    torch = pytest.importorskip("torch")
    n = 300
    data = case.data(rng, n)
    w = sample_weights(rng, n)
    for weights in (None, w):
        arrays = data + (weights,)
        expected = run(case, backend, arrays)
        tensors = tuple(None if a is None else torch.from_numpy(np.ascontiguousarray(a))
                        for a in arrays)
        np.testing.assert_array_equal(run(case, backend, tensors), expected, err_msg="torch")
        # non-contiguous tensors (every other element of a wider tensor)
        tview = tuple(None if a is None else torch.from_numpy(np.stack([a, a], axis=-1))[..., 0]
                      for a in arrays)
        assert not tview[0].is_contiguous()
        got = run(case, backend, tview)
        if np.asarray(expected).dtype.kind == "i":
            np.testing.assert_array_equal(got, expected, err_msg="strided torch")
        else:  # last bits only, as for strided NumPy views
            np.testing.assert_allclose(got, expected, rtol=1e-13, err_msg="strided torch")
        lists = tuple(None if a is None else a.tolist() for a in arrays)
        np.testing.assert_array_equal(run(case, backend, lists), expected, err_msg="lists")


# ================================================================ input dtypes
LABEL_DTYPES = [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.int64,
                np.float16, np.float32, np.float64]


@pytest.mark.parametrize("label_dtype", LABEL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_label_dtypes(backend, rng, label_dtype):
    """y_true (and y_pred class ids) in every label dtype give the numbers of int64 labels."""
    n = 1500
    w32 = rng.uniform(0, 2, n).astype(np.float32)
    # binary labels: threshold family, BinaryAccuracy, F1
    t = rng.integers(0, 2, (n, 3))
    p = binary_scores(rng, (n, 3), (0.3, 0.5))
    tl = t.astype(label_dtype)
    for w in (None, w32):
        check_all_ways(lambda: mc.TruePositives([0.3, 0.5], backend=backend), (tl, p, w),
                       R.threshold_counts(t, p, w, [0.3, 0.5])[0], rng, exact=w is None)
        tp, fp, _, _ = R.threshold_counts(t, p, w, None, top_k=2, class_id=1)
        check_all_ways(lambda: mc.Precision(top_k=2, class_id=1, backend=backend), (tl, p, w),
                       R.safe_div(tp, tp + fp)[0], rng)
        check_all_ways(lambda: mc.BinaryAccuracy(backend=backend), (tl, p, w),
                       R.weighted_mean(R.term("binary", t, p), w), rng)
        check_all_ways(lambda: mc.F1Score("macro", 0.5, backend=backend), (tl, p, w),
                       R.fbeta_expected(t, p, w, 1.0, "macro", 0.5), rng)
    # class ids: confusion matrix (ids on both sides), sparse accuracy
    C = 2 if label_dtype is np.bool_ else 5
    ids = rng.integers(0, C, n)
    pids = rng.integers(0, C, n)
    scores = rng.random((n, C))
    for w in (None, w32):
        check_all_ways(lambda: mc.ConfusionMatrix(C, backend=backend),
                       (ids.astype(label_dtype), pids.astype(label_dtype), w),
                       R.confusion_matrix(ids, pids, C, w), rng, exact=w is None)
        check_all_ways(lambda: mc.SparseTopKCategoricalAccuracy(k=2, backend=backend),
                       (ids.astype(label_dtype), scores, w),
                       R.weighted_fraction(R.in_top_k(ids, scores, 2), w), rng)
    # numeric targets: regression
    y = rng.integers(0, 2 if label_dtype is np.bool_ else 4, (n, 2))
    yp = y + rng.normal(size=(n, 2))
    for w in (None, w32):
        check_all_ways(lambda: mc.MeanSquaredError(backend=backend), (y.astype(label_dtype), yp, w),
                       R.weighted_mean(R.term("sq", y, yp), w), rng)
        check_all_ways(lambda: mc.Accuracy(backend=backend),
                       (y.astype(label_dtype), y[::-1].astype(np.float64), w),
                       R.weighted_mean(R.term("equal", y, y[::-1]), w), rng)
        check_all_ways(lambda: mc.R2Score(backend=backend), (y.astype(label_dtype), yp, w),
                       skm.r2_score(y, yp, sample_weight=w), rng)


@pytest.mark.parametrize("score_dtype", [np.float16, np.float32, np.float64, np.int64, np.bool_],
                         ids=lambda d: np.dtype(d).name)
def test_score_dtypes(backend, rng, score_dtype):
    """Scores in float16 (-> float32), float32, float64, or integers/bools (-> float64):
    compared at the value they hold, in float64."""
    n = 1500
    t = rng.integers(0, 2, (n, 3))
    if np.dtype(score_dtype).kind == "f":
        p = binary_scores(rng, (n, 3), (0.3, 0.5)).astype(score_dtype)
    else:
        p = rng.integers(0, 2, (n, 3)).astype(score_dtype)
    p64 = p.astype(np.float64)
    w = rng.uniform(0, 2, n)
    for weights in (None, w):
        check_all_ways(lambda: mc.TruePositives([0.3, 0.5], backend=backend), (t, p, weights),
                       R.threshold_counts(t, p64, weights, [0.3, 0.5])[0], rng,
                       exact=weights is None)
        check_all_ways(lambda: mc.MeanAbsoluteError(backend=backend), (t, p, weights),
                       R.weighted_mean(R.term("abs", t, p64), weights), rng)
        check_all_ways(lambda: mc.Mean(backend=backend), (p, weights),
                       R.weighted_mean(p64, weights), rng)
        ids = rng.integers(0, 3, n)
        check_all_ways(lambda: mc.SparseTopKCategoricalAccuracy(k=1, backend=backend),
                       (ids, p, weights), R.weighted_fraction(R.in_top_k(ids, p64, 1), weights),
                       rng)


# ================================================== mixed and huge count states
def test_weighted_after_unweighted_and_mixed_merge(backend, rng):
    """int64 counts become float64 at the first weighted batch; unweighted batches and
    unweighted shards then count with weight 1."""
    n = 2000
    t, p = rng.integers(0, 2, n), binary_scores(rng, n)
    w = sample_weights(rng, n)
    full_w = w.copy()
    full_w[: n // 2] = 1.0
    expected = R.threshold_counts(t, p, full_w, [0.5])[0][0]
    a = mc.TruePositives(backend=backend)
    a.update_state(t[: n // 2], p[: n // 2])
    a.update_state(t[n // 2:], p[n // 2:], w[n // 2:])
    check_result(a.result(), expected, what="unweighted then weighted")
    b = mc.TruePositives(backend=backend)
    b.update_state(t[n // 2:], p[n // 2:], w[n // 2:])
    b.update_state(t[: n // 2], p[: n // 2])
    check_result(b.result(), expected, what="weighted then unweighted")
    u, v = mc.TruePositives(backend=backend), mc.TruePositives(backend=backend)
    u.update_state(t[: n // 2], p[: n // 2])
    v.update_state(t[n // 2:], p[n // 2:], w[n // 2:])
    u.merge_state(v)
    check_result(u.result(), expected, what="int64 shard + float64 shard")
    cm_u, cm_w = mc.ConfusionMatrix(2, backend=backend), mc.ConfusionMatrix(2, backend=backend)
    cm_u.update_state(t[: n // 2], (p[: n // 2] > 0.5).astype(int))
    cm_w.update_state(t[n // 2:], (p[n // 2:] > 0.5).astype(int), w[n // 2:])
    cm_u.merge_state(cm_w)
    check_result(cm_u.result(), R.confusion_matrix(t, p > 0.5, 2, full_w))


def test_counts_beyond_int32_by_merging_states(backend, rng):
    """States near 2^31 and 2^40, merged and updated: exact int64 arithmetic throughout."""
    big = [2**31 - 1, 2**31 + 5, 2**40 + 3, 2**40 - 7]

    def confusion(values, T=2):
        return np.array(values, dtype=np.int64).reshape(4, 1, 1).repeat(T, axis=1)

    t = rng.integers(0, 2, 100)
    p = binary_scores(rng, 100)
    small = R.threshold_counts(t, p, None, [0.3, 0.6])
    metrics = [mc.TruePositives([0.3, 0.6], backend=backend) for _ in range(3)]
    metrics[0].load_state({"confusion": confusion(big)})
    metrics[1].load_state({"confusion": confusion(big[::-1])})
    metrics[2].update_state(t, p)
    metrics[0].merge_state(metrics[1:])
    expected_tp = [big[0] + big[3] + int(small[0][i]) for i in range(2)]
    check_result(metrics[0].result(), expected_tp, exact=True)
    assert metrics[0].state["confusion"].dtype == np.int64
    metrics[0].update_state(t, p)
    check_result(metrics[0].result(), [e + int(small[0][i]) for i, e in enumerate(expected_tp)],
                 exact=True)
    assert int(metrics[0].result()[0]) > 2**32

    prec = mc.Precision(backend=backend)
    prec.load_state({"confusion": confusion([2**40 + 1, 2**31 + 1, 5, 2**33], T=1)})
    other = mc.Precision(backend=backend)
    other.load_state({"confusion": confusion([2**40, 2**31, 0, 0], T=1)})
    prec.merge_state(other)
    tp, fp = 2**41 + 1, 2**32 + 1
    check_result(prec.result(), tp / (tp + fp))

    cm = mc.ConfusionMatrix(3, backend=backend)
    cm.load_state({"matrix": np.full((3, 3), 2**40, dtype=np.int64)})
    cm2 = mc.ConfusionMatrix(3, backend=backend)
    cm2.load_state({"matrix": np.full((3, 3), 2**31 + 1, dtype=np.int64)})
    cm.merge_state(cm2)
    ids = rng.integers(0, 3, 50)
    cm.update_state(ids, ids)
    expected = np.full((3, 3), 2**40 + 2**31 + 1, dtype=np.int64) + R.confusion_matrix(ids, ids, 3)
    check_result(cm.result(), expected, exact=True)

    acc = mc.SparseCategoricalAccuracy(backend=backend)
    acc.load_state({"counts": np.array([2**40 + 1, 2**41 + 1], dtype=np.int64)})
    acc2 = mc.SparseCategoricalAccuracy(backend=backend)
    acc2.load_state({"counts": np.array([2**31, 2**31 + 3], dtype=np.int64)})
    acc.merge_state(acc2)
    assert acc.state["counts"].dtype == np.int64
    np.testing.assert_array_equal(acc.state["counts"], [2**40 + 2**31 + 1, 2**41 + 2**31 + 4])
    check_result(acc.result(), (2**40 + 2**31 + 1) / (2**41 + 2**31 + 4))


# ======================================================= a few large inputs
def test_large_confusion_matrix_and_counts(backend, rng):
    n, C = 1_000_000, 10
    t = rng.integers(0, C, n)
    p = np.where(rng.random(n) < 0.3, t, rng.integers(0, C, n))
    sizes = (1, 99_999, 250_000)
    expected = np.bincount(t * C + p, minlength=C * C).reshape(C, C)
    check_all_ways(lambda: mc.ConfusionMatrix(C, backend=backend), (t, p, None), expected, rng,
                   exact=True)
    tb = (t % 2).astype(np.int8)
    pb = rng.random(n).astype(np.float32)
    m = feed(mc.TruePositives([0.25, 0.75], backend=backend), (tb, pb, None),
             batches(n, rng, sizes))
    check_result(m.result(), R.threshold_counts(tb, pb, None, [0.25, 0.75])[0], exact=True)


def test_large_moments(backend, rng):
    n = 1_000_000
    t = rng.normal(size=n)
    p = t + rng.normal(size=n)
    w = rng.uniform(0, 2, n)
    sizes = (1, 99_999, 250_000)
    # rtol 1e-10: sums of 1e6 terms in a different order from NumPy's pairwise summation.
    for cls, kind in ((mc.MeanSquaredError, "sq"), (mc.MeanAbsoluteError, "abs")):
        expected = R.weighted_mean(R.term(kind, t, p), w)
        m = feed(cls(backend=backend), (t, p, w), batches(n, rng, sizes))
        check_result(m.result(), expected, rtol=1e-10)
    m = feed(mc.R2Score(backend=backend), (t[:, None], p[:, None], w), batches(n, rng, sizes))
    check_result(m.result(), skm.r2_score(t, p, sample_weight=w), rtol=1e-10)
