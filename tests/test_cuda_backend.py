"""The CUDA backend against the NumPy reference, on a GPU (``pytest -m cuda``).

Skips as a whole without CuPy or without a CUDA device. Counts must match the reference
exactly, float sums to rounding; errors must match the reference's triple and leave the
state untouched; float results must be bit-identical run after run; and a loop of updates
must be capturable in a CUDA graph (capture fails on any host synchronization).
"""

import numpy as np
import pytest

pytestmark = pytest.mark.cuda

from _device_cases import cupy_or_skip  # noqa: E402

cp = cupy_or_skip("the CUDA backend tests")

from _numpy_backend import BACKEND as REF  # noqa: E402
from metricore._backends.cuda import BACKEND as GPU, Workspace  # noqa: E402
from metricore._backends.protocol import LABEL_DTYPES, MomentKind  # noqa: E402
from test_backends import ERROR_CASES  # noqa: E402


def run_both(family, args, out_shape, dtype, extra_state=None):
    """(GPU out, reference out, GPU error triple): the family on copies of the same data.
    score_histogram's ``score_sums`` argument is ``extra_state`` (a shape, or None)."""
    has_extra = family == "score_histogram"
    ref = np.zeros(out_shape, dtype)
    ref_extra = None if extra_state is None else np.zeros(extra_state)
    ref_err = getattr(REF, family)(*args, ref, *([ref_extra] if has_extra else []))
    dev_args = [cp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    out = cp.zeros(out_shape, dtype)
    extra = None if extra_state is None else cp.zeros(extra_state)
    err = GPU.new_error_record(out)
    getattr(GPU, family)(*dev_args, out, *([extra] if has_extra else []), error=err)
    got = tuple(int(v) for v in err.get())
    assert got == tuple(int(v) for v in ref_err)
    extras = (extra.get(), ref_extra) if extra_state else None
    return out.get(), ref, extras


def assert_state(got, ref):
    if got.dtype == np.int64:
        np.testing.assert_array_equal(got, ref)  # counts: exact
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-9)


def binary_batch(rng, n, L, label_dtype):
    t = (rng.random((n, L)) < 0.4).astype(label_dtype)
    p = rng.random((n, L)).astype(np.float32)
    p[rng.random((n, L)) < 0.05] = 0.5  # exact ties with a threshold
    return t, p


@pytest.mark.parametrize("label_dtype", LABEL_DTYPES, ids=str)
@pytest.mark.parametrize("weighted", [False, True])
def test_threshold_counts(label_dtype, weighted):
    rng = np.random.default_rng(1)
    n, L = 5000, 3
    t, p = binary_batch(rng, n, L, label_dtype)
    thr = np.array([-1e-7, 0.25, 0.5, 0.75, 1 + 1e-7])
    w = np.broadcast_to(rng.random(n)[:, None], (n, L)) if weighted else None
    dtype = np.float64 if weighted else np.int64
    for top_k, class_id, m in [(0, -1, L), (0, -1, 1), (0, 1, 1), (2, -1, L), (1, 2, 1)]:
        got, ref, _ = run_both("threshold_counts", (t, p, w, thr, top_k, class_id),
                               (4, len(thr), m), dtype)
        assert_state(got, ref)


@pytest.mark.parametrize("C", [3, 10, 100, 1000])
@pytest.mark.parametrize("weighted", [False, True])
def test_confusion_matrix(C, weighted):
    rng = np.random.default_rng(C)
    n = 20000
    t = rng.integers(0, C, n).astype(np.int32)
    ids = rng.integers(0, C, n)
    scores = rng.random((n, C))
    w = rng.random(n) if weighted else None
    dtype = np.float64 if weighted else np.int64
    for pred in (ids, scores, scores.astype(np.float32)):
        for ignore in (None, 1):
            got, ref, _ = run_both("confusion_matrix", (t, pred, w, ignore), (C, C), dtype)
            assert_state(got, ref)


@pytest.mark.parametrize("weighted", [False, True])
def test_topk_matches(weighted):
    rng = np.random.default_rng(3)
    n, C = 7000, 12
    p = rng.random((n, C)).astype(np.float32)
    p[:, 3] = p[:, 4]  # ties
    t_ids = rng.integers(0, C, n)
    t_rows = np.eye(C)[t_ids]
    w = rng.random(n) if weighted else None
    dtype = np.float64 if weighted else np.int64
    for t in (t_ids, t_rows.astype(np.float32)):
        for k in (0, 1, 3):
            got, ref, _ = run_both("topk_matches", (t, p, w, k), (2,), dtype)
            assert_state(got, ref)


@pytest.mark.parametrize("kind", list(MomentKind), ids=lambda k: k.name)
def test_moments(kind):
    rng = np.random.default_rng(int(kind))
    n, D = 3000, 4
    t = rng.random((n, D))
    p = rng.random((n, D)).astype(np.float32)
    weights = [None, rng.random((n, 1))] + ([] if kind == MomentKind.COSINE
                                           else [rng.random((n, D)).astype(np.float32)])
    for w in weights:
        got, ref, _ = run_both("moments", (int(kind), 0.5, t, p, w), (2,), np.float64)
        assert_state(got, ref)


