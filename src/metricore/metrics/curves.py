"""Curve metrics from one pass: AUC, AUROC, average precision, the ``*At*`` metrics, ROC and
precision-recall curves and calibration error.

Binned mode (a number of thresholds, or a list): each update adds the batch to per-label
histograms of positive and negative weight per score bucket (the ``score_histogram`` kernel:
one pass, whatever the number of thresholds); ``result()`` derives every threshold's TP, FP,
TN and FN from cumulative sums. The state is the histogram, ``(2, T + 1, M)``: row 0
negatives, row 1 positives, int64 until a weighted batch arrives, then float64.

Exact mode (``num_thresholds=None`` / ``thresholds=None``): the state keeps the scores (in
their own dtype), the labels (uint8, or int32 class ids) and the weights, in buffers that
grow geometrically; ``result()`` sorts once per label (the ``binary_clf_curve`` kernel, a
radix sort) and evaluates scikit-learn's formulas.

Undefined values: ROC AUC needs both classes and average precision needs a positive. When
they are missing the value is NaN, with an ``UndefinedMetricWarning``, in binned and exact
mode alike; averages over labels skip NaN labels (with the warning) and are NaN only when
every label is undefined. Keras returns 0.0 and TorchEval 0.5, numbers that look like real
scores (a perfectly inverted or a random classifier); scikit-learn raises, which aborts a
whole evaluation for one empty class. NaN says "not defined" and cannot be mistaken for a
score.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional

import numpy as np

from metricore import _dispatch
from metricore import _validation as V
from metricore.functional import EPSILON
from metricore.metrics.base import Metric, Variable
from metricore.metrics.confusion import run_counting_kernel

__all__ = [
    "AUC",
    "AUROC",
    "AveragePrecision",
    "CalibrationError",
    "PrecisionAtRecall",
    "RecallAtPrecision",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
    "UndefinedMetricWarning",
]


def _read_only(thresholds) -> np.ndarray:
    """A read-only float64 copy owning its memory: the CPU kernels keep their O(T) analysis
    of such a threshold array (the bucket grid) from one batch to the next."""
    out = np.array(thresholds, dtype=np.float64)
    out.flags.writeable = False
    return out


class UndefinedMetricWarning(RuntimeWarning):
    """A metric's value is undefined for the data seen (for example AUC without negatives)."""


# ------------------------------------------------------------------ threshold grids
def keras_auc_thresholds(num_thresholds: int, thresholds=None) -> np.ndarray:
    """Keras' AUC grid: ``[-eps] + interior + [1 + eps]`` with ``eps = 1e-7``."""
    if thresholds is not None:
        inner = sorted(float(t) for t in np.asarray(thresholds, dtype=np.float64).ravel())
    else:
        inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return np.array([0.0 - EPSILON] + inner + [1.0 + EPSILON], dtype=np.float64)


def keras_constraint_thresholds(num_thresholds: int) -> np.ndarray:
    """Keras' grid of the ``*At*`` metrics: ``[0.5]`` for one, else ``0, 1/(T-1), ..., 1``."""
    if num_thresholds == 1:
        return np.array([0.5])
    inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return np.array([0.0] + inner + [1.0], dtype=np.float64)


def at_least(values) -> np.ndarray:
    """Thresholds for ``score >= v`` tests: ``s > at_least(v)`` iff ``s >= v`` for any float
    score (the next float64 below v; no float64 lies in between)."""
    return np.nextafter(np.asarray(values, dtype=np.float64), -np.inf)


def torchmetrics_thresholds(thresholds) -> np.ndarray:
    """torchmetrics' grid: ``linspace(0, 1, n)`` in float32 (or the given list), compared
    with ``>=``; returned as strict thresholds for the kernel."""
    if isinstance(thresholds, (int, np.integer)) and not isinstance(thresholds, bool):
        n = V.positive_int(int(thresholds), "thresholds", minimum=2)
        grid = np.linspace(0.0, 1.0, n, dtype=np.float32).astype(np.float64)
    else:
        grid = np.unique(np.asarray(thresholds, dtype=np.float64).ravel())
        if grid.size == 0 or np.isnan(grid).any():
            raise ValueError(f"thresholds must be a non-empty list of numbers; got {thresholds!r}")
    return at_least(grid)


