"""Per-batch update cost of metricore against torchmetrics, plain NumPy and scikit-learn.

Run from the repository root (metricore installed, e.g. ``pip install --no-build-isolation -e .``)::

    python benchmarks/bench_update.py                      # full run, a few minutes
    python benchmarks/bench_update.py --quick              # smoke run, well under 30 s
    python benchmarks/bench_update.py --cases cm10 acc10   # some cases only (names or 1-5)
    python benchmarks/bench_update.py --json results.json  # also write every number as JSON

What it measures, on ONE core (every thread pool is set to one thread before NumPy, torch
or Numba are imported), for each case and implementation:

* ``us/call @32``: microseconds per ``update`` call at batch 32, the fixed per-call cost
  (argument checks, dispatch, Python frames). Many calls per repeat.
* ``M samples/s`` at batches of 2^10, 2^16 and 2^20 samples, with the data bigger than
  the cache: each case draws one pool of >= 128 MiB (>= 4x this machine's L3) and every
  call gets the next fresh slice of it, wrapping around, so the numbers include reading
  the data from memory, as a real evaluation loop does.

Each number is the median of ``--repeats`` (>= 5 in a full run) timed repeats of
``time.perf_counter_ns`` around a loop of calls, with the garbage collector off. Every
implementation and batch size is warmed up and calibrated first (Numba compilation is
never timed), and the repeats of the implementations are interleaved, so background
noise hits them alike. Argument tuples (NumPy views, or torch tensors made with
``torch.from_numpy`` from the same pool) are built before timing; the timed loop is
``for args in arglist: update(*args)`` (its own cost is printed at the top).

Implementations (one row each):

* ``metricore-cpp`` / ``metricore-numba``: the public metric's ``update_state``, built
  with ``backend="cpp"`` / ``"numba"``, called with NumPy arrays.
* ``torchmetrics``: the matching torchmetrics metric's ``update`` on CPU tensors, with
  its defaults (``validate_args=True``).
* ``numpy``: the fastest straightforward NumPy expression, accumulated into a running
  state (for the confusion matrices ``np.add.at``, which beats
  ``np.bincount(t*C+p, minlength=C*C)`` at every size with NumPy 2; the bincount
  form is shown as ``numpy-bincount``). "vs NumPy" compares with the fastest NumPy row.
* ``sklearn``: scikit-learn's function on the batch (it keeps no state, so one call on
  the batch is what is timed).

Cases: 1 ``binary`` Precision at threshold 0.5 (bool labels, float32 scores); 2 ``cm10``
and 3 ``cm1000`` ConfusionMatrix from int64 class ids (predictions 75 % correct);
4 ``acc10`` SparseCategoricalAccuracy on (N, 10) float32 scores; 5 ``wmae`` weighted
MeanAbsoluteError on float32 (N,) data (torchmetrics has no weights: timed unweighted).

Targets (one core) are printed with PASS/MISS next to the numbers: <= 3 us per call at
batch 32; at 2^20 samples >= 3000 M samples/s (binary), 1200 (cm10), 500 (cm1000),
600 (acc10), 2000 (wmae); cpp and numba within 1.5x of each other. They are
informational: the script exits 0 unless it crashes. Before timing, every
implementation's result on one batch is checked against NumPy's.
"""

from __future__ import annotations

import os

# One core: every thread pool gets one thread, before NumPy/torch/Numba are imported.
# (OPENBLAS_CORETYPE, when the environment sets it, is left alone.)
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple  # noqa: E402

import numpy as np  # noqa: E402

try:
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set (torch allows it once)
        pass
    import torchmetrics
    from torchmetrics import MetricCollection as TMMetricCollection
    from torchmetrics.classification import (
        BinaryAccuracy,
        BinaryAUROC,
        BinaryF1Score,
        BinaryPrecision,
        BinaryRecall,
        MulticlassAccuracy,
        MulticlassConfusionMatrix,
    )
    from torchmetrics.regression import MeanAbsoluteError as TMMeanAbsoluteError
except ImportError:  # pragma: no cover - the torchmetrics rows are then left out
    torch = torchmetrics = None

try:
    import sklearn
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        mean_absolute_error,
        precision_score,
        roc_auc_score,
    )
except ImportError:  # pragma: no cover
    sklearn = None

try:
    try:
        import metricore as mc
    except ModuleNotFoundError:  # not installed: use the checkout's source tree
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
        import metricore as mc
    METRICORE_ERROR = None
except Exception as exc:  # pragma: no cover - reported, the other rows still run
    mc = None
    METRICORE_ERROR = f"{type(exc).__name__}: {exc}"

TARGET_US_32 = 3.0  # us per update_state call at batch 32
TARGET_BACKEND_RATIO = 1.5  # cpp and numba within this factor of each other
BIG = 1 << 20  # the batch size the throughput targets refer to
MAX_DISTINCT_SLICES = 1 << 15  # argument tuples prebuilt per batch size (cycled)
CHECK_BATCH = 4096


