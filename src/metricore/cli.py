"""The ``metricore`` command: score prediction files, merge saved states, run a demo.

    metricore score preds.parquet --y-true label --y-pred score -m auroc -m binary_accuracy
    metricore score 'day=*/part-*.parquet' --y-true y --y-pred p0 --y-pred p1 --y-pred p2 \\
        --weight w --by country -m sparse_categorical_accuracy --json --save-state day.npz
    metricore merge day1.npz day2.npz -o week.npz
    metricore demo

Exit status: 0 success, 2 usage error (unknown metric, missing column, bad option: the
message names it), 1 data error (corrupt or truncated file, null, bad label or weight: the
message names the file, row group, column and row). User mistakes never print a
traceback. Needs the ``cli`` extra (``pip install "metricore[cli]"``).
"""

from __future__ import annotations

import inspect
import json
import math
import os
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

import click
import numpy as np

import metricore
from metricore.io import DataError, UsageError

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2


# ------------------------------------------------------------------ helpers
def build_collection(specs: Sequence[str], backend: Optional[str] = None, fuse: bool = True):
    """A MetricCollection from ``--metric`` specs; names are the metrics' own, or the spec
    text where two specs give the same name. UsageError for a bad spec."""
    from metricore.metrics.registry import get

    if not specs:
        raise UsageError("give at least one --metric (e.g. -m auroc); `metricore metrics` "
                         "lists them")
    built = []
    for spec in specs:
        try:
            metric = get(spec, backend=backend) if backend else get(spec)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"--metric {spec!r}: {exc}") from None
        params = list(inspect.signature(metric.update_state).parameters)
        if len(params) < 3 and not any(
                inspect.signature(metric.update_state).parameters[p].kind
                == inspect.Parameter.VAR_POSITIONAL for p in params):
            raise UsageError(f"--metric {spec!r}: {type(metric).__name__} takes values, not "
                             "(y_true, y_pred); it cannot score predictions")
        built.append((spec, metric))
    counts: Dict[str, int] = {}
    for _, m in built:
        counts[m.name] = counts.get(m.name, 0) + 1
    named = {}
    for spec, m in built:
        name = m.name if counts[m.name] == 1 else spec
        if name in named:
            raise UsageError(f"--metric {spec!r} is given twice")
        named[name] = m
    return metricore.MetricCollection(named, fuse=fuse)


