"""The IEEE bits of floats as unsigned integers and back, for jitted code (a register move).

``float_bits`` maps float32 to uint32 and float64 to uint64; ``bits_float32`` and
``bits_float64`` take the low 32 / all 64 bits of any integer (Numba widens uint32
arithmetic to 64 bits, so the target type is named, not inferred).
"""

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["bits_float32", "bits_float64", "float_bits"]


@intrinsic
def float_bits(typingctx, x):
    """The bits of a float32 (as uint32) or float64 (as uint64)."""
    if x == types.float32:
        result, width = types.uint32, 32
    elif x == types.float64:
        result, width = types.uint64, 64
    else:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(width))

    return result(x), codegen


def _from_bits(float_type, llvm_type, width):
    def typer(typingctx, x):
        if not isinstance(x, types.Integer):
            return None

        def codegen(context, builder, sig, args):
            v = args[0]
            if v.type.width > width:
                v = builder.trunc(v, ir.IntType(width))
            elif v.type.width < width:
                v = builder.zext(v, ir.IntType(width))
            return builder.bitcast(v, llvm_type)

        return float_type(x), codegen

    return typer


bits_float32 = intrinsic(_from_bits(types.float32, ir.FloatType(), 32))
bits_float32.__doc__ = "The float32 whose bits are the low 32 bits of an integer."
bits_float64 = intrinsic(_from_bits(types.float64, ir.DoubleType(), 64))
bits_float64.__doc__ = "The float64 whose bits are the 64 bits of an integer (zero-extended)."
