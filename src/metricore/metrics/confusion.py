"""The threshold-confusion family: TP/FP/TN/FN, Precision, Recall, F-beta.

One family base owns the state (a ``confusion`` array of shape (4, T, M): rows TP, FP,
TN, FN; T thresholds; M = 1 pooled or one column per label) and the single kernel call,
so a metric of the family writes only its ``result()``.
"""

from __future__ import annotations



import numpy as np

from metricore import _validation as V
from metricore import functional as F
from metricore.metrics.base import Metric, Variable

TP, FP, TN, FN = range(4)
NEG_INF = -1e10  # Keras' threshold when top_k is set and no thresholds are given


def _unit_weights(shape, like=None):
    """Unit weights of ``shape``: a stride-0 view, on ``like``'s device for device state."""
    if like is None or type(like) is np.ndarray:
        return np.broadcast_to(np.float64(1.0), shape)
    import cupy

    return cupy.broadcast_to(cupy.ones((), np.float64), shape)


def run_counting_kernel(var: Variable, weighted: bool, shape, call):
    """Runs a counting kernel into ``var``: exact int64 counts until a weighted batch
    arrives, float64 from then on (promoted on a copy, committed only on success).

    ``call(out, weight_override)`` runs the kernel; ``weight_override`` is a unit-weight
    view for an unweighted batch on an already-float64 state (kernels take int64 ``out``
    exactly when they have no weights).
    """
    out = var.value
    override = None
    if out.dtype != np.float64 and weighted:
        out = out.astype(np.float64)
    elif out.dtype == np.float64 and not weighted:
        override = _unit_weights(shape, out)
    err = call(out, override)
    if err[0] == 0 and out is not var.value:
        var.value = out
    return err


class _ThresholdConfusion(Metric):
    """Family base: confusion counts at thresholds, one kernel call per batch."""

    _atomic_update = True
    _supports_device = True

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None,
                 backend=None, default_threshold=0.5, per_label=False):
        super().__init__(name=name, dtype=dtype, backend=backend)
        if top_k is not None:
            top_k = V.positive_int(top_k, "top_k")
        if class_id is not None:
            class_id = V.positive_int(class_id, "class_id", minimum=0)
        self.init_thresholds = thresholds
        if thresholds is None and top_k is not None:
            default_threshold = NEG_INF
        if thresholds is None:
            self._thresholds = np.array([default_threshold], dtype=np.float64)
        else:
            self._thresholds = V.thresholds(thresholds)
        self.top_k = top_k
        self.class_id = class_id
        self._per_label = per_label
        # A scalar threshold (or the default) gives scalar results, a list gives arrays (Keras).
        self._scalar = self._thresholds.size == 1
        self.confusion = None
        if not per_label:
            self.confusion = self.add_weight(
                "confusion", shape=(4, self._thresholds.size, 1), dtype=np.int64)

    @property
    def thresholds(self):
        return self._thresholds.tolist()

    @property
    def _supports_groups(self) -> bool:
        return self.top_k is None  # grouped counts come from a grouped score histogram

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = V.matching_rows(V.labels(y_true, "y_true"), V.scores(y_pred, "y_pred"))
        w = V.weights(sample_weight, p.shape)
        self._update_counts(V.rows(t), V.rows(p), None if w is None else V.rows(w))

    def _update_counts(self, t, p, w):
        """One kernel call on (N, L) labels, scores and weights (or None)."""
        n, num_labels = p.shape
        if self.class_id is not None and self.class_id >= num_labels:
            raise ValueError(
                f"class_id={self.class_id} is out of range for y_pred of shape {p.shape} "
                f"({num_labels} labels)")
        if self.confusion is None:
            self.confusion = self.add_weight(
                "confusion", shape=(4, self._thresholds.size, num_labels), dtype=np.int64)
        elif self._per_label and self.confusion.shape[2] != num_labels:
            raise ValueError(
                f"y_pred has {num_labels} labels but this metric was built for "
                f"{self.confusion.shape[2]}; got shape {p.shape}")
        backend = self._backend()
        top_k = self.top_k or 0
        class_id = -1 if self.class_id is None else self.class_id

        def call(out, override):
            return backend.threshold_counts(
                t, p, w if override is None else override, self._thresholds, top_k, class_id, out)

        err = run_counting_kernel(self.confusion, w is not None, p.shape, call)
        if err[0]:
            V.raise_for_error(err, y_true=t, y_pred=p, sample_weight=w)

    # MetricCollection fusion (see metricore.metrics.collection): counts at thresholds are
    # cumulative sums of a shared score histogram.
    _fusion_needs_sums = False

    def _fusion_key(self, ndim: int, num_labels: int):
        if self.top_k is not None or not self._fusable():
            return None
        if self.class_id is not None:
            return ("class", self.class_id, False)
        if self._per_label and num_labels > 1:
            return ("per_label", None, False)
        return ("pooled", None, False)

    def _fusable(self) -> bool:
        return True

    def _fusion_thresholds(self) -> np.ndarray:
        return self._thresholds

    def _fusion_prepare(self, t, p, m) -> None:
        if self.confusion is None:
            self.confusion = self.add_weight(
                "confusion", shape=(4, self._thresholds.size, m), dtype=np.int64)
        elif self.confusion.shape[2] != m:
            raise ValueError(
                f"y_pred has {m} labels but this metric was built for "
                f"{self.confusion.shape[2]}; got shape {p.shape}")

    def _fusion_absorb(self, hist, thresholds, sums) -> None:
        from metricore.metrics.curves import confusion_from_histogram, regroup_histogram

        mine = self._thresholds
        if not (thresholds.size == mine.size and np.array_equal(thresholds, mine)):
            hist = regroup_histogram(hist, thresholds, mine)
        self.confusion.value = self.confusion.value + np.stack(confusion_from_histogram(hist),
                                                               axis=-3)

    def _counts(self, row):
        """The pooled counts of one confusion row, shape (T,)."""
        if self.confusion is None:
            return np.zeros(self._thresholds.size)
        return self.confusion.value[row].sum(axis=-1)

    def _per_threshold(self, values):
        values = np.asarray(values)
        return self._cast_result(values[0] if self._scalar else values)

    def merge_state(self, others):
        others = [others] if isinstance(others, Metric) else list(others)
        for other in others:
            if type(other) is not type(self):
                self._check_mergeable(other)  # raises the standard error
        built = [o for o in others if o.confusion is not None]
        if built and self.confusion is None:
            self.confusion = self.add_weight(
                "confusion", shape=built[0].confusion.shape, dtype=np.int64)
        super().merge_state(built)

    def _load_arrays(self, state):
        if self.confusion is None and "confusion" in state:
            self.confusion = self.add_weight(
                "confusion", shape=np.shape(state["confusion"]), dtype=np.int64)
        super()._load_arrays(state)

    def reset_state(self):
        if self._per_label and self.confusion is not None:
            del self._variables["confusion"]
            self.confusion = None
        else:
            super().reset_state()

    def get_config(self):
        config = super().get_config()
        config.update(thresholds=self.init_thresholds, top_k=self.top_k, class_id=self.class_id)
        return config


