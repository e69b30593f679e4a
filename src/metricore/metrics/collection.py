"""``MetricCollection``: many metrics updated from one pass over each batch.

Fusion. Metrics that read a batch the same way (binary labels and scores, the same
pooling: every element / per label / one class; the same logits setting) and need only
counts at thresholds share **one** ``score_histogram`` kernel call per batch, over the union
of their thresholds: AUC, AUROC, AveragePrecision, the ``*At*`` metrics, binary
CalibrationError, Precision, Recall, TP/FP/TN/FN, F1Score/FBetaScore with a threshold and
BinaryAccuracy. The shared histogram is handed to each member (re-bucketed onto its own
thresholds by cumulative sums) when results, states or members are read, so members keep
their own state and API. Everything else (top_k, exact-mode curves, regression metrics,
user metrics ...) is updated one by one with the same batch.

A fused metric validates the batch as the histogram does: ``y_true`` must be binary (also
for BinaryAccuracy, which alone would accept any label value).

Atomicity: an update that fails leaves every member's state as it was. Members run in
order of state size and every one but the last is snapshotted first, so the largest state
(usually the shared histogram) is never copied.

The fusion hooks a metric class implements (all private): ``_fusion_key(ndim, num_labels)``
(a hashable key, or None when it cannot share), ``_fusion_thresholds()`` (its strict kernel
thresholds), ``_fusion_needs_sums``, ``_fusion_prepare(t, p, m)`` (shape checks, lazy
state; may raise) and ``_fusion_absorb(hist, thresholds, sums)`` (adds a shared histogram
into its own state).
"""

from __future__ import annotations

import copy as _copy
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

import numpy as np

from metricore import _dispatch
from metricore import _validation as V
from metricore.metrics.base import Metric
from metricore.metrics.confusion import run_counting_kernel
from metricore.metrics.curves import curve_inputs

__all__ = ["MetricCollection"]


class _Group:
    """Metrics sharing one histogram: the union of their thresholds, one pending state."""

    def __init__(self, key, members: List[str], metrics: Dict[str, Metric]):
        self.key = key
        self.members = members
        thresholds = [metrics[n]._fusion_thresholds() for n in members]
        self.thresholds = np.ascontiguousarray(np.unique(np.concatenate(thresholds)))
        self.needs_sums = any(metrics[n]._fusion_needs_sums for n in members)
        self.hist = None  # (2, U + 1, M), int64 until a weighted batch arrives
        self.sums = None
        self.pending = False

    def size(self) -> int:
        return (self.thresholds.size + 1) * 2