# ------------------------------------------------------------------ runners
@dataclass
class Runner:
    """One implementation, ready to time: ``update(*args)``, and ``result()`` for the check.

    ``result`` None means stateless (scikit-learn): ``update``'s return value is the result.
    """

    update: Callable[..., Any]
    result: Optional[Callable[[], Any]] = None


@dataclass
class Impl:
    name: str  # row label and JSON key
    make: Callable[[], Runner]
    torch_input: bool = False  # True: takes torch tensors (from_numpy views of the pool)
    label_note: str = ""  # shown next to the name, e.g. "(no weights)"
    checked: bool = True  # compare its result with NumPy's before timing

    @property
    def is_metricore(self) -> bool:
        return self.name.startswith("metricore-")

    @property
    def is_numpy(self) -> bool:
        return self.name.startswith("numpy")


def metricore_impls(factory: Callable[[str], Any]) -> List[Impl]:
    """``metricore-cpp`` and ``metricore-numba`` rows: the bound ``update_state`` itself."""
    if mc is None:
        return []

    def make(backend):
        def build():
            metric = factory(backend)
            return Runner(metric.update_state, metric.result)
        return build

    return [Impl(f"metricore-{b}", make(b)) for b in ("cpp", "numba")]


def torchmetrics_impl(factory: Callable[[], Any], drop_weights: bool = False) -> List[Impl]:
    """The torchmetrics row: ``update(preds, target)`` on tensors, given in (target, preds) order.

    ``drop_weights``: the metric takes no sample_weight, so the case's weights are ignored
    (the row is marked, and its result is not checked against the weighted NumPy one).
    """
    if torchmetrics is None:
        return []

    def build():
        metric = factory()
        if drop_weights:
            return Runner(lambda t, p, w: metric.update(p, t), lambda: metric.compute().numpy())
        return Runner(lambda t, p: metric.update(p, t), lambda: metric.compute().numpy())

    return [Impl("torchmetrics", build, torch_input=True,
                 label_note="(no weights)" if drop_weights else "", checked=not drop_weights)]


def sklearn_impl(fn: Callable[..., Any]) -> List[Impl]:
    return [] if sklearn is None else [Impl("sklearn", lambda: Runner(fn))]


# -------------------------------------------------------- NumPy baselines
class NumpyBinaryCounts:
    """TP/FP/TN/FN at threshold 0.5 with three np.count_nonzero passes; precision as result."""

    def __init__(self):
        self.tp = self.fp = self.tn = self.fn = 0

    def update(self, t, p):
        pred = p > 0.5
        tp = np.count_nonzero(pred & t)
        npred = np.count_nonzero(pred)
        npos = np.count_nonzero(t)
        self.tp += tp
        self.fp += npred - tp
        self.fn += npos - tp
        self.tn += t.size - npred - npos + tp

    def result(self):
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0


class NumpyConfusionAddAt:
    """The running matrix with ``np.add.at`` on the flat index t*C + p."""

    def __init__(self, num_classes):
        self.c = num_classes
        self.flat = np.zeros(num_classes * num_classes, np.int64)

    def update(self, t, p):
        np.add.at(self.flat, t * self.c + p, 1)

    def result(self):
        return self.flat.reshape(self.c, self.c)


class NumpyConfusionBincount(NumpyConfusionAddAt):
    """The running matrix with ``np.bincount(t*C + p, minlength=C*C)``."""

    def update(self, t, p):
        self.flat += np.bincount(t * self.c + p, minlength=self.c * self.c)


class NumpyAccuracy:
    def __init__(self):
        self.correct = self.total = 0

    def update(self, t, scores):
        self.correct += np.count_nonzero(scores.argmax(axis=1) == t)
        self.total += t.size

    def result(self):
        return self.correct / self.total


class NumpyWeightedMAE:
    """sum(w |t - p|) / sum(w), as np.average(abs(t - p), weights=w) forms it, minus its overhead."""

    def __init__(self):
        self.total = self.weight = 0.0

    def update(self, t, p, w):
        self.total += float(np.abs(t - p) @ w)
        self.weight += float(w.sum())

    def result(self):
        return self.total / self.weight


class NumpyHistogramAUC:
    """Keras' binned ROC AUC the NumPy way: bucket = np.searchsorted(thresholds, p), one
    np.bincount per class, cumulative sums and the trapezoid rule at result()."""

    def __init__(self, num_thresholds):
        inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.thr = np.array([-1e-7] + inner + [1 + 1e-7])
        self.hist = np.zeros((2, num_thresholds + 1), np.int64)

    def update(self, t, p):
        b = np.searchsorted(self.thr, p, side="left")
        pos = np.bincount(b[t], minlength=self.thr.size + 1)
        self.hist[1] += pos
        self.hist[0] += np.bincount(b, minlength=self.thr.size + 1) - pos

    def result(self):
        neg, pos = self.hist
        tp = np.cumsum(pos[::-1])[::-1][1:]
        fp = np.cumsum(neg[::-1])[::-1][1:]
        tpr, fpr = tp / pos.sum(), fp / neg.sum()
        return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))


