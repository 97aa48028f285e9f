"""Policy protocol, the cluster state policies read, and the decisions they return.

A policy is pure with respect to the simulator: ``plan``/``adapt`` read a jobs view, the hour, a
:class:`ClusterState` and an information-set view (``scheduler.signals.PolicyView``; ``OracleView`` for
the oracle only), and return :class:`Decisions`. Non-oracle policies get a :class:`JobsView`: the jobs
submitted by the decision hour, without their true ``duration_h`` (only ``est_duration_h``); job indices
(``idx``, ``Event.jobs``, ``Decisions.job``) are rows of the table the policy was given, and the simulator
maps a view's rows back to its own (``JobsView.row``). Only the oracle receives the true ``Jobs``. The
simulator applies the decisions, enforces physical capacity and deadlines and records every job's fate.

Decisions place a job contiguously — region ``r`` from hour ``start`` for ``hours`` hours — or, for a
suspend/resume placement, on the sorted absolute hours in ``slots[job]`` (``start`` = the first). A job
whose data lives elsewhere (``home != r``) cannot start before its data has arrived
(``submit + transfer hours``). ``region = -1`` means the policy could not place it (``reasons`` says why).

Migration: ``Decisions.moves[job] = (dest_region, at_hour, hours)`` moves a *running* job at a checkpoint
boundary ``at_hour`` (the decision hour) to ``dest_region``, reserving ``hours`` compute hours there after the
move's transfer delay (``scheduler.simulator`` validates, charges and records it). A policy that declares
``wants_ticks = True`` gets ``adapt(Event("tick"))`` every hour some running job is at a checkpoint boundary.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Protocol

import numpy as np

from carbonshift.scheduler.cost import earliest_fit, earliest_starts
from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.workloads import Jobs


#: The ``Jobs`` fields a non-oracle policy may read: everything but the true duration.
VISIBLE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Jobs) if f.name != "duration_h")


class JobsView:
    """What a non-oracle policy may know about the jobs at hour ``now``: the rows of the jobs submitted at
    or before ``now`` (``row``: their rows in the simulator's ``Jobs``, increasing), every ``Jobs`` field
    but ``duration_h`` (reading it raises ``AttributeError``; ``est_duration_h`` is the profiled
    estimate). Arrays are read-only copies: nothing about later arrivals is reachable, and the simulator
    hands the same view to every decision of one hour."""

    __slots__ = (*VISIBLE_FIELDS, "row", "now")
    # The fields __init__ copies (VISIBLE_FIELDS), declared for type checkers; tests/scheduler checks the list.
    id: np.ndarray
    type: np.ndarray
    submit_h: np.ndarray
    gpus: np.ndarray
    est_duration_h: np.ndarray
    flex: np.ndarray
    deadline_h: np.ndarray
    ckpt_interval_h: np.ndarray
    ckpt_overhead_h: np.ndarray
    gpu_kw: np.ndarray
    data_gb: np.ndarray
    home: np.ndarray
    row: np.ndarray
    now: int

    def __init__(self, jobs: Jobs, now: int):
        self.now = int(now)
        self.row = np.flatnonzero(jobs.submit_h <= self.now)
        self.row.setflags(write=False)
        for name in VISIBLE_FIELDS:
            values = getattr(jobs, name)[self.row]
            values.setflags(write=False)
            setattr(self, name, values)

    def __len__(self) -> int:
        return len(self.row)

    @property
    def power_kw(self) -> np.ndarray:
        """IT power of each job, kW (GPUs × kW per GPU)."""
        return self.gpus * self.gpu_kw

    def positions(self, rows: np.ndarray) -> np.ndarray:
        """Positions in this view of simulator ``rows``; ``ValueError`` for a job not submitted by ``now``."""
        rows = np.asarray(rows, dtype=np.int64)
        pos = np.searchsorted(self.row, rows)
        ok = pos < len(self.row)
        ok[ok] = self.row[pos[ok]] == rows[ok]
        if not ok.all():
            raise ValueError(f"JobsView at hour {self.now}: job row {rows[~ok][0]} is not submitted yet")
        return pos


def table_rows(jobs: Jobs | JobsView, idx: np.ndarray) -> np.ndarray:
    """Rows in the simulator's ``Jobs`` of rows ``idx`` of the table a policy was given."""
    return jobs.row[idx] if isinstance(jobs, JobsView) else np.asarray(idx)


def argmin_finite(values: np.ndarray) -> int:
    """Index of the smallest finite value — NaN and ±inf are never candidates; −1 if none is finite."""
    v = np.where(np.isfinite(values), values, np.inf)
    return int(np.argmin(v)) if np.isfinite(v).any() else -1


@dataclass
class ClusterState:
    """GPU capacity per region and the GPUs already reserved per (region, hour) by running and planned
    jobs; policies must not write to it (they copy ``free()``)."""

    capacity: np.ndarray          # [R] GPUs
    reserved: np.ndarray          # [R × T] GPUs reserved, absolute hours

    def free(self) -> np.ndarray:
        """Free GPUs [R × T] (a fresh array the caller may modify)."""
        return self.capacity[:, None] - self.reserved


@dataclass
class Decisions:
    """Placement of jobs (row indices into the jobs table the policy was given)."""

    job: np.ndarray                       # int64
    region: np.ndarray                    # int64, −1 = not placed
    start: np.ndarray                     # int64 hour
    hours: np.ndarray                     # int64 hours reserved (the policy's duration assumption)
    reasons: dict[int, str] = field(default_factory=dict)
    slots: dict[int, np.ndarray] = field(default_factory=dict)   # suspend/resume: the job's reserved hours
    moves: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # job → (dest, at_hour, hours)
    priced: dict[int, int] = field(default_factory=dict)  # job → leading reserved hours its choice was priced over
                                                          # (absent: all; chance_constrained prices the estimate,
                                                          # not its quantile padding)

    @classmethod
    def empty(cls) -> Decisions:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), z.copy(), z.copy())