class _Holder:
    """A stand-in Variable for run_counting_kernel (it rebinds ``value`` on promotion)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class MetricCollection:
    """Several metrics updated together; ``result()`` returns ``{name: value}``.

    Args:
        metrics: a list of metrics (named by their ``name``, which must be unique) or a
            dict ``{name: metric}``.
        prefix, postfix: added around every name in ``result()`` (torchmetrics).
        fuse: share kernel passes between compatible metrics (default True); False
            updates every metric on its own (same results, for comparison).

    Example:
        >>> import metricore as mc
        >>> c = mc.MetricCollection([mc.BinaryAccuracy(), mc.Precision(), mc.Recall(),
        ...                          mc.AUC()])
        >>> c.update_state([0, 1, 1, 0], [0.2, 0.8, 0.4, 0.6])
        >>> {k: round(float(v), 4) for k, v in c.result().items()}
        {'binary_accuracy': 0.5, 'precision': 0.5, 'recall': 0.5, 'auc': 0.75}
    """

    def __init__(self, metrics: Union[Iterable[Metric], Mapping[str, Metric]],
                 prefix: Optional[str] = None, postfix: Optional[str] = None, fuse: bool = True):
        if isinstance(metrics, Metric):
            metrics = [metrics]
        if isinstance(metrics, Mapping):
            items = list(metrics.items())
        else:
            items = [(getattr(m, "name", repr(m)), m) for m in metrics]
        self._metrics: Dict[str, Metric] = {}
        for name, metric in items:
            if not isinstance(metric, Metric):
                raise TypeError(f"MetricCollection takes metricore metrics; got {metric!r} "
                                f"for {name!r}")
            if name in self._metrics:
                raise ValueError(f"two metrics are named {name!r}; pass a dict to name them")
            self._metrics[name] = metric
        if not self._metrics:
            raise ValueError("MetricCollection needs at least one metric")
        self.prefix = prefix or ""
        self.postfix = postfix or ""
        self.fuse = bool(fuse)
        self._plan_for = None
        self._groups: List[_Group] = []
        self._solo: List[str] = list(self._metrics)

    # ------------------------------------------------------------- mapping
    def __getitem__(self, name: str) -> Metric:
        self._flush()
        return self._metrics[name]

    def __iter__(self):
        return iter(self._metrics)

    def __len__(self):
        return len(self._metrics)

    def keys(self):
        return self._metrics.keys()

    def values(self):
        self._flush()
        return self._metrics.values()

    def items(self):
        self._flush()
        return self._metrics.items()

    def __repr__(self):
        return f"MetricCollection({list(self._metrics)})"

    # ------------------------------------------------------------- planning
    def _plan(self, ndim: int, num_labels: int) -> None:
        """Groups the fusable members for inputs of this rank / label count."""
        if self._plan_for == (ndim, num_labels):
            return
        self._flush()
        by_key: Dict[Any, List[str]] = {}
        solo = []
        for name, metric in self._metrics.items():
            key = None
            if self.fuse and hasattr(metric, "_fusion_key"):
                key = metric._fusion_key(ndim, num_labels)
            if key is None:
                solo.append(name)
            else:
                key = key + (metric.backend,)
                by_key.setdefault(key, []).append(name)
        groups = []
        for key, members in by_key.items():
            if len(members) == 1:  # nothing to share: the metric's own update is as fast
                solo.extend(members)
            else:
                groups.append(_Group(key, members, self._metrics))
        self._groups = groups
        self._solo = [n for n in self._metrics if n in solo]
        self._plan_for = (ndim, num_labels)

    # ------------------------------------------------------------- update
    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Updates every metric with the batch: one kernel pass per group of fused metrics.
        All or nothing: on error no metric's state changes."""
        p_shape = tuple(getattr(y_pred, "shape", None) or np.shape(y_pred))
        ndim = len(p_shape)
        self._plan(ndim, p_shape[-1] if ndim else 1)
        runners = [(self._state_size(n), 0, n) for n in self._solo]
        runners += [(g.size(), 1, i) for i, g in enumerate(self._groups)]
        runners.sort(key=lambda r: r[0])
        # Members may build their state lazily in _fusion_prepare: remember how they were.
        undo = [self._shallow_snapshot(self._metrics[n]) for g in self._groups for n in g.members]
        try:
            prepared = [self._prepare_group(g, y_true, y_pred, sample_weight)
                        for g in self._groups]
            for k, (_, kind, ref) in enumerate(runners):
                last = k == len(runners) - 1
                if kind == 0:
                    metric = self._metrics[ref]
                    if not last:
                        undo.append(self._snapshot_metric(metric))
                    metric.update_state(y_true, y_pred, sample_weight)
                else:
                    group = self._groups[ref]
                    if not last:
                        undo.append(self._snapshot_group(group))
                    self._run_group(group, *prepared[ref])
        except BaseException:
            for restore in reversed(undo):
                restore()
            raise

    update = update_state

    def _prepare_group(self, group: _Group, y_true, y_pred, sample_weight):
        """Inputs for the group's kernel call, and every member's shape checks (before any
        state changes)."""
        mode, class_id, _, _ = group.key
        t, p, w, kernel_class, m = curve_inputs(mode, class_id, None, None, y_true, y_pred,
                                                sample_weight)
        for name in group.members:
            self._metrics[name]._fusion_prepare(t, p, m)
        return t, p, w, kernel_class, m

    def _run_group(self, group: _Group, t, p, w, kernel_class, m) -> None:
        if group.hist is None or group.hist.shape[2] != m:
            self._flush()
            group.hist = np.zeros((2, group.thresholds.size + 1, m), dtype=np.int64)
            group.sums = np.zeros((group.thresholds.size + 1, m)) if group.needs_sums else None
        backend = _dispatch.cpu_backend(group.key[3])
        holder = _Holder(group.hist)
        sums = group.sums

        def call(out, override):
            return backend.score_histogram(t, p, w if override is None else override,
                                           group.thresholds, kernel_class, out, sums)

        err = run_counting_kernel(holder, w is not None, p.shape, call)
        if err[0]:
            V.raise_for_error(err, y_true=t, y_pred=p, sample_weight=w, num_classes=p.shape[1])
        group.hist = holder.value
        group.pending = True

    def _state_size(self, name: str) -> int:
        return sum(v.value.size for v in self._metrics[name]._variables.values())

    @staticmethod
    def _shallow_snapshot(metric: Metric):
        """Restores a metric's attributes and set of variables (not their values)."""
        attrs = dict(metric.__dict__)
        names = set(metric._variables)

        def restore():
            metric.__dict__.clear()
            metric.__dict__.update(attrs)
            for name in list(metric._variables):
                if name not in names:
                    del metric._variables[name]

        return restore

    @classmethod
    def _snapshot_metric(cls, metric: Metric):
        """Restores a metric's attributes, set of variables and their values."""
        saved = {name: var.value.copy() for name, var in metric._variables.items()}
        restore_shape = cls._shallow_snapshot(metric)

        def restore():
            restore_shape()
            for name, value in saved.items():
                metric._variables[name].value = value

        return restore

    @staticmethod
    def _snapshot_group(group: _Group):
        hist = None if group.hist is None else group.hist.copy()
        sums = None if group.sums is None else group.sums.copy()
        pending = group.pending

        def restore():
            group.hist, group.sums, group.pending = hist, sums, pending

        return restore

    def _flush(self) -> None:
        """Hands each group's pending histogram to its members."""
        for group in self._groups:
            if not group.pending:
                continue
            for name in group.members:
                self._metrics[name]._fusion_absorb(group.hist, group.thresholds, group.sums)
            group.hist = np.zeros_like(group.hist, dtype=np.int64)
            if group.sums is not None:
                group.sums = np.zeros_like(group.sums)
            group.pending = False

    # ------------------------------------------------------------- results
    def result(self) -> Dict[str, Any]:
        """``{prefix + name + postfix: metric.result()}``."""
        self._flush()
        return {f"{self.prefix}{name}{self.postfix}": metric.result()
                for name, metric in self._metrics.items()}

    compute = result

    def __call__(self, y_true, y_pred, sample_weight=None) -> Dict[str, Any]:
        """Updates with the batch and returns the batch's own values (torchmetrics'
        ``forward``)."""
        batch = self.fresh()
        batch.update_state(y_true, y_pred, sample_weight)
        values = batch.result()
        self.merge_state(batch)
        return values

    forward = __call__

    # ------------------------------------------------------------- lifecycle
    def reset_state(self) -> None:
        for group in self._groups:
            group.hist, group.sums, group.pending = None, None, False
        for metric in self._metrics.values():
            metric.reset_state()

    reset = reset_states = reset_state

    def merge_state(self, others: Union["MetricCollection", Iterable["MetricCollection"]]):
        """Merges collections with the same names and metric configurations, member by
        member."""
        if isinstance(others, MetricCollection):
            others = [others]
        others = list(others)
        for other in others:
            if not isinstance(other, MetricCollection) or list(other._metrics) != list(
                    self._metrics):
                raise ValueError(
                    f"cannot merge: collections must hold the same metric names; got "
                    f"{list(getattr(other, '_metrics', {}))} and {list(self._metrics)}")
            other._flush()
        self._flush()
        for name, metric in self._metrics.items():
            metric.merge_state([other._metrics[name] for other in others])

    @property
    def state(self) -> Dict[str, Dict[str, np.ndarray]]:
        """``{name: metric.state}``."""
        self._flush()
        return {name: metric.state for name, metric in self._metrics.items()}

    def load_state(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        if set(state) != set(self._metrics):
            raise ValueError(f"state must have keys {sorted(self._metrics)}; got {sorted(state)}")
        self._flush()
        for name, metric in self._metrics.items():
            metric.load_state(state[name])

    def fresh(self) -> "MetricCollection":
        """A collection of the same metrics with empty states."""
        self._flush()
        return MetricCollection({n: m.fresh() for n, m in self._metrics.items()},
                                prefix=self.prefix, postfix=self.postfix, fuse=self.fuse)

    def get_config(self) -> Dict[str, Any]:
        return {
            "metrics": {name: {"class_name": type(m).__name__, "config": m.get_config()}
                        for name, m in self._metrics.items()},
            "prefix": self.prefix or None, "postfix": self.postfix or None, "fuse": self.fuse,
        }

    @classmethod
    def from_config(cls, config: Dict[str, Any], custom_objects: Optional[Dict[str, type]] = None):
        import metricore

        lookup = dict(custom_objects or {})
        metrics = {}
        for name, spec in config["metrics"].items():
            klass = lookup.get(spec["class_name"]) or getattr(metricore, spec["class_name"], None)
            if klass is None:
                raise ValueError(f"unknown metric class {spec['class_name']!r}; pass it in "
                                 "custom_objects")
            metrics[name] = klass.from_config(spec["config"])
        return cls(metrics, prefix=config.get("prefix"), postfix=config.get("postfix"),
                   fuse=config.get("fuse", True))

    def __copy__(self):
        self._flush()
        new = MetricCollection.__new__(MetricCollection)
        new.__dict__.update(self.__dict__)
        return new

    def __deepcopy__(self, memo):
        self._flush()
        new = MetricCollection({n: _copy.deepcopy(m, memo) for n, m in self._metrics.items()},
                               prefix=self.prefix, postfix=self.postfix, fuse=self.fuse)
        return new

    def __getstate__(self):
        self._flush()
        return {"metrics": self._metrics, "prefix": self.prefix, "postfix": self.postfix,
                "fuse": self.fuse}

    def __setstate__(self, state):
        self.__init__(state["metrics"], prefix=state["prefix"], postfix=state["postfix"],
                      fuse=state["fuse"])
