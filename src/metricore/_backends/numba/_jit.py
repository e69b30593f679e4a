"""The only place Numba options live.

* ``cache=True``: nothing compiles at import; a kernel compiles on its first call for the
  argument types it meets, and later processes load it from ``__pycache__``.
* ``fastmath=False``: the kernels test for NaN and rely on IEEE results; sums keep their
  written order, so the kernels break dependency chains themselves (blocks, lanes).
* ``error_model="numpy"``: a division by zero gives inf/NaN instead of a Python exception
  check inside hot loops.
* ``nogil=True``: a kernel touches only the arrays it is given, so other threads may run.
* ``boundscheck=False``: every index the kernels form is in range by construction.
"""

import functools

import numba

_OPTIONS = dict(nogil=True, fastmath=False, error_model="numpy", boundscheck=False)

jit = functools.partial(numba.njit, cache=True, **_OPTIONS)

# For kernels closed over a run-time object (a user's per-element function): Numba's disk
# cache keys a closure by its pickled cells, and a dispatcher pickles differently in every
# process, so such kernels are cached in memory only.
jit_uncached = functools.partial(numba.njit, cache=False, **_OPTIONS)
