"""A generated prediction file for ``metricore demo``, the tests and the benchmark.

Columns: ``label`` (int8, binary), ``score`` (float32 probability of a model better than
chance, worse on some segments), ``weight`` (float32), ``segment`` (string: web, ios,
android, partner), ``class`` (int32 in [0, 5)) and ``probs`` (list<float32> of 5 class
probabilities, rows summing to 1), and, with ``wide=True``, ``p0`` ... ``p4`` (the same
probabilities as one column per class).
"""

from __future__ import annotations

import numpy as np

SEGMENTS = ("web", "ios", "android", "partner")
NUM_CLASSES = 5


def demo_table(rows: int, seed: int = 0, wide: bool = False):
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    seg = rng.integers(0, len(SEGMENTS), rows)
    label = (rng.random(rows) < np.array([0.3, 0.2, 0.25, 0.4])[seg]).astype(np.int8)
    skill = np.array([1.6, 1.2, 0.9, 0.5])[seg]
    logit = skill * (2.0 * label - 1.0) + rng.normal(0.0, 1.0, rows) - 0.5
    score = (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    weight = rng.uniform(0.5, 2.0, rows).astype(np.float32)
    cls = rng.integers(0, NUM_CLASSES, rows).astype(np.int32)
    logits = rng.normal(0.0, 1.0, (rows, NUM_CLASSES))
    logits[np.arange(rows), cls] += 1.5
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)
    segment = pa.DictionaryArray.from_arrays(pa.array(seg.astype(np.int32)),
                                             pa.array(list(SEGMENTS))).cast(pa.string())
    columns = {
        "label": label, "score": score, "weight": weight, "segment": segment, "class": cls,
        "probs": pa.FixedSizeListArray.from_arrays(pa.array(probs.reshape(-1)), NUM_CLASSES)
        .cast(pa.list_(pa.float32())),
    }
    if wide:
        for j in range(NUM_CLASSES):
            columns[f"p{j}"] = probs[:, j]
    return pa.table(columns)


def write_demo(path: str, rows: int = 1_000_000, seed: int = 0, row_group_size: int = 1 << 18,
               wide: bool = False) -> str:
    """Writes ``demo_table(rows)`` to ``path`` (Parquet, or CSV when it ends in .csv: the
    list column is left out there); returns ``path``."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = demo_table(rows, seed, wide)
    if path.lower().endswith(".csv"):
        pacsv.write_csv(table.drop_columns(["probs"]), path)
    else:
        pq.write_table(table, path, row_group_size=row_group_size)
    return path
