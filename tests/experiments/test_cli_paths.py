"""Where runs and reports go: one folder per run id (``latest`` = the last successful run), a report uploads only
its own files, and default paths (mlruns/, reports/, forecast tables) do not depend on the current directory."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from carbonshift.experiments.report import build_report
from carbonshift.experiments.report_dirs import REPORTS_DIR
from carbonshift.experiments.runner import run_config
from carbonshift.experiments.tracking import forecast_table_path

ROOT = Path(__file__).resolve().parents[2]


def test_runs_of_one_config_do_not_overwrite_each_other(store):
    reports = store.root / "reports"
    first = run_config({"kind": "tiny", "name": "tiny_twice", "seed": 1}, reports_dir=reports, progress=False)
    second = run_config({"kind": "tiny", "name": "tiny_twice", "seed": 2}, reports_dir=reports, progress=False)
    assert first.report_dir == (reports / "tiny_twice" / first.run_id).resolve() != second.report_dir
    assert (first.report_dir / "policies.csv").read_text() != (second.report_dir / "policies.csv").read_text()
    latest = reports / "tiny_twice" / "latest"
    assert latest.is_symlink() and latest.resolve() == second.report_dir
    failed = run_config({"kind": "tiny", "name": "tiny_twice", "fail": True}, reports_dir=reports, progress=False)
    assert failed.status == "FAILED" and latest.resolve() == second.report_dir    # latest = last good run


@pytest.mark.slow   # a run + two reports
def test_report_uploads_only_its_own_files(store):
    reports = store.root / "reports"
    rec = run_config({"kind": "tiny", "name": "tiny_reported", "seed": 1}, reports_dir=reports, progress=False)
    rep = build_report(rec.run_id, reports)
    assert rep.out_dir == rec.report_dir / "report"
    (rep.out_dir / "stray_notes.txt").write_text("not part of the report")
    rep = build_report(rec.run_id, reports)
    logged = {Path(a.path).name for a in mlflow.MlflowClient().list_artifacts(rec.run_id, "report")}
    expected = {"report.md", *(p.name for p in rep.figures), *(f"{t}.{e}" for t in rep.tables for e in ("csv", "md"))}
    assert logged == expected
    assert "stray_notes.txt" not in logged and "policies.csv" not in logged     # nor the run's own tables


def test_default_store_and_reports_are_the_projects_from_any_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CARBONSHIFT_RUNS_DIR", "MLFLOW_TRACKING_URI")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    code = "from experiments import tracking, report_dirs; print(tracking.tracking_uri()); print(report_dirs.REPORTS_DIR)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == [f"sqlite:///{ROOT / 'mlruns' / 'mlflow.db'}", str(ROOT / "reports")]
    assert REPORTS_DIR == ROOT / "reports"


def test_forecast_table_path_resolves_against_the_project_root(tmp_path, monkeypatch):
    table = ROOT / "experiments" / "configs" / "quickstart_schedule.yaml"   # any file inside the project
    monkeypatch.chdir(tmp_path)
    assert forecast_table_path("experiments/configs/quickstart_schedule.yaml") == table
    (tmp_path / "mine.csv").write_text("x\n")
    assert forecast_table_path("mine.csv") == Path("mine.csv")                   # the current directory first
    with pytest.raises(FileNotFoundError, match=r"reports/nope/latest/forecast_ensemble.csv not found .*"
                                                r"carbonshift run experiments/configs/quickstart_forecast.yaml"):
        forecast_table_path("reports/nope/latest/forecast_ensemble.csv")


def test_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path):
    # without the lock in tracking.configure, two processes on a fresh store raced in MLflow's schema migrations
    # ("duplicate column name: step") and one run failed before it started
    code = "from carbonshift.experiments.tracking import configure; print(configure('race'))"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | {
        "CARBONSHIFT_RUNS_DIR": str(tmp_path / "runs"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-300:] for _, err in outs]
    assert len({out.strip() for out, _ in outs}) == 1          # one experiment, created once
    assert (tmp_path / "runs" / "mlflow.db.lock").exists()
