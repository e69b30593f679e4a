"""Evaluate a (synthetic) classifier batch by batch with metricore, the Keras way.

    python examples/quickstart.py

Prints each metric's result after 100 batches, on both CPU backends, and the same numbers
from scikit-learn when it is installed.
"""

import numpy as np

import metricore as mc

rng = np.random.default_rng(0)
NUM_BATCHES, BATCH, CLASSES = 100, 1024, 10


def batches():
    """A stream of (binary labels, scores, weights, class ids, class scores)."""
    for _ in range(NUM_BATCHES):
        y_true = rng.integers(0, 2, BATCH)
        y_pred = np.clip(0.3 * y_true + 0.7 * rng.random(BATCH), 0, 1).astype(np.float32)
        w = rng.random(BATCH)
        ids = rng.integers(0, CLASSES, BATCH)
        scores = rng.random((BATCH, CLASSES)).astype(np.float32)
        scores[np.arange(BATCH), ids] += 0.3  # a better-than-chance model
        yield y_true, y_pred, w, ids, scores


def make_metrics(backend):
    return {
        "binary_accuracy": mc.BinaryAccuracy(threshold=0.5, backend=backend),
        "precision@[.3,.5,.7]": mc.Precision(thresholds=[0.3, 0.5, 0.7], backend=backend),
        "recall (weighted)": mc.Recall(backend=backend),
        "sparse_categorical_accuracy": mc.SparseCategoricalAccuracy(backend=backend),
        "top3_accuracy": mc.SparseTopKCategoricalAccuracy(k=3, backend=backend),
        "mean_iou": mc.MeanIoU(num_classes=CLASSES, backend=backend),
        "mae (weighted)": mc.MeanAbsoluteError(backend=backend),
        "auroc (exact)": mc.AUC(num_thresholds=None, backend=backend),
        "average_precision (exact)": mc.AUC(num_thresholds=None, curve="PR", backend=backend),
        "auc (65,536 bins)": mc.AUC(num_thresholds=65536, backend=backend),
        "auroc ovr macro (exact)": mc.AUROC(task="multiclass", num_classes=CLASSES,
                                            backend=backend),
        # One histogram pass per batch for all four (a fused collection).
        "collection": mc.MetricCollection([
            mc.Precision(backend=backend), mc.Recall(backend=backend),
            mc.AUC(backend=backend), mc.PrecisionAtRecall(0.8, backend=backend)]),
    }


def main():
    data = list(batches())
    results = {}
    for backend in ("cpp", "numba"):
        metrics = make_metrics(backend)
        for y_true, y_pred, w, ids, scores in data:
            metrics["binary_accuracy"].update_state(y_true, y_pred)
            metrics["precision@[.3,.5,.7]"].update_state(y_true, y_pred)
            metrics["recall (weighted)"].update_state(y_true, y_pred, sample_weight=w)
            metrics["sparse_categorical_accuracy"].update_state(ids, scores)
            metrics["top3_accuracy"].update_state(ids, scores)
            metrics["mean_iou"].update_state(ids, scores.argmax(axis=1))
            metrics["mae (weighted)"].update_state(y_true, y_pred, sample_weight=w)
            for name in ("auroc (exact)", "average_precision (exact)", "auc (65,536 bins)",
                         "collection"):
                metrics[name].update_state(y_true, y_pred)
            metrics["auroc ovr macro (exact)"].update_state(ids, scores / scores.sum(1, keepdims=True))
        results[backend] = {}
        for name, m in metrics.items():
            if isinstance(m, mc.MetricCollection):
                for key, value in m.result().items():
                    results[backend][f"{name}: {key}"] = value
            else:
                results[backend][name] = m.result()

    reference = {}
    try:
        from sklearn import metrics as skm

        y_true, y_pred, w, ids, scores = (np.concatenate(x) for x in zip(*data))
        reference = {
            "binary_accuracy": skm.accuracy_score(y_true, y_pred > 0.5),
            "precision@[.3,.5,.7]": [skm.precision_score(y_true, y_pred > t) for t in (0.3, 0.5, 0.7)],
            "recall (weighted)": skm.recall_score(y_true, y_pred > 0.5, sample_weight=w),
            "sparse_categorical_accuracy": skm.accuracy_score(ids, scores.argmax(axis=1)),
            "top3_accuracy": skm.top_k_accuracy_score(ids, scores, k=3, labels=range(CLASSES)),
            "mean_iou": skm.jaccard_score(ids, scores.argmax(axis=1), average="macro"),
            "mae (weighted)": skm.mean_absolute_error(y_true, y_pred, sample_weight=w),
            "auroc (exact)": skm.roc_auc_score(y_true, y_pred),
            "average_precision (exact)": skm.average_precision_score(y_true, y_pred),
            "auc (65,536 bins)": skm.roc_auc_score(y_true, y_pred),
            "auroc ovr macro (exact)": skm.roc_auc_score(ids, scores / scores.sum(1, keepdims=True),
                                                         multi_class="ovr"),
            "collection: precision": skm.precision_score(y_true, y_pred > 0.5),
            "collection: recall": skm.recall_score(y_true, y_pred > 0.5),
        }
    except ImportError:
        pass

    fmt = lambda v: np.array2string(np.asarray(v, dtype=float), precision=6)  # noqa: E731
    print(f"{'metric':30s} {'metricore cpp':>28s} {'metricore numba':>28s} {'scikit-learn':>28s}")
    for name in results["cpp"]:
        ref = fmt(reference[name]) if name in reference else "-"
        print(f"{name:30s} {fmt(results['cpp'][name]):>28s} {fmt(results['numba'][name]):>28s} {ref:>28s}")


if __name__ == "__main__":
    main()
