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

Code: :func:`simulate` checks its arguments (``_inputs``), then runs ``_hour`` for every hour — the policy's
events (``_policy_events``: steps 1–2), ``_admit`` (3), ``_execute`` (4: ``_charge``, ``_fail``, ``_finish``) and
``_extend_overruns`` — over one run's records (``_Sim``: reservations, job progress, accounts, policy log), and
assembles the :class:`Outcome` (``_outcome``). Every policy call goes through ``_decide`` → ``_apply`` (checks in
``_check_placement`` / ``_check_move``; a violation is a :class:`PolicyError`).
"""
from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Callable, Protocol, TypeAlias

import numpy as np

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.base import ClusterState, Decisions, Event, JobsView, Policy
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


def _timed(fn: Callable[[], Decisions], measure_memory: bool) -> tuple[Decisions, float, float]:
    """``fn()``, its wall time (s) and, with ``measure_memory``, its tracemalloc peak (MiB; NaN without)."""
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


View: TypeAlias = PolicyView | OracleView


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What one run simulates: :func:`simulate`'s validated arguments and what follows from them alone."""

    jobs: Jobs
    carbon: CarbonSignal            # actual intensity (gCO2e/kWh) and renewable share (%), [R × T]
    forecast: ForecastSignal | None  # None only for the oracle
    dc: DataCenters
    policy: Policy
    cfg: SimConfig
    feedback: Feedback | None
    n: int                          # jobs
    R: int                          # regions
    T: int                          # simulated hours
    h0: int                         # UTC hour of day of hour 0
    transfer_h: np.ndarray          # [n] whole hours to ship each job's data set away from home, h
    power_kw: np.ndarray            # [n] IT power of each job, kW
    order: np.ndarray               # job rows by submission hour (stable)
    bounds: np.ndarray              # [T + 1]: the jobs submitted in hour t are order[bounds[t]:bounds[t + 1]]
    wants_ticks: bool               # adapt(Event("tick")) at checkpoint boundaries (never the oracle)
    replan_on_free: bool            # adapt(Event("freed")) after an early finish (never the oracle)


def _inputs(jobs: Jobs, carbon: CarbonSignal, forecast: ForecastSignal | None, dc: DataCenters, policy: Policy,
            cfg: SimConfig, feedback: Feedback | None) -> _Inputs:
    """Check that the arguments fit together (``ValueError`` if not) and derive what the run needs from them."""
    if dc.regions != carbon.regions:
        raise ValueError(f"simulate: data centre regions {dc.regions} != signal regions {carbon.regions}")
    jobs.validate(n_regions=dc.n)  # a home region the data centres do not have is an error here, not an IndexError
    if forecast is None and not policy.clairvoyant:
        raise ValueError(f"simulate: policy {policy.name} needs a forecast signal")
    T = carbon.n_hours
    order = np.argsort(jobs.submit_h, kind="stable")
    bounds = np.searchsorted(jobs.submit_h[order], np.arange(T + 1))
    online = not policy.clairvoyant
    return _Inputs(jobs, carbon, forecast, dc, policy, cfg, feedback, n=len(jobs), R=dc.n, T=T,
                   h0=carbon.times[0].hour, transfer_h=dc.transfer_hours(jobs.data_gb), power_kw=jobs.power_kw,
                   order=order, bounds=bounds,
                   wants_ticks=bool(getattr(policy, "wants_ticks", False)) and online,
                   replan_on_free=bool(getattr(policy, "replan_on_free", False)) and online)


@dataclass(slots=True)
class _Reservations:
    """Each job's reserved GPU-hours and their sum per region (``cluster``, what policies see)."""

    cluster: ClusterState           # capacity [R] GPUs; reserved [R × T] GPUs
    gpus: np.ndarray                # [n] GPUs of each job
    slots: np.ndarray               # [n × T] reserved hours of each job
    region: np.ndarray              # [n] region of the placement (−1: none)
    first: np.ndarray               # [n] first reserved hour, h (−1)
    end: np.ndarray                 # [n] last reserved hour + 1, h (−1)

    def release(self, idx: np.ndarray, from_h: int, forget: bool) -> None:
        """Give back the reserved hours ≥ ``from_h``; ``forget`` also drops the placement (re-planning)."""
        for i in idx.tolist():
            hours = np.flatnonzero(self.slots[i, from_h:]) + from_h
            self.cluster.reserved[self.region[i], hours] -= self.gpus[i]
            self.slots[i, from_h:] = False
            if forget:
                self.region[i], self.first[i], self.end[i] = -1, -1, -1


