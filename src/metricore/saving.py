"""States that travel: a metric's or a collection's state as one versioned file.

The file is a NumPy ``.npz`` archive (no pickle, readable anywhere NumPy is): the state
arrays ``a0, a1, ...`` in their own dtypes (int64 counts stay exact) and one JSON
document ``__metricore__`` holding the format version, the metricore version, what was
saved (class name and ``get_config()``, or a collection's config and group keys) and which
array is which state variable. Loading rebuilds the object from its config and loads the
arrays; a file of another format version, or of another metric or configuration than the
one it is loaded into, fails with an error saying so.

    >>> import os, tempfile, metricore as mc
    >>> m = mc.Precision(); m.update_state([1, 0, 1], [0.9, 0.8, 0.2])
    >>> path = os.path.join(tempfile.mkdtemp(), "precision.npz")
    >>> m.save(path)
    >>> float(mc.load(path).result())
    0.5
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np

FORMAT = "metricore-state"
FORMAT_VERSION = 1
_META = "__metricore__"

PathLike = Union[str, "os.PathLike[str]"]


def _jsonable(value):
    """Config values as JSON (NumPy scalars and arrays as Python numbers and lists)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        f"cannot save a configuration holding {value!r} ({type(value).__name__}): only "
        "numbers, strings, lists and dicts can be written (a metric wrapping a Python "
        "function cannot be saved)")


def write(path: PathLike, kind: str, description: Dict[str, Any],
          arrays: Dict[Tuple[str, ...], np.ndarray]) -> None:
    """Writes ``arrays`` (keyed by a tuple naming the state variable) and the description."""
    import metricore

    names = list(arrays)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
            "metricore_version": metricore.__version__, "kind": kind,
            **_jsonable(description), "arrays": [list(n) for n in names]}
    payload = {f"a{i}": np.asarray(arrays[n], order="C") for i, n in enumerate(names)}
    payload[_META] = np.array(json.dumps(meta))
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a name
            np.savez(f, **payload)
        os.replace(tmp, path)  # readers never see a half-written file
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read(path: PathLike) -> Tuple[Dict[str, Any], Dict[Tuple[str, ...], np.ndarray]]:
    """The description and the arrays of a state file; ValueError if it is not one."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if _META not in z.files:
                raise ValueError(f"{path} is not a metricore state file (no {_META} entry)")
            meta = json.loads(str(z[_META]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path} is not a metricore state file")
            if meta.get("format_version") != FORMAT_VERSION:
                raise ValueError(
                    f"{path} was written in state format version {meta.get('format_version')} "
                    f"(metricore {meta.get('metricore_version')}); this metricore reads "
                    f"version {FORMAT_VERSION}")
            arrays = {tuple(n): z[f"a{i}"] for i, n in enumerate(meta["arrays"])}
    except (OSError, EOFError, zipfile.BadZipFile, json.JSONDecodeError, KeyError) as e:
        raise ValueError(f"cannot read metricore state file {path}: {e}") from None
    except ValueError as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f"cannot read metricore state file {path}: {e}") from None
    return meta, arrays


def resolve_class(class_name: str, custom_objects: Optional[Mapping[str, type]] = None) -> type:
    import metricore

    klass = (custom_objects or {}).get(class_name) or getattr(metricore, class_name, None)
    if not isinstance(klass, type):
        raise ValueError(f"unknown metric class {class_name!r}; pass it in custom_objects")
    return klass


def save(obj, path: PathLike) -> None:
    """Writes a metric's or a collection's state and configuration to ``path``."""
    obj.save(path)


def load(path: PathLike, custom_objects: Optional[Mapping[str, type]] = None):
    """The metric or ``MetricCollection`` saved at ``path``, with its state.

    ``custom_objects`` maps class names to user-defined metric classes.
    """
    from metricore.metrics.base import Metric
    from metricore.metrics.collection import MetricCollection

    meta, arrays = read(path)
    if meta["kind"] == "collection":
        obj = MetricCollection.from_config(meta["config"], custom_objects)
    elif meta["kind"] == "metric":
        obj = resolve_class(meta["class_name"], custom_objects).from_config(meta["config"])
        if not isinstance(obj, Metric):
            raise ValueError(f"{meta['class_name']} is not a metricore metric")
    else:
        raise ValueError(f"{os.fspath(path)} holds an unknown kind of state {meta['kind']!r}")
    obj._load_file_state(meta, arrays, os.fspath(path))
    return obj