def test_column_moments():
    rng = np.random.default_rng(5)
    n, D = 9000, 6
    t, p = rng.random((n, D)), rng.random((n, D)).astype(np.float32)
    for w in (None, rng.random(n)):
        got, ref, _ = run_both("column_moments", (t, p, w, t[0].copy()), (4, D), np.float64)
        assert_state(got, ref)


@pytest.mark.parametrize("num_thresholds", [0, 1, 7, 200, 65535])
@pytest.mark.parametrize("weighted", [False, True])
def test_score_histogram(num_thresholds, weighted):
    rng = np.random.default_rng(num_thresholds)
    n, L = 6000, 3
    t, p = binary_batch(rng, n, L, np.uint8)
    p[0, 0], p[1, 1] = np.inf, -np.inf
    thr = np.linspace(0, 1, num_thresholds)
    w = rng.random((n, L)) if weighted else None
    dtype = np.float64 if weighted else np.int64
    ids = rng.integers(0, L, n)
    for y_true, class_id, m in [(t, -1, L), (t, -1, 1), (t, 2, 1), (ids, -1, L)]:
        for sums in (None, (num_thresholds + 1, m)):
            got, ref, extras = run_both("score_histogram", (y_true, p, w, thr, class_id),
                                        (2, num_thresholds + 1, m), dtype, sums)
            assert_state(got, ref)
            if extras:
                assert_state(*extras)


# ------------------------------------------------------------------ strided inputs
def test_strided_and_broadcast_inputs_are_read_in_place():
    rng = np.random.default_rng(7)
    n, L = 4000, 3
    base_t = (rng.random((2 * n, 2 * L)) < 0.5).astype(np.int8)
    base_p = rng.random((2 * n, 2 * L))
    t, p = base_t[::2, ::2], base_p[::-2, 1::2]  # steps, a negative stride
    w = np.broadcast_to(rng.random(n)[:, None], (n, L))  # stride 0
    thr = np.array([0.3, 0.6])
    ref = np.zeros((4, 2, L))
    REF.threshold_counts(t, p, w, thr, 0, -1, ref)
    dt, dp = cp.asarray(base_t)[::2, ::2], cp.asarray(base_p)[::-2, 1::2]
    dw = cp.broadcast_to(cp.asarray(w[:, 0])[:, None], (n, L))
    out = cp.zeros((4, 2, L))
    err = GPU.new_error_record(out)
    GPU.threshold_counts(dt, dp, dw, cp.asarray(thr), 0, -1, out, error=err)
    GPU.check(err)
    assert_state(out.get(), ref)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("i", range(len(ERROR_CASES)))
