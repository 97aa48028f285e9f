"""Baseline policies of the seed (§5.1 B), each placing jobs one by one in arrival order (FIFO by submit
hour, then id), contiguously, respecting free capacity, reserving the *estimated* duration:

* ``performance_first`` — carbon-blind earliest completion: the (region, start) that finishes first
  (ties: the home region, which needs no data transfer; then the lowest region index).
* ``random`` — a region drawn uniformly (seeded) among those where the job fits at all; start as early
  as capacity allows there.
* ``round_robin`` — regions in turn (a counter kept across calls); start as early as capacity allows.
  A region where the job cannot fit is skipped.
* ``greedy_carbon`` — "lowest current intensity, start now": among regions where the job can start at
  its earliest possible hour, the one with the lowest latest-observed intensity (hour now−1); if none
  can start then, earliest completion.

A NaN or infinite cost is never a candidate (``argmin_finite``); a choice with no finite cost raises.
* ``casper`` — CASPER (Souza et al., IGSC 2023) adapted to training jobs: spatial shifting only. Each
  region's start is its earliest feasible hour (no delay); the region with the lowest *forecast*
  carbon over the job's whole run (operational + transfer, kgCO2e) wins among the regions where that run
  ends by the job's deadline; where none does, earliest completion. The original provisions web service
  replicas with a latency-constrained LP; here the latency constraint becomes "start as early as the region
  allows, done by the deadline" (issue 20: without the deadline, under paper_capacity's binding capacity it
  queued 61 % of jobs past their deadlines in the clean regions, planned up to 511 h ahead — 37 % of its
  planned job-hours beyond any week-ahead forecast).

Jobs that fit nowhere before the horizon ends are returned with ``region = −1`` and a reason.
"""
from __future__ import annotations

import numpy as np

from carbonshift.scheduler.cost import earliest_fit, prefix
from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.base import ClusterState, Decisions, Event, JobsView, Placer, argmin_finite
from carbonshift.scheduler.workloads import Jobs


def fifo(jobs: Jobs | JobsView, idx: np.ndarray) -> np.ndarray:
    """``idx`` ordered by submit hour, then id."""
    return idx[np.lexsort((jobs.id[idx], jobs.submit_h[idx]))]


def transfer_carbon_kg(jobs: Jobs | JobsView, i: int, dc: DataCenters, ci_at_start: np.ndarray) -> np.ndarray:
    """Transfer carbon of job ``i`` to every region [R], kgCO2e (``DataCenters.transfer_carbon_kg`` from
    home to each region at ``ci_at_start`` [R], gCO2eq/kWh); zero for the home region."""
    home = jobs.home[i]
    out = dc.transfer_carbon_kg(jobs.data_gb[i], ci_at_start[home], ci_at_start)
    out[home] = 0.0
    return out


class _Sequential:
    """Common plan/adapt: FIFO over the jobs, ``choose`` picks (region, start)."""

    name = "base"
    clairvoyant = False

    def __init__(self, dc: DataCenters, seed: int = 0):
        self.dc = dc
        self.rng = np.random.default_rng(seed)

    def plan(self, jobs: Jobs | JobsView, idx: np.ndarray, now: int, state: ClusterState, view) -> Decisions:
        placer = Placer(jobs, now, state, self.dc)
        self.prepare(placer, jobs, idx, view)
        for i in fifo(jobs, np.asarray(idx)):
            if not placer.fits_anywhere(i):
                continue
            d = int(jobs.est_duration_h[i])
            r, s = self.choose(placer, int(i), d, view)
            placer.commit(int(i), r, s, d)
        return placer.decisions()

    def adapt(self, event: Event, jobs: Jobs | JobsView, now: int, state: ClusterState, view) -> Decisions:
        return self.plan(jobs, event.jobs, now, state, view)

    def prepare(self, placer: Placer, jobs: Jobs | JobsView, idx: np.ndarray, view) -> None:
        """Per-call set-up (e.g. read the view once)."""

    def choose(self, placer: Placer, i: int, d: int, view) -> tuple[int, int]:
        raise NotImplementedError


class PerformanceFirst(_Sequential):
    name = "performance_first"

    def choose(self, placer: Placer, i: int, d: int, view) -> tuple[int, int]:
        return placer.earliest_completion(i, d)


class RandomPolicy(_Sequential):
    name = "random"

    def choose(self, placer: Placer, i: int, d: int, view) -> tuple[int, int]:
        starts = earliest_fit(placer.free, int(placer.jobs.gpus[i]), d, placer.earliest(i))
        ok = np.flatnonzero(starts >= 0)
        if len(ok) == 0:
            return -1, -1
        r = int(self.rng.choice(ok))
        return r, int(starts[r])


class RoundRobin(_Sequential):
    name = "round_robin"

    def __init__(self, dc: DataCenters, seed: int = 0):
        super().__init__(dc, seed)
        self.next = 0

    def choose(self, placer: Placer, i: int, d: int, view) -> tuple[int, int]:
        starts = earliest_fit(placer.free, int(placer.jobs.gpus[i]), d, placer.earliest(i))
        order = (self.next + np.arange(self.dc.n)) % self.dc.n
        ok = order[starts[order] >= 0]
        if len(ok) == 0:
            return -1, -1
        r = int(ok[0])
        self.next = (r + 1) % self.dc.n
        return r, int(starts[r])


class GreedyCarbon(_Sequential):
    name = "greedy_carbon"

    def prepare(self, placer: Placer, jobs: Jobs | JobsView, idx: np.ndarray, view) -> None:
        self.current = view.current()

    def choose(self, placer: Placer, i: int, d: int, view) -> tuple[int, int]:
        a = placer.earliest(i)
        starts = earliest_fit(placer.free, int(placer.jobs.gpus[i]), d, a)
        now_ok = np.flatnonzero((starts >= 0) & (starts == a))
        if len(now_ok) == 0:
            return placer.earliest_completion(i, d)
        k = argmin_finite(self.current[now_ok])
        if k < 0:
            raise ValueError(f"{self.name}: job row {i}: no finite current intensity in regions "
                             f"{now_ok.tolist()} (view {getattr(view, 'label', '?')})")
        r = int(now_ok[k])
        return r, int(starts[r])


class Casper(_Sequential):
    name = "casper"

    def prepare(self, placer: Placer, jobs: Jobs | JobsView, idx: np.ndarray, view) -> None:
        self.ci = view.ci_plan(placer.T)               # [R × (T − now)]
        self.P = prefix(self.ci)

    def choose(self, placer: Placer, i: int, d: int, view) -> tuple[int, int]:
        jobs, dc, now = placer.jobs, self.dc, placer.now
        starts = earliest_fit(placer.free, int(jobs.gpus[i]), d, placer.earliest(i))
        ok = np.flatnonzero((starts >= 0) & (starts + d <= jobs.deadline_h[i]))     # the SLO: done by the deadline
        if len(ok) == 0:
            return placer.earliest_completion(i, d)
        rel = starts[ok] - now
        window = self.P[ok, rel + d] - self.P[ok, rel]          # Σ gCO2eq/kWh over each region's run
        op = jobs.power_kw[i] * dc.pue[ok] * window / 1000.0
        tr = transfer_carbon_kg(jobs, i, dc, self.ci[:, max(rel.min(), 0)])[ok]
        k = argmin_finite(op + tr)
        if k < 0:
            raise ValueError(f"{self.name}: job row {i}: no finite forecast carbon in any feasible region "
                             f"{ok.tolist()} (view {getattr(view, 'label', '?')})")
        r = int(ok[k])
        return r, int(starts[r])
