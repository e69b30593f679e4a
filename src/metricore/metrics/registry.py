"""Metrics by name: ``get("auroc")``, ``get("precision:thresholds=[0.3,0.5]")``.

A spec is ``NAME`` or ``NAME:key=value,key=value``. ``NAME`` is a metric class exported by
:mod:`metricore.metrics`, matched case-insensitively as CamelCase or snake_case
(``"AUROC"``, ``"auroc"``, ``"f1_score"``, ``"F1Score"``, ``"sparse-categorical-accuracy"``)
or one of a few short aliases (``mae``, ``mse``, ``rmse``, ``mape``, ``msle``, ``r2``).
Values are read as JSON when they parse (numbers, ``true``/``false``/``null``, lists such
as ``[0.1,0.5]``), else as strings (``curve=PR``, ``average=macro``); commas inside
brackets or quotes do not split arguments.

    >>> from metricore.metrics.registry import get
    >>> get("precision:thresholds=[0.3,0.5]").thresholds.tolist()
    [0.3, 0.5]
    >>> type(get("auc:num_thresholds=65536,curve=PR")).__name__
    'AUC'
"""

from __future__ import annotations

import difflib
import inspect
import json
from typing import Any, Dict, List, Tuple

__all__ = ["get", "names", "parse_spec"]

# Classes that cannot be built from a name alone (they wrap a user function).
_EXCLUDED = {"Metric", "MetricCollection", "MeanMetricWrapper", "SumMetricWrapper"}

_ALIASES = {
    "mae": "MeanAbsoluteError",
    "mse": "MeanSquaredError",
    "rmse": "RootMeanSquaredError",
    "mape": "MeanAbsolutePercentageError",
    "msle": "MeanSquaredLogarithmicError",
    "r2": "R2Score",
}

_LITERALS = {"True": True, "False": False, "None": None}


def _classes() -> Dict[str, type]:
    """{class name: class} of the Metric subclasses exported by metricore.metrics."""
    from metricore import metrics as M
    from metricore.metrics.base import Metric

    out = {}
    for name in dir(M):
        obj = getattr(M, name)
        if (isinstance(obj, type) and issubclass(obj, Metric) and name not in _EXCLUDED
                and not name.startswith("_")):
            out[name] = obj
    return out


def _key(name: str) -> str:
    return name.replace("_", "").replace("-", "").replace(" ", "").lower()


def names() -> List[str]:
    """The snake_case names ``get`` accepts (aliases excluded), sorted."""
    from metricore.metrics.base import _snake_case

    return sorted(_snake_case(n).replace("io_u", "iou") for n in _classes())


def _split_args(text: str) -> List[str]:
    """Splits ``a=1,b=[1,2],c="x,y"`` on the commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _value(text: str) -> Any:
    text = text.strip()
    if text in _LITERALS:
        return _LITERALS[text]
    try:
        return json.loads(text)
    except ValueError:
        pass
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    return text


def parse_spec(spec: str) -> Tuple[str, Dict[str, Any]]:
    """``"precision:thresholds=0.3"`` -> ``("precision", {"thresholds": 0.3})``."""
    if not isinstance(spec, str):
        raise TypeError(f"a metric spec must be a string; got {spec!r}")
    name, _, args = spec.partition(":")
    name = name.strip()
    if not name:
        raise ValueError(f"metric spec {spec!r} has no metric name")
    kwargs: Dict[str, Any] = {}
    for part in _split_args(args):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise ValueError(f"metric spec {spec!r}: argument {part!r} is not of the form "
                             "key=value")
        if key in kwargs:
            raise ValueError(f"metric spec {spec!r}: argument {key!r} is given twice")
        kwargs[key] = _value(value)
    return name, kwargs


def _resolve(name: str) -> type:
    classes = _classes()
    by_key = {_key(n): c for n, c in classes.items()}
    key = _key(name)
    if key in by_key:
        return by_key[key]
    if key in _ALIASES:
        return classes[_ALIASES[key]]
    choices = names() + sorted(_ALIASES)
    close = difflib.get_close_matches(name.lower(), choices, n=4, cutoff=0.6)
    if not close:  # also compare without separators (e.g. "averageprecison")
        keyed = {_key(c): c for c in choices}
        close = [keyed[k] for k in difflib.get_close_matches(key, list(keyed), n=4, cutoff=0.6)]
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown metric {name!r}{hint} (`metricore metrics` lists them all)")


def get(spec, **overrides):
    """A metric instance from a spec string (see the module docstring); keyword arguments
    override the spec's. A Metric instance is returned as is.

    Raises ValueError for an unknown name (listing close matches), an argument the class
    does not take or a missing required one (naming it), and a value the class refuses.
    """
    from metricore.metrics.base import Metric

    if isinstance(spec, Metric):
        if overrides:
            raise ValueError("overrides apply to spec strings, not to metric instances")
        return spec
    name, kwargs = parse_spec(spec)
    cls = _resolve(name)
    kwargs.update(overrides)
    params = inspect.signature(cls.__init__).parameters
    accepted = [p for p in params if p != "self"
                and params[p].kind not in (inspect.Parameter.VAR_POSITIONAL,
                                           inspect.Parameter.VAR_KEYWORD)]
    for key in kwargs:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"metric {cls.__name__} has no argument {key!r}{hint}; its "
                             f"arguments: {', '.join(accepted)}")
    missing = [p for p in accepted if params[p].default is inspect.Parameter.empty
               and p not in kwargs]
    if missing:
        raise ValueError(f"metric {cls.__name__} needs argument(s) {', '.join(missing)}: "
                         f"write e.g. {name}:{missing[0]}=...")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metric spec {spec!r}: {exc}") from None
