"""The moments family: weighted means and sums of per-sample values, in one kernel pass.

State: ``moments`` = [sum of weighted values, sum of weights] (float64). Mean, Sum, the
wrappers around user functions, and (in other modules) accuracy and regression metrics
are all this state with a different per-element term.
"""

from __future__ import annotations

import numpy as np

from metricore import _dispatch
from metricore import _validation as V
from metricore import functional as F
from metricore._backends.protocol import MomentKind
from metricore.metrics.base import Metric


class MomentsMetric(Metric):
    """Family base: accumulates [sum w * v, sum w] with the moments kernel."""

    _atomic_update = True
    _supports_groups = True
    _supports_device = True
    _kind = MomentKind.VALUE
    _param = 0.0

    def __init__(self, name=None, dtype=None, backend=None):
        super().__init__(name=name, dtype=dtype, backend=backend)
        self.moments = self.add_weight("moments", shape=(2,), dtype=np.float64)

    def _accumulate(self, t, p, w, out=None, kind=None, param=None):
        """One kernel call adding the rows of a batch into ``out`` (default: the state), all
        or nothing; ``w`` comes from ``V.moment_weights``."""
        err = self._backend().moments(
            self._kind if kind is None else kind, self._param if param is None else param,
            t, p, w, self.moments.value if out is None else out)
        if err[0]:
            V.raise_for_error(err, y_true=t, y_pred=p, sample_weight=w)

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = V.matching_rows(V.labels(y_true, "y_true"), V.scores(y_pred, "y_pred"))
        self._accumulate(V.rows(t), V.rows(p), V.moment_weights(sample_weight, p.shape))

    def result(self):
        total, count = self.moments.value
        return self._cast_result(F.safe_div(total, count))


class Mean(MomentsMetric):
    """The weighted mean of the values seen (Keras' ``Mean``).

    Example:
        >>> import metricore as mc
        >>> m = mc.Mean()
        >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
        >>> float(m.result())
        2.0
    """

    _atomic_update = True  # the kernel commits all or nothing

    def update_state(self, values, sample_weight=None):
        v = V.scores(values, "values")
        w = V.moment_weights(sample_weight, v.shape)
        v = V.rows(v)
        self._accumulate(v, v, w)


class Sum(Metric):
    """The weighted sum of the values seen (Keras' ``Sum``).

    Example:
        >>> import metricore as mc
        >>> m = mc.Sum()
        >>> m.update_state([1, 3, 5, 7])
        >>> float(m.result())
        16.0
    """

    _atomic_update = True
    _supports_groups = True
    _supports_device = True

    def __init__(self, name=None, dtype=None, backend=None):
        super().__init__(name=name, dtype=dtype, backend=backend)
        self.total = self.add_weight("total", dtype=np.float64)

    def update_state(self, values, sample_weight=None):
        v = V.scores(values, "values")
        w = V.moment_weights(sample_weight, v.shape)
        v = V.rows(v)
        delta = self._zeros((2,))
        err = self._backend().moments(MomentKind.VALUE, 0.0, v, v, w, delta)
        if err[0]:
            V.raise_for_error(err, y_pred=v, sample_weight=w)
        # The kernel averages over each row's D values; Sum wants the row sums.
        self.total.value = self._xp().asarray(self.total.value + delta[..., 0] * v.shape[1])

    def result(self):
        return self._cast_result(self.total.value)


class elementwise:
    """Marks a per-element scalar function ``f(y_true, y_pred) -> float`` for Numba.

    A metric wrapper given such a function compiles it with Numba *into* the
    accumulation kernel, so a custom metric runs at native speed. Called on arrays it
    applies elementwise (handy for checks).

    Example:
        >>> import metricore as mc
        >>> @mc.elementwise
        ... def abs_err(t, p):
        ...     return abs(t - p)
        >>> m = mc.MeanMetricWrapper(abs_err)
        >>> m.update_state([1.0, 2.0], [1.5, 2.0])
        >>> float(m.result())
        0.25
    """

    def __init__(self, fn):
        self.py_func = fn
        self.__name__ = getattr(fn, "__name__", "elementwise")
        self.__doc__ = getattr(fn, "__doc__", None)
        self._jitted = None

    @property
    def jitted(self):
        if self._jitted is None:  # compiled on first use, never at import
            from metricore._backends.numba._jit import jit

            self._jitted = jit(self.py_func)
        return self._jitted

    def __call__(self, y_true, y_pred):
        return np.vectorize(self.py_func, otypes=[np.float64])(y_true, y_pred)

    def __reduce__(self):
        return (elementwise, (self.py_func,))


class MeanMetricWrapper(MomentsMetric):
    """The weighted mean of ``fn(y_true, y_pred, **kwargs)`` (Keras' ``MeanMetricWrapper``).

    ``fn`` is either an array function returning one value per sample (or per element),
    run as is, or an ``@metricore.elementwise`` scalar function, compiled into the kernel.
    """

    _atomic_update = True  # the kernel commits all or nothing
    _supports_device = False  # fn runs on host arrays

    def __init__(self, fn, name=None, dtype=None, backend=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype, backend=backend)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        if _dispatch.device_of(y_true, y_pred, sample_weight) is not None:
            # fn would see the device arrays before any conversion refuses them
            raise _dispatch.DeviceArrayError("device arrays")
        self._accumulate_fn(y_true, y_pred, sample_weight, self.moments.value)

    def _accumulate_fn(self, y_true, y_pred, sample_weight, out):
        if isinstance(self._fn, elementwise):
            if self._group_codes is not None:
                raise TypeError(f"{type(self).__name__} of an @elementwise function cannot be "
                                "evaluated by group (by=) yet: wrap an array function instead")
            t, p = V.matching_rows(V.labels(y_true, "y_true"), V.scores(y_pred, "y_pred"))
            w = V.moment_weights(sample_weight, p.shape)
            t, p = V.rows(t), V.rows(p)
            from metricore._backends.numba import moments_custom

            err = moments_custom(self._fn.jitted, t, p, w, out)
            if err[0]:
                V.raise_for_error(err, y_true=t, y_pred=p, sample_weight=w)
            return
        values = V.scores(np.asarray(self._fn(y_true, y_pred, **self._fn_kwargs)), "fn(...)")
        w = V.moment_weights(sample_weight, values.shape)
        values = V.rows(values)
        self._accumulate(values, values, w, out=out, kind=MomentKind.VALUE, param=0.0)

    def get_config(self):
        config = super().get_config()
        config.update(fn=self._fn, **self._fn_kwargs)
        return config


class SumMetricWrapper(MeanMetricWrapper):
    """The weighted *sum* of ``fn(y_true, y_pred)`` over samples: MeanMetricWrapper's total.

    For metrics that should add up across batches instead of averaging (a count of
    correct predictions, a total error).

    Example:
        >>> import numpy as np, metricore as mc
        >>> m = mc.SumMetricWrapper(lambda t, p: np.abs(np.asarray(t) - np.asarray(p)))
        >>> m.update_state([1.0, 2.0, 3.0], [1.5, 2.0, 2.0])
        >>> float(m.result())
        1.5
    """

    def result(self):
        return self._cast_result(self.moments.value[0])