@dataclass(slots=True)
class _Progress:
    """Where each job stands."""

    status: np.ndarray              # [n] WAITING / QUEUED / RUNNING / DONE / REJECTED
    start: np.ndarray               # [n] start hour (−1)
    finish: np.ndarray              # [n] end hour, exclusive (−1)
    done_h: np.ndarray              # [n] compute progress toward the true duration, h
    was_active: np.ndarray          # [n] ran in the previous hour (so it holds its GPUs)
    moving: np.ndarray              # [n] moved, not yet resumed at the destination
    reasons: dict[int, str]         # why a job is rejected (late/unfinished reasons: _explain)
    freed_early: bool = False       # a job finished before its reservation ended (last hour)


@dataclass(slots=True)
class _Accounts:
    """What the run used and emitted (the :class:`Outcome` fields of the same names)."""

    energy_kwh: np.ndarray          # [n] kWh incl. PUE
    renewable_kwh: np.ndarray       # [n] kWh
    carbon_op_kg: np.ndarray        # [n] kgCO2e
    carbon_tr_kg: np.ndarray        # [n] kgCO2e (data transfers and moves)
    failures: np.ndarray            # [n]
    suspensions: np.ndarray         # [n] resumes after a suspension
    migrations: np.ndarray          # [n] moves
    migration_gb: np.ndarray        # [n] GB
    migration_kg: np.ndarray        # [n] kgCO2e
    usage: np.ndarray               # [R × T] GPUs in use
    energy_hod: np.ndarray          # [R × 24] kWh by UTC hour of day
    carbon_op_region_kg: np.ndarray  # [R] kgCO2e by where it was emitted
    renewable_region_kwh: np.ndarray  # [R] kWh


@dataclass(slots=True)
class _PolicyLog:
    """The cost of the policy's calls and the hours its applied placements were priced over."""

    seconds: float = 0.0            # total decision time (plan + adapt), s
    adapt_ms: list[float] = field(default_factory=list)   # untraced adaptation latencies, ms
    peak_mem_mb: float = float("nan")  # tracemalloc peak over the traced calls, MiB
    calls: int = 0
    planned_job_h: int = 0          # h (Outcome.planned_job_h)
    fallback_job_h: int = 0         # h (Outcome.fallback_job_h)


@dataclass(slots=True)
class _Sim:
    """One run's state: the inputs and the four records the hour steps update."""

    inp: _Inputs
    res: _Reservations
    prog: _Progress
    acc: _Accounts
    log: _PolicyLog
    views: dict[int, tuple[PolicyView, JobsView]]   # the current hour's views (one entry)


def _new_sim(inp: _Inputs) -> _Sim:
    """Empty records for ``inp``: nothing placed, started or charged."""
    n, R, T = inp.n, inp.R, inp.T
    res = _Reservations(cluster=ClusterState(inp.dc.gpus.astype(np.int64), np.zeros((R, T), dtype=np.int64)),
                        gpus=inp.jobs.gpus, slots=np.zeros((n, T), dtype=bool), region=np.full(n, -1, np.int64),
                        first=np.full(n, -1, np.int64), end=np.full(n, -1, np.int64))
    prog = _Progress(status=np.full(n, WAITING, dtype=np.int8), start=np.full(n, -1, np.int64),
                     finish=np.full(n, -1, np.int64), done_h=np.zeros(n), was_active=np.zeros(n, dtype=bool),
                     moving=np.zeros(n, dtype=bool), reasons={})
    acc = _Accounts(energy_kwh=np.zeros(n), renewable_kwh=np.zeros(n), carbon_op_kg=np.zeros(n),
                    carbon_tr_kg=np.zeros(n), failures=np.zeros(n, np.int64), suspensions=np.zeros(n, np.int64),
                    migrations=np.zeros(n, np.int64), migration_gb=np.zeros(n), migration_kg=np.zeros(n),
                    usage=np.zeros((R, T), np.int64), energy_hod=np.zeros((R, 24)),
                    carbon_op_region_kg=np.zeros(R), renewable_region_kwh=np.zeros(R))
    return _Sim(inp, res, prog, acc, _PolicyLog(), {})


