"""A sweep trial whose Ray worker dies is recorded FAILED once (Ray does not rerun it), and `--json` stdout stays one
JSON document whatever Ray prints meanwhile."""
from __future__ import annotations

import json
import subprocess
import sys

import mlflow
import pytest

from carbonshift.experiments.sweep import child_runs


@pytest.mark.slow
def test_crashed_trial_is_failed_not_retried_and_stdout_is_one_json_document(store):
    crash_log = store.root / "attempts.txt"
    path = store.write_config({"kind": "tiny", "name": "tiny_crash", "sweep": {"crash_log": ["", str(crash_log)]}})
    out = subprocess.run([sys.executable, "-m", "carbonshift.experiments.cli", "sweep", str(path), "--json",
                          "--reports-dir", str(store.root / "reports")],
                         env=store.env, cwd=store.root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr            # one failed trial
    doc = json.loads(out.stdout)                      # the whole of stdout is one document
    assert (doc["n_trials"], doc["ran"], doc["failed"]) == (2, 2, 1)
    assert crash_log.read_text().splitlines() == ["attempt"]   # ran once: Ray did not retry it
    c = mlflow.MlflowClient(store.uri)
    parent = c.get_run(doc["parent_run_id"])
    kids = child_runs(c, parent.info.experiment_id, parent.info.run_id)
    failed = [k for k in kids if k.info.status == "FAILED"]
    assert len(kids) == 2 and len(failed) == 1
    assert "worker process died and the trial was not retried" in failed[0].data.tags["carbonshift.error"]
