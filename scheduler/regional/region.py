"""One region's scheduler: owns its capacity, reservations and queue of routed jobs; answers every request
with a :class:`~scheduler.regional.messages.Delta`.

``observe`` feeds the region its own cluster (capacity and reserved GPUs per hour, which the simulator owns)
and its planning forecast — local telemetry, not coordination traffic. ``step`` drops released jobs, queues
the routed jobs and drains the queue in the order given: an on-time route takes the start in its window that
minimises carbon (kgCO2e = power kW × PUE × Σ forecast gCO2eq/kWh / 1000 + transfer kg) among starts whose
GPUs are free for the whole run on the region's *own* capacity (ties: earliest); a late route takes the
earliest start that fits; a route that cannot be placed is declined. Released and expired (ended ≤ now)
ledger entries are removed.
"""
from __future__ import annotations

import numpy as np

from carbonshift.scheduler.cost import earliest_fit, fits, prefix
from carbonshift.scheduler.regional.messages import Delta, RegionState, Request, Route, diff


class RegionalScheduler:
    """Scheduler of region ``state.region`` with power usage effectiveness ``pue`` (see module docstring)."""

    def __init__(self, state: RegionState, pue: float):
        self.state, self.pue = state, float(pue)
        self.base = state.copy()          # the state as of the last delta sent
        self.queue: list[Route] = []
        self.now = 0

    @classmethod
    def restored(cls, snapshot: RegionState, pue: float) -> RegionalScheduler:
        """A restarted scheduler continuing from the coordinator's last synced ``snapshot``."""
        return cls(snapshot.copy(), pue)

    def observe(self, now: int, capacity: int, reserved: np.ndarray, forecast: np.ndarray) -> None:
        """This region's cluster at hour ``now``: ``capacity`` GPUs, ``reserved`` [T] GPUs per absolute hour,
        ``forecast`` gCO2eq/kWh for hours now … now + len − 1."""
        s = self.state
        if reserved.shape != s.reserved.shape:
            raise ValueError(f"region {s.region}: observed {reserved.shape} reserved hours, "
                             f"expected {s.reserved.shape}")
        self.now = int(now)
        s.capacity = int(capacity)
        s.reserved[:] = reserved
        s.forecast[now:now + len(forecast)] = forecast
        for j in [j for j, (st, h, _) in s.ledger.items() if st + h <= now]:
            del s.ledger[j]

    def step(self, req: Request) -> Delta:
        """Apply ``req`` (releases, routed jobs) and return the delta since the previous one."""
        s = self.state
        self.now = max(self.now, int(req.now))
        for j in req.release:
            s.ledger.pop(j, None)
        self.queue.extend(req.routes)
        declined = self.drain()
        s.seq += 1
        out = diff(s.region, s.seq, self.base, s, declined)
        self.base = s.copy()
        return out

    def snapshot(self) -> RegionState:
        """Full state (for a resync), as of now."""
        return self.state.copy()

    def drain(self) -> tuple[int, ...]:
        """Place the queued routes in order; returns the jobs declined."""
        declined = []
        while self.queue:
            route = self.queue.pop(0)
            if route.job in self.state.ledger:
                raise ValueError(f"region {self.state.region}: job {route.job} routed here twice")
            start = self.late_start(route) if route.late else self.on_time_start(route)
            if start < 0:
                declined.append(route.job)
                continue
            self.state.reserved[start:start + route.hours] += route.gpus
            self.state.ledger[route.job] = (start, route.hours, route.gpus)
        return tuple(declined)

    def on_time_start(self, r: Route) -> int:
        """Lowest-carbon feasible start in [earliest, latest_start] (ties: earliest); −1 if none."""
        s = self.state
        T = len(s.reserved)
        a, b = max(r.earliest, r.s0, self.now), min(r.latest_start, T - r.hours)
        if b < a:
            return -1
        P = prefix(s.forecast[self.now:])
        rel = np.arange(r.s0 - self.now, b - self.now + 1)
        cost = (r.power_kw * self.pue / 1000.0) * (P[rel + r.hours] - P[rel])
        if r.transfer_kg is not None:
            cost = cost + r.transfer_kg[:len(rel)]
        if r.delay_weight:
            cost = cost + r.delay_weight * np.arange(len(rel))
        ok = fits(s.free()[None, r.s0:b + r.hours], r.gpus, r.hours)[0]
        ok &= np.arange(r.s0, b + 1) >= a
        cost = np.where(ok & np.isfinite(cost), cost, np.inf)
        if not np.isfinite(cost).any():
            return -1
        return r.s0 + int(np.argmin(cost))

    def late_start(self, r: Route) -> int:
        """Earliest start ≥ earliest whose GPUs are free for the whole run; −1 if none before the horizon."""
        return int(earliest_fit(self.state.free()[None, :], r.gpus, r.hours, np.array([r.earliest]))[0])
