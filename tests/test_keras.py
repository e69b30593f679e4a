"""Conformance with Keras 3 itself, batch by batch, on random data.

Keras accumulates in float32: floats are compared with rtol ~1e-5 and counts exactly when
unweighted (float32 counts are exact below 2^24). Scores are float32 and, where a
threshold could be hit exactly, on a dyadic grid (k/64), so Keras' float32 comparison
and metricore's float64 one see the same numbers.

Deliberate differences not compared here: metricore reads rank-1 regression inputs as N
samples (Keras reduces such a batch to one value), so regression uses (N, D); a metric's
``__call__`` returns the batch value in metricore; invalid labels raise in metricore.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

import _reference as R  # noqa: E402
import metricore as mc  # noqa: E402
from _reference import feed, take  # noqa: E402
from conftest import batches  # noqa: E402

RTOL = 1e-5
ATOL = 1e-6
SIZES = (1, 7, 32, 100)


def run_both(make_mc, make_keras, arrays, rng):
    """Feeds the same batches to a metricore metric and a Keras metric; both results."""
    slices = batches(len(arrays[0]), rng, SIZES)
    mine = feed(make_mc(), arrays, slices).result()
    theirs = make_keras()
    for s in slices:
        theirs.update_state(*take(arrays, s))
    return np.asarray(mine), np.asarray(theirs.result())


def compare(make_mc, make_keras, arrays, rng, exact=False, rtol=RTOL, atol=ATOL):
    mine, theirs = run_both(make_mc, make_keras, arrays, rng)
    assert mine.shape == theirs.shape, (mine.shape, theirs.shape)
    if exact:
        assert mine.dtype == np.int64, mine.dtype
        assert np.all(np.abs(theirs) < 2**24)
        np.testing.assert_array_equal(mine, theirs.astype(np.int64))
    else:
        theirs = theirs.astype(np.float64)
        # Keras' float32 sums leave absolute residues of a few ulps of the largest entry
        # (e.g. FN = total - cumsum on its bucketed path): scale atol with the values.
        atol = max(atol, rtol * float(np.max(np.abs(theirs), initial=0.0)))
        np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=atol)
    return mine


def grid(rng, shape, levels=65):
    """float32 scores on {0, 1/(levels-1), ..., 1}: exact in float32 and float64, many ties."""
    return (rng.integers(0, levels, shape) / (levels - 1)).astype(np.float32)


def weights_for(rng, n, kind):
    if kind is None:
        return None
    w = rng.uniform(0.0, 2.0, n).astype(np.float32)
    w[rng.random(n) < 0.05] = 0.0
    return w if kind == "N" else w[:, None]


# ============================================================ threshold family
COUNTS = [("TruePositives", mc.TruePositives), ("FalsePositives", mc.FalsePositives),
          ("TrueNegatives", mc.TrueNegatives), ("FalseNegatives", mc.FalseNegatives)]


@pytest.mark.parametrize("thresholds", [None, 0.5, [0.5], [0.125, 0.5, 0.8],
                                        [0.0, 0.25, 0.5, 0.75, 1.0]])
@pytest.mark.parametrize("layout", ["N", "N1", "N,N1", "NL"])
@pytest.mark.parametrize("wkind", [None, "N", "N1"])
def test_counts(backend, rng, thresholds, layout, wkind):
    n = 500
    if layout == "NL":
        t, p = rng.integers(0, 2, (n, 3)), grid(rng, (n, 3))
    else:
        t, p = rng.integers(0, 2, n), grid(rng, n)
        if layout == "N1":
            t, p = t[:, None], p[:, None]
        elif layout == "N,N1":  # (N,) labels with (N, 1) scores: Keras squeezes
            p = p[:, None]
    if thresholds is not None and len(np.atleast_1d(thresholds)) == 5:
        p = np.clip(p + rng.uniform(-1e-3, 1e-3, p.shape).astype(np.float32), 0, 1)
        # (evenly spaced thresholds take Keras' bucketed code path: keep scores off them)
    if layout == "N" and wkind == "N1":
        pytest.skip("Keras cannot broadcast (N, 1) weights onto rank-1 labels (metricore can)")
    w = weights_for(rng, n, wkind)
    for name, cls in COUNTS:
        compare(lambda: cls(thresholds=thresholds, backend=backend),
                lambda: getattr(keras.metrics, name)(thresholds=thresholds),
                (t, p, w), rng, exact=w is None)
    for name, cls in (("Precision", mc.Precision), ("Recall", mc.Recall)):
        compare(lambda: cls(thresholds=thresholds, backend=backend),
                lambda: getattr(keras.metrics, name)(thresholds=thresholds), (t, p, w), rng)


@pytest.mark.parametrize("top_k,class_id", [(1, None), (2, None), (3, None), (None, 0),
                                            (None, 4), (1, 2), (2, 0), (3, 4)])
@pytest.mark.parametrize("thresholds", [None, [0.125, 0.5, 0.8]])
@pytest.mark.parametrize("wkind", [None, "N"])
def test_precision_recall_top_k_class_id(backend, rng, top_k, class_id, thresholds, wkind):
    n, L = 500, 5
    t = rng.integers(0, 2, (n, L))
    p = grid(rng, (n, L), levels=5)  # {0, .25, .5, .75, 1}: ties everywhere
    w = weights_for(rng, n, wkind)
    kw = dict(thresholds=thresholds, top_k=top_k, class_id=class_id)
    for name, cls in (("Precision", mc.Precision), ("Recall", mc.Recall)):
        compare(lambda: cls(backend=backend, **kw), lambda: getattr(keras.metrics, name)(**kw),
                (t, p, w), rng)


# ======================================================================= F-beta
@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("threshold", [None, 0.5, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_fbeta(backend, rng, average, threshold, weighted):
    n, C = 500, 4
    t = rng.integers(0, 2, (n, C))
    t[:, 3] = rng.random(n) < 0.1
    p = grid(rng, (n, C))
    p[rng.random(n) < 0.03] = 0.0  # all-zero rows: no prediction with threshold=None
    w = weights_for(rng, n, "N" if weighted else None)
    for beta in (1.0, 2.0, 0.5):
        if beta == 1.0:
            make = lambda: mc.F1Score(average=average, threshold=threshold, backend=backend)
            make_k = lambda: keras.metrics.F1Score(average=average, threshold=threshold)
        else:
            make = lambda: mc.FBetaScore(average=average, beta=beta, threshold=threshold,
                                         backend=backend)
            make_k = lambda: keras.metrics.FBetaScore(average=average, beta=beta,
                                                      threshold=threshold)
        compare(make, make_k, (t.astype(np.float32), p, w), rng)


# ======================================================= confusion matrix / IoU
@pytest.mark.parametrize("weighted", [False, True])
def test_mean_iou_and_its_confusion_matrix(backend, rng, weighted):
    n, C = 600, 6
    t = rng.choice([0, 1, 3], n)  # classes 2 and 5 absent: left out of the mean
    p = np.where(rng.random(n) < 0.6, t, rng.choice([0, 1, 3, 4], n))
    w = weights_for(rng, n, "N" if weighted else None)
    # (Keras' IoU metrics default to dtype "int", which truncates float weights)
    compare(lambda: mc.MeanIoU(C, backend=backend),
            lambda: keras.metrics.MeanIoU(C, dtype="float32"), (t, p, w), rng)
    slices = batches(n, rng, SIZES)
    mine = feed(mc.ConfusionMatrix(C, backend=backend), (t, p, w), slices).result()
    theirs = feed(keras.metrics.MeanIoU(C, dtype="float32"), (t, p, w), slices).total_cm.numpy()
    if weighted:
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=ATOL)
    else:
        np.testing.assert_array_equal(mine, theirs.astype(np.int64))


@pytest.mark.parametrize("ignore_class", [0, 2, 255])
def test_mean_iou_ignore_class(backend, rng, ignore_class):
    n, C = 600, 4
    t = rng.integers(0, C, n)
    if ignore_class >= C:
        t[rng.random(n) < 0.2] = ignore_class
    p = rng.integers(0, C, n)
    for w in (None, weights_for(rng, n, "N")):
        compare(lambda: mc.MeanIoU(C, ignore_class=ignore_class, backend=backend),
                lambda: keras.metrics.MeanIoU(C, ignore_class=ignore_class, dtype="float32"),
                (t, p, w), rng)


def test_mean_iou_from_scores(backend, rng):
    n, C = 600, 5
    t = rng.integers(0, C, n)
    scores = (rng.random((n, C)) + 0.7 * np.eye(C)[t]).astype(np.float32)
    for w in (None, weights_for(rng, n, "N")):
        compare(lambda: mc.MeanIoU(C, sparse_y_pred=False, backend=backend),
                lambda: keras.metrics.MeanIoU(C, sparse_y_pred=False, dtype="float32"),
                (t, scores, w), rng)
        compare(lambda: mc.MeanIoU(C, sparse_y_true=False, sparse_y_pred=False, backend=backend),
                lambda: keras.metrics.MeanIoU(C, sparse_y_true=False, sparse_y_pred=False,
                                                      dtype="float32"),
                (np.eye(C, dtype=np.float32)[t], scores, w), rng)


# ============================================================= accuracy family
@pytest.mark.parametrize("shape", [(500,), (500, 1), (500, 3)])
@pytest.mark.parametrize("wkind", [None, "N", "N1"])
def test_accuracy_and_binary_accuracy(backend, rng, shape, wkind):
    w = weights_for(rng, shape[0], wkind)
    t = rng.integers(0, 3, shape)
    p = rng.integers(0, 3, shape).astype(np.float32)
    compare(lambda: mc.Accuracy(backend=backend), lambda: keras.metrics.Accuracy(), (t, p, w), rng)
    tb = rng.integers(0, 2, shape)
    pb = grid(rng, shape, levels=9)  # hits 0.5 and 0.75 exactly
    for thr in (0.5, 0.75):
        compare(lambda: mc.BinaryAccuracy(threshold=thr, backend=backend),
                lambda: keras.metrics.BinaryAccuracy(threshold=thr), (tb, pb, w), rng)


def test_binary_accuracy_rank_rules(backend, rng):
    """(N,) labels with (N, 1) scores and the reverse: Keras squeezes the extra axis."""
    n = 500
    t, p = rng.integers(0, 2, n), grid(rng, n)
    for args in ((t, p[:, None]), (t[:, None], p)):
        for w in (None, weights_for(rng, n, "N"), weights_for(rng, n, "N1")):
            compare(lambda: mc.BinaryAccuracy(backend=backend),
                    lambda: keras.metrics.BinaryAccuracy(), args + (w,), rng)


@pytest.mark.parametrize("wkind", [None, "N", "N1"])
def test_categorical_accuracies(backend, rng, wkind):
    n, C = 600, 6
    ids = rng.integers(0, C, n)
    p = grid(rng, (n, C), levels=4)  # ties: argmax takes the first, in_top_k counts them in
    w = weights_for(rng, n, wkind)
    onehot = np.eye(C, dtype=np.float32)[ids]
    compare(lambda: mc.CategoricalAccuracy(backend=backend),
            lambda: keras.metrics.CategoricalAccuracy(), (onehot, p, w), rng)
    compare(lambda: mc.SparseCategoricalAccuracy(backend=backend),
            lambda: keras.metrics.SparseCategoricalAccuracy(), (ids, p, w), rng)
    compare(lambda: mc.SparseCategoricalAccuracy(backend=backend),
            lambda: keras.metrics.SparseCategoricalAccuracy(), (ids[:, None], p, w), rng)
    for k in (1, 2, 5):
        compare(lambda: mc.TopKCategoricalAccuracy(k=k, backend=backend),
                lambda: keras.metrics.TopKCategoricalAccuracy(k=k), (onehot, p, w), rng)
        compare(lambda: mc.SparseTopKCategoricalAccuracy(k=k, backend=backend),
                lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=k), (ids, p, w), rng)


def test_sparse_top_k_from_sorted_ids(backend, rng):
    n, C, k = 500, 8, 3
    ids = rng.integers(0, C, n)
    sorted_ids = np.argsort(-rng.random((n, C)), axis=1).astype(np.int32)
    for w in (None, weights_for(rng, n, "N")):
        compare(lambda: mc.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True,
                                                         backend=backend),
                lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True),
                (ids, sorted_ids, w), rng)


# ================================================================== regression
REGRESSION = ["MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError",
              "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "LogCoshError",
              "CosineSimilarity"]


@pytest.mark.parametrize("name", REGRESSION)
@pytest.mark.parametrize("d", [1, 4])
@pytest.mark.parametrize("wkind", [None, "N", "N1"])
def test_regression(backend, rng, name, d, wkind):
    """Shapes (N, D) only: rank-1 inputs are read differently on purpose (module docstring)."""
    n = 500
    t = rng.normal(size=(n, d)).astype(np.float32)
    p = (t + rng.normal(0.3, 1.0, (n, d))).astype(np.float32)
    if name in ("MeanAbsolutePercentageError", "MeanSquaredLogarithmicError"):
        t[rng.random((n, d)) < 0.02] = 0.0  # hits the 1e-7 clamps
    w = weights_for(rng, n, wkind)
    compare(lambda: getattr(mc, name)(backend=backend), lambda: getattr(keras.metrics, name)(),
            (t, p, w), rng)


@pytest.mark.parametrize("aggregation", [None, "uniform_average", "variance_weighted_average"])
@pytest.mark.parametrize("num_regressors", [0, 2])
@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("wkind", [None, "N", "N1"])
def test_r2(backend, rng, aggregation, num_regressors, d, wkind):
    n = 500
    t = rng.normal(size=(n, d)).astype(np.float32)  # mean ~0: Keras' one-pass float32 formula
    p = (t + 0.7 * rng.normal(size=(n, d))).astype(np.float32)  # is accurate enough here
    w = weights_for(rng, n, wkind)
    compare(lambda: mc.R2Score(class_aggregation=aggregation, num_regressors=num_regressors,
                               backend=backend),
            lambda: keras.metrics.R2Score(class_aggregation=aggregation,
                                          num_regressors=num_regressors),
            (t, p, w), rng, rtol=1e-4)  # float32 sums of squares lose ~1e-6..1e-5


# ============================================================ Mean, Sum, wrapper
@pytest.mark.parametrize("shape,wkind", [((500,), None), ((500,), "N"), ((500, 3), None),
                                         ((500, 3), "N"), ((500, 3), "N1"), ((500, 3), "full")])
def test_mean_sum(backend, rng, shape, wkind):
    v = rng.normal(size=shape).astype(np.float32)
    if wkind == "full":
        w = rng.uniform(0, 2, shape).astype(np.float32)
    else:
        w = weights_for(rng, shape[0], wkind)
    compare(lambda: mc.Mean(backend=backend), lambda: keras.metrics.Mean(), (v, w), rng)
    compare(lambda: mc.Sum(backend=backend), lambda: keras.metrics.Sum(), (v, w), rng,
            rtol=1e-4)  # a float32 running sum of ~500 values of both signs


def _max_abs_np(y_true, y_pred):
    return np.max(np.abs(np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64)), axis=-1)


def _max_abs_keras(y_true, y_pred):
    return ops.max(ops.abs(ops.cast(y_true, "float32") - y_pred), axis=-1)


@mc.elementwise
def _squared(t, p):
    return (t - p) * (t - p)


def _squared_keras(y_true, y_pred):
    return ops.square(ops.cast(y_true, "float32") - y_pred)


@pytest.mark.parametrize("wkind", [None, "N", "N1"])
def test_mean_metric_wrapper(backend, rng, wkind):
    n, d = 500, 3
    t = rng.normal(size=(n, d)).astype(np.float32)
    p = rng.normal(size=(n, d)).astype(np.float32)
    w = weights_for(rng, n, wkind)
    compare(lambda: mc.MeanMetricWrapper(_max_abs_np, backend=backend),
            lambda: keras.metrics.MeanMetricWrapper(_max_abs_keras), (t, p, w), rng)
    compare(lambda: mc.MeanMetricWrapper(_squared, backend=backend),
            lambda: keras.metrics.MeanMetricWrapper(_squared_keras), (t, p, w), rng)
    compare(lambda: mc.MeanSquaredError(backend=backend),
            lambda: keras.metrics.MeanMetricWrapper(_squared_keras), (t, p, w), rng)


def test_reference_agrees_with_keras(rng):
    """The float64 reference formulas of tests/_reference.py against Keras' own functions."""
    n, d = 300, 4
    t = rng.normal(size=(n, d)).astype(np.float32)
    p = (t + rng.normal(size=(n, d))).astype(np.float32)
    t[:5] = 0.0
    for kind, fn in (("abs", keras.metrics.mean_absolute_error),
                     ("sq", keras.metrics.mean_squared_error),
                     ("mape", keras.metrics.mean_absolute_percentage_error),
                     ("msle", keras.metrics.mean_squared_logarithmic_error),
                     ("logcosh", keras.metrics.log_cosh)):
        np.testing.assert_allclose(R.term(kind, t, p).mean(axis=1), np.asarray(fn(t, p)),
                                   rtol=1e-5, atol=1e-6, err_msg=kind)
    np.testing.assert_allclose(R.cosine_rows(t, p), np.asarray(keras.losses.cosine_similarity(
        t, p)) * -1.0, rtol=1e-5, atol=1e-6)