class NumpyCollection:
    """Accuracy, precision, recall, F1 at 0.5 and the 200-threshold AUC, one NumPy pass each;
    the result checked is the precision."""

    def __init__(self):
        self.counts = NumpyBinaryCounts()
        self.auc = NumpyHistogramAUC(200)

    def update(self, t, p):
        t, p = t[:, 0], p[:, 0]
        self.counts.update(t, p)
        self.auc.update(t, p)

    def result(self):
        return self.counts.result()


def numpy_impl(cls, *args, name="numpy") -> Impl:
    def build():
        obj = cls(*args)
        return Runner(obj.update, obj.result)
    return Impl(name, build)


# -------------------------------------------------------------------- cases
@dataclass
class Case:
    key: str
    number: int
    title: str
    inputs: str  # what the data is, for the table caption
    target_msps: float  # at 2^20 samples, one core
    make_pool: Callable[[np.random.Generator, int], Tuple[np.ndarray, ...]]
    make_impls: Callable[[], List[Impl]]
    rtol: float = 0.0  # result check tolerance against NumPy
    notes: List[str] = field(default_factory=list)

    def bytes_per_sample(self, pool) -> int:
        return sum(a.itemsize * int(np.prod(a.shape[1:], dtype=np.int64)) for a in pool)


def _binary_pool(rng, n):
    return rng.random(n, dtype=np.float32) < 0.5, rng.random(n, dtype=np.float32)


def _class_pool(num_classes):
    def make(rng, n):
        t = rng.integers(0, num_classes, n, dtype=np.int64)
        wrong = rng.random(n, dtype=np.float32) >= 0.75  # a model that is right 75 % of the time
        p = t.copy()
        p[wrong] = rng.integers(0, num_classes, int(np.count_nonzero(wrong)), dtype=np.int64)
        return t, p
    return make


def _scores_pool(rng, n, num_classes=10):
    t = rng.integers(0, num_classes, n, dtype=np.int64)
    scores = rng.random((n, num_classes), dtype=np.float32)
    right = np.flatnonzero(rng.random(n, dtype=np.float32) < 0.75)
    scores[right, t[right]] += 1.0  # argmax is the true class for ~75 % of the rows
    return t, scores


def _regression_pool(rng, n):
    t = rng.standard_normal(n, dtype=np.float32)
    p = t + np.float32(0.1) * rng.standard_normal(n, dtype=np.float32)
    w = rng.random(n, dtype=np.float32)
    return t, p, w


def _binary_impls():
    return (
        metricore_impls(lambda b: mc.Precision(thresholds=0.5, backend=b))
        + torchmetrics_impl(lambda: BinaryPrecision(threshold=0.5))
        + [numpy_impl(NumpyBinaryCounts)]
        + sklearn_impl(lambda t, p: precision_score(t, p > 0.5, zero_division=0.0))
    )


def _confusion_impls(num_classes):
    labels = np.arange(num_classes)

    def make():
        return (
            metricore_impls(lambda b: mc.ConfusionMatrix(num_classes, backend=b))
            + torchmetrics_impl(lambda: MulticlassConfusionMatrix(num_classes=num_classes))
            + [numpy_impl(NumpyConfusionAddAt, num_classes),
               numpy_impl(NumpyConfusionBincount, num_classes, name="numpy-bincount")]
            + sklearn_impl(lambda t, p: confusion_matrix(t, p, labels=labels))
        )
    return make


def _accuracy_impls():
    return (
        metricore_impls(lambda b: mc.SparseCategoricalAccuracy(backend=b))
        + torchmetrics_impl(lambda: MulticlassAccuracy(num_classes=10, average="micro"))
        + [numpy_impl(NumpyAccuracy)]
        + sklearn_impl(lambda t, s: accuracy_score(t, s.argmax(axis=1)))
    )


def _mae_impls():
    return (
        metricore_impls(lambda b: mc.MeanAbsoluteError(backend=b))
        + torchmetrics_impl(TMMeanAbsoluteError, drop_weights=True)
        + [numpy_impl(NumpyWeightedMAE)]
        + sklearn_impl(lambda t, p, w: mean_absolute_error(t, p, sample_weight=w))
    )


def _auc_impls(num_thresholds):
    def make():
        impls = metricore_impls(lambda b: mc.AUC(num_thresholds=num_thresholds, backend=b))
        if num_thresholds <= 1000:  # O(N * T): 65,536 thresholds would take minutes per call
            impls += torchmetrics_impl(lambda: BinaryAUROC(thresholds=num_thresholds))
        return (impls + [numpy_impl(NumpyHistogramAUC, num_thresholds)]
                + sklearn_impl(lambda t, p: roc_auc_score(t, p)))
    return make


