"""Renewable-aware cooperative scheduling — the seed's Algorithm 1 (§4.2–4.3, Table 3).

1. Priority ``P_i = 0.35·U_i + 0.40·F_i + 0.25·O_i`` (Table 3 weights), jobs sorted by P descending:

   * urgency ``U_i = min(1, E_i / (d_i − now))`` — the inverse of the seed's printed ratio
     ``(d_i − t_now)/E_i``, which grows with *slack*; inverted so that "urgent" ranks high (a job whose
     remaining window equals its duration has U = 1).
   * flexibility ``F_i = flex_i`` (fraction, = flex % / 100).
   * opportunity ``O_i = (C_max − C_best,i) / C_max``: ``C_best,i`` is the lowest (over regions)
     forecast mean intensity over the job's window [earliest start, deadline); ``C_max`` the highest
     forecast intensity over the planning horizon.

2. For each job, every start ``t ∈ [s_i, d_i − E_i]`` × region ``r`` is a candidate when the region has
   the job's GPUs free for the whole run (sliding minimum of free capacity) and its data can be there
   (transfer hours). Candidate carbon = E_i·P_i·PUE_r·Σ_t C(t, r) + transfer carbon (prefix sums,
   kgCO2e); ``Select_Best_Candidate`` = the lowest carbon (+ an optional ``delay_weight`` kg per hour of
   delay), ties to the earliest start. Within one job the seed's opportunity score of a candidate,
   (C_max − C(t, r))/C_max, orders candidates exactly as operational carbon does, so it adds nothing
   beyond the tie-break.
3. Capacity is updated after each placement. A job with no on-time candidate falls back to the earliest
   completion anywhere (it will be late; the simulator records why).

Suspend/resume (``interruptible=True``, policy name ``cooperative_suspend``): a job may also run on
non-contiguous hours of one region, suspending at a checkpoint in between. Per region, the ``k``
cheapest feasible hours before the deadline are taken, with ``k = E_i + ⌈2 · overhead · (segments − 1)⌉``
(each resume costs a checkpoint write + restore), found by fixed-point iteration from ``k = E_i``; the
cheaper of this and the best contiguous placement (both including transfer carbon) wins.

:class:`RiskAware` is the same search on a pessimistic intensity (an upper forecast quantile, or
mean + λ × half the 90 % interval) with a duration safety margin (plan and reserve
``ceil(E_i × (1 + margin_i))`` hours), falling back to the plain estimate when the margin leaves no
on-time candidate — or, with ``pad_to_fit``, first to the longest padding that still fits between the
job's earliest start and its deadline (``min(padded, deadline − max(now, submit))`` hours). The margin is one fraction for every job (default 0.25), a per-job array indexed by
``Jobs`` row, or a :class:`MarginSource` asked at every plan/adapt call — e.g.
:class:`scheduler.duration.EstimatorMargins`, ``q_level / median − 1`` of a learned duration estimator
that finished jobs keep updating (the simulator's feedback loop).

**The forecast-risk term is off by default** (``lam`` 0, ``policy_options.risk_lambda: 0`` and
``risk_quantile: null``: windows are priced with the mean forecast) because it did not lower realised
carbon (issue 20). Measured with 168 h synthetic forecasts (87 % day-ahead accuracy, bands widening with
the horizon, so windows with close means and different spreads are common), risk term on (``risk_aware``
q0.9, ``chance_constrained`` CVaR_0.9 λ 1) − off, realised carbon, mean ± sd over seeds 0–2 (paired):
chosen on March 2023 — paper_main ``risk_aware`` +0.37 ± 0.31 %, ``chance_constrained`` +0.92 ± 0.64 %;
temporal_only +0.10 ± 0.16 %, +0.28 ± 0.03 % — and checked on September 2023: temporal_only (seeds 0–4)
+0.13 ± 0.21 %, +0.28 ± 0.15 %; paper_main +0.04 ± 0.30 % and, the one exception, ``chance_constrained``
−0.49 ± 0.19 %. Deadline rates were equal within 0.2 pp for ``chance_constrained``; ``risk_aware`` with
the term met 0.2–0.4 pp more deadlines (a far hour's wide band pushes starts earlier) — a deadline lever,
not a carbon one, which its duration margin is for. Single-job decisions isolate the windows whose means
are close and spreads differ (same forecasts, 6 paper_main zones, 30 daily issues, jobs of 2–24 h with 24–144 h
of slack, 3 seeds, 10,800 decisions per month): pricing by mean + (CVaR_0.9 − mean) moved the start in 38 %
(March) / 41 % (September) of them and raised realised carbon by 1.03 % / 0.64 % (3–6 pp of the
perfect-foresight saving at every slack) — with unbiased, calibrated bands the mean is the expected carbon,
and the term only taxes far hours. Real forecast tables (biased, mis-calibrated) were not measured.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from carbonshift.scheduler.cost import cheapest_start, on_time_window_costs, prefix
from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.base import ClusterState, Decisions, Event, JobsView, Placer, table_rows
from carbonshift.scheduler.workloads import Jobs

WEIGHTS: tuple[float, float, float] = (0.35, 0.40, 0.25)   # Table 3: urgency, flexibility, opportunity


@runtime_checkable
class MarginSource(Protocol):
    """Per-job relative duration margins (fractions ≥ 0) for rows ``idx`` of the simulator's ``Jobs``."""

    def margins(self, idx: np.ndarray) -> np.ndarray: ...


