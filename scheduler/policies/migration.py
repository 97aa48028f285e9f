"""Follow-the-renewables migration of running interruptible jobs (seed 001), as a self-contained,
hour-stepped model vectorised over jobs × regions.

Every job starts at its submit hour in its home region (no temporal shifting; capacity is assumed ample, as
in the seed's trace-driven evaluation) and runs until its true ``duration_h`` of compute is done. At each
decision hour (every ``decide_every_h`` hours; training jobs in the workload checkpoint at least hourly, so
an hour boundary is reachable at a checkpoint) a policy may move the job's migratable part to another region:

* ``none`` — never migrate;
* ``energy`` — purely energy-driven: migrate whenever another region's forecast mean intensity over the next
  ``lookahead_h`` hours is lower than the current region's;
* ``feasible`` — feasibility-aware (:mod:`scheduler.feasibility`): migrate to the cleanest forecast region only
  when the move is *time-feasible* (transfer + restore + checkpoint overhead ≤ ``max_move_share`` of the
  window, window = min(lookahead, remaining compute)) and *pays off* (forecast emissions saved over the window
  ≥ forecast emissions of the move: network energy + idle power during the move).

A move costs ``move_h`` hours without compute (the job idles at ``idle_fraction`` of its power) and
``size_gb × network_kwh_per_gb`` of network energy, charged at the mean intensity (and renewable share) of
source and destination in the move hour (the ``scheduler.datacenters`` convention). Partially migratable jobs:
``stay_fraction`` of each job's power (and checkpoint) must stay at home; only the rest moves, and the whole
synchronous job pauses during a move.

Units: energy kWh, carbon kgCO2e, intensity gCO2eq/kWh, time hours (UTC hour steps). This hour-loop model
assumes ample capacity; :class:`FeasibleMigration` is the same feasibility rule as a simulator policy
(``feasible_migration``): moves happen at checkpoint boundaries through ``Decisions.moves``, the simulator
charges the transfer pause and carbon and enforces destination capacity, so it is compared with cooperative
and risk-aware on the same instances.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carbonshift.forecast.bounds import MAX_SPAN_H, bounded
from carbonshift.forecast.data.schema import MAX_HORIZON_H
from carbonshift.scheduler.cost import prefix
from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.feasibility import MoveTiming, move_hours
from carbonshift.scheduler.policies.base import ClusterState, Decisions, Event, JobsView
from carbonshift.scheduler.policies.cooperative import Cooperative
from carbonshift.scheduler.signals import CarbonSignal, ForecastSignal
from carbonshift.scheduler.workloads import Jobs

POLICIES = ("none", "energy", "feasible")
#: Checkpoint size per GPU of a training job, GB (model + optimizer state; our assumption) — the migration
#: model's default and the size the simulator ships on a move (:func:`move_size_gb`).
CKPT_GB_PER_GPU = 5.0


def move_size_gb(gpus: np.ndarray, data_gb: np.ndarray, home: np.ndarray, dest: np.ndarray | int,
                 ckpt_gb_per_gpu: float = CKPT_GB_PER_GPU) -> np.ndarray:
    """GB shipped when a running job moves to region ``dest``: its checkpoint (``ckpt_gb_per_gpu`` × GPUs)
    plus its data set (``data_gb``) unless ``dest`` is the job's home, where the data lives (broadcasts)."""
    return ckpt_gb_per_gpu * np.asarray(gpus) + np.where(np.asarray(dest) == np.asarray(home), 0.0,
                                                         np.asarray(data_gb, dtype=float))


