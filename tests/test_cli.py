"""The metricore command line, end to end on generated Parquet/CSV files: numbers equal the
library's and scikit-learn's, every exit code, messages naming file / column / row."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pacsv = pytest.importorskip("pyarrow.csv")
pytest.importorskip("rich")
pytest.importorskip("click")
metrics_sk = pytest.importorskip("sklearn.metrics")

import metricore as mc  # noqa: E402
from metricore import cli  # noqa: E402
from metricore._demo import SEGMENTS, write_demo  # noqa: E402

N = 30_000
BINARY = ["auroc", "average_precision", "auc", "binary_accuracy", "precision", "recall",
          "true_positives", "false_positives"]
GROUP_SPECS = ["auroc", "average_precision", "auc", "binary_accuracy", "precision",
               "true_positives", "mean_absolute_error"]



@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    path = write_demo(str(d / "demo.parquet"), N, seed=3, row_group_size=7_000, wide=True)
    table = pq.read_table(path)
    parts = d / "parts"
    parts.mkdir()
    for k, start in enumerate(range(0, N, 10_000)):
        pq.write_table(table.slice(start, 10_000), str(parts / f"part-{k}.parquet"))
    csv = write_demo(str(d / "demo.csv"), N, seed=3, wide=True)
    return {"dir": d, "parquet": path, "parts": str(parts), "csv": csv, "table": table,
            "csv_table": pacsv.read_csv(csv)}


def run(capsys, *argv):
    """(exit code, stdout, stderr) of the command line, in process."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def col(table, name):
    return table[name].to_numpy()


def metric_args(specs):
    return [a for s in specs for a in ("-m", s)]


# ------------------------------------------------------------------ numbers
@pytest.mark.parametrize("source", ["parquet", "csv", "parts", "glob"])
def test_binary_numbers_equal_library_and_sklearn(capsys, data, source):
    path = {"glob": os.path.join(data["parts"], "part-*.parquet")}.get(source) or data[source]
    got = run_json(capsys, "score", path, "--y-true", "label", "--y-pred", "score",
                   "--weight", "weight", *metric_args(BINARY))
    table = data["csv_table"] if source == "csv" else data["table"]
    y, p, w = col(table, "label"), col(table, "score"), col(table, "weight")
    ref = cli.build_collection(BINARY)
    ref.update_state(y, p, w)
    for name, value in ref.result().items():
        assert got[name] == pytest.approx(float(value), rel=1e-12, abs=1e-12), name
    assert got["auroc"] == pytest.approx(metrics_sk.roc_auc_score(y, p, sample_weight=w),
                                         rel=1e-12)
    assert got["average_precision"] == pytest.approx(
        metrics_sk.average_precision_score(y, p, sample_weight=w), rel=1e-12)
    tp = np.sum(w[(p > 0.5) & (y == 1)], dtype=np.float64)
    assert got["true_positives"] == pytest.approx(float(tp), rel=1e-12)


def test_unweighted_counts_are_exact(capsys, data):
    got = run_json(capsys, "score", data["parquet"], "--y-true", "label", "--y-pred", "score",
                   "-m", "true_positives", "-m", "false_negatives",
                   "-m", "precision:thresholds=[0.3,0.5,0.7]")
    y, p = col(data["table"], "label"), col(data["table"], "score")
    assert got["true_positives"] == int(np.sum((p > 0.5) & (y == 1)))
    assert isinstance(got["true_positives"], int)
    assert got["false_negatives"] == int(np.sum((p <= 0.5) & (y == 1)))
    expected = [metrics_sk.precision_score(y, p > t) for t in (0.3, 0.5, 0.7)]
    np.testing.assert_allclose(got["precision"], expected, rtol=1e-12)