def simulate(jobs: Jobs, carbon: CarbonSignal, forecast: ForecastSignal | None, dc: DataCenters, policy: Policy,
             cfg: SimConfig | None = None, feedback: Feedback | None = None) -> Outcome:
    """Run ``policy`` on ``jobs`` over the hours of ``carbon``; returns the :class:`Outcome`.
    ``feedback`` (optional) is told about every hour's finished jobs (see module docstring)."""
    cfg = cfg or SimConfig()
    sim = _new_sim(_inputs(jobs, carbon, forecast, dc, policy, cfg, feedback))
    _reject_late_arrivals(sim)
    if policy.clairvoyant:
        _plan_oracle(sim)
    for t in range(sim.inp.T):
        _hour(sim, t)
    out = _outcome(sim)
    _explain(out, cfg)
    check_invariants(out, dc)
    return out


def _reject_late_arrivals(sim: _Sim) -> None:
    """Jobs submitted after the horizon are rejected before hour 0."""
    inp, prog = sim.inp, sim.prog
    late_arrivals = inp.order[inp.bounds[inp.T]:]
    prog.status[late_arrivals] = REJECTED
    for i in late_arrivals.tolist():
        prog.reasons[i] = f"unschedulable: submitted at hour {inp.jobs.submit_h[i]}, after the horizon ({inp.T} h)"


def _plan_oracle(sim: _Sim) -> None:
    """The oracle plans every job submitted within the horizon once, at hour 0, with the true ``Jobs``."""
    inp = sim.inp
    arrived = inp.order[:inp.bounds[inp.T]]
    sim.prog.status[arrived] = QUEUED
    oracle_view = OracleView(inp.carbon, 0)
    _decide(sim, lambda: inp.policy.plan(inp.jobs, arrived, 0, sim.res.cluster, oracle_view), 0, True,
            oracle_view, None)


def _hour(sim: _Sim, t: int) -> None:
    """Hour ``t``: the policy's events, admission, execution and the overrunning jobs' next-hour reservations."""
    if not sim.inp.policy.clairvoyant:
        _policy_events(sim, t)
    active = _admit(sim, t)
    sim.prog.was_active = active
    run = np.flatnonzero(active)
    if len(run):
        _execute(sim, run, t)
    _extend_overruns(sim, t)


def _views_at(sim: _Sim, at: int) -> tuple[PolicyView, JobsView]:
    """The (read-only) forecast and jobs views of hour ``at``, built once per hour however many events it has."""
    if at not in sim.views:
        assert sim.inp.forecast is not None, "simulate: checked in _inputs — only the oracle runs without a forecast"
        sim.views.clear()
        sim.views[at] = (PolicyView(sim.inp.carbon, sim.inp.forecast, at), JobsView(sim.inp.jobs, at))
    return sim.views[at]


# ---- step 1–2: the policy's events of the hour (online policies) ----------------------------------------------

def _policy_events(sim: _Sim, t: int) -> None:
    """Day-ahead plan (or, for ``replan_on_free``, a re-placement after an early finish), arrivals, ticks."""
    inp = sim.inp
    if (t + inp.h0) % 24 == inp.cfg.plan_hour_utc:
        _plan_day_ahead(sim, t)
    elif sim.prog.freed_early and inp.replan_on_free:
        _replan_freed(sim, t)
    sim.prog.freed_early = False
    _arrivals(sim, t)
    if inp.wants_ticks:
        _ticks(sim, t)


def _plan_day_ahead(sim: _Sim, t: int) -> None:
    """Release every queued job's reservation and let the policy re-plan them all with hour ``t``'s forecast."""
    queued = np.flatnonzero((sim.prog.status == QUEUED) & (sim.res.region >= 0))
    if len(queued):
        sim.res.release(queued, t, forget=True)
        view, jv = _views_at(sim, t)
        policy, state = sim.inp.policy, sim.res.cluster
        _decide(sim, lambda: policy.plan(jv, jv.positions(queued), t, state, view), t, True, view, jv)


def _replan_freed(sim: _Sim, t: int) -> None:
    """Reserved GPU-hours came free early: re-place the queued jobs that can keep their placement."""
    res = sim.res
    queued = np.flatnonzero((sim.prog.status == QUEUED) & (res.region >= 0) & (res.first >= t + sim.inp.transfer_h))
    if len(queued):
        res.release(queued, t, forget=True)
        view, jv = _views_at(sim, t)
        policy, state = sim.inp.policy, res.cluster
        _decide(sim, lambda: policy.adapt(Event("freed", jv.positions(queued)), jv, t, state, view), t, False,
                view, jv)


