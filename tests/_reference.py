"""Expected values for the conformance tests, computed without metricore.

Everything here is float64 NumPy (or scikit-learn) written from the *definitions*: Keras'
documented semantics for the threshold family, top_k, class_id, F-beta (with its epsilon
terms), IoU and the accuracy family, and the plain formulas for the regression errors.
Nothing imports metricore, so a bug shared by a metric and its reference is unlikely.
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-7  # keras.backend.epsilon()
NEG_INF = -1e10  # Keras' threshold when top_k is given without thresholds
LOG2 = np.log(2.0)


# ------------------------------------------------------------------ feeding
def take(arrays, s):
    """The rows ``s`` of every array (None and scalars pass through)."""
    return tuple(a if a is None or np.ndim(a) == 0 else a[s] for a in arrays)


def feed(metric, arrays, slices):
    """``metric.update_state(*arrays[s])`` for each slice ``s`` in order; returns the metric."""
    for s in slices:
        metric.update_state(*take(arrays, s))
    return metric


def split3(n, rng):
    """Three contiguous shards of range(n) (some may be empty)."""
    a, b = np.sort(rng.integers(0, n + 1, size=2))
    return [slice(0, int(a)), slice(int(a), int(b)), slice(int(b), n)]


# ------------------------------------------------------------------ weights
def _f64(x):
    return np.asarray(x, dtype=np.float64)


def weights_like(sample_weight, shape):
    """Keras' broadcast of a sample weight to ``shape`` (rank-1 weights apply to rows)."""
    if sample_weight is None:
        return np.ones(shape)
    w = _f64(sample_weight)
    if w.ndim == 1 and len(shape) == 2:
        w = w[:, None]
    elif w.ndim == len(shape) + 1 and w.shape[-1] == 1:
        w = w[..., 0]
    return np.broadcast_to(w, shape)


def row_weights(sample_weight, n):
    if sample_weight is None:
        return np.ones(n)
    w = _f64(sample_weight)
    if w.ndim == 0:
        return np.full(n, float(w))
    return w.reshape(n)


# ------------------------------------------------------- threshold family
def topk_mask(scores, k):
    """Keras' _filter_top_k: the k largest scores of each row are kept, ties to the lower index."""
    scores = _f64(scores)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    mask = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def threshold_counts(y_true, y_pred, sample_weight=None, thresholds=None, top_k=None,
                     class_id=None, per_label=False):
    """(TP, FP, TN, FN) at each threshold, Keras' definition.

    Positive prediction iff the score is kept by top_k (if any) and ``score > threshold``
    (strict, in float64). Labels are (N,) or (N, L). Returns four arrays of shape (T,)
    (pooled over labels) or (T, L) with ``per_label``; int64 when unweighted.
    """
    t = np.asarray(y_true)
    p = _f64(y_pred)
    if t.ndim == 1:
        t = t[:, None]
    if p.ndim == 1:
        p = p[:, None]
    if thresholds is None:
        thresholds = [NEG_INF if top_k else 0.5]
    thr = _f64(thresholds).reshape(-1)
    kept = topk_mask(p, top_k) if top_k else np.ones(p.shape, dtype=bool)
    w = weights_like(sample_weight, p.shape) if sample_weight is not None else None
    if class_id is not None:
        t, p, kept = t[:, [class_id]], p[:, [class_id]], kept[:, [class_id]]
        w = None if w is None else w[:, [class_id]]
    lab = (t != 0)[:, :, None]
    pos = kept[:, :, None] & (p[:, :, None] > thr)  # (N, L, T)
    cells = (lab & pos, ~lab & pos, ~lab & ~pos, lab & ~pos)
    if w is None:
        out = [c.sum(axis=0, dtype=np.int64) for c in cells]
    else:
        out = [np.where(c, w[:, :, None], 0.0).sum(axis=0) for c in cells]
    if per_label:
        return tuple(o.T for o in out)  # (T, L)
    return tuple(o.sum(axis=0) for o in out)  # (T,)


def safe_div(num, den):
    num, den = _f64(num), _f64(den)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out[()] if out.ndim == 0 else out