def _logit(thresholds: np.ndarray) -> np.ndarray:
    """Thresholds on probabilities moved to logits: ``sigmoid(x) > t`` iff ``x > logit(t)``."""
    t = np.asarray(thresholds, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(t) - np.log1p(-t)
    out[t <= 0] = -np.inf
    out[t >= 1] = np.inf
    # Keep the kernel's thresholds strictly increasing: several +-inf collapse into one
    # effective threshold; nudge duplicates apart (they bound no score either way).
    for i in range(1, out.size):
        if not out[i] > out[i - 1]:
            out[i] = np.nextafter(out[i - 1], np.inf)
    return out


# ------------------------------------------------------------------ histogram algebra
def confusion_from_histogram(hist: np.ndarray):
    """TP, FP, TN, FN at each threshold, each (..., T, M), from a (..., 2, T + 1, M)
    histogram (leading axes, such as groups, are kept).

    A score in bucket b is predicted positive at threshold t iff b > t.
    """
    neg, pos = hist[..., 0, :, :], hist[..., 1, :, :]
    tp = np.flip(np.cumsum(np.flip(pos, -2), axis=-2), -2)[..., 1:, :]
    fp = np.flip(np.cumsum(np.flip(neg, -2), axis=-2), -2)[..., 1:, :]
    fn = np.cumsum(pos, axis=-2)[..., :-1, :]
    tn = np.cumsum(neg, axis=-2)[..., :-1, :]
    return tp, fp, tn, fn


def regroup_histogram(hist: np.ndarray, fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """A histogram (..., len(fine) + 1, M) over ``fine`` thresholds re-bucketed onto
    ``coarse``, a subset of them (buckets on the second-to-last axis)."""
    # Fine bucket b holds scores in (fine[b-1], fine[b]]; its coarse bucket counts the coarse
    # thresholds <= fine[b-1]. Every coarse bucket gets at least one fine bucket (coarse is
    # a subset of fine), so the coarse buckets are sums of runs of consecutive fine ones.
    lower = np.concatenate([[-np.inf], fine])
    target = np.searchsorted(coarse, lower, side="right")
    target[0] = 0
    starts = np.searchsorted(target, np.arange(coarse.size + 1), side="left")
    return np.add.reduceat(hist, starts, axis=-2)


def clamp_histogram(hist: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The histogram scores clamped into [0, 1] would give (Keras clips y_pred).

    Exact for any thresholds: when thresholds[0] < 0, bucket 0 holds only scores below 0,
    which all clamp to 0; when thresholds[-1] >= 1, the last bucket holds only scores above
    1, which all clamp to 1. Other buckets already hold what clamping gives them.
    """
    t = thresholds.size
    low = int(np.searchsorted(thresholds, 0.0, side="left")) if thresholds[0] < 0 else 0
    high = int(np.searchsorted(thresholds, 1.0, side="left")) if thresholds[-1] >= 1 else t
    if low == 0 and high == t:
        return hist
    out = hist.copy()
    if low:
        out[:, low] += out[:, 0]
        out[:, 0] = 0
    if high != t:
        out[:, high] += out[:, t]
        out[:, t] = 0
    return out


def _divide_no_nan(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def _warn_undefined(what: str, labels=None) -> None:
    where = "" if labels is None else f" for label(s) {list(labels)}"
    warnings.warn(f"{what} is undefined{where}; returning NaN", UndefinedMetricWarning,
                  stacklevel=3)


def keras_auc(tp, fp, tn, fn, curve: str, summation: str) -> np.ndarray:
    """Keras 3's ``AUC.result`` per label (each argument (T, M)); float64."""
    if curve == "PR" and summation == "interpolation":
        return _keras_interpolate_pr_auc(tp, fp, fn)
    recall = _divide_no_nan(tp, tp + fn)
    if curve == "ROC":
        x, y = _divide_no_nan(fp, fp + tn), recall
    else:
        x, y = recall, _divide_no_nan(tp, tp + fp)
    if summation == "interpolation":
        heights = (y[:-1] + y[1:]) / 2.0
    elif summation == "minoring":
        heights = np.minimum(y[:-1], y[1:])
    else:
        heights = np.maximum(y[:-1], y[1:])
    return np.sum((x[:-1] - x[1:]) * heights, axis=0)


def _keras_interpolate_pr_auc(tp, fp, fn) -> np.ndarray:
    tp = np.asarray(tp, dtype=np.float64)
    fp = np.asarray(fp, dtype=np.float64)
    fn = np.asarray(fn, dtype=np.float64)
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    dp = p[:-1] - p[1:]
    prec_slope = _divide_no_nan(dtp, np.maximum(dp, 0))
    intercept = tp[1:] - prec_slope * p[1:]
    both = (p[:-1] > 0) & (p[1:] > 0)
    safe_p_ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
    # safe_p_ratio > 0: a ratio of two positive counts, or 1.
    increment = _divide_no_nan(prec_slope * (dtp + intercept * np.log(safe_p_ratio)),
                               np.maximum(tp[1:] + fn[1:], 0))
    return np.sum(increment, axis=0)


def binned_roc(tp, fp, tn, fn):
    """(fpr, tpr) at each threshold, ascending thresholds; (T, M) each."""
    return _divide_no_nan(fp, fp + tn), _divide_no_nan(tp, tp + fn)


def trapezoid(x, y) -> np.ndarray:
    """Area under y(x) by the trapezoidal rule along axis 0, oriented so that a curve whose
    points go right-to-left (thresholds ascending) still has a positive area."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    area = np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0, axis=0)
    return np.abs(area)


# ------------------------------------------------------------------ exact curves
def exact_roc_auc(tps, fps) -> float:
    """scikit-learn's roc_auc_score from the curve points (NaN if a class is missing)."""
    if tps.size == 0 or tps[-1] <= 0 or fps[-1] <= 0:
        return math.nan
    tpr = np.concatenate([[0.0], tps / tps[-1]])
    fpr = np.concatenate([[0.0], fps / fps[-1]])
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)


def exact_average_precision(tps, fps) -> float:
    """scikit-learn's average_precision_score (sum of (R_n - R_{n-1}) P_n); NaN without
    positives."""
    if tps.size == 0 or tps[-1] <= 0:
        return math.nan
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))


def sklearn_roc_curve(thresholds, tps, fps, drop_intermediate=True):
    """scikit-learn's roc_curve output from the curve points."""
    if drop_intermediate and tps.size > 2:
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        thresholds, tps, fps = thresholds[keep], tps[keep], fps[keep]
    tps = np.r_[0, tps]
    fps = np.r_[0, fps]
    thresholds = np.r_[np.inf, thresholds]
    with np.errstate(divide="ignore", invalid="ignore"):
        fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
        tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr, thresholds


def sklearn_pr_curve(thresholds, tps, fps):
    """scikit-learn's precision_recall_curve output from the curve points."""
    ps = tps + fps
    precision = np.zeros(tps.shape, dtype=np.float64)
    np.divide(tps, ps, out=precision, where=ps != 0)
    if tps.size == 0 or tps[-1] == 0:
        recall = np.ones(tps.shape, dtype=np.float64)
    else:
        recall = tps / tps[-1]
    rev = slice(None, None, -1)
    return np.hstack((precision[rev], 1.0)), np.hstack((recall[rev], 0.0)), thresholds[rev]


def curve_inputs(mode, class_id, num_labels_expected, label_weights, y_true, y_pred,
                 sample_weight):
    """(t, p, w, class_id, m): kernel inputs and the number of curves."""
    p = V.scores(y_pred, "y_pred")
    if mode.startswith("multiclass"):
        t = V.class_ids(y_true, "y_true")
        if p.ndim != 2:
            raise ValueError(
                f"y_pred must have shape (num_samples, num_classes); got {p.shape}")
        V.check_lengths(p.shape[0], y_true=t, y_pred=p)
        if num_labels_expected is not None and p.shape[1] != num_labels_expected:
            raise ValueError(
                f"y_pred must have {num_labels_expected} columns (num_classes); got {p.shape}")
        w = V.row_weights(sample_weight, p.shape[0])
        if w is not None:
            w = np.broadcast_to(w[:, None], p.shape)
        m = 1 if mode == "multiclass_micro" else p.shape[1]
        return t, p, w, -1, m
    t, p = V.matching_rows(V.labels(y_true, "y_true"), p)
    if mode == "per_label" and p.ndim != 2:
        raise ValueError(
            f"y_pred must have rank 2 (num_samples, num_labels) for per-label curves; "
            f"got shape {p.shape}")
    w = V.weights(sample_weight, p.shape)
    t, p = V.rows(t), V.rows(p)
    w = None if w is None else V.rows(w)
    num_labels = p.shape[1]
    if label_weights is not None and mode == "pooled":
        if label_weights.size != num_labels:
            raise ValueError(
                f"label_weights has {label_weights.size} entries but y_pred has "
                f"{num_labels} labels (shape {p.shape})")
        base = np.ones(p.shape) if w is None else w
        w = base * label_weights[None, :]
    kernel_class = -1
    if mode == "class":
        if class_id >= num_labels:
            raise ValueError(
                f"class_id={class_id} is out of range for y_pred of shape {p.shape} "
                f"({num_labels} labels)")
        kernel_class = class_id
    if mode == "per_label" and num_labels_expected is not None and \
            num_labels != num_labels_expected:
        raise ValueError(
            f"y_pred has {num_labels} labels but this metric was built for "
            f"{num_labels_expected}; got shape {p.shape}")
    m = num_labels if mode == "per_label" else 1
    return t, p, w, kernel_class, m


