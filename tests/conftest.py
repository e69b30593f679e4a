"""Shared fixtures: every metric test runs on every CPU backend."""

import zlib

import numpy as np
import pytest

import metricore as mc

BACKENDS = ("cpp", "numba")


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Name of a CPU backend; build metrics with ``backend=backend``."""
    return request.param


@pytest.fixture
def rng(request):
    """A fresh, reproducible generator per test (seeded from the test's name)."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


def batches(n, rng, sizes=(1, 7, 32, 1000)):
    """Random split points of range(n) into batches of mixed sizes (1, odd, large)."""
    out, start = [], 0
    while start < n:
        size = int(rng.choice(sizes))
        out.append(slice(start, min(n, start + size)))
        start += size
    return out
