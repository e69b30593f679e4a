"""The lifecycle every metric shares, on every backend: reset, merge, copy/pickle, config,
``__call__``, torchmetrics spellings, dispatch, and bad input (clear errors, state unchanged).
"""

import copy
import pickle

import numpy as np
import pytest

import metricore as mc


def _binary(rng, n=64):
    return rng.integers(0, 2, n), rng.random(n).astype(np.float32)


def _multiclass(rng, n=64, c=5):
    scores = rng.random((n, c)).astype(np.float32)
    return rng.integers(0, c, n), scores


def _onehot(ids, c):
    return np.eye(c, dtype=np.float32)[ids]


def _regression(rng, n=64, d=3):
    return rng.normal(size=(n, d)), rng.normal(size=(n, d))


# (factory, data maker) for every built-in metric; data(rng) -> (y_true, y_pred)
CASES = {
    "Accuracy": (lambda b: mc.Accuracy(backend=b), lambda r: (r.integers(0, 3, 64), r.integers(0, 3, 64))),
    "BinaryAccuracy": (lambda b: mc.BinaryAccuracy(backend=b), _binary),
    "CategoricalAccuracy": (lambda b: mc.CategoricalAccuracy(backend=b),
                            lambda r: (lambda t, p: (_onehot(t, 5), p))(*_multiclass(r))),
    "SparseCategoricalAccuracy": (lambda b: mc.SparseCategoricalAccuracy(backend=b), _multiclass),
    "TopKCategoricalAccuracy": (lambda b: mc.TopKCategoricalAccuracy(k=2, backend=b),
                                lambda r: (lambda t, p: (_onehot(t, 5), p))(*_multiclass(r))),
    "SparseTopKCategoricalAccuracy": (lambda b: mc.SparseTopKCategoricalAccuracy(k=2, backend=b), _multiclass),
    "TruePositives": (lambda b: mc.TruePositives(backend=b), _binary),
    "FalsePositives": (lambda b: mc.FalsePositives(thresholds=[0.2, 0.5], backend=b), _binary),
    "TrueNegatives": (lambda b: mc.TrueNegatives(backend=b), _binary),
    "FalseNegatives": (lambda b: mc.FalseNegatives(backend=b), _binary),
    "Precision": (lambda b: mc.Precision(thresholds=[0.3, 0.5, 0.7], backend=b), _binary),
    "Recall": (lambda b: mc.Recall(top_k=2, class_id=1, backend=b),
               lambda r: (r.integers(0, 2, (64, 5)), r.random((64, 5)))),
    "F1Score": (lambda b: mc.F1Score(average="macro", threshold=0.5, backend=b),
                lambda r: (r.integers(0, 2, (64, 4)), r.random((64, 4)))),
    "FBetaScore": (lambda b: mc.FBetaScore(beta=2.0, backend=b),
                   lambda r: (r.integers(0, 2, (64, 4)), r.random((64, 4)))),
    "ConfusionMatrix": (lambda b: mc.ConfusionMatrix(5, backend=b),
                        lambda r: (r.integers(0, 5, 64), r.integers(0, 5, 64))),
    "MeanIoU": (lambda b: mc.MeanIoU(5, backend=b), lambda r: (r.integers(0, 5, 64), r.integers(0, 5, 64))),
    "MeanAbsoluteError": (lambda b: mc.MeanAbsoluteError(backend=b), _regression),
    "MeanSquaredError": (lambda b: mc.MeanSquaredError(backend=b), _regression),
    "RootMeanSquaredError": (lambda b: mc.RootMeanSquaredError(backend=b), _regression),
    "MeanAbsolutePercentageError": (lambda b: mc.MeanAbsolutePercentageError(backend=b), _regression),
    "MeanSquaredLogarithmicError": (lambda b: mc.MeanSquaredLogarithmicError(backend=b),
                                    lambda r: (r.random((64, 2)), r.random((64, 2)))),
    "LogCoshError": (lambda b: mc.LogCoshError(backend=b), _regression),
    "CosineSimilarity": (lambda b: mc.CosineSimilarity(backend=b), _regression),
    "R2Score": (lambda b: mc.R2Score(backend=b), _regression),
    "AUC": (lambda b: mc.AUC(backend=b), _binary),
    "AUCExact": (lambda b: mc.AUC(num_thresholds=None, backend=b), _binary),
    "AUCMultiLabelPR": (lambda b: mc.AUC(multi_label=True, curve="PR", backend=b),
                        lambda r: (r.integers(0, 2, (64, 4)), r.random((64, 4)))),
    "AUROCMulticlass": (lambda b: mc.AUROC(task="multiclass", num_classes=5, backend=b),
                        _multiclass),
    "AUROCMulticlassBinned": (lambda b: mc.AUROC(task="multiclass", num_classes=5, thresholds=50,
                                                 average="weighted", backend=b), _multiclass),
    "AveragePrecision": (lambda b: mc.AveragePrecision(task="multilabel", num_labels=4,
                                                       average=None, backend=b),
                         lambda r: (r.integers(0, 2, (64, 4)), r.random((64, 4)))),
    "PrecisionAtRecall": (lambda b: mc.PrecisionAtRecall(0.6, backend=b), _binary),
    "RecallAtPrecision": (lambda b: mc.RecallAtPrecision(0.6, num_thresholds=50, backend=b),
                          _binary),
    "SensitivityAtSpecificity": (lambda b: mc.SensitivityAtSpecificity(0.5, class_id=1, backend=b),
                                 lambda r: (r.integers(0, 2, (64, 5)), r.random((64, 5)))),
    "SpecificityAtSensitivity": (lambda b: mc.SpecificityAtSensitivity(0.5, backend=b), _binary),
    "CalibrationError": (lambda b: mc.CalibrationError(backend=b), _binary),
    "CalibrationErrorMulticlass": (lambda b: mc.CalibrationError(task="multiclass", num_classes=5,
                                                                 norm="l2", backend=b),
                                   _multiclass),
    "MeanMetricWrapper": (lambda b: mc.MeanMetricWrapper(_abs_err, backend=b), _regression),
    "SumMetricWrapper": (lambda b: mc.SumMetricWrapper(_abs_err, backend=b), _regression),
}