class _Buffers(dict):
    """Growth buffers of exact-mode states (name -> (buffer, rows used)): never copied or
    pickled (a copy's state arrays are its own, so it starts new buffers)."""

    def __copy__(self):
        return _Buffers()

    def __deepcopy__(self, memo):
        return _Buffers()

    def __reduce__(self):
        return (_Buffers, ())


# ------------------------------------------------------------------ the family base
_MODES = ("pooled", "per_label", "class", "multiclass", "multiclass_micro")


class _CurveMetric(Metric):
    """Family base: score histograms (binned) or stored scores (exact), one kernel pass.

    Modes (how (N, L) inputs map to the M curves):
      pooled           every element is one sample (Keras' default flattening): M = 1
      per_label        one curve per column (multi-label): M = L
      class            column ``class_id`` only: M = 1
      multiclass       y_true holds class ids (N,), one-vs-rest curve per column: M = C
      multiclass_micro y_true class ids, every (sample, class) pair pooled: M = 1
    """

    _atomic_update = True

    def __init__(self, kernel_thresholds: Optional[np.ndarray], mode: str, num_labels=None,
                 class_id=None, label_weights=None, from_logits=False, score_sums=False,
                 name=None, dtype=None, backend=None):
        super().__init__(name=name, dtype=dtype, backend=backend)
        assert mode in _MODES
        self._mode = mode
        self._class_id = class_id
        self._from_logits = bool(from_logits)
        self._label_weights = None
        if label_weights is not None:
            lw = np.asarray(label_weights, dtype=np.float64).ravel()
            if (~np.isfinite(lw)).any() or (lw < 0).any():
                raise ValueError(f"label_weights must be finite and >= 0; got {lw.tolist()}")
            self._label_weights = lw
        self._exact = kernel_thresholds is None
        self._score_sums = score_sums
        self._buffers = _Buffers()
        if num_labels is not None:
            num_labels = V.positive_int(num_labels, "num_labels")
        self._num_labels = num_labels
        if not self._exact:
            thr = np.ascontiguousarray(kernel_thresholds, dtype=np.float64)
            self._kernel_thresholds = _read_only(_logit(thr) if self._from_logits else thr)
        self.histogram = None
        self.sums = None
        if self._num_curves() is not None:
            self._build(self._num_curves())

    # ------------------------------------------------------------- state
    def _num_curves(self):
        if self._mode in ("pooled", "class", "multiclass_micro"):
            return 1
        return self._num_labels

    def _build(self, m: int) -> None:
        if self._exact:
            cols = m if self._mode != "multiclass_micro" else self._num_labels
            self.scores = self.add_weight("scores", shape=(0, cols), dtype=np.float32)
            label_cols, label_dtype = (1, np.int32) if self._mode.startswith("multiclass") else (
                cols, np.uint8)
            self.labels = self.add_weight("labels", shape=(0, label_cols), dtype=label_dtype)
            self.weights = None  # created by the first weighted batch (unit weights until then)
        else:
            b = self._kernel_thresholds.size + 1
            self.histogram = self.add_weight("histogram", shape=(2, b, m), dtype=np.int64)
            if self._score_sums:
                self.sums = self.add_weight("score_sums", shape=(b, m), dtype=np.float64)

    @property
    def _built(self) -> bool:
        return bool(self._variables)

    _supports_groups = True

    def _per_group(self, name: str) -> bool:
        # Binned: arrays with a leading group axis. Exact: row buffers, plus a "groups"
        # buffer holding each row's group id.
        return not self._exact

    def _group_view(self, g: int):
        if not self._exact:
            return super()._group_view(g)
        var = self._variables.get("groups")
        if var is None:  # no rows yet
            return {name: v.value[:0] for name, v in self._variables.items()}
        groups = var.value
        cached = self._buffers.get("__order__")  # dropped with the buffers on copies
        if cached is None or cached[0] is not groups:
            order = np.argsort(groups, kind="stable")  # one sort serves every group
            cached = self._buffers["__order__"] = (groups, order, groups[order])
        _, order, sorted_groups = cached
        lo, hi = np.searchsorted(sorted_groups, [g, g + 1])
        rows = order[lo:hi]
        return {name: var.value[rows] for name, var in self._variables.items()}

    def _regroup(self, mapping, capacity):
        if self._exact and "groups" in self._variables:
            var = self._variables["groups"]
            var.value = mapping[var.value]
            self._buffers.pop("groups", None)
        super()._regroup(mapping, capacity)

    def _row_groups(self):
        """The exact state's per-row group ids (created empty by the first grouped batch)."""
        var = self._variables.get("groups")
        if var is None:
            var = self.add_weight("groups", shape=(0,), dtype=np.int64)
        return var

    def reset_state(self):
        self._buffers = _Buffers()
        if self._exact and self.weights is not None:
            del self._variables["weights"]
            self.weights = None
        self._variables.pop("groups", None)
        super().reset_state()

    def _m(self) -> int:
        """The number of curves of a built state."""
        if not self._exact:
            return self.histogram.shape[2]
        if self._mode in ("pooled", "class", "multiclass_micro"):
            return 1
        return self.scores.shape[1]

    def _rebind_variables(self) -> None:
        super()._rebind_variables()
        self._buffers = _Buffers()
        thr = self.__dict__.get("_kernel_thresholds")
        if thr is not None and thr.flags.writeable:  # deep copies and unpickled metrics
            self._kernel_thresholds = _read_only(thr)

    # ------------------------------------------------------------- input
    def _inputs(self, y_true, y_pred, sample_weight):
        """(t, p, w, class_id, m): kernel inputs and the number of curves."""
        return curve_inputs(self._mode, self._class_id, self._num_labels, self._label_weights,
                            y_true, y_pred, sample_weight)

    def _ensure_built(self, m: int, p: np.ndarray) -> None:
        if not self._built:
            if self._mode in ("per_label", "multiclass", "multiclass_micro"):
                self._num_labels = p.shape[1]
            self._build(m)
        elif self._exact:
            cols = self.scores.shape[1]
            want = p.shape[1] if self._mode in ("per_label", "multiclass",
                                                "multiclass_micro") else 1
            if cols != want:
                raise ValueError(
                    f"y_pred has {want} labels but this metric holds {cols}; got shape {p.shape}")
        elif self.histogram.shape[2] != m:
            raise ValueError(
                f"y_pred has {m} labels but this metric was built for "
                f"{self.histogram.shape[2]}; got shape {p.shape}")

    # ------------------------------------------------------------- update
    @property
    def _supports_device(self) -> bool:
        """Binned curves accumulate on a GPU; exact ones keep host buffers."""
        return not self._exact

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p, w, class_id, m = self._inputs(y_true, y_pred, sample_weight)
        self._ensure_built(m, p)
        if self._exact:
            self._append_batch(t, p, w, class_id)
        else:
            self._add_histogram(t, p, w, class_id)

    def _add_histogram(self, t, p, w, class_id):
        backend = self._backend()
        thr = self._kernel_thresholds
        sums = self.sums
        if sums is not None:
            # Two outputs: work on copies of neither; the kernel is all or nothing on both.
            def call(out, override):
                return backend.score_histogram(t, p, w if override is None else override, thr,
                                               class_id, out, sums.value)
        else:
            def call(out, override):
                return backend.score_histogram(t, p, w if override is None else override, thr,
                                               class_id, out, None)
        err = run_counting_kernel(self.histogram, w is not None, p.shape, call)
        if err[0]:
            V.raise_for_error(err, y_true=t, y_pred=p, sample_weight=w,
                              num_classes=p.shape[1])

    # ------------------------------------------------------------- exact state
    def _append_batch(self, t, p, w, class_id):
        backend = _dispatch.cpu_backend(self.backend)
        m = 1 if self._mode in ("pooled", "class", "multiclass_micro") else p.shape[1]
        # Validate in the kernel's one pass (a single bucket: totals only).
        scratch = np.zeros((2, 1, m), dtype=np.int64 if w is None else np.float64)
        err = backend.score_histogram(t, p, w, np.zeros(0), class_id, scratch, None)
        if err[0]:
            V.raise_for_error(err, y_true=t, y_pred=p, sample_weight=w, num_classes=p.shape[1])
        if self._mode == "pooled":
            s, y = p.reshape(-1, 1), t.reshape(-1, 1)
            ws = None if w is None else w.reshape(-1, 1)
        elif self._mode == "class":
            c = slice(class_id, class_id + 1)
            s, y = p[:, c], t[:, c]
            ws = None if w is None else w[:, c]
        elif self._mode == "per_label":
            s, y, ws = p, t, w
        else:  # multiclass: ids
            s, y = p, t.reshape(-1, 1)
            ws = w
        y = y.astype(self.labels.dtype, copy=False)
        if self._group_codes is not None:
            codes = self._group_codes
            self._append(self._row_groups(), np.repeat(codes, s.shape[0] // max(codes.size, 1)))
        if ws is not None:
            self._ensure_weights()
        if self.weights is not None:
            self._append(self.weights, np.ones(s.shape) if ws is None else
                         np.broadcast_to(ws, s.shape).astype(np.float64, copy=False))
        self._append(self.scores, s)
        self._append(self.labels, y)

    def _ensure_weights(self) -> None:
        """Creates the weights state (unit weights for the rows already held)."""
        if self.weights is None:
            self.weights = self.add_weight("weights", shape=(0, self.scores.shape[1]),
                                           dtype=np.float64)
            self.weights.value = np.ones((self.scores.value.shape[0], self.scores.shape[1]))

    def _append(self, var: Variable, batch: np.ndarray) -> None:
        """Appends rows to a growing state array: amortized O(1) per row, and the old value
        (a view of the buffer's first rows) is never written, so references to it stay valid."""
        value = var.value
        n, k = value.shape[0], batch.shape[0]
        buf, used = self._buffers.get(var.name, (None, -1))
        if (buf is not None and value.base is buf and n == used and n + k <= buf.shape[0]
                and buf.dtype == batch.dtype == value.dtype):
            buf[n:n + k] = batch
        else:
            dtype = np.result_type(value.dtype, batch.dtype) if n else batch.dtype
            cap = max(1024, 2 * (n + k))
            buf = np.empty((cap,) + value.shape[1:], dtype=dtype)
            buf[:n] = value
            buf[n:n + k] = batch
        self._buffers[var.name] = (buf, n + k)
        var.value = buf[:n + k]

    def _load_arrays(self, state):
        if not self._exact:
            if not self._built and "histogram" in state:
                self._build(np.asarray(state["histogram"]).shape[2])
            return super()._load_arrays(state)
        if not self._built:
            scores = np.asarray(state["scores"])
            if self._mode in ("per_label", "multiclass", "multiclass_micro"):
                self._num_labels = scores.shape[1]
            self._build(1 if self._mode == "multiclass_micro" else scores.shape[1])
        if "weights" in state:
            self._ensure_weights()
        elif self.weights is not None:
            del self._variables["weights"]
            self.weights = None
        if "groups" in state:
            self._row_groups()
        missing = set(self._variables) ^ set(state)
        if missing:
            raise ValueError(f"state for {type(self).__name__} must have keys "
                             f"{sorted(self._variables)}; got {sorted(state)}")
        arrays = {k: np.array(state[k]) for k in self._variables}
        n = arrays["scores"].shape[0]
        for k, a in arrays.items():
            want = (n,) + self._variables[k].value.shape[1:]
            if a.shape != want:
                raise ValueError(f"state[{k!r}] must have shape {want}; got {a.shape}")
        self._buffers = _Buffers()
        for k, a in arrays.items():
            self._variables[k].value = a

    def merge_state(self, others):
        others = [others] if isinstance(others, Metric) else list(others)
        for other in others:
            self._check_mergeable(other)
        for other in others:
            if not other._built:
                continue
            if not self._built:
                self._num_labels = other._num_labels
                self._build(other._m())
            if not self._exact:
                Metric.merge_state(self, [other])
                continue
            if other.weights is not None:
                self._ensure_weights()
            if self.weights is not None:
                theirs = other.weights.value if other.weights is not None else np.ones(
                    other.scores.value.shape)
                self._append(self.weights, theirs)
            self._append(self.scores, other.scores.value)
            self._append(self.labels, other.labels.value)
            if "groups" in other._variables:
                self._append(self._row_groups(), other._variables["groups"].value)

    def _check_mergeable(self, other):
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        mine, theirs = self._merge_config(), other._merge_config()
        if mine != theirs:
            raise ValueError(
                f"cannot merge {type(self).__name__} states with different configurations: "
                f"{mine} != {theirs}")
        if self._built and other._built:
            for name, var in self._variables.items():
                o = other._variables.get(name)
                if o is None or o.value.shape[1:] != var.value.shape[1:]:
                    raise ValueError(
                        f"cannot merge {type(self).__name__}: state {name!r} has shape "
                        f"{var.value.shape} here and {None if o is None else o.value.shape} "
                        "there")

    # ------------------------------------------------------------- fusion
    # MetricCollection shares one score_histogram pass among metrics whose inputs mean the
    # same thing (see metricore.metrics.collection).
    _fusion_needs_sums = False

    def _fusion_key(self, ndim: int, num_labels: int):
        if self._exact or (self._label_weights is not None and self._mode == "pooled"):
            return None
        mode = self._mode
        if mode == "per_label" and num_labels == 1:
            mode = "pooled"
        return (mode, self._class_id if mode == "class" else None, self._from_logits)

    def _fusion_thresholds(self) -> np.ndarray:
        return self._kernel_thresholds

    def _fusion_prepare(self, t, p, m) -> None:
        self._ensure_built(m, p)

    def _fusion_absorb(self, hist, thresholds, sums) -> None:
        mine = self._kernel_thresholds
        same = thresholds.size == mine.size and np.array_equal(thresholds, mine)
        add = hist if same else regroup_histogram(hist, thresholds, mine)
        self.histogram.value = self.histogram.value + add
        if self.sums is not None:
            add = sums if same else regroup_histogram(sums, thresholds, mine)
            self.sums.value = self.sums.value + add

    # ------------------------------------------------------------- derived
    _clamp = False  # Keras metrics read scores as clamped into [0, 1]

    def _confusion(self):
        """TP, FP, TN, FN, each (T, M), from the histogram (binned mode)."""
        hist = self.histogram.value
        if self._clamp and not self._from_logits:
            hist = clamp_histogram(hist, self._kernel_thresholds)
        return confusion_from_histogram(hist)

    def _exact_curves(self):
        """[(thresholds, tps, fps)] per curve (exact mode)."""
        if not self._built:
            return []
        backend = _dispatch.cpu_backend(self.backend)
        scores, labels = self.scores.value, self.labels.value
        weighted = self.weights is not None
        weights = self.weights.value if weighted else np.broadcast_to(1.0, scores.shape)
        curves = []
        if self._mode == "multiclass_micro":
            c = scores.shape[1]
            onehot = (labels.reshape(-1, 1) == np.arange(c)[None]).astype(np.uint8)
            columns = [(scores.ravel(), onehot.ravel(), weights.ravel())]
        elif self._mode == "multiclass":
            ids = labels[:, 0]
            columns = [(scores[:, j], (ids == j).astype(np.uint8), weights[:, j])
                       for j in range(scores.shape[1])]
        else:
            columns = [(scores[:, j], labels[:, j], weights[:, j]) for j in range(scores.shape[1])]
        for s, y, w in columns:
            if weighted:
                keep = w != 0  # scikit-learn drops zero-weight samples
                if not keep.all():
                    s, y, w = s[keep], y[keep], w[keep]
                curves.append(backend.binary_clf_curve(s, y, np.ascontiguousarray(w)))
            else:
                curves.append(backend.binary_clf_curve(s, y, None))
        return curves

    def _per_curve_auroc(self) -> np.ndarray:
        """ROC AUC per curve, NaN where undefined (exact or binned, trapezoid rule)."""
        if self._exact:
            return np.array([exact_roc_auc(tps, fps) for _, tps, fps in self._exact_curves()])
        tp, fp, tn, fn = self._confusion()
        fpr, tpr = binned_roc(tp, fp, tn, fn)
        area = trapezoid(fpr, tpr)
        undefined = ((tp[0] + fn[0]) <= 0) | ((fp[0] + tn[0]) <= 0)
        return np.where(undefined, np.nan, area)

    # ------------------------------------------------------------- curves
    def roc_curve(self, drop_intermediate: bool = True):
        """The ROC curve as arrays ``(fpr, tpr, thresholds)``.

        Exact mode: scikit-learn's ``roc_curve`` (decreasing thresholds, a first point at
        ``inf``; ``drop_intermediate`` as there). Binned mode: one point per threshold, in
        the order of the thresholds. Several curves (per label / class): lists of arrays.
        """
        if self._exact:
            out = [sklearn_roc_curve(thr, tps, fps, drop_intermediate)
                   for thr, tps, fps in self._exact_curves()]
        else:
            fpr, tpr = binned_roc(*self._confusion())
            thr = self._public_thresholds()
            out = [(fpr[:, m], tpr[:, m], thr) for m in range(fpr.shape[1])]
        return self._unpack_curves(out)

    def precision_recall_curve(self):
        """The precision-recall curve as arrays ``(precision, recall, thresholds)``.

        Exact mode: scikit-learn's ``precision_recall_curve`` (increasing thresholds, a last
        point (precision 1, recall 0)). Binned mode: one point per threshold (precision 1
        where nothing is predicted positive, as torchmetrics), then (1, 0).
        """
        if self._exact:
            out = [sklearn_pr_curve(thr, tps, fps) for thr, tps, fps in self._exact_curves()]
        else:
            tp, fp, tn, fn = self._confusion()
            tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
            with np.errstate(divide="ignore", invalid="ignore"):
                precision = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 1.0)
            recall = _divide_no_nan(tp, tp + fn)
            thr = self._public_thresholds()
            out = [(np.r_[precision[:, m], 1.0], np.r_[recall[:, m], 0.0], thr)
                   for m in range(tp.shape[1])]
        return self._unpack_curves(out)

    def _unpack_curves(self, out):
        if len(out) == 1:
            return out[0]
        return tuple(list(x) for x in zip(*out)) if out else ([], [], [])

    def _public_thresholds(self) -> np.ndarray:
        return np.asarray(self.thresholds, dtype=np.float64)

    # ------------------------------------------------------------- config
    def _merge_config(self):
        config = super()._merge_config()
        config.pop("num_labels", None)  # the states' shapes are compared instead
        return config


def _average(values: np.ndarray, average, weights=None, what="AUC"):
    """Averages per-label values: None/'none' (all), 'macro', 'weighted'; NaN labels skipped."""
    values = np.asarray(values, dtype=np.float64)
    if average in (None, "none"):
        if np.isnan(values).any():
            _warn_undefined(what, np.flatnonzero(np.isnan(values)).tolist())
        return values
    ok = ~np.isnan(values)
    if not ok.all():
        _warn_undefined(what, np.flatnonzero(~ok).tolist())
    if not ok.any():
        return math.nan
    if average == "macro":
        return float(values[ok].mean())
    w = np.asarray(weights, dtype=np.float64)[ok]
    total = w.sum()
    return float(np.sum(values[ok] * w) / total) if total > 0 else math.nan


# ------------------------------------------------------------------ Keras AUC
class AUC(_CurveMetric):
    """Keras 3's ``AUC``: area under the ROC or PR curve, binned on Keras' threshold grid, or
    exact (``num_thresholds=None``, scikit-learn's values).

    Binned (default, ``num_thresholds=200``): the same thresholds as Keras (``-1e-7``, the
    interior grid, ``1 + 1e-7``), the same TP/FP/TN/FN and the same summation
    (``interpolation``, ``minoring``, ``majoring``; PR-interpolation after Davis & Goadrich),
    computed from a score histogram in one pass: 65,536 thresholds cost about what 200 do.
    ``true_positives`` etc. are available as arrays, as in Keras.

    Exact (``num_thresholds=None``): ROC gives scikit-learn's ``roc_auc_score`` and PR its
    ``average_precision_score`` (ties included); ``summation_method`` does not apply.

    Scores outside [0, 1] behave as if clamped into it (the grid's ends lie just outside),
    like Keras. ``from_logits=True`` compares logits against logit-transformed thresholds
    (no sigmoid pass; exact mode ranks the logits themselves). Undefined AUCs (one class
    missing) are NaN with an ``UndefinedMetricWarning`` (Keras returns 0.0): see the module
    docstring.

    Example:
        >>> import metricore as mc
        >>> m = mc.AUC(num_thresholds=3)
        >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
        >>> round(float(m.result()), 4)
        0.75
    """

    _CURVES = ("ROC", "PR")
    _clamp = True
    _SUMMATIONS = ("interpolation", "minoring", "majoring")

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False, backend=None):
        curve = str(getattr(curve, "value", curve)).upper()
        if curve not in self._CURVES:
            raise ValueError(f"curve must be one of {self._CURVES}; got {curve!r}")
        summation_method = str(getattr(summation_method, "value", summation_method)).lower()
        if summation_method not in self._SUMMATIONS:
            raise ValueError(
                f"summation_method must be one of {self._SUMMATIONS}; got {summation_method!r}")
        if thresholds is not None:
            grid = keras_auc_thresholds(0, thresholds)
            inner = grid[1:-1]
            if inner.size and ((inner < 0).any() or (inner > 1).any() or np.isnan(inner).any()):
                raise ValueError(f"thresholds must lie in [0, 1]; got {list(thresholds)}")
            if inner.size > 1 and not (np.diff(inner) > 0).all():
                raise ValueError(f"thresholds must be distinct; got {list(thresholds)}")
            num_thresholds = grid.size
        elif num_thresholds is None:
            grid = None
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)):
                raise TypeError(f"num_thresholds must be an integer or None; got {num_thresholds!r}")
            if num_thresholds <= 1:
                raise ValueError(
                    f"num_thresholds must be an integer > 1 (or None for exact); "
                    f"got {num_thresholds}")
            grid = keras_auc_thresholds(int(num_thresholds))
        if num_labels is not None and not multi_label:
            raise ValueError("num_labels is needed only when multi_label is True")
        self.num_thresholds = None if num_thresholds is None else int(num_thresholds)
        self.init_thresholds = None if thresholds is None else [float(t) for t in
                                                                 np.ravel(thresholds)]
        self.curve = curve
        self.summation_method = summation_method
        self.multi_label = bool(multi_label)
        self._grid = grid
        super().__init__(grid, "per_label" if multi_label else "pooled", num_labels=num_labels,
                         label_weights=label_weights, from_logits=from_logits, name=name,
                         dtype=dtype, backend=backend)
        if self._label_weights is not None and self.multi_label and num_labels is not None \
                and self._label_weights.size != num_labels:
            raise ValueError(f"label_weights must have num_labels={num_labels} entries; "
                             f"got {self._label_weights.size}")

    @property
    def thresholds(self):
        """The thresholds (Keras' list, epsilon ends included); None in exact mode."""
        return None if self._grid is None else self._grid.tolist()

    # Keras' state variables, derived from the histogram.
    def _keras_counts(self, i):
        if self._exact:
            raise AttributeError("exact-mode AUC keeps scores, not per-threshold counts")
        if not self._built:
            return np.zeros((self._grid.size,))
        counts = self._confusion()[i]
        return counts if self.multi_label else counts[:, 0]

    true_positives = property(lambda self: self._keras_counts(0))
    false_positives = property(lambda self: self._keras_counts(1))
    true_negatives = property(lambda self: self._keras_counts(2))
    false_negatives = property(lambda self: self._keras_counts(3))

    def result(self):
        if not self._built:
            return self._cast_result(math.nan)
        if self._exact:
            curves = self._exact_curves()
            fn = exact_roc_auc if self.curve == "ROC" else exact_average_precision
            per_label = np.array([fn(tps, fps) for _, tps, fps in curves])
        else:
            tp, fp, tn, fn_ = self._confusion()
            per_label = keras_auc(tp, fp, tn, fn_, self.curve, self.summation_method)
            pos, neg = tp[0] + fn_[0], fp[0] + tn[0]
            undefined = (pos <= 0) | ((neg <= 0) if self.curve == "ROC" else False)
            per_label = np.where(undefined, np.nan, per_label)
        what = "ROC AUC" if self.curve == "ROC" else "PR AUC"
        if not self.multi_label:
            if np.isnan(per_label[0]):
                _warn_undefined(what)
            return self._cast_result(per_label[0])
        if self._label_weights is None:
            return self._cast_result(_average(per_label, "macro", what=what))
        return self._cast_result(_average(per_label, "weighted", self._label_weights, what=what))

    def get_config(self):
        config = super().get_config()
        config.update(
            num_thresholds=self.num_thresholds,
            curve=self.curve, summation_method=self.summation_method,
            thresholds=self.init_thresholds, multi_label=self.multi_label,
            num_labels=self._num_labels if self.multi_label else None,
            label_weights=None if self._label_weights is None else self._label_weights.tolist(),
            from_logits=self._from_logits)
        return config


