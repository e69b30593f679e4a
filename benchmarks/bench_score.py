"""Throughput of ``metricore score`` on a generated Parquet file, next to a bare pyarrow read
of the same columns and to pandas + scikit-learn doing the same job.

    python benchmarks/bench_score.py                 # 10^8 rows (about 1 GB on disk)
    python benchmarks/bench_score.py --rows 2e6      # quick
    python benchmarks/bench_score.py --rows 1e7 --by # also the job per segment

The file (``--path``, default in the temp directory, reused when it exists with the same
row count) holds ``label`` (int8, binary), ``score`` (float32), ``weight`` (float32) and
``segment`` (string, 8 values), in row groups of 2^20 rows. The job: weighted AUC (Keras'
200-threshold ROC AUC), BinaryAccuracy, Precision, Recall and TruePositives
(``metricore score file -m auc -m binary_accuracy -m precision -m recall -m
true_positives --weight weight``); pandas + scikit-learn computes roc_auc_score (exact, the
nearest it has), accuracy_score, precision_score, recall_score and the weighted true
positives.

Every case runs in its own child process, which reports its wall time (imports excluded)
and its peak resident memory (VmHWM on Linux, else ``resource.getrusage``); the file is read from the page
cache after the first pass (all cases alike). Rates are M rows/s; ratios are against the
bare pyarrow read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

COLUMNS = ["label", "score", "weight"]
METRICS = ["auc", "binary_accuracy", "precision", "recall", "true_positives"]
SEGMENTS = ["north", "south", "east", "west", "web", "ios", "android", "partner"]


def generate(path: str, rows: int, seed: int = 0) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    chunk = 1 << 22
    writer = None
    segments = pa.array(SEGMENTS)
    try:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            label = (rng.random(n, dtype=np.float32) < 0.3).astype(np.int8)
            score = np.clip(rng.random(n, dtype=np.float32) * np.float32(0.7)
                            + label * np.float32(0.3), 0, 1).astype(np.float32)
            weight = (rng.random(n, dtype=np.float32) + np.float32(0.5)).astype(np.float32)
            seg = pa.DictionaryArray.from_arrays(
                pa.array(rng.integers(0, len(SEGMENTS), n).astype(np.int32)), segments)
            table = pa.table({"label": label, "score": score, "weight": weight,
                              "segment": seg.cast(pa.string())})
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=1 << 20)
    finally:
        if writer is not None:
            writer.close()


# ------------------------------------------------------------------ children
def _peak_rss_mib() -> float:
    """This process's peak resident memory. Linux's ``getrusage`` maxrss carries the
    parent's peak across fork + exec, so /proc's VmHWM (reset by exec) is read there."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def child(case: str, path: str, by: bool) -> dict:
    columns = COLUMNS + (["segment"] if by else [])
    if case == "read_table":
        import pandas  # noqa: F401  (read_table imports it on first use: not timed)
        import pyarrow.parquet as pq

        t0 = time.perf_counter()
        rows = pq.read_table(path, columns=columns).num_rows
    elif case == "read_stream":
        import pyarrow.parquet as pq

        t0 = time.perf_counter()
        # the segment strings as dictionary arrays, as metricore reads group-by columns
        pf = pq.ParquetFile(path, read_dictionary=["segment"] if by else None)
        rows = 0
        for i in range(pf.num_row_groups):
            rows += pf.read_row_group(i, columns=columns).num_rows
    elif case == "metricore":
        import contextlib
        import io

        # Imports are excluded from the timing, as for the other cases (the kernels load
        # lazily, on the first batch, and are timed).
        import pyarrow.compute  # noqa: F401
        import pyarrow.parquet  # noqa: F401
        import rich.table  # noqa: F401

        from metricore import cli

        argv = ["score", path, "--y-true", "label", "--y-pred", "score", "--weight", "weight",
                "--json", "--no-progress"] + [a for m in METRICS for a in ("-m", m)]
        if by:
            argv += ["--by", "segment"]
        out = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(out):
            code = cli.main(argv)
        if code:
            raise SystemExit(f"metricore score failed with exit status {code}")
        import pyarrow.parquet as pq

        rows = pq.read_metadata(path).num_rows
    elif case == "pandas_sklearn":
        import numpy as np
        import pandas as pd
        from sklearn import metrics as skm

        t0 = time.perf_counter()
        df = pd.read_parquet(path, columns=columns)
        rows = len(df)

        def job(d):
            y, p, w = d["label"].to_numpy(), d["score"].to_numpy(), d["weight"].to_numpy()
            hard = p > 0.5
            return [skm.roc_auc_score(y, p, sample_weight=w),
                    skm.accuracy_score(y, hard, sample_weight=w),
                    skm.precision_score(y, hard, sample_weight=w),
                    skm.recall_score(y, hard, sample_weight=w),
                    float(np.sum(w[hard & (y == 1)], dtype=np.float64))]

        if by:
            [job(g) for _, g in df.groupby("segment", observed=True)]
        else:
            job(df)
    else:
        raise SystemExit(f"unknown case {case!r}")
    seconds = time.perf_counter() - t0
    return {"case": case, "rows": rows, "seconds": seconds, "peak_rss_mib": _peak_rss_mib()}


def run_child(case: str, path: str, by: bool) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", case, "--path", path]
    if by:
        cmd.append("--by")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{case} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=float, default=1e8)
    parser.add_argument("--path", help="Parquet file to (re)use")
    parser.add_argument("--repeat", type=int, help="runs per case, best kept "
                        "(default 3 up to 10^7 rows, else 1)")
    parser.add_argument("--by", action="store_true", help="also score per segment")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--json", dest="json_out", help="write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.path, args.by)))
        return
    rows = int(args.rows)
    path = args.path or os.path.join(tempfile.gettempdir(), f"metricore-bench-{rows}.parquet")
    import pyarrow.parquet as pq

    if not (os.path.exists(path) and pq.read_metadata(path).num_rows == rows):
        print(f"writing {rows:,} rows to {path} ...", flush=True)
        t0 = time.perf_counter()
        generate(path, rows)
        print(f"  {time.perf_counter() - t0:.1f} s, {os.path.getsize(path) / 2**20:,.0f} MiB",
              flush=True)
    repeat = args.repeat or (3 if rows <= 10**7 else 1)
    cases = ["read_table", "read_stream", "metricore"] + ([] if args.skip_pandas else
                                                          ["pandas_sklearn"])
    variants = [False] + ([True] if args.by else [])
    results = []
    for by in variants:
        for case in cases:
            runs = []
            for _ in range(repeat):
                runs.append(run_child(case, path, by))
            best = min(runs, key=lambda r: r["seconds"])
            best["by"] = by
            best["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
            results.append(best)
    print(f"\n{rows:,} rows, {os.cpu_count()} CPUs, best of {repeat}; "
          f"job: {', '.join(METRICS)} (weighted)")
    print(f"{'case':28s} {'seconds':>9s} {'M rows/s':>9s} {'vs read_table':>14s} "
          f"{'vs read_stream':>15s} {'peak RSS MiB':>13s}")
    for by in variants:
        base = {r["case"]: r["seconds"] for r in results if r["by"] == by}
        for r in (r for r in results if r["by"] == by):
            name = r["case"] + (" --by segment" if by else "")
            print(f"{name:28s} {r['seconds']:9.3f} {r['rows'] / r['seconds'] / 1e6:9.1f} "
                  f"{r['seconds'] / base['read_table']:13.2f}x "
                  f"{r['seconds'] / base['read_stream']:14.2f}x {r['peak_rss_mib']:13,.0f}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"rows": rows, "path": path, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
