"""State and messages of the regional schedulers (spec 000 §4.1).

A region's state (:class:`RegionState`) is its GPU capacity, the GPUs reserved per absolute hour, its
planning forecast per absolute hour (gCO2eq/kWh) and the ledger of the reservations it made (simulator job
row → ``(start hour, hours, GPUs)``). A :class:`Delta` carries what changed since the region's previous
delta — reserved hours, capacity, forecast revisions, ledger entries added/removed, jobs it declined — with
a sequence number (1, 2, … per region) and a digest of the state after the change, so the coordinator
detects a lost, duplicated or out-of-order delta (sequence gap) or a diverged replica (digest mismatch) and
repairs it with a full-state resync. A full-state sync sends the whole :class:`RegionState` every round.
Sizes are ``len(pickle.dumps(message))`` bytes (:func:`nbytes`).
"""
from __future__ import annotations

import pickle
import zlib
from dataclasses import dataclass, field

import numpy as np

Ledger = dict[int, tuple[int, int, int]]      # job row → (start hour, hours, GPUs)


@dataclass
class RegionState:
    """One region's state: ``capacity`` GPUs, ``reserved`` [T] GPUs per absolute hour, ``forecast`` [T]
    gCO2eq/kWh (NaN before the first forecast), the reservation ``ledger`` and the last delta's ``seq``."""

    region: int
    capacity: int
    reserved: np.ndarray
    forecast: np.ndarray
    ledger: Ledger = field(default_factory=dict)
    seq: int = 0

    @classmethod
    def empty(cls, region: int, capacity: int, n_hours: int) -> RegionState:
        return cls(region, int(capacity), np.zeros(n_hours, np.int64), np.full(n_hours, np.nan))

    def copy(self) -> RegionState:
        return RegionState(self.region, self.capacity, self.reserved.copy(), self.forecast.copy(), dict(self.ledger),
                           self.seq)

    def free(self) -> np.ndarray:
        """Free GPUs per absolute hour [T]."""
        return self.capacity - self.reserved

    def digest(self) -> int:
        """CRC-32 of capacity, reserved GPUs, forecast and ledger (the same state gives the same digest)."""
        led = np.array(sorted((j, *v) for j, v in self.ledger.items()), dtype=np.int64).reshape(-1, 4)
        c = zlib.crc32(np.int64(self.capacity).tobytes())
        for part in (self.reserved, self.forecast, led):
            c = zlib.crc32(np.ascontiguousarray(part).tobytes(), c)
        return c

    def apply(self, d: Delta) -> None:
        """Apply delta ``d`` (the caller has checked its sequence number)."""
        if d.capacity is not None:
            self.capacity = d.capacity
        self.reserved[d.reserved_hours] = d.reserved_values
        self.forecast[d.forecast_hours] = d.forecast_values
        for j in d.removed:
            self.ledger.pop(j, None)
        self.ledger.update(d.added)
        self.seq = d.seq


@dataclass(frozen=True)
class Delta:
    """Region → coordinator: the changes since the region's previous delta (see module docstring)."""

    region: int
    seq: int
    reserved_hours: np.ndarray        # int64 absolute hours whose reserved GPUs changed
    reserved_values: np.ndarray       # int64 reserved GPUs there now
    forecast_hours: np.ndarray        # int64 absolute hours whose forecast was revised
    forecast_values: np.ndarray       # float64 gCO2eq/kWh
    added: Ledger
    removed: tuple[int, ...]
    declined: tuple[int, ...]         # routed jobs the region could not place as asked
    capacity: int | None              # new capacity (GPUs), None = unchanged
    digest: int                       # RegionState.digest() after the change

    @property
    def empty(self) -> bool:
        return not (len(self.reserved_hours) or len(self.forecast_hours) or self.added or self.removed
                    or self.declined or self.capacity is not None)


def diff(region: int, seq: int, base: RegionState, now: RegionState, declined: tuple[int, ...]) -> Delta:
    """The delta taking ``base`` to ``now`` (NaN forecasts compare equal), numbered ``seq``."""
    rh = np.flatnonzero(base.reserved != now.reserved)
    same_f = (base.forecast == now.forecast) | (np.isnan(base.forecast) & np.isnan(now.forecast))
    fh = np.flatnonzero(~same_f)
    added = {j: v for j, v in now.ledger.items() if base.ledger.get(j) != v}
    removed = tuple(j for j in base.ledger if j not in now.ledger)
    cap = now.capacity if now.capacity != base.capacity else None
    return Delta(region, seq, rh, now.reserved[rh].copy(), fh, now.forecast[fh].copy(), added, removed,
                 tuple(declined), cap, now.digest())


@dataclass(frozen=True)
class Route:
    """Coordinator → region: place job ``job`` (``gpus`` GPUs for ``hours`` h) starting no earlier than
    ``earliest`` (absolute hour; includes the data transfer to this region). On time (``late`` False): a
    start in [earliest, latest_start] minimising power_kw × PUE × Σ forecast + ``transfer_kg[s − s0]``
    (kgCO2e of moving the data, per start from ``s0``; None at home) + ``delay_weight`` kgCO2e per hour
    after ``s0``. ``late``: the earliest start that fits."""

    job: int
    gpus: int
    hours: int
    earliest: int
    latest_start: int
    power_kw: float
    s0: int
    transfer_kg: np.ndarray | None
    late: bool = False
    delay_weight: float = 0.0         # kgCO2e per hour of delay (Cooperative's delay_weight_kg_per_h)


@dataclass(frozen=True)
class Request:
    """Coordinator → region, one per region per sync round: jobs whose reservations the simulator released
    (drop them from the ledger) and jobs routed to the region's queue."""

    now: int
    round: int
    release: tuple[int, ...] = ()
    routes: tuple[Route, ...] = ()


def nbytes(message: object) -> int:
    """Serialised size of a message, bytes (pickle, highest protocol)."""
    return len(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