def _abs_err(t, p):
    return np.abs(np.asarray(t) - np.asarray(p))


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-12, atol=0, equal_nan=True)


def _states_equal(m1, m2):
    s1, s2 = m1.state, m2.state
    return s1.keys() == s2.keys() and all(
        s1[k].dtype == s2[k].dtype and np.array_equal(s1[k], s2[k]) for k in s1)


@pytest.fixture(params=sorted(CASES))
def case(request, backend, rng):
    factory, data = CASES[request.param]
    return request.param, (lambda: factory(backend)), data, rng


def test_merge_equals_one_pass(case):
    name, make, data, rng = case
    batches = [data(rng) for _ in range(3)]
    whole = make()
    shards = [make() for _ in batches]
    for (t, p), shard in zip(batches, shards):
        whole.update_state(t, p)
        shard.update_state(t, p)
    merged = make()
    merged.merge_state(shards)
    assert _same(merged.result(), whole.result()), name
    # merging one at a time and into a non-empty metric gives the same
    step = make()
    step.update_state(*batches[0])
    step.merge_state(shards[1])
    step.merge_state([shards[2]])
    assert _same(step.result(), whole.result()), name


def test_reset_copy_pickle_config(case):
    name, make, data, rng = case
    m = make()
    m.update_state(*data(rng))
    expected = m.result()
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert _same(clone.result(), expected), name
        assert _states_equal(clone, m)
        clone.update_state(*data(rng))  # clones are independent
        assert _same(m.result(), expected), name
    rebuilt = type(m).from_config(m.get_config())
    assert rebuilt.get_config() == m.get_config()
    rebuilt.update_state(*data(rng))
    empty = make()
    m.reset_state()
    assert _states_equal(m, empty) or not m.state or _same(m.result(), empty.result())
    assert _same(m.result(), empty.result())


def test_call_returns_batch_value_and_accumulates(case):
    name, make, data, rng = case
    first, second = data(rng), data(rng)
    m = make()
    m.update_state(*first)
    batch_value = m(*second)
    alone = make()
    alone.update_state(*second)
    assert _same(batch_value, alone.result()), name
    both = make()
    both.update_state(*first)
    both.update_state(*second)
    assert _same(m.result(), both.result()), name