def _arrivals(sim: _Sim, t: int) -> None:
    """The jobs submitted in hour ``t`` queue and go to ``adapt(Event("arrival"))``."""
    new = sim.inp.order[sim.inp.bounds[t]:sim.inp.bounds[t + 1]]
    if len(new):
        sim.prog.status[new] = QUEUED
        view, jv = _views_at(sim, t)
        policy, state = sim.inp.policy, sim.res.cluster
        _decide(sim, lambda: policy.adapt(Event("arrival", jv.positions(new)), jv, t, state, view), t, False,
                view, jv)


def _ticks(sim: _Sim, t: int) -> None:
    """Running jobs (that ran last hour) at a checkpoint boundary go to ``adapt(Event("tick"))``."""
    prog = sim.prog
    run = np.flatnonzero((prog.status == RUNNING) & prog.was_active & ~prog.moving)
    run = run[_at_boundary(sim.inp.jobs.ckpt_interval_h[run], prog.done_h[run])]
    if len(run):
        view, jv = _views_at(sim, t)
        ev = Event("tick", jv.positions(run), sim.res.region[run].copy(), prog.done_h[run].copy())
        policy, state = sim.inp.policy, sim.res.cluster
        _decide(sim, lambda: policy.adapt(ev, jv, t, state, view), t, False, view, jv)


def _at_boundary(ckpt_interval_h: np.ndarray, done_h: np.ndarray) -> np.ndarray:
    """Whether running jobs (checkpoint every ``ckpt_interval_h`` h, ``done_h`` h of progress) wrote a periodic
    checkpoint during their last compute hour."""
    return np.mod(np.maximum(done_h, 0.0), ckpt_interval_h) < 1.0 - 1e-9


# ---- the policy's decisions: timing, checks, application ------------------------------------------------------

def _decide(sim: _Sim, fn: Callable[[], Decisions], now: int, is_plan: bool, view: View,
            jv: JobsView | None) -> None:
    """Run one policy call ``fn`` (timed; traced when sampled) and apply its decisions at hour ``now``; ``jv``
    (None for the oracle) maps its rows back to this run's ``Jobs``."""
    log = sim.log
    traced = sim.inp.cfg.measure_memory and (is_plan or log.calls % MEMORY_SAMPLE_EVERY == 0)
    log.calls += 1
    dec, dt, pk = _timed(fn, traced)
    if jv is not None:
        dec = _to_rows(dec, jv, sim.inp.policy.name)
    log.seconds += dt
    if not is_plan and not traced:       # tracemalloc slows allocations: keep it out of the latency
        log.adapt_ms.append(dt * 1000.0)
    if np.isfinite(pk):
        log.peak_mem_mb = pk if not np.isfinite(log.peak_mem_mb) else max(log.peak_mem_mb, pk)
    _apply(sim, dec, now, view)


def _apply(sim: _Sim, dec: Decisions, now: int, view: View) -> None:
    """Apply decisions (rows of this run's ``Jobs``) taken at hour ``now``: rejections, placements, then moves."""
    prog, res = sim.prog, sim.res
    for i, r, s, h in zip(dec.job.tolist(), dec.region.tolist(), dec.start.tolist(), dec.hours.tolist()):
        if prog.status[i] != QUEUED or res.region[i] >= 0:
            raise PolicyError(f"{sim.inp.policy.name}: decision for job {i} that is not waiting for a placement")
        if r < 0:
            prog.status[i] = REJECTED
            prog.reasons[i] = dec.reasons.get(i, "unschedulable: policy gave no reason")
            continue
        hours = dec.slots[i] if i in dec.slots else np.arange(s, s + h)
        priced = dec.priced.get(i, len(hours))
        _check_placement(sim.inp, res.cluster, i, r, s, hours, priced, now)
        _place(sim, i, r, hours, priced, view)
    for i, (r, at, k) in dec.moves.items():
        _move(sim, int(i), int(r), int(at), int(k), now, view)


