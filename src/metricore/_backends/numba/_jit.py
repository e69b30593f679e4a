"""The only place Numba options live.

* ``cache=True``: nothing compiles at import; a kernel compiles on its first call for the
  argument types it meets, and later processes load it from ``__pycache__``.
* ``fastmath=False``: the kernels test for NaN and rely on IEEE results; sums keep their
  written order, so the kernels break dependency chains themselves (blocks of terms summed
  pairwise).
* ``error_model="numpy"``: a division by zero gives inf/NaN instead of a Python exception
  check inside hot loops.
* ``nogil=True``: a kernel touches only the arrays it is given, so other threads may run.
* ``boundscheck=False``: every index the kernels form is in range by construction.
"""

import functools

import numba
from numba.extending import overload, register_jitable

_OPTIONS = dict(nogil=True, fastmath=False, error_model="numpy", boundscheck=False)

jit = functools.partial(numba.njit, cache=True, **_OPTIONS)

# For kernels closed over a run-time object (a user's per-element function): Numba's disk
# cache keys a closure by its pickled cells, and a dispatcher pickles differently in every
# process, so such kernels are cached in memory only.
jit_uncached = functools.partial(numba.njit, cache=False, **_OPTIONS)

# Helpers that the kernels' loops call (per-element terms, per-row scans): inlined into each
# caller at the Numba IR level, after typing, so no call is left in a hot loop whatever
# LLVM's cost model thinks of a helper holding a loop (it declines those). They compile with
# their caller, whose options apply, and are callable from jitted code only.
def inline(fn):
    return register_jitable(inline="always")(fn)  # a fresh options dict: numba pops from it


# The same for a helper whose body depends on its argument types (None weights, 1-D ids or
# 2-D score rows): ``@specialize(helper)`` decorates a function of the Numba types that
# returns the implementation. (An inlined body is typed without pruning ``x is None``.)
specialize = functools.partial(overload, inline="always")
