"""Kernel backends. ``protocol`` is the contract; ``cpp`` and ``numba`` implement it."""