def _check_placement(inp: _Inputs, cluster: ClusterState, i: int, r: int, s: int, hours: np.ndarray, priced: int,
                     now: int) -> None:
    """``PolicyError`` unless job ``i`` may reserve ``hours`` (starting at ``s``) in region ``r`` at hour ``now``:
    not before its submission plus the data transfer, within the horizon, increasing, within free capacity, and
    priced over 1 … len(hours) of them."""
    name, jobs, gpus = inp.policy.name, inp.jobs, inp.jobs.gpus
    earliest = max(now, int(jobs.submit_h[i])) + (inp.transfer_h[i] if r != jobs.home[i] else 0)
    if (len(hours) < 1 or hours[0] != s or hours[0] < earliest or hours[-1] >= inp.T
            or (np.diff(hours) < 1).any()):
        raise PolicyError(f"{name}: job {i} placed at hours {hours[:3].tolist()}… in region {r}; "
                          f"earliest allowed {earliest}, horizon {inp.T}")
    if (cluster.capacity[r] - cluster.reserved[r, hours] < gpus[i]).any():
        raise PolicyError(f"{name}: job {i} ({gpus[i]} GPUs) over capacity in "
                          f"{inp.dc.regions[r]} during hours {hours[0]}–{hours[-1] + 1}")
    if not 1 <= priced <= len(hours):
        raise PolicyError(f"{name}: job {i} priced over {priced} of its {len(hours)} reserved hours")


def _place(sim: _Sim, i: int, r: int, hours: np.ndarray, priced: int, view: View) -> None:
    """Reserve checked ``hours`` in region ``r`` for job ``i``; count its ``priced`` hours and their fallback."""
    res, log = sim.res, sim.log
    res.cluster.reserved[r, hours] += res.gpus[i]
    log.planned_job_h += priced
    log.fallback_job_h += int(view.fallback[r, hours[:priced] - view.now].sum())
    res.slots[i, hours] = True
    res.region[i], res.first[i], res.end[i] = r, hours[0], hours[-1] + 1


def _check_move(sim: _Sim, i: int, r: int, at: int, k: int, now: int) -> tuple[float, int, int]:
    """``PolicyError`` unless running job ``i`` may move to region ``r`` at hour ``at`` = ``now`` reserving ``k``
    compute hours there (module docstring); else the move's size (GB), transfer pause (h) and reservation end (h)."""
    inp, prog, res = sim.inp, sim.prog, sim.res
    jobs, n, R, T = inp.jobs, inp.n, inp.R, inp.T
    where = f"{inp.policy.name}: move of job {i} at hour {at} to region {r}"
    if not 0 <= i < n or prog.status[i] != RUNNING or prog.moving[i] or not prog.was_active[i]:
        raise PolicyError(f"{where}: the job is not running (unknown, not started, suspended or moving)")
    if at != now or not _at_boundary(jobs.ckpt_interval_h[[i]], prog.done_h[[i]])[0]:
        raise PolicyError(f"{where}: not a checkpoint boundary of the job at decision hour {now} (progress "
                          f"{prog.done_h[i]:.2f} h, checkpoint every {jobs.ckpt_interval_h[i]:.2f} h)")
    if not 0 <= r < R or r == res.region[i] or inp.dc.residency or k < 1:
        raise PolicyError(f"{where}: destination must be another of the {R} regions (no data residency) "
                          f"and the move must reserve ≥ 1 h (got {k})")
    size = float(move_size_gb(res.gpus[i], jobs.data_gb[i], jobs.home[i], r))
    delay = int(inp.dc.transfer_hours(np.array([size]))[0])
    end = min(now + delay + k, T)
    if now + delay >= T:
        raise PolicyError(f"{where}: the {delay} h transfer ends after the horizon ({T} h)")
    if (res.cluster.capacity[r] - res.cluster.reserved[r, now:end] < res.gpus[i]).any():
        raise PolicyError(f"{where}: {inp.dc.regions[r]} lacks {res.gpus[i]} free GPUs during hours {now}–{end}")
    return size, delay, end