@dataclass(frozen=True)
class MigrationOptions(MoveTiming):
    """Knobs of the migration model: the move's timing (:class:`scheduler.feasibility.MoveTiming`:
    ``link_efficiency``, ``restore_gb_per_s``, ``startup_h``, ``max_move_share`` — the feasible policy's time
    rule) and

    ckpt_gb_per_gpu: checkpoint size per GPU of the job, GB (model + optimizer state; our assumption; ≤ 10,000).
    include_data: also move the job's dataset (``Jobs.data_gb``) with the checkpoint.
    lookahead_h: forecast window over which regions are compared, hours (≤ the longest forecast horizon,
    :data:`forecast.data.schema.MAX_HORIZON_H`: the window is a [hours × lookahead × regions] array).
    decide_every_h: hours between migration decisions (checkpoint boundaries).
    idle_fraction: share of the job's power drawn while it moves, (0–1].
    stay_fraction: share of each job that must stay at home (0 = fully migratable).
    migratable_share: share of jobs (random, seeded) that are interruptible/migratable at all.
    """

    ckpt_gb_per_gpu: float = bounded(CKPT_GB_PER_GPU, le=10_000)
    include_data: bool = False
    lookahead_h: int = bounded(12, le=MAX_HORIZON_H)
    decide_every_h: int = bounded(1, le=MAX_SPAN_H)
    idle_fraction: float = 0.3
    stay_fraction: float = 0.0
    migratable_share: float = 1.0

    def in_range(self) -> dict[str, bool]:
        return {**super().in_range(), "ckpt_gb_per_gpu": self.ckpt_gb_per_gpu >= 0,
                "lookahead_h": self.lookahead_h >= 1, "decide_every_h": self.decide_every_h >= 1,
                "idle_fraction": 0 <= self.idle_fraction <= 1,
                "stay_fraction": 0 <= self.stay_fraction < 1, "migratable_share": 0 <= self.migratable_share <= 1}


@dataclass
class MigrationOutcome:
    """Per-job results of one policy run (arrays over jobs) plus totals."""

    policy: str
    completion_h: np.ndarray      # finish − submit, hours (NaN if unfinished at the horizon)
    stretch: np.ndarray           # completion_h / duration_h
    migrations: np.ndarray        # moves per job
    energy_kwh: float             # compute + idle + network, kWh (PUE applied to compute/idle)
    nonrenewable_kwh: float       # energy × (1 − renewable share), kWh
    carbon_kg: float              # kgCO2e incl. transfers
    transfer_kg: float            # kgCO2e of network transfers
    transfer_gb: float

    def metrics(self) -> dict[str, float]:
        done = np.isfinite(self.completion_h)
        return {
            "nonrenewable_kwh": self.nonrenewable_kwh, "energy_kwh": self.energy_kwh,
            "carbon_kg": self.carbon_kg, "transfer_kg": self.transfer_kg, "transfer_gb": self.transfer_gb,
            "completion_mean_h": float(np.mean(self.completion_h[done])),
            "completion_var_h2": float(np.var(self.completion_h[done])),
            "stretch_mean": float(np.mean(self.stretch[done])), "stretch_std": float(np.std(self.stretch[done])),
            "migrations": float(self.migrations.sum()), "unfinished": float((~done).sum()),
        }


def window_forecast(forecast: ForecastSignal, n_hours: int, lookahead_h: int) -> np.ndarray:
    """[T × R] mean forecast intensity over hours t … t+lookahead−1 from the latest issue ≤ t, gCO2eq/kWh."""
    t = np.arange(n_hours)
    i = np.searchsorted(forecast.issue_h, t, side="right") - 1
    if (i < 0).any():
        raise ValueError(f"window_forecast: no forecast issued at or before hour {int(t[i < 0][0])}")
    h = forecast.mean.shape[2]
    k = np.minimum((t - forecast.issue_h[i])[:, None] + np.arange(lookahead_h)[None, :], h - 1)  # [T × L]
    vals = forecast.mean[i[:, None], :, k]                                                      # [T × L × R]
    out = np.nanmean(vals, axis=1)
    if not np.isfinite(out).all():
        raise ValueError("window_forecast: forecast has no values for some hour/region")
    return out