@pytest.mark.parametrize("layout", ["list", "columns"])
def test_multiclass_list_column_and_columns(capsys, data, layout):
    preds = ["probs"] if layout == "list" else [f"p{j}" for j in range(5)]
    specs = ["sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy:k=2",
             "confusion_matrix:num_classes=5", "auroc:task=multiclass,num_classes=5"]
    got = run_json(capsys, "score", data["parquet"], "--y-true", "class",
                   *[a for c in preds for a in ("--y-pred", c)], *metric_args(specs))
    y = col(data["table"], "class")
    probs = np.stack([col(data["table"], f"p{j}") for j in range(5)], axis=1)
    pred = probs.argmax(axis=1)
    assert got["sparse_categorical_accuracy"] == pytest.approx(np.mean(pred == y), rel=1e-12)
    assert got["confusion_matrix"] == metrics_sk.confusion_matrix(y, pred).tolist()
    assert got["auroc"] == pytest.approx(
        metrics_sk.roc_auc_score(y, probs, multi_class="ovr", average="macro"), rel=1e-12)
    top2 = np.argsort(-probs, axis=1)[:, :2]
    assert got["sparse_top_k_categorical_accuracy"] == pytest.approx(
        np.mean((top2 == y[:, None]).any(axis=1)), rel=1e-12)


def test_table_output_and_duplicate_names(capsys, data):
    code, out, err = run(capsys, "score", data["parquet"], "--y-true", "label", "--y-pred",
                         "score", "-m", "precision:thresholds=0.3",
                         "-m", "precision:thresholds=0.7", "-m", "AUC")
    assert code == 0, err
    assert f"{N:,} rows from 1 file" in out
    for name in ("precision:thresholds=0.3", "precision:thresholds=0.7", "auc"):
        assert name in out
    assert err == ""  # no progress bar when stderr is not a terminal


def test_undefined_metric_warns_in_one_line(capsys, tmp_path):
    path = tmp_path / "negatives.csv"
    path.write_text("label,score\n0,0.2\n0,0.7\n")
    code, out, err = run(capsys, "score", path, "--y-true", "label", "--y-pred", "score",
                         "-m", "auroc", "--json")
    assert code == 0 and json.loads(out) == {"auroc": None}
    assert err.startswith("metricore: warning:") and "Traceback" not in err


def test_progress_bar_when_asked(capsys, data):
    code, out, err = run(capsys, "score", data["parquet"], "--y-true", "label", "--y-pred",
                         "score", "-m", "auc", "--progress")
    assert code == 0
    assert "rows/s" in err


def test_backend_and_no_fuse_same_numbers(capsys, data):
    base = ["score", data["parquet"], "--y-true", "label", "--y-pred", "score", "--weight",
            "weight", "-m", "auc", "-m", "binary_accuracy", "-m", "recall"]
    a = run_json(capsys, *base)
    b = run_json(capsys, *base, "--backend", "numba", "--no-fuse")
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-12)


# ------------------------------------------------------------------ groups
def test_grouped_equals_per_group_runs(capsys, data):
    specs = GROUP_SPECS
    got = run_json(capsys, "score", data["parquet"], "--y-true", "label", "--y-pred", "score",
                   "--weight", "weight", "--by", "segment", *metric_args(specs))
    table = data["table"]
    seg = np.array(table["segment"].to_pylist())
    y, p, w = col(table, "label"), col(table, "score"), col(table, "weight")
    for name in specs:
        assert set(got[name]) == set(SEGMENTS)
    for g in SEGMENTS:
        ref = cli.build_collection(specs)
        m = seg == g
        ref.update_state(y[m], p[m], w[m])
        for name, value in ref.result().items():
            assert got[name][g] == pytest.approx(float(value), rel=1e-12, abs=1e-12), (name, g)
        if "auroc" in got:
            assert got["auroc"][g] == pytest.approx(
                metrics_sk.roc_auc_score(y[m], p[m], sample_weight=w[m]), rel=1e-12)


def test_grouped_by_two_columns_nests_and_table(capsys, data):
    specs = GROUP_SPECS[:2]
    got = run_json(capsys, "score", data["parquet"], "--y-true", "label", "--y-pred", "score",
                   "--by", "segment", "--by", "class", *metric_args(specs))
    table = data["table"]
    seg, cls = np.array(table["segment"].to_pylist()), col(table, "class")
    y, p = col(table, "label"), col(table, "score")
    for g in SEGMENTS:
        for c in range(5):
            m = (seg == g) & (cls == c)
            ref = cli.build_collection(specs)
            ref.update_state(y[m], p[m])
            for name, value in ref.result().items():
                assert got[name][g][str(c)] == pytest.approx(float(value), rel=1e-12)
    code, out, _ = run(capsys, "score", data["parquet"], "--y-true", "label", "--y-pred",
                       "score", "--by", "segment", "--by", "class", *metric_args(specs))
    assert code == 0 and "segment" in out and "class" in out


