"""Rolling-horizon optimiser (policy ``rolling_milp``, issue 22): at each daily plan hour one HiGHS MILP places
the queued jobs jointly over regions × start hours on the forecast; between plans the greedy
``chance_constrained`` policy adapts (arrivals, blocked starts, improvement passes after early finishes).
Measured on paper_capacity seed 0: at most 8 jobs were queued at a 12:00 UTC plan (most start within hours of
arriving, placed by the greedy adaptation), and 15 of 22 plans found nothing better than the greedy; running the
same MILP on every adaptation event as well (arrivals, blocked, freed; 1 s each) changed the realised carbon by
+0.06 % (107,775 vs 107,707 kgCO2e) for 6 × the decision time, so it is not done.

Each plan:

1. **Warm start.** The greedy ``chance_constrained`` plan of the same jobs (:class:`ChanceConstrained.plan`): its
   placements, its q``target`` duration reservations and its risk books (each job's forced miss probability).
2. **Model** (built with numpy over jobs × regions × starts at once, no Python loop over them): the jobs the
   greedy placed on time are the MILP's jobs; every other placement (late, rejected) stays and holds its GPUs.
   Binary ``x[j, r, s]`` = job ``j`` starts at hour ``s`` in region ``r``; candidates are the on-time starts
   ``s ∈ [earliest_r, deadline − E_j]`` (``E_j`` the estimated hours; ``earliest_r`` adds the data transfer away
   from home), each reserving ``d = min(D_j, deadline − s)`` hours, ``D_j`` the chance-constrained reservation
   (duration quantile at ``target``), at least ``E_j``. A candidate's score is the greedy's: kgCO2e of the
   ``E_j`` estimated hours under the risk-adjusted forecast intensity (:func:`risk_intensity`) plus the transfer,
   plus ``miss_price_kg × (miss − forced_j)``, ``miss = 1 − P(true ≤ deadline − s)`` from the conformal duration
   quantiles. Per job only the ``candidates_per_job`` best-scoring cells and the greedy's own cell are columns.
   Rows: one assignment per job (``Σ x = 1``); capacity ``Σ gpus · x ≤ free`` for each (region, hour) some job's
   candidates could overfill (a cell no job set can overfill is redundant and left out: exact); and the greedy's
   **risk budget** ``Σ (miss − forced) · x ≤ (1 − target) × placed jobs − the other jobs' budgeted risk`` (at
   least the greedy plan's own use, so the warm start is feasible) — the chance constraint holds on average over
   jobs exactly as in the greedy.
3. **Solve** within what is left of ``time_limit_s`` (HiGHS MIP from the greedy incumbent, ``mip_rel_gap``, presolve
   off: at 1000 queued jobs presolve alone outlasted 10 s). The MILP's best
   integer schedule replaces the greedy one when its score is lower; otherwise the greedy plan stays and the plan
   is counted in ``kept_greedy`` (:meth:`RollingMilp.milp_metrics`), never silently.

Units: intensity gCO2eq/kWh, power kW, carbon kgCO2e, time whole hours, solver time seconds.
"""
from __future__ import annotations

import time

import numpy as np

from carbonshift.scheduler.cost import prefix
from carbonshift.scheduler.policies.base import ClusterState, Decisions, Event, JobsView, table_rows
from carbonshift.scheduler.policies.risk_aware import ChanceConstrained, risk_intensity
from carbonshift.scheduler.workloads import Jobs


#: Shortest HiGHS time limit of a plan, s, when the greedy warm start and the model build used up ``time_limit_s``.
MIN_SOLVE_S = 0.5


