"""An "ensemble" row has ≥ 2 members with positive weight and lists them; one member is named by itself."""
from __future__ import annotations

import pandas as pd
import pytest

from carbonshift.experiments.config import load_yaml, parse
from carbonshift.experiments.instances import table_label
from carbonshift.experiments.kinds.backtest import BacktestConfig
from carbonshift.experiments.kinds.backtest import run as run_backtest_kind
from carbonshift.experiments.registry import Context
from carbonshift.experiments.results import CALIBRATED, RUN_TABLES
from carbonshift.forecast.ensemble import ensemble_label


def _weights(rows: list[tuple[str, int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["region", "bucket", "model", "weight"]).assign(mae=1.0)


def test_one_member_with_positive_weight_is_that_member():
    w = _weights([("DE", 0, "gbm", 1.0), ("DE", 0, "seasonal24", 0.0), ("GB", 0, "gbm", 1.0),
                  ("GB", 0, "seasonal24", 0.0)])
    assert ensemble_label(w) == "gbm" and ensemble_label(w, "+cqr") == "gbm+cqr"


def test_two_members_list_their_mean_weights():
    w = _weights([("DE", 0, "gbm", 0.8), ("DE", 0, "prophet", 0.2), ("GB", 0, "gbm", 0.4), ("GB", 0, "prophet", 0.6),
                  ("DE", 0, "persistence", 0.0), ("GB", 0, "persistence", 0.0)])
    assert ensemble_label(w, "+cqr") == "ensemble(gbm 0.60, prophet 0.40)+cqr"
    with pytest.raises(ValueError, match="no member has a positive weight"):
        ensemble_label(w.assign(weight=0.0))


def _quick(members: list[str], tmp_path) -> BacktestConfig:
    doc = load_yaml("experiments/configs/forecast_quick.yaml")
    doc["models"] = {"naive": {"kinds": ["persistence", "seasonal24", "seasonal168"]}}
    doc["windows"].update(val_start="2021-06-01", test_end="2021-07-07")
    doc["backtest"].update(ensemble_members=members, ensemble_prune=100.0)
    return parse(doc, BacktestConfig)


@pytest.mark.slow
def test_backtest_kind_names_a_one_member_combination_by_its_member(tmp_path):
    res = run_backtest_kind(_quick(["seasonal24"], tmp_path), Context(progress=False, out_dir=tmp_path))
    assert res.summary["combined_forecast"] == "seasonal24+cqr"
    models = set(res.tables["mape_by_region"]["model"])
    assert "seasonal24+cqr" in models and "ensemble" not in models
    assert "seasonal24 (uncalibrated)" in set(res.tables["coverage"]["model"])
    assert "mape.ci_direct.seasonal24_cqr.mean" in res.metrics
    assert not any(".ensemble." in k for k in res.metrics)
    path = next(f for f in res.files if f.name == "forecast_ensemble.csv")
    table = pd.read_csv(path)
    assert set(table["model"]) == {"seasonal24+cqr"}
    assert table_label(table, str(path)) == "seasonal24+cqr forecast table forecast_ensemble.csv"
    coverage = res.tables["coverage"]                    # RESULTS.md picks the calibrated combination's rows
    query = dict(RUN_TABLES["forecast_dacf"])["coverage"]
    assert set(coverage.query(query, engine="python")["model"]) == {"seasonal24+cqr"}
    assert query.endswith(f"'{CALIBRATED}')")


@pytest.mark.slow
def test_backtest_kind_lists_the_members_of_a_real_ensemble(tmp_path):
    res = run_backtest_kind(_quick(["seasonal24", "seasonal168"], tmp_path), Context(progress=False, out_dir=tmp_path))
    label = res.summary["combined_forecast"]
    assert label.startswith("ensemble(seasonal") and "seasonal24 0." in label and "seasonal168 0." in label
    assert label.endswith(")+cqr") and label in set(res.tables["mape_by_region"]["model"])
    assert "mape.ci_direct.ensemble.mean" in res.metrics                # metric key of a real ensemble


def test_sweep_headline_names_the_forecast_table_it_planned_on():
    from carbonshift.experiments.report.frame import name_forecast_tables
    from carbonshift.experiments.results import Claim, headline

    frame = pd.DataFrame({"run_id": ["a", "b", "c"], "forecast.source": ["table", "table", "synthetic"],
                          "seed": [0, 1, 0], "policy": ["cooperative"] * 3,
                          "metric": ["reduction_vs_perf_first"] * 3, "value": [40.0, 42.0, 47.0]})
    labels = {"a": "gbm+cqr forecast table forecast_ensemble.csv", "b": "gbm+cqr forecast table forecast_ensemble.csv"}
    table = headline(name_forecast_tables(frame, labels), Claim("forecast.source", "reduction_vs_perf_first", {}, "%"),
                     ["forecast.source", "seed"])
    assert list(table["forecast.source"]) == ["synthetic", "table (gbm+cqr forecast table forecast_ensemble.csv)"]


def test_forecast_labels_read_each_runs_summary(store):
    import mlflow

    from carbonshift.experiments import tracking
    from carbonshift.experiments.report.frame import forecast_labels
    from carbonshift.experiments.report.runs import run_summaries

    with tracking.run("labels", "with") as active:
        mlflow.log_dict({"forecast": "gbm+cqr forecast table forecast_ensemble.csv, measured accuracy 88.1 %"},
                        "summary.json")
        with_id = active.info.run_id
    with tracking.run("labels", "without") as active:
        without_id = active.info.run_id
    c = mlflow.MlflowClient(store.uri)
    runs = [c.get_run(with_id), c.get_run(without_id)]
    assert forecast_labels(run_summaries(c, runs)) == {with_id: "gbm+cqr forecast table forecast_ensemble.csv"}
