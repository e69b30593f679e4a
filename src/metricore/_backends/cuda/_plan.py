"""Launch planning for the CUDA kernels: pure Python, no CuPy, so it is tested on any machine.

Everything here is a function of shapes, dtypes, strides and the device's SM count, never
of the data: a given call on a given device always gets the same grid, hence the same
float summation order (the kernels' determinism rests on it).
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from metricore._backends.protocol import LABEL_DTYPES, SCORE_DTYPES, WEIGHT_DTYPES

NAMESPACE = "metricore_cuda"
NO_WEIGHT = f"{NAMESPACE}::NoWeight"

# The C++ spelling of each dtype in the kernels' template arguments (name expressions).
CTYPES = {
    np.dtype(np.bool_): "bool",
    np.dtype(np.int8): "signed char",
    np.dtype(np.uint8): "unsigned char",
    np.dtype(np.int32): "int",
    np.dtype(np.int64): "long long",
    np.dtype(np.float32): "float",
    np.dtype(np.float64): "double",
    np.dtype(np.uint32): "unsigned int",  # scratch only (the finished-blocks counter)
    np.dtype(np.uint64): "unsigned long long",  # scratch only (error keys, counts)
}
STATE_CTYPES = {np.dtype(np.int64): "long long", np.dtype(np.float64): "double"}

BLOCK = 256  # threads per block; reduce_partials_tree assumes it
WARPS = BLOCK // 32
ITEMS_PER_THREAD = 8  # grid sizing: enough work per thread to amortize its setup
BLOCKS_PER_SM = 2048 // BLOCK  # a full SM at BLOCK threads per block (sm_70 .. sm_90)
SHARED_BUDGET = 48 * 1024  # bytes of dynamic shared memory, without opting in to more
PARTIALS_BUDGET = 64 << 20  # bytes of per-warp float histograms in global memory
SEQ_REDUCE_MAX = 64  # partials summed by one thread per bin; more go to the block tree
MAX_ROWS = 1 << 36  # the error key's row field (common.cuh)
MAX_COLS = 1 << 22  # its column field
COUNTER_LIMIT = 1 << 31  # elements per block under 32-bit shared counters


def ctype(dtype, allowed, what: str) -> str:
    dtype = np.dtype(dtype)
    if dtype not in allowed:
        names = ", ".join(str(d) for d in allowed)
        raise TypeError(f"the CUDA backend reads {what} as one of {names}; got {dtype}")
    return CTYPES[dtype]


def label_ctype(dtype, what="y_true") -> str:
    return ctype(dtype, LABEL_DTYPES, what)


def score_ctype(dtype, what="y_pred") -> str:
    return ctype(dtype, SCORE_DTYPES, what)


def weight_ctype(sample_weight) -> str:
    return NO_WEIGHT if sample_weight is None else ctype(sample_weight.dtype, WEIGHT_DTYPES,
                                                         "sample_weight")


def state_ctype(out, what="out") -> str:
    dtype = np.dtype(out.dtype)
    if dtype not in STATE_CTYPES:
        raise TypeError(f"{what} must be int64 or float64 on the CUDA backend; got {dtype}")
    return STATE_CTYPES[dtype]


def template(kernel: str, *args) -> str:
    """The NVRTC name expression of a kernel instantiation, e.g. ``ns::k<float, true>``."""
    spelled = ["true" if a is True else "false" if a is False else str(a) for a in args]
    return f"{NAMESPACE}::{kernel}<{', '.join(spelled)}>"


def element_strides(a, what: str, ndim: Optional[int] = None) -> Tuple[int, ...]:
    """Strides in elements (the kernels' convention), padded with 0 up to ``ndim`` axes.

    CuPy and NumPy strides are in bytes; a stride or an address that is not a whole number
    of items cannot be read as that type, so it is refused rather than copied.
    """
    item = a.dtype.itemsize
    if any(s % item for s in a.strides):
        raise ValueError(f"{what} has strides {a.strides} that are not multiples of its item "
                         f"size {item}; pass a copy (the CUDA backend reads arrays in place)")
    ptr = data_ptr(a)
    if ptr is not None and ptr % item:
        raise ValueError(f"{what} starts at an address not aligned to its item size {item}")
    strides = tuple(s // item for s in a.strides)
    if ndim is not None:
        strides = strides + (0,) * (ndim - len(strides))
    return strides


def data_ptr(a) -> Optional[int]:
    """The device (CuPy) or host (NumPy, in host tests) address of an array's first element."""
    data = getattr(a, "data", None)
    ptr = getattr(data, "ptr", None)  # cupy.cuda.MemoryPointer
    if ptr is not None:
        return int(ptr)
    iface = getattr(a, "__array_interface__", None)
    return int(iface["data"][0]) if iface else None


def check_extent(rows: int, cols: int, what: str) -> None:
    if rows >= MAX_ROWS or cols >= MAX_COLS:
        raise ValueError(f"{what} of shape ({rows}, {cols}) exceeds the CUDA backend's limits "
                         f"(rows < 2**36, columns < 2**22) for locating a bad element")


def blocks_for(work: int, sm_count: int, items: int = ITEMS_PER_THREAD) -> int:
    """Blocks for ``work`` grid-stride items: about ``items`` per thread, at most a full GPU."""
    wanted = math.ceil(max(work, 1) / (BLOCK * items))
    return max(1, min(wanted, sm_count * BLOCKS_PER_SM))


class HistPlan:
    """Where a histogram-accumulating kernel keeps its bins (``HistSlots`` in common.cuh).

    Integer counts: 32-bit block-private shared counters when the bins fit, else global
    64-bit atomics; ``scratch`` is then the u64 histogram itself (zeroed). Float sums:
    warp-private histograms in shared memory (one partial per block) when they fit, else in
    global memory (one partial per warp, zeroed, at most ``PARTIALS_BUDGET`` bytes), then
    reduced in a fixed order into ``delta``.
    """

    def __init__(self, bins: int, float_hist: bool, work: int, sm_count: int):
        self.bins = bins
        self.float_hist = float_hist
        blocks = blocks_for(work, sm_count)
        if not float_hist:
            blocks = max(blocks, math.ceil(work / COUNTER_LIMIT))
            self.shared = bins * 4 <= SHARED_BUDGET
            self.shared_bytes = bins * 4 if self.shared else 0
            self.partials = 0
            self.scratch_size = bins
            self.zero_scratch = True
        else:
            warp_bytes = (WARPS * bins + WARPS * 32) * 8
            self.shared = warp_bytes <= SHARED_BUDGET
            if self.shared:
                self.shared_bytes = warp_bytes
                self.partials = blocks
                self.zero_scratch = False  # each block writes its whole partial
            else:
                blocks = max(1, min(blocks, PARTIALS_BUDGET // (max(bins, 1) * 8 * WARPS)))
                self.shared_bytes = WARPS * 32 * 8
                self.partials = blocks * WARPS
                self.zero_scratch = True
            self.scratch_size = self.partials * bins
        self.blocks = blocks

    @property
    def template_flags(self):
        return (self.float_hist, self.shared)


def reduce_plan(num_partials: int, bins: int, sm_count: int):
    """(kernel name, grid) of the fixed-order reduction of ``num_partials`` x ``bins``."""
    if num_partials <= SEQ_REDUCE_MAX:
        return "reduce_partials_seq", max(1, min(math.ceil(bins / BLOCK),
                                                 sm_count * BLOCKS_PER_SM))
    return "reduce_partials_tree", max(1, min(bins, sm_count * BLOCKS_PER_SM))