# ------------------------------------------------------------------ Keras *At* metrics
class _ConstrainedMetric(_CurveMetric):
    """Keras' ``SensitivitySpecificityBase``: the best value of one rate subject to another."""

    _clamp = True

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None,
                 backend=None):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                or not 0 <= float(value) <= 1:
            raise ValueError(f"{self._pair[0]} must be a number in [0, 1]; got {value!r}")
        num_thresholds = V.positive_int(num_thresholds, "num_thresholds")
        if class_id is not None:
            class_id = V.positive_int(class_id, "class_id", minimum=0)
        self.value = float(value)
        self.num_thresholds = num_thresholds
        self.class_id = class_id
        self._grid = keras_constraint_thresholds(num_thresholds)
        super().__init__(self._grid, "pooled" if class_id is None else "class", class_id=class_id,
                         name=name, dtype=dtype, backend=backend)

    @property
    def thresholds(self):
        return self._grid.tolist()

    def _rates(self):
        tp, fp, tn, fn = (c[:, 0] for c in self._confusion())
        sensitivity = _divide_no_nan(tp, tp + fn)
        specificity = _divide_no_nan(tn, tn + fp)
        precision = _divide_no_nan(tp, tp + fp)
        return sensitivity, specificity, precision

    _pair = ("specificity", "sensitivity")  # (constrained rate, maximized rate)

    def result(self):
        sensitivity, specificity, precision = self._rates()
        rates = {"sensitivity": sensitivity, "recall": sensitivity,
                 "specificity": specificity, "precision": precision}
        constrained, dependent = (rates[k] for k in self._pair)
        feasible = constrained >= self.value
        return self._cast_result(float(np.max(np.where(feasible, dependent, 0.0), initial=0.0)))

    def get_config(self):
        config = super().get_config()
        config.update({self._pair[0]: self.value, "num_thresholds": self.num_thresholds,
                       "class_id": self.class_id})
        return config