def results_with_warnings(target):
    """``target.result()``, its warnings (e.g. an undefined AUC) printed once each to stderr
    as one line, not as Python's file:line warning text."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = target.result()
    seen = set()
    for w in caught:
        text = str(w.message)
        if text not in seen:
            seen.add(text)
            click.echo(f"metricore: warning: {text}", err=True)
    return results


def plain(value):
    """A result as JSON-ready Python (NaN/inf become None)."""
    if isinstance(value, dict):
        return {json_key(k): plain(v) for k, v in value.items()}
    arr = np.asarray(value)
    if arr.ndim:
        return [plain(v) for v in arr.tolist()] if arr.dtype.kind == "f" else arr.tolist()
    v = arr.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def json_key(key) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def nest_groups(results: Dict[str, Any]) -> Dict[str, Any]:
    """Grouped results with multi-column keys (see ``metricore.io.group_keys``) as nested
    dicts, one level per ``--by`` column."""
    from metricore.io import split_group_key

    out = {}
    for name, groups in results.items():
        if not isinstance(groups, dict):
            out[name] = groups
            continue
        nested: Dict[Any, Any] = {}
        for key, value in groups.items():
            parts = split_group_key(key)
            node = nested
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
        out[name] = nested
    return out


def format_value(value) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        v = arr.item()
        if isinstance(v, bool):
            return str(v)
        if isinstance(v, int):
            return f"{v:,}"
        if isinstance(v, float):
            if not math.isfinite(v):
                return "nan" if v != v else str(v)
            if v == int(v) and abs(v) < 1e15 and arr.dtype.kind in "iu":
                return f"{int(v):,}"
            return f"{v:.6g}"
        return str(v)
    if arr.ndim == 2 and arr.shape[0] <= 12 and arr.shape[1] <= 12:
        cells = [[format_value(v) for v in row] for row in arr]
        width = max(len(c) for row in cells for c in row)
        return "\n".join(" ".join(c.rjust(width) for c in row) for row in cells)
    if arr.ndim > 1 or arr.size > 12:
        return f"array of shape {arr.shape} (see --json)"
    return "[" + ", ".join(format_value(v) for v in arr.reshape(-1)) + "]"


def _sorted_groups(keys):
    try:
        return sorted(keys, key=lambda k: (k is None, k))
    except TypeError:
        return list(keys)


def render_table(results: Dict[str, Any], by: Sequence[str] = (), title: Optional[str] = None,
                 file=None) -> None:
    """A rich table: metric | value, or one row per group with a column per metric."""
    from rich.console import Console
    from rich.table import Table

    from metricore.io import split_group_key

    file = file or sys.stdout
    console = Console(file=file, width=None if file.isatty() else 200, soft_wrap=False,
                      highlight=False)
    grouped = any(isinstance(v, dict) for v in results.values())
    if title:
        console.print(title)
    table = Table()
    if not grouped:
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name, value in results.items():
            table.add_row(name, format_value(value))
    else:
        keys: List[Any] = []
        for groups in results.values():
            for k in groups:
                if k not in keys:
                    keys.append(k)
        keys = _sorted_groups(keys)
        depth = max((len(split_group_key(k)) for k in keys), default=1)
        names = list(by) if len(by) == depth else [f"group{i or ''}" for i in range(depth)]
        for n in names:
            table.add_column(n)
        for name in results:
            table.add_column(name, justify="right")
        for k in keys:
            cells = [json_key(p) for p in split_group_key(k)]
            cells += [format_value(results[name][k]) if k in results[name] else "-"
                      for name in results]
            table.add_row(*cells)
    console.print(table)


def print_results(results, as_json: bool, by: Sequence[str] = (), title=None) -> None:
    if as_json:
        click.echo(json.dumps(plain(nest_groups(results)), allow_nan=False))
    else:
        render_table(results, by, title=title)


class _Progress:
    """A rich progress bar on stderr (rows, rows/s, ETA); a no-op when disabled."""

    def __init__(self, enabled: bool, total: Optional[int], label: str = "scoring"):
        self.bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn,
                                   SpinnerColumn, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task):
                speed = task.finished_speed or task.speed
                return Text("" if speed is None else f"{speed / 1e6:,.1f} M rows/s")

        columns = [SpinnerColumn(), TextColumn("{task.description}")]
        columns += [BarColumn(), MofNCompleteColumn()] if total else [
            TextColumn("{task.completed:,} rows")]
        columns += [Rate(), TimeElapsedColumn()] + ([TimeRemainingColumn()] if total else [])
        self.bar = Progress(*columns, console=Console(stderr=True), transient=False)
        self.task = self.bar.add_task(label, total=total)

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __call__(self, rows: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, rows)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


# ------------------------------------------------------------------ commands
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(metricore.__version__, prog_name="metricore")
def cli():
    """Stateful ML evaluation metrics on native kernels: score prediction files."""


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--y-true", "y_true", required=True, metavar="COL", help="Label column.")
@click.option("--y-pred", "y_pred", required=True, multiple=True, metavar="COL",
              help="Score column: a number per row, a list column (one score per class), or "
                   "repeat --y-pred for one column per class.")
@click.option("--weight", metavar="COL", help="Sample weight column.")
@click.option("--by", multiple=True, metavar="COL",
              help="Group-by column(s): results per group (repeatable).")
@click.option("-m", "--metric", "metrics", multiple=True, metavar="NAME[:k=v,...]",
              help="A metric, e.g. auroc, precision:thresholds=[0.3,0.5] (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["auto", "parquet", "csv"]),
              default="auto", show_default=True, help="Input format (auto: by suffix).")
@click.option("--delimiter", metavar="CHAR", help="CSV delimiter (default , or tab for .tsv).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--save-state", type=click.Path(dir_okay=False), metavar="PATH",
              help="Save the metrics' state (.npz) for `metricore merge`.")
@click.option("--batch-size", type=click.IntRange(1), default=1 << 20, show_default=True,
              help="Rows per read when a row group is large.")
@click.option("--backend", type=click.Choice(["cpp", "numba"]), help="CPU kernels.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("--scheduler", metavar="ADDRESS", help="Score on this Dask cluster.")
@click.option("--workers", type=click.IntRange(1), metavar="N",
              help="Start a local Dask cluster of N worker processes.")
@click.option("--no-fuse", is_flag=True, help="Update metrics one by one (for comparison).")
def score(paths, y_true, y_pred, weight, by, metrics, fmt, delimiter, as_json, save_state,
          batch_size, backend, progress, scheduler, workers, no_fuse):
    """Score prediction files (Parquet/CSV files, directories or globs)."""
    from metricore import io

    collection = build_collection(metrics, backend=backend, fuse=not no_fuse)
    if scheduler and workers:
        raise UsageError("give --scheduler or --workers, not both")
    columns = io.Columns(y_true, list(y_pred), weight, list(by))
    files = io.find_files(paths, fmt)
    start = time.perf_counter()
    if scheduler or workers:
        collection, rows = _score_dask(files, collection, columns, scheduler, workers,
                                       batch_size, delimiter)
    else:
        infos = io.inspect_files(files, columns, csv_delimiter=delimiter)
        total = sum(i.num_rows for i in infos) if all(
            i.num_rows is not None for i in infos) else None
        show = sys.stderr.isatty() if progress is None else progress
        with _Progress(show, total) as bar:
            rows = io.update_from_files(collection, infos, columns, batch_size=batch_size,
                                        progress=bar, csv_delimiter=delimiter)
    elapsed = time.perf_counter() - start
    results = results_with_warnings(collection)
    if save_state:
        collection.save_state(save_state)
    title = None if as_json else (
        f"{rows:,} rows from {len(files)} file{'s' if len(files) != 1 else ''} in "
        f"{elapsed:.2f} s ({rows / max(elapsed, 1e-9) / 1e6:,.1f} M rows/s)")
    print_results(results, as_json, by, title=title)


def _score_dask(files, collection, columns, scheduler, workers, batch_size, delimiter):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--scheduler/--workers need Dask: pip install "
                         "'metricore[dask]'") from None
    from metricore import dask as mdask

    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="10s")
            except OSError as exc:
                raise UsageError(f"--scheduler {scheduler!r}: cannot connect ({exc})") from None
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0")
            client = Client(cluster)
        try:
            state, rows = mdask.score_files(files, collection, columns, client=client,
                                            batch_size=batch_size, csv_delimiter=delimiter)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
    return state, rows


@cli.command()
@click.argument("states", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="PATH",
              help="Write the merged state here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("-q", "--quiet", is_flag=True, help="Print no results.")
def merge(states, output, as_json, quiet):
    """Merge saved states (from --save-state) and print the results."""
    load = getattr(metricore, "load", None)
    if load is None:
        raise UsageError("merge needs metricore.load, which this metricore lacks")
    loaded = []
    for path in states:
        if not os.path.isfile(path):
            raise UsageError(f"no such state file: {path!r}")
        try:
            loaded.append(load(path))
        except Exception as exc:  # a file we cannot read is the data's fault
            raise DataError(f"cannot load the state ({type(exc).__name__}: {exc})",
                            path=path) from None
    merged = loaded[0]
    if len(loaded) > 1:
        try:
            merged.merge_state(loaded[1:])
        except (ValueError, TypeError) as exc:
            raise DataError(f"the states cannot be merged: {exc}") from None
    if output:
        merged.save_state(output) if hasattr(merged, "save_state") else merged.save(output)
    if not quiet:
        results = results_with_warnings(merged)
        if not isinstance(results, dict):
            results = {merged.name: results}
        print_results(results, as_json)


@cli.command("metrics")
def list_metrics():
    """List the metric names --metric takes, with their arguments."""
    from metricore.metrics.registry import _classes, _ALIASES
    from metricore.metrics.base import _snake_case

    classes = _classes()
    for cls_name in sorted(classes, key=lambda n: _snake_case(n)):
        cls = classes[cls_name]
        params = [p for p in inspect.signature(cls.__init__).parameters.values()
                  if p.name not in ("self", "name", "dtype", "backend")
                  and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        args = ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}"
                         for p in params)
        aliases = [a for a, c in _ALIASES.items() if c == cls_name]
        alias = f"  (alias: {', '.join(aliases)})" if aliases else ""
        click.echo(f"{_snake_case(cls_name).replace('io_u', 'iou'):36s} {args}{alias}")


@cli.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), metavar="DIR",
              help="Where to write demo.parquet (default: a new temporary directory).")
@click.option("--rows", type=click.IntRange(1), default=1_000_000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON objects.")
@click.option("--progress/--no-progress", default=None)
def demo(directory, rows, as_json, progress):
    """Write a generated prediction file and score it (binary, by segment; multiclass)."""
    from metricore._demo import write_demo

    directory = directory or tempfile.mkdtemp(prefix="metricore-demo-")
    os.makedirs(directory, exist_ok=True)
    path = write_demo(os.path.join(directory, "demo.parquet"), rows)
    binary = ["auroc", "average_precision", "auc", "binary_accuracy", "precision", "recall",
              "calibration_error"]
    multi = ["sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy:k=2",
             "auroc:task=multiclass,num_classes=5", "confusion_matrix:num_classes=5"]
    runs = [["--y-true", "label", "--y-pred", "score", "--weight", "weight"]
            + ["--by", "segment"]
            + [a for m in binary for a in ("-m", m)],
            ["--y-true", "class", "--y-pred", "probs"]
            + [a for m in multi for a in ("-m", m)]]
    for args in runs:
        argv = [path] + args + (["--json"] if as_json else [])
        if progress is not None:
            argv.append("--progress" if progress else "--no-progress")
        if not as_json:
            click.echo("$ metricore score " + " ".join(_quote(a) for a in argv), err=False)
        score.main(argv, prog_name="metricore score", standalone_mode=False)
        if not as_json:
            click.echo()


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


# ------------------------------------------------------------------ entry point
def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line; returns the exit status (0 ok, 1 data error, 2 usage error)."""
    try:
        rv = cli.main(args=list(argv) if argv is not None else None, prog_name="metricore",
                      standalone_mode=False)
        return rv if isinstance(rv, int) else EXIT_OK
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        return EXIT_DATA
    except click.ClickException as exc:  # click's own usage errors: exit 2
        exc.show()
        return exc.exit_code
    except UsageError as exc:
        click.echo(f"metricore: error: {exc}", err=True)
        return EXIT_USAGE
    except DataError as exc:
        click.echo(f"metricore: data error: {exc}", err=True)
        return EXIT_DATA
    except KeyboardInterrupt:
        click.echo("metricore: interrupted", err=True)
        return 130
    except BrokenPipeError:  # `metricore score ... | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
