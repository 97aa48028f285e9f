"""ORACLE — perfect-foresight optimum of an instance (actual intensities, true durations, all arrivals
known at hour 0), solved with HiGHS. Every number it produces is labelled oracle; it is a bound, not a
policy anyone could run.

Model (the seed's §3.4 formulation, contiguous runs): binary ``x[i, s, r]`` = job ``i`` starts at hour
``s`` in region ``r``; each job takes exactly one candidate; candidates are the on-time starts
``[earliest_r, deadline − true duration]`` (when even starting at once is late, the job keeps the slack
its nominal window had: ``deadline − submit − estimate`` hours after its earliest start); cost =
operational + transfer carbon (kgCO2e) under the *actual* intensity; capacity
``Σ gpus_i · x ≤ free GPUs`` for every (region, hour).

Solution: capacity rows are generated lazily. First every job takes its cheapest candidate (capacity
relaxed — a lower bound); if that schedule fits the capacity it is optimal. Otherwise the violated
(region, hour) rows are added and the model re-solved until nothing is violated: as a MILP when the
instance has ≤ ``max_jobs_milp`` jobs, else as its LP relaxation, whose objective is reported as the
bound and whose fractional solution is rounded greedily (largest x first, then cheapest candidate that
still fits) into the schedule that is simulated.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.cost import prefix, sliding_min, window_sums
from scheduler.datacenters import DataCenters
from scheduler.policies.base import ClusterState, Decisions, Event, Placer
from scheduler.workloads import Jobs


@dataclass
class _Block:
    """Candidates of one job: regions × starts s0 … s0+S−1, flattened region-major from column ``col``."""

    job: int
    s0: int
    S: int
    d: int
    col: int
    cost: np.ndarray    # [R × S], inf = not a candidate


class Oracle:
    name = "oracle"
    clairvoyant = True

    def __init__(self, dc: DataCenters, max_jobs_milp: int = 300, time_limit_s: float = 120.0,
                 mip_rel_gap: float = 1e-4, max_rounds: int = 30):
        self.dc, self.max_jobs_milp, self.time_limit_s = dc, max_jobs_milp, time_limit_s
        self.mip_rel_gap, self.max_rounds = mip_rel_gap, max_rounds
        self.bound_kg = float("nan")
        self.solve_kind = ""

    def adapt(self, event: Event, jobs: Jobs, now: int, state: ClusterState, view) -> Decisions:
        """Re-place jobs whose start was blocked (an earlier job overran after a failure); the bound of
        the hour-0 plan is kept."""
        bound, kind = self.bound_kg, self.solve_kind
        try:
            return self.plan(jobs, event.jobs, now, state, view)
        finally:
            self.bound_kg, self.solve_kind = bound, kind

    def plan(self, jobs: Jobs, idx: np.ndarray, now: int, state: ClusterState, view) -> Decisions:
        if not getattr(view, "is_oracle", False):
            raise ValueError("Oracle.plan needs an OracleView (actual intensities)")
        idx = np.asarray(idx, dtype=np.int64)
        placer = Placer(jobs, now, state, self.dc)
        ci = view.ci_plan(placer.T)
        P = prefix(ci)
        blocks: list[_Block] = []
        col = 0
        for i in idx.tolist():
            if not placer.fits_anywhere(i):
                continue
            b = self._block(placer, i, ci, P, col)
            if b is None:
                placer.reject(i, f"unschedulable: no region has {jobs.gpus[i]} free GPUs for "
                                 f"{jobs.duration_h[i]} h before the horizon ends (hour {placer.T})")
                continue
            blocks.append(b)
            col += b.cost.size
        if not blocks:
            return placer.decisions()
        choice = np.array([int(np.argmin(b.cost)) for b in blocks])
        relaxed = float(sum(b.cost.flat[c] for b, c in zip(blocks, choice)))
        viol = self._violations(blocks, choice, placer.free, jobs.gpus)
        if not viol.size:
            self.bound_kg, self.solve_kind = relaxed, "exact (capacity not binding)"
            for b, c in zip(blocks, choice):
                placer.commit(b.job, int(c // b.S), b.s0 + int(c % b.S), b.d)
            return placer.decisions()
        choice = self._solve(blocks, placer, viol)
        for b, c in zip(blocks, choice):
            placer.commit(b.job, int(c // b.S), b.s0 + int(c % b.S), b.d)
        return placer.decisions()

    def _block(self, placer: Placer, i: int, ci: np.ndarray, P: np.ndarray, col: int) -> _Block | None:
        jobs, dc, now = placer.jobs, self.dc, placer.now
        d = int(jobs.duration_h[i])
        a_r = placer.earliest(i)
        s0 = int(a_r.min())
        s1 = int(jobs.deadline_h[i]) - d
        if s1 < s0:
            s1 = s0 + max(int(jobs.deadline_h[i] - jobs.submit_h[i] - jobs.est_duration_h[i]), 0)
        s1 = min(s1, placer.T - d)
        if s1 < s0:
            return None
        rel = np.arange(s0 - now, s1 - now + 1)
        cost = (jobs.power_kw[i] * dc.pue / 1000.0)[:, None] * window_sums(P, rel, d)
        home = jobs.home[i]
        tr = dc.transfer_kwh(jobs.data_gb[i]) / 2000.0 * (ci[home, rel][None, :] + ci[:, rel])
        tr[home] = 0.0
        ok = sliding_min(placer.free[:, s0:s1 + d], d) >= jobs.gpus[i]
        ok &= (rel + now)[None, :] >= a_r[:, None]
        if not ok.any():
            return None
        return _Block(i, s0, len(rel), d, col, np.where(ok, cost + tr, np.inf))

    @staticmethod
    def _violations(blocks: list[_Block], choice: np.ndarray, free: np.ndarray, gpus: np.ndarray) -> np.ndarray:
        """(region, hour) cells [K × 2] where the schedule ``choice`` uses more GPUs than are free."""
        use = np.zeros_like(free)
        for b, c in zip(blocks, choice):
            s = b.s0 + int(c % b.S)
            use[int(c // b.S), s:s + b.d] += gpus[b.job]
        return np.argwhere(use > free)

    def _solve(self, blocks: list[_Block], placer: Placer, viol: np.ndarray) -> np.ndarray:
        import highspy

        gpus = placer.jobs.gpus
        free = placer.free
        milp = len(blocks) <= self.max_jobs_milp
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", float(self.time_limit_s))
        h.setOptionValue("mip_rel_gap", float(self.mip_rel_gap))
        h.setOptionValue("threads", 1)
        costs = np.concatenate([b.cost.ravel() for b in blocks])
        finite = np.isfinite(costs)
        n = len(costs)
        h.addCols(n, np.where(finite, costs, 0.0), np.zeros(n), np.where(finite, 1.0, 0.0), 0,
                  np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        if milp:
            h.changeColsIntegrality(n, np.arange(n, dtype=np.int32),
                                    np.full(n, highspy.HighsVarType.kInteger.value, dtype=np.uint8))
        starts = np.array([b.col for b in blocks], dtype=np.int32)
        sizes = np.array([b.cost.size for b in blocks])
        one = np.ones(len(blocks))
        h.addRows(len(blocks), one, one, int(sizes.sum()), starts,
                  np.arange(n, dtype=np.int32), np.ones(n))
        added: set[tuple[int, int]] = set()
        x = np.zeros(n)
        for _ in range(self.max_rounds):
            self._add_capacity_rows(h, blocks, viol, gpus, free, added)
            h.run()
            status = h.getModelStatus()
            if status not in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit):
                raise RuntimeError(f"oracle: HiGHS ended with {h.modelStatusToString(status)}")
            x = np.asarray(h.getSolution().col_value)
            self.bound_kg = float(h.getInfo().objective_function_value)
            choice = np.array([int(np.argmax(x[b.col:b.col + b.cost.size])) for b in blocks])
            if milp:
                viol = self._violations(blocks, choice, free, gpus)
            else:
                viol = self._fractional_violations(blocks, x, gpus, free)
            viol = np.array([v for v in viol.tolist() if tuple(v) not in added]).reshape(-1, 2)
            if not viol.size:
                break
        gap = "" if h.getModelStatus() == highspy.HighsModelStatus.kOptimal else ", time limit"
        if milp:
            self.solve_kind = f"MILP ({len(blocks)} jobs{gap})"
            if gap:  # incumbent objective is not a bound: report the dual bound
                self.bound_kg = float(h.getInfo().mip_dual_bound)
            return choice
        self.solve_kind = f"LP bound ({len(blocks)} jobs > max_jobs_milp={self.max_jobs_milp}{gap})"
        return self._round(blocks, x, placer)

    def _fractional_violations(self, blocks, x, gpus, free) -> np.ndarray:
        use = np.zeros(free.shape)
        for b in blocks:
            xb = x[b.col:b.col + b.cost.size].reshape(b.cost.shape)
            cs = np.cumsum(np.pad(xb, ((0, 0), (0, b.d))) - np.pad(xb, ((0, 0), (b.d, 0))), axis=1)
            use[:, b.s0:b.s0 + b.S + b.d - 1] += gpus[b.job] * cs[:, :b.S + b.d - 1]
        return np.argwhere(use > free + 1e-6)

    @staticmethod
    def _add_capacity_rows(h, blocks, viol, gpus, free, added) -> None:
        if not viol.size:
            return
        lo, hi, starts, index, value = [], [], [], [], []
        for r, t in viol.tolist():
            added.add((r, t))
            starts.append(len(index))
            lo.append(-np.inf)
            hi.append(float(free[r, t]))
            for b in blocks:
                a, z = max(t - b.d + 1, b.s0), min(t, b.s0 + b.S - 1)
                if a > z:
                    continue
                cols = b.col + r * b.S + np.arange(a - b.s0, z - b.s0 + 1)
                cols = cols[np.isfinite(b.cost[r, a - b.s0:z - b.s0 + 1])]
                index.extend(cols.tolist())
                value.extend([float(gpus[b.job])] * len(cols))
        h.addRows(len(lo), np.array(lo), np.array(hi), len(index), np.array(starts, dtype=np.int32),
                  np.array(index, dtype=np.int32), np.array(value))

    def _round(self, blocks: list[_Block], x: np.ndarray, placer: Placer) -> np.ndarray:
        """Greedy rounding of the LP solution: jobs by their largest x (most certain first); each takes the
        cheapest still-feasible candidate among those with the highest x."""
        gpus, free = placer.jobs.gpus, placer.free.copy()
        xs = [x[b.col:b.col + b.cost.size] for b in blocks]
        choice = np.zeros(len(blocks), dtype=np.int64)
        for k in np.argsort([-xb.max() for xb in xs], kind="stable"):
            b = blocks[k]
            ok = sliding_min(free[:, b.s0:b.s0 + b.S + b.d - 1], b.d) >= gpus[b.job]
            key = np.where(ok & np.isfinite(b.cost), b.cost - 1e6 * xs[k].reshape(b.cost.shape), np.inf)
            c = int(np.argmin(key))
            if not np.isfinite(key.flat[c]):
                raise RuntimeError(f"oracle: LP rounding found no feasible slot for job {b.job}")
            choice[k] = c
            free[c // b.S, b.s0 + c % b.S: b.s0 + c % b.S + b.d] -= gpus[b.job]
        return choice