def test_torchmetrics_spellings(case):
    name, make, data, rng = case
    t, p = data(rng)
    a, b = make(), make()
    a.update(t, p)
    b.update_state(t, p)
    assert _same(a.compute(), b.result())
    a.reset()
    b.reset_states()
    assert _same(a.compute(), b.result())


def test_state_is_named_arrays_read_only(case):
    name, make, data, rng = case
    m = make()
    m.update_state(*data(rng))
    state = m.state
    assert state and all(isinstance(v, np.ndarray) for v in state.values())
    for v in state.values():
        with pytest.raises(ValueError):
            v[...] = 0


def test_merge_rejects_other_kinds_and_configs():
    a = mc.Precision(thresholds=[0.5])
    with pytest.raises(TypeError, match="Recall"):
        a.merge_state(mc.Recall())
    with pytest.raises(ValueError, match="configuration"):
        a.merge_state(mc.Precision(thresholds=[0.3]))


def test_exact_counts_past_2_31_and_2_53(backend):
    m = mc.TruePositives(backend=backend)
    big = mc.TruePositives(backend=backend)
    big.load_state({"confusion": np.full((4, 1, 1), 2**31 + 5, dtype=np.int64)})
    m.update_state([1, 1, 0], [0.9, 0.8, 0.1])
    m.merge_state([big, big])
    assert m.state["confusion"].dtype == np.int64
    assert int(m.result()) == 2 * (2**31 + 5) + 2
    huge = mc.ConfusionMatrix(2, backend=backend)
    huge.load_state({"matrix": np.full((2, 2), 2**53, dtype=np.int64)})
    huge.update_state([0], [0])
    assert int(huge.result()[0, 0]) == 2**53 + 1  # float64 would round this away


def test_weighted_batch_promotes_counts_to_float64(backend):
    m = mc.ConfusionMatrix(3, backend=backend)
    m.update_state([0, 1, 2], [0, 1, 1])
    assert m.state["matrix"].dtype == np.int64
    m.update_state([0, 1], [0, 1], sample_weight=[0.5, 2.0])
    assert m.state["matrix"].dtype == np.float64
    m.update_state([2], [2])  # unweighted batches still add into float64 state
    np.testing.assert_array_equal(m.result(), [[1.5, 0, 0], [0, 3, 0], [0, 1, 1]])


