"""Regression metrics: the moments family with Keras' error terms, and R^2.

Inputs of shape (N,) are N samples of one output (scikit-learn's reading). Keras reduces
a rank-1 batch to a single value per batch instead; shape (N, D) behaves the same in both.
"""

from __future__ import annotations

import warnings

import numpy as np

from metricore import _validation as V
from metricore import functional as F
from metricore._backends.protocol import MomentKind
from metricore.metrics.base import Metric
from metricore.metrics.reduction import MomentsMetric


class MeanAbsoluteError(MomentsMetric):
    """Weighted mean of |y_true - y_pred| (Keras' ``MeanAbsoluteError``).

    Example:
        >>> import metricore as mc
        >>> m = mc.MeanAbsoluteError()
        >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
        >>> float(m.result())
        0.25
    """

    _kind = MomentKind.ABSOLUTE


class MeanSquaredError(MomentsMetric):
    """Weighted mean of (y_true - y_pred)^2 (Keras' ``MeanSquaredError``)."""

    _kind = MomentKind.SQUARED


class RootMeanSquaredError(MomentsMetric):
    """Square root of the weighted mean squared error (Keras' ``RootMeanSquaredError``).

    Example:
        >>> import metricore as mc
        >>> m = mc.RootMeanSquaredError()
        >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
        >>> float(m.result())
        0.5
    """

    _kind = MomentKind.SQUARED

    def result(self):
        total, count = self.moments.value
        return self._cast_result(np.sqrt(F.safe_div(total, count)))


class MeanAbsolutePercentageError(MomentsMetric):
    """Weighted mean of 100 |y_true - y_pred| / max(|y_true|, 1e-7) (Keras' MAPE)."""

    _kind = MomentKind.ABSOLUTE_PERCENTAGE


class MeanSquaredLogarithmicError(MomentsMetric):
    """Weighted mean of (log1p(max(y_pred, 1e-7)) - log1p(max(y_true, 1e-7)))^2 (Keras' MSLE)."""

    _kind = MomentKind.SQUARED_LOG


class LogCoshError(MomentsMetric):
    """Weighted mean of log(cosh(y_pred - y_true)), computed stably (Keras' ``LogCoshError``)."""

    _kind = MomentKind.LOG_COSH


