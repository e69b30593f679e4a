"""The multiclass confusion-matrix family: ConfusionMatrix and MeanIoU.

State: ``matrix`` (num_classes x num_classes; rows true class, columns predicted class),
exact int64 until a weighted batch arrives. One kernel call per batch, which also
validates the class ids.
"""

from __future__ import annotations

import numpy as np

from metricore import _dispatch
from metricore import _validation as V
from metricore import functional as F
from metricore.metrics.base import Metric
from metricore.metrics.confusion import run_counting_kernel


class ConfusionMatrix(Metric):
    """The running confusion matrix (rows: true class, columns: predicted class).

    ``y_pred`` holds class ids, or scores of shape (N, num_classes) whose row argmax is
    the prediction. Class ids outside [0, num_classes) are an error, never dropped.

    Example:
        >>> import metricore as mc
        >>> m = mc.ConfusionMatrix(num_classes=3)
        >>> m.update_state([0, 1, 2, 2], [0, 2, 2, 1])
        >>> m.result().tolist()
        [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    """

    _atomic_update = True
    _supports_groups = True
    _supports_device = True

    def __init__(self, num_classes, name=None, dtype=None, backend=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=dtype, backend=backend)
        self.num_classes = V.positive_int(num_classes, "num_classes")
        if ignore_class is not None and not isinstance(ignore_class, (int, np.integer)):
            raise TypeError(f"ignore_class must be an integer or None; got {ignore_class!r}")
        if axis != -1:
            raise ValueError(f"axis must be -1 (classes on the last axis); got {axis!r}")
        self.ignore_class = None if ignore_class is None else int(ignore_class)
        self.sparse_y_true = bool(sparse_y_true)
        self.sparse_y_pred = bool(sparse_y_pred)
        self.axis = axis
        self.matrix = self.add_weight(
            "matrix", shape=(self.num_classes, self.num_classes), dtype=np.int64)

    def _ids_or_scores(self, x, name, sparse):
        """Flattens class ids to (N,), or scores to (N, num_classes) for the kernel's argmax."""
        if sparse:
            return V.labels(x, name).reshape(-1)
        arr = V.scores(x, name)
        if arr.shape[-1:] != (self.num_classes,):
            raise ValueError(
                f"{name} must have num_classes={self.num_classes} scores on its last axis; "
                f"got shape {arr.shape}")
        return arr.reshape(-1, self.num_classes)

    def update_state(self, y_true, y_pred, sample_weight=None):
        t_arr = _dispatch.to_numpy(y_true)
        sample_shape = t_arr.shape[:-1] if not self.sparse_y_true else t_arr.shape
        t = self._ids_or_scores(t_arr, "y_true", self.sparse_y_true)
        if t.ndim == 2:  # one-hot y_true: its argmax, in NumPy (first maximum)
            t = t.argmax(axis=1)
        p_arr = _dispatch.to_numpy(y_pred)
        # (N, C) scores with sparse_y_pred=True are still scores if their last axis is C > 1
        # and y_true has one id per row: accept them as ConfusionMatrix's convenience.
        sparse_p = self.sparse_y_pred and not (
            p_arr.ndim >= 2 and p_arr.shape[-1] == self.num_classes > 1
            and p_arr.size == t.size * self.num_classes)
        p = self._ids_or_scores(p_arr, "y_pred", sparse_p)
        V.check_lengths(t.shape[0], y_pred=p)
        w = V.weights(sample_weight, sample_shape)
        w = None if w is None else w.reshape(-1)
        backend = self._backend()

        def call(out, override):
            return backend.confusion_matrix(t, p, w if override is None else override,
                                            self.ignore_class, out)

        err = run_counting_kernel(self.matrix, w is not None, (t.shape[0],), call)
        if err[0]:
            V.raise_for_error(err, y_true=t, y_pred=p, sample_weight=w, num_classes=self.num_classes)

    def result(self):
        return self._cast_result(self.matrix.value.copy())

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, ignore_class=self.ignore_class,
                      sparse_y_true=self.sparse_y_true, sparse_y_pred=self.sparse_y_pred,
                      axis=self.axis)
        return config


class MeanIoU(ConfusionMatrix):
    """Mean intersection-over-union over classes (Keras' ``MeanIoU``).

    Classes that never occur in y_true nor y_pred are left out of the mean; with none,
    the result is 0.0 (Keras).

    Example:
        >>> import metricore as mc
        >>> m = mc.MeanIoU(num_classes=2)
        >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
        >>> round(float(m.result()), 6)
        0.333333
    """

    def result(self):
        iou, denominator = F.iou_per_class(self.matrix.value)
        valid = np.count_nonzero(denominator)
        return self._cast_result(F.safe_div(iou.sum(), valid))
