"""The Alibaba trace: one reader, one censoring rule, used by the scheduler workload and the duration
estimator alike."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from carbonshift.forecast.data.traces import ALIBABA_PODS_FILE, ALIBABA_TRACE_END_S, alibaba_finished_tasks
from carbonshift.forecast.data.validate import DataValidationError
from carbonshift.scheduler.duration import load_alibaba_history
from carbonshift.scheduler.traces import trace_jobs

HEADER = ("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,"
          "scheduled_time\n")
END = ALIBABA_TRACE_END_S


def _bundle(tmp_path: Path, rows: list[str]) -> Path:
    """A data dir with the bundle's layout holding a synthetic pod list."""
    path = tmp_path / ALIBABA_PODS_FILE
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(HEADER + "".join(rows))
    return tmp_path


@pytest.fixture
def small_trace(tmp_path: Path) -> Path:
    h = 3600
    return _bundle(tmp_path, [
        f"p-done-1,1000,1024,1,1000,,LS,Failed,{END - 10 * h},{END - 7 * h},{END - 9 * h}\n",     # 2 h
        f"p-done-2,1000,1024,2,1000,,BE,Succeeded,{END - 8 * h},{END - 3 * h + 1},{END - 8 * h}\n",  # 5 h + 1 s
        f"p-cpu,1000,1024,0,0,,BE,Succeeded,{END - 6 * h},{END - 5 * h},{END - 6 * h}\n",            # no GPU
        f"p-pending,1000,1024,1,1000,,LS,Pending,{END - 5 * h},{END - 4 * h},\n",                  # never ran
        f"p-running,1000,1024,4,1000,,LS,Running,{END - 4 * h},{END},{END - 4 * h}\n",              # censored
    ])


def test_censoring_rule_drops_pending_and_running_at_cut(small_trace):
    tasks = alibaba_finished_tasks(small_trace)
    assert tasks["name"].tolist() == ["p-done-1", "p-done-2", "p-cpu"]
    np.testing.assert_allclose(tasks["runtime_s"], [2 * 3600, 5 * 3600 + 1, 3600])
    assert tasks.attrs == {"n_pending": 1, "n_censored": 1}


def test_scheduler_and_duration_use_the_same_rule(small_trace):
    """Neither consumer treats the pod still running at the cut as finished (the scheduler used to keep it
    with its lower-bound runtime)."""
    jobs = trace_jobs(2, seed=0, span_h=24, data_dir=small_trace)
    assert sorted(jobs.gpus.tolist()) == [1, 2]               # GPU pods only; the 4-GPU censored pod is gone
    assert sorted(jobs.duration_h.tolist()) == [2, 6]         # runtimes rounded up to whole hours
    hist = load_alibaba_history(small_trace)
    assert hist["name"].tolist() == ["p-done-1", "p-done-2", "p-cpu"]
    assert hist.attrs == {"n_pending": 1, "n_censored": 1, "n_zero_runtime": 0}


def test_consumers_go_through_the_validating_reader(tmp_path):
    bad = _bundle(tmp_path, ["p-a,1000,1024,1,1000,,LS,Failed,100,50,60\n"])
    with pytest.raises(DataValidationError, match="times out of order"):
        trace_jobs(2, seed=0, data_dir=bad)
    with pytest.raises(DataValidationError, match="times out of order"):
        load_alibaba_history(bad)


def test_shipped_trace_counts(shared_data):
    tasks = alibaba_finished_tasks(shared_data)
    assert tasks.attrs == {"n_pending": 897, "n_censored": 34}   # data README §4
    assert len(tasks) == 8152 - 897 - 34
    assert (tasks["deletion_time"] < ALIBABA_TRACE_END_S).all() and tasks["scheduled_time"].notna().all()
