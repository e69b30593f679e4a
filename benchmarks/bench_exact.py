"""Exact-mode curve metrics: the cost of ``result()`` (one sort) at 2^20 and 2^24 samples,
side by side with scikit-learn, torchmetrics and NumPy, on one core.

    python benchmarks/bench_exact.py            # 2^20 and 2^24 samples (about two minutes)
    python benchmarks/bench_exact.py --quick    # 2^20 only
    python benchmarks/bench_exact.py --json out.json

For each size the data is one stream of float32 scores (rounded to 1e-4, so there are
ties) and bool labels (half positive), fed in batches of 2^20. Timed per implementation,
best of ``--repeats``:

* ``metricore-cpp`` / ``metricore-numba``: ``AUC(num_thresholds=None)``: the updates
  (appending to the state) and ``result()`` (radix sort + curve) timed separately; then
  ``AUC(num_thresholds=None, curve="PR")`` (average precision), result only.
* ``sklearn``: ``roc_auc_score`` and ``average_precision_score`` on the whole arrays (it
  keeps no state: one call is the whole cost).
* ``torchmetrics``: ``BinaryAUROC(thresholds=None)`` / ``BinaryAveragePrecision``:
  ``update`` per batch, then ``compute()``.
* ``numpy``: the same curve with ``np.argsort(kind="stable")`` and cumulative sums.

Every value is checked against scikit-learn's (1e-12) before the table is printed. Target:
``result()`` at 2^24 in <= 1 s on one core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

try:
    import torch

    torch.set_num_threads(1)
    from torchmetrics.classification import BinaryAUROC, BinaryAveragePrecision
except ImportError:  # pragma: no cover
    torch = None
from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: E402

import metricore as mc  # noqa: E402

BATCH = 1 << 20
TARGET_S = 1.0


def _best(fn, repeats):
    best, value = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def numpy_auc(y, s):
    order = np.argsort(s, kind="stable")[::-1]
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y, dtype=np.int64)[last]
    fps = (last + 1) - tps
    tpr = np.r_[0, tps / tps[-1]]
    fpr = np.r_[0, fps / fps[-1]]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)


def run_size(n, repeats, log):
    rng = np.random.default_rng(n)
    y = rng.random(n) < 0.5
    s = np.round(np.clip(rng.normal(0.5 + 0.1 * y, 0.25), 0, 1), 4).astype(np.float32)
    rows = {}
    t_ref, auc_ref = _best(lambda: roc_auc_score(y, s), 1)
    t_ap, ap_ref = _best(lambda: average_precision_score(y, s), 1)
    rows["sklearn"] = dict(update=None, result=t_ref, ap_result=t_ap, auc=auc_ref, ap=ap_ref)
    log(f"  sklearn        {t_ref:8.3f} s (AUROC)  {t_ap:8.3f} s (AP)")
    for backend in ("cpp", "numba"):
        warm = mc.AUC(num_thresholds=None, backend=backend)
        warm.update_state(y[:1000], s[:1000])
        warm.result()
        m = mc.AUC(num_thresholds=None, backend=backend)
        t0 = time.perf_counter()
        for i in range(0, n, BATCH):
            m.update_state(y[i:i + BATCH], s[i:i + BATCH])
        t_update = time.perf_counter() - t0
        t_result, auc = _best(m.result, repeats)
        pr = mc.AUC(num_thresholds=None, curve="PR", backend=backend)
        pr.load_state(m.state)
        t_pr, ap = _best(pr.result, repeats)
        assert abs(auc - auc_ref) < 1e-12 and abs(ap - ap_ref) < 1e-12, (auc, auc_ref, ap, ap_ref)
        rows[f"metricore-{backend}"] = dict(update=t_update, result=t_result, ap_result=t_pr,
                                            auc=auc, ap=ap)
        log(f"  metricore-{backend:5s} {t_result:8.3f} s (AUROC)  {t_pr:8.3f} s (AP)  "
            f"updates {t_update:.3f} s")
    if torch is not None:
        yt, st = torch.from_numpy(y), torch.from_numpy(s)

        def tm(cls):
            metric = cls(thresholds=None)
            t0 = time.perf_counter()
            for i in range(0, n, BATCH):
                metric.update(st[i:i + BATCH], yt[i:i + BATCH])
            t1 = time.perf_counter()
            value = float(metric.compute())
            return t1 - t0, time.perf_counter() - t1, value

        u, r, auc = tm(BinaryAUROC)
        _, r_ap, ap = tm(BinaryAveragePrecision)
        rows["torchmetrics"] = dict(update=u, result=r, ap_result=r_ap, auc=auc, ap=ap)
        log(f"  torchmetrics   {r:8.3f} s (AUROC)  {r_ap:8.3f} s (AP)  updates {u:.3f} s")
    t_np, auc_np = _best(lambda: numpy_auc(y, s), 1)
    assert abs(auc_np - auc_ref) < 1e-12
    rows["numpy"] = dict(update=None, result=t_np, ap_result=None, auc=auc_np, ap=None)
    log(f"  numpy          {t_np:8.3f} s (AUROC)")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2^20 samples only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    sizes = [1 << 20] if args.quick else [1 << 20, 1 << 24]
    results = {}
    for n in sizes:
        print(f"n = 2^{n.bit_length() - 1} = {n:,} samples (float32 scores with ties)")
        results[n] = run_size(n, args.repeats, print)
    print()
    print("| samples | implementation | AUROC result() s | AP result() s | vs sklearn (AUROC) |")
    print("|---|---|---|---|---|")
    for n, rows in results.items():
        ref = rows["sklearn"]["result"]
        for name, r in rows.items():
            ap = "" if r["ap_result"] is None else f"{r['ap_result']:.3f}"
            print(f"| 2^{n.bit_length() - 1} | {name} | {r['result']:.3f} | {ap} | "
                  f"{ref / r['result']:.1f}x |")
    big = results.get(1 << 24)
    if big:
        ok = all(big[f"metricore-{b}"]["result"] <= TARGET_S for b in ("cpp", "numba"))
        print(f"\ntarget: result() at 2^24 <= {TARGET_S:g} s on one core: "
              f"{'PASS' if ok else 'MISS'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({str(k): v for k, v in results.items()}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