def _collection_members(backend):
    return [mc.BinaryAccuracy(backend=backend), mc.Precision(backend=backend),
            mc.Recall(backend=backend), mc.F1Score(threshold=0.5, backend=backend),
            mc.AUC(backend=backend)]


def _collection_impls():
    impls = []
    if mc is not None:
        def make(backend, fuse):
            def build():
                c = mc.MetricCollection(_collection_members(backend), fuse=fuse)
                return Runner(c.update_state, lambda: c.result()["precision"])
            return build
        impls += [Impl(f"metricore-{b}", make(b, True)) for b in ("cpp", "numba")]
        impls += [Impl("one-by-one-cpp", make("cpp", False), label_note="(fuse=False)")]
    if torchmetrics is not None:
        def build_tm(groups):
            def build():
                c = TMMetricCollection(
                    {"acc": BinaryAccuracy(), "precision": BinaryPrecision(),
                     "recall": BinaryRecall(), "f1": BinaryF1Score(),
                     "auc": BinaryAUROC(thresholds=200)}, compute_groups=groups)
                return Runner(lambda t, p: c.update(p, t),
                              lambda: c.compute()["precision"].numpy())
            return build
        impls += [Impl("torchmetrics", build_tm(True), torch_input=True,
                       label_note="(compute groups)")]
    return impls + [numpy_impl(NumpyCollection)]


def _collection_pool(rng, n):
    t, p = _binary_pool(rng, n)
    return t[:, None], p[:, None]


CASES = [
    Case("binary", 1, "binary counts", "mc.Precision(0.5); y_true bool (N,), y_pred float32 (N,)",
         3000, _binary_pool, _binary_impls, rtol=1e-6),
    Case("cm10", 2, "10-class confusion matrix",
         "mc.ConfusionMatrix(10); int64 class ids (N,), 75 % correct", 1200,
         _class_pool(10), _confusion_impls(10)),
    Case("cm1000", 3, "1000-class confusion matrix",
         "mc.ConfusionMatrix(1000); int64 class ids (N,), 75 % correct", 500,
         _class_pool(1000), _confusion_impls(1000)),
    Case("acc10", 4, "10-class accuracy from scores",
         "mc.SparseCategoricalAccuracy(); float32 scores (N, 10), int64 labels (N,)", 600,
         _scores_pool, _accuracy_impls, rtol=1e-6),
    Case("wmae", 5, "weighted MAE",
         "mc.MeanAbsoluteError(); float32 y_true, y_pred, sample_weight (N,)", 2000,
         _regression_pool, _mae_impls, rtol=1e-4,
         notes=["torchmetrics MeanAbsoluteError takes no sample_weight: it is timed unweighted"]),
]
CASES += [
    Case("auc200", 6, "binned ROC AUC, 200 thresholds",
         "mc.AUC(); y_true bool (N,), y_pred float32 (N,); torchmetrics BinaryAUROC(thresholds=200)",
         1000, _binary_pool, _auc_impls(200), rtol=5e-3,
         notes=["torchmetrics' grid is linspace(0, 1, 200) with >=, Keras' (metricore's) has "
                "epsilon ends: the values agree to ~1e-3", "sklearn is exact (one batch)"]),
    Case("auc65536", 7, "binned ROC AUC, 65,536 thresholds",
         "mc.AUC(num_thresholds=65536); y_true bool (N,), y_pred float32 (N,)",
         1000, _binary_pool, _auc_impls(65536), rtol=1e-3,
         notes=["torchmetrics is O(N T) here (minutes per 2^20 batch): not timed"]),
    Case("collection", 8, "collection: accuracy, precision, recall, F1, AUC",
         "mc.MetricCollection([BinaryAccuracy, Precision, Recall, F1Score(0.5), AUC()]); "
         "bool (N, 1), float32 (N, 1)", 500, _collection_pool, _collection_impls, rtol=1e-6,
         notes=["one-by-one-cpp: the same five metrics, fuse=False (each reads the batch)",
                "torchmetrics: MetricCollection with compute_groups=True"]),
]
CASE_BY_NAME = {c.key: c for c in CASES} | {str(c.number): c for c in CASES}


# ------------------------------------------------------------------ timing
@dataclass
class Config:
    sizes: List[int]
    repeats: int
    min_time_ns: int  # per timed repeat
    pool_bytes: int
    max_pool_samples: int


def _run(update, arglist) -> int:
    """The timed loop: nothing else happens between the two clock reads."""
    start = time.perf_counter_ns()
    for args in arglist:
        update(*args)
    return time.perf_counter_ns() - start


def _take(slices: List[tuple], start: int, n: int) -> List[tuple]:
    """``n`` consecutive argument tuples from ``start``, wrapping around the pool."""
    k = len(slices)
    start %= k
    if start + n <= k:
        return slices[start:start + n]
    return list(itertools.islice(itertools.cycle(slices[start:] + slices[:start]), n))


