"""metricore.dask.score on a LocalCluster: per-partition states, tree-merged, equal the
single-process results (counts exactly, floats to rounding)."""


import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

import metricore as mc  # noqa: E402
from metricore import cli, io  # noqa: E402
from metricore import dask as mdask  # noqa: E402
from metricore._demo import SEGMENTS, write_demo  # noqa: E402

N = 40_000
SPECS = ["auc", "auroc", "binary_accuracy", "true_positives", "precision:thresholds=[0.3,0.7]"]

GROUP_SPECS = ["auroc", "auc", "binary_accuracy", "true_positives", "mean_squared_error"]


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as c:
            yield c


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("dask")
    paths = []
    for k in range(3):
        paths.append(write_demo(str(d / f"part-{k}.parquet"), N // 4 if k < 2 else N // 2,
                                seed=10 + k, row_group_size=2_500))
    table = pa.concat_tables([pq.read_table(p) for p in paths])
    return {"dir": str(d), "paths": paths, "table": table}


def reference(specs, table, weighted=True, mask=None):
    y, p, w = (table[c].to_numpy() for c in ("label", "score", "weight"))
    if mask is not None:
        y, p, w = y[mask], p[mask], w[mask]
    ref = cli.build_collection(specs)
    ref.update_state(y, p, w if weighted else None)
    return ref.result()


def assert_same(got, ref):
    assert set(got) == set(ref)
    for name, value in ref.items():
        np.testing.assert_allclose(np.asarray(got[name], float), np.asarray(value, float),
                                   rtol=1e-12, atol=1e-12, err_msg=name)


def test_files_on_cluster_equal_single_process(client, files):
    got = mdask.score(files["dir"], cli.build_collection(SPECS), y_true="label",
                      y_pred="score", sample_weight="weight", rows_per_task=5_000,
                      split_every=2, client=client)
    assert_same(got, reference(SPECS, files["table"]))


def test_unweighted_counts_exact(client, files):
    got = mdask.score(files["paths"], {"tp": mc.TruePositives(), "fn": mc.FalseNegatives()},
                      y_true="label", y_pred="score", rows_per_task=1, client=client)
    y, p = files["table"]["label"].to_numpy(), files["table"]["score"].to_numpy()
    assert int(got["tp"]) == int(np.sum((p > 0.5) & (y == 1)))
    assert int(got["fn"]) == int(np.sum((p <= 0.5) & (y == 1)))
    assert np.asarray(got["tp"]).dtype.kind == "i"


def test_dask_dataframe_default_scheduler(client, files):
    frame = dd.read_parquet(files["paths"], columns=["label", "score", "weight"])
    frame = frame.repartition(npartitions=7)
    metrics = {name: m for name, m in cli.build_collection(SPECS).items()}
    got = mdask.score(frame, metrics, y_true="label", y_pred="score", sample_weight="weight")
    assert_same(got, reference(SPECS, files["table"]))


def test_dask_dataframe_several_prediction_columns(client, files):
    pdf = files["table"].select(["class", "probs"]).to_pandas()
    probs = np.stack(pdf["probs"].to_numpy())
    wide = pd.DataFrame({f"p{j}": probs[:, j] for j in range(5)})
    wide["class"] = pdf["class"].to_numpy()
    frame = dd.from_pandas(wide, npartitions=5)
    specs = ["sparse_categorical_accuracy", "confusion_matrix:num_classes=5"]
    got = mdask.score(frame, specs, y_true="class", y_pred=[f"p{j}" for j in range(5)],
                      client=client)
    pred = probs.argmax(axis=1)
    assert float(got["sparse_categorical_accuracy"]) == pytest.approx(
        np.mean(pred == wide["class"].to_numpy()), rel=1e-12)
    cm = np.zeros((5, 5), np.int64)
    np.add.at(cm, (wide["class"].to_numpy(), pred), 1)
    np.testing.assert_array_equal(got["confusion_matrix"], cm)


def test_list_column_files(client, files):
    got = mdask.score(files["paths"], ["sparse_categorical_accuracy"], y_true="class",
                      y_pred="probs", rows_per_task=7_000, client=client)
    probs = np.stack(files["table"]["probs"].to_numpy(zero_copy_only=False))
    y = files["table"]["class"].to_numpy()
    assert float(got["sparse_categorical_accuracy"]) == pytest.approx(
        np.mean(probs.argmax(axis=1) == y), rel=1e-12)