def simulate_migration(jobs: Jobs, carbon: CarbonSignal, forecast: ForecastSignal, dcs: DataCenters,
                       policy: str, options: MigrationOptions = MigrationOptions(), seed: int = 0
                       ) -> MigrationOutcome:
    """Run one policy hour by hour (loop over hours only; jobs × regions vectorised)."""
    if policy not in POLICIES:
        raise ValueError(f"migration policy: expected one of {POLICIES}, got {policy!r}")
    n, r, big_t = len(jobs), len(carbon.regions), carbon.n_hours
    o = options
    fc = window_forecast(forecast, big_t, o.lookahead_h)                        # [T × R]
    rng = np.random.default_rng(seed)
    can_move = rng.random(n) < o.migratable_share
    mig = 1.0 - o.stay_fraction
    it_kw = jobs.power_kw.astype(float)
    size_gb = (o.ckpt_gb_per_gpu * jobs.gpus + (jobs.data_gb if o.include_data else 0.0)) * mig
    move_h = move_hours(size_gb, dcs.wan_gbps, o) + jobs.ckpt_overhead_h               # [N]
    home = jobs.home.astype(np.int64)
    where = home.copy()
    remaining = jobs.duration_h.astype(float)
    debt = np.zeros(n)
    finish = np.full(n, np.nan)
    moves = np.zeros(n, dtype=np.int64)
    energy = nonren = carbon_kg = transfer_kg = transfer_gb = 0.0
    nonren_share = 1.0 - carbon.renewable_pct / 100.0                                  # [R × T]
    rows = np.arange(n)
    for t in range(big_t):
        active = (jobs.submit_h <= t) & (remaining > 0)
        if not active.any():
            if (jobs.submit_h > t).any():
                continue
            break
        decide = active & can_move & (debt == 0) & ((t - jobs.submit_h) % o.decide_every_h == 0)
        if policy != "none" and decide.any():
            cur = fc[t, where]                                                         # [N]
            dest = np.full(n, int(np.argmin(fc[t])))
            gain = cur - fc[t, dest]                                                   # gCO2eq/kWh ≥ 0
            want = decide & (dest != where) & (gain > 0)
            if policy == "feasible":
                window = np.minimum(o.lookahead_h, remaining)
                p_mig = it_kw * mig * dcs.pue[dest]
                saved_kg = p_mig * np.maximum(window - move_h, 0) * gain / 1000.0
                idle_kwh = it_kw * dcs.pue[where] * o.idle_fraction * move_h
                cost_kg = (dcs.transfer_carbon_kg(size_gb, cur, fc[t, dest])      # network, forecast intensity
                           + idle_kwh * 0.5 * (cur + fc[t, dest]) / 1000.0)     # idle power during the move
                want &= (move_h <= o.max_move_share * window) & (saved_kg >= cost_kg)
            if want.any():
                src, dst = where[want], dest[want]
                gb = size_gb[want]
                net_kwh = dcs.transfer_kwh(gb)
                nr_mid = 0.5 * (nonren_share[src, t] + nonren_share[dst, t])
                kg = float(dcs.transfer_carbon_kg(gb, carbon.ci[src, t], carbon.ci[dst, t]).sum())
                energy += float(net_kwh.sum())
                nonren += float((net_kwh * nr_mid).sum())
                carbon_kg += kg
                transfer_kg += kg
                transfer_gb += float(gb.sum())
                where[want] = dst
                debt[want] = move_h[want]
                moves[want] += 1
        progress = np.where(active, np.clip(1.0 - debt, 0.0, 1.0), 0.0)
        progress = np.minimum(progress, np.where(active, remaining, 0.0))
        idle = np.where(active, np.minimum(debt, 1.0), 0.0)
        debt = np.maximum(debt - 1.0, 0.0)
        # power split: the migratable part runs where it is, the staying part at home
        share_r = np.zeros((n, r))
        np.add.at(share_r, (rows, where), mig)
        np.add.at(share_r, (rows, home), o.stay_fraction)
        frac = progress + idle * o.idle_fraction                                         # [N], hours of full power
        kwh_r = (it_kw * frac)[:, None] * share_r * dcs.pue[None, :]                     # [N × R]
        kwh_reg = kwh_r.sum(axis=0)                                                     # [R]
        energy += float(kwh_reg.sum())
        nonren += float((kwh_reg * nonren_share[:, t]).sum())
        carbon_kg += float((kwh_reg * carbon.ci[:, t]).sum() / 1000.0)
        ending = active & (remaining - progress <= 1e-12) & (progress > 0)
        finish[ending] = t + idle[ending] + progress[ending]          # move hours come before compute
        remaining = np.where(active, remaining - progress, remaining)
    completion = finish - jobs.submit_h
    return MigrationOutcome(policy, completion, completion / jobs.duration_h, moves, energy, nonren, carbon_kg,
                            transfer_kg, transfer_gb)


