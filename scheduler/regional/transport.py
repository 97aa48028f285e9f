"""How the coordinator reaches the regional schedulers.

A transport hosts one :class:`~scheduler.regional.region.RegionalScheduler` per region and carries
``observe`` (local telemetry, not counted as traffic), ``step`` (a round's request → the deltas that arrive,
in arrival order: none when the reply was lost, two when a delayed one arrives late), ``snapshot`` (full
state for a resync) and ``restore`` (restart a dead scheduler from a snapshot). A dead scheduler raises
:class:`RegionDown`. :class:`InProcess` is the default; ``experiments.regional_ray`` hosts each region in a
Ray actor. :class:`InProcess` can inject faults for tests: ``kill`` (the scheduler dies now),
``crash_after_next`` (it handles the next request, its reply is lost, then it dies), ``drop_next`` (the
next reply is lost) and ``delay_next`` (the next reply arrives after the following one).
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from carbonshift.scheduler.regional.messages import Delta, RegionState, Request
from carbonshift.scheduler.regional.region import RegionalScheduler


class RegionDown(RuntimeError):
    """The scheduler of a region is not running (it died and has not been restored)."""

    def __init__(self, region: int, why: str = "not running"):
        super().__init__(f"regional scheduler {region}: {why}")
        self.region = region


class Transport(Protocol):
    n: int

    def observe(self, r: int, now: int, capacity: int, reserved: np.ndarray, forecast: np.ndarray) -> None: ...

    def step_many(self, requests: dict[int, Request]) -> dict[int, list[Delta] | RegionDown]: ...

    def snapshot(self, r: int) -> RegionState: ...

    def restore(self, r: int, snapshot: RegionState) -> None: ...

    def close(self) -> None: ...


class InProcess:
    """Regional schedulers as plain objects in this process, with fault injection (module docstring)."""

    def __init__(self, capacity: np.ndarray, pue: np.ndarray, n_hours: int):
        self.n = len(capacity)
        self.pue = np.asarray(pue, dtype=np.float64)
        self.regions: list[RegionalScheduler | None] = [
            RegionalScheduler(RegionState.empty(r, int(capacity[r]), n_hours), self.pue[r]) for r in range(self.n)]
        self._drop: dict[int, int] = {}
        self._delay: set[int] = set()
        self._held: dict[int, Delta] = {}
        self._crash: set[int] = set()

    def _live(self, r: int) -> RegionalScheduler:
        region = self.regions[r]
        if region is None:
            raise RegionDown(r, "died")
        return region

    def observe(self, r: int, now: int, capacity: int, reserved: np.ndarray, forecast: np.ndarray) -> None:
        self._live(r).observe(now, capacity, reserved, forecast)

    def step_many(self, requests: dict[int, Request]) -> dict[int, list[Delta] | RegionDown]:
        out: dict[int, list[Delta] | RegionDown] = {}
        for r, req in requests.items():
            try:
                out[r] = self._deliver(r, self._live(r).step(req))
            except RegionDown as e:
                out[r] = e
        return out

    def _deliver(self, r: int, delta: Delta) -> list[Delta]:
        if r in self._crash:
            self._crash.discard(r)
            self.regions[r] = None
            return []
        if self._drop.get(r, 0) > 0:
            self._drop[r] -= 1
            return []
        if r in self._delay:
            self._delay.discard(r)
            self._held[r] = delta
            return []
        held = self._held.pop(r, None)
        return [delta] if held is None else [delta, held]

    def snapshot(self, r: int) -> RegionState:
        return self._live(r).snapshot()

    def restore(self, r: int, snapshot: RegionState) -> None:
        self.regions[r] = RegionalScheduler.restored(snapshot, self.pue[r])
        self._held.pop(r, None)

    def close(self) -> None:
        """Nothing to release in-process."""

    # fault injection (tests)
    def kill(self, r: int) -> None:
        self.regions[r] = None

    def crash_after_next(self, r: int) -> None:
        self._crash.add(r)

    def drop_next(self, r: int, n: int = 1) -> None:
        self._drop[r] = self._drop.get(r, 0) + n

    def delay_next(self, r: int) -> None:
        self._delay.add(r)