def _slices(arrays: Sequence[Any], batch: int, max_count: int) -> List[tuple]:
    """Argument tuples for consecutive, non-overlapping batches of the pool."""
    n = min(len(arrays[0]) // batch, max_count)
    return [tuple(a[i * batch:(i + 1) * batch] for a in arrays) for i in range(n)]


def _calibrate(update, slices, min_time_ns) -> int:
    """Warms up (JIT compilation, lazy imports, caches), then sizes a repeat to ~min_time."""
    for args in slices[:3]:
        update(*args)
    n = 1
    while True:
        elapsed = _run(update, _take(slices, 3, n))
        if elapsed * 8 >= min_time_ns or n >= 1 << 21:
            break
        n *= 4
    per_call = max(elapsed / n, 1.0)
    return int(min(max(1, math.ceil(min_time_ns / per_call)), 1 << 22))


def timed_loop_overhead_ns() -> float:
    """Cost per iteration of ``_run`` itself, with a do-nothing update."""
    noop = lambda *a: None  # noqa: E731
    arglist = [(None, None)] * 200_000
    return statistics.median(_run(noop, arglist) for _ in range(5)) / len(arglist)


@dataclass
class CaseResult:
    case: Case
    impls: List[Impl]
    ns_per_call: Dict[str, Dict[int, float]]  # impl -> batch -> median ns per call
    errors: Dict[str, str]
    check: Dict[str, str]  # impl -> "ok" or a description of the mismatch
    pool_samples: int
    bytes_per_sample: int
    cpu_share: float  # thread CPU time / wall time over the timed repeats (< 1: descheduled)


def _as_array(value):
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.numpy()
    return np.asarray(value, dtype=np.float64)


def check_results(impls: List[Impl], np_args, torch_args, rtol) -> Dict[str, str]:
    """Each implementation's result on one batch (fresh state), compared with NumPy's."""
    values, out = {}, {}
    for impl in impls:
        try:
            runner = impl.make()
            ret = runner.update(*(torch_args if impl.torch_input else np_args))
            values[impl.name] = _as_array(ret if runner.result is None else runner.result())
        except Exception as exc:
            out[impl.name] = f"failed: {type(exc).__name__}: {exc}".splitlines()[0][:200]
    ref = values.get("numpy")
    for impl in impls:
        if impl.name in out:
            continue
        if ref is None or not impl.checked:
            out[impl.name] = "not checked"
            continue
        got = values[impl.name]
        ok = got.shape == ref.shape and np.allclose(got, ref, rtol=rtol, atol=0.0)
        out[impl.name] = "ok" if ok else (
            f"differs from numpy: {got.ravel()[:4]} vs {ref.ravel()[:4]}")
    return out


def run_case(case: Case, cfg: Config, impl_filter: Optional[set], log) -> CaseResult:
    rng = np.random.default_rng(case.number)
    probe = case.make_pool(rng, 16)
    bps = case.bytes_per_sample(probe)
    # Smallest power of two >= pool_bytes and >= 2 batches of the largest size.
    n_pool = max(2 * max(cfg.sizes), 1 << math.ceil(math.log2(cfg.pool_bytes / bps)))
    n_pool = min(n_pool, cfg.max_pool_samples)
    log(f"[{case.key}] drawing a pool of {n_pool:,} samples ({n_pool * bps / 2**20:.0f} MiB)")
    pool = case.make_pool(rng, n_pool)
    torch_pool = tuple(torch.from_numpy(a) for a in pool) if torch is not None else None

    impls = [i for i in case.make_impls() if impl_filter is None or i.name in impl_filter
             or (i.is_metricore and i.name.removeprefix("metricore-") in impl_filter)]
    errors: Dict[str, str] = {}
    if mc is None:
        errors["metricore"] = f"import failed: {METRICORE_ERROR}"

    def fail(impl, exc):
        errors[impl.name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        log(f"[{case.key}] {impl.name} failed:\n" + traceback.format_exc())

    runners: Dict[str, Runner] = {}
    for impl in impls:
        try:
            runners[impl.name] = impl.make()
        except Exception as exc:
            fail(impl, exc)
    alive = [i for i in impls if i.name in runners]

    # Result check on a batch of its own, with fresh state (never stops the timing).
    np_args = tuple(a[:CHECK_BATCH] for a in pool)
    torch_args = tuple(a[:CHECK_BATCH] for a in torch_pool) if torch_pool else None
    check = check_results(alive, np_args, torch_args, case.rtol)

    ns: Dict[str, Dict[int, float]] = {i.name: {} for i in impls}
    cpu_ns = wall_ns = 0  # CPU time this thread got during the timed repeats, and wall time
    gc.collect()
    gc.disable()
    try:
        for batch in cfg.sizes:
            views = {False: _slices(pool, batch, MAX_DISTINCT_SLICES)}
            if torch_pool is not None and any(i.torch_input for i in alive):
                views[True] = _slices(torch_pool, batch, MAX_DISTINCT_SLICES)
            calls, pos = {}, {}
            for impl in alive:
                try:
                    calls[impl.name] = _calibrate(runners[impl.name].update,
                                                  views[impl.torch_input], cfg.min_time_ns)
                    pos[impl.name] = 3
                except Exception as exc:
                    fail(impl, exc)
            alive = [i for i in alive if i.name in calls]
            samples: Dict[str, List[float]] = {i.name: [] for i in alive}
            for _ in range(cfg.repeats):
                for impl in alive:  # interleaved: noise hits every implementation alike
                    if impl.name in errors:
                        continue
                    n = calls[impl.name]
                    arglist = _take(views[impl.torch_input], pos[impl.name], n)
                    pos[impl.name] += n
                    cpu0 = time.thread_time_ns()
                    try:
                        wall = _run(runners[impl.name].update, arglist)
                    except Exception as exc:
                        fail(impl, exc)
                        continue
                    cpu_ns += time.thread_time_ns() - cpu0
                    wall_ns += wall
                    samples[impl.name].append(wall / n)
            alive = [i for i in alive if i.name not in errors]
            for impl in alive:
                ns[impl.name][batch] = statistics.median(samples[impl.name])
            log(f"[{case.key}] batch {batch:>8,}: " + ", ".join(
                f"{i.name} {ns[i.name][batch] / 1e3:.2f} us" for i in alive))
    finally:
        gc.enable()
    return CaseResult(case, impls, ns, errors, check, n_pool, bps, cpu_ns / max(wall_ns, 1))


# ----------------------------------------------------------------- reports
def us_per_call(res: CaseResult, name: str, batch: int = 32) -> Optional[float]:
    v = res.ns_per_call.get(name, {}).get(batch)
    return None if v is None else v / 1e3


def msps(res: CaseResult, name: str, batch: int) -> Optional[float]:
    v = res.ns_per_call.get(name, {}).get(batch)
    return None if v is None else batch * 1e3 / v  # samples / ns * 1e9 / 1e6


def to_json(results: List[CaseResult]) -> Dict[str, Any]:
    out = {}
    for res in results:
        case = {}
        for impl in res.impls:
            case[impl.name] = {
                "us_per_call_32": us_per_call(res, impl.name),
                "msps": {str(b): msps(res, impl.name, b) for b in res.ns_per_call[impl.name]
                         if b != 32},
            }
        out[res.case.key] = case
    return out


def _pow2(n: int) -> str:
    return f"2^{int(math.log2(n))}" if n & (n - 1) == 0 else f"{n:,}"


def _num(x: Optional[float]) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 0.1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def _ratio(x: Optional[float]) -> str:
    return "-" if x is None else (f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 10 else f"{x:.2f}x")


def _div(a, b):
    return None if a is None or b is None or b == 0 else a / b


class Printer:
    """Tables with rich when it is installed, aligned plain text otherwise."""

    def __init__(self, plain: bool = False):
        self.rich = None
        if not plain:
            try:
                from rich.console import Console

                console = Console()
                if not console.is_terminal:
                    console = Console(width=200)
                self.rich = console
            except ImportError:
                pass

    def line(self, text: str = "", style: str = ""):
        if self.rich:
            self.rich.print(text, style=style or None, highlight=False, markup=False)
        else:
            print(text)

    def table(self, title: str, header: List[str], rows: List[List[str]], notes: Sequence[str] = ()):
        """Cells may be "PASS ..."/"MISS ..." (colored by rich); the first column is left-aligned."""
        if self.rich:
            from rich import box
            from rich.table import Table
            from rich.text import Text

            t = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                      pad_edge=False)
            for i, h in enumerate(header):
                t.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
            for row in rows:
                cells = []
                for cell in row:
                    style = ("green" if cell.startswith("PASS")
                             else "red" if cell.startswith("MISS") else "")
                    cells.append(Text(cell, style=style))
                t.add_row(*cells)
            self.rich.print(t)
            for note in notes:
                self.line(f"  {note}",
                          style="red" if note.startswith(("ERROR", "RESULT", "WARNING")) else "")
            self.line()
            return
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
                  for i, h in enumerate(header)]

        def fmt(cells):
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths)))
        print(title)
        print(fmt(header))
        print("  ".join("-" * w for w in widths))
        for row in rows:
            print(fmt(row))
        for note in notes:
            print(f"  {note}")
        print()