class _Count(_ThresholdConfusion):
    _row = TP

    def __init__(self, thresholds=None, name=None, dtype=None, backend=None):
        super().__init__(thresholds=thresholds, name=name, dtype=dtype, backend=backend)

    def result(self):
        return self._per_threshold(self._counts(self._row))

    def get_config(self):
        config = super().get_config()
        del config["top_k"], config["class_id"]
        return config


class TruePositives(_Count):
    """Counts true positives (``y_pred > threshold`` and ``y_true == 1``), Keras' ``TruePositives``.

    Unweighted counts are exact int64; weighted counts are float64 sums.

    Example:
        >>> import metricore as mc
        >>> m = mc.TruePositives()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        >>> int(m.result())
        2
    """

    _row = TP


class FalsePositives(_Count):
    """Counts false positives at one threshold or a list of thresholds (Keras semantics)."""

    _row = FP


class TrueNegatives(_Count):
    """Counts true negatives at one threshold or a list of thresholds (Keras semantics)."""

    _row = TN


class FalseNegatives(_Count):
    """Counts false negatives at one threshold or a list of thresholds (Keras semantics)."""

    _row = FN


class Precision(_ThresholdConfusion):
    """TP / (TP + FP) at thresholds, with Keras' ``top_k`` and ``class_id``; 0.0 when undefined.

    Example:
        >>> import metricore as mc
        >>> m = mc.Precision(thresholds=[0.3, 0.7])
        >>> m.update_state([0, 1, 1, 1], [0.9, 0.2, 0.5, 0.8])
        >>> m.result().tolist()
        [0.6666666666666666, 1.0]
    """

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None, backend=None):
        super().__init__(thresholds, top_k, class_id, name=name, dtype=dtype, backend=backend)

    def result(self):
        return self._per_threshold(F.precision(self._counts(TP), self._counts(FP)))