def _move(sim: _Sim, i: int, r: int, at: int, k: int, now: int, view: View) -> None:
    """Move running job ``i`` to region ``r`` at hour ``now`` (module docstring): roll back to its checkpoint,
    release its source reservation, reserve the pause + ``k`` h at ``r``, charge and record the transfer."""
    size, delay, end = _check_move(sim, i, r, at, k, now)
    inp, prog, res, acc, log = sim.inp, sim.prog, sim.res, sim.acc, sim.log
    src = int(res.region[i])
    res.release(np.array([i]), now, forget=False)
    res.cluster.reserved[r, now:end] += res.gpus[i]
    res.slots[i, now + delay:end] = True
    kg = float(inp.dc.transfer_carbon_kg(size, inp.carbon.ci[src, now], inp.carbon.ci[r, now]))
    acc.carbon_tr_kg[i] += kg
    acc.migration_kg[i] += kg
    acc.migration_gb[i] += size
    acc.migrations[i] += 1
    ck = inp.jobs.ckpt_interval_h[i]
    prog.done_h[i] = np.floor(max(prog.done_h[i], 0.0) / ck + 1e-9) * ck          # back to the checkpoint
    res.region[i], res.end[i], prog.moving[i], prog.was_active[i] = r, end, True, False
    log.planned_job_h += end - now - delay
    log.fallback_job_h += int(view.fallback[r, now + delay - view.now:end - view.now].sum())


# ---- step 3: admission ----------------------------------------------------------------------------------------

def _admit(sim: _Sim, t: int) -> np.ndarray:
    """Hour ``t``'s running set [n]: jobs that ran last hour continue; starts and resumes need free GPUs now
    (a start that cannot happen is re-placed from ``t + 1``; a suspended job that cannot resume waits)."""
    inp, prog, res, acc = sim.inp, sim.prog, sim.res, sim.acc
    jobs, gpus, status = inp.jobs, res.gpus, prog.status
    want = (status == RUNNING) & res.slots[:, t]
    cont = want & prog.was_active
    newcomers = np.flatnonzero((want & ~prog.was_active) | ((status == QUEUED) & (res.first == t)))
    active = cont.copy()
    if not len(newcomers):
        return active
    used = np.bincount(res.region[cont], weights=gpus[cont], minlength=inp.R)
    blocked: list[int] = []
    for i in newcomers.tolist():
        r = res.region[i]
        if used[r] + gpus[i] > inp.dc.gpus[r]:
            if status[i] == QUEUED:
                blocked.append(i)
            continue                       # a suspended job that cannot resume waits
        used[r] += gpus[i]
        active[i] = True
        if status[i] == QUEUED:
            status[i], prog.start[i] = RUNNING, t
            if r != jobs.home[i]:
                acc.carbon_tr_kg[i] = inp.dc.transfer_carbon_kg(jobs.data_gb[i], inp.carbon.ci[jobs.home[i], t],
                                                                inp.carbon.ci[r, t])
        elif prog.moving[i]:               # resume at a move's destination: restore the checkpoint
            prog.done_h[i] -= jobs.ckpt_overhead_h[i]
            prog.moving[i] = False
        else:                              # resume after a suspension: write + restore checkpoint
            prog.done_h[i] -= 2.0 * jobs.ckpt_overhead_h[i]
            acc.suspensions[i] += 1
    if blocked:
        _replace_blocked(sim, np.asarray(blocked), t)
    return active


def _replace_blocked(sim: _Sim, blocked: np.ndarray, t: int) -> None:
    """Jobs whose start at ``t`` found their region full lose their placement and go to
    ``adapt(Event("blocked"))`` at hour ``t + 1`` (none in the last hour: they stay queued)."""
    sim.res.release(blocked, t, forget=True)
    if t + 1 >= sim.inp.T:
        return
    inp, state = sim.inp, sim.res.cluster
    view: View
    jv: JobsView | None
    table: Jobs | JobsView
    if inp.policy.clairvoyant:
        view, jv, table = OracleView(inp.carbon, t + 1), None, inp.jobs
    else:
        view, jv = _views_at(sim, t + 1)
        table = jv
    ev = Event("blocked", blocked if jv is None else jv.positions(blocked))
    _decide(sim, lambda: inp.policy.adapt(ev, table, t + 1, state, view), t + 1, False, view, jv)


# ---- step 4: execution ----------------------------------------------------------------------------------------

def _execute(sim: _Sim, run: np.ndarray, t: int) -> None:
    """Hour ``t`` of the running jobs ``run``: charge it, advance them one hour, fail some, finish the done."""
    _charge(sim.inp, sim.acc, sim.res.region[run], run, t)
    sim.prog.done_h[run] += 1.0
    if sim.inp.cfg.failure_rate_per_h > 0:
        _fail(sim, run, t)
    _finish(sim, run, t)


