"""The lifecycle every metric shares: state variables, update/result/reset, merge, config, copy.

A metric's state is a few named NumPy arrays (``metric.state``) and nothing else, so
reset, merge, copy, pickling and saving are written once, here.
"""

from __future__ import annotations

import copy as _copy
import functools
import os
from typing import Any, Dict, Iterable, Optional, Union

import numpy as np

from metricore import _dispatch

_INITIALIZERS = {"zeros": 0, "ones": 1}


class Variable:
    """One named state array of a metric (Keras' ``add_weight`` result).

    ``assign``/``assign_add`` rebind the variable to a new array instead of writing in
    place, so a metric can roll back a failed ``update_state`` by keeping references.
    Arithmetic on a variable acts on its value, so Keras-style ``self.total / self.count``
    works in ``result()``.
    """

    __slots__ = ("name", "shape", "dtype", "initializer", "aggregation", "value")

    def __init__(self, name, shape=(), dtype=np.float64, initializer="zeros", aggregation="sum"):
        self.name = name
        self.shape = () if shape is None else tuple(int(s) for s in np.atleast_1d(shape))
        self.dtype = np.dtype(dtype)
        self.initializer = initializer
        self.aggregation = aggregation
        self.value = self.initial_value()

    def initial_value(self, xp=np):
        """The initial array, in ``xp`` (NumPy, or CuPy for state on a GPU)."""
        init = self.initializer
        if callable(init):
            host = np.asarray(init(self.shape, self.dtype), dtype=self.dtype).reshape(self.shape)
            return host if xp is np else xp.asarray(host)
        if isinstance(init, str):
            try:
                init = _INITIALIZERS[init]
            except KeyError:
                raise ValueError(
                    f"initializer must be one of {sorted(_INITIALIZERS)}, a number or a callable; "
                    f"got {init!r}"
                ) from None
        return xp.full(self.shape, init, dtype=self.dtype)

    def assign(self, value) -> None:
        new = np.array(_dispatch.to_numpy(value), dtype=self.dtype)
        if new.shape != self.shape:
            new = np.broadcast_to(new, self.shape).copy()
        self.value = new

    def assign_add(self, value) -> None:
        self.assign(self.value + np.asarray(_dispatch.to_numpy(value)))

    def assign_sub(self, value) -> None:
        self.assign(self.value - np.asarray(_dispatch.to_numpy(value)))

    def numpy(self) -> np.ndarray:
        return self.value.copy()

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __repr__(self):
        return f"<Variable {self.name} shape={self.shape} dtype={self.dtype} value={self.value!r}>"

    # Arithmetic acts on the value (Keras variables behave like tensors in result()).
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(i.value if isinstance(i, Variable) else i for i in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __add__(self, o): return np.add(self, o)
    def __radd__(self, o): return np.add(o, self)
    def __sub__(self, o): return np.subtract(self, o)
    def __rsub__(self, o): return np.subtract(o, self)
    def __mul__(self, o): return np.multiply(self, o)
    def __rmul__(self, o): return np.multiply(o, self)
    def __truediv__(self, o): return np.true_divide(self, o)
    def __rtruediv__(self, o): return np.true_divide(o, self)
    def __pow__(self, o): return np.power(self, o)
    def __neg__(self): return np.negative(self)
    def __getitem__(self, i): return self.value[i]


def _rollback_on_error(update_state):
    """Wraps a user-written ``update_state`` so that a failure leaves the state unchanged.

    Variables are rebound (never written in place) by ``assign``, so keeping the old
    references is a complete snapshot at the cost of one list per call.
    """

    @functools.wraps(update_state)
    def guarded(self, *args, **kwargs):
        variables = list(self._variables.values())
        saved = [v.value for v in variables]
        try:
            return update_state(self, *args, **kwargs)
        except BaseException:
            for v, value in zip(variables, saved):
                v.value = value
            raise

    guarded._metricore_guarded = True
    return guarded


def _device_result(result):
    """Wraps every ``result()``: for state on a GPU, ``check()`` first, then the metric's
    own result code on a host copy of its state (a few small arrays, read in the same
    synchronization as the error record), returned as arrays on the state's device in the
    batches' kind (CuPy or torch). Host state: unchanged."""

    @functools.wraps(result)
    def placed(self, *args, **kwargs):
        dev = self._device
        if dev is None:
            return result(self, *args, **kwargs)
        self.check()
        saved = {name: var.value for name, var in self._variables.items()}
        try:
            for var in self._variables.values():
                var.value = _host(var.value)
            self._device = None
            value = result(self, *args, **kwargs)
        finally:
            self._device = dev
            for name, value_ in saved.items():
                self._variables[name].value = value_
        return _to_device(value, dev)

    placed._metricore_placed = True
    return placed


def _to_device(value, dev):
    """A host result (arrays, scalars, and dicts, tuples or lists of them) on ``dev``."""
    if isinstance(value, dict):
        return {k: _to_device(v, dev) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_to_device(v, dev) for v in value)
    if isinstance(value, (np.ndarray, np.generic, float, int)):
        import cupy

        with cupy.cuda.Device(dev.id):
            return _dispatch.to_kind(cupy.asarray(value), dev.kind)
    return value


def _update_on_device(self, update_state, dev, args, kwargs):
    """``update_state`` of a batch on ``dev`` (see ``_placed``)."""
    if not self._supports_device:
        raise _dispatch.DeviceArrayError(
            f"{type(self).__name__} has no CUDA path: pass host arrays (cupy.asnumpy(x) "
            "or x.cpu()); metricore never copies device data to the host silently")
    if self._group_capacity is not None:
        raise ValueError(f"{self.name} holds grouped state, which lives on the host; "
                         "grouped evaluation takes host arrays")
    if self._device is None or self._device.id != dev.id:
        self._check_placement(dev)
    self._device = dev  # the latest batch's kind (cupy/torch) and stream
    with _dispatch.on_device(dev):
        out = update_state(self, *args, **kwargs)
    self._pristine = False
    return out


def _host_refused(self, update_state, args, kwargs):
    """Called inside ``except DeviceArrayError`` for host state: the batch holds device
    arrays (then the update runs there), or the error stands (re-raised)."""
    if _dispatch._device_mode.active:
        raise
    dev = _dispatch.device_of(*args, *kwargs.values())
    if dev is None:
        raise
    return _update_on_device(self, update_state, dev, args, kwargs)


def _device_state_update(self, update_state, args, kwargs):
    """``update_state`` for state on a GPU (see ``_placed``)."""
    if _dispatch._device_mode.active:
        return update_state(self, *args, **kwargs)  # nested (super().update_state)
    dev = _dispatch.device_of(*args, *kwargs.values())
    if dev is None:
        self._check_placement(None)
        out = update_state(self, *args, **kwargs)
        self._pristine = False
        return out
    return _update_on_device(self, update_state, dev, args, kwargs)


_PLACED_SOURCE = """
def placed(self, {decl}):
    if self._device is None:
        try:
            out = _update(self, {call})
        except _DeviceArrayError:
            return _host_refused(self, _update, ({call},), {{}})
        self._pristine = False
        return out
    return _device_state_update(self, _update, ({call},), {{}})
"""


def _placed(update_state):
    """Wraps every ``update_state``: finds where the batch lives and runs the update there.

    Host batches run as they always did. A batch of CUDA arrays (CuPy, or torch tensors
    on a GPU) runs on the CUDA backend for metrics that have a CUDA path
    (``_supports_device``), with the state on the batch's device. The state's place is
    set by the first update after construction or ``reset_state()``; a later batch from
    elsewhere is an error (metricore never moves data between devices behind your back).

    Host state runs the update as is, with no look at the arguments: a device array is
    refused by the host conversion (DeviceArrayError) before any state changes, and only
    then are the arguments inspected. The wrapper repeats the wrapped signature where it
    is plain (no ``*args`` packing: a few tens of nanoseconds instead of ~150 per call).
    """
    import inspect

    params = list(inspect.signature(update_state).parameters.values())[1:]
    if params and all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params):
        names = [p.name for p in params]
        decl = ", ".join(n if p.default is p.empty else f"{n}=_default{i}"
                         for i, (n, p) in enumerate(zip(names, params)))
        namespace = {"_update": update_state, "_DeviceArrayError": _dispatch.DeviceArrayError,
                     "_host_refused": _host_refused,
                     "_device_state_update": _device_state_update}
        namespace.update({f"_default{i}": p.default for i, p in enumerate(params)
                          if p.default is not p.empty})
        exec(_PLACED_SOURCE.format(decl=decl, call=", ".join(names)), namespace)
        placed = functools.wraps(update_state)(namespace["placed"])
    else:
        @functools.wraps(update_state)
        def placed(self, *args, **kwargs):
            if self._device is None:
                try:
                    out = update_state(self, *args, **kwargs)
                except _dispatch.DeviceArrayError:
                    return _host_refused(self, update_state, args, kwargs)
                self._pristine = False
                return out
            return _device_state_update(self, update_state, args, kwargs)

    placed._metricore_placed = True
    return placed


