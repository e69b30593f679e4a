"""The CUDA backend's host side, on any machine: no GPU, no CuPy.

A fake runtime stands in for CuPy (NumPy arrays play device arrays, a fake module records
each launch), so the launch sequence, the argument packing (element strides, scalar
widths), the name expressions and the refusals are checked here; and with ``nvcc``, the
packed arguments of every planned launch are checked against the kernel's real C++
signature (arity, and each parameter's type), which is what CuPy relies on when it passes
raw argument buffers.
"""

import contextlib
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from metricore._backends.cuda import CUDA_DIR, CudaBackend, Workspace, include_dirs
from metricore._backends.cuda import _plan as plan
from metricore._backends.protocol import ErrorCode

ROOT = pathlib.Path(__file__).resolve().parents[1]
NVCC = shutil.which("nvcc")
SM_COUNT = 4


class FakeKernel:
    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, grid, block, args, shared_mem=0):
        self.module.launches.append((self.name, grid, block, args, shared_mem))


class FakeModule:
    def __init__(self, source, names):
        self.source, self.names, self.launches = source, set(names), []

    def get_function(self, name):
        assert name in self.names, f"{name} was not compiled into the module"
        return FakeKernel(self, name)


class DeviceArray(np.ndarray):
    """A NumPy array that says which (fake) device it lives on."""

    device_id = 0


def on_device(a, device_id):
    a = np.asarray(a).view(DeviceArray)
    a.device_id = device_id
    return a


class FakeRuntime:
    xp = np

    def __init__(self):
        self.modules = []

    def adopt(self, x):
        return x, None

    def device_id(self, a):
        return getattr(a, "device_id", 0)

    def sm_count(self, device_id):
        return SM_COUNT

    def module(self, source, names):
        self.modules.append(FakeModule(source, names))
        return self.modules[-1]

    def on(self, device_id, stream):
        return contextlib.nullcontext()


@pytest.fixture
def fake():
    rt = FakeRuntime()
    return rt, CudaBackend(rt)


def launches(rt):
    return [(name.split("::")[1].split("<")[0], name, grid[0], args, shm)
            for name, grid, _, args, shm in rt.modules[-1].launches]


def kinds(rt):
    return [l[0] for l in launches(rt)]


def record():
    return np.zeros(3, np.int64)


# ------------------------------------------------------------------ packaging
def test_backend_finds_the_kernel_headers_and_options():
    here, headers = include_dirs()
    assert here == CUDA_DIR and (headers / "metricore" / "elementwise.hpp").is_file()
    assert CudaBackend().name == "cuda"  # constructing it touches no CuPy


def test_cmake_installs_the_headers_where_the_backend_looks_first():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    m = re.search(r"install\(DIRECTORY csrc/include/metricore DESTINATION (\S+)\)", cmake)
    assert m, "CMakeLists.txt must install csrc/include/metricore with the package"
    # The package directory is src/metricore (wheel.packages); DESTINATION is relative to
    # the wheel root, so metricore/include lands next to _backends/.
    assert m.group(1) == "metricore/include"
    assert CUDA_DIR.parents[1].name == "metricore"


def test_kernel_sources_ship_inside_the_package():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'wheel.packages = ["src/metricore"]' in pyproject
    for name in ("threshold_counts", "confusion_matrix", "topk_matches", "moments",
                 "score_histogram"):
        assert (CUDA_DIR / f"{name}.cu").is_file()


