"""ORACLE — perfect-foresight optimum of an instance (actual intensities, true durations, all arrivals
known at hour 0), solved with HiGHS. Every number it produces is labelled oracle; it is a bound, not a
policy anyone could run.

Model (the seed's §3.4 formulation, contiguous runs): binary ``x[i, s, r]`` = job ``i`` starts at hour
``s`` in region ``r``; each job takes exactly one candidate; candidates are the on-time starts
``[earliest_r, deadline − true duration]`` (when even starting at once is late, the job keeps the slack
its nominal window had: ``deadline − submit − estimate`` hours after its earliest start — the bound's
``latest_finish`` records this per job, see :func:`job_windows`); cost = operational + transfer carbon
(kgCO2e) under the *actual* intensity; capacity ``Σ gpus_i · x ≤ free GPUs`` for every (region, hour).

Solution: capacity rows are generated lazily. First every job takes its cheapest candidate (capacity
relaxed — a lower bound); if that schedule fits the capacity it is optimal (bound kind
``exact, capacity not binding``). Otherwise the violated (region, hour) rows are added and the LP
relaxation re-solved until no fractional solution violates a row (its objective is the LP bound, always
computed first), then — when the instance has ≤ ``max_jobs_milp`` jobs — the MILP continues from the
same rows until its integer schedule fits (``exact MILP``). ``time_limit_s`` is the total for all rounds
of both phases. A MILP that runs out of time (or rounds) reports ``max(dual bound, LP bound)`` as
``MILP dual bound``; above ``max_jobs_milp`` the LP objective is reported (``LP bound``).

Above ``max_jobs_milp`` jobs a *schedule search* runs in the time the LP left (unless ``search=False``:
bound-only solves such as the slack-matched bounds). First, for ``SEARCH_SHARE`` of that time, fix-and-
optimise over time windows (:mod:`scheduler.policies.oracle_search`) improves the best known capacity-
feasible schedule (the rounded LP solution, or ``incumbent`` — e.g. the best on-time policy schedule — when
cheaper), guided by the LP solution when the LP finished (its reduced costs pick the few candidates a window
may move a job to, its carbon per job the order of the windows; the detail says ``LP-guided`` or
``unguided``); then the MILP starts from the result and its root cuts and branching raise the bound when they
can: the reported bound is ``max(MILP dual bound, LP bound)`` (kind ``MILP dual bound`` when the dual is
higher, ``LP bound`` when not, ``exact MILP`` when it closes). On paper_capacity seed 0 (1000 jobs,
binding capacity) the LP bound is 98,902 kgCO2e and a 240 s HiGHS root on the full model raises it only to
99,015 (+0.11 %): the gap is the schedule's (rounded LP 102,928, +4.07 %), which the search closes.
Tried and not kept (seed 0, 2 loaded cores): one MILP over every job restricted to its LP candidates (RINS;
7.9 k of 57 k columns, flow form, warm-started) finds nothing below the rounded LP in 60 s — HiGHS spends it on
root cuts and strong branching — nor over only the 425 jobs where rounding and LP disagree (3.5 k columns);
reduced-cost fixing would drop only the 726 columns whose reduced cost exceeds even a 1.5 % gap (1,500 kgCO2e).
Measured ``oracle.gap_pct`` (hour-0 plan inside ``simulate``, performance_first the only policy, 2 cores
shared with other runs; load in brackets), LP-guided vs the unguided 48 h windows before it: 600 s — seed 0
1.05 % (3.0) vs 0.81 % (0.2–3.9), seed 1 1.49 % (3.5) vs 2.69 % (3.9), seed 2 1.78 % (2.9) vs 1.64 % (3.9),
0.8 × capacity (GB and US-CAL-CISO 512 GPUs, seed 0) 2.65 % (2.9) vs 2.36 % (3.9); 120 s (load 1.0) — seed 0
1.00 %, seed 1 1.54 % vs 3.26 %, seed 2 1.83 %, 0.8 × 2.73 % vs 3.63 %. The guidance gains most early; at
600 s it ends a little higher than the unguided search on three of the four.

Schedule: the MILP optimum when exact; otherwise the best of the LP solution, the MILP incumbent and the
warm start, each rounded greedily (largest x first, then the cheapest candidate that still fits),
improved by moving single jobs to cheaper free candidates, and repaired when a job has no candidate
left: it takes the earliest completion anywhere (possibly late) and is counted in ``n_repaired``.
Rounding never raises; a warm start never makes the schedule worse (it is one of the compared ones).
``OracleBound.gap_pct`` = (schedule − bound) / bound × 100.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from carbonshift.scheduler.cost import fits, prefix, window_sums
from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.base import ClusterState, Decisions, Event, JobsView, Placer
from carbonshift.scheduler.policies.oracle_search import LpGuide, improve_by_windows
from carbonshift.scheduler.workloads import Jobs

CONTIGUOUS, PREEMPTIVE = "contiguous", "preemptive"
EXACT_MILP = "exact MILP"
EXACT_FREE = "exact, capacity not binding"
LP_BOUND = "LP bound"
DUAL_BOUND = "MILP dual bound"
INFEASIBLE = "infeasible: no schedule of the set exists"
SEARCH_SHARE = 0.75     # of the time the LP leaves: fix-and-optimise (oracle_search); the MILP search the rest


class _NoSchedule(Exception):
    """HiGHS proved that no schedule of the constraint set fits the capacity."""


@dataclass
class OracleBound:
    """Perfect-foresight lower bound (kgCO2e) on the carbon of every schedule of one constraint set
    (``contiguous`` on-time runs, or ``preemptive`` suspend/resume runs) of the jobs in ``covered``.

    A schedule belongs to the set when every covered job finishes by ``latest_finish`` (its deadline, or
    the slack the oracle gave a job that cannot be on time); only such schedules may be compared with
    ``kg``. ``kind`` says how exact ``kg`` is (``exact MILP``, ``exact, capacity not binding``,
    ``LP bound``, ``MILP dual bound``)."""

    constraint_set: str
    kind: str
    kg: float
    covered: np.ndarray             # bool [n jobs]
    latest_finish: np.ndarray       # int64 [n jobs], exclusive hour; −1 where not covered
    schedule_kg: float = float("nan")   # the oracle's own planned schedule (actual intensity), kgCO2e
    n_repaired: int = 0             # jobs the rounding could not place on a candidate (repaired, maybe late)
    slack: str = ""                 # whose lateness widened the windows ("" = deadlines only)

    @property
    def gap_pct(self) -> float:
        """(schedule − bound) / bound × 100; NaN when there is no schedule."""
        if not (np.isfinite(self.schedule_kg) and np.isfinite(self.kg)) or self.kg <= 0:
            return float("nan")
        return float((self.schedule_kg - self.kg) / self.kg * 100.0)

    @property
    def label(self) -> str:
        """Name of the bound in tables and figures, e.g. ``oracle (exact MILP)``."""
        return f"oracle ({self.kind})" if self.constraint_set == CONTIGUOUS else f"oracle_preemptive ({self.kind})"

    def metrics(self, key: str) -> dict[str, float]:
        """``<key>.bound_kg``, ``.gap_pct``, ``.schedule_kg``, ``.n_repaired``, ``.n_covered`` (kgCO2e, %, count)."""
        return {f"{key}.bound_kg": float(self.kg), f"{key}.gap_pct": self.gap_pct,
                f"{key}.schedule_kg": float(self.schedule_kg), f"{key}.n_repaired": float(self.n_repaired),
                f"{key}.n_covered": float(self.covered.sum())}


def job_windows(jobs: Jobs, idx: np.ndarray, now: int, transfer_h: np.ndarray, n_regions: int,
                T: int, finish_by: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Earliest start per region ``a`` [k × R] (``max(now, submit)``, plus the transfer hours away from
    home; = ``Placer.earliest``) and the latest finish hour [k] of jobs ``idx``: the deadline, or — when no
    region can finish by the deadline even starting at once — the earliest start + the slack its nominal
    window had (``deadline − submit − estimate``, ≥ 0 h) + the true duration; or ``finish_by[row]`` when
    that is later (a policy's realised finish, see ``Oracle``); capped at ``T``."""
    idx = np.asarray(idx, dtype=np.int64)
    away = np.arange(n_regions)[None, :] != jobs.home[idx][:, None]
    a = np.maximum(jobs.submit_h[idx], now)[:, None] + transfer_h[idx][:, None] * away
    first = a.min(axis=1)
    d = jobs.duration_h[idx]
    slack = np.maximum(jobs.deadline_h[idx] - jobs.submit_h[idx] - jobs.est_duration_h[idx], 0)
    end = np.where(jobs.deadline_h[idx] - d < first, first + slack + d, jobs.deadline_h[idx])
    if finish_by is not None:
        end = np.maximum(end, np.asarray(finish_by)[idx])
    return a.astype(np.int64), np.minimum(end, T).astype(np.int64)