def _pass(ok: Optional[bool], text: str) -> str:
    if ok is None:
        return "n/a"
    return f"{'PASS' if ok else 'MISS'} {text}".strip()


def print_case(pr: Printer, res: CaseResult, sizes: List[int]):
    case, big = res.case, max(sizes)
    big_sizes = [b for b in sizes if b != 32]
    names = [i.name for i in res.impls]
    numpy_rows = [i.name for i in res.impls if i.is_numpy]

    def best_numpy(batch):  # the fastest NumPy expression at this batch size
        vals = [res.ns_per_call[n].get(batch) for n in numpy_rows]
        vals = [v for v in vals if v is not None]
        return min(vals) if vals else None

    tm_us = us_per_call(res, "torchmetrics")
    tm_big = msps(res, "torchmetrics", big)
    np_ns32, np_nsbig = best_numpy(32), best_numpy(big)
    np_us = None if np_ns32 is None else np_ns32 / 1e3
    np_big = None if np_nsbig is None else big * 1e3 / np_nsbig

    header = (["implementation", "us/call @32"] + [f"Msps @{_pow2(b)}" for b in big_sizes]
              + ["vs tm @32", f"vs tm @{_pow2(big)}", "vs np @32", f"vs np @{_pow2(big)}",
                 f"<={TARGET_US_32:g}us @32", f">={case.target_msps:,.0f} @{_pow2(BIG)}"])
    rows = []
    for impl in res.impls:
        us = us_per_call(res, impl.name)
        label = f"{impl.name} {impl.label_note}".strip()
        if impl.name in res.errors:
            label += " (failed)"
        row = [label, _num(us)] + [_num(msps(res, impl.name, b)) for b in big_sizes]
        if impl.is_metricore:
            m_big = msps(res, impl.name, big)
            row += [_ratio(_div(tm_us, us)), _ratio(_div(m_big, tm_big)),
                    _ratio(_div(np_us, us)), _ratio(_div(m_big, np_big))]
            row.append(_pass(None if us is None else us <= TARGET_US_32, ""))
            m_target = msps(res, impl.name, BIG)
            row.append(_pass(None if m_target is None else m_target >= case.target_msps, ""))
        else:
            row += [""] * 6
        rows.append(row)

    notes = [f"inputs: {case.inputs}",
             f"pool: {_pow2(res.pool_samples)} samples x {res.bytes_per_sample} B = "
             f"{res.pool_samples * res.bytes_per_sample / 2**20:.0f} MiB, walked in fresh slices"]
    notes += case.notes
    if res.cpu_share < 0.95:
        notes.append(f"WARNING: the benchmark got only {res.cpu_share:.0%} of a core while timing "
                     "this case (other processes were running): the times are inflated")
    for name, status in res.check.items():
        if status not in ("ok", "not checked") and name not in res.errors:
            notes.append(f"RESULT CHECK {name}: {status}")
    for name, err in res.errors.items():
        notes.append(f"ERROR {name}: {err}")
    pr.table(f"{case.number}. {case.title}  [{case.key}]", header, rows, notes)