class Recall(_ThresholdConfusion):
    """TP / (TP + FN) at thresholds, with Keras' ``top_k`` and ``class_id``; 0.0 when undefined."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None, backend=None):
        super().__init__(thresholds, top_k, class_id, name=name, dtype=dtype, backend=backend)

    def result(self):
        return self._per_threshold(F.recall(self._counts(TP), self._counts(FN)))


class FBetaScore(_ThresholdConfusion):
    """Keras' ``FBetaScore``: per-class F-beta on (N, C) inputs, averaged None/micro/macro/weighted.

    ``threshold=None`` marks the row maximum (ties included) as the prediction, as Keras does.
    The formula is Keras' own, with its epsilon terms, so results match Keras.

    Example:
        >>> import numpy as np, metricore as mc
        >>> m = mc.FBetaScore(beta=2.0, average="macro", threshold=0.5)
        >>> m.update_state(np.eye(3), np.eye(3) * 0.9)
        >>> round(float(m.result()), 6)
        1.0
    """

    _atomic_update = True  # the kernel commits all or nothing

    _AVERAGES = (None, "micro", "macro", "weighted")

    def __init__(self, average=None, beta=1.0, threshold=None, name=None, dtype=None, backend=None):
        if average not in self._AVERAGES:
            raise ValueError(f"average must be one of {self._AVERAGES}; got {average!r}")
        if not isinstance(beta, (int, float, np.floating)) or isinstance(beta, bool) or not beta > 0:
            raise ValueError(f"beta must be a positive number; got {beta!r}")
        if threshold is not None:
            if not isinstance(threshold, (int, float, np.floating)) or not 0 < threshold <= 1:
                raise ValueError(f"threshold must be a float in (0, 1]; got {threshold!r}")
        self.average = average
        self.beta = float(beta)
        self.threshold = threshold
        super().__init__(thresholds=None, default_threshold=0.5 if threshold is None else threshold,
                         name=name, dtype=dtype, backend=backend, per_label=True)

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = V.labels(y_true, "y_true"), V.scores(y_pred, "y_pred")
        if t.ndim != 2 or p.ndim != 2 or t.shape != p.shape:
            raise ValueError(
                f"{type(self).__name__} expects y_true and y_pred of the same shape "
                f"(num_samples, num_classes); got y_true {t.shape} and y_pred {p.shape}")
        if self.threshold is None and self._device is not None:
            # On a GPU the same marks, with NaN scores kept as NaN: the kernel then records
            # the first one (no host check, which would wait for the device).
            xp = self._xp()
            top = p.max(axis=1, keepdims=True) if p.shape[0] else p
            marked = ((p >= top) & (xp.abs(p) > 1e-9)).astype(np.float32)
            p = xp.where(xp.isnan(p), xp.float32(np.nan), marked)
        elif self.threshold is None:
            # Keras marks every score equal to the row maximum (and not ~0) as predicted.
            nan = np.isnan(p)
            if nan.any():
                row, col = np.argwhere(nan)[0]
                V.raise_for_error((4, row, col), y_pred=p)
            top = p.max(axis=1, keepdims=True) if p.shape[0] else p
            p = ((p >= top) & (np.abs(p) > 1e-9)).astype(np.float32)
        self._update_counts(t, p, V.weights(sample_weight, p.shape))

    def _fusable(self) -> bool:
        return self.threshold is not None

    def _fusion_key(self, ndim, num_labels):
        return None if ndim != 2 else super()._fusion_key(ndim, num_labels)

    def result(self):
        if self.confusion is None:
            return self._cast_result(0.0 if self.average else np.zeros(0))
        counts = self.confusion.value[:, 0, :]
        tp, fp, fn = counts[TP], counts[FP], counts[FN]
        if self.average == "micro":
            return self._cast_result(F.fbeta_keras(tp.sum(), fp.sum(), fn.sum(), self.beta))
        score = F.fbeta_keras(tp, fp, fn, self.beta)
        if self.average == "weighted":
            support = (tp + fn).astype(np.float64)
            return self._cast_result(np.sum(score * support / (support.sum() + F.EPSILON)))
        if self.average == "macro":
            return self._cast_result(score.mean())
        return self._cast_result(score)

    def get_config(self):
        config = Metric.get_config(self)
        config.update(average=self.average, beta=self.beta, threshold=self.threshold)
        return config


class F1Score(FBetaScore):
    """Keras' ``F1Score``: F-beta with beta = 1.

    Example:
        >>> import numpy as np, metricore as mc
        >>> m = mc.F1Score(average="micro", threshold=0.5)
        >>> m.update_state([[1, 0], [0, 1]], [[0.8, 0.1], [0.6, 0.3]])
        >>> round(float(m.result()), 4)
        0.5
    """

    def __init__(self, average=None, threshold=None, name=None, dtype=None, backend=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype,
                         backend=backend)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
