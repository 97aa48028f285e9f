"""Both perfect-foresight bounds of an instance — contiguous on-time runs (:class:`Oracle`) and preemptive
suspend/resume runs (:func:`preemptive_bound`) — and the slack-matched bounds of a late policy.

A policy with late jobs is outside the on-time sets, so it cannot be compared with the on-time bounds
(``scheduler.metrics.oracle_comparison`` says "not comparable"). Solving the bounds again with every
job's window widened to that policy's own finish hour (:func:`slack_finish`) gives a bound over a set
that contains the policy's schedule — the oracle got the same deadline slack — so the comparison is
valid again; such a bound is labelled ``slack`` (e.g. "slack-matched: 12 late jobs").
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.base import ClusterState
from carbonshift.scheduler.policies.oracle import CONTIGUOUS, PREEMPTIVE, Oracle, OracleBound
from carbonshift.scheduler.policies.oracle_preemptive import preemptive_bound
from carbonshift.scheduler.signals import CarbonSignal, OracleView
from carbonshift.scheduler.simulator import DONE, Outcome
from carbonshift.scheduler.workloads import Jobs


def instance_bounds(jobs: Jobs, carbon: CarbonSignal, dc: DataCenters, max_jobs_milp: int, time_limit_s: float,
                    finish_by: np.ndarray | None = None, slack: str = "",
                    sets: tuple[str, ...] = (CONTIGUOUS, PREEMPTIVE)) -> dict[str, OracleBound]:
    """Bounds (kgCO2e) of the constraint ``sets`` for all jobs submitted within the horizon, planned at
    hour 0 on the actual intensity with every GPU free; each solve has ``time_limit_s`` seconds in total.
    ``finish_by`` (per job row, absolute hours) widens the windows; ``slack`` labels it."""
    T = carbon.n_hours
    out: dict[str, OracleBound] = {}
    if CONTIGUOUS in sets:      # bound only: above max_jobs_milp no schedule search (LP bound)
        oracle = Oracle(dc, max_jobs_milp=max_jobs_milp, time_limit_s=time_limit_s, finish_by=finish_by, search=False)
        state = ClusterState(dc.gpus.astype(np.int64), np.zeros((dc.n, T), np.int64))
        oracle.plan(jobs, np.flatnonzero(jobs.submit_h < T), 0, state, OracleView(carbon, 0))
        assert oracle.bound is not None, "Oracle.plan sets its bound on every return"
        out[CONTIGUOUS] = oracle.bound
    if PREEMPTIVE in sets:
        out[PREEMPTIVE] = preemptive_bound(jobs, carbon.ci, dc, max_jobs_milp, time_limit_s, finish_by=finish_by)
    for b in out.values():
        b.slack = slack
    return out


def policy_incumbent(outcomes: Iterable[Outcome]) -> tuple[str, tuple[np.ndarray, np.ndarray]] | None:
    """The cheapest (kgCO2e, actual intensity) of ``outcomes`` whose schedule is a contiguous on-time one —
    every job done by its deadline, none suspended or migrated — as (policy, (region, start hour) per job
    row): a warm start for :class:`Oracle` (``incumbent``), which checks it against its candidates and the
    capacity again. None when no outcome qualifies."""
    best: tuple[float, Outcome] | None = None
    for out in outcomes:
        moved = out.migrations is not None and bool((out.migrations > 0).any())
        split = out.suspensions is not None and bool((out.suspensions > 0).any())
        if moved or split or not out.on_time.all():
            continue
        kg = float(out.carbon_op_kg.sum() + out.carbon_tr_kg.sum())
        if best is None or kg < best[0]:
            best = (kg, out)
    return None if best is None else (best[1].policy, (best[1].region.copy(), best[1].start.copy()))


def slack_finish(out: Outcome, bound: OracleBound | None) -> tuple[np.ndarray, int] | None:
    """Per-job latest finish hours that put ``out``'s schedule inside ``bound``'s set — the later of the
    bound's window end and the hour the job finished — and how many jobs needed the extra slack; None when
    there is no bound or a covered job did not finish (no slack makes that outcome comparable)."""
    if bound is None:
        return None
    done = out.status == DONE
    if (bound.covered & ~done).any():
        return None
    finish_by = np.where(done, np.maximum(out.finish, bound.latest_finish), bound.latest_finish)
    return finish_by, int((bound.covered & done & (out.finish > bound.latest_finish)).sum())
