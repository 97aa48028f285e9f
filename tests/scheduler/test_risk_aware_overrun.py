"""chance_constrained re-plans a start that an overrunning job blocked, and keeps it on time."""
import numpy as np
import pandas as pd

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.risk_aware import ChanceConstrained
from carbonshift.scheduler.signals import CarbonSignal, controlled_error
from carbonshift.scheduler.simulator import DONE, simulate
from carbonshift.scheduler.workloads import make_jobs

T = 36


def _instance():
    """Two regions of 8 GPUs, R0 clean (100 gCO2eq/kWh), R1 dirty (300). Job A (8 GPUs, estimate 4 h,
    true 7 h, deadline hour 7) arrives at hour 0; job B (8 GPUs, 4 h, deadline hour 13) at hour 1."""
    times = pd.date_range("2023-03-01", periods=T, freq="h", tz="UTC")
    carbon = CarbonSignal(np.array([[100.0] * T, [300.0] * T]), np.full((2, T), 30.0), times, ["R0", "R1"])
    rng = np.random.default_rng(0)
    jobs = make_jobs(type_=np.zeros(2, np.int8), submit_h=np.array([0, 1]), gpus=np.array([8, 8]),
                     duration_h=np.array([7, 4]), flex=np.array([0.75, 2.0]), ckpt_interval_h=np.array([0.5, 0.5]),
                     data_gb=np.array([1.0, 1.0]), home=np.array([0, 0]), rng=rng, gpu_kw=0.7,
                     est_duration_h=np.array([4, 4]))
    return carbon, controlled_error(carbon, "perfect"), DataCenters.uniform(["R0", "R1"], gpus=8), jobs


def test_blocked_start_is_replanned_on_time():
    carbon, fc, dc, jobs = _instance()
    assert jobs.deadline_h.tolist() == [7, 13]
    out = simulate(jobs, carbon, fc, dc, ChanceConstrained(dc, 0.0, 0.99))   # books the bare estimate
    assert (out.status == DONE).all() and out.finish[0] == 7
    # B was planned at hour 4 in R0 behind A; A overran (extended in place hour by hour), so B's start was
    # blocked at hours 4, 5 and 6 and re-placed each time (2 arrivals + 3 blocked adapts) — it stays in the
    # clean region, starts when A ends and is on time
    assert len(out.adapt_ms) == 5
    assert out.region[1] == 0 and out.start[1] == 7 and out.finish[1] == 11 <= jobs.deadline_h[1]
    assert out.on_time.all()


def test_quantile_reservation_avoids_the_block():
    """With a margin covering A's overrun (7 ≤ ceil(4 × 1.75)) nothing is blocked: A reserves [0, 7); B's
    full 7-hour reservation no longer fits in R0 before its deadline, so (no risk budget with a fixed
    margin) it takes the dirty region after its data transfer rather than a shorter reservation."""
    carbon, fc, dc, jobs = _instance()
    policy = ChanceConstrained(dc, 0.75, 0.99)
    out = simulate(jobs, carbon, fc, dc, policy)
    assert out.on_time.all() and out.region.tolist() == [0, 1] and out.start[1] == 2
    assert len(out.adapt_ms) == 2                                     # two arrivals, no blocked re-plan