def test_grouped_integer_keys_and_nulls(capsys, data, tmp_path):
    spec = GROUP_SPECS[-1]
    got = run_json(capsys, "score", data["parquet"], "--y-true", "label", "--y-pred", "score",
                   "--by", "class", "-m", spec)
    y, p, cls = (col(data["table"], c) for c in ("label", "score", "class"))
    expected = {}
    for c in range(5):
        ref = cli.build_collection([spec])
        ref.update_state(y[cls == c], p[cls == c])
        expected[str(c)] = pytest.approx(float(ref.result()[spec]), rel=1e-12)
    name = cli.build_collection([spec]).keys()
    assert got[list(name)[0]] == expected
    seg = data["table"]["segment"].to_pylist()
    seg[:1000] = [None] * 1000  # a null group key is the group null
    t = data["table"].set_column(data["table"].schema.get_field_index("segment"), "segment",
                                 pa.array(seg))
    path = tmp_path / "nulls.parquet"
    pq.write_table(t, str(path))
    got = run_json(capsys, "score", path, "--y-true", "label", "--y-pred", "score",
                   "--by", "segment", "-m", spec)
    assert set(got[list(name)[0]]) == set(SEGMENTS) | {"null"}


# ------------------------------------------------------------------ states
def test_save_merge_load_round_trip(capsys, data, tmp_path):
    specs = ["auc", "true_positives", "binary_accuracy", "auroc"]
    whole = run_json(capsys, "score", data["parquet"], "--y-true", "label", "--y-pred", "score",
                     *metric_args(specs))
    parts = sorted(os.listdir(data["parts"]))
    states = []
    for k, part in enumerate(parts):
        state = tmp_path / f"state-{k}.npz"
        code, _, err = run(capsys, "score", os.path.join(data["parts"], part), "--y-true",
                           "label", "--y-pred", "score", *metric_args(specs),
                           "--save-state", state, "--json")
        assert code == 0, err
        states.append(state)
    merged = tmp_path / "merged.npz"
    got = run_json(capsys, "merge", *states, "-o", merged)
    for name in specs:
        assert got[name] == pytest.approx(whole[name], rel=1e-12), name
    assert got["true_positives"] == whole["true_positives"]
    again = run_json(capsys, "merge", merged)
    assert again == got
    loaded = mc.load(str(merged))
    assert float(loaded.result()["auc"]) == pytest.approx(whole["auc"], rel=1e-12)


def test_grouped_save_merge(capsys, data, tmp_path):
    specs = GROUP_SPECS
    whole = run_json(capsys, "score", data["parquet"], "--y-true", "label", "--y-pred",
                     "score", "--by", "segment", *metric_args(specs))
    states = []
    for k, part in enumerate(sorted(os.listdir(data["parts"]))):
        states.append(tmp_path / f"g{k}.npz")
        code, _, err = run(capsys, "score", os.path.join(data["parts"], part), "--y-true",
                           "label", "--y-pred", "score", "--by", "segment",
                           *metric_args(specs), "--save-state", states[-1], "--json")
        assert code == 0, err
    got = run_json(capsys, "merge", *states)
    for name in specs:
        for g in SEGMENTS:
            assert got[name][g] == pytest.approx(whole[name][g], rel=1e-12)


def test_merge_errors(capsys, data, tmp_path):
    code, _, err = run(capsys, "merge", tmp_path / "nope.npz")
    assert code == 2 and "nope.npz" in err
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a state")
    code, _, err = run(capsys, "merge", junk)
    assert code == 1 and "junk.npz" in err
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    for path, spec in ((a, "auc"), (b, "precision")):
        assert run(capsys, "score", data["parquet"], "--y-true", "label", "--y-pred", "score",
                   "-m", spec, "--save-state", path, "--json")[0] == 0
    code, _, err = run(capsys, "merge", a, b)
    assert code == 1 and "cannot be merged" in err