def fbeta_keras(tp, fp, fn, beta):
    """Keras' FBetaScore.result formula, epsilon terms included, in float64."""
    tp, fp, fn = _f64(tp), _f64(fp), _f64(fn)
    precision = tp / (tp + fp + EPSILON)
    recall = tp / (tp + fn + EPSILON)
    b2 = beta * beta
    return precision * recall / (b2 * precision + recall + EPSILON) * (1 + b2)


def fbeta_predictions(y_pred, threshold):
    """Keras' binarisation: ``p > threshold``, or (threshold None) the row maximum, ties in."""
    p = _f64(y_pred)
    if threshold is None:
        return (p >= p.max(axis=1, keepdims=True)) & (np.abs(p) > 1e-9)
    return p > threshold


def fbeta_expected(y_true, y_pred, sample_weight, beta, average, threshold):
    t = _f64(y_true)
    pred = fbeta_predictions(y_pred, threshold).astype(np.float64)
    w = row_weights(sample_weight, t.shape[0])[:, None]
    tp = (w * pred * t).sum(axis=0)
    fp = (w * pred * (1 - t)).sum(axis=0)
    fn = (w * (1 - pred) * t).sum(axis=0)
    support = (w * t).sum(axis=0)
    if average == "micro":
        return fbeta_keras(tp.sum(), fp.sum(), fn.sum(), beta)
    score = fbeta_keras(tp, fp, fn, beta)
    if average == "macro":
        return score.mean()
    if average == "weighted":
        return np.sum(score * (support / (support.sum() + EPSILON)))
    return score


# ----------------------------------------------------------- confusion / IoU
def confusion_matrix(y_true, y_pred, num_classes, sample_weight=None):
    """sklearn's confusion matrix over labels range(num_classes) (int64 unweighted)."""
    from sklearn.metrics import confusion_matrix as cm

    t, p = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if t.size == 0 or (sample_weight is not None and not np.any(sample_weight)):
        # sklearn refuses empty inputs and all-zero weights
        return np.zeros((num_classes, num_classes),
                        dtype=np.int64 if sample_weight is None else np.float64)
    return cm(t, p, labels=np.arange(num_classes), sample_weight=sample_weight)


def argmax_first(scores):
    """Row argmax, first maximum (NumPy's and TF's convention)."""
    return np.argmax(_f64(scores), axis=1)


def mean_iou(cm):
    """Mean IoU over classes whose denominator (row + column - diagonal) is not zero."""
    cm = _f64(cm)
    tp = np.diag(cm)
    den = cm.sum(axis=0) + cm.sum(axis=1) - tp
    valid = den != 0
    if not valid.any():
        return 0.0
    return float(np.mean(tp[valid] / den[valid]))


def present_classes(cm):
    cm = _f64(cm)
    den = cm.sum(axis=0) + cm.sum(axis=1) - np.diag(cm)
    return np.flatnonzero(den != 0)


# ----------------------------------------------------------- accuracy family
def in_top_k(true_ids, scores, k):
    """tf.math.in_top_k: fewer than k scores strictly greater than the target's (ties in)."""
    scores = _f64(scores)
    ids = np.asarray(true_ids).reshape(-1).astype(np.int64)
    target = scores[np.arange(ids.size), ids]
    return (scores > target[:, None]).sum(axis=1) < k


def weighted_fraction(hits, sample_weight=None):
    hits = np.asarray(hits, dtype=np.float64).reshape(-1)
    w = row_weights(sample_weight, hits.size)
    return safe_div(np.sum(w * hits), np.sum(w))


# ------------------------------------------------------------ moments family
def as_2d(x):
    x = _f64(x)
    if x.ndim == 1:
        return x[:, None]
    return x.reshape(x.shape[0], -1)


def moment_sums(values, sample_weight=None):
    """Keras' reduce_to_samplewise_values for Mean: (sum_i mean_j w_ij v_ij, sum_i mean_j w_ij)."""
    v = as_2d(values)
    n, d = v.shape
    if sample_weight is None:
        return v.mean(axis=1).sum(), float(n)
    w = _f64(sample_weight)
    if w.ndim >= 2 and w.size == n * d and d > 1:  # one weight per element
        w = w.reshape(n, d)
        return (w * v).mean(axis=1).sum(), w.mean(axis=1).sum()
    w = row_weights(w, n)
    return np.sum(w * v.mean(axis=1)), np.sum(w)