def print_summary(pr: Printer, results: List[CaseResult], sizes: List[int]):
    rows = []
    for res in results:
        case = res.case
        cpp, nb = "metricore-cpp", "metricore-numba"
        # per-call cost at batch 32
        u_c, u_n = us_per_call(res, cpp), us_per_call(res, nb)
        r = _div(max(u_c or 0, u_n or 0), min(u_c or 0, u_n or 0)) if u_c and u_n else None
        rows.append([case.title, f"<= {TARGET_US_32:g} us/call @32",
                     _pass(None if u_c is None else u_c <= TARGET_US_32, f"{_num(u_c)} us"),
                     _pass(None if u_n is None else u_n <= TARGET_US_32, f"{_num(u_n)} us"),
                     _pass(None if r is None else r <= TARGET_BACKEND_RATIO, _ratio(r))])
        # throughput at 2^20
        m_c, m_n = msps(res, cpp, BIG), msps(res, nb, BIG)
        r = _div(max(m_c, m_n), min(m_c, m_n)) if m_c and m_n else None
        bw = (lambda m: "" if m is None else f" ({m * res.bytes_per_sample / 1e3:.1f} GB/s)")
        quick = "" if BIG in sizes else " (not run)"
        rows.append(["", f">= {case.target_msps:,.0f} M samples/s @{_pow2(BIG)}{quick}",
                     _pass(None if m_c is None else m_c >= case.target_msps, _num(m_c) + bw(m_c)),
                     _pass(None if m_n is None else m_n >= case.target_msps, _num(m_n) + bw(m_n)),
                     _pass(None if r is None else r <= TARGET_BACKEND_RATIO, _ratio(r))])
    pr.table("Targets (one core)",
             ["case", "target", "metricore-cpp", "metricore-numba",
              f"cpp vs numba (<= {TARGET_BACKEND_RATIO:g}x)"], rows,
             ["GB/s = input bytes read per second at that rate (informational)"])


# ------------------------------------------------------------ machine info
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cache_sizes() -> str:
    out = []
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in sorted(os.listdir(base)):
            if not entry.startswith("index"):
                continue
            with open(f"{base}/{entry}/level") as f:
                level = f.read().strip()
            with open(f"{base}/{entry}/type") as f:
                kind = f.read().strip()
            with open(f"{base}/{entry}/size") as f:
                size = f.read().strip()
            if kind != "Instruction":
                out.append(f"L{level} {size}")
    except OSError:
        return "unknown"
    return ", ".join(out)


def _version(module_name: str) -> str:
    try:
        module = __import__(module_name)
        return getattr(module, "__version__", "?")
    except Exception:
        return "not installed"