@dataclass
class _Block:
    """Candidates of one job: regions × starts s0 … s0+S−1, flattened region-major from column ``col``."""

    job: int
    s0: int
    S: int
    d: int
    col: int
    cost: np.ndarray    # [R × S] kgCO2e, inf = not a candidate


@dataclass
class _Solve:
    """Result of the HiGHS phases: bound (kgCO2e), its kind, the column values to build a schedule from,
    whether ``x`` is already a capacity-feasible integer schedule, and other column values worth rounding
    (the LP solution next to a timed-out MILP incumbent; the better rounded schedule is kept)."""

    kg: float
    kind: str
    x: np.ndarray
    integral_feasible: bool
    detail: str
    alt: tuple[np.ndarray, ...] = ()
    starts: tuple[np.ndarray, ...] = ()     # capacity-feasible complete choices (the warm starts)


class Oracle:
    name = "oracle"
    clairvoyant = True

    def __init__(self, dc: DataCenters, max_jobs_milp: int = 300, time_limit_s: float = 120.0,
                 mip_rel_gap: float = 1e-4, max_rounds: int = 30, finish_by: np.ndarray | None = None,
                 search: bool = True, incumbent: tuple[np.ndarray, np.ndarray] | None = None):
        """``finish_by`` (optional, per job row, absolute exclusive hours): later finish hours a job may
        use — the slack of a late policy's realised schedule, so that the bound covers that schedule.
        ``search``: above ``max_jobs_milp`` jobs, run the warm-started MILP as a schedule search in the
        time the LP left (False: LP bound and rounding only). ``incumbent`` (optional): (region, start
        hour) per job row of a known schedule (e.g. the best on-time policy's); where it is a complete,
        capacity-feasible set of candidates it warm-starts the MILP and competes with the rounding."""
        if time_limit_s <= 0:
            raise ValueError(f"oracle.time_limit_s: must be > 0 s, got {time_limit_s}")
        self.dc, self.max_jobs_milp, self.time_limit_s = dc, max_jobs_milp, time_limit_s
        self.finish_by, self.search, self.incumbent = finish_by, search, incumbent
        self.incumbent_note = ""
        self.mip_rel_gap, self.max_rounds = mip_rel_gap, max_rounds
        self.bound: OracleBound | None = None
        self.solve_kind = ""

    @property
    def bound_kg(self) -> float:
        """The hour-0 bound, kgCO2e (NaN before planning)."""
        return self.bound.kg if self.bound is not None else float("nan")

    def adapt(self, event: Event, jobs: Jobs | JobsView, now: int, state: ClusterState, view) -> Decisions:
        """Re-place jobs whose start was blocked (an earlier job overran after a failure); the bound of
        the hour-0 plan (and its warm-start note) is kept; the incumbent is for the hour-0 plan only."""
        bound, kind, incumbent, note = self.bound, self.solve_kind, self.incumbent, self.incumbent_note
        self.incumbent = None
        try:
            return self.plan(jobs, event.jobs, now, state, view)
        finally:
            self.bound, self.solve_kind, self.incumbent, self.incumbent_note = bound, kind, incumbent, note

    def plan(self, jobs: Jobs | JobsView, idx: np.ndarray, now: int, state: ClusterState, view) -> Decisions:
        """``jobs``: the true table (the simulator hands a clairvoyant policy its ``Jobs``, never a
        ``JobsView``); ``view``: an ``OracleView``."""
        if not getattr(view, "is_oracle", False):
            raise ValueError("Oracle.plan needs an OracleView (actual intensities)")
        if not isinstance(jobs, Jobs):
            raise TypeError("Oracle.plan needs the true Jobs (true durations), not a JobsView")
        idx = np.asarray(idx, dtype=np.int64)
        placer = Placer(jobs, now, state, self.dc)
        ci = view.ci_plan(placer.T)
        P = prefix(ci)
        a, end = job_windows(jobs, idx, now, placer.transfer_h, self.dc.n, placer.T, self.finish_by)
        covered = np.zeros(len(jobs), dtype=bool)
        latest = np.full(len(jobs), -1, dtype=np.int64)
        blocks: list[_Block] = []
        col = 0
        for k, i in enumerate(idx.tolist()):
            if not placer.fits_anywhere(i):
                continue
            b = self._block(placer, jobs, i, a[k], int(end[k]), ci, P, col)
            if b is None:
                placer.reject(i, f"unschedulable: no region has {jobs.gpus[i]} free GPUs for "
                                 f"{jobs.duration_h[i]} h before the horizon ends (hour {placer.T})")
                continue
            blocks.append(b)
            covered[i], latest[i] = True, end[k]
            col += b.cost.size
        if not blocks:
            self.bound, self.solve_kind = OracleBound(CONTIGUOUS, EXACT_FREE, 0.0, covered, latest, 0.0), EXACT_FREE
            return placer.decisions()
        choice = np.array([int(np.argmin(b.cost)) for b in blocks])
        relaxed = float(sum(b.cost.flat[c] for b, c in zip(blocks, choice)))
        viol = self._violations(blocks, choice, placer.free, jobs.gpus)
        if not viol.size:
            sol = _Solve(relaxed, EXACT_FREE, np.zeros(0), True, EXACT_FREE)
        else:
            sol = self._solve(blocks, placer.free, jobs.gpus, viol, relaxed)
            choice = self._schedule(blocks, sol, placer.free, jobs.gpus)
        schedule_kg, n_repaired = self._commit(placer, blocks, choice, ci, P)
        self.bound = OracleBound(CONTIGUOUS, sol.kind, sol.kg, covered, latest, schedule_kg, n_repaired,
                                 "" if self.finish_by is None else "slack-matched")
        self.solve_kind = sol.detail + (f"; {n_repaired} job(s) repaired past their candidates" if n_repaired else "")
        return placer.decisions()

    def _block(self, placer: Placer, jobs: Jobs, i: int, a_r: np.ndarray, end: int, ci: np.ndarray, P: np.ndarray,
               col: int) -> _Block | None:
        """``jobs``: the true table ``placer`` was built on (the oracle reads ``duration_h``)."""
        dc, now = self.dc, placer.now
        d = int(jobs.duration_h[i])
        s0, s1 = int(a_r.min()), end - d
        if s1 < s0:
            return None
        rel = np.arange(s0 - now, s1 - now + 1)
        cost = (jobs.power_kw[i] * dc.pue / 1000.0)[:, None] * window_sums(P, rel, d)
        home = jobs.home[i]
        tr = dc.transfer_carbon_kg(jobs.data_gb[i], ci[home, rel][None, :], ci[:, rel])
        tr[home] = 0.0
        ok = fits(placer.free[:, s0:s1 + d], jobs.gpus[i], d)
        ok &= (rel + now)[None, :] >= a_r[:, None]
        if not ok.any():
            return None
        return _Block(i, s0, len(rel), d, col, np.where(ok, cost + tr, np.inf))

    @classmethod
    def _violations(cls, blocks: list[_Block], choice: np.ndarray, free: np.ndarray, gpus: np.ndarray) -> np.ndarray:
        """(region, hour) cells [K × 2] where the schedule ``choice`` uses more GPUs than are free."""
        return np.argwhere(cls._left(blocks, choice, free, gpus) < 0)

    def _solve(self, blocks: list[_Block], free: np.ndarray, gpus: np.ndarray, viol: np.ndarray,
               relaxed: float) -> _Solve:
        """LP phase (always: its objective is the LP bound), then the MILP phase when the instance has
        ≤ ``max_jobs_milp`` jobs; both share one total time limit."""
        deadline = time.monotonic() + float(self.time_limit_s)
        h = self._model(blocks)
        try:
            return self._phases(h, blocks, free, gpus, viol, relaxed, deadline)
        except _NoSchedule:     # no on-time contiguous schedule of all covered jobs: every one is late
            x = np.concatenate([np.where(b.cost.ravel() == b.cost.min(), 1.0, 0.0) for b in blocks])
            return _Solve(float("inf"), INFEASIBLE, x, False,
                          f"{INFEASIBLE} ({len(blocks)} jobs within their windows); schedule by repair")

    def _phases(self, h, blocks: list[_Block], free: np.ndarray, gpus: np.ndarray, viol: np.ndarray,
                relaxed: float, deadline: float) -> _Solve:
        import highspy

        added: set[tuple[int, int]] = set()
        x, lp_obj, lp_done, viol, _ = self._rounds(h, blocks, free, gpus, viol, added, deadline, integer=False)
        lp_kg = max(relaxed, lp_obj) if lp_obj is not None else relaxed
        if lp_obj is None:       # not even one LP solved in time: the capacity-free optimum still bounds
            x = np.concatenate([np.where(b.cost.ravel() == b.cost.min(), 1.0, 0.0) for b in blocks])
        n = len(blocks)
        lp_note = "" if lp_done else " (LP stopped early: time or rounds)"
        big = n > self.max_jobs_milp
        if (big and not self.search) or time.monotonic() >= deadline:
            why = f"{n} jobs > max_jobs_milp={self.max_jobs_milp}" if big else "no time left for the MILP"
            starts = self._starts(blocks, x, free, gpus) if self.incumbent is not None else []
            return _Solve(lp_kg, LP_BOUND, x, False, f"LP bound ({why}){lp_note}{self.incumbent_note}",
                          starts=tuple(starts))
        starts = self._starts(blocks, x, free, gpus)
        fo = ""
        if big and starts:      # fix-and-optimise the best start first; the MILP search gets the rest
            t = time.monotonic()
            guide = LpGuide(x, np.asarray(h.getSolution().col_dual)) if lp_done else None
            better, n_windows = improve_by_windows(blocks, starts[0], free, gpus,
                                                   t + SEARCH_SHARE * max(deadline - t, 0.0), guide)
            how = (f"LP-guided: {guide.per_job} least-reduced-cost candidates per job, doubled after a sweep "
                   "without gain" if guide is not None
                   else "unguided: LP stopped early")
            fo = (f"; fix-and-optimise ({how}) {self._kg(blocks, starts[0]):,.1f} → {self._kg(blocks, better):,.1f} "
                  f"kgCO2e ({n_windows} improving windows, {time.monotonic() - t:.0f} s)")
            starts = [better, *starts]
        ncol = h.getNumCol()
        h.changeColsIntegrality(ncol, np.arange(ncol, dtype=np.int32),
                                np.full(ncol, highspy.HighsVarType.kInteger.value, dtype=np.uint8))
        if starts:
            start = highspy.HighsSolution()
            start.col_value = self._columns(blocks, starts[0], ncol).tolist()
            start.value_valid = True
            h.setSolution(start)
        xm, obj, done, _, runs = self._rounds(h, blocks, free, gpus, viol, added, deadline, integer=True)
        warm = f"warm start {self._kg(blocks, starts[0]):,.1f} kgCO2e" if starts else "no complete warm start"
        search = (f"MILP schedule search ({n} jobs > max_jobs_milp={self.max_jobs_milp}, {warm}"
                  f"{self.incumbent_note}{fo}); " if big else "")
        if not runs:
            return _Solve(lp_kg, LP_BOUND, x, False, f"LP bound (no time left for the MILP){lp_note}",
                          starts=tuple(starts))
        dual = float(h.getInfo().mip_dual_bound)      # of the last MILP run: valid for its (partial) rows
        if done:     # the incumbent is within mip_rel_gap of the optimum; the dual bound is below it
            kg = min(obj, max(dual if np.isfinite(dual) else obj, lp_kg))
            return _Solve(kg, EXACT_MILP, xm, True, f"{search}exact MILP ({n} jobs, mip_rel_gap {self.mip_rel_gap:g})")
        kg = max(dual if np.isfinite(dual) else -np.inf, lp_kg)
        has_incumbent = h.getInfo().primal_solution_status == 2
        xs = np.asarray(h.getSolution().col_value) if has_incumbent else x
        kind = DUAL_BOUND if kg > lp_kg else LP_BOUND
        return _Solve(kg, kind, xs, False,
                      f"{search}{kind} ({n} jobs; time limit {self.time_limit_s:g} s or {self.max_rounds} rounds "
                      f"reached; max(dual {dual:,.1f}, LP {lp_kg:,.1f}) kgCO2e)", (x,) if has_incumbent else (),
                      tuple(starts))

    def _starts(self, blocks: list[_Block], x: np.ndarray, free: np.ndarray, gpus: np.ndarray) -> list[np.ndarray]:
        """Complete, capacity-feasible choices to warm-start the MILP with, cheapest first: the rounded and
        improved LP solution, and ``incumbent`` mapped onto the candidates (sets ``incumbent_note``)."""
        choice, left = self._round(blocks, x, free, gpus)
        out = [self._improve(blocks, choice, left, gpus)]
        self.incumbent_note = ""
        if self.incumbent is not None:
            inc = self._incumbent_choice(blocks)
            off = int((inc < 0).sum())
            over = self._left(blocks, np.maximum(inc, 0), free, gpus) < 0 if not off else np.zeros(1, bool)
            if off or over.any():
                why = (f"{off} job(s) off their on-time candidates" if off else
                       f"{int(over.sum())} cell(s) over capacity")
                self.incumbent_note = f"; incumbent not used: {why}"
            else:
                self.incumbent_note = f"; incumbent {self._kg(blocks, inc):,.1f} kgCO2e"
                out.append(inc)
        out = [c for c in out if (c >= 0).all()]
        return sorted(out, key=lambda c: self._kg(blocks, c))

    def _incumbent_choice(self, blocks: list[_Block]) -> np.ndarray:
        """``incumbent`` as a candidate per block (−1 where its region/start is not an on-time candidate)."""
        assert self.incumbent is not None, "Oracle._incumbent_choice: called only with an incumbent"
        region, start = (np.asarray(v, dtype=np.int64) for v in self.incumbent)
        choice = np.full(len(blocks), -1, dtype=np.int64)
        for k, b in enumerate(blocks):
            r, s = int(region[b.job]), int(start[b.job]) - b.s0
            if 0 <= r < b.cost.shape[0] and 0 <= s < b.S and np.isfinite(b.cost[r, s]):
                choice[k] = r * b.S + s
        return choice

    @staticmethod
    def _kg(blocks: list[_Block], choice: np.ndarray) -> float:
        """Planned kgCO2e of the placed candidates of ``choice``."""
        return float(sum(b.cost.flat[c] for b, c in zip(blocks, choice.tolist()) if c >= 0))

    @staticmethod
    def _columns(blocks: list[_Block], choice: np.ndarray, ncol: int) -> np.ndarray:
        """0/1 column values of a complete ``choice``."""
        x = np.zeros(ncol)
        x[np.array([b.col for b in blocks]) + choice] = 1.0
        return x

    @staticmethod
    def _left(blocks: list[_Block], choice: np.ndarray, free: np.ndarray, gpus: np.ndarray) -> np.ndarray:
        """Free GPUs [R × T] left after placing ``choice`` (negative where it overfills a cell)."""
        left = free.copy()
        for b, c in zip(blocks, choice.tolist()):
            if c >= 0:
                s = b.s0 + c % b.S
                left[c // b.S, s:s + b.d] -= gpus[b.job]
        return left

    def _model(self, blocks: list[_Block]):
        import highspy

        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("mip_rel_gap", float(self.mip_rel_gap))
        h.setOptionValue("threads", 1)
        costs = np.concatenate([b.cost.ravel() for b in blocks])
        finite = np.isfinite(costs)
        n = len(costs)
        h.addCols(n, np.where(finite, costs, 0.0), np.zeros(n), np.where(finite, 1.0, 0.0), 0,
                  np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        starts = np.array([b.col for b in blocks], dtype=np.int32)
        sizes = np.array([b.cost.size for b in blocks])
        one = np.ones(len(blocks))
        h.addRows(len(blocks), one, one, int(sizes.sum()), starts, np.arange(n, dtype=np.int32), np.ones(n))
        return h

    def _rounds(self, h, blocks: list[_Block], free: np.ndarray, gpus: np.ndarray, viol: np.ndarray,
                added: set, deadline: float, integer: bool):
        """Add the violated capacity rows and re-solve until nothing is violated, the rounds run out or the
        total time is spent. Returns (x, objective of the last optimal solve or None, done, violations,
        number of HiGHS runs)."""
        import highspy

        x, obj = None, None
        for runs in range(self.max_rounds):
            left = deadline - time.monotonic()
            if left <= 0:
                return x, obj, False, viol, runs
            self._add_capacity_rows(h, blocks, viol, gpus, free, added)
            h.setOptionValue("time_limit", float(left))
            h.run()
            status = h.getModelStatus()
            if status == highspy.HighsModelStatus.kTimeLimit:
                return x, obj, False, viol, runs + 1
            if status == highspy.HighsModelStatus.kInfeasible:
                raise _NoSchedule
            if status != highspy.HighsModelStatus.kOptimal:
                raise RuntimeError(f"oracle: HiGHS ended with {h.modelStatusToString(status)}")
            x = np.asarray(h.getSolution().col_value)
            obj = float(h.getInfo().objective_function_value)
            if integer:
                choice = np.array([int(np.argmax(x[b.col:b.col + b.cost.size])) for b in blocks])
                viol = self._violations(blocks, choice, free, gpus)
            else:
                viol = self._fractional_violations(blocks, x, gpus, free)
            viol = np.array([v for v in viol.tolist() if tuple(v) not in added], dtype=np.int64).reshape(-1, 2)
            if not viol.size:
                return x, obj, True, viol, runs + 1
        return x, obj, False, viol, self.max_rounds

    def _fractional_violations(self, blocks, x, gpus, free) -> np.ndarray:
        use = np.zeros(free.shape)
        for b in blocks:
            xb = x[b.col:b.col + b.cost.size].reshape(b.cost.shape)
            cs = np.cumsum(np.pad(xb, ((0, 0), (0, b.d))) - np.pad(xb, ((0, 0), (b.d, 0))), axis=1)
            use[:, b.s0:b.s0 + b.S + b.d - 1] += gpus[b.job] * cs[:, :b.S + b.d - 1]
        return np.argwhere(use > free + 1e-6)

    @staticmethod
    def _add_capacity_rows(h, blocks, viol, gpus, free, added) -> None:
        """Add ``Σ gpus · x ≤ free[r, t]`` for the (region, hour) cells ``viol`` [K × 2]: per block, the
        columns of the starts whose run covers each cell are built with numpy (one loop over blocks)."""
        from scipy.sparse import csr_matrix

        if not viol.size:
            return
        added.update(map(tuple, viol.tolist()))
        r, t = viol[:, 0], viol[:, 1]
        rows, cols, vals = [], [], []
        for b in blocks:
            a = np.maximum(t - b.d + 1, b.s0) - b.s0              # first covering start (relative), per cell
            z = np.minimum(t, b.s0 + b.S - 1) - b.s0              # last covering start
            n = np.clip(z - a + 1, 0, None)
            if not n.any():
                continue
            cell = np.repeat(np.arange(len(viol)), n)
            rel = np.repeat(a, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
            flat = r[cell] * b.S + rel
            ok = np.isfinite(b.cost.ravel()[flat])
            rows.append(cell[ok])
            cols.append(b.col + flat[ok])
            vals.append(np.full(int(ok.sum()), float(gpus[b.job])))
        if not rows:             # no candidate covers these cells: nothing to constrain
            return
        A = csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(len(viol), h.getNumCol()))
        h.addRows(len(viol), np.full(len(viol), -np.inf), free[r, t].astype(float), A.nnz,
                  A.indptr[:-1].astype(np.int32), A.indices.astype(np.int32), A.data)

    def _schedule(self, blocks: list[_Block], sol: _Solve, free: np.ndarray, gpus: np.ndarray) -> np.ndarray:
        """Candidate per block (−1: none fits): the MILP's when it is a feasible integer schedule, else the
        rounded and locally improved solution."""
        if sol.integral_feasible:
            return np.array([int(np.argmax(sol.x[b.col:b.col + b.cost.size])) for b in blocks])
        best, key = np.zeros(0, dtype=np.int64), (np.inf, np.inf)
        rounded = [self._round(blocks, x, free, gpus) for x in (sol.x, *sol.alt)]
        for choice, left in rounded + [(c, self._left(blocks, c, free, gpus)) for c in sol.starts]:
            choice = self._improve(blocks, choice, left, gpus)
            k = (int((choice < 0).sum()), self._kg(blocks, choice))
            if k < key:
                best, key = choice, k
        return best

    @staticmethod
    def _fits(b: _Block, free: np.ndarray, g: int) -> np.ndarray:
        """[R × S] candidates of ``b`` that fit ``free`` now."""
        return fits(free[:, b.s0:b.s0 + b.S + b.d - 1], g, b.d) & np.isfinite(b.cost)

    def _round(self, blocks: list[_Block], x: np.ndarray, free: np.ndarray,
               gpus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Greedy rounding: jobs by their largest x (most certain first); each takes the cheapest still-
        feasible candidate among those with the highest x, or −1 when none fits. Returns the choice and the
        free GPUs left."""
        free = free.copy()
        xs = [x[b.col:b.col + b.cost.size] for b in blocks]
        choice = np.full(len(blocks), -1, dtype=np.int64)
        for k in np.argsort([-xb.max() for xb in xs], kind="stable"):
            b = blocks[k]
            key = np.where(self._fits(b, free, gpus[b.job]), b.cost - 1e6 * xs[k].reshape(b.cost.shape), np.inf)
            c = int(np.argmin(key))
            if np.isfinite(key.flat[c]):
                choice[k] = c
                free[c // b.S, b.s0 + c % b.S: b.s0 + c % b.S + b.d] -= gpus[b.job]
        return choice, free

    def _improve(self, blocks: list[_Block], choice: np.ndarray, free: np.ndarray, gpus: np.ndarray,
                 passes: int = 3) -> np.ndarray:
        """Local search: each job in turn moves to its cheapest candidate that fits the others (unplaced
        jobs retry too), until a pass changes nothing."""
        choice = choice.copy()
        for _ in range(passes):
            changed = False
            for k, b in enumerate(blocks):
                g, c = gpus[b.job], int(choice[k])
                if c >= 0:
                    free[c // b.S, b.s0 + c % b.S: b.s0 + c % b.S + b.d] += g
                cost = np.where(self._fits(b, free, g), b.cost, np.inf)
                best = int(np.argmin(cost))
                new = best if np.isfinite(cost.flat[best]) and (c < 0 or cost.flat[best] < b.cost.flat[c] - 1e-9) else c
                if new >= 0:
                    free[new // b.S, b.s0 + new % b.S: b.s0 + new % b.S + b.d] -= g
                changed |= new != c
                choice[k] = new
            if not changed:
                break
        return choice

    def _commit(self, placer: Placer, blocks: list[_Block], choice: np.ndarray, ci: np.ndarray,
                P: np.ndarray) -> tuple[float, int]:
        """Commit the chosen candidates, then repair jobs without one (earliest completion anywhere, maybe
        late; rejected when nothing fits before the horizon). Returns (planned kgCO2e, jobs repaired)."""
        total, repaired = 0.0, []
        for b, c in zip(blocks, choice.tolist()):
            if c < 0:
                repaired.append(b)
                continue
            placer.commit(b.job, c // b.S, b.s0 + c % b.S, b.d)
            total += float(b.cost.flat[c])
        jobs, now = placer.jobs, placer.now
        for b in repaired:
            r, s = placer.earliest_completion(b.job, b.d)
            placer.commit(b.job, r, s, b.d)
            if r >= 0:
                i = b.job
                op = jobs.power_kw[i] * self.dc.pue[r] / 1000.0 * float(P[r, s + b.d - now] - P[r, s - now])
                tr = 0.0 if r == jobs.home[i] else float(
                    self.dc.transfer_carbon_kg(jobs.data_gb[i], ci[jobs.home[i], s - now], ci[r, s - now]))
                total += op + tr
        return float(total), len(repaired)
