"""A stand-in for CuPy and the CUDA backend on machines without a GPU.

``FakeArray`` is a NumPy array that says it is a CuPy array (its type's module is
``cupy``, it has ``.device.id`` and ``.get()``), refuses ufuncs mixing it with host arrays
as CuPy does, and keeps its kind through NumPy functions and ufuncs as CuPy's
``__array_function__`` / ``__array_ufunc__`` do. (Being a NumPy subclass, ``np.asarray``
of it still works, where CuPy refuses: the GPU tests catch such conversions.) ``FakeCudaBackend`` runs the NumPy
reference kernels with the CUDA backend's deferred, sticky error record. Together they let
the metric layer's device path (placement, deferred errors, results in the batches' kind,
collections, merges) run in CI; the real kernels are tested on a GPU (``-m cuda``).
"""

from __future__ import annotations

import contextlib
import sys
import types

import numpy as np

from _numpy_backend import BACKEND as REF


def _plain(x):
    if isinstance(x, FakeArray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


def _wrap(x):
    if type(x) is np.ndarray:
        return x.view(FakeArray)
    if isinstance(x, np.generic):
        return np.asarray(x).view(FakeArray)
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


class _Device:
    id = 0


class FakeArray(np.ndarray):
    device = _Device()

    def get(self):
        return np.array(self.view(np.ndarray))

    def __reduce__(self):  # CuPy arrays pickle through the host; so does the fake
        return (_rebuild, (self.get(),))

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed (fake CuPy)")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        for x in inputs:
            if isinstance(x, np.ndarray) and not isinstance(x, FakeArray):
                raise TypeError(f"Unsupported type {type(x)} (fake CuPy: host array)")
        if "out" in kwargs:
            kwargs["out"] = tuple(_plain(o) for o in kwargs["out"])
        return _wrap(getattr(ufunc, method)(*_plain(inputs), **kwargs))

    def __array_function__(self, func, types_, args, kwargs):
        return _wrap(func(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()}))

    def __float__(self):
        return float(self.view(np.ndarray))

    def __int__(self):
        return int(self.view(np.ndarray))

    def __bool__(self):
        return bool(self.view(np.ndarray))

    def __getitem__(self, key):
        return _wrap(self.view(np.ndarray)[_plain(key)])


def _rebuild(host):
    return host.view(FakeArray)


FakeArray.__module__ = "cupy._core.core"
FakeArray.__name__ = FakeArray.__qualname__ = "ndarray"


def asarray(x, dtype=None):
    if isinstance(x, FakeArray):
        return x if dtype is None else x.astype(dtype)
    if isinstance(x, np.ndarray) and not isinstance(x, FakeArray):
        return np.array(x, dtype=dtype).view(FakeArray)
    return np.asarray(x, dtype=dtype).view(FakeArray)


def make_module():
    """A module object to install as ``sys.modules["cupy"]``."""
    cp = types.ModuleType("cupy")
    cp.ndarray = FakeArray
    cp.asarray = asarray
    for name in ("zeros", "ones", "full", "empty"):
        setattr(cp, name, (lambda f: lambda *a, **k: f(*a, **k).view(FakeArray))(getattr(np, name)))
    for name in ("where", "isnan", "abs", "broadcast_to", "maximum", "minimum"):
        setattr(cp, name, (lambda f: lambda *a, **k: _wrap(f(*_plain(a), **k)))(getattr(np, name)))
    cp.float32, cp.float64, cp.int64 = np.float32, np.float64, np.int64

    cuda = types.ModuleType("cupy.cuda")

    @contextlib.contextmanager
    def device(i=0):
        yield

    cuda.Device = device
    cp.cuda = cuda
    return cp


class FakeCudaBackend:
    """The CUDA backend's calling convention over the NumPy reference kernels: errors go
    to a device record (first error wins, sticky: later batches are validated, not added)."""

    name = "fake-cuda"

    @staticmethod
    def check(error, **context):
        from metricore._validation import raise_for_error

        raise_for_error(tuple(int(v) for v in error.get()), **context)

    def __getattr__(self, family):
        ref = getattr(REF, family)

        def call(*args, error, workspace=None):
            for a in args:  # the real backend refuses host arrays
                if type(a) is np.ndarray:
                    raise TypeError(f"{family}: a host array reached the CUDA backend")
            plain = [_plain(a) for a in args]
            # Run on copies of the outputs: commit only if the batch and the record are clean.
            out_idx = [i for i, a in enumerate(args) if _is_output(family, i, len(args))]
            copies = {i: (None if plain[i] is None else plain[i].copy()) for i in out_idx}
            err = ref(*[copies.get(i, p) for i, p in enumerate(plain)])
            record = error.view(np.ndarray)
            if err[0] and record[0] == 0:
                record[:] = err
            if not err[0] and record[0] == 0:
                for i in out_idx:
                    if copies[i] is not None:
                        plain[i][...] = copies[i]
            return error

        return call


# Output positions per family (the protocol's argument order, out last or last two).
_OUTPUTS = {"score_histogram": 2}


def _is_output(family, i, nargs):
    k = _OUTPUTS.get(family, 1)
    return i >= nargs - k


@contextlib.contextmanager
def installed(monkeypatch):
    """Installs the fake CuPy module and backend for the duration of a test."""
    import metricore._backends.cuda as cuda_pkg

    monkeypatch.setitem(sys.modules, "cupy", make_module())
    monkeypatch.setattr(cuda_pkg, "BACKEND", FakeCudaBackend())
    yield sys.modules["cupy"]
