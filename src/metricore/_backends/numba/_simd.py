"""Explicit short vectors for the accuracy kernel's row scans.

Numba hands its loops to LLVM's loop vectorizer only (it leaves the SLP vectorizer off), and
for short rows (10 classes) a vectorized loop spends most of its time in per-row set-up,
remainders and horizontal reductions. ``lanes_beating`` does the C++ backend's trick
instead: a row of C >= W scores is covered by W-wide vectors, the last one loaded at C - W
(it overlaps the one before and skips the lanes already counted); each vector is compared
with s in one instruction and reduced to a bit mask, whose set bits are counted.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import inline

VECTOR_BYTES = 32  # 8 float32 or 4 float64 lanes: one AVX2 register


def _splat(builder, value, width):
    vector = ir.VectorType(value.type, width)
    undefined = ir.Constant(vector, ir.Undefined)
    one = builder.insert_element(undefined, value, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), width), [0] * width)
    return builder.shuffle_vector(one, undefined, zeros)


@intrinsic
def lanes_beating(typingctx, scores, i, j0, s, tie_lanes, skip):
    """Of the W scores scores[i, j0 : j0 + W] (in bounds, unit column stride): the number of
    lanes l >= skip whose score beats s -- greater, or equal in a lane set in ``tie_lanes``
    (a bit mask) -- plus 2^32 if any of the W scores is NaN."""
    if not (
        isinstance(scores, types.Array)
        and scores.ndim == 2
        and scores.dtype in (types.float32, types.float64)
    ):
        return None
    width = VECTOR_BYTES * 8 // scores.dtype.bitwidth
    signature = types.int64(scores, i, j0, s, tie_lanes, skip)

    def codegen(context, builder, sig, args):
        array_type = sig.args[0]
        i64 = ir.IntType(64)
        lanes = ir.IntType(width)
        value = context.cast(builder, args[3], sig.args[3], array_type.dtype)
        row, first, tie_mask, skipped = (
            context.cast(builder, args[n], sig.args[n], types.int64) for n in (1, 2, 4, 5)
        )
        array = context.make_array(array_type)(context, builder, args[0])
        shape = cgutils.unpack_tuple(builder, array.shape)
        strides = cgutils.unpack_tuple(builder, array.strides)
        pointer = cgutils.get_item_pointer2(
            context, builder, array.data, shape, strides, array_type.layout, [row, first],
            wraparound=False,
        )
        element = context.get_data_type(array_type.dtype)
        vector_pointer = builder.bitcast(pointer, ir.VectorType(element, width).as_pointer())
        v = builder.load(vector_pointer, align=context.get_abi_sizeof(element))
        sv = _splat(builder, value, width)

        def bits(flags):
            return builder.zext(builder.bitcast(flags, lanes), i64)

        greater = bits(builder.fcmp_ordered(">", v, sv))
        equal = bits(builder.fcmp_ordered("==", v, sv))
        nan = bits(builder.fcmp_unordered("uno", v, v))
        beaten = builder.lshr(builder.or_(greater, builder.and_(equal, tie_mask)), skipped)
        any_nan = builder.zext(builder.icmp_unsigned("!=", nan, ir.Constant(i64, 0)), i64)
        return builder.or_(builder.ctpop(beaten), builder.shl(any_nan, ir.Constant(i64, 32)))

    return signature, codegen


@inline
def row_beaten(scores, i, s, tie, width):
    """(number of scores of row i that beat s, any NaN in the row): greater than s, or equal
    to it in a column before ``tie``. The row must have unit column stride and >= width
    columns."""
    num_columns = scores.shape[1]
    packed = lanes_beating(scores, i, 0, s, (1 << min(tie, width)) - 1, 0)
    j0 = width
    while j0 < num_columns - width:
        packed += lanes_beating(scores, i, j0, s, (1 << min(max(tie - j0, 0), width)) - 1, 0)
        j0 += width
    last = num_columns - width  # overlaps the vector before: skips its lanes
    tie_lanes = (1 << min(max(tie - last, 0), width)) - 1
    packed += lanes_beating(scores, i, last, s, tie_lanes, j0 - last)
    return packed & 0xFFFFFFFF, packed >= (1 << 32)
