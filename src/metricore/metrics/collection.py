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

Grouped (sliced) evaluation. ``update_state(..., by=keys)`` evaluates every metric for every
group of rows sharing a key (TensorFlow Model Analysis' slices) in the same passes: each
member's state gains a leading group axis and the kernels' grouped twins add each row into
its group's slice, so there is no per-group Python loop however many groups there are.
``result()`` then returns ``{name: {key: value}}``. Keys are mapped to dense group ids as
they first appear (``_ByKeys``); states merge across collections by key.

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
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

import numpy as np

from metricore import _dispatch
from metricore import _validation as V
from metricore.metrics.base import Metric, resized
from metricore.metrics.confusion import run_counting_kernel
from metricore.metrics.curves import curve_inputs

__all__ = ["MetricCollection"]


class _Group:
    """Metrics sharing one histogram: the union of their thresholds, one pending state."""

    def __init__(self, key, members: List[str], metrics: Dict[str, Metric]):
        self.key = key
        self.members = members
        thresholds = [metrics[n]._fusion_thresholds() for n in members]
        self.thresholds = np.unique(np.concatenate(thresholds))
        self.thresholds.flags.writeable = False  # the kernels keep their analysis of it
        self.needs_sums = any(metrics[n]._fusion_needs_sums for n in members)
        self.hist = None  # (2, U + 1, M), int64 until a weighted batch arrives
        self.sums = None
        self.pending = False

    def size(self) -> int:
        """Elements a snapshot of the pending state would copy."""
        if self.hist is None:
            return (self.thresholds.size + 1) * 2
        return self.hist.size + (0 if self.sums is None else self.sums.size)


_LUT_LIMIT = 1 << 24  # non-negative integer keys below this map through a lookup table


class _ByKeys:
    """The group keys seen so far (Python scalars) and their dense group ids 0, 1, ...

    Integer keys in [0, 2^24) map through a lookup table (one gather per batch); pyarrow
    arrays are dictionary-encoded by pyarrow (hashing, no sort) so only their distinct
    values meet Python; anything else goes through ``np.unique``.
    """

    def __init__(self):
        self.keys: List[Any] = []
        self.index: Dict[Any, int] = {}
        self.lut = np.full(0, -1, dtype=np.int64)

    def __len__(self):
        return len(self.keys)

    def _ids(self, values) -> np.ndarray:
        """Ids of distinct key values (a small array or list), new keys appended."""
        out = np.empty(len(values), dtype=np.int64)
        for i, value in enumerate(values):
            key = value.item() if isinstance(value, np.generic) else value
            code = self.index.get(key)
            if code is None:
                code = self.index[key] = len(self.keys)
                self.keys.append(key)
                if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < self.lut.size:
                    self.lut[key] = code
            out[i] = code
        return out

    def encode(self, by, n: int) -> np.ndarray:
        """(n,) int64 group ids of the batch's keys ``by``."""
        module = type(by).__module__
        if module.startswith("pyarrow"):
            codes = self._encode_arrow(by)
        else:
            keys = np.asarray(by)
            if keys.ndim == 2 and keys.shape[1] == 1:
                keys = keys.reshape(-1)
            if keys.ndim != 1:
                raise ValueError(f"by must be one key per row, shape ({n},); got {keys.shape}")
            if keys.size != n:
                raise ValueError(f"by has {keys.size} keys for {n} rows")
            if keys.dtype.kind in "iu" and keys.size:
                lo, hi = int(keys.min()), int(keys.max())
                if lo >= 0 and hi < _LUT_LIMIT:
                    return self._encode_small_ints(keys, hi)
            if keys.dtype.kind == "f" and np.isnan(keys).any():
                raise ValueError("by must not hold NaN keys")
            distinct, inverse = np.unique(keys, return_inverse=True)
            codes = self._ids(distinct)[inverse.reshape(-1)]
        if codes.size != n:
            raise ValueError(f"by has {codes.size} keys for {n} rows")
        return codes

    def _encode_small_ints(self, keys: np.ndarray, hi: int) -> np.ndarray:
        if hi >= self.lut.size:
            grown = np.full(max(hi + 1, 2 * self.lut.size), -1, dtype=np.int64)
            grown[:self.lut.size] = self.lut
            self.lut = grown
        codes = self.lut[keys]
        if codes.size and codes.min() < 0:
            self._ids(np.unique(keys[codes < 0]))  # new keys, in increasing order
            codes = self.lut[keys]
        return codes

    def _encode_arrow(self, by) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(by, pa.ChunkedArray):
            by = by.combine_chunks()
        if by.null_count:
            raise ValueError(f"by must not hold nulls; found {by.null_count}")
        if not pa.types.is_dictionary(by.type):
            by = pc.dictionary_encode(by)
        ids = self._ids(by.dictionary.to_pylist())
        return ids[by.indices.to_numpy(zero_copy_only=False)]

    def truncate(self, size: int) -> None:
        """Forgets the keys added after the first ``size`` (a failed update's)."""
        for key in self.keys[size:]:
            del self.index[key]
            if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < self.lut.size:
                self.lut[key] = -1
        del self.keys[size:]

    def order(self) -> List[int]:
        """Group ids in increasing key order (first-seen order if keys do not compare)."""
        try:
            return sorted(range(len(self.keys)), key=self.keys.__getitem__)
        except TypeError:
            return list(range(len(self.keys)))


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
        self._by: Optional[_ByKeys] = None  # grouped evaluation's keys (None: ungrouped)
        self._capacity = 0  # group slices allocated in every member (>= len(self._by))
        self._updated = False  # whether any batch went in since the last reset

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
        """Groups the fusable members for inputs of this rank / label count.

        When evaluating by group, a fusable metric runs through a histogram even alone
        (threshold counts have no grouped kernel of their own)."""
        grouped = self._by is not None
        if self._plan_for == (ndim, num_labels, grouped):
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
            if len(members) == 1 and not grouped:  # nothing to share: its own update is as fast
                solo.extend(members)
            else:
                groups.append(_Group(key, members, self._metrics))
        self._groups = groups
        self._solo = [n for n in self._metrics if n in solo]
        self._plan_for = (ndim, num_labels, grouped)

    # ------------------------------------------------------------- update
    def update_state(self, y_true, y_pred, sample_weight=None, *, by=None) -> None:
        """Updates every metric with the batch: one kernel pass per group of fused metrics.
        All or nothing: on error no metric's state changes.

        ``by``: one group key per row (integers, strings, any NumPy array, or a pyarrow
        array): every metric is then evaluated per group, and ``result()`` returns
        ``{name: {key: value}}``. A collection is grouped or not from its first batch to
        its next ``reset_state()``.
        """
        if (by is not None) != (self._by is not None) and self._updated:
            raise ValueError(
                "this collection was updated " + ("with" if self._by is not None else "without")
                + " by=; pass by= on every batch or on none (reset_state() to switch)")
        dev = _dispatch.device_of(y_true, y_pred, sample_weight)
        if dev is not None:
            return self._update_on_device(dev, y_true, y_pred, sample_weight, by)
        p_shape = tuple(getattr(y_pred, "shape", None) or np.shape(y_pred))
        ndim = len(p_shape)
        codes = touched = None
        undo = []
        try:
            if by is not None:
                codes, touched = self._encode_groups(by, p_shape[0] if ndim else 1, undo)
            self._plan(ndim, p_shape[-1] if ndim else 1)
            runners = [(self._state_size(n), 0, n) for n in self._solo]
            runners += [(g.size(), 1, i) for i, g in enumerate(self._groups)]
            runners.sort(key=lambda r: r[0])
            # Members may build their state lazily in _fusion_prepare: remember how they were.
            undo += [self._shallow_snapshot(self._metrics[n])
                     for g in self._groups for n in g.members]
            prepared = [self._prepare_group(g, y_true, y_pred, sample_weight)
                        for g in self._groups]
            for k, (_, kind, ref) in enumerate(runners):
                last = k == len(runners) - 1
                if kind == 0:
                    metric = self._metrics[ref]
                    if not last:
                        undo.append(self._snapshot_metric(metric, touched))
                    if codes is None:
                        metric.update_state(y_true, y_pred, sample_weight)
                    else:
                        metric._grouped_update(codes, y_true, y_pred, sample_weight,
                                               touched=touched)
                else:
                    group = self._groups[ref]
                    if not last:
                        undo.append(self._snapshot_group(group, touched))
                    self._run_group(group, *prepared[ref], codes=codes)
        except BaseException:
            for restore in reversed(undo):
                restore()
            raise
        self._updated = True

    def _encode_groups(self, by, n: int, undo: list):
        """The batch's group ids and the ids it touches; grows every state to hold new
        groups (``undo`` gets the rollback)."""
        first = self._by is None
        if first:
            for metric in self._metrics.values():
                if not metric._supports_groups:
                    raise TypeError(f"{type(metric).__name__} cannot be evaluated by group (by=)")
            self._by = _ByKeys()
        by_keys, size, capacity = self._by, len(self._by), self._capacity

        def restore():
            by_keys.truncate(size)
            if first:
                self._by, self._capacity = None, 0
                for group in self._groups:
                    group.hist, group.sums, group.pending = None, None, False
                for metric in self._metrics.values():
                    metric._set_group_capacity(None)
                self._plan_for = None
            elif self._capacity != capacity:
                self._set_capacity(capacity)

        undo.append(restore)
        codes = by_keys.encode(by, n)
        if len(by_keys) > self._capacity:
            self._set_capacity(max(len(by_keys), 2 * self._capacity, 16))
        touched = np.flatnonzero(np.bincount(codes, minlength=self._capacity))
        return codes, touched

    def _set_capacity(self, capacity: int) -> None:
        """Gives every member (and pending histogram) ``capacity`` group slices."""
        self._capacity = capacity
        for metric in self._metrics.values():
            metric._set_group_capacity(capacity)
        for group in self._groups:
            for attr in ("hist", "sums"):
                value = getattr(group, attr)
                if value is not None:
                    setattr(group, attr, resized(value, capacity))

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

    def _run_group(self, group: _Group, t, p, w, kernel_class, m, codes=None) -> None:
        lead = () if codes is None else (self._capacity,)
        if group.hist is None or group.hist.shape[-1] != m:
            self._flush()
            group.hist = np.zeros(lead + (2, group.thresholds.size + 1, m), dtype=np.int64)
            group.sums = (np.zeros(lead + (group.thresholds.size + 1, m))
                          if group.needs_sums else None)
        backend = _dispatch.cpu_backend(group.key[3])
        holder = _Holder(group.hist)
        sums = group.sums
        if codes is None:
            kernel = backend.score_histogram
        else:
            grouped = backend.score_histogram_grouped

            def kernel(*args):
                return grouped(codes, *args)

        def call(out, override):
            return kernel(t, p, w if override is None else override, group.thresholds,
                          kernel_class, out, sums)

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

    @staticmethod
    def _saved(value, touched):
        """What restores ``value`` after an update: a copy, or (grouped) the array itself
        and a copy of the only slices a batch of these groups can change."""
        if value is None:
            return None
        if touched is None:
            return value.copy(), None
        return value, value[touched].copy()

    @staticmethod
    def _restored(saved, touched):
        if saved is None:
            return None
        value, rows = saved
        if rows is not None:
            value[touched] = rows  # kernels write grouped states in place
        return value

    @classmethod
    def _snapshot_metric(cls, metric: Metric, touched=None):
        """Restores a metric's attributes, set of variables and their values."""
        saved = {name: cls._saved(var.value, touched if metric._per_group(name) else None)
                 for name, var in metric._variables.items()}
        restore_shape = cls._shallow_snapshot(metric)

        def restore():
            restore_shape()
            for name, value in saved.items():
                metric._variables[name].value = cls._restored(value, touched)

        return restore

    @classmethod
    def _snapshot_group(cls, group: _Group, touched=None):
        hist, sums = cls._saved(group.hist, touched), cls._saved(group.sums, touched)
        pending = group.pending

        def restore():
            group.hist, group.sums = cls._restored(hist, touched), cls._restored(sums, touched)
            group.pending = pending

        return restore

    def _flush(self) -> None:
        """Hands each group's pending histogram to its members."""
        for group in self._groups:
            if not group.pending:
                continue
            for name in group.members:
                self._metrics[name]._fusion_absorb(group.hist, group.thresholds, group.sums)
            group.hist = np.zeros_like(group.hist, dtype=np.int64)  # same group capacity
            if group.sums is not None:
                group.sums = np.zeros_like(group.sums)
            group.pending = False

    # ------------------------------------------------------------- results
    def _update_on_device(self, dev, y_true, y_pred, sample_weight, by) -> None:
        """A batch of CUDA arrays on ``dev``: every metric updates its own device state (no
        fusion yet). Everything that can refuse the batch is checked before any metric runs."""
        if by is not None:
            raise ValueError("grouped evaluation (by=) runs on the host; pass host arrays")
        for name, metric in self._metrics.items():
            if not metric._supports_device:
                raise _dispatch.DeviceArrayError(
                    f"{name} ({type(metric).__name__}) has no CUDA path: pass host arrays")
            if not metric._pristine and (metric._device is None or metric._device.id != dev.id):
                metric._check_placement(dev)  # raises, naming where the state is
        for metric in self._metrics.values():
            metric.update_state(y_true, y_pred, sample_weight)
        self._updated = True

    def check(self) -> None:
        """Raises the first error recorded on a GPU by any metric (see ``Metric.check``)."""
        for metric in self._metrics.values():
            metric.check()

    def result(self) -> Dict[str, Any]:
        """``{prefix + name + postfix: metric.result()}``; grouped, ``{... : {key: result of
        that group's rows}}`` with keys in increasing order."""
        self._flush()
        if self._by is None:
            return {f"{self.prefix}{name}{self.postfix}": metric.result()
                    for name, metric in self._metrics.items()}
        keys, order = self._by.keys, self._by.order()
        return {f"{self.prefix}{name}{self.postfix}": {keys[g]: metric._group_result(g)
                                                       for g in order}
                for name, metric in self._metrics.items()}

    @property
    def group_keys(self) -> Optional[List[Any]]:
        """The group keys seen (increasing order), or None for an ungrouped collection."""
        if self._by is None:
            return None
        return [self._by.keys[g] for g in self._by.order()]

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
            if self._by is not None:
                metric._set_group_capacity(None)
            metric.reset_state()
        self._by, self._capacity, self._updated, self._plan_for = None, 0, False, None

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
        grouped = [o for o in others if o._by is not None]
        if grouped and (len(grouped) != len(others) or (self._updated and self._by is None)):
            raise ValueError("cannot merge grouped (by=) and ungrouped collection states")
        if not grouped:
            for name, metric in self._metrics.items():
                metric.merge_state([other._metrics[name] for other in others])
            self._updated = self._updated or any(o._updated for o in others)
            return
        for other in others:
            self._merge_grouped(other)

    def _merge_grouped(self, other: "MetricCollection") -> None:
        """Adds a grouped collection's states, matching groups by key."""
        if self._by is None:
            self._by = _ByKeys()
            for metric in self._metrics.values():
                if not metric._supports_groups:
                    raise TypeError(f"{type(metric).__name__} cannot be evaluated by group")
            self._plan_for = None
        ids = self._by._ids(other._by.keys)  # their group g is our group ids[g]
        if len(self._by) > self._capacity:
            self._set_capacity(max(len(self._by), 2 * self._capacity, 16))
        for name, metric in self._metrics.items():
            theirs = _copy.deepcopy(other._metrics[name])
            theirs._regroup(ids, self._capacity)
            metric.merge_state(theirs)
        self._updated = True

    @property
    def state(self) -> Dict[str, Dict[str, np.ndarray]]:
        """``{name: metric.state}`` (grouped: each per-group array has one slice per key of
        ``_by.keys``, in the order the keys were first seen)."""
        self._flush()
        if self._by is None:
            return {name: metric.state for name, metric in self._metrics.items()}
        size = len(self._by)
        return {name: {k: (v[:size] if metric._per_group(k) else v)
                       for k, v in metric.state.items()}
                for name, metric in self._metrics.items()}

    def load_state(self, state) -> None:
        """Replaces every member's state: ``state`` is ``{name: {variable: array}}`` (as
        ``state`` gives, ungrouped) or the path of a file written by ``save_state``."""
        if isinstance(state, (str, os.PathLike)):
            from metricore import saving

            path = os.fspath(state)
            meta, arrays = saving.read(path)
            self._load_file_state(meta, arrays, path)
            return
        if set(state) != set(self._metrics):
            raise ValueError(f"state must have keys {sorted(self._metrics)}; got {sorted(state)}")
        self._flush()
        for name, metric in self._metrics.items():
            metric.load_state(state[name])
        self._updated = True

    def save_state(self, path) -> None:
        """Writes the members' configurations and states (and group keys) to ``path``;
        ``metricore.load(path)`` rebuilds the collection."""
        from metricore import saving

        keys = None if self._by is None else self._by.keys
        arrays = {(name, var): value for name, st in self.state.items()
                  for var, value in st.items()}
        saving.write(path, "collection", {"config": self.get_config(), "groups": keys}, arrays)

    save = save_state

    def _load_file_state(self, meta, arrays, path) -> None:
        from metricore import saving

        if meta["kind"] != "collection":
            raise ValueError(f"{path} holds the state of {meta.get('class_name')}, not of a "
                             "MetricCollection")
        theirs = saving._jsonable(meta["config"]["metrics"])
        mine = saving._jsonable(self.get_config()["metrics"])
        for spec in list(theirs.values()) + list(mine.values()):
            for key in ("name", "dtype", "backend"):
                spec["config"].pop(key, None)
        if theirs != mine:
            raise ValueError(f"{path} holds a collection of {theirs}; this one holds {mine}")
        self.reset_state()
        keys = meta.get("groups")
        if keys is not None:
            self._by = _ByKeys()
            self._by._ids(keys)
            self._set_capacity(len(keys))
        state: Dict[str, Dict[str, np.ndarray]] = {name: {} for name in self._metrics}
        for (name, var), value in arrays.items():
            if name not in state:
                raise ValueError(f"{path} holds state for {name!r}, not in this collection")
            state[name][var] = value
        self.load_state(state)

    def fresh(self) -> "MetricCollection":
        """A collection of the same metrics with empty states (and no groups)."""
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
        new = MetricCollection.__new__(MetricCollection)
        new.__setstate__(_copy.deepcopy(self.__getstate__(), memo))
        return new

    def __getstate__(self):
        self._flush()
        return {"metrics": self._metrics, "prefix": self.prefix, "postfix": self.postfix,
                "fuse": self.fuse, "by": self._by, "capacity": self._capacity,
                "updated": self._updated}

    def __setstate__(self, state):
        self.__init__(state["metrics"], prefix=state["prefix"], postfix=state["postfix"],
                      fuse=state["fuse"])
        self._by, self._capacity = state.get("by"), state.get("capacity", 0)
        self._updated = state.get("updated", True)
