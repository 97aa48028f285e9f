"""Reports and RESULTS.md are built from what MLflow holds (tiny kind; a run and a sweep)."""
from __future__ import annotations

import json
import subprocess
import sys

import mlflow
import pandas as pd
import pytest

from carbonshift.experiments.report import build_report
from carbonshift.experiments.results import composition_label, write_results
from carbonshift.experiments.runner import run_config


@pytest.mark.slow
def test_run_is_logged_and_reported(store):
    path = store.write_config({"kind": "tiny", "name": "tiny_one", "seed": 3, "forecast": {"accuracy": 0.75}})
    out = subprocess.run([sys.executable, "-m", "carbonshift.experiments.cli", "run", str(path), "--set", "n_regions=4",
                          "--reports-dir", str(store.root / "reports"), "--json"],
                         env=store.env, cwd=store.root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["status"] == "FINISHED" and doc["kind"] == "tiny"
    c = mlflow.MlflowClient(store.uri)
    run = c.get_run(doc["run_id"])
    assert run.data.params["n_regions"] == "4" and run.data.params["forecast.accuracy"] == "0.75"
    assert run.data.tags["carbonshift.config_hash"] == doc["config_hash"]

    rep = build_report(doc["run_id"], store.root / "reports")
    names = {p.name for p in rep.figures}
    assert names == {"pareto_carbon_vs_completion.png", "carbon_operational_vs_transfer.png",
                     "renewable_by_region.png", "allocation_by_hour_heatmap.png"}
    assert all(p.stat().st_size > 5000 for p in rep.figures)
    logged = pd.read_csv(c.download_artifacts(doc["run_id"], "tables/policies.csv", str(store.root)))
    split = rep.tables["carbon_operational_vs_transfer"].set_index("policy")
    assert split.loc["cooperative", "operational_kg"] == pytest.approx(
        logged.set_index("policy").loc["cooperative", "carbon_operational_kg"])
    assert sorted(rep.tables["renewable_by_region"]["region"].unique()) == ["R0", "R1", "R2", "R3"]
    heat = rep.tables["allocation_by_hour"]                    # main policy: region rows × 24 hours
    assert list(heat["region"]) == ["R0", "R1", "R2", "R3"] and heat.shape == (4, 25)
    pareto = rep.tables["pareto"]
    assert pareto["pareto_optimal"].all()          # tiny kind: each policy trades carbon for time
    assert (rep.out_dir / "report.md").read_text().count("![") == 4
    assert "report/report.md" in {a.path for a in c.list_artifacts(doc["run_id"], "report")}


@pytest.mark.slow   # the session's tiny_sweep: starts local Ray (≈ 10 s CPU, 15–30 s wall on 2 cores)
def test_sweep_report_curves_from_mlflow(tiny_sweep):
    store, rec = tiny_sweep
    rep = build_report("tiny_sweep", store.root / "reports2")
    assert rep.is_sweep and rep.run_id == rec.parent_run_id
    curve = rep.tables["curve_forecast.accuracy"]
    coop = curve[(curve["policy"] == "cooperative") & (curve["metric"] == "reduction_vs_perf_first")]
    assert list(coop["forecast.accuracy"]) == [0.6, 1.0] and list(coop["n"]) == [2, 2]
    assert coop["mean"].iloc[1] > coop["mean"].iloc[0] + 10          # tiny kind: 0.5 × accuracy saving
    assert (coop["std"] > 0).all()                                  # seeds differ
    assert {"reduction_vs_perf_first_vs_forecast.accuracy.png", "cost_vs_forecast.accuracy.png"} <= {
        p.name for p in rep.figures}
    assert (rep.out_dir / "curve_forecast.accuracy.md").read_text().startswith("| forecast.accuracy |")


@pytest.mark.slow   # the session's tiny_sweep: starts local Ray (≈ 10 s CPU, 15–30 s wall on 2 cores)
def test_results_markdown_states_machine_seeds_and_claims(tiny_sweep, tmp_path):
    store, rec = tiny_sweep
    out = tmp_path / "RESULTS.md"
    doc = write_results(out, ["tiny_sweep"])
    text = out.read_text()
    assert doc["headline"][0]["trials"] == 4
    assert rec.parent_run_id in text and "CPUs" in text and "- seeds: 0, 1" in text
    assert "| forecast.accuracy | reduction_vs_perf_first (%) | seeds |" in text
    assert "`forecast.error_model` | `gaussian`" in text            # settings held fixed
    assert "Profile of the runs shown: `full` (every config as written) for every run." in text
    assert "- seeds: 0, 1\n- profile: `full`\n" in text
    with pytest.raises(LookupError, match="no sweep named 'nope'"):
        write_results(out, ["nope"])


def test_composition_labels():
    assert composition_label("lm=0.7 cv=0.1 rl=0.1 rec=0.1") == "lm-heavy"
    assert composition_label("lm=0.25 cv=0.25 rl=0.25 rec=0.25") == "mixed"


def test_axis_values_from_flattened_params():
    from carbonshift.experiments.report.frame import axis_value, param

    params = {"workload.mix.lm": "0.7", "workload.mix.cv": "0.3", "data.zones": '["GB", "DE"]', "seed": "2"}
    assert param(params, "workload.mix") == {"lm": 0.7, "cv": 0.3}
    assert axis_value(param(params, "workload.mix")) == "lm=0.7 cv=0.3"
    assert axis_value(param(params, "data.zones")) == 2 and axis_value(param(params, "seed")) == 2
    assert param(params, "missing") is None


@pytest.mark.slow
def test_results_include_single_runs_from_mlflow(store, tmp_path, monkeypatch):
    rec = run_config({"kind": "tiny", "name": "tiny_single", "seed": 1}, {"seed": 2}, reports_dir=tmp_path / "reports",
                     profile="two_core")
    monkeypatch.setattr("carbonshift.experiments.results.RUN_TABLES", {"tiny_single": [("policies", "policy == 'cooperative'")]})
    out = tmp_path / "RESULTS.md"
    doc = write_results(out)
    text = out.read_text()
    assert {"section": "tiny_single", "trials": 1, "run_id": rec.run_id, "tables": 1} in doc["headline"]
    assert "## tiny_single" in text and rec.run_id in text and "**policies**" in text
    assert "- profile: `two_core`; overrides: `seed=2`" in text
    assert "Profile of the runs shown: `two_core` (the reduced 2-core profile" in text
    table = text.split("**policies**")[1]
    assert "| cooperative |" in table and "| performance_first |" not in table   # the row filter applied