def _charge(inp: _Inputs, acc: _Accounts, r: np.ndarray, run: np.ndarray, t: int) -> None:
    """Energy (GPUs × kW × PUE, kWh), operational carbon (kgCO2e) and renewable energy (kWh) of running jobs
    ``run`` in regions ``r`` during hour ``t``, per job, per region and by UTC hour of day; GPUs in use."""
    carbon = inp.carbon
    e = inp.power_kw[run] * inp.dc.pue[r]                                    # kWh this hour
    acc.energy_kwh[run] += e
    acc.carbon_op_kg[run] += e * carbon.ci[r, t] / 1000.0
    acc.renewable_kwh[run] += e * carbon.renewable_pct[r, t] / 100.0
    np.add.at(acc.usage[:, t], r, inp.jobs.gpus[run])
    np.add.at(acc.energy_hod[:, (t + inp.h0) % 24], r, e)
    np.add.at(acc.carbon_op_region_kg, r, e * carbon.ci[r, t] / 1000.0)
    np.add.at(acc.renewable_region_kwh, r, e * carbon.renewable_pct[r, t] / 100.0)


def _fail(sim: _Sim, run: np.ndarray, t: int) -> None:
    """Each running job fails with probability ``failure_rate_per_h`` (seeded by ``(seed, t)``) and rolls back to
    its last checkpoint, minus one restore overhead (h)."""
    cfg, jobs = sim.inp.cfg, sim.inp.jobs
    fail = run[np.random.default_rng((cfg.seed, t)).random(sim.inp.n)[run] < cfg.failure_rate_per_h]
    if len(fail):
        ck = jobs.ckpt_interval_h[fail]
        sim.prog.done_h[fail] = np.floor(sim.prog.done_h[fail] / ck) * ck - jobs.ckpt_overhead_h[fail]
        sim.acc.failures[fail] += 1


def _finish(sim: _Sim, run: np.ndarray, t: int) -> None:
    """Running jobs whose progress reached their true duration end at ``t + 1``: the rest of their reservation is
    released (an early end sets ``freed_early``) and ``feedback`` is told."""
    prog = sim.prog
    done = run[prog.done_h[run] >= sim.inp.jobs.duration_h[run] - 1e-9]
    if len(done):
        prog.status[done], prog.finish[done] = DONE, t + 1
        prog.freed_early = prog.freed_early or bool((sim.res.end[done] > t + 1).any())
        sim.res.release(done, t + 1, forget=False)
        if sim.inp.feedback is not None:
            sim.inp.feedback.finished(done, t + 1)


def _extend_overruns(sim: _Sim, t: int) -> None:
    """A started job past its reserved hours (overran, or could not resume) reserves hour ``t + 1``."""
    res = sim.res
    still = np.flatnonzero((sim.prog.status == RUNNING) & (res.end <= t + 1))
    if len(still) and t + 1 < sim.inp.T:
        np.add.at(res.cluster.reserved[:, t + 1], res.region[still], res.gpus[still])
        res.slots[still, t + 1] = True
        res.end[still] = t + 2


def _outcome(sim: _Sim) -> Outcome:
    """The run's :class:`Outcome` (reasons for late and unfinished jobs are added by :func:`_explain`)."""
    inp, prog, acc, log = sim.inp, sim.prog, sim.acc, sim.log
    return Outcome(policy=inp.policy.name, jobs=inp.jobs, regions=list(inp.dc.regions),
                   region=np.where(prog.start >= 0, sim.res.region, -1), start=prog.start, finish=prog.finish,
                   status=prog.status, reasons=prog.reasons, energy_kwh=acc.energy_kwh,
                   renewable_kwh=acc.renewable_kwh, carbon_op_kg=acc.carbon_op_kg, carbon_tr_kg=acc.carbon_tr_kg,
                   failures=acc.failures, usage=acc.usage, energy_hod=acc.energy_hod, plan_seconds=log.seconds,
                   adapt_ms=log.adapt_ms, peak_mem_mb=log.peak_mem_mb, oracle=bool(inp.policy.clairvoyant),
                   suspensions=acc.suspensions, planned_job_h=log.planned_job_h, fallback_job_h=log.fallback_job_h,
                   migrations=acc.migrations, migration_gb=acc.migration_gb, migration_kg=acc.migration_kg,
                   carbon_op_region_kg=acc.carbon_op_region_kg, renewable_region_kwh=acc.renewable_region_kwh)


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
