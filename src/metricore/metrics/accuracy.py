"""The accuracy family (Keras 3 semantics).

Accuracy and BinaryAccuracy are elementwise comparisons averaged per sample (the moments
kernel). The categorical ones count rows whose true class is predicted (the top-k kernel)
into ``counts`` = [matches, samples]: exact int64 until a weighted batch arrives.
"""

from __future__ import annotations

import numpy as np

from metricore import _validation as V
from metricore import functional as F
from metricore._backends.protocol import MomentKind
from metricore.metrics.base import Metric
from metricore.metrics.confusion import run_counting_kernel
from metricore.metrics.reduction import MomentsMetric


class Accuracy(MomentsMetric):
    """How often ``y_pred`` equals ``y_true`` exactly (Keras' ``Accuracy``).

    Example:
        >>> import metricore as mc
        >>> m = mc.Accuracy()
        >>> m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
        >>> float(m.result())
        0.75
    """

    _kind = MomentKind.EQUAL


class BinaryAccuracy(MomentsMetric):
    """How often ``y_pred > threshold`` equals the binary ``y_true`` (Keras' ``BinaryAccuracy``).

    Example:
        >>> import metricore as mc
        >>> m = mc.BinaryAccuracy(threshold=0.5)
        >>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
        >>> float(m.result())
        0.75
    """

    _kind = MomentKind.BINARY_MATCH

    def __init__(self, name=None, dtype=None, threshold=0.5, backend=None):
        super().__init__(name=name, dtype=dtype, backend=backend)
        if not isinstance(threshold, (int, float, np.floating)) or isinstance(threshold, bool):
            raise TypeError(f"threshold must be a number; got {threshold!r}")
        self.threshold = float(threshold)
        self._param = self.threshold

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}

    # MetricCollection fusion: matches at one threshold are TP + TN of a shared histogram
    # (y_true must then be binary, as for every curve metric it is fused with).
    _fusion_needs_sums = False

    def _fusion_key(self, ndim, num_labels):
        return ("pooled", None, False)

    def _fusion_thresholds(self):
        return np.array([self.threshold])

    def _fusion_prepare(self, t, p, m):
        pass

    def _fusion_absorb(self, hist, thresholds, sums):
        k = int(np.searchsorted(thresholds, self.threshold, side="right"))  # buckets <= k: neg
        hist = np.asarray(hist, dtype=np.float64).sum(axis=-1)  # (..., 2, buckets)
        tn, tp = hist[..., 0, :k].sum(axis=-1), hist[..., 1, k:].sum(axis=-1)
        self.moments.value = self.moments.value + np.stack(
            [tp + tn, hist.sum(axis=(-2, -1))], axis=-1)


