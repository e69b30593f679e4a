"""The only code that looks at input types: host conversion and backend choice.

Array types are recognised by ``type(x).__module__`` and answered once per type, so a
NumPy call imports neither CuPy nor torch. Host arrays (NumPy, sequences, objects with
``__array__``, torch CPU tensors) go to a CPU backend; device arrays (CuPy, CUDA torch
tensors) go to the CUDA backend: ``device_of`` finds a batch's device, and inside
``on_device(...)`` the converters hand device arrays through as CuPy arrays (torch tensors
adopted zero-copy through DLPack). Outside it (a metric without a CUDA path) they raise
``DeviceArrayError`` rather than being copied to the host behind the user's back.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any, Callable, Dict, NamedTuple, Optional

import numpy as np

BACKEND_NAMES = ("cpp", "numba")
_ENV_VAR = "METRICORE_BACKEND"


class DeviceArrayError(TypeError):
    """A GPU array reached a code path that has no GPU backend yet."""


def check_backend_name(name: Optional[str]) -> Optional[str]:
    if name is None or name in BACKEND_NAMES:
        return name
    raise ValueError(f"backend must be one of {BACKEND_NAMES} or None; got {name!r}")


_default_backend = check_backend_name(os.environ.get(_ENV_VAR) or "cpp")


def set_backend(name: str) -> None:
    """Sets the process-default CPU backend (``"cpp"`` or ``"numba"``).

    Metrics built with an explicit ``backend=`` keep theirs, so two backends can be
    compared in one run. The environment variable ``METRICORE_BACKEND`` sets the initial
    default.
    """
    global _default_backend
    if name is None:
        raise ValueError(f"backend must be one of {BACKEND_NAMES}; got None")
    _default_backend = check_backend_name(name)


def get_backend() -> str:
    return _default_backend


_backends: Dict[str, Any] = {}


def cpu_backend(name: Optional[str] = None):
    """The backend object (see ``_backends.protocol.Backend``) for a name, imported lazily."""
    name = name or _default_backend
    try:
        return _backends[name]
    except KeyError:
        pass
    if name == "cpp":
        from metricore._backends.cpp import BACKEND
    elif name == "numba":
        from metricore._backends.numba import BACKEND
    else:  # pragma: no cover - names are checked on the way in
        raise ValueError(f"unknown backend {name!r}")
    _backends[name] = BACKEND
    return BACKEND


# ------------------------------------------------------------- host conversion
def _identity(x):
    return x


def _torch_to_numpy(x):
    if x.device.type != "cpu":
        if x.device.type == "cuda" and _device_mode.active:
            return _torch_to_cupy(x)
        raise DeviceArrayError(
            f"got a torch tensor on {x.device} where only host arrays are taken, and "
            "metricore never copies device data to the host silently: pass x.cpu() explicitly"
        )
    x = x.detach()
    if x.is_conj():
        x = x.resolve_conj()
    if x.is_neg():
        x = x.resolve_neg()
    if str(x.dtype) == "torch.bfloat16":  # NumPy has no bfloat16: widen, explicitly
        x = x.float()
    return x.numpy()  # zero-copy view of the tensor's memory


def _cupy_to_numpy(x):
    if _device_mode.active:
        return x
    raise DeviceArrayError(
        "got a CuPy array where only host arrays are taken, and metricore never copies "
        "device data to the host silently: pass cupy.asnumpy(x)"
    )


def _asarray(x):
    return np.asarray(x)


_converters: Dict[type, Callable[[Any], np.ndarray]] = {np.ndarray: _identity}


def _converter_for(tp: type) -> Callable[[Any], np.ndarray]:
    module = tp.__module__.partition(".")[0]
    if module == "torch":
        conv = _torch_to_numpy
    elif module == "cupy" or module == "cupyx":
        conv = _cupy_to_numpy
    elif issubclass(tp, np.ndarray):
        conv = _identity
    else:
        conv = _asarray
    _converters[tp] = conv
    return conv


def to_numpy(x) -> np.ndarray:
    """A NumPy view of a host array (no copy where the source allows), or an error for GPU data."""
    conv = _converters.get(type(x))
    if conv is None:
        conv = _converter_for(type(x))
    return conv(x)


# ------------------------------------------------------------------ device arrays
class _DeviceMode(threading.local):
    active = False


_device_mode = _DeviceMode()


class Device(NamedTuple):
    """Where a batch lives: CUDA device ``id``; ``kind`` "cupy" or "torch" (results are
    returned in the kind of the batch); ``stream``: torch's current stream for torch input
    (the work is then ordered on it), else None (CuPy's current stream)."""

    id: int
    kind: str
    stream: Any = None


def _device_of_one(x) -> Optional[Device]:
    module = type(x).__module__.partition(".")[0]
    if module == "cupy":
        return Device(int(x.device.id), "cupy")
    if module == "torch" and getattr(x, "is_cuda", False):
        import torch

        return Device(int(x.device.index), "torch", torch.cuda.current_stream(x.device))
    return None


def device_of(*arrays) -> Optional[Device]:
    """The device of a batch's arrays (None: all on the host). Mixing host and device
    arrays, or two devices, is an error naming both."""
    found, where = None, None
    for i, x in enumerate(arrays):
        if x is None:
            continue
        tp = type(x)
        if tp is np.ndarray or tp in (float, int, list, tuple):
            dev = None
        else:
            dev = _device_of_one(x)
        if i == 0 or where is None:
            found, where = dev, i
            continue
        if (dev is None) != (found is None) or (dev is not None and dev.id != found.id):
            def name(d):
                return "the host" if d is None else f"cuda:{d.id}"

            raise ValueError(f"a batch's arrays must live on one device: argument {where} is "
                             f"on {name(found)} and argument {i} on {name(dev)}")
    return found


def _torch_to_cupy(x):
    import cupy

    x = x.detach()
    if x.is_conj():
        x = x.resolve_conj()
    if x.is_neg():
        x = x.resolve_neg()
    if str(x.dtype) == "torch.bfloat16":  # CuPy has no bfloat16: widen, on torch's stream
        x = x.float()
    return cupy.from_dlpack(x)


_streams: Dict[Any, Any] = {}


def external_stream(cupy, pointer: int, device_id: int):
    """A CuPy view of another library's stream (torch's): ``ExternalStream``, deprecated in
    CuPy 14 in favour of ``Stream.from_external`` of an object speaking the CUDA stream
    protocol, which a bare pointer is not."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return cupy.cuda.ExternalStream(pointer, device_id)


@contextlib.contextmanager
def on_device(device: Device):
    """Runs a device update: converters pass device arrays through, work goes to the
    batch's device and, for torch input, to torch's current stream."""
    import cupy

    stack = contextlib.ExitStack()
    with stack:
        stack.enter_context(cupy.cuda.Device(device.id))
        if device.stream is not None:
            key = (device.id, device.stream.cuda_stream)
            stream = _streams.get(key)
            if stream is None:
                stream = _streams[key] = external_stream(cupy, device.stream.cuda_stream,
                                                         device.id)
            stack.enter_context(stream)
        previous, _device_mode.active = _device_mode.active, True
        try:
            yield
        finally:
            _device_mode.active = previous


def to_kind(value, kind: str):
    """A CuPy result in the array kind of the batches ("torch": zero-copy through DLPack)."""
    if kind == "torch":
        import torch

        return torch.from_dlpack(value)
    return value
