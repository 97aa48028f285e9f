"""CASPER shifts in space only and keeps the deadline: when the clean region is full until after a job's
deadline, the job runs on time in a dirtier region instead of queueing there (issue 20)."""
import numpy as np
import pandas as pd

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.metrics import policy_metrics
from carbonshift.scheduler.policies.registry import make_policy
from carbonshift.scheduler.signals import CarbonSignal, controlled_error
from carbonshift.scheduler.simulator import simulate
from carbonshift.scheduler.workloads import make_jobs

REGIONS = ["CLEAN", "DIRTY"]


def test_casper_runs_on_time_elsewhere_when_the_clean_region_is_full():
    T = 200
    ci = np.vstack([np.full(T, 50.0), np.full(T, 500.0)])
    carbon = CarbonSignal(ci, np.zeros_like(ci), pd.date_range("2023-03-01", periods=T, freq="h", tz="UTC"), REGIONS)
    dc = DataCenters.uniform(REGIONS, gpus=8)
    n = 2   # job 0 fills CLEAN for 60 h; job 1 (deadline ≈ 13 h after it arrives) cannot wait for it
    jobs = make_jobs(type_=np.zeros(n), submit_h=np.array([0, 1]), gpus=np.full(n, 8), duration_h=np.array([60.0, 10.0]),
                     flex=np.full(n, 0.3), ckpt_interval_h=np.full(n, 0.5), data_gb=np.full(n, 1.0),
                     home=np.array([0, 0]), rng=np.random.default_rng(0), gpu_kw=0.7, profiling_error=0.0)
    out = simulate(jobs, carbon, controlled_error(carbon, "perfect", horizon_h=168), dc, make_policy("casper", dc))
    assert out.region.tolist() == [0, 1]                  # job 1 went to the dirty region …
    assert policy_metrics(out)["deadline_rate"] == 100.0  # … and both finished on time
