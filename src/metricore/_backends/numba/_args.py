"""Argument errors between the Python wrappers and the kernels.

A wrapper's fast path is one dtype identity test and the kernel call: the kernels check the
arguments' shapes natively (free next to the call) and return ``ARGUMENT_ERROR`` instead of
a triple when they do not fit, and Numba refuses argument types it cannot compile with a
TypingError. Only then does the wrapper run its family's full Python checks, which raise a
ValueError or TypeError naming the argument, so the common call pays for no Python checks.
"""

from numba.core.errors import TypingError

ARGUMENT_ERROR = -1  # a kernel's code when the arguments' shapes do not fit (never a row)

__all__ = ["ARGUMENT_ERROR", "TypingError", "explain"]


def explain(check, args, error=None):
    """Raises the error the family's Python ``check`` finds in ``args``, else ``error`` (or
    an AssertionError: the kernel refused arguments the check accepts)."""
    check(*args)
    if error is not None:
        raise error
    raise AssertionError(f"{check.__qualname__}: the kernel refused arguments the checks accept")