class Metric:
    """Base class of every metric: Keras' ``keras.metrics.Metric`` lifecycle, on NumPy state.

    Subclasses create state in ``__init__`` with ``add_weight`` and implement
    ``update_state(y_true, y_pred, sample_weight=None)`` and ``result()``. Built-in metrics
    run their batch work in a native kernel; user subclasses may use plain NumPy, and a
    failing ``update_state`` of theirs is rolled back automatically.

    Beyond Keras: ``merge_state`` (combine shards), ``state`` (the named arrays), the
    torchmetrics spellings ``update``/``compute``/``reset``, and ``backend`` (``"cpp"``,
    ``"numba"`` or ``None`` for the process default) choosing the CPU kernels.

    Example:
        >>> import numpy as np, metricore as mc
        >>> class Total(mc.Metric):
        ...     def __init__(self, name="total", **kwargs):
        ...         super().__init__(name=name, **kwargs)
        ...         self.total = self.add_weight("total", initializer="zeros")
        ...     def update_state(self, values, sample_weight=None):
        ...         self.total.assign_add(np.sum(values))
        ...     def result(self):
        ...         return self.total.numpy()
        >>> m = Total(); m.update_state([1.0, 2.0]); float(m.result())
        3.0
    """

    # Built-in metrics guarantee atomic updates through their kernels (all-or-nothing) and
    # set this to skip the snapshot wrapper.
    _atomic_update = False

    # Where the state lives: None on the host, else the ``_dispatch.Device`` of the batches
    # (see ``_placed``). ``_pristine``: no update since construction or reset, so the next
    # batch may place the state anywhere. ``_error``: the device error record.
    _supports_device = False  # a CUDA path: every update goes through ``_backend()``
    _device = None
    _pristine = True
    _error = None
    _workspace = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        update = cls.__dict__.get("update_state")
        if update is not None and not cls.__dict__.get("_atomic_update", False):
            if not getattr(update, "_metricore_guarded", False):
                cls.update_state = update = _rollback_on_error(update)
        if update is not None and not getattr(update, "_metricore_placed", False):
            cls.update_state = _placed(update)
        result = cls.__dict__.get("result")
        if result is not None and not getattr(result, "_metricore_placed", False):
            cls.result = _device_result(result)

    def __init__(self, name: Optional[str] = None, dtype=None, backend: Optional[str] = None):
        self.name = name or _snake_case(type(self).__name__)
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.backend = _dispatch.check_backend_name(backend)
        self._variables: Dict[str, Variable] = {}

    # ----------------------------------------------------------------- state
    def add_weight(self, name, shape=(), dtype=None, initializer="zeros", aggregation="sum", **_):
        """Adds a named state array; returns its ``Variable`` (``assign``, ``assign_add``, ``numpy``)."""
        if name in self._variables:
            raise ValueError(f"{type(self).__name__} already has a state variable named {name!r}")
        var = Variable(name, shape, np.float64 if dtype is None else dtype, initializer, aggregation)
        if self._group_capacity is not None and self._per_group(name):
            var.value = _grouped_initial(var, self._group_capacity)
        elif self._device is not None:
            with self._xp().cuda.Device(self._device.id):
                var.value = var.initial_value(self._xp())
        self._variables[name] = var
        return var

    add_variable = add_weight

    @property
    def variables(self):
        return list(self._variables.values())

    @property
    def state(self) -> Dict[str, np.ndarray]:
        """The state as ``{name: array}`` (read-only views; use ``load_state`` to replace it).
        For state on a GPU, the CuPy arrays themselves (CuPy has no read-only arrays)."""
        if self._device is not None:
            return {name: var.value for name, var in self._variables.items()}
        out = {}
        for name, var in self._variables.items():
            view = np.asarray(var.value).view()
            view.flags.writeable = False
            out[name] = view
        return out

    def load_state(self, state) -> None:
        """Replaces the state with arrays of the same names and shapes (copies them).

        ``state`` is a mapping ``{name: array}`` (as ``state`` gives) or the path of a file
        written by ``save`` for a metric of the same class and configuration.
        """
        if isinstance(state, (str, os.PathLike)):
            from metricore import saving

            path = os.fspath(state)
            meta, arrays = saving.read(path)
            self._load_file_state(meta, arrays, path)
            return
        self._load_arrays(state)

    def _load_arrays(self, state: Dict[str, Any]) -> None:
        """``load_state`` of a mapping; metrics whose set of variables depends on the
        data (built lazily) override this."""
        missing = set(self._variables) ^ set(state)
        if missing:
            raise ValueError(
                f"state for {type(self).__name__} must have keys {sorted(self._variables)}; "
                f"got {sorted(state)}"
            )
        new = {}
        for name, var in self._variables.items():
            arr = np.array(state[name])
            if arr.shape != var.value.shape:
                raise ValueError(
                    f"state[{name!r}] must have shape {var.value.shape}; got {arr.shape}"
                )
            new[name] = arr
        for name, arr in new.items():
            self._variables[name].value = arr
        if self._device is not None:  # the state stays where it is
            with self._xp().cuda.Device(self._device.id):
                for name, arr in new.items():
                    self._variables[name].value = self._xp().asarray(arr)
        self._pristine = False

    def save(self, path) -> None:
        """Writes this metric's configuration and state to ``path`` (see ``metricore.saving``);
        ``metricore.load(path)`` rebuilds it."""
        from metricore import saving

        if self._group_capacity is not None:
            raise ValueError(f"{self.name} holds grouped state: save its MetricCollection")
        saving.write(path, "metric", {"class_name": type(self).__name__,
                                      "config": self.get_config()},
                     {(name,): _host(var.value) for name, var in self._variables.items()})

    def _load_file_state(self, meta, arrays, path) -> None:
        from metricore import saving

        if meta["kind"] != "metric" or meta["class_name"] != type(self).__name__:
            what = meta.get("class_name") or f"a {meta['kind']}"
            raise ValueError(f"{path} holds the state of {what}; cannot load it into "
                             f"{type(self).__name__}")
        theirs = saving._jsonable(type(self).from_config(meta["config"])._merge_config())
        mine = saving._jsonable(self._merge_config())
        if theirs != mine:
            raise ValueError(f"{path} holds a {type(self).__name__} configured {theirs}; this "
                             f"one is configured {mine}")
        self.load_state({name[0]: value for name, value in arrays.items()})

    def reset_state(self) -> None:
        """Returns every state variable to its initial value (on the device where it lives;
        the next update may place it elsewhere) and clears a device error record."""
        self._place(self._device)

    # --------------------------------------------------------------- devices
    def _xp(self):
        """The array module of the state: NumPy, or CuPy for state on a GPU."""
        if self._device is None:
            return np
        import cupy

        return cupy

    def _place(self, dev) -> None:
        """Fresh state on ``dev`` (None: the host), with a clear device error record."""
        self._device = dev
        self._pristine = True
        if dev is None:
            self._error = self._workspace = None
            for var in self._variables.values():
                var.value = var.initial_value()
            return
        import cupy

        from metricore._backends.cuda import Workspace

        with cupy.cuda.Device(dev.id):
            for var in self._variables.values():
                var.value = var.initial_value(cupy)
            self._error = cupy.zeros(3, dtype=np.int64)
        self._workspace = Workspace()
        self._constants = {}

    def _check_placement(self, dev) -> None:
        """Moves a pristine state to ``dev``; refuses to mix places once updated."""
        if not self._pristine:
            def where(d):
                return "the host" if d is None else f"cuda:{d.id}"

            raise ValueError(
                f"{self.name}'s state is on {where(self._device)} but this batch is on "
                f"{where(dev)}; metricore never moves data between devices: call "
                "reset_state() first, or pass the batch where the state lives")
        self._place(dev)

    def check(self) -> None:
        """Raises the first error recorded by a device update (a ValueError naming the bad
        value's argument and index in its batch), else returns.

        On a GPU, ``update_state`` never waits for the device, so bad values (NaN scores,
        labels out of range, non-finite weights) cannot raise there: the kernels record the
        first one on the device, the failing batch and every later one add nothing, and
        ``check()`` (called by ``result()``) reads the record: the one synchronizing call.
        ``reset_state()`` clears it. On the host, errors raise in ``update_state`` and this
        does nothing.
        """
        if self._device is not None and self._error is not None:
            from metricore._backends.cuda import BACKEND

            with self._xp().cuda.Device(self._device.id):
                BACKEND.check(self._error)

    def reset_states(self) -> None:  # Keras 2 spelling
        self.reset_state()

    def reset(self) -> None:  # torchmetrics spelling
        self.reset_state()

    # ------------------------------------------------------------- lifecycle
    def update_state(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def update(self, *args, **kwargs):  # torchmetrics spelling
        return self.update_state(*args, **kwargs)

    def compute(self):  # torchmetrics spelling
        return self.result()

    def __call__(self, *args, **kwargs):
        """Updates the state with the batch and returns the metric of that batch alone.

        This is torchmetrics' ``forward``. (Keras 3's ``__call__`` returns the running
        result instead: call ``update_state`` then ``result()`` for that.) The batch is
        processed once, into a fresh state that is then merged.
        """
        batch = self.fresh()
        batch.update_state(*args, **kwargs)
        value = batch.result()
        self.merge_state(batch)
        return value

    forward = __call__

    # --------------------------------------------------------------- groups
    # Grouped (sliced) evaluation, driven by ``MetricCollection.update_state(..., by=...)``:
    # every per-group state variable gains a leading axis (the collection's group capacity)
    # and the batch goes through the backends' grouped kernel twins, which add row i into
    # group ``codes[i]``'s slice: one pass for every group. ``_group_result(g)`` computes
    # group g's result from its slices with the metric's own ``result()``.
    _group_capacity: Optional[int] = None  # None: ungrouped
    _group_codes: Optional[np.ndarray] = None  # the current grouped batch's group ids
    _group_touched: Optional[np.ndarray] = None  # their distinct values, sorted (or None)
    _supports_groups = False  # True where every update goes through ``_backend()``

    def _per_group(self, name: str) -> bool:
        """Whether variable ``name`` has a leading group axis (row buffers do not)."""
        return True

    def _backend(self):
        """The backend for this metric's kernel calls: the CUDA backend for state on a GPU,
        else the CPU backend (grouped during a grouped update)."""
        if self._device is not None:
            return _DeviceCalls(self)
        backend = _dispatch.cpu_backend(self.backend)
        if self._group_codes is None:
            return backend
        return _GroupedCalls(backend, self._group_codes, type(self).__name__,
                             self._group_touched)

    def _zeros(self, shape, dtype=np.float64) -> np.ndarray:
        """A zeroed kernel output of ``shape``, with the group axis during a grouped update,
        on the state's device."""
        if self._group_codes is not None:
            shape = (self._group_capacity,) + tuple(shape)
        return self._xp().zeros(shape, dtype=dtype)

    def _set_group_capacity(self, capacity: Optional[int]) -> None:
        """Gives every per-group variable ``capacity`` group slices: new ones start at the
        initial value, slices past ``capacity`` are dropped; None ungroups (fresh state)."""
        if capacity is None:
            self._group_capacity = None
            self.reset_state()
            return
        if not self._supports_groups:
            raise TypeError(f"{type(self).__name__} cannot be evaluated by group (by=)")
        old = self._group_capacity
        self._group_capacity = int(capacity)
        for name, var in self._variables.items():
            if not self._per_group(name):
                continue
            if old is None:
                var.value = _grouped_initial(var, capacity)
            else:
                var.value = resized(var.value, capacity,
                                    lambda n, dtype, var=var: _grouped_initial(var, n, dtype))

    def _grouped_update(self, codes: np.ndarray, *args, touched=None, **kwargs) -> None:
        """``update_state`` with row i added to group ``codes[i]`` (capacity already set);
        ``touched``: the sorted distinct codes, if the caller has them."""
        self._group_codes, self._group_touched = codes, touched
        try:
            self.update_state(*args, **kwargs)
        finally:
            self._group_codes = self._group_touched = None

    def _group_view(self, g: int) -> Dict[str, np.ndarray]:
        """Group g's state as an ungrouped metric would hold it."""
        return {name: (var.value[g] if self._per_group(name) else var.value)
                for name, var in self._variables.items()}

    def _group_result(self, g: int):
        """The result of group g alone (the variables are swapped to its slices meanwhile)."""
        full = {name: var.value for name, var in self._variables.items()}
        capacity = self._group_capacity
        try:
            view = self._group_view(g)
            self._group_capacity = None
            for name, var in self._variables.items():
                var.value = view[name]
            return self.result()
        finally:
            self._group_capacity = capacity
            for name, var in self._variables.items():
                var.value = full[name]

    def _regroup(self, mapping: np.ndarray, capacity: int) -> None:
        """Moves group slice k to ``mapping[k]`` in a state of ``capacity`` slices (merging
        collections whose groups were numbered differently)."""
        for name, var in self._variables.items():
            if self._per_group(name):
                value = var.value[:mapping.size]
                moved = _grouped_initial(var, capacity, value.dtype)
                moved[mapping] = value
                var.value = moved
        self._group_capacity = capacity

    # ----------------------------------------------------------------- merge
    def merge_state(self, others: Union["Metric", Iterable["Metric"]]) -> None:
        """Adds the state of other metrics of the same kind and configuration into this one.

        Lets shards (processes, machines, data partitions) be evaluated separately and
        combined exactly: counts add as int64, weighted sums as float64.
        """
        if isinstance(others, Metric):
            others = [others]
        others = list(others)
        for other in others:
            self._check_mergeable(other)
        if self._pristine and others and (self._device is None) != (others[0]._device is None):
            self._place(others[0]._device)
        for other in others:
            if (other._device is None) != (self._device is None) or (
                    other._device is not None and other._device.id != self._device.id):
                raise ValueError(f"cannot merge {other.name}: its state lives on another device "
                                 "than this one's")
        merged = {name: var.value for name, var in self._variables.items()}
        for other in others:
            merged = self._merge_arrays(merged, {n: v.value for n, v in other._variables.items()})
        asarray = self._xp().asarray
        for name, value in merged.items():
            self._variables[name].value = asarray(value)
        if self._device is not None:  # an error recorded in a shard is this state's error
            for other in others:
                if other._error is not None:
                    self._error[...] = self._xp().where(self._error[0] != 0, self._error,
                                                        other._error)
        self._pristine = False

    def _merge_arrays(self, mine: Dict[str, np.ndarray], theirs: Dict[str, np.ndarray]):
        """Combines two states; the default sums every variable (int64 + float64 -> float64)."""
        out = {}
        for name, var in self._variables.items():
            if var.aggregation == "sum":
                out[name] = mine[name] + theirs[name]  # NumPy or CuPy, as the state
            elif var.aggregation == "max":
                out[name] = np.maximum(mine[name], theirs[name])
            elif var.aggregation == "min":
                out[name] = np.minimum(mine[name], theirs[name])
            else:
                raise TypeError(
                    f"{type(self).__name__} variable {name!r} has aggregation "
                    f"{var.aggregation!r}; override _merge_arrays to merge it"
                )
        return out

    def _check_mergeable(self, other) -> None:
        if type(other) is not type(self):
            raise TypeError(
                f"cannot merge {type(other).__name__} into {type(self).__name__}"
            )
        mine, theirs = self._merge_config(), other._merge_config()
        if mine != theirs:
            raise ValueError(
                f"cannot merge {type(self).__name__} states with different configurations: "
                f"{mine} != {theirs}"
            )
        for name, var in self._variables.items():
            o = other._variables.get(name)
            if o is None or o.value.shape != var.value.shape:
                raise ValueError(
                    f"cannot merge {type(self).__name__}: state {name!r} has shape "
                    f"{var.value.shape} here and {None if o is None else o.value.shape} there"
                )

    def _merge_config(self):
        config = dict(self.get_config())
        for key in ("name", "dtype", "backend"):
            config.pop(key, None)
        return config

    # ---------------------------------------------------------------- config
    def get_config(self) -> Dict[str, Any]:
        """The constructor arguments (JSON-friendly) that rebuild this metric, state excluded."""
        config = {"name": self.name, "dtype": None if self.dtype is None else self.dtype.name}
        if self.backend is not None:
            config["backend"] = self.backend
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Metric":
        return cls(**config)

    def fresh(self) -> "Metric":
        """A new metric with this one's configuration and an empty state."""
        new = _copy.copy(self)
        new.__dict__.pop("_group_capacity", None)  # a fresh metric is ungrouped
        for key in ("_device", "_pristine", "_error", "_workspace", "_constants"):
            new.__dict__.pop(key, None)  # and unplaced: its first batch places it
        new._variables = {}
        for name, var in self._variables.items():
            v = _copy.copy(var)
            v.value = var.initial_value()
            new._variables[name] = v
        new._rebind_variables()
        return new

    def __copy__(self):
        new = self.__class__.__new__(self.__class__)
        new.__dict__.update(self.__dict__)
        return new

    def __deepcopy__(self, memo):
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            if key == "_variables":
                continue
            new.__dict__[key] = _copy.deepcopy(value, memo)
        new._variables = {}
        for name, var in self._variables.items():
            v = _copy.copy(var)
            v.value = var.value.copy()
            new._variables[name] = v
        new._rebind_variables()
        return new

    def __getstate__(self):
        state = self.__dict__.copy()
        dev = state.get("_device")
        if dev is not None:  # device state pickles as CuPy arrays; scratch and streams do not
            state["_device"] = dev._replace(stream=None)  # the next batch brings its stream
            state.pop("_workspace", None)
            state.pop("_constants", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._rebind_variables()
        if self._device is not None:
            from metricore._backends.cuda import Workspace

            self._workspace = Workspace()

    def _rebind_variables(self) -> None:
        """Points attributes that held a ``Variable`` at the copies in ``_variables``."""
        by_name = self._variables
        for key, value in list(self.__dict__.items()):
            if isinstance(value, Variable) and by_name.get(value.name) is not value:
                self.__dict__[key] = by_name[value.name]

    # ---------------------------------------------------------------- output
    def _cast_result(self, value):
        """Results are NumPy scalars/arrays, float64 unless ``dtype`` was given (for state on
        a GPU, ``_device_result`` puts them on its device)."""
        value = np.asarray(value)
        if self.dtype is not None:
            value = value.astype(self.dtype)
        return value[()] if value.ndim == 0 else value

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def _host(value):
    """A state array on the host (a device array is copied: saving is explicit)."""
    return value.get() if type(value) is not np.ndarray and hasattr(value, "get") else value


class _DeviceCalls:
    """The CUDA backend with the host backends' calling convention, for a metric whose state
    is on a GPU: each family call gets the metric's device error record and workspace and
    returns "no error" at once (errors are read by ``check()``); small host constants
    (thresholds, shifts, unit weights) are copied to the device once and kept."""

    __slots__ = ("_owner",)
    # Positions of the host constants each family may take (all else must be on the device:
    # a host output would be written on a device copy and lost).
    _CONSTANTS = {"threshold_counts": 3, "score_histogram": 3, "column_moments": 3}

    def __init__(self, owner: "Metric"):
        self._owner = owner

    def _device_array(self, a):
        consts = self._owner.__dict__.setdefault("_constants", {})
        hit = consts.get(id(a))
        if hit is not None and hit[0] is a:
            return hit[1]
        import cupy

        dev = cupy.asarray(a)
        if len(consts) >= 16:
            consts.clear()
        consts[id(a)] = (a, dev)  # the host array is kept, so its id is not reused
        return dev

    def __getattr__(self, family):
        from metricore._backends.cuda import BACKEND

        kernel = getattr(BACKEND, family)
        owner = self._owner

        const = self._CONSTANTS.get(family, -1)

        def call(*args):
            args = list(args)
            for i, a in enumerate(args):
                if type(a) is np.ndarray:
                    if i != const:
                        raise TypeError(f"{type(owner).__name__}: argument {i} of {family} is a "
                                        "host array on the CUDA path (a metricore bug)")
                    args[i] = self._device_array(a)
            kernel(*args, error=owner._error, workspace=owner._workspace)
            return (0, 0, 0)

        return call


def resized(value: np.ndarray, capacity: int, initial=None) -> np.ndarray:
    """``value`` with ``capacity`` group slices on its leading axis: cut, or grown with new
    slices from ``initial(capacity, dtype)`` (default zeros) and the old ones copied in."""
    if value.shape[0] >= capacity:
        return value[:capacity]
    if initial is None:
        grown = np.zeros((capacity,) + value.shape[1:], dtype=value.dtype)
    else:
        grown = initial(capacity, value.dtype)
    grown[:value.shape[0]] = value
    return grown


def _grouped_initial(var: Variable, capacity: int, dtype=None) -> np.ndarray:
    """``capacity`` copies of a variable's initial value, stacked on a new leading axis."""
    init = var.initial_value()
    shape, dtype = (capacity,) + init.shape, init.dtype if dtype is None else dtype
    if not init.any():
        return np.zeros(shape, dtype=dtype)  # the OS's zero pages: no pass over memory
    out = np.empty(shape, dtype=dtype)
    out[...] = init
    return out


class _GroupedCalls:
    """A backend whose accumulating families run their grouped twins on fixed group ids."""

    __slots__ = ("_backend", "_codes", "_owner", "_touched")

    def __init__(self, backend, codes, owner, touched=None):
        self._backend, self._codes, self._owner = backend, codes, owner
        self._touched = touched

    def __getattr__(self, family):
        twin = getattr(self._backend, f"{family}_grouped", None)
        if twin is None:
            raise TypeError(
                f"{self._owner} with these settings cannot be evaluated by group (by=): the "
                f"{self._backend.name} backend has no grouped {family} kernel")
        codes = self._codes
        return lambda *args: twin(codes, *args)

    def threshold_counts(self, y_true, y_pred, sample_weight, thresholds, top_k, class_id, out):
        """Grouped threshold counts: a grouped score histogram of the batch's groups only,
        then cumulative sums (counts at a threshold are sums of histogram buckets)."""
        from metricore.metrics.curves import confusion_from_histogram

        if top_k:
            raise TypeError(f"{self._owner} with top_k cannot be evaluated by group (by=)")
        codes, touched = self._codes, self._touched
        if touched is None:
            touched = np.flatnonzero(np.bincount(codes, minlength=out.shape[0]))
        compact = np.zeros(out.shape[0], dtype=np.int64)  # group id -> row of the histogram
        compact[touched] = np.arange(touched.size)
        hist = np.zeros((touched.size, 2, thresholds.size + 1, out.shape[-1]), dtype=out.dtype)
        err = self._backend.score_histogram_grouped(
            compact[codes], y_true, y_pred, sample_weight, thresholds, class_id, hist, None)
        if err[0] == 0:
            out[touched] += np.stack(confusion_from_histogram(hist), axis=-3)
        return err


def _snake_case(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
