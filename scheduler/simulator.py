"""Hour-by-hour execution of a policy's decisions against the *actual* carbon intensity.

Each hour ``t`` (UTC hour start ``carbon.times[t]``):

1. day-ahead planning — at the configured UTC hour, every queued (arrived, not started) job's reservation
   is released and the policy re-plans them all with the latest forecast (``PolicyView``);
   (Otherwise, only for a policy with ``replan_on_free = True``: when a job finished last hour before its
   reservation ended, the queued jobs whose planned start is at least their data transfer away — so the
   same placement is still allowed — are released and handed to ``policy.adapt(Event("freed"))``, timed
   as an adaptation. Other policies never see it.)
2. real-time adaptation — jobs arriving this hour go to ``policy.adapt(Event("arrival"))``;
3. starts — planned jobs whose start is ``t`` start if their region physically has the GPUs free (a job
   that overran its reservation keeps its GPUs); otherwise ``adapt(Event("blocked"))`` re-places them
   from ``t + 1``; a remote start charges the data-transfer carbon;
4. execution — every running job draws GPUs × kW × PUE kWh this hour at that hour's intensity; with
   probability ``failure_rate_per_h`` per running job-hour it fails and rolls back to its last checkpoint
   (progress floored to a multiple of the checkpoint interval) and pays one restore overhead;
   a job is done when its progress reaches its true duration.

Suspend/resume: a placement may be a set of hours (``Decisions.slots``); the job runs in those hours
only, is suspended in between at a checkpoint and, on every resume, loses two checkpoint overheads of
progress (write at suspension + restore) — the overhead is charged as extra running hours.

Admission: a job that ran the previous hour keeps its GPUs; a start or resume needs the GPUs free in that
hour (a job whose start cannot happen is re-placed by ``adapt``; a suspended job that cannot resume waits).
Reservations: the policy reserves its assumed hours; a started job past its reserved hours (it ran
longer, or could not resume) reserves the next hour, one that ends early releases the rest. Every decision is checked against free capacity
before it is applied (a violation is a policy bug and raises :class:`PolicyError`).

Migration (``Decisions.moves[job] = (dest, at_hour, hours)``): a policy with ``wants_ticks = True`` is asked
``adapt(Event("tick"))`` every hour in which running jobs (that ran the previous hour) are at a checkpoint
boundary — a periodic checkpoint was written during their last compute hour (``progress mod
ckpt_interval_h < 1 h``; every hour for jobs that checkpoint at least hourly); other policies never see a
tick. A move applies at the decision hour ``at_hour`` (which must be that hour and a boundary of the job):
the job rolls back to that checkpoint, its source reservations from now on are released, and it pauses for
``transfer_hours(size)`` whole hours (``size`` = :func:`scheduler.policies.migration.move_size_gb`:
checkpoint + data set unless the destination is home) while the destination's GPUs are reserved for the
pause plus ``hours`` compute hours; it then resumes there like a suspended job (GPUs must be free; one
restore overhead of progress). The network transfer's carbon (``transfer_carbon_kg`` at both ends'
intensity in the move hour) is added to ``carbon_tr_kg``; idle power during the pause is not charged.
Moves are recorded per job (``migrations``, ``migration_gb``, ``migration_kg``). A move of an unknown,
not-running or already-moving job, at a non-boundary hour, to its own region, under data residency, past
the horizon, or into a region without reserved capacity for the pause + ``hours`` is a :class:`PolicyError`.

Feedback: an optional ``feedback`` object (:class:`Feedback`, e.g.
:class:`scheduler.duration.EstimatorMargins`) is told, at the end of every hour in which jobs finished,
which rows finished and at which hour — one vectorised call per hour, so a duration estimator can learn
from finished jobs while the run goes on.

Invariant (checked at the end of every run): every job is finished (on time or late, with the reason
it is late), or rejected/unfinished with a reason — none is lost.

Information set: a non-oracle policy receives a ``JobsView`` (jobs submitted by the decision hour, no true
durations; its decisions are mapped back to this run's rows) and a ``PolicyView``. The oracle
(``policy.clairvoyant``) is planned once at hour 0 with the true ``Jobs`` and ``OracleView`` (actual
intensities); it then runs through the same execution.

Forecast fallback: every applied placement's priced hours are counted (``planned_job_h``: its reserved hours,
or the leading ``Decisions.priced`` of them a policy priced its choice over — ``chance_constrained`` prices the
estimated run, not the q0.99 padding after it), and those the decision's view priced with the declared
long-range fallback instead of a forecast issue (``PolicyView.fallback``) in ``fallback_job_h`` —
``forecast_fallback_share`` in ``scheduler.metrics``.
"""
from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.base import ClusterState, Decisions, Event, JobsView
from carbonshift.scheduler.policies.migration import move_size_gb
from carbonshift.scheduler.signals import CarbonSignal, ForecastSignal, OracleView, PolicyView
from carbonshift.scheduler.workloads import Jobs

