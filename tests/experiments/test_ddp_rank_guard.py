"""Under DDP every rank re-runs the command; only rank 0 records an MLflow run and writes reports."""
from __future__ import annotations

import mlflow
import pytest

from carbonshift.experiments import ddp_rank, runner
from carbonshift.experiments.config import ConfigError


def test_worker_rank_runs_the_kind_but_records_nothing(store, monkeypatch):
    reports = store.root / "reports"
    monkeypatch.setenv("LOCAL_RANK", "1")
    rec = runner.run_config({"kind": "tiny", "name": "tiny_ddp"}, reports_dir=reports, progress=False)
    assert rec.status == "DDP_WORKER" and rec.run_id == "" and rec.error is None
    assert rec.metrics  # the kind ran on this rank
    assert mlflow.search_experiments(filter_string="name = 'tiny_ddp'") == [] and not (reports / "tiny_ddp").exists()
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("NODE_RANK", "0")
    rec0 = runner.run_config({"kind": "tiny", "name": "tiny_ddp"}, reports_dir=reports, progress=False)
    assert rec0.status == "FINISHED" and mlflow.get_run(rec0.run_id).info.run_name == "tiny_ddp"
    assert (reports / "tiny_ddp" / rec0.run_id).is_dir()


@pytest.mark.parametrize(("env", "rank"), [({}, 0), ({"RANK": "3"}, 3), ({"NODE_RANK": "1", "LOCAL_RANK": "0"}, 1),
                                           ({"LOCAL_RANK": "0"}, 0)])
def test_distributed_rank_reads_the_launcher_variables(monkeypatch, env, rank):
    for var in ddp_rank.RANK_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert ddp_rank.distributed_rank() == rank


def test_a_malformed_rank_is_a_clean_error(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "one")
    with pytest.raises(ConfigError, match="LOCAL_RANK='one'"):
        ddp_rank.distributed_rank()
