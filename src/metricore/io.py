"""Reading prediction files for scoring: Parquet and CSV, in bounded memory, as NumPy.

``find_files`` expands paths (files, directories, globs) into files with a format;
``inspect_files`` reads each file's schema (and, for Parquet, its footer: row counts per
row group) and checks the columns; ``iter_batches`` streams the projected columns as
NumPy arrays, one Parquet row group (or CSV block) at a time, read ahead by a background
thread so reading and the metric kernels overlap; ``update_from_files`` feeds a metric or
collection with them.

Columns become NumPy arrays without a copy where Arrow's layout allows it: numeric columns
without nulls are views, ``list<float>`` / ``fixed_size_list<float>`` columns of
probabilities become ``(N, C)`` views of their flat values (after checking that every row
has C values), several ``y_pred`` columns are stacked into one ``(N, C)`` array (one copy).

Errors: ``UsageError`` (a path that matches nothing, a missing column: what the user typed
is wrong) and ``DataError`` (a corrupt or truncated file, a null, a label or weight the
metrics refuse: the data is wrong), which names the file, the row group, the column and the
row where they are known.

Needs ``pyarrow`` (the ``cli`` extra).
"""

from __future__ import annotations

import glob
import os
import queue
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    "Columns", "DataError", "FileInfo", "UsageError", "find_files", "group_keys",
    "inspect_files", "iter_batches", "update_from_files",
]

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".csv.bz2", ".csv.zst", ".csv.lz4", ".tsv.gz")
# Joins the values of several --by columns into one group key.
GROUP_SEP = "\x1f"


class UsageError(ValueError):
    """What was asked for cannot be done: a path matching nothing, a missing column, a bad
    option (the command line exits with 2)."""


