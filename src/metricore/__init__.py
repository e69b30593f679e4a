"""metricore: stateful ML evaluation metrics with the Keras lifecycle, on native kernels.

    >>> import metricore as mc
    >>> m = mc.BinaryAccuracy()
    >>> m.update_state([1, 0, 1], [0.9, 0.2, 0.4])
    >>> round(float(m.result()), 4)
    0.6667

Public names only: importing metricore loads neither a kernel backend, CuPy nor torch.
"""

from metricore._dispatch import DeviceArrayError, get_backend, set_backend
from metricore.functional import epsilon
from metricore.metrics import (
    AUC,
    AUROC,
    Accuracy,
    AveragePrecision,
    BinaryAccuracy,
    CalibrationError,
    CategoricalAccuracy,
    ConfusionMatrix,
    CosineSimilarity,
    F1Score,
    FalseNegatives,
    FalsePositives,
    FBetaScore,
    LogCoshError,
    Mean,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanIoU,
    MeanMetricWrapper,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Metric,
    MetricCollection,
    Precision,
    PrecisionAtRecall,
    R2Score,
    Recall,
    RecallAtPrecision,
    RootMeanSquaredError,
    SensitivityAtSpecificity,
    SparseCategoricalAccuracy,
    SpecificityAtSensitivity,
    SparseTopKCategoricalAccuracy,
    Sum,
    SumMetricWrapper,
    TopKCategoricalAccuracy,
    TrueNegatives,
    TruePositives,
    UndefinedMetricWarning,
    Variable,
    elementwise,
    get,
)

from metricore.saving import load

__version__ = "0.1.0"

__all__ = [name for name in dir() if not name.startswith("_")]
