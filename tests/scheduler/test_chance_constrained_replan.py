"""Re-planning after early finishes (issue 12): the simulator's ``freed`` event and chance_constrained's
improvement pass (held placements, no added risk)."""
import numpy as np
import pandas as pd

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.base import ClusterState, Decisions, Event, Placer, table_rows
from carbonshift.scheduler.policies.risk_aware import ChanceConstrained, ConformalMargins
from carbonshift.scheduler.signals import CarbonSignal, PolicyView, controlled_error
from carbonshift.scheduler.simulator import SimConfig, simulate
from carbonshift.scheduler.workloads import make_jobs

TARGET = 0.99


def _carbon(ci: np.ndarray) -> CarbonSignal:
    """Hourly intensity ``ci`` [R × hours] (gCO2eq/kWh) from 2023-03-01 00:00 UTC."""
    regions = [f"R{r}" for r in range(ci.shape[0])]
    times = pd.date_range("2023-03-01", periods=ci.shape[1], freq="h", tz="UTC")
    return CarbonSignal(ci, np.full_like(ci, 40.0), times, regions)


def _jobs(gpus, est, true, flex, home=0):
    n = len(gpus)
    return make_jobs(type_=np.zeros(n, np.int8), submit_h=np.zeros(n, np.int64), gpus=np.asarray(gpus),
                     duration_h=np.asarray(true), flex=np.asarray(flex, float), ckpt_interval_h=np.full(n, 0.5),
                     data_gb=np.full(n, 10.0), home=np.full(n, home, np.int64), rng=np.random.default_rng(0),
                     gpu_kw=0.7, est_duration_h=np.asarray(est))


class _Fixed:
    """Job 0 on [0, 4), job 1 on [4, 6) in region 0 (row order); on ``freed`` each job starts as early as it fits."""

    name, clairvoyant = "fixed", False

    def __init__(self, dc: DataCenters, replan_on_free: bool):
        self.dc, self.replan_on_free = dc, replan_on_free
        self.events: list[tuple[str, int, list[int]]] = []

    def plan(self, jobs, idx, now, state, view) -> Decisions:
        placer = Placer(jobs, now, state, self.dc)
        for i, row in zip(idx.tolist(), table_rows(jobs, idx).tolist()):
            placer.commit(i, 0, (0, 4)[row], (4, 2)[row])
        return placer.decisions()

    def adapt(self, event: Event, jobs, now, state, view) -> Decisions:
        self.events.append((event.kind, now, table_rows(jobs, event.jobs).tolist()))
        if event.kind != "freed":
            return self.plan(jobs, event.jobs, now, state, view)
        placer = Placer(jobs, now, state, self.dc)
        for i in event.jobs.tolist():
            placer.commit(i, 0, *placer.earliest_completion(i, 2)[1:], 2)
        return placer.decisions()


def _run(replan_on_free: bool):
    carbon = _carbon(np.full((1, 48), 100.0))
    dc = DataCenters.uniform(carbon.regions, gpus=8)
    jobs = _jobs([8, 8], est=[2, 2], true=[2, 2], flex=[4.0, 4.0])     # job 0 reserves 4 h, runs 2
    policy = _Fixed(dc, replan_on_free)
    return policy, simulate(jobs, carbon, controlled_error(carbon, "perfect", seed=0), dc, policy, SimConfig())


def test_simulator_hands_back_queued_jobs_after_an_early_finish_only_to_policies_that_ask():
    asked, out = _run(True)
    assert ("freed", 2, [1]) in asked.events                  # job 0 ended at hour 2, reserved until 4
    assert out.start[1] == 2 and out.finish[1] == 4           # job 1 moved into the freed hours
    plain, out_plain = _run(False)
    assert [e[0] for e in plain.events] == ["arrival"]
    assert out_plain.start[1] == 4 and out_plain.finish[1] == 6


def _history(n: int = 2000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Estimates 2–80 h, true = estimate × log-normal(0, 0.12) ratio, whole hours."""
    rng = np.random.default_rng(seed)
    est = rng.integers(2, 81, n)
    return est, np.maximum(np.rint(est * np.exp(rng.normal(0.0, 0.12, n))), 1).astype(np.int64)


def _placements(dec: Decisions) -> dict[int, tuple[int, int]]:
    return {j: (r, s) for j, r, s in zip(dec.job.tolist(), dec.region.tolist(), dec.start.tolist())}


def test_improvement_pass_holds_placements_and_adds_no_risk():
    """B (lower priority) arrived first and took the clean region; A went to the dirty one. A full re-plan in
    priority order hands B's clean cell to A and pushes B away; an improvement pass (``freed``) holds B's
    placement, so nobody is pushed, and no job's miss probability grows."""
    hours = 48
    carbon = _carbon(np.vstack([np.full(hours, 100.0), np.full(hours, 500.0)]))
    dc = DataCenters.uniform(carbon.regions, gpus=4096, overrides={"R0": {"gpus": 256}})
    jobs = _jobs([256, 256], est=[5, 5], true=[5, 5], flex=[1.0, 0.5])   # A: deadline 10, B: deadline 8
    view = PolicyView(carbon, controlled_error(carbon, "perfect", seed=0), 0)
    empty = lambda: ClusterState(dc.gpus.astype(np.int64), np.zeros((2, hours), np.int64))  # noqa: E731

    def policy():
        return ChanceConstrained(dc, ConformalMargins(*_history(), jobs, TARGET), TARGET, carbon_risk="mean")

    p = policy()
    state = empty()
    first = p.adapt(Event("arrival", np.array([1])), jobs, 0, state, view)        # B alone
    assert _placements(first) == {1: (0, 0)}
    state.reserved[0, 0:int(first.hours[0])] += 256
    second = p.adapt(Event("arrival", np.array([0])), jobs, 0, state, view)       # A: the clean region is taken
    assert _placements(second)[0][0] == 1
    risk_before = dict(p.risk)
    improved = p.adapt(Event("freed", np.array([0, 1])), jobs, 0, empty(), view)  # both released by the simulator
    assert _placements(improved) == {0: _placements(second)[0], 1: (0, 0)}
    assert all(p.risk[row] <= risk_before[row] + 1e-12 for row in (0, 1))
    p.forced[1] = 0.0                     # say B once had a risk-free option: a pass keeps that forced level,
    p.extra_sum += p.extra[1] - p.risk[1]  # so all of B's risk stays counted against the budget
    p.extra[1] = p.risk[1]
    state_a = empty()
    state_a.reserved[1, 1:1 + int(second.hours[0])] += 256
    p.adapt(Event("freed", np.array([1])), jobs, 0, state_a, view)
    assert p.forced[1] == 0.0 and p.extra[1] == p.risk[1] > 0.0

    q = policy()                                                                   # same history, full re-plan
    q.adapt(Event("arrival", np.array([1])), jobs, 0, empty(), view)
    q.adapt(Event("arrival", np.array([0])), jobs, 0, state, view)
    replanned = q.plan(jobs, np.array([0, 1]), 0, empty(), view)
    assert _placements(replanned)[0] == (0, 0) and _placements(replanned)[1][0] == 1   # B pushed out
