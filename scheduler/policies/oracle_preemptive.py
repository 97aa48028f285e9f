"""ORACLE, preemptive bound — the perfect-foresight lower bound for suspend/resume schedules (actual
intensities, true durations, all arrivals known at hour 0), the seed's per-hour formulation.

Variables: ``x[i, t, r] ∈ {0, 1}`` = job ``i`` runs in region ``r`` during hour ``t``; ``y[i, r] ∈ {0, 1}``
= job ``i`` runs in region ``r``. A job stays in one region (no migration); suspend/resume only changes
*when* it runs, at hour (checkpoint) granularity:

* ``Σ_t x[i, t, r] = duration_i · y[i, r]`` and ``Σ_r y[i, r] = 1`` (every covered job runs its true
  duration, all in one region);
* ``x[i, t, r]`` exists only for ``t`` in ``[earliest_r, latest_finish)`` — the same windows as the
  contiguous oracle (:func:`scheduler.policies.oracle.job_windows`: deadline, or the slack a job that
  cannot be on time was given);
* ``Σ_i gpus_i · x[i, t, r] ≤ free GPUs[r, t]`` — written only for the (region, hour) cells that all
  windows together could overfill; the other cells can never bind.

Cost (kgCO2e): ``Σ power_i · PUE_r · CI[r, t] / 1000 · x`` plus, for ``y[i, r]`` away from home, the transfer
carbon at the cheapest hour the job could start in ``r``. Resume overheads (checkpoint write + restore)
are not charged and transfer is charged at its cheapest start, so the optimum is a *lower bound* on every
suspend/resume schedule of the set; every contiguous on-time schedule is in the set, so it is also ≤ the
contiguous bound.

Solution: jobs none of whose window cells can bind are solved in closed form (per region the ``d``
cheapest hours; the cheapest region). The coupled rest goes to HiGHS: the LP relaxation first (always a
valid bound), then — with ≤ ``max_jobs_milp`` coupled jobs — the MILP, all within one total time limit;
a MILP that runs out of time reports ``max(dual bound, LP bound)``. Model construction is vectorised
(sparse index arrays, no per-cell Python loop).
"""
from __future__ import annotations

import time

import numpy as np

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.oracle import (DUAL_BOUND, EXACT_FREE, EXACT_MILP, INFEASIBLE, LP_BOUND, PREEMPTIVE,
                                       OracleBound, job_windows)
from carbonshift.scheduler.workloads import Jobs


def preemptive_bound(jobs: Jobs, ci: np.ndarray, dc: DataCenters, max_jobs_milp: int = 300,
                     time_limit_s: float = 120.0, mip_rel_gap: float = 1e-4,
                     finish_by: np.ndarray | None = None) -> OracleBound:
    """Preemptive (suspend/resume) lower bound, kgCO2e, of all jobs submitted before the horizon, on
    actual intensity ``ci`` [R × T] (gCO2eq/kWh) with every GPU free at hour 0 (see module docstring);
    ``finish_by`` (per job row, absolute hours) widens windows to a late policy's finish hours."""
    if time_limit_s <= 0:
        raise ValueError(f"oracle_preemptive.time_limit_s: must be > 0 s, got {time_limit_s}")
    deadline = time.monotonic() + float(time_limit_s)
    R, T = ci.shape
    if R != dc.n:
        raise ValueError(f"preemptive_bound: ci has {R} regions, data centres {dc.n}")
    n = len(jobs)
    idx = np.flatnonzero((jobs.submit_h < T) & (jobs.gpus <= dc.gpus.max()))
    a, end = job_windows(jobs, idx, 0, dc.transfer_hours(jobs.data_gb), R, T, finish_by)
    d = jobs.duration_h[idx]
    length = np.where(jobs.gpus[idx][:, None] <= dc.gpus[None, :], np.clip(end[:, None] - a, 0, None), 0)
    length = np.where(length >= d[:, None], length, 0)            # [k × R] window hours usable per region
    keep = length.sum(axis=1) > 0
    idx, a, end, d, length = idx[keep], a[keep], end[keep], d[keep], length[keep]
    covered = np.zeros(n, dtype=bool)
    covered[idx] = True
    latest = np.full(n, -1, dtype=np.int64)
    latest[idx] = end
    cells = _Cells(jobs, idx, a, end, d, length, ci, dc)
    coupled = cells.coupled_jobs(dc.gpus)
    free_kg = float(cells.closed_form(~coupled).sum())
    slack = "" if finish_by is None else "slack-matched"
    if not coupled.any():
        return OracleBound(PREEMPTIVE, EXACT_FREE, free_kg, covered, latest, free_kg, slack=slack)
    sub = cells.subset(coupled)
    kg, kind, schedule_kg = _solve(sub, dc.gpus, max_jobs_milp, mip_rel_gap, deadline,
                                   float(cells.closed_form(coupled).sum()))
    return OracleBound(PREEMPTIVE, kind, free_kg + kg, covered, latest, free_kg + schedule_kg, slack=slack)