class SensitivityAtSpecificity(_ConstrainedMetric):
    """The best sensitivity (recall) among thresholds whose specificity is >= ``specificity``
    (Keras semantics and grid; 0.0 when no threshold qualifies).

    Example:
        >>> import metricore as mc
        >>> m = mc.SensitivityAtSpecificity(0.5)
        >>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8])
        >>> float(m.result())
        0.5
    """

    _pair = ("specificity", "sensitivity")

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None,
                 backend=None):
        super().__init__(specificity, num_thresholds, class_id, name=name, dtype=dtype,
                         backend=backend)


class SpecificityAtSensitivity(_ConstrainedMetric):
    """The best specificity among thresholds whose sensitivity is >= ``sensitivity`` (Keras)."""

    _pair = ("sensitivity", "specificity")

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None,
                 backend=None):
        super().__init__(sensitivity, num_thresholds, class_id, name=name, dtype=dtype,
                         backend=backend)


class PrecisionAtRecall(_ConstrainedMetric):
    """The best precision among thresholds whose recall is >= ``recall`` (Keras)."""

    _pair = ("recall", "precision")

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None,
                 backend=None):
        super().__init__(recall, num_thresholds, class_id, name=name, dtype=dtype,
                         backend=backend)


class RecallAtPrecision(_ConstrainedMetric):
    """The best recall among thresholds whose precision is >= ``precision`` (Keras; 0.0 when
    the precision is not achievable)."""

    _pair = ("precision", "recall")

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None,
                 backend=None):
        super().__init__(precision, num_thresholds, class_id, name=name, dtype=dtype,
                         backend=backend)