class DataError(ValueError):
    """The data cannot be scored: a corrupt or truncated file, a null, a bad label or weight
    (the command line exits with 1). ``path``, ``row_group``, ``column`` and ``row`` (in the
    file, 0-based) say where, when known."""

    def __init__(self, message: str, path: Optional[str] = None, row_group: Optional[int] = None,
                 column: Optional[str] = None, row: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.row_group = row_group
        self.column = column
        self.row = row

    def __reduce__(self):  # picklable across processes (Dask workers)
        return (type(self), (self.message, self.path, self.row_group, self.column, self.row))

    def __str__(self):
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.row_group is not None:
            where.append(f"row group {self.row_group}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.row is not None:
            where.append(f"row {self.row}")
        return (", ".join(where) + ": " if where else "") + self.message


# ------------------------------------------------------------------ files
def _format_of(path: str) -> Optional[str]:
    low = path.lower()
    if low.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if low.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def find_files(paths: Sequence[str], format: Optional[str] = None) -> List[Tuple[str, str]]:
    """``[(path, format)]`` for files, directories (their Parquet/CSV files, recursively,
    sorted) and globs (``*``, ``?``, ``[...]``, ``**``). ``format`` ("parquet"/"csv")
    overrides the suffix; without it a file's suffix must say."""
    if format not in (None, "auto", "parquet", "csv"):
        raise UsageError(f"--format must be parquet or csv; got {format!r}")
    format = None if format == "auto" else format
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out, seen = [], set()

    def add(path, explicit):
        fmt = format or _format_of(path)
        if fmt is None:
            if not explicit:
                return
            raise UsageError(f"cannot tell the format of {path!r} from its name; pass --format "
                             "parquet or --format csv")
        real = os.path.abspath(path)
        if real not in seen:
            seen.add(real)
            out.append((path, fmt))

    for raw in paths:
        path = os.fspath(raw)
        if os.path.isdir(path):
            found = []
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                found += [os.path.join(root, f) for f in files if not f.startswith((".", "_"))]
            found = [f for f in sorted(found) if format or _format_of(f)]
            if not found:
                raise UsageError(f"directory {path!r} holds no Parquet or CSV files")
            for f in found:
                add(f, False)
        elif os.path.isfile(path):
            add(path, True)
        elif glob.has_magic(path):
            matches = sorted(m for m in glob.glob(path, recursive=True) if os.path.isfile(m))
            if not matches:
                raise UsageError(f"no file matches {path!r}")
            for m in matches:
                add(m, False)
            if not any(_format_of(m) or format for m in matches):
                raise UsageError(f"no Parquet or CSV file matches {path!r}")
        else:
            raise UsageError(f"no such file or directory: {path!r}")
    if not out:
        raise UsageError("no input files")
    return out


@dataclass
class Columns:
    """The columns a scoring job reads: labels, one or several prediction columns (several
    = one column per class), an optional weight and the group-by columns."""

    y_true: str
    y_pred: List[str]
    weight: Optional[str] = None
    by: List[str] = field(default_factory=list)

    def __post_init__(self):
        if isinstance(self.y_pred, str):
            self.y_pred = [self.y_pred]
        if isinstance(self.by, str):
            self.by = [self.by]
        self.y_pred, self.by = list(self.y_pred), list(self.by or [])
        if not self.y_pred:
            raise UsageError("at least one y_pred column is needed")

    @property
    def names(self) -> List[str]:
        """Every column read, once each, in a stable order."""
        out = []
        for c in [self.y_true, *self.y_pred, self.weight, *self.by]:
            if c is not None and c not in out:
                out.append(c)
        return out

    def role(self, name: str) -> str:
        if name == self.y_true:
            return "--y-true"
        if name in self.y_pred:
            return "--y-pred"
        if name == self.weight:
            return "--weight"
        return "--by"


@dataclass
class FileInfo:
    """One file to read, with what its footer/header told: its column names, and for
    Parquet the rows of each row group (``row_groups``: the ones to read, default all)."""

    path: str
    format: str
    columns: List[str]
    num_rows: Optional[int] = None
    row_group_rows: Optional[List[int]] = None
    row_groups: Optional[List[int]] = None
    metadata: Any = None  # pyarrow FileMetaData, reused to open the file without re-reading

    def rows_to_read(self) -> Optional[int]:
        if self.row_group_rows is None:
            return None
        groups = range(len(self.row_group_rows)) if self.row_groups is None else self.row_groups
        return sum(self.row_group_rows[i] for i in groups)

    def __getstate__(self):  # FileMetaData pickles; keep it (saves a footer read on workers)
        return self.__dict__.copy()


_ERRORS: Tuple[type, ...] = ()


def _arrow_error_types() -> Tuple[type, ...]:
    """pyarrow's exception types (and OSError), imported once."""
    global _ERRORS
    if not _ERRORS:
        import pyarrow as pa

        _ERRORS = (pa.ArrowException, OSError)
    return _ERRORS


def inspect_files(files: Sequence[Tuple[str, str]], columns: Optional[Columns] = None,
                  csv_delimiter: Optional[str] = None) -> List[FileInfo]:
    """Reads every file's footer (Parquet) or header (CSV); with ``columns``, checks that
    each file has them (UsageError naming the file and the column otherwise). A file whose
    footer or header cannot be read raises DataError."""
    import pyarrow.parquet as pq

    infos = []
    for path, fmt in files:
        if fmt == "parquet":
            try:
                md = pq.read_metadata(path)
                names = list(md.schema.to_arrow_schema().names)
            except _arrow_error_types() as exc:
                raise DataError(f"cannot read the Parquet footer ({_short(exc)}); the file is "
                                "truncated, corrupt or not Parquet", path=path) from None
            info = FileInfo(path, fmt, names, md.num_rows,
                            [md.row_group(i).num_rows for i in range(md.num_row_groups)],
                            metadata=md)
        else:
            names = _csv_header(path, csv_delimiter)
            info = FileInfo(path, fmt, names)
        if columns is not None:
            for col in columns.names:
                if col not in info.columns:
                    shown = ", ".join(info.columns[:30]) + (" ..." if len(info.columns) > 30 else "")
                    raise UsageError(f"{columns.role(col)}: column {col!r} not found in {path} "
                                     f"(its columns: {shown})")
        infos.append(info)
    return infos


def _csv_header(path: str, delimiter: Optional[str]) -> List[str]:
    import csv
    import pyarrow as pa

    if delimiter is None:
        delimiter = "\t" if path.lower().endswith((".tsv", ".tsv.gz")) else ","
    try:
        with pa.input_stream(path, compression="detect") as stream:
            head = stream.read(1 << 16)
    except _arrow_error_types() as exc:
        raise DataError(f"cannot read the CSV header ({_short(exc)})", path=path) from None
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    line = text.splitlines()[0] if text else ""
    names = next(csv.reader([line], delimiter=delimiter), [])
    if not line.strip() or not names:
        raise DataError("the CSV file is empty (no header row)", path=path)
    return names


def _csv_parse_options(path: str, delimiter: Optional[str]):
    import pyarrow.csv as pacsv

    if delimiter is None:
        delimiter = "\t" if path.lower().endswith((".tsv", ".tsv.gz")) else ","
    return pacsv.ParseOptions(delimiter=delimiter)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ------------------------------------------------------------------ arrays
@dataclass
class Batch:
    """One block of rows as NumPy: ``y_true`` (N,), ``y_pred`` (N,) or (N, C), ``weight``
    (N,) or None, ``by`` the group keys (see ``group_keys``) or None; where it came from."""

    y_true: np.ndarray
    y_pred: np.ndarray
    weight: Optional[np.ndarray]
    by: Any
    path: str
    row_group: Optional[int]
    row: int  # first row's index in the file
    num_rows: int


def _single(col):
    """A ChunkedArray or Array as one Array (combining chunks only when there are several)."""
    import pyarrow as pa

    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 1:
            return col.chunk(0)
        if col.num_chunks == 0:
            return pa.array([], type=col.type)
        return col.combine_chunks()
    return col


def _to_numpy(arr) -> np.ndarray:
    """A null-free Arrow array of a fixed-width numeric or bool type as NumPy: a view of
    Arrow's buffer (bools unpacked from their bits). Reads the buffers directly, because
    pyarrow's ``to_numpy`` imports pandas on first use (half a second of start-up)."""
    import pyarrow.types as pt

    t = arr.type
    n = len(arr)
    if pt.is_boolean(t):
        bits = np.frombuffer(arr.buffers()[1], dtype=np.uint8)
        first = arr.offset
        out = np.unpackbits(bits[first // 8:(first + n + 7) // 8 + 1], bitorder="little")
        return out[first % 8:first % 8 + n].view(np.bool_)
    if pt.is_integer(t) or pt.is_floating(t):
        dtype = np.dtype(t.to_pandas_dtype())
        return np.frombuffer(arr.buffers()[1], dtype=dtype, count=n, offset=arr.offset *
                             dtype.itemsize)
    return arr.to_numpy(zero_copy_only=False)


def _first_null(arr) -> int:
    import pyarrow.compute as pc

    return int(pc.index(pc.is_null(arr), True).as_py())


def _numeric(arr, name: str, what: str, where: dict) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.types as pt

    if pt.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    if not (pt.is_integer(t) or pt.is_floating(t) or pt.is_boolean(t) or pt.is_decimal(t)):
        where.pop("row")
        raise DataError(f"holds {t} values; {what} must be numeric (integers, bools or floats)",
                        column=name, **where)
    if arr.null_count:
        i = _first_null(arr)
        raise DataError(f"null value (empty cell) in {what}", column=name,
                        row=where.pop("row") + i, **where)
    if pt.is_decimal(t):
        arr = arr.cast(pa.float64())
    return _to_numpy(arr)


def _list_scores(arr, name: str, where: dict) -> np.ndarray:
    """A list<number> / fixed_size_list<number> column as (N, C) without a copy."""
    import pyarrow.types as pt

    n = len(arr)
    if arr.null_count:
        i = _first_null(arr)
        raise DataError("null list of scores", column=name, row=where.pop("row") + i, **where)
    if pt.is_fixed_size_list(arr.type):
        c = arr.type.list_size
        values = arr.flatten()
    else:
        offsets = np.asarray(arr.offsets)
        lengths = np.diff(offsets)
        c = int(lengths[0]) if n else 0
        bad = np.flatnonzero(lengths != c)
        if bad.size:
            i = int(bad[0])
            raise DataError(f"rows hold lists of different lengths ({c} at row "
                            f"{where['row']}, {int(lengths[i])} here); every row needs one "
                            "score per class", column=name, row=where.pop("row") + i, **where)
        values = arr.flatten()
    vt = values.type
    if not (pt.is_integer(vt) or pt.is_floating(vt)):
        where.pop("row")
        raise DataError(f"holds lists of {vt}; scores must be numeric", column=name, **where)
    if values.null_count:
        i = _first_null(values) // max(c, 1)
        raise DataError("null score inside a list", column=name, row=where.pop("row") + i,
                        **where)
    return _to_numpy(values).reshape(n, c)


def _scores(arrays, names: List[str], where: dict) -> np.ndarray:
    import pyarrow.types as pt

    if len(arrays) == 1:
        arr = arrays[0]
        if pt.is_list(arr.type) or pt.is_large_list(arr.type) or pt.is_fixed_size_list(arr.type):
            return _list_scores(arr, names[0], dict(where))
        return _numeric(arr, names[0], "scores", dict(where))
    cols = [_numeric(a, n, "scores", dict(where)) for a, n in zip(arrays, names)]
    dtype = np.result_type(*cols)
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    out = np.empty((len(cols[0]), len(cols)), dtype=dtype)
    for j, c in enumerate(cols):
        out[:, j] = c
    return out


def group_keys(arrays) -> Any:
    """The ``by`` argument of ``MetricCollection.update_state`` for one or several group
    columns (pyarrow Arrays, pandas Series or NumPy arrays).

    One column: an integer column without nulls as a NumPy array, anything else
    dictionary-encoded (nulls become the group ``None``). Several columns: a dictionary
    array whose keys join the columns' values with ``GROUP_SEP`` (``split_group_key``
    undoes it)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pt

    arrays = [_as_arrow(a) for a in arrays]
    if len(arrays) == 1:
        arr = arrays[0]
        if pt.is_integer(arr.type) and not arr.null_count:
            return _to_numpy(arr)
        if pt.is_dictionary(arr.type):
            if not arr.null_count:
                return arr
            # nulls become one more dictionary value, the group None
            return pa.DictionaryArray.from_arrays(
                arr.indices.fill_null(len(arr.dictionary)),
                pa.concat_arrays([arr.dictionary, pa.nulls(1, arr.dictionary.type)]))
        return pc.dictionary_encode(arr, null_encoding="encode")
    n = len(arrays[0])
    codes = np.zeros(n, dtype=np.int64)
    dictionaries, sizes = [], []
    for arr in arrays:
        enc = arr if pt.is_dictionary(arr.type) else pc.dictionary_encode(
            arr, null_encoding="encode")
        idx = enc.indices
        if idx.null_count:  # nulls of an already dictionary-encoded column
            idx = idx.fill_null(len(enc.dictionary))
            values = enc.dictionary.to_pylist() + [None]
        else:
            values = enc.dictionary.to_pylist()
        size = max(len(values), 1)
        codes *= size
        codes += idx.to_numpy(zero_copy_only=False)
        dictionaries.append(values)
        sizes.append(size)
    total = int(np.prod(sizes, dtype=np.float64))
    if total <= (1 << 22):
        present = np.zeros(total, dtype=bool)
        present[codes] = True
        uniques = np.flatnonzero(present)
        table = np.zeros(total, dtype=np.int32)
        table[uniques] = np.arange(uniques.size, dtype=np.int32)
        ids = table[codes]
    else:
        uniques, ids = np.unique(codes, return_inverse=True)
        ids = ids.astype(np.int32)
    keys = []
    for code in uniques.tolist():
        parts = []
        for size, values in zip(reversed(sizes), reversed(dictionaries)):
            code, k = divmod(code, size)
            parts.append(_key_text(values[k]))
        keys.append(GROUP_SEP.join(reversed(parts)))
    return pa.DictionaryArray.from_arrays(pa.array(ids, type=pa.int32()),
                                          pa.array(keys, type=pa.string()))


def _key_text(value) -> str:
    return "null" if value is None else str(value)


def split_group_key(key) -> tuple:
    """The per-column values of a group key made by ``group_keys`` (a 1-tuple for one
    column)."""
    if isinstance(key, str) and GROUP_SEP in key:
        return tuple(key.split(GROUP_SEP))
    return (key,)


def _as_arrow(values):
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return _single(values)
    if hasattr(values, "to_numpy") and hasattr(values, "dtype") and not isinstance(
            values, np.ndarray):
        return _single(pa.array(values, from_pandas=True))  # a pandas Series
    return pa.array(np.asarray(values))


def table_to_batch(table, columns: Columns, path: str, row_group: Optional[int],
                   row: int) -> Batch:
    """A pyarrow Table/RecordBatch holding ``columns`` as a ``Batch`` of NumPy arrays."""
    where = {"path": path, "row_group": row_group, "row": row}
    get = (lambda c: _single(table.column(c)))
    t = _numeric(get(columns.y_true), columns.y_true, "labels", dict(where))
    p = _scores([get(c) for c in columns.y_pred], columns.y_pred, where)
    w = None if columns.weight is None else _numeric(get(columns.weight), columns.weight,
                                                     "weights", dict(where))
    by = group_keys([get(c) for c in columns.by]) if columns.by else None
    return Batch(t, p, w, by, path, row_group, row, table.num_rows)


# ------------------------------------------------------------------ reading
def _parquet_tables(info: FileInfo, names: List[str], batch_size: int,
                    by: Sequence[str] = ()):
    """Yields (table, row_group, first row) for the row groups to read, one row group at a
    time (or in slices of ``batch_size`` rows when a row group is larger than 4 of them).

    String group-by columns (``by``) are read as dictionary arrays: Parquet usually stores
    them dictionary-encoded, so the keys never become Python-visible strings per row and
    need no hashing."""
    import pyarrow.parquet as pq
    import pyarrow.types as pt

    try:
        dictionary = []
        if by:
            schema = pq.read_schema(info.path) if info.metadata is None else \
                info.metadata.schema.to_arrow_schema()
            dictionary = [c for c in by if c in schema.names and (
                pt.is_string(schema.field(c).type) or pt.is_large_string(schema.field(c).type)
                or pt.is_binary(schema.field(c).type))]
        pf = pq.ParquetFile(info.path, metadata=info.metadata, pre_buffer=True,
                            read_dictionary=dictionary or None)
    except _arrow_error_types() as exc:
        raise DataError(f"cannot open the Parquet file ({_short(exc)})", path=info.path) from None
    starts = np.concatenate([[0], np.cumsum(info.row_group_rows)]).astype(np.int64)
    groups = range(len(info.row_group_rows)) if info.row_groups is None else info.row_groups
    for i in groups:
        n = info.row_group_rows[i]
        if n == 0:
            continue
        try:
            if n <= 4 * batch_size:
                yield pf.read_row_group(i, columns=names, use_threads=True), i, int(starts[i])
            else:
                row = int(starts[i])
                for rb in pf.iter_batches(batch_size=batch_size, row_groups=[i], columns=names,
                                          use_threads=True):
                    yield rb, i, row
                    row += rb.num_rows
        except _arrow_error_types() as exc:
            raise _locate_parquet_error(pf, info.path, i, names, exc) from None


def _locate_parquet_error(pf, path, row_group, names, exc) -> DataError:
    """Re-reads the failed row group column by column to name the corrupt column."""
    for name in names:
        try:
            pf.read_row_group(row_group, columns=[name], use_threads=False)
        except _arrow_error_types() as col_exc:
            return DataError(f"cannot decode ({_short(col_exc)}); the file is corrupt or "
                             "truncated", path=path, row_group=row_group, column=name)
    return DataError(f"cannot decode ({_short(exc)}); the file is corrupt or truncated",
                     path=path, row_group=row_group)


_CSV_COLUMN = re.compile(r"CSV column #(\d+)")


def _csv_tables(info: FileInfo, names: List[str], block_size: int, delimiter: Optional[str],
                float_columns: Sequence[str] = ()):
    """Yields (record batch, None, first row) of a CSV file; ``float_columns`` are parsed as
    float64 (so a stray word fails there, naming the column, instead of turning the
    column into strings)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    errors = _arrow_error_types()
    row = 0
    reader = None
    try:
        reader = pacsv.open_csv(
            info.path, read_options=pacsv.ReadOptions(block_size=block_size, use_threads=True),
            parse_options=_csv_parse_options(info.path, delimiter),
            convert_options=pacsv.ConvertOptions(
                include_columns=names, column_types={c: pa.float64() for c in float_columns}))
        for rb in reader:
            yield rb, None, row
            row += rb.num_rows
    except errors as exc:
        text = _short(exc)
        column = None
        m = _CSV_COLUMN.search(text)
        if m and int(m.group(1)) < len(info.columns):
            column = info.columns[int(m.group(1))]
        raise DataError(f"cannot parse the CSV after row {row} ({text})", path=info.path,
                        column=column) from None
    finally:
        if reader is not None:
            reader.close()


_END = object()


class _Failure:
    def __init__(self, exc):
        self.exc = exc


def iter_batches(infos: Sequence[FileInfo], columns: Columns, batch_size: int = 1 << 20,
                 readahead: int = 2, csv_delimiter: Optional[str] = None,
                 threaded: bool = True) -> Iterator[Batch]:
    """Streams ``Batch``es of the files in order. With ``threaded`` a background thread reads
    up to ``readahead`` batches ahead (pyarrow releases the GIL), so reading overlaps the
    caller's work; memory stays bounded by about ``readahead + 2`` row groups."""
    names = columns.names

    def produce():
        for info in infos:
            if info.format == "parquet":
                tables = _parquet_tables(info, names, batch_size, columns.by)
            else:
                floats = [c for c in columns.y_pred + [columns.weight]
                          if c is not None and c not in columns.by and c != columns.y_true]
                tables = _csv_tables(info, names, max(batch_size * 16, 1 << 20), csv_delimiter,
                                     floats)
            for table, rg, row in tables:
                yield table_to_batch(table, columns, info.path, rg, row)

    if not threaded:
        yield from produce()
        return
    q: "queue.Queue" = queue.Queue(maxsize=max(1, readahead))
    stop = threading.Event()

    def put(item):
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run():
        try:
            for batch in produce():
                if not put(batch):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer
            put(_Failure(exc))

    thread = threading.Thread(target=run, name="metricore-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


# ------------------------------------------------------------------ scoring
_AT_INDEX = re.compile(r"at index \((\d+)(?:,\s*(\d+))?")
_ARGS = ("y_true", "y_pred", "sample_weight")


_DATA_WORDS = ("must hold", "must not hold", "must be finite", "must be numeric")


def kernel_error(exc: Exception, batch: Batch, columns: Columns, target=None) -> ValueError:
    """A metric's ValueError/TypeError on a batch as a DataError naming file, row group,
    column and (when the message gives an index) row; or, for a mismatch between a metric
    and the columns' shapes (no bad value involved), a UsageError naming the metric."""
    text = str(exc)
    if "at index" not in text and not any(w in text for w in _DATA_WORDS):
        culprit = None if target is None else _failing_member(target, batch)
        if culprit is not None:
            name, err = culprit
            return UsageError(f"metric {name!r} cannot score these columns ({batch.path}): "
                              f"{err}")
        return UsageError(f"{text} ({batch.path})")
    column = None
    arg = text.split(" ", 1)[0]
    if arg == "y_true":
        column = columns.y_true
    elif arg == "sample_weight":
        column = columns.weight
    elif arg == "y_pred":
        column = columns.y_pred[0] if len(columns.y_pred) == 1 else ", ".join(columns.y_pred)
    row = None
    m = _AT_INDEX.search(text)
    if m:
        row = batch.row + int(m.group(1))
        if arg == "y_pred" and len(columns.y_pred) > 1 and m.group(2) is not None:
            j = int(m.group(2))
            if j < len(columns.y_pred):
                column = columns.y_pred[j]
    if row is None:
        text += f" (in rows {batch.row}..{batch.row + batch.num_rows - 1})"
    return DataError(text, path=batch.path, row_group=batch.row_group, column=column, row=row)


def _failing_member(target, batch: Batch):
    """(name, error) of the first member that refuses the batch's first rows for a reason
    other than a bad value, or None."""
    members = target.items() if hasattr(target, "items") else [(target.name, target)]
    k = min(batch.num_rows, 4)
    w = None if batch.weight is None else batch.weight[:k]
    for name, metric in members:
        try:
            metric.fresh().update_state(batch.y_true[:k], batch.y_pred[:k], w)
        except (ValueError, TypeError) as err:
            if not any(word in str(err) for word in _DATA_WORDS):
                return name, err
    return None


def update_from_files(target, infos: Sequence[FileInfo], columns: Columns,
                      batch_size: int = 1 << 20, progress=None, threaded: bool = True,
                      csv_delimiter: Optional[str] = None) -> int:
    """Updates ``target`` (a Metric or MetricCollection) with every row of the files, grouped
    by ``columns.by`` when given; returns the number of rows. ``progress(rows)`` is called
    after each batch. Errors are DataErrors (see ``kernel_error``)."""
    total = 0
    grouped = bool(columns.by)
    for batch in iter_batches(infos, columns, batch_size=batch_size, threaded=threaded,
                              csv_delimiter=csv_delimiter):
        try:
            if grouped:
                target.update_state(batch.y_true, batch.y_pred, batch.weight, by=batch.by)
            else:
                target.update_state(batch.y_true, batch.y_pred, batch.weight)
        except (ValueError, TypeError) as exc:
            if isinstance(exc, (DataError, UsageError)):
                raise
            raise kernel_error(exc, batch, columns, target) from None
        except (AttributeError, NotImplementedError) as exc:
            if not grouped:
                raise
            raise UsageError(f"these metrics cannot be evaluated by group (--by) here: "
                             f"{exc}") from None
        total += batch.num_rows
        if progress is not None:
            progress(batch.num_rows)
    return total