# ====================================================== rank-3 (sequence) inputs
def rank3_weights(rng, shape, kind):
    N, T, C = shape
    return {None: None, "N": rng.uniform(0, 2, N), "NT": rng.uniform(0, 2, (N, T)),
            "NTC": rng.uniform(0, 2, (N, T, C))}[kind]


@pytest.mark.parametrize("wkind", [None, "NT", "NTC"])  # (Keras cannot broadcast (N,) here)
@pytest.mark.parametrize("top_k,class_id", [(None, None), (2, None), (None, 3), (1, 2)])
def test_threshold_family_rank3(backend, rng, wkind, top_k, class_id):
    """(N, T, C): top_k and class_id act on the last axis."""
    if class_id is not None and wkind == "NTC":
        pytest.skip("Keras cannot broadcast full-shape weights after selecting class_id")
    N, T, C = 200, 3, 5
    t = rng.integers(0, 2, (N, T, C))
    p = grid(rng, (N, T, C), levels=5)
    w = rank3_weights(rng, (N, T, C), wkind)
    kw = dict(top_k=top_k, class_id=class_id)
    for name in ("Precision", "Recall"):
        compare(lambda: getattr(mc, name)(backend=backend, **kw),
                lambda: getattr(keras.metrics, name)(**kw), (t, p, w), rng)
    if top_k is None and class_id is None:
        compare(lambda: mc.TruePositives(backend=backend), lambda: keras.metrics.TruePositives(),
                (t, p, w), rng, exact=w is None)