# ------------------------------------------------------------------ torchmetrics-style
_TASKS = ("binary", "multiclass", "multilabel")


class _TaskCurveMetric(_CurveMetric):
    """torchmetrics-style ``task`` / ``thresholds`` / ``average`` arguments."""

    _AVERAGES = ("macro", "weighted", "micro", "none", None)
    _what = "AUROC"

    def __init__(self, task="binary", thresholds=None, num_classes=None, num_labels=None,
                 average="macro", from_logits=False, name=None, dtype=None, backend=None):
        if task not in _TASKS:
            raise ValueError(f"task must be one of {_TASKS}; got {task!r}")
        if average not in self._AVERAGES:
            raise ValueError(f"average must be one of {self._AVERAGES}; got {average!r}")
        self.task = task
        self.average = average
        self.init_thresholds = thresholds if thresholds is None or isinstance(
            thresholds, (int, np.integer)) else [float(t) for t in np.ravel(thresholds)]
        grid = None if thresholds is None else torchmetrics_thresholds(thresholds)
        self._grid = grid
        if task == "binary":
            mode, labels = "pooled", None
        elif task == "multiclass":
            if num_classes is None:
                raise ValueError("num_classes is required for task='multiclass'")
            labels = V.positive_int(num_classes, "num_classes", minimum=2)
            mode = "multiclass_micro" if average == "micro" else "multiclass"
        else:
            if num_labels is None:
                raise ValueError("num_labels is required for task='multilabel'")
            labels = V.positive_int(num_labels, "num_labels")
            mode = "pooled" if average == "micro" else "per_label"
        self.num_classes = num_classes
        self.num_labels_arg = num_labels
        super().__init__(grid, mode, num_labels=labels, from_logits=from_logits, name=name,
                         dtype=dtype, backend=backend)

    @property
    def thresholds(self):
        """The thresholds (``score >= t``), or None in exact mode."""
        return None if self._grid is None else np.nextafter(self._grid, np.inf).tolist()

    def _support(self) -> np.ndarray:
        """Positive weight per curve (the 'weighted' average's weights)."""
        if self._exact:
            return np.array([float(tps[-1]) if tps.size else 0.0
                             for _, tps, _ in self._exact_curves()])
        return np.asarray(self.histogram.value[1].sum(axis=0), dtype=np.float64)

    def _reduce(self, per_curve: np.ndarray):
        if self.task == "binary" or self.average == "micro":
            if np.isnan(per_curve[0]):
                _warn_undefined(self._what)
            return self._cast_result(per_curve[0])
        avg = None if self.average in (None, "none") else self.average
        weights = self._support() if avg == "weighted" else None
        return self._cast_result(_average(per_curve, avg, weights, what=self._what))

    def get_config(self):
        config = super().get_config()
        config.update(task=self.task, thresholds=self.init_thresholds,
                      num_classes=self.num_classes, num_labels=self.num_labels_arg,
                      average=self.average, from_logits=self._from_logits)
        return config


