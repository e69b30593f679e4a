"""The CUDA backend: the protocol's kernel families on device arrays (CuPy, or CUDA torch
tensors adopted zero-copy through DLPack), launched on the caller's current stream.

Not wired into the metric classes yet (their state is NumPy; device inputs still raise
``DeviceArrayError`` there). This module is imported only on request and imports CuPy only
when a ``CupyRuntime`` is first used, so ``import metricore`` never loads CuPy.

Differences from the host calling convention (``protocol.py``), all forced by the rule that
``update_state`` must never synchronize with the host:

* Every family method takes a keyword ``error``: a device ``int64[3]`` error record from
  ``new_error_record``. The method returns it instead of a host ``(code, row, col)`` triple.
  The record is written on the device by the commit kernel: the first bad element of the
  first failing batch (row-major, the CPU backends' order), and it is sticky: while it is
  set, later batches are validated but not added, so the state stays what it was before the
  failing batch (the CPU's all-or-nothing, deferred). ``check(error)`` copies it to the host
  (the only synchronizing call) and raises the same ``ValueError`` as the CPU backends; a
  metric calls it in ``result()`` and exposes it as ``metric.check()``; ``reset_error``
  clears it with the state.
* All arrays (inputs, ``thresholds``, ``shift``, ``out``) must live on ``out``'s device;
  host arrays are refused (a host->device copy would synchronize and is the caller's
  explicit choice).
* ``workspace``: scratch buffers. A persistent ``Workspace`` (one per metric) makes the
  launch sequence allocation-free after the first call, which CUDA-graph capture needs;
  without one, each call takes fresh buffers from CuPy's pool.

Scratch: buffers that must start a call in a known state (the batch error key, the
finished-blocks counter, count histograms, zeroed float partials) are filled once when
allocated, and the kernels that consume them put them back: a reduce zeroes the partials it
read, a commit zeroes the counts it added, and the last block of a call's last commit resets
the key and the counter. So after its first call a workspace costs no fill launch: an
unweighted update is two launches (validate+count, commit), a weighted one three.

Kernel sources: ``*.cu`` next to this file, compiled at first use by NVRTC (through
``cupy.cuda.compiler.compile_using_nvrtc``) per source and per set of template
instantiations, cached in memory here and on disk (``kernel_cache_dir()``). They include the
per-element headers of the C++ backend, found in the installed package
(``metricore/include``, installed by CMakeLists.txt) or, in a source checkout, in
``csrc/include``. Not ``cupy.RawModule``: it appends ``-ftz=true`` to every compilation, so
float32 subnormals would read as zero (a score of 1e-40 would fall below a threshold of 0,
a label of 1e-45 would pass as 0) where the CPU backends keep them; the kernels are compiled
with ``-ftz=false`` and agree with the host bit for bit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
from typing import Any, Dict, Sequence, Tuple

import numpy as np

from metricore._backends.cuda import _plan as plan

CUDA_DIR = pathlib.Path(__file__).resolve().parent
NO_ERROR_KEY = np.uint64(0xFFFFFFFFFFFFFFFF)


def include_dirs() -> Tuple[pathlib.Path, pathlib.Path]:
    """(this directory, the directory holding ``metricore/elementwise.hpp``)."""
    candidates = (CUDA_DIR.parents[1] / "include",  # installed: metricore/include
                  CUDA_DIR.parents[3] / "csrc" / "include")  # source checkout
    for c in candidates:
        if (c / "metricore" / "elementwise.hpp").is_file():
            return CUDA_DIR, c
    raise FileNotFoundError("the CUDA kernels' headers (metricore/elementwise.hpp) are neither "
                            f"installed nor in a source checkout; looked in {candidates}")


def compile_options() -> Tuple[str, ...]:
    """NVRTC options; ``-ftz=false`` keeps float32 subnormals as the CPU backends do.
    ``$METRICORE_NVRTC_OPTIONS`` appends more (the tuning switches of common.cuh)."""
    here, headers = include_dirs()
    extra = tuple(os.environ.get("METRICORE_NVRTC_OPTIONS", "").split())  # tuning sweeps
    return ("-std=c++17", "-ftz=false", f"-I{here}", f"-I{headers}") + extra


def kernel_cache_dir() -> pathlib.Path:
    """Where compiled kernels are kept between processes: ``$METRICORE_KERNEL_CACHE`` or
    ``$XDG_CACHE_HOME/metricore/kernels`` (``~/.cache/metricore/kernels``)."""
    env = os.environ.get("METRICORE_KERNEL_CACHE")
    if env:
        return pathlib.Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "metricore" / "kernels"


def _sources_digest() -> str:
    """A hash of every kernel source and header, so an edited header invalidates the cache."""
    h = hashlib.sha256()
    for d in include_dirs():
        for f in sorted(d.rglob("*")):
            if f.suffix in (".cu", ".cuh", ".hpp", ".h"):
                h.update(f.name.encode())
                h.update(f.read_bytes())
    return h.hexdigest()


class Workspace:
    """Scratch buffers reused across calls (see the module docstring): one per metric, used
    on one device and one stream (stream order is what makes the reuse safe)."""

    def __init__(self, xp=None):
        self._xp = xp
        self._buffers: Dict[str, Any] = {}

    def take(self, xp, name: str, size: int, dtype):
        """(the first ``size`` items of buffer ``name``, whether it was just allocated)."""
        dtype = np.dtype(dtype)
        buf = self._buffers.get(name)
        fresh = buf is None or buf.size < size or buf.dtype != dtype
        if fresh:
            buf = xp.empty(max(size, 1), dtype=dtype)
            self._buffers[name] = buf
        return buf[:size], fresh

    def clear(self) -> None:
        """Forgets every buffer (after a failed launch sequence: their contents are unknown)."""
        self._buffers.clear()


class _KernelCache:
    """A loaded module whose kernels are looked up once: after the first call a launch
    sequence makes no driver call but the launches (CUDA-graph capture wants nothing else)."""

    def __init__(self, module, mapping: Dict[str, str]):
        self._module = module
        self._mapping = mapping  # template name expression -> lowered (mangled) name
        self._kernels: Dict[str, Any] = {}

    def get_function(self, name: str):
        kernel = self._kernels.get(name)
        if kernel is None:
            kernel = self._kernels[name] = self._module.get_function(self._mapping[name])
        return kernel


def _write_cache(stem: pathlib.Path, binary: bytes, mapping: Dict[str, str]) -> None:
    """Best effort (a read-only home just means compiling again next time); atomic, so a
    concurrent process never reads half a file."""
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        for suffix, data in ((".bin", binary), (".json", json.dumps(mapping).encode())):
            tmp = stem.with_suffix(f"{suffix}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, stem.with_suffix(suffix))
    except OSError:
        pass


class CupyRuntime:
    """Everything that touches CuPy or torch, imported on first use."""

    def __init__(self):
        import cupy  # the only place the backend imports it

        self.xp = cupy
        self._modules: Dict[Tuple[str, Tuple[str, ...], str], Any] = {}
        self._sources: Dict[str, str] = {}
        self._sm_counts: Dict[int, int] = {}
        self._digest = None

    def adopt(self, x):
        """(CuPy array, torch stream or None): CuPy arrays as they are, CUDA torch tensors
        zero-copy through DLPack (with torch's current stream), anything else refused."""
        module = type(x).__module__.partition(".")[0]
        if module == "cupy":
            return x, None
        if module == "torch":
            if x.device.type != "cuda":
                raise TypeError(f"the CUDA backend got a torch tensor on {x.device}")
            import torch

            return self.xp.from_dlpack(x.detach()), torch.cuda.current_stream(x.device)
        raise TypeError(f"the CUDA backend takes CuPy arrays or CUDA torch tensors; got "
                        f"{type(x).__name__} (host data must be copied explicitly)")

    def device_id(self, a) -> int:
        return int(a.device.id)

    def sm_count(self, device_id: int) -> int:
        if device_id not in self._sm_counts:
            attrs = self.xp.cuda.Device(device_id).attributes
            self._sm_counts[device_id] = int(attrs["MultiProcessorCount"])
        return self._sm_counts[device_id]

    def module(self, source: str, names: Sequence[str]):
        """The compiled module of ``source`` holding the kernels ``names`` (template name
        expressions) for the current device's architecture."""
        from cupy.cuda import compiler

        arch = compiler._get_arch()
        key = (source, tuple(sorted(set(names))), arch)
        mod = self._modules.get(key)
        if mod is None:
            mod = self._modules[key] = _KernelCache(*self._load(source, key[1], arch))
        return mod

    def _load(self, source: str, names: Tuple[str, ...], arch: str):
        """(loaded cupy Module, {name expression: lowered name}), from the disk cache or
        compiled by NVRTC (and then cached)."""
        from cupy.cuda import compiler, function

        if self._digest is None:
            self._digest = _sources_digest()
        options = compile_options()
        tag = json.dumps([self._digest, source, names, options, arch,
                          compiler._get_nvrtc_version()])
        stem = kernel_cache_dir() / hashlib.sha256(tag.encode()).hexdigest()
        try:
            binary = stem.with_suffix(".bin").read_bytes()
            mapping = json.loads(stem.with_suffix(".json").read_text())
        except (OSError, ValueError):
            if source not in self._sources:
                self._sources[source] = (CUDA_DIR / f"{source}.cu").read_text()
            binary, mapping = compiler.compile_using_nvrtc(
                self._sources[source], options, arch=arch, filename=f"{source}.cu",
                name_expressions=list(names), cache_in_memory=True)
            binary = bytes(binary)
            mapping = {str(k): v.decode() if isinstance(v, bytes) else str(v)
                       for k, v in mapping.items()}
            _write_cache(stem, binary, mapping)
        mod = function.Module()
        mod.load(binary)
        return mod, mapping

    def on(self, device_id: int, torch_stream):
        """Launch context: the arrays' device, and torch's current stream if an input came
        from torch (else CuPy's current stream, which RawKernel uses by default)."""
        stack = contextlib.ExitStack()
        stack.enter_context(self.xp.cuda.Device(device_id))
        if torch_stream is not None:
            from metricore._dispatch import external_stream

            stack.enter_context(external_stream(self.xp, torch_stream.cuda_stream, device_id))
        return stack


def _i64(v) -> np.int64:
    return np.int64(v)


class _Call:
    """One family call: its arrays adopted onto one device, its launches, its scratch."""

    def __init__(self, backend: "CudaBackend", source: str, out, error, workspace):
        self.rt = backend.runtime
        self.source = source
        self.names = []
        self.launches = []
        self.device = None
        self.torch_stream = None
        self.ws = workspace if workspace is not None else Workspace()
        self.out = self.adopt(out, "out")
        self.error = self.adopt(error, "error")
        self.sm_count = self.rt.sm_count(self.device)

    def adopt(self, x, what: str):
        if x is None:
            return None
        arr, stream = self.rt.adopt(x)
        dev = self.rt.device_id(arr)
        if self.device is None:
            self.device = dev
        elif dev != self.device:
            raise ValueError(f"{what} is on device {dev} but the metric's state is on device "
                             f"{self.device}; metricore never moves data between devices")
        if stream is not None:
            self.torch_stream = stream
        return arr

    def inputs(self, y_true, y_pred, sample_weight):
        """(y_true, y_pred, sample_weight, N, y_pred's columns), adopted and size-checked."""
        yt, yp = self.adopt(y_true, "y_true"), self.adopt(y_pred, "y_pred")
        w = self.adopt(sample_weight, "sample_weight")
        n, cols = yt.shape[0], yp.shape[1] if yp.ndim == 2 else 1
        plan.check_extent(n, cols, "y_pred")
        return yt, yp, w, n, cols

    def scratch(self, name: str, size: int, dtype, fill=None):
        """A scratch buffer. With ``fill``, its resting value: filled when allocated, and
        restored by the kernels that consume it (see "Scratch" in the module docstring),
        so a persistent workspace costs no fill launch after its first call."""
        buf, fresh = self.ws.take(self.rt.xp, name, size, dtype)
        if fill is not None and fresh:
            # The whole allocation: a later call may use a longer prefix of it.
            whole = self.ws._buffers[name]
            self.launches.append(("fill", whole, fill))
        return buf

    def batch_key(self):
        """(key, done): the batch's error key (kNoError at rest) and the finished-blocks
        counter of the last commit (0 at rest), both reset by that commit."""
        return (self.scratch("key", 1, np.uint64, NO_ERROR_KEY),
                self.scratch("done", 1, np.uint32, 0))

    def kernel(self, name: str, grid: int, args, shared_mem: int = 0):
        self.names.append(name)
        self.launches.append(("kernel", name, grid, tuple(args), shared_mem))

    def run(self):
        """Compiles (first use) and launches everything, in order, on one stream."""
        try:  # compiling too: a fresh buffer's fill is queued, not yet run
            mod = self.rt.module(self.source, self.names)
            with self.rt.on(self.device, self.torch_stream):
                for launch in self.launches:
                    if launch[0] == "fill":
                        launch[1].fill(launch[2])
                    else:
                        _, name, grid, args, shared_mem = launch
                        mod.get_function(name)((grid,), (plan.BLOCK,), args,
                                               shared_mem=shared_mem)
        except BaseException:
            self.ws.clear()  # a partial sequence may leave scratch off its resting value
            raise
        return self.error

    # -- the common tail of every family: reduce float partials, then commit
    def histogram(self, hist: plan.HistPlan):
        """The family kernel's scratch argument: a zero-at-rest buffer when the plan needs
        it zeroed ("zpartials", "counts"), else one the kernel writes whole ("partials")."""
        if hist.float_hist:
            if hist.zero_scratch:
                return self.scratch("zpartials", hist.scratch_size, np.float64, 0.0)
            return self.scratch("partials", hist.scratch_size, np.float64)
        return self.scratch("counts", hist.scratch_size, np.uint64, 0)

    def reduce(self, partials, num_partials: int, bins: int, clear: bool = False):
        """The fixed-order sum of the partials into "delta"; ``clear`` zeroes them after
        (a zero-at-rest buffer)."""
        delta = self.scratch("delta", bins, np.float64)
        name, grid = plan.reduce_plan(num_partials, bins, self.sm_count)
        self.kernel(plan.template(name, "double"), grid,
                    (partials, _i64(num_partials), _i64(bins), delta, np.int32(clear)))
        return delta

    def commit_add(self, key, delta, acc: str, out, n: int, clear: bool, release: bool = True):
        """out += delta if the batch may commit; ``clear`` restores a count scratch to zero;
        ``release`` (the call's last commit) resets the batch key."""
        grid = plan.blocks_for(n, self.sm_count, items=1)
        self.kernel(plan.template("commit_add", acc, plan.state_ctype(out)), grid,
                    (*key, self.error, delta, out, _i64(n), np.int32(clear), np.int32(release)))


def _view(a, what: str, ndim: int):
    """(array, element strides...) kernel arguments; a missing weight is a null pointer."""
    if a is None:
        return (np.uint64(0),) + (_i64(0),) * ndim
    return (a,) + tuple(_i64(s) for s in plan.element_strides(a, what, ndim))


def _contiguous(a, what: str):
    if a is not None and not a.flags.c_contiguous:
        raise ValueError(f"{what} must be C-contiguous on the CUDA backend")
    return a


def _float64_vector(a, what: str):
    """thresholds / shift: read as contiguous float64 by the kernels (the protocol's types)."""
    if np.dtype(a.dtype) != np.float64:
        raise TypeError(f"{what} must be float64 on the CUDA backend; got {a.dtype}")
    return _contiguous(a, what)


class CudaBackend:
    """The protocol's families on a GPU; see the module docstring for the differences."""

    name = "cuda"

    def __init__(self, runtime=None):
        self._runtime = runtime

    @property
    def runtime(self):
        if self._runtime is None:
            self._runtime = CupyRuntime()
        return self._runtime

    # ------------------------------------------------------------------ errors
    def new_error_record(self, like):
        """A clear device error record on ``like``'s device."""
        arr, _ = self.runtime.adopt(like)
        with self.runtime.on(self.runtime.device_id(arr), None):
            return self.runtime.xp.zeros(3, dtype=np.int64)

    @staticmethod
    def reset_error(error) -> None:
        error.fill(0)

    @staticmethod
    def check(error, **context) -> None:
        """Raises the first recorded error (synchronizes: call at result() / check() only).

        ``context`` goes to ``metricore._validation.raise_for_error`` (``num_classes`` etc.;
        device arrays are not passed, so the message names the index, not the value).
        """
        from metricore._validation import raise_for_error

        host = error.get() if hasattr(error, "get") else np.asarray(error)
        raise_for_error(tuple(int(v) for v in host), **context)

    # ---------------------------------------------------------------- families
    def threshold_counts(self, y_true, y_pred, sample_weight, thresholds, top_k, class_id,
                         out, *, error, workspace=None):
        call = _Call(self, "threshold_counts", out, error, workspace)
        yt, yp, w, n, num_labels = call.inputs(y_true, y_pred, sample_weight)
        thr = _float64_vector(call.adopt(thresholds, "thresholds"), "thresholds")
        if n == 0:
            return call.error
        c0, c1 = (0, num_labels) if class_id < 0 else (class_id, class_id + 1)
        width = num_labels if top_k > 0 else c1 - c0
        return self._score_bins(call, yt, yp, w, thr, call.out.shape[1], c0, c1, top_k, width,
                                None)

    def score_histogram(self, y_true, y_pred, sample_weight, thresholds, class_id, out,
                        score_sums, *, error, workspace=None):
        call = _Call(self, "score_histogram", out, error, workspace)
        yt, yp, w, n, num_labels = call.inputs(y_true, y_pred, sample_weight)
        thr = _float64_vector(call.adopt(thresholds, "thresholds"), "thresholds")
        sums = _contiguous(call.adopt(score_sums, "score_sums"), "score_sums")
        if n == 0:
            return call.error
        c0, c1 = (0, num_labels) if class_id < 0 else (class_id, class_id + 1)
        return self._score_bins(call, yt, yp, w, thr, call.out.shape[1] - 1, c0, c1, 0, c1 - c0,
                                sums)

    def _score_bins(self, call, yt, yp, w, thr, T, c0, c1, top_k, width, sums):
        """score_bins (score_bins.cuh), then threshold_counts' or score_histogram's commit."""
        out = _contiguous(call.out, "out")
        n, num_labels = yp.shape
        M = out.shape[2]
        label_plane = 2 * (T + 1) * M
        float_hist = w is not None or sums is not None
        hist = plan.HistPlan(label_plane + ((T + 1) * M if sums is not None else 0),
                             float_hist, n * width, call.sm_count)
        key = call.batch_key()
        scratch = call.histogram(hist)
        targs = (plan.label_ctype(yt.dtype), plan.score_ctype(yp.dtype), plan.weight_ctype(w),
                 *hist.template_flags)
        call.kernel(plan.template("score_bins", *targs), hist.blocks,
                    (*_view(yt, "y_true", 2), np.int32(yt.ndim == 1), *_view(yp, "y_pred", 2),
                     *_view(w, "sample_weight", 2), thr, _i64(T), _i64(n), _i64(num_labels),
                     _i64(c0), _i64(c1), _i64(top_k), _i64(M), np.int32(sums is not None),
                     key[0], scratch, _i64(hist.bins)), hist.shared_bytes)
        if float_hist:
            delta, acc = call.reduce(scratch, hist.partials, hist.bins, hist.zero_scratch), "double"
        else:
            delta, acc = scratch, "unsigned long long"
        counts = not float_hist  # the delta is the count scratch itself: zero it after
        if call.source == "threshold_counts":
            call.kernel(plan.template("commit_threshold", acc, plan.state_ctype(out)),
                        plan.blocks_for(M, call.sm_count, items=1),
                        (*key, call.error, delta, _i64(T), _i64(M), out, np.int32(counts)))
        else:
            call.commit_add(key, delta, acc, out, label_plane, counts, release=sums is None)
            if sums is not None:
                call.commit_add(key, delta[label_plane:], "double", sums, sums.size, False)
        return call.run()

    def confusion_matrix(self, y_true, y_pred, sample_weight, ignore_label, out, *, error,
                         workspace=None):
        call = _Call(self, "confusion_matrix", out, error, workspace)
        yt, yp, w, n, _ = call.inputs(y_true, y_pred, sample_weight)
        out = _contiguous(call.out, "out")
        C = out.shape[0]
        if n == 0:
            return call.error
        scores = yp.ndim == 2
        pred_ct = plan.score_ctype(yp.dtype) if scores else plan.label_ctype(yp.dtype, "y_pred")
        hist = plan.HistPlan(C * C, w is not None, n, call.sm_count)
        key = call.batch_key()
        scratch = call.histogram(hist)
        targs = (plan.label_ctype(yt.dtype), pred_ct, plan.weight_ctype(w), *hist.template_flags)
        call.kernel(plan.template("confusion_bins", *targs), hist.blocks,
                    (*_view(yt, "y_true", 1), *_view(yp, "y_pred", 2), np.int32(scores),
                     *_view(w, "sample_weight", 1), _i64(n), _i64(C),
                     np.int32(ignore_label is not None), _i64(ignore_label or 0), key[0],
                     scratch, _i64(hist.bins)), hist.shared_bytes)
        if w is not None:
            delta, acc = call.reduce(scratch, hist.partials, hist.bins, hist.zero_scratch), "double"
        else:
            delta, acc = scratch, "unsigned long long"
        call.commit_add(key, delta, acc, out, C * C, w is None)
        return call.run()

    def _row_sums(self, call, kernel: str, yt, yp, w, args, n: int, bins: int):
        """A one-thread-per-row family (per-thread float partials, ``bins`` per thread)."""
        out = _contiguous(call.out, "out")
        targs = (plan.label_ctype(yt.dtype), plan.score_ctype(yp.dtype), plan.weight_ctype(w))
        blocks = plan.blocks_for(n, call.sm_count, items=plan.ITEMS_PER_THREAD)
        threads = blocks * plan.BLOCK
        key = call.batch_key()
        partials = call.scratch("partials", threads * bins, np.float64)  # all written
        call.kernel(plan.template(kernel, *targs), blocks, (*args, key[0], partials))
        delta = call.reduce(partials, threads, bins)
        call.commit_add(key, delta, "double", out, bins, False)
        return call.run()

    def topk_matches(self, y_true, y_pred, sample_weight, k, out, *, error, workspace=None):
        call = _Call(self, "topk_matches", out, error, workspace)
        yt, yp, w, n, C = call.inputs(y_true, y_pred, sample_weight)
        if n == 0:
            return call.error
        args = (*_view(yt, "y_true", 2), np.int32(yt.ndim == 2), *_view(yp, "y_pred", 2),
                *_view(w, "sample_weight", 1), _i64(n), _i64(C), _i64(k))
        return self._row_sums(call, "topk_rows", yt, yp, w, args, n, 2)

    def moments(self, kind, param, y_true, y_pred, sample_weight, out, *, error,
                workspace=None):
        call = _Call(self, "moments", out, error, workspace)
        yt, yp, w, n, D = call.inputs(y_true, y_pred, sample_weight)
        if n == 0:
            return call.error
        W = 0 if w is None else w.shape[1]
        args = (_i64(int(kind)), np.float64(param), *_view(yt, "y_true", 2),
                *_view(yp, "y_pred", 2), *_view(w, "sample_weight", 2), _i64(W), _i64(n),
                _i64(D))
        return self._row_sums(call, "moments_rows", yt, yp, w, args, n, 2)

    def column_moments(self, y_true, y_pred, sample_weight, shift, out, *, error,
                       workspace=None):
        call = _Call(self, "moments", out, error, workspace)
        yt, yp, w, n, D = call.inputs(y_true, y_pred, sample_weight)
        shift = _float64_vector(call.adopt(shift, "shift"), "shift")
        out = _contiguous(call.out, "out")
        if n == 0 or (D == 0 and w is None):
            return call.error
        key = call.batch_key()
        if D == 0:  # nothing to add, but the weights are checked all the same
            call.kernel(plan.template("check_row_weights", plan.weight_ctype(w)),
                        plan.blocks_for(n, call.sm_count), (*_view(w, "sample_weight", 1),
                                                            _i64(n), key[0]))
            call.commit_add(key, call.scratch("delta", 1, np.float64), "double", out, 0, False)
            return call.run()
        # R row slices per column: about a full GPU of threads, each with a few rows.
        threads = plan.blocks_for(n * D, call.sm_count) * plan.BLOCK
        R = max(1, min(n, threads // D))
        blocks = plan.blocks_for(D * R, call.sm_count, items=1)
        partials = call.scratch("partials", R * 4 * D, np.float64)  # all written
        targs = (plan.label_ctype(yt.dtype), plan.score_ctype(yp.dtype), plan.weight_ctype(w))
        call.kernel(plan.template("column_moments_cols", *targs), blocks,
                    (*_view(yt, "y_true", 2), *_view(yp, "y_pred", 2),
                     *_view(w, "sample_weight", 1), shift, _i64(n), _i64(D), _i64(R), key[0],
                     partials))
        delta = call.reduce(partials, R, 4 * D)
        call.commit_add(key, delta, "double", out, 4 * D, False)
        return call.run()

    def binary_clf_curve(self, y_score, y_true, sample_weight):
        raise NotImplementedError(
            "binary_clf_curve (the exact curve, a sort at result()) has no CUDA kernel yet; "
            "its inputs are accumulated on the host by the metric layer")


BACKEND = CudaBackend()