WAITING, QUEUED, RUNNING, DONE, REJECTED = 0, 1, 2, 3, 4
#: With ``measure_memory``, every day-ahead plan and every this-many-th adaptation run under tracemalloc
#: (peak memory); those adaptations are left out of the adaptation latencies.
MEMORY_SAMPLE_EVERY = 10


class Feedback(Protocol):
    """Receives finished jobs: ``idx`` rows of the simulated ``Jobs``, ``hour`` the (exclusive) end hour."""

    def finished(self, idx: np.ndarray, hour: int) -> None: ...


class PolicyError(RuntimeError):
    """A policy returned a decision that breaks capacity, data-transfer or information-set rules."""


@dataclass
class SimConfig:
    plan_hour_utc: int = 12           # day-ahead planning hour (UTC)
    failure_rate_per_h: float = 0.0   # failure probability per running job-hour
    seed: int = 0
    measure_memory: bool = False      # tracemalloc peak of day-ahead plans and sampled adaptations


@dataclass
class Outcome:
    """Per-job records and hourly usage of one simulated policy."""

    policy: str
    jobs: Jobs
    regions: list[str]
    region: np.ndarray            # region the job ran in (−1: never started)
    start: np.ndarray             # start hour (−1)
    finish: np.ndarray            # hour the job ended (exclusive; −1: not finished)
    status: np.ndarray            # DONE / REJECTED / QUEUED or RUNNING (= unfinished at horizon end)
    reasons: dict[int, str]       # why a job is late, rejected or unfinished
    energy_kwh: np.ndarray        # operational energy incl. PUE
    renewable_kwh: np.ndarray     # energy × renewable share of the hour
    carbon_op_kg: np.ndarray
    carbon_tr_kg: np.ndarray
    failures: np.ndarray          # failures per job
    usage: np.ndarray             # [R × T] GPUs in use
    energy_hod: np.ndarray        # [R × 24] energy by UTC hour of day, kWh
    plan_seconds: float           # total decision time (plan + adapt), s
    adapt_ms: list[float] = field(default_factory=list)
    peak_mem_mb: float = float("nan")
    oracle: bool = False
    suspensions: np.ndarray | None = None   # suspend/resume cycles per job
    planned_job_h: int = 0        # job-hours applied placements were priced over (Decisions.priced; default reserved)
    fallback_job_h: int = 0       # of those, hours the decision's view priced by the forecast fallback
    migrations: np.ndarray | None = None    # moves of a running job to another region, per job
    migration_gb: np.ndarray | None = None  # GB shipped by those moves, per job
    migration_kg: np.ndarray | None = None  # kgCO2e of those transfers (included in carbon_tr_kg), per job
    carbon_op_region_kg: np.ndarray | None = None   # [R] operational kgCO2e by the region it was emitted in
    renewable_region_kwh: np.ndarray | None = None  # [R] renewable kWh by region

    @property
    def on_time(self) -> np.ndarray:
        return (self.status == DONE) & (self.finish <= self.jobs.deadline_h)


