"""Binned AUC: the cost of 65,536 thresholds over 200, per update, across batch sizes.

The curve issue's resolution target: 65,536 bins may cost at most 1.5x what 200 cost per
``update_state``. Each backend, each batch size: ``AUC(num_thresholds=200)`` and
``AUC(num_thresholds=65536)`` updated with fresh slices of a 2^24-sample pool (bool labels,
float32 scores), best of 5 repeats; prints microseconds per update and the ratio. Run it
pinned to one core for stable numbers:

    taskset -c 1 python benchmarks/bench_bins.py [--backends cpp,numba] [--sizes 32,1024,...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import metricore as mc

POOL = 1 << 24


def per_update(backend, num_thresholds, n, labels, scores, repeats=5):
    """Best-of-``repeats`` seconds per update of batch ``n`` over consecutive pool slices."""
    metric = mc.AUC(num_thresholds=num_thresholds, backend=backend)
    metric.update_state(labels[:n], scores[:n])  # compile / warm up
    slices = POOL // n
    calls = max(3, min(20000, (1 << 22) // n))
    best, k = float("inf"), 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            s = (k % slices) * n
            k += 1
            metric.update_state(labels[s:s + n], scores[s:s + n])
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="cpp,numba")
    ap.add_argument("--sizes", default="32,1024,4096,16384,65536,262144,1048576")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    labels = rng.random(POOL) < 0.5
    scores = rng.random(POOL).astype(np.float32)
    rows = []
    for backend in args.backends.split(","):
        for n in (int(x) for x in args.sizes.split(",")):
            a = per_update(backend, 200, n, labels, scores)
            b = per_update(backend, 65536, n, labels, scores)
            rows.append({"backend": backend, "batch": n, "us_200": a * 1e6, "us_65536": b * 1e6,
                         "ratio": b / a})
            print(f"{backend:6s} batch {n:>9,}  200: {a * 1e6:9.2f} us  65,536: {b * 1e6:9.2f} us"
                  f"  ratio {b / a:.2f}  {'PASS' if b / a <= 1.5 else 'MISS'} (<= 1.5)",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