Margin = float | np.ndarray | MarginSource


def job_margins(margin: Margin, idx: np.ndarray) -> np.ndarray:
    """Margins of jobs ``idx``: a scalar for all, a per-row array indexed by ``idx``, or a source's answer."""
    if isinstance(margin, MarginSource):
        out = np.asarray(margin.margins(idx), dtype=np.float64)
    elif isinstance(margin, np.ndarray):
        out = margin[idx].astype(np.float64)
    else:
        out = np.full(len(idx), float(margin))
    if out.shape != (len(idx),) or not np.isfinite(out).all() or (out < 0).any():
        raise ValueError(f"duration margins: need {len(idx)} finite values ≥ 0, got shape {out.shape}, "
                         f"min {out.min() if out.size else 'n/a'}")
    return out


def priorities(jobs: Jobs | JobsView, idx: np.ndarray, now: int, P: np.ndarray, ci: np.ndarray,
               earliest: np.ndarray, weights: tuple[float, float, float] = WEIGHTS) -> np.ndarray:
    """Table 3 priority of jobs ``idx`` (vectorised). ``P`` prefix sums of the planning intensity ``ci``
    [R × L] (column 0 = ``now``), ``earliest`` the earliest start hour of each job."""
    L = ci.shape[1]
    est = jobs.est_duration_h[idx]
    dl = jobs.deadline_h[idx]
    u = np.minimum(1.0, est / np.maximum(dl - now, 1))
    a = np.clip(earliest - now, 0, L - 1)
    b = np.clip(dl - now, a + 1, L)
    c_best = np.fmin.reduce((P[:, b] - P[:, a]) / (b - a), axis=0)      # NaN regions ignored
    c_max = np.fmax.reduce(ci, axis=None) if ci.size else np.nan
    o = (c_max - c_best) / c_max if c_max > 0 else np.zeros(len(idx))
    return weights[0] * u + weights[1] * jobs.flex[idx] + weights[2] * o