@pytest.mark.parametrize("wkind", [None, "N", "NT"])
def test_regression_and_mean_rank3(backend, rng, wkind):
    N, T, C = 200, 3, 4
    t = rng.normal(size=(N, T, C)).astype(np.float32)
    p = (t + rng.normal(0.3, 1.0, (N, T, C))).astype(np.float32)
    w = rank3_weights(rng, (N, T, C), wkind)
    for name in ("MeanSquaredError", "MeanAbsoluteError", "CosineSimilarity", "LogCoshError"):
        compare(lambda: getattr(mc, name)(backend=backend), lambda: getattr(keras.metrics, name)(),
                (t, p, w), rng)
    ti = rng.integers(0, 3, (N, T, C))
    pi = rng.integers(0, 3, (N, T, C)).astype(np.float32)
    compare(lambda: mc.Accuracy(backend=backend), lambda: keras.metrics.Accuracy(), (ti, pi, w),
            rng)
    compare(lambda: mc.Mean(backend=backend), lambda: keras.metrics.Mean(), (p, w), rng)
    compare(lambda: mc.Sum(backend=backend), lambda: keras.metrics.Sum(), (p, w), rng, rtol=1e-4)


@pytest.mark.parametrize("wkind", [None, "N", "NT"])
def test_accuracy_family_rank3(backend, rng, wkind):
    N, T, C = 200, 3, 6
    ids = rng.integers(0, C, (N, T))
    p = grid(rng, (N, T, C), levels=4)
    w = rank3_weights(rng, (N, T, C), wkind)
    compare(lambda: mc.SparseCategoricalAccuracy(backend=backend),
            lambda: keras.metrics.SparseCategoricalAccuracy(), (ids, p, w), rng)
    compare(lambda: mc.CategoricalAccuracy(backend=backend),
            lambda: keras.metrics.CategoricalAccuracy(),
            (np.eye(C, dtype=np.float32)[ids], p, w), rng)
    compare(lambda: mc.SparseTopKCategoricalAccuracy(k=2, backend=backend),
            lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=2), (ids, p, w), rng)


