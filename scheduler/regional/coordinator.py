"""The light coordinator of the regional schedulers and the ``regional`` policy (spec 000 §4.1).

Every policy call (``plan``/``adapt``, hour ``now``) runs sync rounds, one per 15 simulated minutes:

* round 0 (:00) — each region observes its own cluster and forecast (``observe``), drops the jobs whose
  reservations the simulator released (re-planned or blocked jobs it owned) and sends its delta;
* rounds 1, 2, … (:15, :30, :45, then overtime) — the coordinator routes the still-unplaced jobs in
  Algorithm 1's priority order (Table 3 weights, on its replica of every region's forecast): each goes to
  the region with the lowest on-time carbon on the replica (operational + data transfer, kgCO2e; ties:
  earliest start, then lower region), or, when no region has an on-time start, to the region that
  finishes it first (home preferred). The replica is charged tentatively so later jobs see earlier routes.
  Each region places its queue on its *own* capacity and answers with a delta: reservations added, jobs
  declined. A declined job is routed again next round on the corrected replica; after
  :data:`MAX_ROUNDS` rounds it is rejected with the reason.

With fresh replicas the placements equal the centralised :class:`~scheduler.policies.cooperative.Cooperative`
(same costs, priorities and tie-breaks). Only deltas travel; the coordinator keeps a replica
(:class:`~scheduler.regional.messages.RegionState`) per region and checks every delta's sequence number and
digest: a duplicate or out-of-order delta (seq ≤ last) is discarded, a gap (a reply was lost) or a digest
mismatch triggers a full-state resync, and jobs whose reply was lost are settled from the resynced ledger
(placed there → confirmed, absent → routed again). A region silent in a round (reply lost or late) is
probed within the round (up to :data:`MAX_PROBES` times), so its gap is found and repaired before routing
goes on. A scheduler that died (:class:`RegionDown`) is restored from the coordinator's last synced state
plus the hour's observation, and its unconfirmed routes (the lost confirmations) are sent again first, in
the order they were routed — so faults leave the schedule unchanged. A job is in Decisions only once its
region confirmed it, and its row leaves the owner's ledger before it is routed again, so no job is lost
or double-booked. Placements are contiguous runs (no suspend/resume).

Traffic (:class:`SyncStats`): every round sends one request to and receives one delta from every region;
bytes are pickled sizes. The full-state alternative sends the same requests and the region's whole state
instead of the delta. The simulator calls the policy only in hours with events; the other rounds (4 per
simulated hour, less those run) are heartbeats — an empty request and an empty delta (sizes measured once),
or request + whole state with full-state sync. Observations are local telemetry and are not counted.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from carbonshift.scheduler.cost import cheapest_start, earliest_fit, earliest_starts, on_time_window_costs, prefix
from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.base import ClusterState, Decisions, Event, JobsView, Placer, table_rows
from carbonshift.scheduler.policies.cooperative import WEIGHTS, priorities
from carbonshift.scheduler.regional.messages import Delta, RegionState, Request, Route, diff, nbytes
from carbonshift.scheduler.regional.transport import InProcess, RegionDown, Transport
from carbonshift.scheduler.workloads import Jobs

ROUNDS_PER_HOUR = 4          # delta sync every 15 simulated minutes
MINUTES_PER_ROUND = 60 // ROUNDS_PER_HOUR
MAX_ROUNDS = 16              # routing rounds per call before an unplaced job is rejected
MAX_PROBES = 3               # probes of a silent or restored region within one round

TransportFactory = Callable[[DataCenters, int], Transport]


@dataclass
class SyncStats:
    """Coordination traffic and repairs of one run (module docstring)."""

    messages: int = 0                 # requests + deltas actually exchanged in calls
    bytes_delta: int = 0              # their pickled size, bytes
    bytes_full: int = 0               # the same rounds with full-state sync, bytes
    bytes_repair: int = 0             # snapshots sent for resyncs and restores, bytes
    rounds: dict[int, int] = field(default_factory=dict)   # rounds run per simulated hour
    silent: int = 0                   # replies missing in a round (lost or late) → probed at once
    gaps: int = 0                     # sequence gaps detected (lost replies) → resync
    digest_mismatches: int = 0        # replica diverged from the region → resync
    stale: int = 0                    # duplicate / out-of-order deltas discarded
    restarts: int = 0                 # dead schedulers restored from the last synced state
    declined: int = 0                 # routes a region declined (stale replica)
    confirm_round: list[int] = field(default_factory=list)  # round in which each placement was confirmed
    call_ms: list[float] = field(default_factory=list)      # wall time per policy call, ms

    def metrics(self, n_hours: int, n_regions: int, heartbeat_bytes: int, full_idle_bytes: int) -> dict[str, float]:
        """Per-hour traffic over ``n_hours`` simulated hours; idle rounds count as heartbeats. Delta bytes
        include probes and repair snapshots; full-state bytes are the same requests plus every region's whole
        state each round. ``decision_delay_min_mean``: simulated minutes from the call to the confirming round."""
        run = sum(min(v, ROUNDS_PER_HOUR) for v in self.rounds.values())
        idle = ROUNDS_PER_HOUR * n_hours - run
        msgs = self.messages + idle * 2 * n_regions
        b_delta = self.bytes_delta + self.bytes_repair + idle * n_regions * heartbeat_bytes
        b_full = self.bytes_full + idle * full_idle_bytes
        delay = np.asarray(self.confirm_round, dtype=np.float64) * MINUTES_PER_ROUND
        ms = np.asarray(self.call_ms)
        return {"messages_per_h": msgs / n_hours, "bytes_per_h_delta": b_delta / n_hours,
                "bytes_per_h_full": b_full / n_hours, "full_over_delta": b_full / max(b_delta, 1),
                "repair_bytes": float(self.bytes_repair), "resyncs": float(self.gaps + self.digest_mismatches),
                "silent": float(self.silent), "gaps": float(self.gaps),
                "digest_mismatches": float(self.digest_mismatches),
                "stale_discarded": float(self.stale), "restarts": float(self.restarts),
                "declined": float(self.declined),
                "decision_delay_min_mean": float(delay.mean()) if delay.size else float("nan"),
                "rounds_max": float(max(self.rounds.values(), default=0)),
                "decision_ms_mean": float(ms.mean()) if ms.size else float("nan"),
                "decision_ms_p95": float(np.percentile(ms, 95)) if ms.size else float("nan")}


@dataclass
class _Doubt:
    route: Route
    round: int
    start: int          # the coordinator's predicted start (its tentative charge)


class Coordinator:
    """Routes jobs to regional schedulers over ``transport`` and keeps their replicas (module docstring)."""

    def __init__(self, dc: DataCenters, transport: Transport, n_hours: int, delay_weight_kg_per_h: float = 0.0):
        if transport.n != dc.n:
            raise ValueError(f"regional: transport has {transport.n} regions, data centres {dc.n}")
        self.dc, self.transport, self.T = dc, transport, int(n_hours)
        self.delay_weight = float(delay_weight_kg_per_h)
        self.replica = [RegionState.empty(r, int(dc.gpus[r]), self.T) for r in range(dc.n)]
        self.owner: dict[int, int] = {}
        self.doubt: list[dict[int, _Doubt]] = [{} for _ in range(dc.n)]
        self.obs: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        self.stats = SyncStats()
        empty = self.replica[0]
        self.heartbeat_bytes = nbytes(Request(0, 0)) + nbytes(diff(0, 1, empty, empty, ()))
        self.full_bytes = [nbytes(Request(0, 0)) + nbytes(s) for s in self.replica]
        self._pending: list[int] = []      # job rows to route
        self._orphans: list[list[int]] = [[] for _ in range(dc.n)]   # given up unconfirmed: release next call
        self._placed: dict[int, tuple[int, int, int]] = {}     # row → (region, start, hours), this call
        self._round = 0

    # ---- one policy call ------------------------------------------------------------------------------
    def decide(self, jobs: Jobs | JobsView, idx: np.ndarray, now: int, state: ClusterState, view) -> Decisions:
        """Place jobs ``idx`` (rows of ``jobs``) at hour ``now``; see module docstring."""
        t0 = time.perf_counter()
        idx = np.asarray(idx, dtype=np.int64)
        if state.reserved.shape != (self.dc.n, self.T):
            raise ValueError(f"regional: cluster state has shape {state.reserved.shape}, coordinator was built for "
                             f"{(self.dc.n, self.T)} (one policy instance per simulation)")
        rows = table_rows(jobs, idx)
        pos = dict(zip(rows.tolist(), idx.tolist()))
        ci = view.ci_plan(self.T, "mean")
        self.obs = [(int(now), int(state.capacity[r]), state.reserved[r].copy(), ci[r]) for r in range(self.dc.n)]
        release, self._orphans = self._orphans, [[] for _ in range(self.dc.n)]
        for j in rows.tolist():
            if j in self.owner:
                release[self.owner.pop(j)].append(j)
        self._placed, self._round = {}, 0
        for r in range(self.dc.n):
            try:
                self.transport.observe(r, *self.obs[r])
            except RegionDown:
                self._requeue(self._restart(r, self._round + 1))
        self._exchange(now, {r: Request(now, 0, tuple(release[r])) for r in range(self.dc.n)})

        placer = Placer(jobs, now, state, self.dc)
        if len(idx) == 0:
            return placer.decisions()
        ci_rep = np.stack([s.forecast[now:] for s in self.replica])
        P = prefix(ci_rep)
        earliest = np.maximum(jobs.submit_h[idx], now)
        order = np.argsort(-priorities(jobs, idx, now, P, ci_rep, earliest, WEIGHTS), kind="stable")
        self._pending = [int(rows[k]) for k in order.tolist() if placer.fits_anywhere(int(idx[k]))]
        rank = {j: k for k, j in enumerate(self._pending)}
        rejected: dict[int, str] = {}
        while self._pending or any(self.doubt):
            self._round += 1
            if self._round > MAX_ROUNDS:
                for j in self._pending + [j for d in self.doubt for j in d]:
                    rejected[j] = f"regional: no region confirmed a placement within {MAX_ROUNDS} sync rounds"
                for r, d in enumerate(self.doubt):
                    self._orphans[r].extend(d)
                self.doubt = [{} for _ in range(self.dc.n)]
                break
            self._pending.sort(key=rank.__getitem__)         # jobs routed again keep their priority order
            batches = self._route(jobs, pos, now, ci_rep, P, rejected)
            self._exchange(now, {r: Request(now, self._round, (), tuple(b)) for r, b in enumerate(batches)})
        for j, (r, s, h) in self._placed.items():
            placer.commit(pos[j], r, s, h)
        for j, why in rejected.items():
            placer.reject(pos[j], why)
        self.stats.call_ms.append((time.perf_counter() - t0) * 1000.0)
        return placer.decisions()

    # ---- routing --------------------------------------------------------------------------------------
    def _route(self, jobs, pos: dict[int, int], now: int, ci: np.ndarray, P: np.ndarray,
               rejected: dict[int, str]) -> list[list[Route]]:
        """This round's routes per region for the pending jobs (priority order), charging ``free``."""
        free = np.stack([s.free() for s in self.replica])
        for r, held in enumerate(self.doubt):
            for e in held.values():
                free[r, e.start:e.start + e.route.hours] -= e.route.gpus
        batches: list[list[Route]] = [[] for _ in range(self.dc.n)]
        for j in self._pending:
            i = pos[j]
            d = int(jobs.est_duration_h[i])
            a_r = self._earliest(jobs, i, now)
            got = self._on_time(jobs, i, d, a_r, free, ci, P, now, j)
            if got is None:
                got = self._late(jobs, i, d, a_r, free, j)
            if got is None:
                rejected[j] = (f"unschedulable: no region has {jobs.gpus[i]} free GPUs for {d} h before the "
                               f"horizon ends (hour {self.T})")
                continue
            r, start, route = got
            free[r, start:start + d] -= route.gpus
            batches[r].append(route)
            self.doubt[r][j] = _Doubt(route, self._round, start)
        self._pending = []
        return batches

    def _earliest(self, jobs, i: int, now: int) -> np.ndarray:
        """Earliest start per region [R]: now or submit, plus the data transfer away from home."""
        tr_h = int(self.dc.transfer_hours(np.asarray([jobs.data_gb[i]]))[0])
        return earliest_starts(self.dc.n, jobs.home[i], max(now, int(jobs.submit_h[i])), tr_h)

    def _on_time(self, jobs, i: int, d: int, a_r: np.ndarray, free: np.ndarray, ci: np.ndarray, P: np.ndarray,
                 now: int, j: int) -> tuple[int, int, Route] | None:
        """(region, predicted start, route) with the lowest on-time carbon on the replica, or None."""
        if free.shape[1] != self.T:
            raise ValueError(f"replica free capacity covers {free.shape[1]} h, the coordinator {self.T} h")
        grid = on_time_window_costs(self.dc, jobs, i, now, a_r, free, ci, P, d, delay_weight=self.delay_weight)
        if grid is None:
            return None
        r, start, _ = cheapest_start(*grid)
        if r < 0:
            return None
        s0, S = grid[0], grid[1].shape[1]
        rel, home = np.arange(s0 - now, s0 - now + S), int(jobs.home[i])
        tr = None if r == home else self.dc.transfer_carbon_kg(jobs.data_gb[i], ci[home, rel], ci[r, rel])
        route = Route(j, int(jobs.gpus[i]), d, int(a_r[r]), s0 + S - 1, float(jobs.power_kw[i]), s0, tr,
                      delay_weight=self.delay_weight)
        return r, start, route

    def _late(self, jobs, i: int, d: int, a_r: np.ndarray, free: np.ndarray,
              j: int) -> tuple[int, int, Route] | None:
        """(region, start, route) finishing first on the replica (home preferred on ties), or None."""
        starts = earliest_fit(free, int(jobs.gpus[i]), d, a_r)
        if (starts < 0).all():
            return None
        key = np.where(starts >= 0, starts, np.iinfo(np.int64).max).astype(float)
        key[jobs.home[i]] -= 0.5
        r = int(np.argmin(key))
        return r, int(starts[r]), Route(j, int(jobs.gpus[i]), d, int(a_r[r]), self.T - d,
                                        float(jobs.gpus[i] * jobs.gpu_kw[i]), int(a_r[r]), None, late=True)

    # ---- messages -------------------------------------------------------------------------------------
    def _exchange(self, now: int, requests: dict[int, Request]) -> None:
        """One sync round: send every request and check the deltas. A silent region (its reply lost or late)
        is probed at once — the probe's delta shows the sequence gap and triggers a resync; a dead one is
        restored and sent its unconfirmed routes again, in the order they were routed."""
        st = self.stats
        st.rounds[now] = st.rounds.get(now, 0) + 1
        for _ in range(MAX_PROBES + 1):
            for req in requests.values():
                b = nbytes(req)
                st.messages += 1
                st.bytes_delta += b
                st.bytes_full += b
            results = self.transport.step_many(requests)
            again: dict[int, Request] = {}
            for r in sorted(results):
                res = results[r]
                if isinstance(res, RegionDown):
                    lost = self._restart(r, self._round + 1)
                    for e in lost:
                        self.doubt[r][e.route.job] = _Doubt(e.route, self._round, e.start)
                    again[r] = Request(now, self._round, requests[r].release, tuple(e.route for e in lost))
                    continue
                if not res:
                    st.silent += 1
                    again[r] = Request(now, self._round)
                for delta in res:
                    st.messages += 1
                    st.bytes_delta += nbytes(delta)
                    self._receive(r, delta)
                size = nbytes(self.replica[r])
                st.bytes_full += size
                self.full_bytes[r] = nbytes(Request(0, 0)) + size
            if not again:
                return
            requests = again
        raise RuntimeError(f"regional: regions {sorted(requests)} still silent or down after {MAX_PROBES} probes "
                           f"at hour {now}")

    def _receive(self, r: int, delta: Delta) -> None:
        rep = self.replica[r]
        if delta.region != r:
            raise ValueError(f"regional: delta from region {delta.region} arrived on region {r}'s channel")
        if delta.seq <= rep.seq:
            self.stats.stale += 1
            return
        if delta.seq > rep.seq + 1:
            self.stats.gaps += 1
            self._resync(r)
            return
        rep.apply(delta)
        if rep.digest() != delta.digest:
            self.stats.digest_mismatches += 1
            self._resync(r)
            return
        for j in list(self.doubt[r]):
            if j in delta.added:
                self._confirm(r, j, delta.added[j])
            elif j in delta.declined:
                del self.doubt[r][j]
                self.stats.declined += 1
                self._pending.append(j)

    def _resync(self, r: int) -> None:
        """Replace region ``r``'s replica by its full state; settle its unconfirmed routes from the ledger."""
        try:
            snap = self.transport.snapshot(r)
        except RegionDown:                       # the restored ledger lacks what died with it: route again
            self._requeue(self._restart(r, self._round + 1))
            return
        self.stats.bytes_repair += nbytes(snap)
        self.replica[r] = snap.copy()
        self._requeue(self._settle(r, self._round + 1))

    def _restart(self, r: int, before: int) -> list[_Doubt]:
        """Restore dead region ``r`` from the last synced replica and this hour's observation; returns its
        unconfirmed routes of rounds < ``before`` that died with it (:meth:`_settle`)."""
        self.stats.restarts += 1
        snap = self.replica[r].copy()
        self.stats.bytes_repair += nbytes(snap)
        self.transport.restore(r, snap)
        if self.obs:
            self.transport.observe(r, *self.obs[r])
        return self._settle(r, before)

    def _settle(self, r: int, before: int) -> list[_Doubt]:
        """Unconfirmed routes to ``r`` sent before round ``before``: in the replica's ledger → confirmed; the
        others are returned (in the order they were routed) and leave the doubt list."""
        lost = []
        for j, e in list(self.doubt[r].items()):
            if e.round >= before:
                continue
            if j in self.replica[r].ledger:
                self._confirm(r, j, self.replica[r].ledger[j])
            else:
                del self.doubt[r][j]
                lost.append(e)
        return lost

    def _requeue(self, lost: list[_Doubt]) -> None:
        self._pending.extend(e.route.job for e in lost)

    def _confirm(self, r: int, j: int, entry: tuple[int, int, int]) -> None:
        start, hours, gpus = entry
        del self.doubt[r][j]
        if j in self._placed:
            raise RuntimeError(f"regional: job {j} confirmed twice (regions {self._placed[j][0]} and {r})")
        self._placed[j] = (r, start, hours)
        self.owner[j] = r
        self.stats.confirm_round.append(self._round)
        self.obs[r][2][start:start + hours] += gpus      # the cluster will hold it once the simulator applies it

    # ---- reporting ------------------------------------------------------------------------------------
    def metrics(self, n_hours: int | None = None) -> dict[str, float]:
        return self.stats.metrics(n_hours or self.T, self.dc.n, self.heartbeat_bytes, sum(self.full_bytes))