def test_importing_the_cuda_backend_loads_no_cupy_or_torch():
    code = ("import sys, metricore._backends.cuda; "
            "bad = [m for m in ('cupy', 'torch') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ launch plans
def test_threshold_counts_unweighted_plan(fake):
    rt, be = fake
    n, L, T = 1000, 3, 5
    yt = np.zeros((n, L), np.int8)
    yp = np.zeros((n, 2 * L), np.float32)[:, ::2]  # strided: read in place
    out = np.zeros((4, T, L), np.int64)
    err = record()
    assert be.threshold_counts(yt, yp, None, np.linspace(0, 1, T), 0, -1, out, error=err) is err
    ls = launches(rt)
    assert [l[0] for l in ls] == ["score_bins", "commit_threshold"]
    name, grid, args, shm = ls[0][1:]
    assert name == ("metricore_cuda::score_bins<signed char, float, metricore_cuda::NoWeight, "
                    "false, true>")
    assert args[1:3] == (L, 1) and args[5:7] == (2 * L, 2)  # element strides
    assert all(type(a) is np.int64 for a in args[1:3] + args[5:7])
    assert type(args[3]) is np.int32  # the true_ids flag is a C int
    assert shm == 2 * (T + 1) * L * 4  # block-private 32-bit counters
    assert ls[1][1] == ("metricore_cuda::commit_threshold<unsigned long long, long long>")


def test_threshold_counts_weighted_broadcast_weight(fake):
    rt, be = fake
    n, L, T = 64, 2, 3
    w = np.broadcast_to(np.ones(n)[:, None], (n, L))  # stride 0 over labels
    out = np.zeros((4, T, 1), np.float64)
    be.threshold_counts(np.zeros((n, L), np.float64), np.zeros((n, L)), w, np.zeros(T), 1, 0,
                        out, error=record())
    ls = launches(rt)
    assert [l[0] for l in ls] == ["score_bins", "reduce_partials_seq", "commit_threshold"]
    args = ls[0][3]
    assert args[8:10] == (1, 0)  # the weight's element strides
    assert ls[0][1].endswith("<double, double, double, true, true>")
    assert ls[2][1].endswith("commit_threshold<double, double>")


def test_large_weighted_histogram_uses_global_warp_partials(fake):
    rt, be = fake
    n, T = 4096, 65536
    out = np.zeros((2, T + 1, 1), np.float64)
    sums = np.zeros((T + 1, 1), np.float64)
    be.score_histogram(np.zeros(n, np.int32), np.zeros((n, 1), np.float32), None,
                       np.linspace(0, 1, T), -1, out, sums, error=record())
    ls = launches(rt)
    assert [l[0] for l in ls] == ["score_bins", "reduce_partials_seq", "commit_add",
                                  "commit_add"]
    bins = 3 * (T + 1)
    name, grid, args, shm = ls[0][1:]
    assert name.endswith("<int, float, metricore_cuda::NoWeight, true, false>")
    assert shm == plan.WARPS * 32 * 8  # staging only; the histograms are global
    partials = args[-2]
    assert partials.size == grid * plan.WARPS * bins
    assert ls[1][3][1] == grid * plan.WARPS  # every warp's partial is reduced
    assert ls[1][3][-1] == 1  # ... and zeroed after reading (zero at rest)
    # commit_add(key, done, record, delta, out, n, clear, release): the label planes into
    # out (int64 would convert), then the score plane into score_sums, which alone releases
    # the batch key (the first commit must not reset it before the second reads it)
    assert ls[2][3][5] == 2 * (T + 1) and ls[3][3][4] is sums and ls[3][3][5] == T + 1
    assert [int(ls[k][3][-1]) for k in (2, 3)] == [0, 1]
    assert [int(ls[k][3][-2]) for k in (2, 3)] == [0, 0]  # reduced deltas need no clearing


def test_scratch_is_filled_when_allocated_then_restored_by_the_kernels(fake):
    rt, be = fake
    ws = Workspace()
    out = np.zeros((10, 10), np.int64)
    args = (np.zeros(50, np.int64), np.zeros(50, np.int64), None, None, out)
    be.confusion_matrix(*args, error=record(), workspace=ws)
    key, done, counts = ws._buffers["key"], ws._buffers["done"], ws._buffers["counts"]
    assert key[0] == np.uint64(2**64 - 1) and done[0] == 0 and not counts.any()
    commit = launches(rt)[-1]
    assert commit[0] == "commit_add" and commit[3][0] is not None
    assert (int(commit[3][-2]), int(commit[3][-1])) == (1, 1)  # clear the counts, release
    # A second call with the same workspace launches no fill: the first call's kernels put
    # the scratch back at rest (a sentinel would be overwritten by a fill).
    key[0] = 5
    be.confusion_matrix(*args, error=record(), workspace=ws)
    assert ws._buffers["key"] is key and key[0] == 5
    # A longer batch than the buffers hold: new buffers, filled again.
    be.confusion_matrix(np.zeros(50, np.int64), np.zeros(50, np.int64), None, None,
                        np.zeros((200, 200), np.int64), error=record(), workspace=ws)
    assert ws._buffers["counts"].size == 200 * 200 and not ws._buffers["counts"].any()


def test_a_failed_launch_sequence_drops_the_workspace(fake):
    rt, be = fake
    ws = Workspace()
    args = (np.zeros(50, np.int64), np.zeros(50, np.int64), None, None,
            np.zeros((4, 4), np.int64))
    be.confusion_matrix(*args, error=record(), workspace=ws)
    assert ws._buffers

    def broken(source, names):
        raise RuntimeError("launch failed")

    rt.module = broken
    with pytest.raises(RuntimeError):
        be.confusion_matrix(*args, error=record(), workspace=ws)
    assert not ws._buffers  # refilled from scratch by the next call


@pytest.mark.parametrize("C, shared", [(10, True), (1000, False)])
def test_confusion_matrix_counter_placement(fake, C, shared):
    rt, be = fake
    out = np.zeros((C, C), np.int64)
    be.confusion_matrix(np.zeros(100, np.uint8), np.zeros((100, C), np.float64), None, 3, out,
                        error=record())
    name, grid, args, shm = launches(rt)[0][1:]
    flags = f"false, {str(shared).lower()}"
    assert name.endswith(f"<unsigned char, double, metricore_cuda::NoWeight, {flags}>")
    assert shm == (C * C * 4 if shared else 0)
    assert (type(args[10]), args[10], args[11]) == (np.int32, 1, 3)  # has_ignore, the label


def test_row_families_plans(fake):
    rt, be = fake
    n, C = 3000, 7
    out = np.zeros(2, np.int64)
    be.topk_matches(np.zeros((n, C), np.float32), np.zeros((n, C), np.float32), None, 2, out,
                    error=record())
    assert kinds(rt) == ["topk_rows", "reduce_partials_tree", "commit_add"]
    grid = launches(rt)[0][2]
    assert launches(rt)[1][3][1] == grid * plan.BLOCK  # one partial per thread
    assert launches(rt)[2][1].endswith("commit_add<double, long long>")
    be.moments(8, 0.0, np.zeros((n, 4), np.int32), np.zeros((n, 4)),
               np.ones((n, 1), np.float32), np.zeros(2), error=record())
    assert kinds(rt) == ["moments_rows", "reduce_partials_tree", "commit_add"]
    be.column_moments(np.zeros((n, 5)), np.zeros((n, 5), np.float32), None, np.zeros(5),
                      np.zeros((4, 5)), error=record())
    assert kinds(rt) == ["column_moments_cols", "reduce_partials_tree", "commit_add"]


def test_plans_are_a_function_of_shapes_only(fake):
    """Same shapes, same grid: the float summation order (determinism) depends on it."""
    rt, be = fake
    rng = np.random.default_rng(0)
    for _ in range(2):
        be.moments(2, 0.0, rng.random((5000, 3)), rng.random((5000, 3)), None, np.zeros(2),
                   error=record())
    a, b = rt.modules[-2].launches, rt.modules[-1].launches
    assert [(n, g, s) for n, g, _, _, s in a] == [(n, g, s) for n, g, _, _, s in b]


def test_empty_batch_launches_nothing(fake):
    rt, be = fake
    err = record()
    assert be.confusion_matrix(np.zeros(0, np.int64), np.zeros(0, np.int64), None, None,
                               np.zeros((3, 3), np.int64), error=err) is err
    assert rt.modules == []


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize("what", ["y_pred float16", "y_true int16", "weight int64", "out f32"])
def test_unsupported_dtypes_are_refused(fake, what):
    _, be = fake
    yt, yp, w = np.zeros((4, 2), np.int8), np.zeros((4, 2), np.float32), None
    out = np.zeros((4, 1, 2), np.int64)
    if what == "y_pred float16":
        yp = yp.astype(np.float16)
    elif what == "y_true int16":
        yt = yt.astype(np.int16)
    elif what == "weight int64":
        w, out = np.zeros((4, 2), np.int64), out.astype(np.float64)
    else:
        out = out.astype(np.float32)
    with pytest.raises(TypeError, match="CUDA backend"):
        be.threshold_counts(yt, yp, w, np.zeros(1), 0, -1, out, error=record())


def test_misaligned_strides_and_layouts_are_refused(fake):
    _, be = fake
    raw = np.zeros(64, np.uint8)
    odd = np.lib.stride_tricks.as_strided(raw[:8].view(np.float32), (4, 1), (6, 4))
    with pytest.raises(ValueError, match="not multiples of its item size"):
        be.moments(0, 0.0, np.zeros((4, 1)), odd, None, np.zeros(2), error=record())
    with pytest.raises(ValueError, match="C-contiguous"):
        be.confusion_matrix(np.zeros(4, np.int64), np.zeros(4, np.int64), None, None,
                            np.zeros((3, 3), np.int64).T, error=record())
    with pytest.raises(ValueError, match="limits"):
        plan.check_extent(1, plan.MAX_COLS, "y_pred")


def test_mixing_devices_is_refused(fake):
    _, be = fake
    out = on_device(np.zeros((3, 3), np.int64), 0)
    with pytest.raises(ValueError, match="device 1 but the metric's state is on device 0"):
        be.confusion_matrix(on_device(np.zeros(4, np.int64), 1), np.zeros(4, np.int64), None,
                            None, out, error=record())


def test_check_raises_the_recorded_error():
    CudaBackend.check(record())  # clear: no error
    err = np.array([ErrorCode.NAN_SCORE, 7, 2], np.int64)
    with pytest.raises(ValueError, match=r"NaN.*\(7, 2\) of a batch given to update_state on the GPU"):
        CudaBackend.check(err)
    CudaBackend.reset_error(err)
    assert not err.any()


# ------------------------------------------------------------------ signatures (nvcc)
def _cxx_type(arg):
    """The C++ parameter type CuPy's raw argument buffer matches for a packed argument."""
    if isinstance(arg, np.ndarray):
        return "ptr", plan.CTYPES.get(arg.dtype, "unsigned long long")
    return {np.int64: "long long", np.int32: "int", np.float64: "double",
            np.uint64: "nullptr"}[type(arg)], None


CASES = {
    "threshold_counts": lambda be: be.threshold_counts(
        np.zeros((8, 3), np.bool_), np.zeros((8, 3)), np.zeros((8, 3), np.float32),
        np.zeros(2), 2, -1, np.zeros((4, 2, 3)), error=record()),
    "score_histogram": lambda be: be.score_histogram(
        np.zeros((8, 2), np.float32), np.zeros((8, 2), np.float32), None, np.zeros(3), 1,
        np.zeros((2, 4, 1), np.int64), None, error=record()),
    "score_histogram_sums": lambda be: be.score_histogram(
        np.zeros(8, np.int64), np.zeros((8, 2)), np.ones((8, 2)), np.zeros(3), -1,
        np.zeros((2, 4, 2)), np.zeros((4, 2)), error=record()),
    "confusion_matrix": lambda be: be.confusion_matrix(
        np.zeros(8, np.int32), np.zeros((8, 4), np.float32), np.ones(8), 0,
        np.zeros((4, 4)), error=record()),
    "topk_matches": lambda be: be.topk_matches(
        np.zeros(8, np.uint8), np.zeros((8, 4)), None, 0, np.zeros(2, np.int64),
        error=record()),
    "moments": lambda be: be.moments(
        3, 0.0, np.zeros((8, 2), np.float32), np.zeros((8, 2)), np.ones((8, 2)), np.zeros(2),
        error=record()),
    "column_moments": lambda be: be.column_moments(
        np.zeros((8, 2), np.int8), np.zeros((8, 2), np.float32), np.ones(8, np.float32),
        np.zeros(2), np.zeros((4, 2)), error=record()),
}


@pytest.mark.skipif(NVCC is None, reason="no CUDA compiler (nvcc) on this machine")
def test_packed_arguments_match_the_kernel_signatures(tmp_path):
    lines = ["#include <tuple>", "#include <type_traits>",
             "template <class... A> std::tuple<A...> params_of(void (*)(A...));"]
    sources = set()
    for case, call in CASES.items():
        rt = FakeRuntime()
        call(CudaBackend(rt))
        mod = rt.modules[-1]
        sources.add(mod.source)
        for k, (name, _, _, args, _) in enumerate(mod.launches):
            alias = f"P_{case}_{k}"
            lines.append(f"using {alias} = decltype(params_of(&{name}));")
            lines.append(f'static_assert(std::tuple_size_v<{alias}> == {len(args)}, '
                         f'"{case}: {name}: arity");')
            for i, a in enumerate(args):
                kind, elem = _cxx_type(a)
                p = f"std::tuple_element_t<{i}, {alias}>"
                if kind == "ptr":
                    ok = (f"std::is_same_v<std::remove_cv_t<std::remove_pointer_t<{p}>>, {elem}> "
                          f"|| std::is_void_v<std::remove_pointer_t<{p}>>")
                    ok = f"std::is_pointer_v<{p}> && ({ok})"
                elif kind == "nullptr":
                    ok = f"std::is_pointer_v<{p}>"
                else:
                    ok = f"std::is_same_v<{p}, {kind}>"
                lines.append(f'static_assert({ok}, "{case}: {name}: argument {i}");')
    includes = [f'#include "{s}.cu"' for s in sorted(sources)]
    # Each .cu defines metricore_ptx_check; rename it per include (one translation unit).
    body = []
    for inc in includes:
        stem = inc.split('"')[1][:-3]
        body += [f"#define metricore_ptx_check metricore_ptx_check_{stem}", inc,
                 "#undef metricore_ptx_check"]
    src = tmp_path / "signatures.cu"
    src.write_text("\n".join(body + lines) + "\n")
    here, headers = include_dirs()
    proc = subprocess.run([NVCC, "--ptx", "-std=c++17", "-arch=sm_90", "-I", str(here), "-I",
                           str(headers), str(src), "-o", str(tmp_path / "s.ptx")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