@dataclass(frozen=True)
class Event:
    """What triggers ``adapt``: ``arrival`` of new jobs, or ``blocked`` (a planned start could not happen
    because an earlier job overran its reservation), or ``tick`` (only for a policy with ``wants_ticks``:
    ``jobs`` are the running jobs at a checkpoint boundary this hour, ``region`` the region each runs in and
    ``ran_h`` its compute hours done so far — observable, unlike the true duration), or ``freed`` (only for a
    policy with ``replan_on_free``: a job finished before its reservation ended, and ``jobs`` are the queued jobs
    the simulator released so they may take the freed GPU-hours). Failures recover in place from the last
    checkpoint and need no new decision."""

    kind: str
    jobs: np.ndarray
    region: np.ndarray | None = None      # tick: current region of each job
    ran_h: np.ndarray | None = None       # tick: compute hours done, h


class Policy(Protocol):
    name: str
    clairvoyant: bool        # True only for the oracle: planned once with all jobs and actual intensities

    def plan(self, jobs: Jobs | JobsView, idx: np.ndarray, now: int, state: ClusterState, view) -> Decisions: ...

    def adapt(self, event: Event, jobs: Jobs | JobsView, now: int, state: ClusterState, view) -> Decisions: ...


class Placer:
    """Shared bookkeeping for sequential placement policies: a private copy of free capacity, the data
    centres, earliest starts (data transfer) and a late fallback. Subclasses choose (region, start)."""

    def __init__(self, jobs: Jobs | JobsView, now: int, state: ClusterState, dc: DataCenters):
        self.jobs, self.now, self.dc = jobs, int(now), dc
        self.free = state.free()
        self.T = self.free.shape[1]
        self.transfer_h = dc.transfer_hours(jobs.data_gb)
        self.out_job: list[int] = []
        self.out_region: list[int] = []
        self.out_start: list[int] = []
        self.out_hours: list[int] = []
        self.reasons: dict[int, str] = {}
        self.slots: dict[int, np.ndarray] = {}
        self.priced: dict[int, int] = {}

    def earliest(self, i: int) -> np.ndarray:
        """Earliest start per region [R]: now or submit, plus the data transfer away from home."""
        return earliest_starts(self.dc.n, self.jobs.home[i], max(self.now, int(self.jobs.submit_h[i])),
                               self.transfer_h[i])

    def fits_anywhere(self, i: int) -> bool:
        if self.jobs.gpus[i] > self.dc.gpus.max():
            self.reject(i, f"unschedulable: needs {self.jobs.gpus[i]} GPUs, largest region has {self.dc.gpus.max()}")
            return False
        return True

    def earliest_completion(self, i: int, d: int) -> tuple[int, int]:
        """(region, start) finishing first (ties: home region, then lower index); (−1, −1) if none fits."""
        starts = earliest_fit(self.free, int(self.jobs.gpus[i]), d, self.earliest(i))
        if (starts < 0).all():
            return -1, -1
        key = np.where(starts >= 0, starts, np.iinfo(np.int64).max).astype(float)
        key[self.jobs.home[i]] -= 0.5
        r = int(np.argmin(key))
        return r, int(starts[r])

    def commit(self, i: int, r: int, s: int, d: int, hours: np.ndarray | None = None,
               priced: int | None = None) -> None:
        """Place job ``i`` in region ``r`` on [s, s + d), or on the sorted absolute ``hours`` if given;
        ``priced``: the leading hours of the reservation the choice was priced over (None: all)."""
        if priced is not None and r >= 0:
            self.priced[i] = int(priced)
        if hours is not None:
            self.free[r, hours] -= self.jobs.gpus[i]
            self.slots[i] = hours
            s, d = int(hours[0]), len(hours)
            self.out_job.append(i)
            self.out_region.append(r)
            self.out_start.append(s)
            self.out_hours.append(d)
            return
        if r < 0:
            self.reject(i, f"unschedulable: no region has {self.jobs.gpus[i]} free GPUs for {d} h before the "
                           f"horizon ends (hour {self.T})")
            return
        self.free[r, s:s + d] -= self.jobs.gpus[i]
        self.out_job.append(i)
        self.out_region.append(r)
        self.out_start.append(s)
        self.out_hours.append(d)

    def reject(self, i: int, reason: str) -> None:
        self.out_job.append(i)
        self.out_region.append(-1)
        self.out_start.append(-1)
        self.out_hours.append(0)
        self.reasons[i] = reason

    def decisions(self) -> Decisions:
        a = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
        return Decisions(a(self.out_job), a(self.out_region), a(self.out_start), a(self.out_hours), self.reasons,
                         self.slots, priced=self.priced)