# ------------------------------------------------------------------ bad input
BAD = [
    # (factory, y_true, y_pred, sample_weight, exception, message fragment)
    (lambda b: mc.Precision(backend=b), [0, 1, 2], [0.1, 0.2, 0.3], None, ValueError, "binary"),
    (lambda b: mc.Precision(backend=b), [0, 1, 1], [0.1, np.nan, 0.3], None, ValueError, "NaN"),
    (lambda b: mc.Precision(backend=b), [0, 1, 1], [0.1, 0.2, 0.3], [1, np.nan, 1], ValueError, "sample_weight"),
    (lambda b: mc.Precision(backend=b), [0, 1, 1], [0.1, 0.2, 0.3], [1, np.inf, 1], ValueError, "finite"),
    (lambda b: mc.Precision(backend=b), [0, 1, 1], [0.1, 0.2], None, ValueError, "shape"),
    (lambda b: mc.Precision(backend=b), [0, 1, 1], [0.1, 0.2, 0.3], [1, 2], ValueError, "sample_weight"),
    (lambda b: mc.Precision(backend=b), ["a", "b"], [0.1, 0.2], None, TypeError, "y_true"),
    (lambda b: mc.TruePositives(backend=b), [0, 1, -1], [0.1, 0.2, 0.3], None, ValueError, "-1"),
    (lambda b: mc.BinaryAccuracy(backend=b), [0, 1, 1], [0.1, 0.2, 0.3], [1, np.nan, 1], ValueError, "sample_weight"),
    (lambda b: mc.ConfusionMatrix(3, backend=b), [0, 1, 3], [0, 1, 2], None, ValueError, "y_true"),
    (lambda b: mc.ConfusionMatrix(3, backend=b), [0, 1, 2], [0, -1, 2], None, ValueError, "y_pred"),
    (lambda b: mc.ConfusionMatrix(3, backend=b), [0, 1.5, 2], [0, 1, 2], None, ValueError, "1.5"),
    (lambda b: mc.ConfusionMatrix(3, backend=b), [0, 1], [0, 1, 2], None, ValueError, "samples"),
    (lambda b: mc.MeanIoU(3, backend=b), [0, 1, 2], [0, 1, 7], None, ValueError, "7"),
    (lambda b: mc.SparseCategoricalAccuracy(backend=b), [0, 5], [[0.1, 0.9], [0.3, 0.7]], None, ValueError, "5"),
    (lambda b: mc.SparseCategoricalAccuracy(backend=b), [0, 1], [[0.1, np.nan], [0.3, 0.7]], None, ValueError, "NaN"),
    (lambda b: mc.SparseCategoricalAccuracy(backend=b), [0, 1], [0.1, 0.3], None, ValueError, "y_pred"),
    (lambda b: mc.CategoricalAccuracy(backend=b), [[0, 1]], [[0.1, 0.2, 0.7]], None, ValueError, "y_true"),
    (lambda b: mc.F1Score(threshold=0.5, backend=b), [[0, 2]], [[0.1, 0.7]], None, ValueError, "binary"),
    (lambda b: mc.F1Score(backend=b), [0, 1], [0.1, 0.7], None, ValueError, "shape"),
    (lambda b: mc.MeanAbsoluteError(backend=b), [[1.0]], [[1.0]], [np.inf], ValueError, "sample_weight"),
    (lambda b: mc.MeanAbsoluteError(backend=b), [[1.0], [2.0]], [[1.0]], None, ValueError, "shape"),
    (lambda b: mc.R2Score(backend=b), [1.0, 2.0], [1.0, 2.0], None, ValueError, "R2Score"),
    (lambda b: mc.Recall(class_id=4, backend=b), [[0, 1]], [[0.1, 0.2]], None, ValueError, "class_id"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input_raises_and_leaves_state_unchanged(i, backend):
    factory, t, p, w, exc, fragment = BAD[i]
    m = factory(backend)
    snapshot = None
    if not isinstance(m, mc.R2Score):
        # put something in the state first, of the metric's own input kind
        good = {mc.ConfusionMatrix: ([0, 1, 2], [0, 2, 2]), mc.MeanIoU: ([0, 1, 2], [0, 2, 2]),
                mc.SparseCategoricalAccuracy: ([0, 1], [[0.1, 0.9], [0.3, 0.7]]),
                mc.CategoricalAccuracy: ([[0, 1, 0]], [[0.1, 0.2, 0.7]]),
                mc.F1Score: ([[0, 1]], [[0.1, 0.7]]),
                mc.MeanAbsoluteError: ([[1.0]], [[2.0]]),
                mc.Recall: ([[0, 1, 0, 0, 1]], [[0.1, 0.2, 0.3, 0.4, 0.9]])}.get(type(m), ([0, 1, 1], [0.2, 0.8, 0.6]))
        m.update_state(*good)
        snapshot = {k: v.copy() for k, v in m.state.items()}
        before = m.result()
    with pytest.raises(exc, match=fragment):
        m.update_state(t, p, sample_weight=w)
    if snapshot is not None:
        assert {k: (v.dtype, v.tobytes()) for k, v in m.state.items()} == {
            k: (v.dtype, v.tobytes()) for k, v in snapshot.items()}
        assert _same(m.result(), before)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(thresholds=[]), "empty"),
    (dict(thresholds=[0.5, 0.3]), "increasing"),
    (dict(thresholds=[0.5, 0.5]), "increasing"),
    (dict(thresholds=[-0.1]), r"\[0, 1\]"),
    (dict(thresholds=[1.5]), r"\[0, 1\]"),
    (dict(thresholds=[np.nan]), r"\[0, 1\]"),
    (dict(top_k=0), "top_k"),
    (dict(class_id=-1), "class_id"),
])
def test_bad_constructor_arguments(kwargs, fragment):
    with pytest.raises((ValueError, TypeError), match=fragment):
        mc.Precision(**kwargs)


