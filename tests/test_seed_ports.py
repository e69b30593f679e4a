"""The custom metrics of the Keras articles in ../shared/seeds/, ported to metricore.

Each port swaps ``tf.keras.metrics.Metric`` for ``metricore.Metric`` and TensorFlow math for
NumPy, and nothing else. The numbers are checked against values computed independently
(some of the articles' printed outputs are wrong: CustomMAE's first batch is 0.4/3, not 0.1).
"""

import numpy as np
import pytest

import metricore as mc


# ----------------------------------------------------------------- the ports
class CustomMAE(mc.Metric):
    def __init__(self, name="custom_mae", **kwargs):
        super().__init__(name=name, **kwargs)
        self.mae_sum = self.add_weight(name="mae_sum", initializer="zeros")
        self.count = self.add_weight(name="count", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        mae = np.abs(np.asarray(y_true) - np.asarray(y_pred))
        self.mae_sum.assign_add(np.sum(mae))
        self.count.assign_add(np.float64(np.size(y_true)))

    def result(self):
        return self.mae_sum / self.count

    def reset_states(self):
        self.mae_sum.assign(0.0)
        self.count.assign(0.0)


class RunningAverage(mc.Metric):
    def __init__(self, name="running_avg", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_weight(name="total", initializer="zeros")
        self.count = self.add_weight(name="count", initializer="zeros")

    def update_state(self, values):
        self.total.assign_add(np.sum(values))
        self.count.assign_add(np.float64(np.shape(values)[0]))

    def result(self):
        return self.total / self.count

    def reset_states(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


class WeightedBinaryAccuracy(mc.Metric):
    def __init__(self, name="weighted_binary_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct_predictions = self.add_weight(name="correct_predictions", initializer="zeros")
        self.total_samples = self.add_weight(name="total_samples", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = (np.asarray(y_pred) > 0.5).astype(np.float64)
        correct = np.equal(y_true, y_pred).astype(np.float64)
        if sample_weight is not None:
            correct = correct * np.asarray(sample_weight)
        self.correct_predictions.assign_add(np.sum(correct))
        self.total_samples.assign_add(
            np.sum(sample_weight) if sample_weight is not None else np.sum(np.ones_like(y_true)))

    def result(self):
        return self.correct_predictions / self.total_samples

    def reset_states(self):
        self.correct_predictions.assign(0.0)
        self.total_samples.assign(0.0)


class RunningAveragePrecision(mc.Metric):
    def __init__(self, name="running_average_precision", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_weight(name="tp", initializer="zeros")
        self.false_positives = self.add_weight(name="fp", initializer="zeros")
        self.true_negatives = self.add_weight(name="tn", initializer="zeros")
        self.false_negatives = self.add_weight(name="fn", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(y_true).astype(bool)
        y_pred = np.asarray(y_pred) > 0.5
        self.true_positives.assign_add(np.sum(y_true & y_pred))
        self.false_positives.assign_add(np.sum(~y_true & y_pred))
        self.true_negatives.assign_add(np.sum(~y_true & ~y_pred))
        self.false_negatives.assign_add(np.sum(y_true & ~y_pred))

    def result(self):
        return self.true_positives / (self.true_positives + self.false_positives + mc.epsilon())

    def reset_states(self):
        for v in (self.true_positives, self.false_positives, self.true_negatives, self.false_negatives):
            v.assign(0.0)


class StatefulF1Score(mc.Metric):
    def __init__(self, name="stateful_f1", **kwargs):
        super().__init__(name=name, **kwargs)
        self.tp = self.add_weight("tp", initializer="zeros")
        self.fp = self.add_weight("fp", initializer="zeros")
        self.fn = self.add_weight("fn", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(y_true).astype(np.int32)
        y_pred = np.round(np.asarray(y_pred)).astype(np.int32)
        self.tp.assign_add(np.sum(y_true * y_pred))
        self.fp.assign_add(np.sum((1 - y_true) * y_pred))
        self.fn.assign_add(np.sum(y_true * (1 - y_pred)))

    def result(self):
        precision = self.tp / (self.tp + self.fp + mc.epsilon())
        recall = self.tp / (self.tp + self.fn + mc.epsilon())
        return 2 * precision * recall / (precision + recall + mc.epsilon())

    def reset_states(self):
        self.tp.assign(0.0)
        self.fp.assign(0.0)
        self.fn.assign(0.0)


class WeightedMetric(mc.Metric):
    def __init__(self, weight_function, name="weighted_metric", **kwargs):
        super().__init__(name=name, **kwargs)
        self.sum_weighted_values = self.add_weight("sum_weighted", initializer="zeros")
        self.total_weights = self.add_weight("total_weights", initializer="zeros")
        self.weight_function = weight_function

    def update_state(self, y_true, y_pred, sample_weight=None):
        weights = self.weight_function(y_true, y_pred)
        weighted_values = weights * np.abs(np.asarray(y_true) - np.asarray(y_pred))
        self.sum_weighted_values.assign_add(np.sum(weighted_values))
        self.total_weights.assign_add(np.sum(weights))

    def result(self):
        return self.sum_weighted_values / (self.total_weights + mc.epsilon())

    def reset_states(self):
        self.sum_weighted_values.assign(0.0)
        self.total_weights.assign(0.0)


def example_weight_function(y_true, y_pred):
    return (np.asarray(y_true) > 0.5).astype(np.float64)


class SumBinaryAccuracy(mc.Metric):
    def __init__(self, name="sum_binary_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct_predictions = self.add_weight(name="correct_predictions", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        correct = np.equal(y_true, np.round(y_pred))
        self.correct_predictions.assign_add(np.sum(correct.astype(np.float64)))

    def result(self):
        return self.correct_predictions

    def reset_states(self):
        self.correct_predictions.assign(0.0)


class SumMeanAbsoluteError(mc.Metric):
    def __init__(self, name="sum_mae", **kwargs):
        super().__init__(name=name, **kwargs)
        self.sum_mae = self.add_weight(name="sum_mae", initializer="zeros")
        self.count = self.add_weight(name="count", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        mae = np.sum(np.abs(np.asarray(y_true) - np.asarray(y_pred)))
        self.sum_mae.assign_add(mae)
        self.count.assign_add(np.float64(np.shape(y_true)[0]))

    def result(self):
        return self.sum_mae

    def reset_states(self):
        self.sum_mae.assign(0.0)
        self.count.assign(0.0)


class WeightedSumMetric(mc.Metric):
    def __init__(self, func, name="weighted_sum", **kwargs):
        super().__init__(name=name, **kwargs)
        self.sum_metric = self.add_weight(name="sum_metric", initializer="zeros")
        self.func = func

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None:
            sample_weight = np.ones_like(y_true)
        metric_values = self.func(y_true, y_pred)
        self.sum_metric.assign_add(np.sum(metric_values * np.asarray(sample_weight)))

    def result(self):
        return self.sum_metric

    def reset_states(self):
        self.sum_metric.assign(0.0)


def mae(y_true, y_pred):
    return np.abs(np.asarray(y_true) - np.asarray(y_pred))


class BinaryTruePositives(mc.Metric):
    def __init__(self, name="binary_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_weight(name="tp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(y_true).astype(bool)
        y_pred = np.asarray(y_pred).astype(bool)
        values = np.logical_and(np.equal(y_true, True), np.equal(y_pred, True))
        values = values.astype(self.dtype)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight).astype(self.dtype)
            sample_weight = np.broadcast_to(sample_weight, values.shape)
            values = np.multiply(values, sample_weight)
        self.true_positives.assign_add(np.sum(values))

    def result(self):
        return self.true_positives.numpy()


# ----------------------------------------------------------------- the checks
def _zeroed(metric):
    return all(np.all(v == 0) for v in metric.state.values())


def test_custom_mae():
    m = CustomMAE()
    m.update_state(np.array([1, 2, 3]), np.array([1.1, 1.9, 3.2]))
    assert float(m.result()) == pytest.approx(0.4 / 3, rel=1e-12)
    m.update_state(np.array([4, 5, 6]), np.array([4.2, 4.8, 5.9]))
    assert float(m.result()) == pytest.approx(0.9 / 6, rel=1e-12)
    m.reset_states()
    assert _zeroed(m)
    # the Keras 3 and torchmetrics spellings reset too
    m.update_state([1.0], [2.0])
    m.reset()
    assert _zeroed(m)


def test_custom_mae_matches_builtin(backend):
    rng = np.random.default_rng(0)
    t, p = rng.normal(size=(100, 1)), rng.normal(size=(100, 1))
    port, builtin = CustomMAE(), mc.MeanAbsoluteError(backend=backend)
    for s in (slice(0, 13), slice(13, 100)):
        port.update_state(t[s], p[s])
        builtin.update_state(t[s], p[s])
    assert float(port.result()) == pytest.approx(float(builtin.result()), rel=1e-12)


def test_running_average():
    m = RunningAverage()
    m.update_state(np.array([1.0, 2.0, 3.0]))
    assert float(m.result()) == 2.0
    m.update_state(np.array([4.0, 5.0, 6.0]))
    assert float(m.result()) == 3.5
    m.reset_states()
    assert _zeroed(m)


def test_weighted_binary_accuracy(backend):
    y_true = np.array([0, 1, 1, 0])
    y_pred = np.array([0.1, 0.8, 0.9, 0.2])
    w = np.array([0.5, 1.0, 1.5, 0.75])
    m = WeightedBinaryAccuracy()
    m.update_state(y_true, y_pred, sample_weight=w)
    assert float(m.result()) == 1.0
    y_pred2 = np.array([0.7, 0.8, 0.1, 0.2])  # first and third wrong
    m.update_state(y_true, y_pred2, sample_weight=w)
    expected = (w.sum() + (w[1] + w[3])) / (2 * w.sum())
    assert float(m.result()) == pytest.approx(expected, rel=1e-12)
    builtin = mc.BinaryAccuracy(backend=backend)
    builtin.update_state(y_true, y_pred, sample_weight=w)
    builtin.update_state(y_true, y_pred2, sample_weight=w)
    assert float(builtin.result()) == pytest.approx(expected, rel=1e-12)


def test_running_average_precision_and_builtin_precision(backend):
    rng = np.random.default_rng(1)
    t = rng.integers(0, 2, 500)
    p = rng.random(500)
    port, builtin = RunningAveragePrecision(), mc.Precision(backend=backend)
    for s in (slice(0, 1), slice(1, 250), slice(250, 500)):
        port.update_state(t[s], p[s])
        builtin.update_state(t[s], p[s])
    tp = np.sum((t == 1) & (p > 0.5))
    fp = np.sum((t == 0) & (p > 0.5))
    assert float(port.result()) == pytest.approx(tp / (tp + fp + 1e-7), rel=1e-12)
    assert float(builtin.result()) == pytest.approx(tp / (tp + fp), rel=1e-12)
    assert port.true_negatives.numpy() == np.sum((t == 0) & (p <= 0.5))


def test_stateful_f1(backend):
    rng = np.random.default_rng(2)
    t = rng.integers(0, 2, (300, 1))
    p = rng.random((300, 1))
    m = StatefulF1Score()
    m.update_state(t[:100], p[:100])
    m.update_state(t[100:], p[100:])
    pred = np.round(p)
    tp, fp, fn = np.sum(t * pred), np.sum((1 - t) * pred), np.sum(t * (1 - pred))
    prec, rec = tp / (tp + fp + 1e-7), tp / (tp + fn + 1e-7)
    assert float(m.result()) == pytest.approx(2 * prec * rec / (prec + rec + 1e-7), rel=1e-12)
    builtin = mc.F1Score(threshold=0.5, backend=backend)
    builtin.update_state(t, p)
    assert float(builtin.result()[0]) == pytest.approx(float(m.result()), rel=1e-6)


def test_weighted_metric():
    t = np.array([0.2, 0.7, 0.9, 0.1])
    p = np.array([0.3, 0.5, 0.6, 0.4])
    m = WeightedMetric(example_weight_function)
    m.update_state(t, p)
    expected = (0.2 + 0.3) / (2 + 1e-7)
    assert float(m.result()) == pytest.approx(expected, rel=1e-12)


def test_sum_binary_accuracy(backend):
    m = SumBinaryAccuracy()
    m.update_state(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.2]))
    assert float(m.result()) == 4.0  # the article prints 2.0: every prediction is right
    m.update_state(np.array([0, 1]), np.array([0.9, 0.9]))
    assert float(m.result()) == 5.0
    builtin = mc.SumMetricWrapper(lambda t, p: np.equal(t, np.round(p)), backend=backend)
    builtin.update_state(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.2]))
    builtin.update_state(np.array([0, 1]), np.array([0.9, 0.9]))
    assert float(builtin.result()) == 5.0


def test_sum_mae():
    m = SumMeanAbsoluteError()
    m.update_state(np.array([1.0, 2.0, 3.0]), np.array([1.2, 1.8, 3.5]))
    assert float(m.result()) == pytest.approx(0.9, rel=1e-12)  # the article prints 0.7
    assert float(m.count.numpy()) == 3.0


def test_weighted_sum_metric(backend):
    t = np.array([1.0, 2.0, 3.0])
    p = np.array([1.2, 1.8, 3.5])
    w = np.array([0.5, 1.0, 2.0])
    m = WeightedSumMetric(mae)
    m.update_state(t, p, w)
    expected = 0.5 * 0.2 + 1.0 * 0.2 + 2.0 * 0.5
    assert float(m.result()) == pytest.approx(expected, rel=1e-12)
    builtin = mc.SumMetricWrapper(mae, backend=backend)
    builtin.update_state(t, p, sample_weight=w)
    assert float(builtin.result()) == pytest.approx(expected, rel=1e-12)

    @mc.elementwise
    def abs_err(a, b):
        return abs(a - b)

    compiled = mc.SumMetricWrapper(abs_err, backend=backend)
    compiled.update_state(t, p, sample_weight=w)
    assert float(compiled.result()) == pytest.approx(expected, rel=1e-12)


def test_binary_true_positives(backend):
    m = BinaryTruePositives()
    t = np.array([0, 1, 1, 1])
    p = np.array([1, 0, 1, 1])
    m.update_state(t, p)
    assert float(m.result()) == 2.0
    m.update_state(t, p, sample_weight=np.array([1.0, 1.0, 0.5, 0.25]))
    assert float(m.result()) == 2.75
    builtin = mc.TruePositives(backend=backend)
    builtin.update_state(t, p)
    builtin.update_state(t, p, sample_weight=np.array([1.0, 1.0, 0.5, 0.25]))
    assert float(builtin.result()) == 2.75


def test_failed_custom_update_leaves_state_unchanged():
    m = CustomMAE()
    m.update_state(np.array([1.0, 2.0]), np.array([1.5, 2.5]))
    before = {k: v.copy() for k, v in m.state.items()}

    class Boom(Exception):
        pass

    def bad_update(self, y_true, y_pred, sample_weight=None):
        self.mae_sum.assign_add(100.0)
        raise Boom()

    class Failing(CustomMAE):
        update_state = bad_update

    f = Failing()
    f.load_state(before)
    with pytest.raises(Boom):
        f.update_state([1.0], [2.0])
    assert all(np.array_equal(f.state[k], before[k]) for k in before)
    # a shape mismatch inside NumPy math also rolls back
    with pytest.raises(ValueError):
        m.update_state(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0]))
    assert all(np.array_equal(m.state[k], before[k]) for k in before)


def test_ports_merge_pickle_and_config():
    import pickle

    a, b = RunningAverage(), RunningAverage()
    a.update_state(np.array([1.0, 2.0]))
    b.update_state(np.array([3.0, 4.0, 5.0]))
    a.merge_state(b)
    assert float(a.result()) == 3.0
    c = pickle.loads(pickle.dumps(a))
    assert float(c.result()) == 3.0
    c.update_state(np.array([9.0]))
    assert float(a.result()) == 3.0  # the copy's state is its own
    assert RunningAverage.from_config(a.get_config()).name == "running_avg"
