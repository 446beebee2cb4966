"""The run folder: schema, ledger (resume, torn lines) and results files, on real files."""

import json

import numpy as np
import pandas as pd
import pytest

from deepfake_detect.evaluate.metrics import compute_metrics
from deepfake_detect.runs import Ledger, cell_id
from deepfake_detect.runs.folder import LEDGER_FILE, RESULTS_CSV, RESULTS_PARQUET, scores_path, write_results
from deepfake_detect.runs.schema import KEY_COLUMNS, MEASUREMENTS, METRICS, RESULT_COLUMNS, make_row


def a_row(cid: str, auc: float = 0.9) -> dict:
    keys = dict.fromkeys(KEY_COLUMNS, "x") | {"cell_id": cid, "level": float("nan"), "seed": 0}
    metrics = compute_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9]), n_bootstrap=10)
    return keys | metrics | {"auc": auc} | dict.fromkeys((m.name for m in MEASUREMENTS), 1.0)


def test_schema_holds_exactly_what_compute_metrics_returns():
    returned = compute_metrics(np.array([0, 1, 0, 1]), np.array([0.2, 0.8, 0.4, 0.3]), n_bootstrap=5)
    assert set(returned) == {m.name for m in METRICS}
    assert set(RESULT_COLUMNS) == set(KEY_COLUMNS) | {m.name for m in METRICS + MEASUREMENTS}
    assert len(RESULT_COLUMNS) == len(set(RESULT_COLUMNS))


def test_a_row_with_a_column_the_schema_does_not_know_is_refused():
    with pytest.raises(KeyError, match="unknown \\['new_metric'\\]"):
        make_row(a_row("c1") | {"new_metric": 1.0})
    row = a_row("c1")
    del row["eer"]
    with pytest.raises(KeyError, match="missing \\['eer'\\]"):
        make_row(row)


def test_cell_id_depends_on_every_field_and_not_on_their_order():
    assert cell_id({"a": 1, "b": "x"}) == cell_id({"b": "x", "a": 1})
    assert cell_id({"a": 1, "b": "x"}) != cell_id({"a": 2, "b": "x"})
    assert len(cell_id({})) == 16


def test_ledger_remembers_cells_and_their_scores_across_opens(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.append(a_row("c1"), np.array([0, 1]), np.array([0.2, 0.7]))
    again = Ledger(tmp_path)
    assert list(again.done()) == ["c1"] and "c1" in again
    with np.load(scores_path(tmp_path, "c1")) as saved:
        assert saved["y_true"].tolist() == [0, 1] and saved["score"].tolist() == pytest.approx([0.2, 0.7])
    line = json.loads((tmp_path / LEDGER_FILE).read_text())
    assert line["level"] is None  # strict JSON: NaN is written as null
    table = again.table(["c1", "missing"])
    assert list(table.columns) == RESULT_COLUMNS and len(table) == 1 and np.isnan(table.level[0])


def test_a_torn_last_line_is_dropped_and_the_next_cell_starts_a_new_line(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.append(a_row("c1"), np.array([0, 1]), np.array([0.2, 0.7]))
    with (tmp_path / LEDGER_FILE).open("a") as handle:
        handle.write('{"cell_id": "c2", "auc": 0.')  # the process died mid-write
    resumed = Ledger(tmp_path)
    assert list(resumed.done()) == ["c1"]
    resumed.append(a_row("c3"), np.array([0, 1]), np.array([0.1, 0.9]))
    assert list(Ledger(tmp_path).done()) == ["c1", "c3"]
    assert [json.loads(line)["cell_id"] for line in (tmp_path / LEDGER_FILE).read_text().splitlines()] == ["c1", "c3"]


def test_results_are_written_as_csv_and_parquet_in_schema_order(tmp_path):
    rows = [a_row("c1"), a_row("c2", auc=0.7)]
    path = write_results(tmp_path, rows)
    assert path == tmp_path / RESULTS_CSV
    csv = pd.read_csv(path)
    assert list(csv.columns) == RESULT_COLUMNS and csv.auc.tolist() == [0.9, 0.7]
    assert pd.read_parquet(tmp_path / RESULTS_PARQUET).shape == csv.shape
