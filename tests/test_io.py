"""metricore.io: finding files, checking columns, NumPy batches, errors naming where."""

import os

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pacsv = pytest.importorskip("pyarrow.csv")

import metricore as mc  # noqa: E402
from metricore import io  # noqa: E402
from metricore._demo import demo_table, write_demo  # noqa: E402


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("io")
    path = write_demo(str(d / "demo.parquet"), 20_000, seed=1, row_group_size=6_000, wide=True)
    return path


def read_all(paths, columns, **kw):
    infos = io.inspect_files(io.find_files(paths), columns)
    return list(io.iter_batches(infos, columns, **kw))


# ------------------------------------------------------------------ files
def test_find_files_file_dir_glob(tmp_path):
    for name in ("b.parquet", "a.csv", "sub/c.pq", "notes.txt", "_SUCCESS", ".hidden.csv"):
        p = tmp_path / name
        p.parent.mkdir(exist_ok=True)
        p.write_text("x")
    got = io.find_files([str(tmp_path)])
    assert [os.path.relpath(p, tmp_path) for p, _ in got] == ["a.csv", "b.parquet", "sub/c.pq"]
    assert [f for _, f in got] == ["csv", "parquet", "parquet"]
    got = io.find_files([str(tmp_path / "*.parquet"), str(tmp_path / "b.parquet")])
    assert len(got) == 1  # a file named twice is read once
    assert io.find_files([str(tmp_path / "**" / "*.pq")])[0][1] == "parquet"
    assert io.find_files([str(tmp_path / "notes.txt")], format="csv") == [
        (str(tmp_path / "notes.txt"), "csv")]


@pytest.mark.parametrize("arg, match", [
    ("missing.parquet", "no such file"), ("*.nothing", "no file matches"),
    ("notes.txt", "cannot tell the format"),
])
def test_find_files_errors(tmp_path, arg, match):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(io.UsageError, match=match):
        io.find_files([str(tmp_path / arg)])


def test_missing_column_names_file_and_column(demo):
    with pytest.raises(io.UsageError, match=r"--weight: column 'wt' not found in .*demo\.parquet"):
        io.inspect_files(io.find_files([demo]), io.Columns("label", ["score"], "wt"))


# ------------------------------------------------------------------ arrays
def test_batches_binary_zero_copy_and_positions(demo):
    cols = io.Columns("label", ["score"], "weight", ["segment"])
    batches = read_all([demo], cols)
    table = pq.read_table(demo)
    assert [b.row_group for b in batches] == [0, 1, 2, 3]
    assert [b.row for b in batches] == [0, 6000, 12000, 18000]
    y = np.concatenate([b.y_true for b in batches])
    p = np.concatenate([b.y_pred for b in batches])
    w = np.concatenate([b.weight for b in batches])
    np.testing.assert_array_equal(y, table["label"].to_numpy())
    np.testing.assert_array_equal(p, table["score"].to_numpy())
    np.testing.assert_array_equal(w, table["weight"].to_numpy())
    assert batches[0].y_true.dtype == np.int8 and batches[0].y_pred.dtype == np.float32
    assert not batches[0].y_pred.flags.owndata  # a view of Arrow's buffer


@pytest.mark.parametrize("threaded", [True, False])
def test_list_column_and_several_columns_agree(demo, threaded):
    list_cols = io.Columns("class", ["probs"])
    wide_cols = io.Columns("class", [f"p{j}" for j in range(5)])
    a = read_all([demo], list_cols, threaded=threaded)
    b = read_all([demo], wide_cols, threaded=threaded)
    pa_ = np.concatenate([x.y_pred for x in a])
    pb = np.concatenate([x.y_pred for x in b])
    assert pa_.shape == (20_000, 5) and pa_.dtype == np.float32
    np.testing.assert_array_equal(pa_, pb)
    assert not a[0].y_pred.flags.owndata  # (N, C) view of the list's flat values


def test_fixed_size_and_sliced_list_columns():
    flat = np.arange(12, dtype=np.float32)
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(flat), 3)
    t = pa.table({"y": pa.array([0, 1, 2, 0], pa.int32()), "p": fixed})
    b = io.table_to_batch(t, io.Columns("y", ["p"]), "mem", None, 0)
    np.testing.assert_array_equal(b.y_pred, flat.reshape(4, 3))
    lst = fixed.cast(pa.list_(pa.float32())).slice(1, 2)
    t = pa.table({"y": pa.array([1, 2], pa.int32()), "p": lst})
    b = io.table_to_batch(t, io.Columns("y", ["p"]), "mem", None, 0)
    np.testing.assert_array_equal(b.y_pred, flat.reshape(4, 3)[1:3])


@pytest.mark.parametrize("column, values, match", [
    ("y", pa.array([0, None, 1], pa.int8()), r"column 'y', row 11: null value"),
    ("y", pa.array(["a", "b", "c"]), r"column 'y': holds string values"),
    ("p", pa.array([[0.1, 0.9], [0.5], [0.2, 0.8]], pa.list_(pa.float32())),
     r"column 'p', row 11: rows hold lists of different lengths"),
    ("p", pa.array([[0.1, 0.9], None, [0.2, 0.8]], pa.list_(pa.float32())),
     r"column 'p', row 11: null list"),
    ("w", pa.array([1.0, 2.0, None]), r"column 'w', row 12: null value"),
])
def test_bad_columns_raise_data_error(column, values, match):
    cols = {"y": pa.array([0, 1, 1], pa.int8()), "p": pa.array([0.1, 0.2, 0.3]),
            "w": pa.array([1.0, 1.0, 1.0])}
    cols[column] = values
    with pytest.raises(io.DataError, match=match):
        io.table_to_batch(pa.table(cols), io.Columns("y", ["p"], "w"), "f.parquet", 3, 10)