class CosineSimilarity(MomentsMetric):
    """Weighted mean over samples of the cosine between y_true and y_pred rows (Keras).

    Example:
        >>> import metricore as mc
        >>> m = mc.CosineSimilarity()
        >>> m.update_state([[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]])
        >>> round(float(m.result()), 6)
        0.5
    """

    _atomic_update = True  # the kernel commits all or nothing

    _kind = MomentKind.COSINE

    def __init__(self, name=None, dtype=None, axis=-1, backend=None):
        super().__init__(name=name, dtype=dtype, backend=backend)
        if axis not in (-1, 1):
            raise ValueError(f"axis must be -1 (the last axis of (N, D) inputs); got {axis!r}")
        self.axis = axis

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = V.matching_rows(V.labels(y_true, "y_true"), V.scores(y_pred, "y_pred"))
        if p.ndim < 2:
            raise ValueError(f"CosineSimilarity needs vectors on the last axis, shape (N, D); got {p.shape}")
        # one weight per vector: the weight's shape is the inputs' less the last axis
        w = V.moment_weights(sample_weight, p.shape[:-1] + (1,))
        self._accumulate(V.rows(t), V.rows(p), w)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class R2Score(Metric):
    """Coefficient of determination per output, aggregated as Keras' ``R2Score`` does.

    State per output column: total weight ``count``, a fixed ``shift`` (the first sample's
    y_true) and the weighted sums of (y_true - shift) and its square, ``s1`` and ``s2``, so
    that large means cause no cancellation; the weighted residual sum ``sse``; and
    ``num_samples``. Everything adds across batches; merging re-expresses the other state's
    sums around this one's shift. A constant y_true gives 0.0 for imperfect predictions
    (Keras and scikit-learn) and 1.0 for perfect ones (scikit-learn; Keras gives NaN).

    Example:
        >>> import metricore as mc
        >>> m = mc.R2Score()
        >>> m.update_state([[1], [4], [3]], [[2], [4], [4]])
        >>> round(float(m.result()), 6)
        0.576923
    """

    _atomic_update = True
    _supports_groups = True
    _AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")
    _COLUMNS = ("count", "shift", "s1", "s2", "sse")

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score",
                 dtype=None, backend=None):
        super().__init__(name=name, dtype=dtype, backend=backend)
        if class_aggregation not in self._AGGREGATIONS:
            raise ValueError(
                f"class_aggregation must be one of {self._AGGREGATIONS}; got {class_aggregation!r}")
        self.class_aggregation = class_aggregation
        self.num_regressors = V.positive_int(num_regressors, "num_regressors", minimum=0)
        self.num_samples = self.add_weight("num_samples", dtype=np.int64)
        self._built = False

    def _build(self, num_outputs):
        for name in self._COLUMNS:
            setattr(self, name, self.add_weight(name, shape=(num_outputs,), dtype=np.float64))
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = V.same_rank(V.labels(y_true, "y_true"), V.scores(y_pred, "y_pred"))
        if t.ndim != 2 or t.shape != p.shape:
            raise ValueError(
                "R2Score expects y_true and y_pred of the same shape (num_samples, num_outputs); "
                f"got y_true {t.shape} and y_pred {p.shape}")
        if not self._built:
            self._build(p.shape[1])
        elif self.count.shape[0] != p.shape[1]:
            raise ValueError(f"R2Score was built for {self.count.shape[0]} outputs; got y_pred {p.shape}")
        if p.shape[0] == 0:
            return
        w = V.row_weights(sample_weight, p.shape[0])
        codes = self._group_codes
        if codes is not None:
            # One shift for the batch (its first row), re-centred per group as merge does.
            shift = np.array(t[0], dtype=np.float64)
            sums = self._zeros((4, p.shape[1]))
            err = self._backend().column_moments(t, p, w, shift, sums)
            if err[0]:
                V.raise_for_error(err, y_true=t, y_pred=p, sample_weight=w)
            rows = np.bincount(codes, minlength=self._group_capacity) * p.shape[1]
            self._add_centred(np.moveaxis(sums, -2, 0), shift, rows)
            return
        first = int(self.num_samples.value) == 0
        shift = np.array(t[0], dtype=np.float64) if first else self.shift.value
        sums = np.zeros((4, p.shape[1]))
        err = self._backend().column_moments(t, p, w, shift, sums)
        if err[0]:
            V.raise_for_error(err, y_true=t, y_pred=p, sample_weight=w)
        if first:
            self.shift.value = shift
        self._add(sums, t.size)

    def _add(self, sums, n):
        """Adds [count, s1, s2, sse] sums taken around this state's shift."""
        w, s1, s2, sse = sums
        self.count.value = self.count.value + w
        self.s1.value = self.s1.value + s1
        self.s2.value = self.s2.value + s2
        self.sse.value = self.sse.value + sse
        self.num_samples.value = np.asarray(self.num_samples.value + n, dtype=np.int64)

    def _add_centred(self, sums, shift, n):
        """Adds [count, s1, s2, sse] sums taken around ``shift``, re-centred on this state's
        shift (which an empty state, or empty group, takes over). Group-wise when grouped."""
        empty = np.asarray(self.num_samples.value == 0)
        if empty.any():
            self.shift.value = np.where(empty[..., None], shift, self.shift.value)
        d = shift - self.shift.value  # re-center the other sums on our shift
        w_o, s1_o, s2_o, sse_o = sums
        self._add(np.stack([w_o, s1_o + w_o * d, s2_o + 2 * d * s1_o + w_o * d * d, sse_o]), n)

    def merge_state(self, others):
        others = [others] if isinstance(others, Metric) else list(others)
        for other in others:
            if type(other) is not type(self):
                self._check_mergeable(other)  # raises the standard error
            if not other._built or not np.any(other.num_samples.value):
                continue
            if not self._built:
                self._build(other.count.shape[0])
            self._check_mergeable(other)
            sums = np.stack([other.count.value, other.s1.value, other.s2.value, other.sse.value])
            self._add_centred(sums, other.shift.value, other.num_samples.value)

    def _load_arrays(self, state):
        if not self._built and "count" in state:
            self._build(np.shape(state["count"])[-1])
        super()._load_arrays(state)

    def reset_state(self):
        for name in self._COLUMNS:
            self._variables.pop(name, None)
            self.__dict__.pop(name, None)
        self._built = False
        super().reset_state()

    def result(self):
        if not self._built:
            return self._cast_result(0.0)
        count, s1 = self.count.value, self.s1.value
        total = np.maximum(self.s2.value - s1 * F.safe_div(s1, count), 0.0)  # weighted SST
        sse = self.sse.value
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = 1.0 - sse / total
        raw = np.where(total == 0, np.where((sse == 0) & (count > 0), 1.0, 0.0), raw)
        if self.class_aggregation == "uniform_average":
            r2 = raw.mean()
        elif self.class_aggregation == "variance_weighted_average":
            # all outputs constant: no variance to weight by, fall back to uniform (scikit-learn)
            r2 = F.safe_div(np.sum(total * raw), np.sum(total)) if np.sum(total) > 0 else raw.mean()
        else:
            r2 = raw
        n, k = int(self.num_samples.value), self.num_regressors
        if k:
            if k > n - 1:
                warnings.warn("More independent predictors than datapoints in adjusted R2 score. "
                              "Falling back to standard R2 score.", stacklevel=2)
            elif k == n - 1:
                warnings.warn("Division by zero in adjusted R2 score. "
                              "Falling back to standard R2 score.", stacklevel=2)
            else:
                r2 = 1 - (1 - r2) * (n - 1) / (n - k - 1)
        return self._cast_result(r2)

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