class AUROC(_TaskCurveMetric):
    """Area under the ROC curve, torchmetrics' ``AUROC`` arguments, scikit-learn's values.

    ``task``: ``"binary"`` (every element a sample), ``"multiclass"`` (y_true class ids,
    y_pred (N, C) scores, one-vs-rest), ``"multilabel"`` (y_true, y_pred (N, L)).
    ``thresholds=None`` is exact (``roc_auc_score``, ties included); an int ``n`` bins on
    torchmetrics' grid ``linspace(0, 1, n)`` compared with ``>=``, a list on those values.
    ``average``: ``"macro"``, ``"weighted"`` (by positives), ``"micro"`` (every
    (sample, class) pair pooled, one-hot for multiclass), or ``None`` (one value per class).

    Example:
        >>> import numpy as np, metricore as mc
        >>> m = mc.AUROC(task="multiclass", num_classes=3)
        >>> m.update_state([0, 1, 2, 2], np.array([[.8, .1, .1], [.2, .7, .1], [.1, .2, .7],
        ...                                         [.5, .3, .2]]))
        >>> round(float(m.result()), 4)
        0.9444
    """

    def result(self):
        if not self._built:
            return self._cast_result(math.nan)
        return self._reduce(self._per_curve_auroc())


class AveragePrecision(_TaskCurveMetric):
    """Average precision (area under the PR curve as a step sum), torchmetrics' arguments;
    exact mode equals scikit-learn's ``average_precision_score``.

    Binned mode follows torchmetrics: ``sum (R_n - R_{n-1}) P_n`` over the grid's points,
    precision 1 where nothing is predicted positive.
    """

    _what = "average precision"

    def result(self):
        if not self._built:
            return self._cast_result(math.nan)
        if self._exact:
            per_curve = np.array([exact_average_precision(tps, fps)
                                  for _, tps, fps in self._exact_curves()])
        else:
            tp, fp, tn, fn = self._confusion()
            tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
            with np.errstate(divide="ignore", invalid="ignore"):
                precision = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 1.0)
            recall = _divide_no_nan(tp, tp + fn)
            precision = np.concatenate([precision, np.ones((1, tp.shape[1]))])
            recall = np.concatenate([recall, np.zeros((1, tp.shape[1]))])
            per_curve = -np.sum((recall[1:] - recall[:-1]) * precision[:-1], axis=0)
            per_curve = np.where((tp[0] + fn[0]) <= 0, np.nan, per_curve)
        return self._reduce(per_curve)