def test_errors_match_the_reference_and_leave_state_untouched(i):
    family, make_args, out_shape, code, where = ERROR_CASES[i]
    args = make_args()
    weighted = family == "moments" or args[2] is not None
    dtype = np.float64 if weighted else np.int64
    dev_args = [cp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    out = cp.full(out_shape, 7, dtype)
    err = GPU.new_error_record(out)
    getattr(GPU, family)(*dev_args, out, error=err)
    assert tuple(int(v) for v in err.get()) == (int(code), *where)
    assert (out.get() == 7).all()
    with pytest.raises(ValueError):
        GPU.check(err)


def test_error_record_is_sticky_until_reset():
    out = cp.zeros((3, 3), np.int64)
    err = GPU.new_error_record(out)
    good = (cp.asarray([0, 1, 2]), cp.asarray([0, 1, 1]), None, None)
    GPU.confusion_matrix(cp.asarray([0, 7, 2]), cp.asarray([0, 1, 1]), None, None, out,
                         error=err)
    GPU.confusion_matrix(*good, out, error=err)  # validated, not added: state as before
    assert int(out.sum()) == 0 and int(err[0]) != 0
    GPU.reset_error(err)
    GPU.confusion_matrix(*good, out, error=err)
    assert int(out.sum()) == 3


# ------------------------------------------------------------------ determinism
def test_float_sums_are_bit_identical_run_after_run():
    rng = np.random.default_rng(11)
    n, L, T = 1 << 20, 2, 1000
    t = cp.asarray((rng.random((n, L)) < 0.5).astype(np.uint8))
    p = cp.asarray(rng.random((n, L)).astype(np.float32))
    w = cp.asarray(rng.random((n, L)) * 1e3)
    thr = cp.asarray(np.linspace(0, 1, T))
    results = []
    for _ in range(3):
        out, sums = cp.zeros((2, T + 1, L)), cp.zeros((T + 1, L))
        err = GPU.new_error_record(out)
        GPU.score_histogram(t, p, w, thr, -1, out, sums, error=err)
        m = cp.zeros(2)
        GPU.moments(int(MomentKind.SQUARED), 0.0, p, w, w[:, :1], m, error=err)
        GPU.check(err)
        results.append([a.get().view(np.int64) for a in (out, sums, m)])
    for r in results[1:]:
        for a, b in zip(results[0], r):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ no host sync
def test_a_loop_of_updates_captures_in_a_cuda_graph():
    """Stream capture refuses any synchronizing call, so a successful capture proves that
    update_state's launch sequence never syncs with the host."""
    rng = np.random.default_rng(13)
    n, C = 4096, 10
    t = cp.asarray(rng.integers(0, C, n))
    p = cp.asarray(rng.random((n, C)).astype(np.float32))
    w = cp.asarray(rng.random(n))
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        cm, mom = cp.zeros((C, C)), cp.zeros(2)
        err = GPU.new_error_record(cm)
        ws_cm, ws_m = Workspace(), Workspace()
        GPU.confusion_matrix(t, p, w, None, cm, error=err, workspace=ws_cm)  # compiles
        GPU.moments(int(MomentKind.ABSOLUTE), 0.0, p, p, w[:, None], mom, error=err,
                    workspace=ws_m)
        stream.synchronize()
        once_cm, once_m = cm.get(), mom.get()
        stream.begin_capture()
        for _ in range(4):
            GPU.confusion_matrix(t, p, w, None, cm, error=err, workspace=ws_cm)
            GPU.moments(int(MomentKind.ABSOLUTE), 0.0, p, p, w[:, None], mom, error=err,
                        workspace=ws_m)
        graph = stream.end_capture()
        graph.launch()
        stream.synchronize()
    GPU.check(err)
    np.testing.assert_allclose(cm.get(), 5 * once_cm, rtol=1e-12)
    np.testing.assert_allclose(mom.get(), 5 * once_m, rtol=1e-12)


# ------------------------------------------------------------------ torch, zero-copy
def test_cuda_torch_tensors_are_adopted_zero_copy():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    t = torch.randint(0, 5, (1000,), device="cuda")
    p = torch.randint(0, 5, (1000,), device="cuda")
    out = torch.zeros((5, 5), dtype=torch.int64, device="cuda")
    err = GPU.new_error_record(out)
    GPU.confusion_matrix(t, p, None, None, out, error=err)
    GPU.check(err)
    expected = torch.bincount(t * 5 + p, minlength=25).reshape(5, 5)
    assert torch.equal(out, expected)  # written through DLPack into torch's own memory


# ------------------------------------------------------------------ compilation
def test_float32_subnormals_read_as_themselves_like_on_the_host():
    """CuPy's RawModule would compile with -ftz=true (subnormals read as zero); the backend
    compiles with -ftz=false, so tiny scores, labels and weights count as on the CPU."""
    tiny = np.float32(1e-40)
    assert 0 < tiny < np.finfo(np.float32).tiny  # subnormal
    t = np.array([[1], [0], [1], [0]], np.int8)
    p = np.array([[tiny], [-tiny], [0.0], [tiny]], np.float32)
    got, ref, _ = run_both("threshold_counts", (t, p, None, np.array([0.0]), 0, -1),
                           (4, 1, 1), np.int64)
    np.testing.assert_array_equal(got, ref)
    assert got[0, 0, 0] == 1  # TP: the subnormal score 1e-40 is above the threshold 0
    w = np.array([tiny, tiny, 1, 1], np.float32)
    got, ref, _ = run_both("confusion_matrix", (t[:, 0], t[:, 0], w, None), (2, 2),
                           np.float64)
    np.testing.assert_array_equal(got, ref)  # the weight 1e-40 is added, not dropped
    bad = np.array([[np.float32(1e-45)], [1.0]], np.float32)  # not a 0/1 label
    run_both("threshold_counts", (bad, p[:2], None, np.array([0.5]), 0, -1), (4, 1, 1),
             np.int64)  # asserts the GPU reports the reference's BINARY_LABEL error


def test_compiled_kernels_are_reused_from_the_disk_cache(tmp_path, monkeypatch):
    from cupy.cuda import compiler

    from metricore._backends.cuda import CudaBackend, CupyRuntime

    monkeypatch.setenv("METRICORE_KERNEL_CACHE", str(tmp_path))
    t, p = cp.arange(10) % 3, (cp.arange(10) + 1) % 3

    def counts(backend):
        out = cp.zeros((3, 3), np.int64)
        err = backend.new_error_record(out)
        backend.confusion_matrix(t, p, None, None, out, error=err)
        backend.check(err)
        return out.get()

    first = counts(CudaBackend(CupyRuntime()))
    assert list(tmp_path.glob("*.bin")) and list(tmp_path.glob("*.json"))

    def refuse(*args, **kwargs):
        raise AssertionError("compiled again although the disk cache holds the module")

    monkeypatch.setattr(compiler, "compile_using_nvrtc", refuse)
    np.testing.assert_array_equal(counts(CudaBackend(CupyRuntime())), first)
