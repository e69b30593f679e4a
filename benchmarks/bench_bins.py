"""Binned AUC: the cost of 65,536 thresholds over 200, per update, across batch sizes.

The curve issue's resolution target: 65,536 bins may cost at most 1.5x what 200 cost per
``update_state``. Each backend, each batch size: ``AUC(num_thresholds=200)`` and
``AUC(num_thresholds=65536)`` updated with fresh slices of a 2^24-sample pool (bool labels,
float32 scores: uniform, or with ``--scores confident`` a confident model's, 80% within 0.002
of 0 or 1), taking turns within each of 7 repeats; prints the best microseconds per update and
their ratio. Run it pinned to one core for stable numbers:

    taskset -c 1 python benchmarks/bench_bins.py [--backends cpp,numba] [--sizes 32,1024,...]
        [--scores uniform|confident]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import metricore as mc

POOL = 1 << 24


def per_update(backend, n, labels, scores, repeats=7, sizes=(200, 65536)):
    """Best-of-``repeats`` seconds per update of batch ``n`` over consecutive pool slices, for
    each threshold count in ``sizes``, and the median over repeats of their per-repeat ratio
    (last over first). The sizes take turns within each repeat, so that a drift of the
    machine's speed (other tenants, clock) weighs on both alike."""
    metrics = [mc.AUC(num_thresholds=t, backend=backend) for t in sizes]
    for metric in metrics:
        metric.update_state(labels[:n], scores[:n])  # compile / warm up
    slices = POOL // n
    calls = max(3, min(20000, (1 << 22) // n))
    best = [float("inf")] * len(sizes)
    ratios = []
    k = 0
    for _ in range(repeats):
        times = []
        for metric in metrics:
            t0 = time.perf_counter()
            for _ in range(calls):
                s = (k % slices) * n
                k += 1
                metric.update_state(labels[s:s + n], scores[s:s + n])
            times.append((time.perf_counter() - t0) / calls)
        best = [min(b, t) for b, t in zip(best, times)]
        ratios.append(times[-1] / times[0])
    return best, float(np.median(ratios))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="cpp,numba")
    ap.add_argument("--sizes", default="32,1024,4096,16384,65536,262144,1048576")
    ap.add_argument("--scores", choices=["uniform", "confident"], default="uniform",
                    help="uniform in [0, 1), or a confident model's: 80%% within 0.002 of 0 or 1")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    labels = rng.random(POOL) < 0.5
    scores = rng.random(POOL)
    if args.scores == "confident":  # runs of elements in the first and last buckets
        sure = rng.random(POOL) < 0.8
        tail = scores[sure] * 0.002
        scores[sure] = np.where(rng.random(tail.size) < 0.5, tail, 1.0 - tail)
    scores = scores.astype(np.float32)
    rows = []
    for backend in args.backends.split(","):
        for n in (int(x) for x in args.sizes.split(",")):
            (a, b), median = per_update(backend, n, labels, scores)
            rows.append({"backend": backend, "batch": n, "us_200": a * 1e6, "us_65536": b * 1e6,
                         "ratio": b / a, "median_ratio": median})
            print(f"{backend:6s} batch {n:>9,}  200: {a * 1e6:9.2f} us  65,536: {b * 1e6:9.2f} us"
                  f"  ratio {b / a:.2f} (median of repeats {median:.2f})"
                  f"  {'PASS' if b / a <= 1.5 else 'MISS'} (<= 1.5)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