def weighted_mean(values, sample_weight=None):
    num, den = moment_sums(values, sample_weight)
    return safe_div(num, den)


def weighted_sum(values, sample_weight=None):
    """Keras' Sum: sum of w * v over every element (rank-1 weights apply to rows)."""
    v = as_2d(values)
    n, d = v.shape
    if sample_weight is None:
        return v.sum()
    w = _f64(sample_weight)
    if w.ndim >= 2 and w.size == n * d and d > 1:
        return np.sum(w.reshape(n, d) * v)
    return np.sum(row_weights(w, n)[:, None] * v)


def term(kind, y_true, y_pred, threshold=0.5):
    """The per-element error terms of Keras' regression/accuracy functions, in float64."""
    t, p = _f64(y_true), _f64(y_pred)
    if kind == "abs":
        return np.abs(t - p)
    if kind == "sq":
        return (t - p) ** 2
    if kind == "mape":
        return 100.0 * np.abs(t - p) / np.maximum(np.abs(t), EPSILON)
    if kind == "msle":
        return (np.log(np.maximum(p, EPSILON) + 1.0) - np.log(np.maximum(t, EPSILON) + 1.0)) ** 2
    if kind == "logcosh":
        x = p - t
        return x + np.logaddexp(0.0, -2.0 * x) - LOG2
    if kind == "equal":
        return (t == p).astype(np.float64)
    if kind == "binary":
        return ((p > threshold).astype(np.float64) == t).astype(np.float64)
    raise ValueError(kind)


def cosine_rows(y_true, y_pred):
    """Keras' cosine_similarity per row (l2-normalise with max(sum x^2, 1e-12))."""
    t, p = as_2d(y_true), as_2d(y_pred)
    nt = np.sqrt(np.maximum((t * t).sum(axis=1), 1e-12))
    npred = np.sqrt(np.maximum((p * p).sum(axis=1), 1e-12))
    return (t * p).sum(axis=1) / (nt * npred)


def adjusted_r2(r2, n, k):
    return 1.0 - (1.0 - r2) * (n - 1) / (n - k - 1)


# ------------------------------------------------- Keras' reduction, any rank
def keras_samplewise(values, sample_weight=None, reduce=np.mean):
    """Keras' reduce_to_samplewise_values: per-sample values and weights, for any ranks.

    The weight's rank is matched to the values' (squeeze/expand one trailing axis), the
    values are reduced over the axes the weight lacks, multiplied by the broadcast weight,
    then values and weights are reduced to one per sample. Returns (values, weights or None).
    """
    v = _f64(values)
    if v.ndim == 0:
        v = v.reshape(1)
    w = None
    if sample_weight is not None:
        w = _f64(sample_weight)
        if v.ndim == w.ndim + 1 and v.shape[-1] == 1:
            if w.ndim == 1:
                w = w[:, None]
            else:
                v = v[..., 0]
        elif w.ndim == v.ndim + 1 and w.shape[-1] == 1:
            if v.ndim == 1:
                v = v[:, None]
            else:
                w = w[..., 0]
        if v.ndim > w.ndim:
            v = reduce(v, axis=tuple(range(w.ndim, v.ndim)))
        w = np.broadcast_to(w, v.shape)
        v = v * w
        if w.ndim > 1:
            w = reduce(w, axis=tuple(range(1, w.ndim)))
    if v.ndim > 1:
        v = reduce(v, axis=tuple(range(1, v.ndim)))
    return v, w


def keras_mean(values, sample_weight=None):
    """keras.metrics.Mean over one batch (any ranks), in float64."""
    v, w = keras_samplewise(values, sample_weight, np.mean)
    return safe_div(v.sum(), v.shape[0] if w is None else w.sum())


def keras_sum(values, sample_weight=None):
    """keras.metrics.Sum over one batch (any ranks), in float64."""
    v, _ = keras_samplewise(values, sample_weight, np.sum)
    return v.sum()