class _Cells:
    """Flattened (job, region, hour) cells of the jobs' windows, job-major then region then hour;
    ``seg`` numbers the (job, region) segments (``k · R + r``)."""

    def __init__(self, jobs: Jobs, idx: np.ndarray, a: np.ndarray, end: np.ndarray, d: np.ndarray,
                 length: np.ndarray, ci: np.ndarray, dc: DataCenters):
        R = dc.n
        self.R, self.T, self.k = R, ci.shape[1], len(idx)
        self.d, self.gpus_job = d, jobs.gpus[idx]
        self.length = length.ravel()                             # [k·R]
        seg = np.repeat(np.arange(self.k * R), self.length)
        offset = np.concatenate([[0], np.cumsum(self.length)[:-1]])
        self.seg = seg
        self.job = seg // R
        self.region = seg % R
        self.hour = a.ravel()[seg] + (np.arange(len(seg)) - offset[seg])
        power = jobs.power_kw[idx][self.job]
        self.cost = power * dc.pue[self.region] * ci[self.region, self.hour] / 1000.0
        self.gpus = self.gpus_job[self.job]
        # transfer (kgCO2e) per segment: cheapest over the hours the job could start there
        home = jobs.home[idx][self.job]
        can_start = self.hour <= end[self.job] - d[self.job]
        tr = np.where(can_start & (self.region != home),
                      dc.transfer_carbon_kg(jobs.data_gb[idx][self.job], ci[home, self.hour],
                                            ci[self.region, self.hour]), np.inf)
        tr = np.where(self.region == home, 0.0, tr)
        self.transfer = np.full(self.k * R, np.inf)
        np.minimum.at(self.transfer, seg, tr)
        self.transfer[self.length == 0] = np.inf

    def coupled_jobs(self, capacity: np.ndarray) -> np.ndarray:
        """[k] jobs with a cell whose (region, hour) all windows together could overfill."""
        cell = self.region * self.T + self.hour
        demand = np.bincount(cell, weights=self.gpus, minlength=self.R * self.T)
        hot = demand > np.repeat(capacity, self.T)
        return np.bincount(self.job, weights=hot[cell], minlength=self.k) > 0

    def segment_costs(self) -> np.ndarray:
        """[k × R] kgCO2e of each job's ``d`` cheapest hours in each region + transfer (inf: not usable)."""
        order = np.lexsort((self.cost, self.seg))
        seg_sorted = self.seg[order]
        first = np.searchsorted(seg_sorted, seg_sorted, side="left")
        rank = np.arange(len(order)) - first
        take = rank < self.d[self.job[order]]
        op = np.bincount(seg_sorted[take], weights=self.cost[order][take], minlength=self.k * self.R)
        return np.where(self.length > 0, op + self.transfer, np.inf).reshape(self.k, self.R)

    def closed_form(self, mask: np.ndarray) -> np.ndarray:
        """Optimal kgCO2e of the jobs in ``mask`` when no capacity row touches them: cheapest region."""
        return self.segment_costs().min(axis=1)[mask]

    def subset(self, mask: np.ndarray) -> _Cells:
        """The cells of the jobs in ``mask`` (renumbered)."""
        out = object.__new__(_Cells)
        keep_seg = np.repeat(mask, self.R)
        cell_keep = keep_seg[self.seg]
        new_job = np.cumsum(mask) - 1
        out.R, out.T, out.k = self.R, self.T, int(mask.sum())
        out.d, out.gpus_job = self.d[mask], self.gpus_job[mask]
        out.length = self.length[keep_seg]
        out.job = new_job[self.job[cell_keep]]
        out.region = self.region[cell_keep]
        out.seg = out.job * self.R + out.region
        out.hour, out.cost, out.gpus = self.hour[cell_keep], self.cost[cell_keep], self.gpus[cell_keep]
        out.transfer = self.transfer[keep_seg]
        return out