class RollingMilp:
    """A rolling-horizon MILP over the queued jobs at every plan hour, greedy ``chance_constrained`` adaptation
    between plans (module docstring). ``greedy``: the warm-start and adaptation policy (its duration margins,
    risk terms and miss price are the MILP's); ``time_limit_s`` (> 0): the decision time of one plan (greedy,
    build and solve together; the solve gets at least :data:`MIN_SOLVE_S`); ``candidates_per_job`` (≥ 1)
    best cells per job besides the greedy's; ``mip_rel_gap`` the HiGHS stopping gap."""

    name = "rolling_milp"
    clairvoyant = False
    replan_on_free = True

    def __init__(self, greedy: ChanceConstrained, time_limit_s: float = 8.0, candidates_per_job: int = 16,
                 mip_rel_gap: float = 1e-3):
        if not time_limit_s > 0 or candidates_per_job < 1 or not mip_rel_gap >= 0:
            raise ValueError(f"rolling_milp: time_limit_s must be > 0 s (got {time_limit_s}), candidates_per_job "
                             f"≥ 1 (got {candidates_per_job}), mip_rel_gap ≥ 0 (got {mip_rel_gap})")
        self.greedy, self.time_limit_s = greedy, float(time_limit_s)
        self.candidates_per_job, self.mip_rel_gap = int(candidates_per_job), float(mip_rel_gap)
        self.log: list[dict[str, float]] = []     # one entry per MILP plan (milp_metrics)

    def adapt(self, event: Event, jobs: Jobs | JobsView, now: int, state: ClusterState, view) -> Decisions:
        """Between plans: the greedy ``chance_constrained`` adaptation (its books include the MILP's placements)."""
        return self.greedy.adapt(event, jobs, now, state, view)

    def plan(self, jobs: Jobs | JobsView, idx: np.ndarray, now: int, state: ClusterState, view) -> Decisions:
        t0 = time.perf_counter()
        idx = np.asarray(idx, dtype=np.int64)
        return self._optimise(jobs, idx, now, state, view, self.greedy.plan(jobs, idx, now, state, view), t0,
                              self.time_limit_s)

    def _optimise(self, jobs: Jobs | JobsView, idx: np.ndarray, now: int, state: ClusterState, view,
                  dec: Decisions, t0: float, limit_s: float) -> Decisions:
        """The MILP over jobs ``idx`` from the greedy decisions ``dec`` (made since ``t0``, perf_counter s), the
        whole decision within ``limit_s`` seconds (the solve at least :data:`MIN_SOLVE_S`)."""
        greedy_s = time.perf_counter() - t0
        pos = {int(j): p for p, j in enumerate(dec.job.tolist())}
        at = np.array([pos[int(i)] for i in idx], dtype=np.int64)           # idx → position in dec
        on_time = (dec.region[at] >= 0) & (dec.start[at] + np.minimum(dec.hours[at], jobs.est_duration_h[idx])
                                           <= jobs.deadline_h[idx]) & ~np.isin(idx, list(dec.slots))
        rows = table_rows(jobs, idx)
        if getattr(self.greedy.margin, "coverage", None) is not None:     # placed through its risk-budget search
            on_time &= np.array([int(r) in self.greedy.forced for r in rows.tolist()], dtype=bool)
        sel = np.flatnonzero(on_time)
        if len(sel) < 2:
            return dec
        model = self._model(jobs, idx[sel], rows[sel], at[sel], dec, now, state, view)
        built_s = time.perf_counter() - t0 - greedy_s
        choice, info = self._solve(model, max(limit_s - (time.perf_counter() - t0), MIN_SOLVE_S))
        if choice is not None:
            self._apply(dec, model, choice)
        info.update({"jobs": float(len(sel)), "columns": float(len(model["cost"])),
                     "capacity_rows": float(model["n_cap"]), "greedy_s": greedy_s, "build_s": built_s,
                     "plan_s": time.perf_counter() - t0})
        self.log.append(info)
        return dec

    # -- model ---------------------------------------------------------------------------------------------------
    def _model(self, jobs, ii: np.ndarray, rows: np.ndarray, at: np.ndarray, dec: Decisions, now: int,
               state: ClusterState, view) -> dict:
        """Columns, rows and the greedy warm start of the plan's MILP over jobs ``ii`` (vectorised)."""
        g = self.greedy
        dc = g.dc
        R, T = state.reserved.shape
        free = state.free()
        placed = (dec.region >= 0) & ~np.isin(np.arange(len(dec.job)), at)   # placements the MILP keeps
        for p in np.flatnonzero(placed).tolist():                             # the few late / non-MILP ones
            j = int(dec.job[p])
            hours = dec.slots.get(j, np.arange(dec.start[p], dec.start[p] + dec.hours[p]))
            free[dec.region[p], hours] -= jobs.gpus[j]
        ci = risk_intensity(view, T, g.carbon_risk, g.alpha, g.lam)            # [R × L], column 0 = now
        L = ci.shape[1]
        P = prefix(ci)
        J = len(ii)
        E = jobs.est_duration_h[ii].astype(np.int64)
        D = np.maximum(g.reserved_hours(jobs, ii), E)
        dl = np.minimum(jobs.deadline_h[ii], now + L).astype(np.int64)
        transfer = dc.transfer_hours(jobs.data_gb[ii])
        home = jobs.home[ii]
        away = np.arange(R)[None, :] != home[:, None]
        a = np.maximum(jobs.submit_h[ii], now)[:, None] + transfer[:, None] * away   # [J × R] earliest start
        s0 = a.min(axis=1)
        last = dl - E                                                                 # latest on-time start
        S = int(max((last - s0).max() + 1, 1))
        s = s0[:, None] + np.arange(S)[None, :]                                       # [J × S] absolute starts
        ok_s = s <= last[:, None]
        rel = np.clip(s - now, 0, L - 1)
        rel_end = np.clip(s - now + E[:, None], 0, L)
        kwh = (jobs.gpus[ii] * jobs.gpu_kw[ii])[:, None] * dc.pue[None, :] / 1000.0   # [J × R] kg per g/kWh·h
        op = kwh[:, :, None] * (P[:, rel_end] - P[:, rel]).transpose(1, 0, 2)       # [J × R × S] kgCO2e
        ci_home = ci[home[:, None], rel]                                              # [J × S]
        tr = dc.transfer_carbon_kg(jobs.data_gb[ii][:, None, None], ci_home[:, None, :],
                                   ci[:, rel].transpose(1, 0, 2))
        tr = np.where(away[:, :, None], tr, 0.0)
        ok = ok_s[:, None, :] & (s[:, None, :] >= a[:, :, None]) & (jobs.gpus[ii] <= dc.gpus.max())[:, None, None]
        ok &= jobs.gpus[ii][:, None, None] <= state.capacity[None, :, None]
        cost = op + tr
        if g.delay_weight:
            cost = cost + g.delay_weight * (s - s0[:, None])[:, None, :]
        coverage = getattr(g.margin, "coverage", None)
        forced = np.array([g.forced[int(r)] for r in rows.tolist()]) if coverage is not None else np.zeros(J)
        if coverage is None:
            extra = np.zeros((J, S))
        else:
            hours = np.maximum(jobs.deadline_h[ii][:, None] - s, 0)
            miss = 1.0 - coverage(np.repeat(rows, S), hours.ravel()).reshape(J, S)
            extra = miss - forced[:, None]
        score = np.where(ok & np.isfinite(cost), cost + g.miss_price_kg * extra[:, None, :], np.inf)
        # the best candidates_per_job cells of each job (flattened region × start)
        flat = score.reshape(J, R * S)
        K = min(self.candidates_per_job, R * S)
        top = np.argpartition(flat, K - 1, axis=1)[:, :K]
        keep = np.isfinite(np.take_along_axis(flat, top, axis=1))
        job_c = np.repeat(np.arange(J), K)[keep.ravel()]
        cell = top.ravel()[keep.ravel()]
        r_c, s_c = cell // S, s0[job_c] + cell % S
        d_c = np.minimum(D[job_c], dl[job_c] - s_c)
        # the greedy's own placement: one more column per job, with its exact reservation
        gr, gs, gd = dec.region[at], dec.start[at], dec.hours[at]
        gk = np.clip(gs - s0, 0, S - 1)
        g_score = np.where((gs - s0 >= 0) & (gs - s0 < S), score[np.arange(J), gr, gk], np.inf)
        if not np.isfinite(g_score).all():           # the greedy cell is always a candidate of the grid
            bad = int(np.flatnonzero(~np.isfinite(g_score))[0])
            raise RuntimeError(f"rolling_milp: greedy placement of job row {rows[bad]} (region {gr[bad]}, start "
                               f"{gs[bad]}) is not an on-time candidate")
        job_c = np.concatenate([job_c, np.arange(J)])
        r_c, s_c, d_c = np.concatenate([r_c, gr]), np.concatenate([s_c, gs]), np.concatenate([d_c, gd])
        cost_c = np.concatenate([flat[np.repeat(np.arange(J), K)[keep.ravel()], cell], g_score])
        extra_c = np.concatenate([extra[np.repeat(np.arange(J), K)[keep.ravel()], cell % S], extra[np.arange(J), gk]])
        warm = np.zeros(len(cost_c))
        warm[len(cost_c) - J:] = 1.0
        # capacity: column c covers cells r_c × [s_c, s_c + d_c) (absolute hours; < T since d_c ≤ deadline − s)
        n = len(cost_c)
        cover_col = np.repeat(np.arange(n), d_c)
        cover_cell = r_c[cover_col] * T + s_c[cover_col] + (np.arange(d_c.sum()) - np.repeat(np.cumsum(d_c) - d_c, d_c))
        pairs = np.unique(job_c[cover_col] * (R * T) + cover_cell)        # (job, cell) covered by some candidate
        worst = np.bincount(pairs % (R * T), weights=jobs.gpus[ii][pairs // (R * T)], minlength=R * T)
        binding = np.flatnonzero((worst > free.ravel()) & (worst > 0))    # cells some set of jobs can overfill
        row_of = np.full(R * T, -1, dtype=np.int64)
        row_of[binding] = np.arange(len(binding))
        use = row_of[cover_cell] >= 0
        return {"cost": cost_c, "extra": extra_c, "job": job_c, "region": r_c, "start": s_c, "hours": d_c,
                "warm": warm, "J": J, "ii": ii, "rows": rows, "at": at, "forced": forced,
                "cap_row": row_of[cover_cell[use]], "cap_col": cover_col[use],
                "cap_val": jobs.gpus[ii][job_c[cover_col[use]]].astype(float),
                "cap_rhs": free.ravel()[binding].astype(float), "n_cap": len(binding),
                "budget": self._budget(rows, extra_c[len(cost_c) - J:]), "E": E}

    def _budget(self, rows: np.ndarray, greedy_extra: np.ndarray) -> float:
        """Right-hand side of the risk budget row: the greedy's allowance minus the budgeted risk of the jobs
        outside the MILP, never below what the greedy plan itself uses (so the warm start is feasible)."""
        g = self.greedy
        if getattr(g.margin, "coverage", None) is None:
            return np.inf
        inside = sum(g.extra.get(int(r), 0.0) for r in rows.tolist())
        allowed = (1.0 - g.deadline_target) * len(g.extra) - (g.extra_sum - inside)
        return float(max(allowed, greedy_extra.sum())) + 1e-9

    # -- solve ---------------------------------------------------------------------------------------------------
    def _solve(self, m: dict, limit_s: float) -> tuple[np.ndarray | None, dict[str, float]]:
        """The MILP's choice (column per job) when better than the greedy, and the solver figures; HiGHS gets
        ``limit_s`` seconds."""
        import highspy
        from scipy.sparse import csr_matrix

        n, J = len(m["cost"]), m["J"]
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("mip_rel_gap", self.mip_rel_gap)
        h.setOptionValue("time_limit", float(limit_s))
        h.setOptionValue("threads", 1)
        h.setOptionValue("presolve", "off")   # measured: presolve alone outlasts 10 s at 1000 queued jobs
        h.addCols(n, m["cost"], np.zeros(n), np.ones(n), 0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        order = np.argsort(m["job"], kind="stable")
        starts = np.searchsorted(m["job"][order], np.arange(J)).astype(np.int32)
        one = np.ones(J)
        h.addRows(J, one, one, n, starts, order.astype(np.int32), np.ones(n))
        if m["n_cap"]:
            A = csr_matrix((m["cap_val"], (m["cap_row"], m["cap_col"])), shape=(m["n_cap"], n))
            h.addRows(m["n_cap"], np.full(m["n_cap"], -np.inf), m["cap_rhs"], A.nnz,
                      A.indptr[:-1].astype(np.int32), A.indices.astype(np.int32), A.data)
        if np.isfinite(m["budget"]):
            nz = np.flatnonzero(m["extra"] != 0)
            h.addRows(1, np.array([-np.inf]), np.array([m["budget"]]), len(nz), np.array([0], np.int32),
                      nz.astype(np.int32), m["extra"][nz])
        h.changeColsIntegrality(n, np.arange(n, dtype=np.int32),
                                np.full(n, highspy.HighsVarType.kInteger.value, dtype=np.uint8))
        start = highspy.HighsSolution()
        start.col_value = m["warm"].tolist()
        start.value_valid = True
        h.setSolution(start)
        t0 = time.perf_counter()
        h.run()
        solve_s = time.perf_counter() - t0
        info = h.getInfo()
        warm_kg = float(m["cost"] @ m["warm"])
        out = {"solve_s": solve_s, "greedy_score": warm_kg, "kept_greedy": 1.0, "gap_pct": float("nan"),
               "score": warm_kg, "time_limit_hit": float(h.getModelStatus() == highspy.HighsModelStatus.kTimeLimit)}
        if info.primal_solution_status != 2:
            return None, out
        x = np.asarray(h.getSolution().col_value)
        obj = float(info.objective_function_value)
        out["gap_pct"] = float(info.mip_gap * 100.0) if np.isfinite(info.mip_gap) else float("nan")
        if obj >= warm_kg - 1e-9:
            return None, out
        chosen = np.flatnonzero(x > 0.5)
        if len(chosen) != J or len(np.unique(m["job"][chosen])) != J:
            raise RuntimeError(f"rolling_milp: HiGHS solution places {len(chosen)} columns for {J} jobs")
        out.update({"kept_greedy": 0.0, "score": obj})
        return chosen[np.argsort(m["job"][chosen])], out

    def _apply(self, dec: Decisions, m: dict, chosen: np.ndarray) -> None:
        """Write the chosen columns into ``dec`` and the greedy's books (placements, risk, budgeted extra)."""
        g = self.greedy
        at = m["at"]
        dec.region[at], dec.start[at], dec.hours[at] = m["region"][chosen], m["start"][chosen], m["hours"][chosen]
        for k, (row, p) in enumerate(zip(m["rows"].tolist(), at.tolist())):
            j = int(dec.job[p])
            dec.priced[j] = int(min(m["E"][k], dec.hours[p]))
            g.placed[row] = (int(dec.region[p]), int(dec.start[p]), int(dec.hours[p]))
            extra = float(m["extra"][chosen[k]])
            if row in g.forced:                     # risk books exist only with a coverage margin source
                g.extra_sum += extra - g.extra.get(row, 0.0)
                g.extra[row], g.risk[row] = extra, extra + float(m["forced"][k])

    def milp_metrics(self) -> dict[str, float]:
        """Figures over the run's MILP solves (daily plans and adaptations with ≥ 2 on-time jobs): ``milp.plans``
        (count), ``milp.kept_greedy`` (plans whose MILP found nothing
        better than the greedy warm start), ``milp.time_limit_hit`` (plans stopped by the time limit),
        ``milp.jobs_max`` / ``milp.columns_max`` / ``milp.capacity_rows_max`` (largest model), ``milp.plan_s_mean``
        / ``_max`` (s, greedy + build + solve), ``milp.build_s_max`` (s), ``milp.score_gain_pct`` (Σ greedy score −
        Σ MILP score over Σ greedy score, %, on the forecast)."""
        if not self.log:
            return {"milp.plans": 0.0}
        col = lambda k: np.array([e[k] for e in self.log])  # noqa: E731
        greedy = col("greedy_score").sum()
        return {"milp.plans": float(len(self.log)), "milp.kept_greedy": float(col("kept_greedy").sum()),
                "milp.time_limit_hit": float(col("time_limit_hit").sum()), "milp.jobs_max": float(col("jobs").max()),
                "milp.columns_max": float(col("columns").max()), "milp.capacity_rows_max": float(col("capacity_rows").max()),
                "milp.plan_s_mean": float(col("plan_s").mean()), "milp.plan_s_max": float(col("plan_s").max()),
                "milp.build_s_max": float(col("build_s").max()),
                "milp.score_gain_pct": float((greedy - col("score").sum()) / abs(greedy) * 100.0) if greedy else 0.0}