class _TopKFamily(Metric):
    """Family base: rows whose true class is among the predicted ones (one kernel call)."""

    _atomic_update = True
    _supports_groups = True
    _supports_device = True
    _sparse = True  # y_true holds class ids (else one-hot-like rows)
    _k = 0  # 0 = argmax match; k >= 1 = in top k (ties in)

    def __init__(self, name=None, dtype=None, backend=None):
        super().__init__(name=name, dtype=dtype, backend=backend)
        self.counts = self.add_weight("counts", shape=(2,), dtype=np.int64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = V.scores(y_pred, "y_pred")
        t = V.labels(y_true, "y_true")
        if p.ndim < 2:
            raise ValueError(
                f"y_pred must have shape (num_samples, num_classes); got {p.shape}")
        num_classes = p.shape[-1]
        sample_shape = p.shape[:-1]  # (N,) or (N, T): one prediction per leading index
        p = V.rows(p)
        if self._sparse:
            t = t.reshape(-1)  # (N,), (N, 1) or (N, T) for (N, T, C) scores
        else:
            t = t.reshape(-1, t.shape[-1]) if t.ndim > 2 else t
            if t.ndim != 2 or t.shape[1] != num_classes:
                raise ValueError(
                    f"y_true must be one-hot rows of shape (num_samples, {num_classes}); "
                    f"got {t.shape}")
        V.check_lengths(p.shape[0], y_true=t)
        w = V.weights(sample_weight, sample_shape)
        w = None if w is None else w.reshape(-1)
        backend = self._backend()

        def call(out, override):
            return backend.topk_matches(t, p, w if override is None else override, self._k, out)

        err = run_counting_kernel(self.counts, w is not None, (p.shape[0],), call)
        if err[0]:
            V.raise_for_error(err, y_true=t, y_pred=p, sample_weight=w, num_classes=num_classes)

    def result(self):
        matches, total = self.counts.value
        return self._cast_result(F.safe_div(matches, total))


class CategoricalAccuracy(_TopKFamily):
    """How often argmax(y_pred) equals argmax(y_true) for one-hot ``y_true``.

    Example:
        >>> import metricore as mc
        >>> m = mc.CategoricalAccuracy()
        >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        >>> float(m.result())
        0.5
    """

    _sparse = False


class SparseCategoricalAccuracy(_TopKFamily):
    """How often argmax(y_pred) equals the integer label ``y_true``.

    Example:
        >>> import metricore as mc
        >>> m = mc.SparseCategoricalAccuracy()
        >>> m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
        >>> float(m.result())
        0.5
    """


class _TopK(_TopKFamily):
    def __init__(self, k=5, name=None, dtype=None, backend=None):
        super().__init__(name=name, dtype=dtype, backend=backend)
        self.k = self._k = V.positive_int(k, "k")

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class TopKCategoricalAccuracy(_TopK):
    """How often the one-hot target is in the top ``k`` predictions (ties count as in).

    Example:
        >>> import metricore as mc
        >>> m = mc.TopKCategoricalAccuracy(k=1)
        >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        >>> float(m.result())
        0.5
    """

    _sparse = False


class SparseTopKCategoricalAccuracy(_TopK):
    """How often the integer target is in the top ``k`` predictions (ties count as in).

    ``from_sorted_ids=True`` takes ``y_pred`` as class ids sorted by score (Keras 3).

    Example:
        >>> import metricore as mc
        >>> m = mc.SparseTopKCategoricalAccuracy(k=1)
        >>> m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        >>> float(m.result())
        0.5
    """

    _atomic_update = True  # the kernel commits all or nothing

    def __init__(self, k=5, name=None, dtype=None, from_sorted_ids=False, backend=None):
        super().__init__(k=k, name=name, dtype=dtype, backend=backend)
        self.from_sorted_ids = bool(from_sorted_ids)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not self.from_sorted_ids:
            return super().update_state(y_true, y_pred, sample_weight)
        # y_pred already holds the top ids: no kernel pass to fuse, a NumPy comparison is it.
        ids = V.labels(y_pred, "y_pred")
        t = V.class_ids(y_true, "y_true")
        if ids.ndim != 2:
            raise ValueError(f"y_pred must have shape (num_samples, N) of sorted ids; got {ids.shape}")
        V.check_lengths(t.shape[0], y_pred=ids)
        hits = (ids[:, : self.k] == t[:, None]).any(axis=1)
        w = V.row_weights(sample_weight, t.shape[0])
        if w is not None and not np.isfinite(w).all():
            V.raise_for_error((5, int(np.flatnonzero(~np.isfinite(w))[0]), 0), sample_weight=w)
        codes = self._group_codes
        if codes is not None:  # per-group sums: bincount is one pass, whatever the groups
            size = self._group_capacity
            delta = np.stack([np.bincount(codes, hits if w is None else w * hits, size),
                              np.bincount(codes, w, size)], axis=-1)
            delta = delta.astype(np.int64 if w is None else np.float64)
        elif w is None:
            delta = np.array([hits.sum(), hits.size], dtype=np.int64)
        else:
            delta = np.array([np.sum(w * hits), np.sum(w)], dtype=np.float64)
        self.counts.value = self.counts.value + delta

    def get_config(self):
        return {**super().get_config(), "from_sorted_ids": self.from_sorted_ids}