@pytest.mark.parametrize("weighted", [False, True])
def test_segmentation_mean_iou(backend, rng, weighted):
    N, H, W, C = 20, 8, 6, 5
    t = rng.integers(0, C, (N, H, W))
    scores = (rng.random((N, H, W, C)) + 0.6 * np.eye(C)[t]).astype(np.float32)
    w = rng.uniform(0, 2, (N, H, W)).astype(np.float32) if weighted else None
    compare(lambda: mc.MeanIoU(C, sparse_y_pred=False, backend=backend),
            lambda: keras.metrics.MeanIoU(C, sparse_y_pred=False, dtype="float32"),
            (t, scores, w), rng)
    compare(lambda: mc.MeanIoU(C, backend=backend),
            lambda: keras.metrics.MeanIoU(C, dtype="float32"),
            (t, np.argmax(scores, axis=-1), w), rng)


def test_reference_reduction_agrees_with_keras(rng):
    """tests/_reference.keras_mean / keras_sum against keras.metrics.Mean / Sum, any ranks."""
    v = rng.normal(size=(40, 3, 4)).astype(np.float32)
    for w in (None, rng.random(40), rng.random((40, 1)), rng.random((40, 3)),
              rng.random((40, 3, 4))):
        m, s = keras.metrics.Mean(), keras.metrics.Sum()
        m.update_state(v, w)
        s.update_state(v, w)
        np.testing.assert_allclose(R.keras_mean(v, w), np.asarray(m.result()), rtol=1e-5)
        np.testing.assert_allclose(R.keras_sum(v, w), np.asarray(s.result()), rtol=1e-5,
                                   atol=1e-4)
