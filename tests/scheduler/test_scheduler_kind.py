"""The simulate kind and the CLI on a tiny real instance."""
import json

import pytest

from carbonshift.experiments.cli import main
from carbonshift.experiments.config import load, parse
from carbonshift.experiments.kinds.plan_bench import BenchConfig
from carbonshift.experiments.kinds.simulate import SimulateConfig
from carbonshift.experiments.registry import Context, get

TINY = {"kind": "simulate", "name": "tiny", "seed": 1,
        "data": {"zones": ["US-CAL-CISO", "DE"], "start": "2023-05-01", "span_days": 3, "tail_days": 8},
        "workload": {"n_jobs": 25}, "datacenters": {"gpus_per_region": 512},
        "policies": ["performance_first", "casper", "cooperative", "risk_aware"],
        "simulation": {"failure_rate_per_h": 0.002}}


def test_shipped_configs_parse():
    cfg = load("experiments/configs/paper_main.yaml", SimulateConfig)
    assert cfg.data.zones == ["US-CAL-CISO", "US-TEX-ERCO", "GB", "SG", "JP-TK", "DE"]
    assert cfg.workload.n_jobs == 1000 and cfg.oracle.enabled
    bench = load("experiments/configs/scale_bench.yaml", BenchConfig)
    assert bench.job_counts == [100, 1000, 5000] and len(bench.zones) == 10 and "cooperative" in bench.policies


def test_simulate_kind_end_to_end(tmp_path):
    cfg = parse(TINY, SimulateConfig)
    result = get("simulate").run(cfg, Context(seed=1, out_dir=tmp_path))
    table = result.tables["policies"]
    assert list(table["policy"])[:4] == ["performance_first", "casper", "cooperative", "risk_aware"]
    assert table["policy"].iloc[4] == f"oracle ({result.summary['oracle.bound_kind']})"   # the row names its bound kind
    for p in [*table["policy"][:4], "oracle"]:                  # metric keys keep the bare name
        for k in ("carbon_kg", "reduction_vs_perf_first", "deadline_rate", "renewable_share", "oracle_share",
                  "completion_h_p95", "plan_seconds", "peak_mem_mb"):
            assert f"{p}.{k}" in result.metrics
    assert result.metrics["oracle.oracle_share"] > 99.0       # oracle captures its own saving
    assert result.metrics["oracle.oracle_share"] <= 100.0 + 1e-6 and result.metrics["oracle.gap_pct"] >= 0
    for name in table["policy"][:4]:                            # a comparable policy never beats its bound
        share, why = result.metrics[f"{name}.oracle_share"], table.set_index("policy").loc[name, "oracle_bound"]
        if why.startswith("not comparable"):
            assert share != share                               # NaN (null in JSON)
        else:
            assert why.startswith(("contiguous", "preemptive")) and share <= 100.0 + 1e-6
    # no policy here suspends a job, so the (costly) suspend/resume bound is not solved
    assert set(result.tables["oracle_bounds"]["constraint_set"]) == {"contiguous"}
    assert "oracle_preemptive.bound_kind" not in result.summary
    assert abs(result.metrics["forecast_mape_day_ahead_pct"] - 13.0) < 0.1     # 87 % day-ahead accuracy
    assert result.metrics["forecast_mape_pct"] > 13.5                          # horizons past 24 h err more
    assert "pareto.png" in result.figures


def test_preemptive_bound_solved_when_a_policy_suspends(tmp_path):
    cfg = parse({**TINY, "policies": ["performance_first", "cooperative_suspend"],
                 "oracle": {"time_limit_s": 60}}, SimulateConfig)
    result = get("simulate").run(cfg, Context(seed=1, out_dir=tmp_path))
    compared = result.tables["policies"].set_index("policy").loc["cooperative_suspend", "oracle_bound"]
    assert compared.startswith("preemptive")                     # it suspended jobs on this instance
    assert set(result.tables["oracle_bounds"]["constraint_set"]) == {"contiguous", "preemptive"}
    assert result.summary["oracle_preemptive.bound_kind"]


@pytest.mark.slow
def test_cli_runs_through_the_shared_runner(tmp_path, capsys, mlflow_uri):
    import mlflow
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, "policies": ["performance_first", "greedy_carbon"],
                                    "oracle": {"enabled": False}}))
    reports = tmp_path / "reports"
    assert main(["simulate", str(path), "--json", "--reports-dir", str(reports), "--set", "workload.n_jobs=12"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["policy"] for r in doc["policies"]] == ["performance_first", "greedy_carbon"]
    assert doc["status"] == "FINISHED" and (reports / "tiny" / doc["run_id"] / "pareto.png").exists()
    run = mlflow.MlflowClient(mlflow_uri).get_run(doc["run_id"])     # logged once, by the runner
    assert run.data.params["workload.n_jobs"] == "12" and run.data.tags["carbonshift.kind"] == "simulate"
    assert run.data.metrics["greedy_carbon.carbon_kg"] == doc["policies"][1]["carbon_kg"]
    assert main(["simulate", str(tmp_path / "missing.yaml")]) == 2
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"kind": "duration", "name": "x"}))
    assert main(["simulate", str(other)]) == 2
    assert "not run by `carbonshift simulate`" in capsys.readouterr().err
