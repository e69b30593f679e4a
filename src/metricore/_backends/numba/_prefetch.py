"""Software prefetch of the next rows of a streamed input, for jitted loops.

A kernel that streams a big batch while it scatter-adds into a big table (a histogram of
65,536 thresholds fills much of L2) loses the hardware prefetcher's lead: the table's misses
crowd the input's lines out, and every chunk then waits on memory. Asking for the next
chunk's rows while the current one is scattered restores the overlap (see the C++ twin,
``prefetch_block`` in csrc/include/metricore/score_histogram.hpp).
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ._jit import jit, specialize

_LINE = 64  # bytes per cache line


@intrinsic
def prefetch(typingctx, address):
    """Hints the cache line holding byte ``address`` into every cache level (``llvm.prefetch``:
    a read, high locality); never faults, whatever the address."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", [i8p], ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        )
        pointer = builder.inttoptr(args[0], i8p)
        read, locality, data_cache = (ir.Constant(i32, k) for k in (0, 3, 1))
        builder.call(fn, [pointer, read, locality, data_cache])
        return context.get_dummy_value()

    return types.none(address), codegen


def _block_columns(a, c0, c1):
    """(first column, columns, column stride in bytes) of a block over columns [c0, c1) of a
    2-D array; a 1-D one is a single column."""


@specialize(_block_columns)
def _block_columns_impl(a, c0, c1):
    if a.ndim == 2:
        return lambda a, c0, c1: (c0, c1 - c0, a.strides[1])
    return lambda a, c0, c1: (0, 1, 0)


@jit
def prefetch_block(a, r0, r1, c0, c1):
    """Prefetches a[r0:r1, c0:c1] (a 1-D ``a``: a[r0:r1]) when its bytes are dense: they span
    at most about twice what the block holds (any strides, also 0 or negative; a column of a
    wide matrix is not dense: its lines hold mostly other columns). r1 is clipped to a's
    rows. Not inlined: once per chunk of rows."""
    r1 = min(r1, a.shape[0])
    first_col, cols, col_stride = _block_columns(a, c0, c1)
    if r1 <= r0 or cols <= 0:
        return
    row_stride = a.strides[0]
    first = r0 * row_stride + first_col * col_stride
    rows_span = (r1 - 1 - r0) * row_stride
    cols_span = (cols - 1) * col_stride
    lo = first + min(rows_span, 0) + min(cols_span, 0)
    hi = first + max(rows_span, 0) + max(cols_span, 0) + a.itemsize
    if hi - lo > 2 * (r1 - r0) * cols * a.itemsize + _LINE:
        return
    base = np.int64(a.ctypes.data)
    for line in range((base + lo) & -_LINE, base + hi, _LINE):
        prefetch(line)
