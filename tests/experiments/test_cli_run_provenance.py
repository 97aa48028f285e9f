"""MLflow runs say where they came from: readable trial names (config name + swept values), the forecast table
and the run that produced it for ``forecast.source: table``, no synthetic-forecast params there, overrides."""
from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from carbonshift.experiments import execution, mlflow_output, run_tags, runner, sweep
from carbonshift.experiments.config import parse
from carbonshift.experiments.kinds.simulate import SimulateConfig


def _table(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"issue_time": ["2023-03-01T00:00Z"], "time": ["2023-03-01T01:00Z"], "region": ["GB"],
                  "mean": [200.0]}).to_csv(path, index=False)
    return path


def test_table_forecast_tags_name_the_table_and_its_run(tmp_path):
    run_id = "0123456789abcdef0123456789abcdef"
    table = _table(tmp_path / "reports" / "fc" / run_id / "forecast_ensemble.csv")
    (tmp_path / "reports" / "fc" / "latest").symlink_to(run_id)
    cfg = parse({"kind": "simulate", "name": "x",
                 "forecast": {"source": "table", "table_path": str(tmp_path / "reports/fc/latest/forecast_ensemble.csv")}},
                SimulateConfig)
    tags = run_tags.forecast_tags(cfg)
    assert tags["carbonshift.forecast_run_id"] == run_id
    assert len(tags["carbonshift.forecast_table_sha256"]) == 64 and tags["carbonshift.forecast_table"].endswith(
        "forecast_ensemble.csv")
    params = run_tags.logged_params(cfg)["forecast"]
    assert params["source"] == "table" and not set(run_tags.SYNTHETIC_FORECAST_KEYS) & set(params)
    synthetic = parse({"kind": "simulate", "name": "x"}, SimulateConfig)
    assert run_tags.forecast_tags(synthetic) == {} and "accuracy" in run_tags.logged_params(synthetic)["forecast"]
    assert table.exists()


@pytest.mark.slow
def test_trials_are_named_by_config_and_swept_values_and_runs_carry_overrides(store, ray_local):
    doc = {"kind": "tiny", "name": "tiny_named", "sweep": {"forecast.accuracy": [0.6, 1.0]}}
    rec = sweep.run_sweep(doc, reports_dir=store.root / "reports", progress=False)
    names = sorted(r.info.run_name for r in mlflow.search_runs(
        experiment_names=["tiny_named"], output_format="list", filter_string="tags.`carbonshift.role` = 'trial'"))
    assert rec.n_run == 2 and names == ["tiny_named forecast.accuracy=0.6", "tiny_named forecast.accuracy=1.0"]
    one = runner.run_config({"kind": "tiny", "name": "tiny_named"}, {"forecast.accuracy": 0.7},
                            reports_dir=store.root / "reports", progress=False)
    run = mlflow.get_run(one.run_id)
    assert run.info.run_name == "tiny_named" and run.data.tags["carbonshift.overrides"] == "forecast.accuracy=0.7"


def test_runs_record_checksums_of_the_data_they_read(store):
    import hashlib
    import json

    from carbonshift.experiments.registry import Context, Result
    from carbonshift.forecast.data.panel import em_path

    def reads_gb(config, ctx):
        em_path("GB", 2023)
        return Result(metrics={"x": 1.0})

    out = execution.execute(reads_gb, None, Context())
    path = em_path("GB", 2023)
    assert out.data_files == {f"electricitymaps/{path.name}": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert execution.execute(lambda c, x: Result(), None, Context()).data_files == {}     # reset per run
    client = mlflow.MlflowClient()
    run_id = client.create_run(client.create_experiment("data_sums")).info.run_id
    mlflow_output.log_output(client, run_id, out)
    digest = out.data_files[f"electricitymaps/{path.name}"]
    assert client.get_run(run_id).data.tags[run_tags.DATA_TAG] == f"electricitymaps/{path.name}:{digest[:12]}"
    assert json.loads(open(client.download_artifacts(run_id, "data_files.json")).read()) == out.data_files
