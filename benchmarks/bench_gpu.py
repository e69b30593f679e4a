"""GPU update cost: metricore's CUDA kernels vs torchmetrics (CUDA) vs plain CuPy / torch.

Cases (each timed with CUDA events on one stream, after a warm-up that compiles):
  binary_counts_16M      TP/FP/TN/FN at one threshold, 16M samples (int8 labels, f32 scores)
  confusion_10_16M       10-class confusion matrix, 16M int32 label pairs
  confusion_1000_16M     1000-class confusion matrix, 16M int32 label pairs
  histogram_65536_16M    positive/negative score histograms over 65,536 buckets, 16M samples
  metric_*               whole metric update_state calls (Precision, AUC at 200 bins,
                         SparseCategoricalAccuracy over 10 classes) vs torchmetrics' update
  *_batch1024            the same at batch 1024: per-call microseconds (launch-bound)

The bandwidth floor is measured in the same run: a device-to-device copy and a sum of a
large buffer give the achievable read bandwidth, and a case's floor is its input bytes over
it (what any implementation must at least read). Writes JSON with every timing:

    python benchmarks/bench_gpu.py --json bench_gpu.json [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def _timer(cp, fn, reps, warmup=2):
    """Median milliseconds per call of fn() over `reps` calls (CUDA events, one stream)."""
    for _ in range(warmup):
        fn()
    cp.cuda.get_current_stream().synchronize()
    times = []
    for _ in range(reps):
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop))
    return float(np.median(times))


def _loop_timer(cp, fn, calls, reps=5):
    """Per-call microseconds of `calls` back-to-back calls (small batches: launch overhead
    and host-side work included, as a training loop would see them)."""
    fn()
    cp.cuda.get_current_stream().synchronize()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        cp.cuda.get_current_stream().synchronize()
        best = min(best, (time.perf_counter() - t0) / calls * 1e6)
    return best


def bandwidth(cp, nbytes=1 << 30):
    """(copy GB/s counting read + write, reduction read GB/s) on this device."""
    src = cp.ones(nbytes // 4, dtype=cp.float32)
    dst = cp.empty_like(src)
    copy_ms = _timer(cp, lambda: cp.copyto(dst, src), 10)
    sum_ms = _timer(cp, lambda: src.sum(), 10)
    return 2 * nbytes / copy_ms / 1e6, nbytes / sum_ms / 1e6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--quick", action="store_true", help="1M samples instead of 16M")
    args = ap.parse_args(argv)

    import cupy as cp

    import metricore as mc
    from metricore._backends.cuda import BACKEND as MC, Workspace

    try:
        import torch
        has_torch = torch.cuda.is_available()
    except ImportError:
        has_torch = False
    try:
        import torchmetrics.classification as tmc
    except ImportError:
        tmc = None

    n = (1 << 20) if args.quick else (1 << 24)
    reps = 10
    rng = np.random.default_rng(0)
    dev = cp.cuda.Device()
    copy_bw, read_bw = bandwidth(cp)
    meta = {"device": cp.cuda.runtime.getDeviceProperties(dev.id)["name"].decode(),
            "n": n, "copy_GBps": copy_bw, "read_GBps": read_bw,
            "cupy": cp.__version__, "torch": torch.__version__ if has_torch else None}
    results = []

    def record(case, impl, ms=None, us_per_call=None, input_bytes=None, note=None):
        row = {"case": case, "impl": impl, "ms": ms, "us_per_call": us_per_call, "note": note}
        if ms is not None and input_bytes:
            floor_ms = input_bytes / read_bw / 1e6
            row.update(floor_ms=floor_ms, pct_of_floor=100 * floor_ms / ms)
        results.append(row)
        shown = f"{ms:9.3f} ms" if ms is not None else f"{us_per_call:9.1f} us/call" \
            if us_per_call is not None else "    n/a"
        print(f"{case:24s} {impl:22s} {shown}  {note or ''}", flush=True)

    def attempt(case, impl, fn, input_bytes=None, small=False):
        try:
            if small:
                record(case, impl, us_per_call=_loop_timer(cp, fn, 200))
            else:
                record(case, impl, ms=_timer(cp, fn, reps), input_bytes=input_bytes)
        except Exception as exc:  # one unavailable library must not end the run
            record(case, impl, note=f"failed: {type(exc).__name__}: {exc}"[:200])

    def tt(a):
        return torch.as_tensor(a, device="cuda") if has_torch else None

    # ---------------------------------------------------------------- binary counts
    def binary_case(m, small):
        case = "binary_counts_" + ("batch1024" if small else f"{m >> 20}M")
        t_h = (rng.random(m) < 0.5).astype(np.int8)
        p_h = rng.random(m).astype(np.float32)
        t, p = cp.asarray(t_h)[:, None], cp.asarray(p_h)[:, None]
        thr = cp.asarray([0.5])
        out = cp.zeros((4, 1, 1), cp.int64)
        err, ws = MC.new_error_record(out), Workspace()
        attempt(case, "metricore", lambda: MC.threshold_counts(t, p, None, thr, 0, -1, out,
                                                               error=err, workspace=ws),
                m * 5, small)
        tc, pc = t[:, 0], p[:, 0]

        def plain_cupy():
            pred, truth = pc > 0.5, tc == 1
            return cp.count_nonzero(pred & truth), cp.count_nonzero(pred), cp.count_nonzero(truth)
        attempt(case, "cupy", plain_cupy, m * 5, small)
        if has_torch:
            tt_, pt_ = tt(t_h), tt(p_h)

            def plain_torch():
                pred, truth = pt_ > 0.5, tt_ == 1
                return (pred & truth).sum(), pred.sum(), truth.sum()
            attempt(case, "torch", plain_torch, m * 5, small)
            if tmc is not None:
                metric = tmc.BinaryStatScores(validate_args=False).cuda()
                attempt(case, "torchmetrics", lambda: metric.update(pt_, tt_), m * 5, small)

    # ---------------------------------------------------------------- confusion
    def confusion_case(m, C, small):
        case = f"confusion_{C}_" + ("batch1024" if small else f"{m >> 20}M")
        t_h = rng.integers(0, C, m).astype(np.int32)
        p_h = rng.integers(0, C, m).astype(np.int32)
        t, p = cp.asarray(t_h), cp.asarray(p_h)
        out = cp.zeros((C, C), cp.int64)
        err, ws = MC.new_error_record(out), Workspace()
        attempt(case, "metricore", lambda: MC.confusion_matrix(t, p, None, None, out,
                                                               error=err, workspace=ws),
                m * 8, small)
        attempt(case, "cupy", lambda: cp.bincount(t * C + p, minlength=C * C), m * 8, small)
        if has_torch:
            tt_, pt_ = tt(t_h).long(), tt(p_h).long()
            attempt(case, "torch", lambda: torch.bincount(tt_ * C + pt_, minlength=C * C),
                    m * 8, small)
            if tmc is not None:
                metric = tmc.MulticlassConfusionMatrix(C, validate_args=False).cuda()
                attempt(case, "torchmetrics", lambda: metric.update(pt_, tt_), m * 8, small)

    # ---------------------------------------------------------------- histogram
    def histogram_case(m, small):
        T = 65535  # 65,536 buckets
        case = "histogram_65536_" + ("batch1024" if small else f"{m >> 20}M")
        t_h = (rng.random(m) < 0.5).astype(np.int8)
        p_h = rng.random(m).astype(np.float32)
        t, p = cp.asarray(t_h)[:, None], cp.asarray(p_h)[:, None]
        thr_h = np.linspace(0, 1, T)
        thr = cp.asarray(thr_h)
        out = cp.zeros((2, T + 1, 1), cp.int64)
        err, ws = MC.new_error_record(out), Workspace()
        attempt(case, "metricore", lambda: MC.score_histogram(t, p, None, thr, -1, out, None,
                                                              error=err, workspace=ws),
                m * 5, small)
        tc, pc = t[:, 0].astype(cp.int64), p[:, 0]

        def plain_cupy():
            b = cp.searchsorted(thr, pc, side="left")
            return cp.bincount(b + (T + 1) * tc, minlength=2 * (T + 1))
        attempt(case, "cupy", plain_cupy, m * 5, small)
        if has_torch:
            tt_, pt_, thr_t = tt(t_h).long(), tt(p_h).double(), tt(thr_h)
            p32 = tt(p_h)

            def plain_torch():
                b = torch.bucketize(pt_, thr_t, right=False)
                return torch.bincount(b + (T + 1) * tt_, minlength=2 * (T + 1))
            attempt(case, "torch", plain_torch, m * 5, small)
            if tmc is not None and small:  # binned curves at 16M x 65,536 exceed memory
                metric = tmc.BinaryPrecisionRecallCurve(thresholds=T + 1,
                                                        validate_args=False).cuda()
                attempt(case, "torchmetrics", lambda: metric.update(p32, tt_), m * 5, small)

    # ---------------------------------------------------------------- metric objects
    def metric_case(m, small):
        """Whole update_state calls (validation, dispatch, kernels) of metric objects."""
        suffix = "batch1024" if small else f"{m >> 20}M"
        t_h = (rng.random(m) < 0.5).astype(np.int8)
        p_h = rng.random(m).astype(np.float32)
        ids_h = rng.integers(0, 10, m).astype(np.int64)
        probs_h = rng.random((m, 10)).astype(np.float32) if m <= (1 << 22) else None
        t, p, ids = cp.asarray(t_h), cp.asarray(p_h), cp.asarray(ids_h)
        pairs = [("Precision", mc.Precision, lambda mt: mt.update_state(t, p),
                  "BinaryPrecision", lambda: tmc.BinaryPrecision(validate_args=False),
                  (p_h, t_h), m * 5),
                 ("AUC_200", lambda: mc.AUC(num_thresholds=200), lambda mt: mt.update_state(t, p),
                  "BinaryAUROC_200", lambda: tmc.BinaryAUROC(thresholds=200, validate_args=False),
                  (p_h, t_h), m * 5)]
        if probs_h is not None:
            probs = cp.asarray(probs_h)
            pairs.append(("SparseCategoricalAccuracy", mc.SparseCategoricalAccuracy,
                          lambda mt: mt.update_state(ids, probs), "MulticlassAccuracy_micro",
                          lambda: tmc.MulticlassAccuracy(10, average="micro",
                                                         validate_args=False),
                          (probs_h, ids_h), m * 48))
        for name, make, step, tm_name, tm_make, tm_data, nbytes in pairs:
            metric = make()
            attempt(f"metric_{name}_{suffix}", "metricore", lambda: step(metric), nbytes, small)
            if has_torch and tmc is not None:
                tm_metric = tm_make().cuda()
                a, b = tt(tm_data[0]), tt(tm_data[1]).long()
                attempt(f"metric_{name}_{suffix}", f"torchmetrics {tm_name}",
                        lambda: tm_metric.update(a, b), nbytes, small)

    for small, m in ((False, n), (True, 1024)):
        binary_case(m, small)
        confusion_case(m, 10, small)
        confusion_case(m, 1000, small)
        histogram_case(m, small)
        metric_case(m, small)

    report = {"meta": meta, "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
