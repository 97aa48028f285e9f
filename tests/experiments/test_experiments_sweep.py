"""Sweeps on local Ray tracked in MLflow: nested child runs, failures, kill mid-way + resume."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import mlflow
import pytest

from carbonshift.experiments.sweep import child_runs, run_sweep


def _client(uri: str) -> mlflow.MlflowClient:
    mlflow.set_tracking_uri(uri)
    return mlflow.MlflowClient()


@pytest.mark.slow   # the session's tiny_sweep: starts local Ray (≈ 10 s CPU, 15–30 s wall on 2 cores)
def test_sweep_logs_parent_and_nested_children(tiny_sweep):
    store, rec = tiny_sweep
    assert (rec.n_trials, rec.n_run, rec.n_skipped, rec.n_failed) == (4, 4, 0, 0)
    c = _client(store.uri)
    parent = c.get_run(rec.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["carbonshift.role"] == "sweep"
    assert "CPUs" in parent.data.tags["carbonshift.machine"]
    kids = child_runs(c, parent.info.experiment_id, rec.parent_run_id)
    assert len(kids) == 4 and {k.info.status for k in kids} == {"FINISHED"}
    assert len({k.data.tags["carbonshift.config_hash"] for k in kids}) == 4
    by_acc = {(k.data.params["forecast.accuracy"], k.data.params["seed"]): k for k in kids}
    assert set(by_acc) == {("0.6", "0"), ("0.6", "1"), ("1.0", "0"), ("1.0", "1")}
    run = by_acc[("1.0", "1")]
    assert run.data.params["forecast.error_model"] == "gaussian" and run.data.params["n_regions"] == "3"
    assert run.data.metrics["cooperative.reduction_vs_perf_first"] > run.data.metrics["greedy_carbon.reduction_vs_perf_first"]
    assert run.data.metrics["trial_peak_rss_mb"] > 10 and run.data.metrics["trial_seconds"] >= 0
    assert {a.path for a in c.list_artifacts(run.info.run_id, "tables")} == {
        "tables/policies.csv", "tables/regions.csv", "tables/hour_of_day.csv"}


@pytest.mark.slow
def test_failed_trial_is_recorded_and_rerun_on_resume(store, ray_local):
    path = store.write_config({"kind": "tiny", "name": "tiny_fail", "sweep": {"fail": [False, True]}})
    rec = run_sweep(path, reports_dir=store.root / "reports", progress=False)
    assert (rec.n_run, rec.n_failed) == (2, 1)
    c = _client(store.uri)
    assert c.get_run(rec.parent_run_id).info.status == "FAILED"
    failed = [k for k in child_runs(c, c.get_run(rec.parent_run_id).info.experiment_id, rec.parent_run_id)
              if k.info.status == "FAILED"]
    assert len(failed) == 1 and "tiny kind asked to fail" in failed[0].data.tags["carbonshift.error"]
    again = run_sweep(path, resume=True, reports_dir=store.root / "reports", progress=False)
    assert again.parent_run_id == rec.parent_run_id and (again.n_skipped, again.n_run) == (1, 1)


def _finished_children(db: str) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("select count(*) from runs r join tags t on t.run_uuid = r.run_uuid "
                               "where t.key = 'mlflow.parentRunId' and r.status = 'FINISHED'").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_killed_sweep_resumes_without_duplicates_or_losses(store, ray_local):
    n = 6
    path = store.write_config({"kind": "tiny", "name": "tiny_kill", "sleep_s": 1.5,
                               "sweep": {"seed": {"start": 0, "stop": n - 1}}})
    cmd = [sys.executable, "-m", "carbonshift.experiments.cli", "sweep", str(path), "--reports-dir", str(store.root / "r")]
    proc = subprocess.Popen(cmd, env=store.env, cwd=store.root, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = str(store.root / "mlflow.db")
    deadline = time.time() + 90
    while _finished_children(db) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)          # the driver and the Ray processes it started
    proc.wait(timeout=30)
    before = _finished_children(db)
    assert 2 <= before < n, f"kill landed outside the sweep ({before} of {n} finished)"
    c = _client(store.uri)
    exp = c.get_experiment_by_name("tiny_kill")
    parent = c.search_runs([exp.experiment_id], "tags.`carbonshift.role` = 'sweep'")[0]
    assert parent.info.status == "RUNNING"                      # killed: never closed
    done_ids = {k.info.run_id for k in child_runs(c, exp.experiment_id, parent.info.run_id)
                if k.info.status == "FINISHED"}

    rec = run_sweep(path, resume=True, reports_dir=store.root / "r", progress=False)
    assert rec.parent_run_id == parent.info.run_id
    assert rec.n_skipped == before and rec.n_run == n - before and rec.n_failed == 0
    kids = child_runs(c, exp.experiment_id, parent.info.run_id)
    finished = [k for k in kids if k.info.status == "FINISHED"]
    hashes = [k.data.tags["carbonshift.config_hash"] for k in finished]
    assert len(finished) == n and len(set(hashes)) == n                     # nothing lost, no duplicate
    assert sorted(int(k.data.params["seed"]) for k in finished) == list(range(n))
    assert done_ids <= {k.info.run_id for k in finished}                   # earlier results kept, not rerun
    assert all(k.info.status in ("FINISHED", "KILLED") for k in kids)
    assert c.get_run(parent.info.run_id).info.status == "FINISHED"
    again = run_sweep(path, resume=True, reports_dir=store.root / "r", progress=False)
    assert (again.n_skipped, again.n_run) == (n, 0)