def _timed(fn, measure_memory: bool):
    if measure_memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    peak = float("nan")
    if measure_memory:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return out, dt, peak


def simulate(jobs: Jobs, carbon: CarbonSignal, forecast: ForecastSignal | None, dc: DataCenters, policy,
             cfg: SimConfig | None = None, feedback: Feedback | None = None) -> Outcome:
    """Run ``policy`` on ``jobs`` over the hours of ``carbon``; returns the :class:`Outcome`.
    ``feedback`` (optional) is told about every hour's finished jobs (see module docstring)."""
    cfg = cfg or SimConfig()
    if dc.regions != carbon.regions:
        raise ValueError(f"simulate: data centre regions {dc.regions} != signal regions {carbon.regions}")
    jobs.validate(n_regions=dc.n)  # a home region the data centres do not have is an error here, not an IndexError
    if forecast is None and not policy.clairvoyant:
        raise ValueError(f"simulate: policy {policy.name} needs a forecast signal")
    n, R, T = len(jobs), dc.n, carbon.n_hours
    h0 = carbon.times[0].hour
    state = ClusterState(dc.gpus.astype(np.int64), np.zeros((R, T), dtype=np.int64))
    status = np.full(n, WAITING, dtype=np.int8)
    slots = np.zeros((n, T), dtype=bool)       # reserved hours of each job
    p_region = np.full(n, -1, np.int64)
    p_start = np.full(n, -1, np.int64)         # first reserved hour
    res_end = np.full(n, -1, np.int64)         # last reserved hour + 1
    start = np.full(n, -1, np.int64)
    finish = np.full(n, -1, np.int64)
    progress = np.zeros(n)
    was_active = np.zeros(n, dtype=bool)
    energy, renew, c_op, c_tr = (np.zeros(n) for _ in range(4))
    failures = np.zeros(n, np.int64)
    suspensions = np.zeros(n, np.int64)
    moving = np.zeros(n, dtype=bool)           # moved, not yet resumed at the destination
    n_moves = np.zeros(n, np.int64)
    mig_gb, mig_kg = np.zeros(n), np.zeros(n)
    wants_ticks = bool(getattr(policy, "wants_ticks", False)) and not policy.clairvoyant
    replan_on_free = bool(getattr(policy, "replan_on_free", False)) and not policy.clairvoyant
    freed_early = False                        # a job finished before its reservation ended (last hour)
    usage = np.zeros((R, T), np.int64)
    energy_hod = np.zeros((R, 24))
    op_region, renew_region = np.zeros(R), np.zeros(R)   # by where each hour ran (a moved job spans regions)
    reasons: dict[int, str] = {}
    transfer_h = dc.transfer_hours(jobs.data_gb)
    power = jobs.power_kw
    gpus = jobs.gpus
    decide_s = 0.0
    adapt_ms: list[float] = []
    peak = float("nan")
    planned_h = fallback_h = 0

    def apply(dec: Decisions, now: int, view) -> None:
        nonlocal planned_h, fallback_h
        for i, r, s, h in zip(dec.job.tolist(), dec.region.tolist(), dec.start.tolist(), dec.hours.tolist()):
            if status[i] != QUEUED or p_region[i] >= 0:
                raise PolicyError(f"{policy.name}: decision for job {i} that is not waiting for a placement")
            if r < 0:
                status[i] = REJECTED
                reasons[i] = dec.reasons.get(i, "unschedulable: policy gave no reason")
                continue
            hours = dec.slots[i] if i in dec.slots else np.arange(s, s + h)
            earliest = max(now, int(jobs.submit_h[i])) + (transfer_h[i] if r != jobs.home[i] else 0)
            if (len(hours) < 1 or hours[0] != s or hours[0] < earliest or hours[-1] >= T
                    or (np.diff(hours) < 1).any()):
                raise PolicyError(f"{policy.name}: job {i} placed at hours {hours[:3].tolist()}… in region {r}; "
                                  f"earliest allowed {earliest}, horizon {T}")
            if (state.capacity[r] - state.reserved[r, hours] < gpus[i]).any():
                raise PolicyError(f"{policy.name}: job {i} ({gpus[i]} GPUs) over capacity in "
                                  f"{dc.regions[r]} during hours {hours[0]}–{hours[-1] + 1}")
            priced = dec.priced.get(i, len(hours))
            if not 1 <= priced <= len(hours):
                raise PolicyError(f"{policy.name}: job {i} priced over {priced} of its {len(hours)} reserved hours")
            state.reserved[r, hours] += gpus[i]
            planned_h += priced
            fallback_h += int(view.fallback[r, hours[:priced] - view.now].sum())
            slots[i, hours] = True
            p_region[i], p_start[i], res_end[i] = r, hours[0], hours[-1] + 1
        for i, (r, at, k) in dec.moves.items():
            move(int(i), int(r), int(at), int(k), now, view)

    def at_boundary(idx: np.ndarray) -> np.ndarray:
        """Whether running jobs ``idx`` wrote a periodic checkpoint during their last compute hour."""
        ck = jobs.ckpt_interval_h[idx]
        return np.mod(np.maximum(progress[idx], 0.0), ck) < 1.0 - 1e-9

    def move(i: int, r: int, at: int, k: int, now: int, view) -> None:
        """Apply one validated move of running job ``i`` to region ``r`` (module docstring)."""
        nonlocal planned_h, fallback_h
        where = f"{policy.name}: move of job {i} at hour {at} to region {r}"
        if not 0 <= i < n or status[i] != RUNNING or moving[i] or not was_active[i]:
            raise PolicyError(f"{where}: the job is not running (unknown, not started, suspended or moving)")
        if at != now or not at_boundary(np.array([i]))[0]:
            raise PolicyError(f"{where}: not a checkpoint boundary of the job at decision hour {now} (progress "
                              f"{progress[i]:.2f} h, checkpoint every {jobs.ckpt_interval_h[i]:.2f} h)")
        if not 0 <= r < R or r == p_region[i] or dc.residency or k < 1:
            raise PolicyError(f"{where}: destination must be another of the {R} regions (no data residency) "
                              f"and the move must reserve ≥ 1 h (got {k})")
        size = float(move_size_gb(gpus[i], jobs.data_gb[i], jobs.home[i], r))
        delay = int(dc.transfer_hours(np.array([size]))[0])
        end = min(now + delay + k, T)
        if now + delay >= T:
            raise PolicyError(f"{where}: the {delay} h transfer ends after the horizon ({T} h)")
        hours = np.arange(now, end)
        if (state.capacity[r] - state.reserved[r, hours] < gpus[i]).any():
            raise PolicyError(f"{where}: {dc.regions[r]} lacks {gpus[i]} free GPUs during hours {now}–{end}")
        src = int(p_region[i])
        release(np.array([i]), now, forget=False)
        state.reserved[r, hours] += gpus[i]
        slots[i, now + delay:end] = True
        kg = float(dc.transfer_carbon_kg(size, carbon.ci[src, now], carbon.ci[r, now]))
        c_tr[i] += kg
        mig_kg[i] += kg
        mig_gb[i] += size
        n_moves[i] += 1
        ck = jobs.ckpt_interval_h[i]
        progress[i] = np.floor(max(progress[i], 0.0) / ck + 1e-9) * ck          # back to the checkpoint
        p_region[i], res_end[i], moving[i], was_active[i] = r, end, True, False
        planned_h += end - now - delay
        fallback_h += int(view.fallback[r, now + delay - view.now:end - view.now].sum())

    def release(idx: np.ndarray, from_h: int, forget: bool) -> None:
        """Give back the reserved hours ≥ ``from_h``; ``forget`` also drops the placement (re-planning)."""
        for i in idx.tolist():
            hours = np.flatnonzero(slots[i, from_h:]) + from_h
            state.reserved[p_region[i], hours] -= gpus[i]
            slots[i, from_h:] = False
            if forget:
                p_region[i], p_start[i], res_end[i] = -1, -1, -1

    calls = 0

    def decide(fn, now: int, is_plan: bool, view, jv: JobsView | None) -> None:
        """Run one policy call; ``jv`` (None for the oracle) maps its rows back to this run's ``Jobs``."""
        nonlocal decide_s, peak, calls
        traced = cfg.measure_memory and (is_plan or calls % MEMORY_SAMPLE_EVERY == 0)
        calls += 1
        dec, dt, pk = _timed(fn, traced)
        if jv is not None:
            dec = _to_rows(dec, jv, policy.name)
        decide_s += dt
        if not is_plan and not traced:       # tracemalloc slows allocations: keep it out of the latency
            adapt_ms.append(dt * 1000.0)
        if np.isfinite(pk):
            peak = pk if not np.isfinite(peak) else max(peak, pk)
        apply(dec, now, view)

    order = np.argsort(jobs.submit_h, kind="stable")
    bounds = np.searchsorted(jobs.submit_h[order], np.arange(T + 1))
    late_arrivals = order[bounds[T]:]
    status[late_arrivals] = REJECTED
    for i in late_arrivals.tolist():
        reasons[i] = f"unschedulable: submitted at hour {jobs.submit_h[i]}, after the horizon ({T} h)"

    if policy.clairvoyant:
        arrived = order[:bounds[T]]
        status[arrived] = QUEUED
        oracle_view = OracleView(carbon, 0)
        decide(lambda: policy.plan(jobs, arrived, 0, state, oracle_view), 0, True, oracle_view, None)

    hour_views: dict[int, tuple[PolicyView, JobsView]] = {}

    def views_at(at: int) -> tuple[PolicyView, JobsView]:
        """The (read-only) forecast and jobs views of hour ``at``, built once per hour however many events it has."""
        if at not in hour_views:
            assert forecast is not None, "simulate: checked above — only the oracle runs without a forecast"
            hour_views.clear()
            hour_views[at] = (PolicyView(carbon, forecast, at), JobsView(jobs, at))
        return hour_views[at]

    for t in range(T):
        if not policy.clairvoyant:
            if (t + h0) % 24 == cfg.plan_hour_utc:
                queued = np.flatnonzero((status == QUEUED) & (p_region >= 0))
                if len(queued):
                    release(queued, t, forget=True)
                    view, jv = views_at(t)
                    decide(lambda: policy.plan(jv, jv.positions(queued), t, state, view), t, True, view, jv)
            elif freed_early and replan_on_free:
                # reserved GPU-hours came free early: re-place the queued jobs that can keep their placement
                queued = np.flatnonzero((status == QUEUED) & (p_region >= 0) & (p_start >= t + transfer_h))
                if len(queued):
                    release(queued, t, forget=True)
                    view, jv = views_at(t)
                    decide(lambda: policy.adapt(Event("freed", jv.positions(queued)), jv, t, state, view), t, False,
                           view, jv)
            freed_early = False
            new = order[bounds[t]:bounds[t + 1]]
            if len(new):
                status[new] = QUEUED
                view, jv = views_at(t)
                decide(lambda: policy.adapt(Event("arrival", jv.positions(new)), jv, t, state, view), t, False,
                       view, jv)
            if wants_ticks:
                run = np.flatnonzero((status == RUNNING) & was_active & ~moving)
                run = run[at_boundary(run)]
                if len(run):
                    view, jv = views_at(t)
                    ev = Event("tick", jv.positions(run), p_region[run].copy(), progress[run].copy())
                    decide(lambda: policy.adapt(ev, jv, t, state, view), t, False, view, jv)
        # admission: running jobs that ran last hour continue; starts and resumes need free GPUs now
        want = (status == RUNNING) & slots[:, t]
        cont = want & was_active
        newcomers = np.flatnonzero((want & ~was_active) | ((status == QUEUED) & (p_start == t)))
        active = cont.copy()
        if len(newcomers):
            used = np.bincount(p_region[cont], weights=gpus[cont], minlength=R)
            blocked: list[int] = []
            for i in newcomers.tolist():
                r = p_region[i]
                if used[r] + gpus[i] > dc.gpus[r]:
                    if status[i] == QUEUED:
                        blocked.append(i)
                    continue                       # a suspended job that cannot resume waits
                used[r] += gpus[i]
                active[i] = True
                if status[i] == QUEUED:
                    status[i], start[i] = RUNNING, t
                    if r != jobs.home[i]:
                        c_tr[i] = dc.transfer_carbon_kg(jobs.data_gb[i], carbon.ci[jobs.home[i], t], carbon.ci[r, t])
                elif moving[i]:                    # resume at a move's destination: restore the checkpoint
                    progress[i] -= jobs.ckpt_overhead_h[i]
                    moving[i] = False
                else:                              # resume after a suspension: write + restore checkpoint
                    progress[i] -= 2.0 * jobs.ckpt_overhead_h[i]
                    suspensions[i] += 1
            if blocked:
                blocked_rows = np.asarray(blocked)
                release(blocked_rows, t, forget=True)
                if t + 1 < T:
                    b_view: PolicyView | OracleView
                    b_jv: JobsView | None
                    table: Jobs | JobsView
                    if policy.clairvoyant:
                        b_view, b_jv, table = OracleView(carbon, t + 1), None, jobs
                    else:
                        b_view, b_jv = views_at(t + 1)
                        table = b_jv
                    ev = Event("blocked", blocked_rows if b_jv is None else b_jv.positions(blocked_rows))
                    decide(lambda: policy.adapt(ev, table, t + 1, state, b_view), t + 1, False, b_view, b_jv)
        was_active = active
        run = np.flatnonzero(active)
        if len(run):   # execution of hour t
            r = p_region[run]
            e = power[run] * dc.pue[r]                                    # kWh this hour
            energy[run] += e
            c_op[run] += e * carbon.ci[r, t] / 1000.0
            renew[run] += e * carbon.renewable_pct[r, t] / 100.0
            np.add.at(usage[:, t], r, gpus[run])
            np.add.at(energy_hod[:, (t + h0) % 24], r, e)
            np.add.at(op_region, r, e * carbon.ci[r, t] / 1000.0)
            np.add.at(renew_region, r, e * carbon.renewable_pct[r, t] / 100.0)
            progress[run] += 1.0
            if cfg.failure_rate_per_h > 0:
                fail = run[np.random.default_rng((cfg.seed, t)).random(n)[run] < cfg.failure_rate_per_h]
                if len(fail):
                    ck = jobs.ckpt_interval_h[fail]
                    progress[fail] = np.floor(progress[fail] / ck) * ck - jobs.ckpt_overhead_h[fail]
                    failures[fail] += 1
            done = run[progress[run] >= jobs.duration_h[run] - 1e-9]
            if len(done):
                status[done], finish[done] = DONE, t + 1
                freed_early = freed_early or bool((res_end[done] > t + 1).any())
                release(done, t + 1, forget=False)
                if feedback is not None:
                    feedback.finished(done, t + 1)
        # a started job past its reserved hours (overran, or could not resume) reserves the next hour
        still = np.flatnonzero((status == RUNNING) & (res_end <= t + 1))
        if len(still) and t + 1 < T:
            np.add.at(state.reserved[:, t + 1], p_region[still], gpus[still])
            slots[still, t + 1] = True
            res_end[still] = t + 2

    out = Outcome(policy.name, jobs, list(dc.regions), np.where(start >= 0, p_region, -1), start, finish,
                  status, reasons, energy, renew, c_op, c_tr, failures, usage, energy_hod, decide_s, adapt_ms,
                  peak, bool(policy.clairvoyant), suspensions, planned_h, fallback_h, n_moves, mig_gb, mig_kg,
                  op_region, renew_region)
    _explain(out, cfg)
    check_invariants(out, dc)
    return out