# ------------------------------------------------------------------ calibration
class CalibrationError(_CurveMetric):
    """Expected (``norm="l1"``), root-mean-square (``"l2"``) or maximum (``"max"``)
    calibration error over ``n_bins`` equal-width confidence bins (torchmetrics' binning:
    ``[k/n, (k+1)/n)``, the last bin closed).

    ``task="binary"``: confidence = y_pred, accuracy = y_true. ``task="multiclass"``:
    y_pred (N, C) probabilities; confidence = the row maximum, accuracy = (argmax == y_true).
    The bins are the same score histograms as the curve metrics, plus the sum of the
    confidences per bin.
    """

    _NORMS = ("l1", "l2", "max")
    _fusion_needs_sums = True

    def _fusion_key(self, ndim, num_labels):
        return None if self.task != "binary" else super()._fusion_key(ndim, num_labels)

    def __init__(self, task="binary", n_bins=15, norm="l1", num_classes=None, name=None,
                 dtype=None, backend=None):
        if task not in ("binary", "multiclass"):
            raise ValueError(f"task must be 'binary' or 'multiclass'; got {task!r}")
        if norm not in self._NORMS:
            raise ValueError(f"norm must be one of {self._NORMS}; got {norm!r}")
        self.task = task
        self.n_bins = V.positive_int(n_bins, "n_bins")
        self.norm = norm
        self.num_classes = None if num_classes is None else V.positive_int(
            num_classes, "num_classes", minimum=2)
        bounds = np.linspace(0.0, 1.0, self.n_bins + 1, dtype=np.float32).astype(np.float64)
        super().__init__(at_least(bounds[1:-1]), "pooled", score_sums=True, name=name,
                         dtype=dtype, backend=backend)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.task == "binary":
            return super().update_state(y_true, y_pred, sample_weight)
        p = V.scores(y_pred, "y_pred")
        t = V.class_ids(y_true, "y_true")
        if p.ndim != 2:
            raise ValueError(f"y_pred must have shape (num_samples, num_classes); got {p.shape}")
        V.check_lengths(p.shape[0], y_true=t, y_pred=p)
        c = p.shape[1]
        if self.num_classes is not None and c != self.num_classes:
            raise ValueError(f"y_pred must have {self.num_classes} columns; got {p.shape}")
        bad = ~((t == np.floor(t)) & (t >= 0) & (t < c)) if t.dtype.kind == "f" else (
            (t < 0) | (t >= c))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"y_true must hold integer class ids in [0, {c}); found "
                             f"{t[i]!r} at index ({i},)")
        if p.shape[0] and np.isnan(p).any():
            i, j = np.argwhere(np.isnan(p))[0]
            V.raise_for_error((4, int(i), int(j)), y_pred=p)
        confidence = p.max(axis=1) if p.shape[0] else np.zeros(0, p.dtype)
        correct = (p.argmax(axis=1) == t.astype(np.int64)).astype(np.uint8) if p.shape[0] \
            else np.zeros(0, np.uint8)
        return super().update_state(correct, confidence, sample_weight)

    def result(self):
        hist = np.asarray(self.histogram.value, dtype=np.float64)[:, :, 0]
        counts = hist[0] + hist[1]
        total = counts.sum()
        if total <= 0:
            _warn_undefined("calibration error")
            return self._cast_result(math.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            acc = np.where(counts > 0, hist[1] / np.where(counts > 0, counts, 1), 0.0)
            conf = np.where(counts > 0, self.sums.value[:, 0] / np.where(counts > 0, counts, 1),
                            0.0)
        prop = counts / total
        gap = np.abs(acc - conf)
        if self.norm == "l1":
            value = np.sum(gap * prop)
        elif self.norm == "max":
            value = np.max(gap)
        else:
            value = np.sum(gap * gap * prop)
            value = math.sqrt(value) if value > 0 else 0.0
        return self._cast_result(value)

    def get_config(self):
        config = super().get_config()
        config.update(task=self.task, n_bins=self.n_bins, norm=self.norm,
                      num_classes=self.num_classes)
        return config