def in_process(dc: DataCenters, n_hours: int) -> InProcess:
    """The default transport: regional schedulers in this process."""
    return InProcess(dc.gpus, dc.pue, n_hours)


class Regional:
    """Policy ``regional``: one scheduler per region behind a light coordinator (module docstring). The
    transport (in-process by default) is built at the first call, when the horizon is known.
    ``delay_weight_kg_per_h``: Cooperative's penalty per hour of delay, kgCO2e."""

    clairvoyant = False

    def __init__(self, dc: DataCenters, transport: TransportFactory = in_process, name: str = "regional",
                 delay_weight_kg_per_h: float = 0.0):
        if delay_weight_kg_per_h < 0:
            raise ValueError(f"{name}: delay_weight_kg_per_h must be ≥ 0, got {delay_weight_kg_per_h}")
        self.dc, self.make_transport, self.name = dc, transport, name
        self.delay_weight = float(delay_weight_kg_per_h)
        self.coordinator: Coordinator | None = None

    def _coord(self, state: ClusterState) -> Coordinator:
        if self.coordinator is None:
            T = state.reserved.shape[1]
            self.coordinator = Coordinator(self.dc, self.make_transport(self.dc, T), T, self.delay_weight)
        return self.coordinator

    def plan(self, jobs: Jobs | JobsView, idx: np.ndarray, now: int, state: ClusterState, view) -> Decisions:
        return self._coord(state).decide(jobs, idx, now, state, view)

    def adapt(self, event: Event, jobs: Jobs | JobsView, now: int, state: ClusterState, view) -> Decisions:
        return self.plan(jobs, event.jobs, now, state, view)

    def sync_metrics(self, n_hours: int) -> dict[str, float]:
        """Traffic, repairs and decision latency over ``n_hours`` simulated hours (:class:`SyncStats`)."""
        if self.coordinator is None:
            raise ValueError(f"{self.name}: no policy call yet, nothing to report")
        return self.coordinator.metrics(n_hours)

    def close(self) -> None:
        if self.coordinator is not None:
            self.coordinator.transport.close()