def _to_rows(dec: Decisions, jv: JobsView, name: str) -> Decisions:
    """``dec`` with the jobs view's rows replaced by the simulator's ``Jobs`` rows."""
    if len(dec.job) and (dec.job.min() < 0 or dec.job.max() >= len(jv)):
        raise PolicyError(f"{name}: decision for job index {dec.job.max()} outside the {len(jv)} jobs it was shown "
                          f"at hour {jv.now}")
    row = lambda i: int(jv.row[i])  # noqa: E731
    if any(not 0 <= i < len(jv) for i in dec.moves):
        raise PolicyError(f"{name}: move of job index {max(dec.moves)} outside the {len(jv)} jobs it was shown "
                          f"at hour {jv.now}")
    return Decisions(jv.row[dec.job], dec.region, dec.start, dec.hours,
                     {row(i): why for i, why in dec.reasons.items()}, {row(i): h for i, h in dec.slots.items()},
                     {row(i): mv for i, mv in dec.moves.items()}, {row(i): k for i, k in dec.priced.items()})


def _explain(out: Outcome, cfg: SimConfig) -> None:
    """Attach a reason to every late or unfinished job."""
    jobs = out.jobs
    for i in np.flatnonzero((out.status == QUEUED) | (out.status == RUNNING)).tolist():
        out.reasons[i] = (f"unfinished: {'running' if out.status[i] == RUNNING else 'queued'} when the "
                          f"horizon ended")
    late = np.flatnonzero((out.status == DONE) & (out.finish > jobs.deadline_h))
    for i in late.tolist():
        why = []
        if out.start[i] + jobs.est_duration_h[i] > jobs.deadline_h[i]:
            why.append(f"started at hour {out.start[i]}, after the latest on-time start "
                       f"{jobs.deadline_h[i] - jobs.est_duration_h[i]} for the estimate")
        if jobs.duration_h[i] > jobs.est_duration_h[i]:
            why.append(f"true duration {jobs.duration_h[i]} h > estimate {jobs.est_duration_h[i]} h")
        if out.failures[i]:
            why.append(f"{out.failures[i]} failure(s) rolled back to checkpoints")
        if out.migrations is not None and out.migrations[i]:
            why.append(f"{out.migrations[i]} move(s) to another region paused it")
        out.reasons[i] = "late: " + ("; ".join(why) or "capacity")


def check_invariants(out: Outcome, dc: DataCenters) -> None:
    """Raise if a job is lost, capacity was exceeded or a finished job's record is inconsistent."""
    n = len(out.jobs)
    ended = out.status == DONE
    unexplained = [i for i in range(n) if not ended[i] and i not in out.reasons]
    if unexplained:
        raise AssertionError(f"{out.policy}: jobs {unexplained[:10]} neither finished nor explained")
    late = np.flatnonzero(ended & (out.finish > out.jobs.deadline_h))
    if any(i not in out.reasons for i in late.tolist()):
        raise AssertionError(f"{out.policy}: late jobs without a reason")
    over = out.usage > dc.gpus[:, None]
    if over.any():
        r, t = np.argwhere(over)[0]
        raise AssertionError(f"{out.policy}: {out.usage[r, t]} GPUs used in {dc.regions[r]} at hour {t} "
                             f"(capacity {dc.gpus[r]})")
    if (ended & ((out.start < 0) | (out.finish <= out.start))).any():
        raise AssertionError(f"{out.policy}: finished job without a valid start/finish")