def _solve(c: _Cells, capacity: np.ndarray, max_jobs_milp: int, mip_rel_gap: float, deadline: float,
           relaxed: float) -> tuple[float, str, float]:
    """(bound kgCO2e, kind, schedule kgCO2e or NaN) of the coupled jobs ``c``; ``relaxed`` is their
    capacity-free optimum (the fallback bound when not even the LP finishes in time)."""
    import highspy
    from scipy.sparse import csr_matrix

    N, S = len(c.cost), c.k * c.R
    usable = c.length > 0
    cell = c.region * c.T + c.hour
    demand = np.bincount(cell, weights=c.gpus, minlength=c.R * c.T)
    hot = np.flatnonzero(demand > np.repeat(capacity, c.T))          # (region, hour) rows that can bind
    row_of_hot = np.full(c.R * c.T, -1)
    row_of_hot[hot] = np.arange(len(hot))
    on_hot = row_of_hot[cell] >= 0
    y = N + np.arange(S)         # rows: S links Σx = d·y, k jobs Σy = 1, then the capacity rows
    rows = np.concatenate([c.seg, np.arange(S), S + np.arange(S) // c.R, S + c.k + row_of_hot[cell][on_hot]])
    cols = np.concatenate([np.arange(N), y, y, np.arange(N)[on_hot]])
    vals = np.concatenate([np.ones(N), -np.repeat(c.d, c.R).astype(float), np.ones(S), c.gpus[on_hot].astype(float)])
    A = csr_matrix((vals, (rows, cols)), shape=(S + c.k + len(hot), N + S))
    lo = np.concatenate([np.zeros(S), np.ones(c.k), np.full(len(hot), -np.inf)])
    hi = np.concatenate([np.zeros(S), np.ones(c.k), (np.repeat(capacity, c.T)[hot]).astype(float)])
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    obj = np.concatenate([c.cost, np.where(usable, c.transfer, 0.0)])
    h.addCols(N + S, obj, np.zeros(N + S), np.concatenate([np.ones(N), usable.astype(float)]), 0,
              np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
    h.addRows(A.shape[0], lo, hi, A.nnz, A.indptr[:-1].astype(np.int32), A.indices.astype(np.int32), A.data)

    def run() -> str:
        left = deadline - time.monotonic()
        if left <= 0:
            return "skipped"
        h.setOptionValue("time_limit", float(left))
        h.run()
        st = h.getModelStatus()
        if st == highspy.HighsModelStatus.kOptimal:
            return "optimal"
        if st == highspy.HighsModelStatus.kTimeLimit:
            return "time"
        if st == highspy.HighsModelStatus.kInfeasible:
            return "infeasible"
        raise RuntimeError(f"oracle_preemptive: HiGHS ended with {h.modelStatusToString(st)}")

    lp = run()
    if lp == "infeasible":
        return float("inf"), INFEASIBLE, float("nan")
    lp_kg = max(relaxed, float(h.getInfo().objective_function_value)) if lp == "optimal" else relaxed
    if c.k > max_jobs_milp or lp != "optimal" or time.monotonic() >= deadline:
        return lp_kg, LP_BOUND, float("nan")
    h.changeColsIntegrality(N + S, np.arange(N + S, dtype=np.int32),
                            np.full(N + S, highspy.HighsVarType.kInteger.value, dtype=np.uint8))
    milp = run()
    if milp == "infeasible":
        return float("inf"), INFEASIBLE, float("nan")
    if milp == "skipped":
        return lp_kg, LP_BOUND, float("nan")
    info = h.getInfo()
    dual = float(info.mip_dual_bound)
    incumbent = float(info.objective_function_value) if info.primal_solution_status == 2 else float("nan")
    if milp == "optimal":
        return min(incumbent, max(dual, lp_kg)), EXACT_MILP, incumbent
    return max(dual if np.isfinite(dual) else -np.inf, lp_kg), DUAL_BOUND, incumbent
