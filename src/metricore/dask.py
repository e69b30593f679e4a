"""Scoring on a Dask cluster: states travel, data stays where it is read.

    >>> import metricore as mc, metricore.dask as mdask            # doctest: +SKIP
    >>> mdask.score("s3://bucket/preds/", {"auroc": mc.AUC(), "acc": mc.BinaryAccuracy()},
    ...             y_true="label", y_pred="score", by="country")  # doctest: +SKIP

Every task (a Dask DataFrame partition, or a run of row groups of a Parquet file / a CSV
file) updates a fresh copy of the metrics with the native kernels, exactly as a single
process would batch by batch, and returns the *state*; the states are merged with
``merge_state`` in a tree (``split_every`` at a time), so what crosses the network is a
few arrays per task whatever the number of rows. Counts are exact (int64) and equal the
single-process ones; float sums agree to rounding.

Files are read by ``metricore.io`` on the workers (the same reader as ``metricore score``:
bounded memory, list columns of class scores, errors naming file / row group / column), so
workers must see the paths. Dask is imported on use only (the ``dask`` extra).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = ["score", "score_state", "score_files"]

Columns = Union[str, Sequence[str]]


def _collection(metrics):
    """A fresh MetricCollection from a dict name -> metric, a MetricCollection, a Metric, or
    a list of metrics / spec strings."""
    from metricore.metrics.base import Metric
    from metricore.metrics.collection import MetricCollection
    from metricore.metrics.registry import get

    if isinstance(metrics, MetricCollection):
        return metrics.fresh()
    if isinstance(metrics, (Metric, str)):
        metrics = [metrics]
    if isinstance(metrics, Mapping):
        return MetricCollection({n: get(m) for n, m in metrics.items()}).fresh()
    return MetricCollection([get(m) for m in metrics]).fresh()


def _columns(y_true, y_pred, sample_weight, by):
    from metricore.io import Columns as Cols

    if by is None:
        by = []
    return Cols(y_true, [y_pred] if isinstance(y_pred, str) else list(y_pred), sample_weight,
                [by] if isinstance(by, str) else list(by))


def score(data, metrics, y_true: str, y_pred: Columns, sample_weight: Optional[str] = None,
          by: Optional[Columns] = None, **kwargs) -> Dict[str, Any]:
    """Scores ``data`` on the current Dask scheduler; returns ``{name: result}``, or
    ``{name: {group: result}}`` with ``by``.

    Args:
        data: a Dask DataFrame, or file paths (Parquet/CSV files, directories, globs).
        metrics: a dict name -> metric (or spec string such as ``"auroc"``), a
            MetricCollection, or a list of metrics / spec strings.
        y_true, y_pred, sample_weight: column names; ``y_pred`` may be a list of columns
            (one per class) or one list-typed column.
        by: group-by column name(s).
        **kwargs: see ``score_state`` (``client``, ``split_every``, ``format``, ...).
    """
    return score_state(data, metrics, y_true, y_pred, sample_weight, by, **kwargs).result()


def score_state(data, metrics, y_true: str, y_pred: Columns,
                sample_weight: Optional[str] = None, by: Optional[Columns] = None, *,
                client=None, split_every: int = 8, format: Optional[str] = None,
                batch_size: int = 1 << 20, rows_per_task: int = 1 << 23,
                csv_delimiter: Optional[str] = None):
    """Like ``score`` but returns the merged MetricCollection (``result()``,
    ``save_state``, ``merge_state`` with other jobs' states).

    Args:
        client: a ``distributed.Client`` (default: dask's current scheduler).
        split_every: states merged per task of the tree reduction.
        format: "parquet" or "csv" for file paths whose suffix does not say.
        rows_per_task: Parquet row groups are grouped into tasks of about this many rows.
    """
    template = _collection(metrics)
    columns = _columns(y_true, y_pred, sample_weight, by)
    if _is_dask_collection(data):
        return _score_frame(data, template, columns, client, split_every)[0]
    from metricore import io

    paths = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    files = io.find_files(paths, format)
    return score_files(files, template, columns, client=client, split_every=split_every,
                       batch_size=batch_size, rows_per_task=rows_per_task,
                       csv_delimiter=csv_delimiter)[0]


def _is_dask_collection(data) -> bool:
    try:
        from dask.base import is_dask_collection
    except ImportError:
        return False
    return is_dask_collection(data)


# ------------------------------------------------------------------ tasks
def _score_infos(template, infos, columns, batch_size, csv_delimiter):
    from metricore import io

    state = template.fresh()
    rows = io.update_from_files(state, infos, columns, batch_size=batch_size,
                                csv_delimiter=csv_delimiter)
    return state, rows


def _score_pandas(template, frame, columns, index):
    import pyarrow as pa

    from metricore import io

    state = template.fresh()
    if len(frame) == 0:
        return state, 0
    table = pa.Table.from_pandas(frame[columns.names], preserve_index=False)
    batch = io.table_to_batch(table, columns, f"partition {index}", None, 0)
    try:
        if columns.by:
            state.update_state(batch.y_true, batch.y_pred, batch.weight, by=batch.by)
        else:
            state.update_state(batch.y_true, batch.y_pred, batch.weight)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, (io.DataError, io.UsageError)):
            raise
        raise io.kernel_error(exc, batch, columns, state) from None
    return state, len(frame)


def _merge(*parts):
    """Merges (state, rows) pairs into the first state (each state is used once)."""
    state, rows = parts[0]
    others = [p[0] for p in parts[1:]]
    if others:
        state.merge_state(others)
    return state, rows + sum(p[1] for p in parts[1:])


def _reduce(parts, split_every: int, client):
    import dask

    if not parts:
        raise ValueError("nothing to score: no partitions or files")
    merge = dask.delayed(_merge, pure=True)
    split_every = max(2, int(split_every))
    level = 0
    while len(parts) > 1:
        parts = [merge(*parts[i:i + split_every],
                       dask_key_name=f"metricore-merge-{level}-{i}-{dask.base.tokenize(*parts[i:i + split_every])}")
                 for i in range(0, len(parts), split_every)]
        level += 1
    final = parts[0]
    if client is not None:
        return client.compute(final).result()
    return final.compute()


def score_files(files: Sequence[Tuple[str, str]], template, columns, *, client=None,
                split_every: int = 8, batch_size: int = 1 << 20, rows_per_task: int = 1 << 23,
                csv_delimiter: Optional[str] = None):
    """Scores ``[(path, format)]`` (see ``metricore.io.find_files``) on Dask: one task per
    run of about ``rows_per_task`` rows of Parquet row groups (never splitting a row group)
    or per CSV file. Returns ``(merged collection, rows)``."""
    import dask

    from metricore import io

    template = template.fresh()
    infos = io.inspect_files(files, columns, csv_delimiter=csv_delimiter)
    units: List[List[io.FileInfo]] = []
    for info in infos:
        if info.row_group_rows is None:
            units.append([info])
            continue
        start, acc = 0, 0
        for i, n in enumerate(info.row_group_rows):
            acc += n
            if acc >= rows_per_task or i == len(info.row_group_rows) - 1:
                part = io.FileInfo(info.path, info.format, info.columns, info.num_rows,
                                   info.row_group_rows, list(range(start, i + 1)),
                                   info.metadata)
                units.append([part])
                start, acc = i + 1, 0
    tmpl = dask.delayed(template, pure=True)
    task = dask.delayed(_score_infos, pure=True)
    parts = [task(tmpl, unit, columns, batch_size, csv_delimiter,
                  dask_key_name=f"metricore-score-{k}-{dask.base.tokenize(unit[0].path, unit[0].row_groups, columns.names)}")
             for k, unit in enumerate(units)]
    return _reduce(parts, split_every, client)


def _score_frame(frame, template, columns, client, split_every):
    import dask

    missing = [c for c in columns.names if c not in frame.columns]
    if missing:
        from metricore.io import UsageError

        raise UsageError(f"column {missing[0]!r} not found in the DataFrame (its columns: "
                         f"{', '.join(map(str, frame.columns))})")
    template = template.fresh()
    tmpl = dask.delayed(template, pure=True)
    task = dask.delayed(_score_pandas, pure=True)
    parts = [task(tmpl, part, columns, k) for k, part in
             enumerate(frame[columns.names].to_delayed())]
    return _reduce(parts, split_every, client)