def test_group_keys_one_and_several_columns():
    seg = pa.array(["a", "b", None, "a"])
    keys = io.group_keys([seg])
    assert keys.dictionary.to_pylist() == ["a", "b", None]
    ints = io.group_keys([pa.array([3, 1, 3], pa.int64())])
    assert isinstance(ints, np.ndarray) and ints.tolist() == [3, 1, 3]
    combo = io.group_keys([seg, np.array([1, 1, 2, 2])])
    assert [io.split_group_key(k) for k in combo.to_pylist()] == [
        ("a", "1"), ("b", "1"), ("null", "2"), ("a", "2")]


# ------------------------------------------------------------------ corrupt files
def test_truncated_parquet_names_file(demo, tmp_path):
    data = open(demo, "rb").read()
    bad = tmp_path / "truncated.parquet"
    bad.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(io.DataError, match=r"truncated\.parquet: cannot read the Parquet footer"):
        io.inspect_files(io.find_files([str(bad)]), io.Columns("label", ["score"]))


def test_corrupt_column_chunk_names_row_group_and_column(demo, tmp_path):
    md = pq.read_metadata(demo)
    names = md.schema.to_arrow_schema().names
    j = names.index("weight")
    chunk = md.row_group(2).column(j)
    data = bytearray(open(demo, "rb").read())
    start = chunk.data_page_offset + 8
    data[start:start + 64] = b"\xff" * 64
    bad = tmp_path / "corrupt.parquet"
    bad.write_bytes(bytes(data))
    cols = io.Columns("label", ["score"], "weight")
    with pytest.raises(io.DataError) as info:
        read_all([str(bad)], cols)
    err = info.value
    assert err.path.endswith("corrupt.parquet") and err.row_group == 2 and err.column == "weight"
    assert "corrupt.parquet, row group 2, column 'weight'" in str(err)


def test_corrupt_csv_names_file_and_column(tmp_path):
    bad = tmp_path / "bad.csv"
    rows = "\n".join(f"{i % 2},0.{i % 10}" for i in range(200))
    bad.write_text("label,score\n" + rows + "\n1,abc\n")
    with pytest.raises(io.DataError, match=r"bad\.csv, column 'score': cannot parse the CSV"):
        read_all([str(bad)], io.Columns("label", ["score"]))
    short = tmp_path / "short.csv"
    short.write_text("label,score\n1,0.5\n0\n")
    with pytest.raises(io.DataError, match=r"short\.csv: cannot parse the CSV.*Expected 2 columns"):
        read_all([str(short)], io.Columns("label", ["score"]))


# ------------------------------------------------------------------ scoring
def test_update_from_files_equals_in_memory(demo, tmp_path):
    csv = write_demo(str(tmp_path / "demo.csv"), 20_000, seed=1)
    cols = io.Columns("label", ["score"], "weight")
    for path, table in ((demo, pq.read_table(demo)), (csv, pacsv.read_csv(csv))):
        y, p, w = (table[c].to_numpy() for c in ("label", "score", "weight"))
        ref = mc.MetricCollection([mc.AUC(), mc.TruePositives(), mc.BinaryAccuracy()])
        ref.update_state(y, p, w)
        got = ref.fresh()
        infos = io.inspect_files(io.find_files([path]), cols)
        assert io.update_from_files(got, infos, cols, batch_size=1000) == 20_000
        for name, value in ref.result().items():
            assert got.result()[name] == pytest.approx(value, rel=1e-12, abs=1e-12)


def test_large_row_groups_are_read_in_slices(tmp_path):
    path = write_demo(str(tmp_path / "big_rg.parquet"), 10_000, row_group_size=10_000)
    cols = io.Columns("label", ["score"])
    batches = read_all([path], cols, batch_size=1000)
    assert [b.num_rows for b in batches] == [1000] * 10
    assert [b.row for b in batches] == list(range(0, 10_000, 1000))
    assert {b.row_group for b in batches} == {0}


def test_kernel_errors_name_column_and_row(tmp_path):
    t = demo_table(3000, seed=2)
    labels = t["label"].to_numpy().copy()
    labels[2500] = 3
    t = t.set_column(t.schema.get_field_index("label"), "label", pa.array(labels))
    path = str(tmp_path / "labels.parquet")
    pq.write_table(t, path, row_group_size=1000)
    cols = io.Columns("label", ["score"], "weight")
    infos = io.inspect_files(io.find_files([path]), cols)
    with pytest.raises(io.DataError) as info:
        io.update_from_files(mc.MetricCollection([mc.AUC(), mc.Precision()]), infos, cols)
    err = info.value
    assert (err.row_group, err.column, err.row) == (2, "label", 2500)
    assert "binary labels" in str(err)


def test_reader_thread_stops_when_consumer_stops(demo):
    import threading

    cols = io.Columns("label", ["score"])
    infos = io.inspect_files(io.find_files([demo]), cols)
    gen = io.iter_batches(infos, cols, readahead=1)
    next(gen)
    gen.close()
    assert not any(t.name == "metricore-reader" and t.is_alive() for t in threading.enumerate())