def test_bad_constructor_arguments_other_metrics():
    with pytest.raises(ValueError, match="num_classes"):
        mc.ConfusionMatrix(0)
    with pytest.raises(ValueError, match="average"):
        mc.F1Score(average="samples")
    with pytest.raises(ValueError, match="beta"):
        mc.FBetaScore(beta=0)
    with pytest.raises(ValueError, match="backend"):
        mc.Precision(backend="gpu")
    with pytest.raises(ValueError, match="k"):
        mc.TopKCategoricalAccuracy(k=0)


def test_empty_batch_is_a_no_op(backend):
    for m, t, p in [
        (mc.Precision(backend=backend), np.zeros(0, np.int64), np.zeros(0, np.float32)),
        (mc.ConfusionMatrix(3, backend=backend), np.zeros(0, np.int64), np.zeros(0, np.int64)),
        (mc.SparseCategoricalAccuracy(backend=backend), np.zeros(0, np.int64), np.zeros((0, 3))),
        (mc.MeanAbsoluteError(backend=backend), np.zeros((0, 2)), np.zeros((0, 2))),
        (mc.R2Score(backend=backend), np.zeros((0, 2)), np.zeros((0, 2))),
    ]:
        fresh = {k: v.copy() for k, v in m.state.items()}
        m.update_state(t, p)
        assert all(np.array_equal(m.state[k], fresh[k]) for k in fresh)
        assert float(np.sum(m.result())) == 0.0  # zero denominators give 0.0 (Keras)


# ------------------------------------------------------------------ dispatch
def test_backend_choice_is_per_metric_and_process_default(monkeypatch):
    assert mc.get_backend() in ("cpp", "numba")
    old = mc.get_backend()
    try:
        mc.set_backend("numba")
        assert mc.get_backend() == "numba"
        a, b = mc.Precision(), mc.Precision(backend="cpp")
        t, p = [0, 1, 1], [0.2, 0.7, 0.9]
        a.update_state(t, p)
        b.update_state(t, p)
        assert float(a.result()) == float(b.result()) == 1.0
        with pytest.raises(ValueError):
            mc.set_backend("fortran")
    finally:
        mc.set_backend(old)


def test_torch_cpu_tensors_and_lists_are_accepted(backend):
    torch = pytest.importorskip("torch")
    t = torch.tensor([0, 1, 1, 0])
    p = torch.tensor([0.1, 0.9, 0.4, 0.6], requires_grad=True)
    m1, m2 = mc.BinaryAccuracy(backend=backend), mc.BinaryAccuracy(backend=backend)
    m1.update_state(t, p)
    m2.update_state([0, 1, 1, 0], [0.1, 0.9, 0.4, 0.6])
    assert float(m1.result()) == float(m2.result()) == 0.5
    m3 = mc.MeanAbsoluteError(backend=backend)
    m3.update_state(torch.ones(4, 2, dtype=torch.bfloat16), torch.zeros(4, 2, dtype=torch.float16))
    assert float(m3.result()) == 1.0


def test_device_arrays_raise_instead_of_copying(monkeypatch):
    from metricore import _dispatch

    FakeCupy = type("ndarray", (), {"__module__": "cupy._core.core", "__array__": lambda self: np.zeros(2)})
    with pytest.raises(mc.DeviceArrayError, match="CuPy"):
        _dispatch.to_numpy(FakeCupy())


def test_import_loads_no_backend_cupy_or_torch():
    import subprocess
    import sys

    code = ("import sys, metricore; bad = [m for m in ('torch', 'cupy', 'numba', 'metricore._core') "
            "if m in sys.modules]; print(bad); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_error_codes_mirror_the_cpp_header():
    from metricore import _core
    from metricore._backends.protocol import ErrorCode, MomentKind

    assert {k: int(v) for k, v in _core.ERROR_CODES.items()} == {e.name: e.value for e in ErrorCode}
    assert {k: int(v) for k, v in _core.MOMENT_KINDS.items()} == {e.name: e.value for e in MomentKind}


def test_every_backend_implements_every_family():
    from metricore._backends.cpp import BACKEND as cpp
    from metricore._backends.numba import BACKEND as nb
    from metricore._backends.protocol import FAMILIES, GROUPED_FAMILIES

    for backend in (cpp, nb):
        for family in FAMILIES + GROUPED_FAMILIES:
            assert callable(getattr(backend, family)), (backend.name, family)
