"""The honest ranking column ``ontime_share`` (scheduler.metrics.ontime_share): at equal deadline performance,
lateness never looks like skill — a late policy that ``oracle_share`` ranks above an on-time one (its bound is
widened by its own lateness) ranks below it here."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.metrics import ontime_share, policy_metrics
from carbonshift.scheduler.policies.oracle import CONTIGUOUS, EXACT_MILP, OracleBound
from carbonshift.scheduler.policies.registry import make_policy
from carbonshift.scheduler.signals import controlled_error
from carbonshift.scheduler.simulator import QUEUED, simulate
from carbonshift.scheduler.workloads import Jobs, deadlines


def _run_now(carbon):
    """performance_first on two 4 h jobs (1 GPU each, 1 h of slack) in the first two regions of a real slice."""
    n = 2
    est = np.array([4, 4])
    submit = np.array([0, 0])
    z = np.zeros(n)
    jobs = Jobs(id=np.arange(n), type=np.zeros(n, np.int8), submit_h=submit, gpus=np.ones(n, np.int64),
                duration_h=est.copy(), est_duration_h=est, flex=np.full(n, 0.25), deadline_h=deadlines(submit, est, z + 0.25),
                ckpt_interval_h=np.ones(n), ckpt_overhead_h=z, gpu_kw=z + 0.7, data_gb=z, home=np.array([0, 1]))
    dc = DataCenters.uniform(carbon.regions, gpus=8, pue=1.2, wan_gbps=10.0)
    return simulate(jobs, carbon, controlled_error(carbon, "perfect"), dc, make_policy("performance_first", dc))


def test_late_policy_ranks_above_on_time_under_oracle_share_but_not_ontime_share(carbon):
    pf = _run_now(carbon)
    jobs = pf.jobs
    run_now = pf.carbon_op_kg + pf.carbon_tr_kg
    pf_kg = float(run_now.sum())
    covered = np.ones(2, bool)
    on_time_bound = OracleBound(CONTIGUOUS, EXACT_MILP, 0.8 * pf_kg, covered, jobs.deadline_h.copy())
    # the late policy's slack-matched bound: its lateness widened the windows, so the oracle saves more
    slack_bound = replace(on_time_bound, kg=0.4 * pf_kg, latest_finish=jobs.deadline_h + 10,
                          slack="slack-matched: 1 late jobs")
    # on time, saves 12 % of run-now on each job
    on_time = replace(pf, carbon_op_kg=0.88 * run_now, carbon_tr_kg=np.zeros(2))
    # job 0 finishes 5 h late in clean hours (80 % saved), job 1 on time at its run-now carbon
    late = replace(pf, finish=pf.finish + np.array([5 + jobs.deadline_h[0] - pf.finish[0], 0]),
                   carbon_op_kg=run_now * np.array([0.2, 1.0]), carbon_tr_kg=np.zeros(2))
    assert (late.finish > jobs.deadline_h).tolist() == [True, False]
    m_on = policy_metrics(on_time, pf_kg, {CONTIGUOUS: on_time_bound}, run_now)
    m_late = policy_metrics(late, pf_kg, {CONTIGUOUS: slack_bound}, run_now, {CONTIGUOUS: on_time_bound})
    assert m_late["oracle_share"] > m_on["oracle_share"]            # lateness looks like skill there …
    assert m_late["ontime_share"] < m_on["ontime_share"]            # … and not here
    assert m_late["ontime_share"] == pytest.approx(0.0, abs=1e-9)   # the late job's saving is not counted
    assert m_on["ontime_share"] == pytest.approx(m_on["oracle_share"])   # on time: the same share
    # a late job that emitted more than run-now keeps its extra carbon
    worse = replace(late, carbon_op_kg=run_now * np.array([1.5, 1.0]))
    assert ontime_share(worse, run_now, {CONTIGUOUS: on_time_bound}) == pytest.approx(-0.5 * run_now[0] / (0.2 * pf_kg) * 100)
    # an unfinished job counts at run-now
    unfinished = replace(on_time, status=np.array([QUEUED, on_time.status[1]]), finish=np.array([-1, on_time.finish[1]]),
                         carbon_op_kg=on_time.carbon_op_kg * np.array([0.0, 1.0]))
    assert ontime_share(unfinished, run_now, {CONTIGUOUS: on_time_bound}) == pytest.approx(
        0.12 * run_now[1] / (0.2 * pf_kg) * 100)
    with pytest.raises(ValueError, match="on-time contiguous bound"):
        ontime_share(late, run_now, {CONTIGUOUS: slack_bound})
