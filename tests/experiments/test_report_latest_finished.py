"""`carbonshift report NAME` reports the latest FINISHED run of that name, never a newer FAILED one; `--run-id`
reports any run."""
from __future__ import annotations

import json

import mlflow
import pytest

from carbonshift.experiments.cli import main
from carbonshift.experiments.report.runs import resolve
from carbonshift.experiments.runner import run_config


@pytest.mark.slow   # two runs + two reports
def test_report_name_skips_a_newer_failed_run(store, capsys, caplog):
    ok = run_config({"kind": "tiny", "name": "tiny_latest"}, reports_dir=store.root / "reports", progress=False)
    bad = run_config({"kind": "tiny", "name": "tiny_latest", "fail": True}, reports_dir=store.root / "reports",
                     progress=False)
    assert (ok.status, bad.status) == ("FINISHED", "FAILED")
    assert resolve(mlflow.MlflowClient(store.uri), "tiny_latest").info.run_id == ok.run_id
    reports = str(store.root / "reports")
    assert main(["report", "tiny_latest", "--reports-dir", reports, "--no-log", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == ok.run_id
    assert f"skipped newer {bad.run_id} (FAILED)" in caplog.text   # a warning on stderr
    assert main(["report", "--run-id", bad.run_id, "--reports-dir", reports, "--no-log", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == bad.run_id
    assert main(["report", "tiny_latest", "--run-id", bad.run_id]) == 2


def test_report_name_with_only_failed_runs_says_how_to_pick_one(store, capsys):
    bad = run_config({"kind": "tiny", "name": "tiny_failed", "fail": True}, reports_dir=store.root / "reports",
                     progress=False)
    assert main(["report", "tiny_failed", "--no-log"]) == 2
    err = capsys.readouterr().err
    assert "no FINISHED run named 'tiny_failed'" in err and f"{bad.run_id} (FAILED)" in err and "--run-id" in err