# ------------------------------------------------------------------ exit codes
@pytest.mark.parametrize("args, words", [
    (["-m", "aurocc"], ["unknown metric 'aurocc'", "auroc"]),
    (["-m", "precision:threshold=0.3"], ["'threshold'", "thresholds"]),
    (["-m", "auc:curve=XYZ"], ["curve", "XYZ"]),
    (["-m", "confusion_matrix"], ["num_classes"]),
    (["-m", "mean"], ["Mean", "y_true, y_pred"]),
    ([], ["--metric"]),
    (["-m", "auc", "--weight", "wt"], ["--weight", "'wt'", "demo.parquet"]),
    (["-m", "auc", "--by", "region"], ["--by", "'region'"]),
    (["-m", "auc", "--format", "xls"], ["--format"]),
    (["-m", "auc", "--batch-size", "0"], ["--batch-size"]),
    (["-m", "f1_score"], ["f1_score", "shape"]),
])
def test_usage_errors_exit_2(capsys, data, args, words):
    code, out, err = run(capsys, "score", data["parquet"], "--y-true", "label", "--y-pred",
                         "score", *args)
    assert code == 2, (out, err)
    for word in words:
        assert word in err
    assert "Traceback" not in err


def test_usage_errors_paths_and_options(capsys, data, tmp_path):
    code, _, err = run(capsys, "score", tmp_path / "missing.parquet", "--y-true", "label",
                       "--y-pred", "score", "-m", "auc")
    assert code == 2 and "missing.parquet" in err
    code, _, err = run(capsys, "score", data["parquet"], "--y-pred", "score", "-m", "auc")
    assert code == 2 and "--y-true" in err
    code, _, err = run(capsys, "score", data["parquet"], "--y-true", "nolabel", "--y-pred",
                       "score", "-m", "auc")
    assert code == 2 and "'nolabel'" in err
    code, _, err = run(capsys, "frobnicate")
    assert code == 2
    code, _, err = run(capsys, "score", data["parquet"], "--y-true", "label", "--y-pred",
                       "score", "-m", "auc", "--scheduler", "x:1", "--workers", "2")
    assert code == 2 and "--scheduler" in err


def _with_column(table, name, values):
    return table.set_column(table.schema.get_field_index(name), name, values)


@pytest.mark.parametrize("case", ["bad_label", "nan_weight", "null_label", "nan_score",
                                  "string_label"])
def test_data_errors_exit_1_naming_file_column_row(capsys, data, tmp_path, case):
    table = data["table"]
    row = 15_123  # row group 2 of 7,000-row groups
    if case == "bad_label":
        v = col(table, "label").copy()
        v[row] = 2
        table, column = _with_column(table, "label", pa.array(v)), "label"
    elif case == "nan_weight":
        v = col(table, "weight").copy()
        v[row] = np.nan
        table, column = _with_column(table, "weight", pa.array(v)), "weight"
    elif case == "nan_score":
        v = col(table, "score").copy()
        v[row] = np.nan
        table, column = _with_column(table, "score", pa.array(v)), "score"
    elif case == "null_label":
        v = table["label"].to_pylist()
        v[row] = None
        table, column = _with_column(table, "label", pa.array(v, pa.int8())), "label"
    else:
        v = [str(x) for x in table["label"].to_pylist()]
        table, column = _with_column(table, "label", pa.array(v)), "label"
        row = None
    path = tmp_path / f"{case}.parquet"
    pq.write_table(table, str(path), row_group_size=7_000)
    code, out, err = run(capsys, "score", path, "--y-true", "label", "--y-pred", "score",
                         "--weight", "weight", "-m", "auc", "-m", "binary_accuracy")
    assert code == 1, (out, err)
    assert f"{case}.parquet" in err and f"column {column!r}" in err
    if row is not None:
        assert "row group 2" in err and f"row {row}" in err
    assert "Traceback" not in err and out == ""