class FeasibleMigration(Cooperative):
    """Feasibility-aware migration inside the simulator (seed 001): plans and re-places exactly like
    :class:`~scheduler.policies.cooperative.Cooperative`, and at every ``tick`` (running jobs at a checkpoint
    boundary) moves a job when, on the view's forecast mean,

    * it **pays off**: forecast kgCO2e of the rest of the run at the destination (after the transfer pause,
      including the work lost back to the checkpoint and one restore overhead) + the transfer's carbon
      (``transfer_carbon_kg`` at now's forecast of both ends) + ``delay_weight_kg_per_h`` × pause hours is
      below the forecast kgCO2e of finishing where it is;
    * it is **time-feasible**: pause + restore + lost work ≤ ``max_move_share`` × the estimated remaining
      run (``est_duration_h`` − compute hours done; jobs past their estimate are never moved);
    * the deadline still holds for the estimated remaining duration, and the destination has the job's GPUs
      free (reserved capacity) for the pause plus the remaining hours;
    * waiting is not forecast to be cheaper: no single move made at a later hour (:meth:`deferred_kg`) costs
      less than moving now.

    Jobs are taken by descending saving, each to its best admissible region (private copy of free
    capacity). Only the views are read: no true durations. Sizes and pauses follow the simulator's rule
    (:func:`move_size_gb`, ``DataCenters.transfer_hours``)."""

    name = "feasible_migration"
    wants_ticks = True

    def __init__(self, dc: DataCenters, max_move_share: float = MoveTiming.max_move_share,
                 delay_weight_kg_per_h: float = 0.0, name: str | None = None):
        if not 0 < max_move_share <= 1:
            raise ValueError(f"FeasibleMigration.max_move_share: expected (0, 1], got {max_move_share}")
        super().__init__(dc, delay_weight_kg_per_h=delay_weight_kg_per_h, name=name)
        self.max_move_share = max_move_share

    def adapt(self, event: Event, jobs: Jobs | JobsView, now: int, state: ClusterState, view) -> Decisions:
        if event.kind != "tick":
            return super().adapt(event, jobs, now, state, view)
        return self.migrate(event, jobs, now, state, view)

    def migrate(self, event: Event, jobs: Jobs | JobsView, now: int, state: ClusterState, view) -> Decisions:
        """Moves of the tick's jobs (class docstring); vectorised over jobs × regions, then one pass over
        the candidate jobs to respect capacity."""
        dec = Decisions.empty()
        free = state.free()
        T, R = free.shape[1], self.dc.n
        ci = view.ci_plan(T, self.stat, self.lam)                                   # [R × L], column 0 = now
        L = ci.shape[1]
        P = prefix(ci)
        idx, src = np.asarray(event.jobs, np.int64), np.asarray(event.region, np.int64)
        ran = np.maximum(np.asarray(event.ran_h, float), 0.0)
        est = jobs.est_duration_h[idx].astype(float)
        ck = jobs.ckpt_interval_h[idx]
        kept = np.floor(ran / ck + 1e-9) * ck                                       # progress after rollback
        left = est - ran                                                            # estimated remaining, h
        stay_k = np.clip(np.ceil(left - 1e-9), 0, L).astype(np.int64)
        move_k = np.ceil(est - kept + jobs.ckpt_overhead_h[idx] - 1e-9).astype(np.int64)
        regions = np.arange(R)[None, :]
        size = move_size_gb(jobs.gpus[idx][:, None], jobs.data_gb[idx][:, None], jobs.home[idx][:, None], regions)
        delay = self.dc.transfer_hours(size)                                        # [J × R] whole hours
        end = delay + move_k[:, None]                                               # relative to now
        kw = jobs.power_kw[idx][:, None] * self.dc.pue[None, :] / 1000.0   # kg per (gCO2eq/kWh × h) [J × R]
        rows = np.arange(len(idx))
        stay_kg = kw[rows, src] * (P[src, stay_k] - P[src, 0])
        a, b = np.minimum(delay, L), np.minimum(end, L)
        move_kg = (kw * (P[regions, b] - P[regions, a])
                   + self.dc.transfer_carbon_kg(size, ci[src, 0][:, None], ci[:, 0][None, :])
                   + self.delay_weight * delay)
        pause = delay + jobs.ckpt_overhead_h[idx][:, None] + (ran - kept)[:, None]
        ok = ((regions != src[:, None]) & (left[:, None] > 0) & (end <= L) & (not self.dc.residency)
              & (now + end <= jobs.deadline_h[idx][:, None])
              & (pause <= self.max_move_share * left[:, None]))
        later = self.deferred_kg(jobs, idx, src, left, size, delay, kw, ci, P, now)
        gain = np.where(ok & (move_kg <= later[:, None]), stay_kg[:, None] - move_kg, -np.inf)
        gain[~np.isfinite(gain)] = -np.inf
        best = gain.max(axis=1) if len(idx) else gain[:, 0]
        for j in np.flatnonzero(best > 0)[np.argsort(-best[best > 0], kind="stable")].tolist():
            for r in np.argsort(-gain[j], kind="stable").tolist():
                if gain[j, r] <= 0:
                    break
                window = free[r, now:now + int(end[j, r])]
                if (window >= jobs.gpus[idx[j]]).all():
                    window -= jobs.gpus[idx[j]]
                    dec.moves[int(idx[j])] = (r, now, int(move_k[j]))
                    break
        return dec

    def deferred_kg(self, jobs: Jobs | JobsView, idx: np.ndarray, src: np.ndarray, left: np.ndarray,
                    size: np.ndarray, delay: np.ndarray, kw: np.ndarray, ci: np.ndarray, P: np.ndarray,
                    now: int) -> np.ndarray:
        """Forecast kgCO2e [J] of the cheapest admissible single move made ``h ≥ 1`` hours later instead
        (run at the source until then, pause, finish at the destination; feasibility and deadline as for a
        move now, capacity not checked), +inf if none — a move now must not be beaten by waiting for a
        cleaner hand-over hour. Assumes a checkpoint at the later hour (jobs checkpoint at least hourly in the
        seed's workload; a later boundary only delays the alternative). Vectorised over jobs × hours × regions."""
        R, L = ci.shape
        H = int(np.clip(np.max(jobs.deadline_h[idx] - now, initial=0), 0, L - 1))
        if H < 1:
            return np.full(len(idx), np.inf)
        hs = np.arange(1, H + 1)
        rem = left[:, None] - hs[None, :]                                            # [J × H] est. hours left
        k = np.ceil(rem + jobs.ckpt_overhead_h[idx][:, None] - 1e-9).astype(np.int64)
        begin = hs[None, :, None] + delay[:, None, :]                                # [J × H × R]
        end = begin + k[:, :, None]
        regions = np.arange(R)[None, None, :]
        ok = ((rem > 0)[:, :, None] & (regions != src[:, None, None]) & (not self.dc.residency)
              & (end <= np.minimum(jobs.deadline_h[idx] - now, L)[:, None, None])
              & ((delay + jobs.ckpt_overhead_h[idx][:, None])[:, None, :]
                 <= self.max_move_share * rem[:, :, None]))
        stay = kw[np.arange(len(idx)), src][:, None] * (P[src[:, None], hs[None, :]] - P[src, 0][:, None])
        run = kw[:, None, :] * (P[regions, np.minimum(end, L)] - P[regions, np.minimum(begin, L)])
        tr = self.dc.transfer_carbon_kg(size[:, None, :], ci[src[:, None], hs[None, :]][:, :, None],
                                        ci[:, hs].T[None, :, :])
        cost = np.where(ok, stay[:, :, None] + run + tr + self.delay_weight * delay[:, None, :], np.inf)
        cost[~np.isfinite(cost)] = np.inf
        return cost.reshape(len(idx), -1).min(axis=1)