def test_grouped_equals_per_group(client, files):
    specs = GROUP_SPECS
    got = mdask.score(files["paths"], cli.build_collection(specs), y_true="label",
                      y_pred="score", sample_weight="weight", by="segment",
                      rows_per_task=5_000, client=client)
    seg = np.array(files["table"]["segment"].to_pylist())
    for g in SEGMENTS:
        ref = reference(specs, files["table"], mask=seg == g)
        for name, value in ref.items():
            assert float(got[name][g]) == pytest.approx(float(value), rel=1e-12, abs=1e-12)


def test_grouped_dataframe(client, files):
    frame = dd.from_pandas(files["table"].select(["label", "score", "segment"]).to_pandas(),
                           npartitions=4)
    got = mdask.score(frame, GROUP_SPECS, y_true="label", y_pred="score", by="segment",
                      client=client)
    seg = np.array(files["table"]["segment"].to_pylist())
    for g in SEGMENTS:
        ref = reference(GROUP_SPECS, files["table"], weighted=False, mask=seg == g)
        for name, value in ref.items():
            assert float(got[name][g]) == pytest.approx(float(value), rel=1e-12, abs=1e-12)


def test_data_error_from_worker_names_file(client, files, tmp_path):
    table = files["table"].slice(0, 5_000)
    labels = table["label"].to_numpy().copy()
    labels[4_321] = 7
    bad = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    path = str(tmp_path / "bad.parquet")
    pq.write_table(bad, path, row_group_size=1_000)
    with pytest.raises(io.DataError) as info:
        mdask.score([files["paths"][0], path], ["auc"], y_true="label", y_pred="score",
                    rows_per_task=1_000, client=client)
    err = info.value
    assert err.path.endswith("bad.parquet") and (err.row_group, err.column, err.row) == (
        4, "label", 4_321)


def test_missing_column_is_usage_error(client, files):
    with pytest.raises(io.UsageError, match="'nope'"):
        mdask.score(files["paths"], ["auc"], y_true="label", y_pred="nope", client=client)
    frame = dd.from_pandas(pd.DataFrame({"label": [0, 1], "score": [0.1, 0.9]}),
                           npartitions=1)
    with pytest.raises(io.UsageError, match="'weight'"):
        mdask.score(frame, ["auc"], y_true="label", y_pred="score", sample_weight="weight")


def test_cli_scheduler_option(client, files, capsys):
    import json

    code = cli.main(["score", files["dir"], "--y-true", "label", "--y-pred", "score",
                     "--weight", "weight", "-m", "auc", "-m", "true_positives",
                     "--scheduler", client.scheduler.address, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    got = json.loads(out)
    ref = reference(["auc", "true_positives"], files["table"])
    assert got["auc"] == pytest.approx(float(ref["auc"]), rel=1e-12)
    assert got["true_positives"] == pytest.approx(float(ref["true_positives"]), rel=1e-12)


def test_score_state_can_be_saved(client, files, tmp_path):
    if not hasattr(mc.MetricCollection, "save_state"):
        pytest.skip("save_state missing")
    state = mdask.score_state(files["paths"], ["auc", "true_positives"], y_true="label",
                              y_pred="score", client=client)
    path = str(tmp_path / "s.npz")
    state.save_state(path)
    assert float(mc.load(path).result()["auc"]) == pytest.approx(float(state.result()["auc"]))


def test_cli_workers_option_starts_a_local_cluster(files, capsys, tmp_path):
    import json

    args = ["score", *files["paths"], "--y-true", "label", "--y-pred", "score", "-m",
            "true_positives", "--workers", "2", "--json"]
    code = cli.main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    y, p = files["table"]["label"].to_numpy(), files["table"]["score"].to_numpy()
    assert json.loads(out)["true_positives"] == int(np.sum((p > 0.5) & (y == 1)))
    bad = tmp_path / "bad.parquet"
    labels = files["table"]["label"].to_numpy().copy()
    labels[123] = 5
    pq.write_table(files["table"].set_column(0, "label", pa.array(labels)), str(bad))
    code = cli.main(args[:1] + [str(bad)] + args[1 + len(files["paths"]):])
    out, err = capsys.readouterr()
    assert code == 1 and "bad.parquet" in err and "row 123" in err  # DataError from a process