class Cooperative:
    """Algorithm 1 over the planning intensity ``stat`` of the view (see module docstring)."""

    name = "cooperative"
    clairvoyant = False

    def __init__(self, dc: DataCenters, stat: str | float = "mean", lam: float = 0.0,
                 duration_margin: Margin = 0.0, delay_weight_kg_per_h: float = 0.0,
                 weights: tuple[float, float, float] = WEIGHTS, interruptible: bool = False,
                 name: str | None = None, pad_to_fit: bool = False):
        self.dc, self.stat, self.lam, self.interruptible = dc, stat, lam, interruptible
        self.pad_to_fit = pad_to_fit
        self.margin, self.delay_weight, self.weights = duration_margin, delay_weight_kg_per_h, weights
        if name:
            self.name = name

    def plan(self, jobs: Jobs | JobsView, idx: np.ndarray, now: int, state: ClusterState, view) -> Decisions:
        idx = np.asarray(idx, dtype=np.int64)
        placer = Placer(jobs, now, state, self.dc)
        if len(idx) == 0:
            return placer.decisions()
        ci = view.ci_plan(placer.T, self.stat, self.lam)            # [R × L], column 0 = now
        P = prefix(ci)
        earliest = np.maximum(jobs.submit_h[idx], now)
        pos = np.argsort(-priorities(jobs, idx, now, P, ci, earliest, self.weights), kind="stable")
        est_h = jobs.est_duration_h[idx]
        safe = np.ceil(est_h * (1.0 + job_margins(self.margin, table_rows(jobs, idx))) - 1e-9).astype(np.int64)
        window = np.minimum(jobs.deadline_h[idx], placer.T) - earliest
        fit = np.clip(window, est_h, safe) if self.pad_to_fit else safe
        for i, d_safe, d_fit in zip(idx[pos].tolist(), safe[pos].tolist(), fit[pos].tolist()):
            if not placer.fits_anywhere(i):
                continue
            est = int(jobs.est_duration_h[i])
            for d in dict.fromkeys((d_safe, d_fit, est)):
                r, s, cost = self.best_on_time(placer, i, d, ci, P)
                split = self.best_split(placer, i, d, ci) if self.interruptible else None
                if split is not None and split[2] < cost:
                    placer.commit(i, split[0], 0, 0, hours=split[1])
                    break
                if r >= 0:
                    placer.commit(i, r, s, d)
                    break
            else:
                placer.commit(i, *placer.earliest_completion(i, d_safe), d_safe)
        return placer.decisions()

    def adapt(self, event: Event, jobs: Jobs | JobsView, now: int, state: ClusterState, view) -> Decisions:
        return self.plan(jobs, event.jobs, now, state, view)

    def best_on_time(self, placer: Placer, i: int, d: int, ci: np.ndarray,
                     P: np.ndarray) -> tuple[int, int, float]:
        """Lowest-carbon (region, start, kgCO2e) finishing by the deadline; (−1, −1, inf) if there is none."""
        grid = on_time_window_costs(self.dc, placer.jobs, i, placer.now, placer.earliest(i), placer.free, ci, P, d,
                                    delay_weight=self.delay_weight)
        return (-1, -1, np.inf) if grid is None else cheapest_start(*grid)

    def best_split(self, placer: Placer, i: int, d: int, ci: np.ndarray) -> tuple[int, np.ndarray, float] | None:
        """Cheapest suspend/resume placement (region, sorted hours, kgCO2e) with ≥ 2 segments ending by the
        deadline, or None."""
        jobs, dc, now = placer.jobs, self.dc, placer.now
        a_r = placer.earliest(i)
        s0, s1 = int(a_r.min()), min(int(jobs.deadline_h[i]), placer.T)
        if s1 - s0 <= d:
            return None
        hours = np.arange(s0, s1)
        c = (jobs.power_kw[i] * dc.pue / 1000.0)[:, None] * ci[:, s0 - now:s1 - now]
        ok = (placer.free[:, s0:s1] >= jobs.gpus[i]) & (hours[None, :] >= a_r[:, None]) & np.isfinite(c)
        c = np.where(ok, c, np.inf)
        n_ok = ok.sum(axis=1)
        home, overhead = jobs.home[i], 2.0 * jobs.ckpt_overhead_h[i]
        best = None
        for r in np.flatnonzero(n_ok >= d).tolist():
            k = d
            while k <= n_ok[r]:
                sel = np.sort(np.argpartition(c[r], k - 1)[:k])
                segments = 1 + int((np.diff(sel) > 1).sum())
                need = d + int(np.ceil(overhead * (segments - 1) - 1e-9))
                if need <= k:
                    if segments > 1:
                        rel = sel[0] + s0 - now
                        tr = 0.0 if r == home else float(dc.transfer_carbon_kg(jobs.data_gb[i], ci[home, rel],
                                                                               ci[r, rel]))
                        cost = float(c[r, sel].sum() + tr)
                        if best is None or cost < best[2]:
                            best = (r, hours[sel], cost)
                    break
                k = need
        return best


class RiskAware(Cooperative):
    """Algorithm 1 on a pessimistic intensity with a duration safety margin (see module docstring)."""

    name = "risk_aware"

    def __init__(self, dc: DataCenters, quantile: float | None = None, lam: float = 0.0,
                 duration_margin: Margin = 0.25, delay_weight_kg_per_h: float = 0.0, interruptible: bool = False,
                 name: str | None = None, pad_to_fit: bool = False):
        stat = quantile if quantile is not None else "spread" if lam > 0 else "mean"
        super().__init__(dc, stat=stat, lam=lam,
                         duration_margin=duration_margin, delay_weight_kg_per_h=delay_weight_kg_per_h,
                         interruptible=interruptible, name=name, pad_to_fit=pad_to_fit)