def test_truncated_parquet_exit_1(capsys, data, tmp_path):
    raw = open(data["parquet"], "rb").read()
    bad = tmp_path / "cut.parquet"
    bad.write_bytes(raw[: len(raw) // 2])
    code, _, err = run(capsys, "score", bad, "--y-true", "label", "--y-pred", "score",
                       "-m", "auc")
    assert code == 1 and "cut.parquet" in err and "truncated" in err


def test_corrupt_column_chunk_exit_1(capsys, data, tmp_path):
    md = pq.read_metadata(data["parquet"])
    j = md.schema.to_arrow_schema().names.index("score")
    chunk = md.row_group(1).column(j)
    raw = bytearray(open(data["parquet"], "rb").read())
    raw[chunk.data_page_offset + 8: chunk.data_page_offset + 72] = b"\xff" * 64
    bad = tmp_path / "flipped.parquet"
    bad.write_bytes(bytes(raw))
    code, _, err = run(capsys, "score", bad, "--y-true", "label", "--y-pred", "score",
                       "-m", "auc")
    assert code == 1
    assert "flipped.parquet, row group 1, column 'score'" in err


def test_corrupt_csv_exit_1(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("label,score\n1,0.9\n0,0.1\n1,zero point five\n")
    code, _, err = run(capsys, "score", bad, "--y-true", "label", "--y-pred", "score",
                       "-m", "auc")
    assert code == 1 and "bad.csv" in err and "column 'score'" in err
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("label,score\n1,0.9\n0\n")
    code, _, err = run(capsys, "score", ragged, "--y-true", "label", "--y-pred", "score",
                       "-m", "auc")
    assert code == 1 and "ragged.csv" in err


def test_entry_point_exit_codes_in_a_subprocess(data):
    """The real process: exit statuses and no traceback."""
    base = [sys.executable, "-m", "metricore.cli", "score", data["parquet"], "--y-true",
            "label", "--y-pred", "score"]
    ok = subprocess.run(base + ["-m", "auc", "--json"], capture_output=True, text=True)
    assert ok.returncode == 0 and "auc" in json.loads(ok.stdout)
    usage = subprocess.run(base + ["-m", "nope"], capture_output=True, text=True)
    assert usage.returncode == 2 and "unknown metric 'nope'" in usage.stderr
    bad = subprocess.run(base[:4] + [data["csv"], "--y-true", "class", "--y-pred", "score",
                                     "-m", "auc"], capture_output=True, text=True)
    assert bad.returncode == 1 and "column 'class'" in bad.stderr
    assert "Traceback" not in usage.stderr + bad.stderr


# ------------------------------------------------------------------ demo, metrics
def test_demo_runs_and_prints_both_jobs(capsys, tmp_path):
    code, out, err = run(capsys, "demo", "--rows", 5000, "--dir", tmp_path)
    assert code == 0, err
    assert (tmp_path / "demo.parquet").exists()
    assert "metricore score" in out and "auroc" in out and "sparse_categorical_accuracy" in out
    code, out, err = run(capsys, "demo", "--rows", 5000, "--dir", tmp_path, "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2 and "confusion_matrix" in lines[1]


def test_metrics_lists_names(capsys):
    code, out, _ = run(capsys, "metrics")
    assert code == 0
    for name in ("auroc", "sparse_categorical_accuracy", "mean_iou", "precision"):
        assert name in out


def test_version_and_help(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and mc.__version__ in out
    code, out, _ = run(capsys, "score", "--help")
    assert code == 0 and "--y-true" in out


def test_registry_get():
    from metricore.metrics.registry import get

    assert isinstance(get("AUROC"), mc.AUROC) and isinstance(get("auroc"), mc.AUROC)
    assert get("precision:thresholds=0.3").get_config()["thresholds"] == 0.3
    f1 = get("f1_score:average=macro,threshold=0.5")
    assert (f1.get_config()["average"], f1.get_config()["threshold"]) == ("macro", 0.5)
    auc = get("auc:num_thresholds=65536,curve=PR")
    assert (auc.get_config()["num_thresholds"], auc.get_config()["curve"]) == (65536, "PR")
    assert get("precision:thresholds=[0.1,0.5]").get_config()["thresholds"] == [0.1, 0.5]
    assert isinstance(get("SparseCategoricalAccuracy"), mc.SparseCategoricalAccuracy)
    assert isinstance(get("mean-iou:num_classes=3"), mc.MeanIoU)
    assert get("auc:from_logits=true").get_config()["from_logits"] is True
    assert get("auroc", task="multiclass", num_classes=3).get_config()["num_classes"] == 3
    with pytest.raises(ValueError, match="unknown metric 'aucroc'.*auroc"):
        get("aucroc")
    with pytest.raises(ValueError, match="no argument 'threshold'.*thresholds"):
        get("precision:threshold=0.3")
    with pytest.raises(ValueError, match="needs argument"):
        get("mean_iou")
    with pytest.raises(ValueError, match="unknown metric"):
        get("mean_metric_wrapper")