def _read_bandwidth_gbs() -> float:
    """A streaming-read reference: np.count_nonzero over 256 MiB of bool (memory bound)."""
    buf = np.ones(256 << 20, dtype=np.bool_)
    np.count_nonzero(buf)
    best = min(_timed(lambda: np.count_nonzero(buf)) for _ in range(3))
    return buf.nbytes / best


def _timed(fn) -> float:
    t0 = time.perf_counter_ns()
    fn()
    return time.perf_counter_ns() - t0


def print_machine(pr: Printer, cfg: Config, quick: bool):
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    versions = ", ".join(f"{m} {_version(m)}" for m in
                         ("numpy", "torch", "torchmetrics", "numba", "sklearn", "metricore"))
    pr.line("metricore update benchmark (one core)", style="bold")
    pr.line(f"CPU: {_cpu_model()}; {cores} cores visible; caches: {_cache_sizes()}")
    pr.line(f"Python {platform.python_version()}; {versions}")
    pr.line("threads: torch " + (str(torch.get_num_threads()) if torch else "-")
            + ", OMP/MKL/OPENBLAS/NUMBA = 1"
            + (f"; OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']}"
               if "OPENBLAS_CORETYPE" in os.environ else ""))
    try:
        load1 = os.getloadavg()[0]
        busy = load1 > 0.75 * (cores or 1)
        pr.line(f"load average (1 min) before the run: {load1:.2f}"
                + ("  WARNING: the machine is busy; numbers will be noisy" if busy else ""),
                style="red" if busy else "")
    except OSError:
        pass
    if not quick:
        pr.line(f"streaming read reference (np.count_nonzero, 256 MiB): "
                f"{_read_bandwidth_gbs():.1f} GB/s")
    pr.line(f"timed-loop overhead (included in every number): {timed_loop_overhead_ns():.0f} ns/call")
    pr.line("columns: us/call = microseconds per update call; Msps = million samples/s;")
    pr.line("  vs tm / vs np = times faster metricore is than torchmetrics / the fastest NumPy row")
    pr.line(f"run: {'--quick, ' if quick else ''}batches {', '.join(_pow2(b) for b in cfg.sizes)}; "
            f"median of {cfg.repeats} repeats of >= {cfg.min_time_ns / 1e6:g} ms each; "
            f"pools >= {cfg.pool_bytes / 2**20:.0f} MiB")
    if METRICORE_ERROR:
        pr.line(f"metricore import failed: {METRICORE_ERROR}", style="red")
    pr.line()


# ---------------------------------------------------------------------- main
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 3 short repeats, batches 32, 2^10, 2^16 only, small pools")
    ap.add_argument("--json", metavar="PATH", help="write every number as JSON to PATH")
    ap.add_argument("--cases", nargs="+", metavar="CASE",
                    help="cases to run, by name or number (default: all): "
                         + ", ".join(f"{c.number}={c.key}" for c in CASES))
    ap.add_argument("--impls", nargs="+", metavar="IMPL",
                    help="implementations to run (default: all): cpp numba torchmetrics numpy "
                         "numpy-bincount sklearn")
    ap.add_argument("--repeats", type=int, help="timed repeats per number (default 5, quick 3)")
    ap.add_argument("--min-time-ms", type=float,
                    help="minimum duration of one timed repeat (default 100, quick 3)")
    ap.add_argument("--plain", action="store_true", help="plain-text tables even if rich is installed")
    args = ap.parse_args(argv)
    selected = []
    for item in args.cases or [c.key for c in CASES]:
        for name in filter(None, item.split(",")):
            if name not in CASE_BY_NAME:
                ap.error(f"unknown case {name!r}; choose from "
                         + ", ".join(f"{c.number}/{c.key}" for c in CASES))
            if CASE_BY_NAME[name] not in selected:
                selected.append(CASE_BY_NAME[name])
    args.selected = selected
    args.impl_filter = None
    if args.impls:
        args.impl_filter = {n for item in args.impls for n in item.split(",") if n}
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.quick:
        cfg = Config(sizes=[32, 1 << 10, 1 << 16], repeats=args.repeats or 3,
                     min_time_ns=int((args.min_time_ms or 3) * 1e6),
                     pool_bytes=16 << 20, max_pool_samples=1 << 20)
    else:
        cfg = Config(sizes=[32, 1 << 10, 1 << 16, 1 << 20], repeats=args.repeats or 5,
                     min_time_ns=int((args.min_time_ms or 100) * 1e6),
                     pool_bytes=128 << 20, max_pool_samples=1 << 26)
    pr = Printer(plain=args.plain)
    print_machine(pr, cfg, args.quick)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    results = []
    for case in args.selected:
        results.append(run_case(case, cfg, args.impl_filter, log))
    log(f"measured in {time.perf_counter() - t0:.0f} s")

    for res in results:
        print_case(pr, res, cfg.sizes)
    if mc is not None:
        print_summary(pr, results, cfg.sizes)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(to_json(results), f, indent=2)
        pr.line(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
