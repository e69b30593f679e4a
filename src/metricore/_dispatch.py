"""The only code that looks at input types: host conversion and backend choice.

Array types are recognised by ``type(x).__module__`` and answered once per type, so a
NumPy call imports neither CuPy nor torch. Host arrays (NumPy, sequences, objects with
``__array__``, torch CPU tensors) go to a CPU backend; device arrays (CuPy, CUDA torch
tensors) are for the CUDA backend, and until it exists they raise rather than being
copied to the host behind the user's back.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Optional

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
        raise DeviceArrayError(
            f"got a torch tensor on {x.device}; the CUDA backend is not available in this "
            "version, and metricore never copies device data to the host silently: pass "
            "x.cpu() explicitly"
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
    raise DeviceArrayError(
        "got a CuPy array; the CUDA backend is not available in this version, and "
        "metricore never copies device data to the host silently: pass cupy.asnumpy(x)"
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
