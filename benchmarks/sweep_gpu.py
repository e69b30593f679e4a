"""Sweep the CUDA kernels' tuning switches (common.cuh) on the GPU: time and check each.

Each variant runs in its own process with ``METRICORE_NVRTC_OPTIONS`` set (the kernels are
compiled with those -D switches), times the counting kernels at 16M samples (CUDA events,
median of 15) and one small-batch loop, and checks every result against NumPy, so a faster
variant is also a correct one. Prints a table and writes JSON:

    python benchmarks/sweep_gpu.py [--json sweep.json] [--variants NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

VARIANTS = {
    "original": "-DMC_UNROLL=1 -DMC_AGG_SHARED=0 -DMC_AGG_GLOBAL=0 -DMC_REG_COUNTS=0",
    "unroll4": "-DMC_UNROLL=4 -DMC_AGG_SHARED=0 -DMC_AGG_GLOBAL=0 -DMC_REG_COUNTS=0",
    "unroll1+lanes": "-DMC_UNROLL=1 -DMC_AGG_SHARED=0 -DMC_AGG_GLOBAL=0 -DMC_REG_COUNTS=1",
    "unroll4+lanes": "-DMC_UNROLL=4 -DMC_AGG_SHARED=0 -DMC_AGG_GLOBAL=0 -DMC_REG_COUNTS=1",
    "unroll8+lanes": "-DMC_UNROLL=8 -DMC_AGG_SHARED=0 -DMC_AGG_GLOBAL=0 -DMC_REG_COUNTS=1",
    "unroll4+lanes+aggS": "-DMC_UNROLL=4 -DMC_AGG_SHARED=1 -DMC_AGG_GLOBAL=0 -DMC_REG_COUNTS=1",
    "unroll4+lanes+aggG": "-DMC_UNROLL=4 -DMC_AGG_SHARED=0 -DMC_AGG_GLOBAL=1 -DMC_REG_COUNTS=1",
}


def run_variant():
    """The child: times and checks every case with the current options; one JSON line."""
    import cupy as cp
    import numpy as np

    from bench_gpu import _loop_timer, _timer  # the same timers as the benchmark (this dir)
    from metricore._backends.cuda import BACKEND as MC, Workspace

    n = 1 << 24
    rng = np.random.default_rng(0)
    t8 = (rng.random(n) < 0.5).astype(np.int8)
    p32 = rng.random(n).astype(np.float32)
    w = rng.random(n)
    ids_t = rng.integers(0, 1000, n).astype(np.int32)
    ids_p = rng.integers(0, 1000, n).astype(np.int32)
    d_t, d_p, d_w = cp.asarray(t8)[:, None], cp.asarray(p32)[:, None], cp.asarray(w)[:, None]
    d_it, d_ip = cp.asarray(ids_t), cp.asarray(ids_p)
    d_it10, d_ip10 = d_it % 10, d_ip % 10
    thr1, thr200 = np.array([0.5]), np.linspace(0, 1, 200)
    thr65k = np.linspace(0, 1, 65535)

    def counts_ref(thr, weights=None):
        b = np.searchsorted(thr, p32.astype(np.float64), side="left")  # thresholds below
        T = len(thr)
        hist = np.stack([np.bincount(b[t8 == v], None if weights is None else weights[t8 == v],
                                     minlength=T + 1) for v in (0, 1)])
        return hist

    cases = {}

    def threshold_case(name, thr, weighted):
        T = len(thr)
        out = cp.zeros((4, T, 1), cp.float64 if weighted else cp.int64)
        err, ws, d_thr = MC.new_error_record(out), Workspace(), cp.asarray(thr)
        fn = lambda: MC.threshold_counts(d_t, d_p, d_w if weighted else None, d_thr, 0, -1,  # noqa
                                         out, error=err, workspace=ws)

        def check():
            hist = counts_ref(thr, w if weighted else None)
            tp = hist[1][::-1].cumsum()[::-1][1:]  # buckets above threshold t
            got = out.get()[:, :, 0]
            np.testing.assert_allclose(got[0], tp, rtol=1e-9) if weighted else \
                np.testing.assert_array_equal(got[0], tp)
        cases[name] = (fn, out, err, check, n * (5 + (8 if weighted else 0)))

    threshold_case("binary_counts_16M", thr1, False)
    threshold_case("binary_counts_weighted_16M", thr1, True)
    threshold_case("thresholds_200_16M", thr200, False)

    def confusion_case(name, C, t, p, ht, hp):
        out = cp.zeros((C, C), cp.int64)
        err, ws = MC.new_error_record(out), Workspace()
        fn = lambda: MC.confusion_matrix(t, p, None, None, out, error=err, workspace=ws)  # noqa

        def check():
            want = np.bincount(ht.astype(np.int64) * C + hp, minlength=C * C).reshape(C, C)
            np.testing.assert_array_equal(out.get(), want)
        cases[name] = (fn, out, err, check, n * 8)

    confusion_case("confusion_10_16M", 10, d_it10, d_ip10, ids_t % 10, ids_p % 10)
    confusion_case("confusion_1000_16M", 1000, d_it, d_ip, ids_t, ids_p)

    out65 = cp.zeros((2, 65536, 1), cp.int64)
    err65, ws65, d_thr65 = MC.new_error_record(out65), Workspace(), cp.asarray(thr65k)

    def hist_check():
        np.testing.assert_array_equal(out65.get()[:, :, 0], counts_ref(thr65k))
    cases["histogram_65536_16M"] = (
        lambda: MC.score_histogram(d_t, d_p, None, d_thr65, -1, out65, None, error=err65,
                                   workspace=ws65), out65, err65, hist_check, n * 5)

    result = {}
    for name, (fn, out, err, check, nbytes) in cases.items():
        fn()  # compile, allocate
        out.fill(0)
        fn()
        cp.cuda.get_current_stream().synchronize()
        MC.check(err)
        check()  # one call's result equals NumPy's
        result[name] = {"ms": _timer(cp, fn, 15, warmup=0), "bytes": nbytes}

    # small batches: per-call microseconds of back-to-back calls
    small_t, small_p = d_t[:1024], d_p[:1024]
    out = cp.zeros((4, 1, 1), cp.int64)
    err, ws, d_thr = MC.new_error_record(out), Workspace(), cp.asarray(thr1)
    call = lambda: MC.threshold_counts(small_t, small_p, None, d_thr, 0, -1, out, error=err,  # noqa
                                       workspace=ws)
    result["binary_counts_batch1024_us"] = _loop_timer(cp, call, 200)
    print(json.dumps(result))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        run_variant()
        return 0
    report = {}
    for name in args.variants:
        env = dict(os.environ, METRICORE_NVRTC_OPTIONS=VARIANTS[name])
        proc = subprocess.run([sys.executable, __file__, "--child"], env=env,
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            report[name] = {"failed": proc.stderr[-1500:]}
            print(f"{name}: FAILED\n{proc.stderr[-1500:]}", flush=True)
            continue
        report[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        row = report[name]
        cells = "  ".join(f"{k.replace('_16M', '')} {v['ms']:.3f}" for k, v in row.items()
                          if isinstance(v, dict))
        print(f"{name:22s} {cells}  batch1024 {row['binary_counts_batch1024_us']:.1f} us",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"variants": VARIANTS, "results": report}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
