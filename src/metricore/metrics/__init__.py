"""Metric classes, by family."""

from metricore.metrics.accuracy import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
)
from metricore.metrics.base import Metric, Variable
from metricore.metrics.collection import MetricCollection
from metricore.metrics.confusion import (
    F1Score,
    FalseNegatives,
    FalsePositives,
    FBetaScore,
    Precision,
    Recall,
    TrueNegatives,
    TruePositives,
)
from metricore.metrics.curves import (
    AUC,
    AUROC,
    AveragePrecision,
    CalibrationError,
    PrecisionAtRecall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    UndefinedMetricWarning,
)
from metricore.metrics.iou import ConfusionMatrix, MeanIoU
from metricore.metrics.registry import get
from metricore.metrics.reduction import Mean, MeanMetricWrapper, Sum, SumMetricWrapper, elementwise
from metricore.metrics.regression import (
    CosineSimilarity,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    R2Score,
    RootMeanSquaredError,
)
