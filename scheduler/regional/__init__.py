"""Regional schedulers that coordinate by delta updates (spec 000 §4.1).

One :class:`~scheduler.regional.region.RegionalScheduler` per region owns that region's capacity, ledger of
reservations and queue; a light :class:`~scheduler.regional.coordinator.Coordinator` routes jobs to regions
by priority and carbon and keeps a replica of every region, updated by sequence-numbered deltas
(reservations added/removed, capacity, forecast revisions) in sync rounds of 15 simulated minutes (4 per
hour). Plain Python: regions are reached through a transport (in-process by default; Ray actors in
``experiments.regional_ray``). :class:`~scheduler.regional.coordinator.Regional` is the ``regional`` policy.
"""
from carbonshift.scheduler.regional.coordinator import MAX_ROUNDS, ROUNDS_PER_HOUR, Coordinator, Regional, SyncStats, in_process
from carbonshift.scheduler.regional.messages import Delta, RegionState, Request, Route
from carbonshift.scheduler.regional.region import RegionalScheduler
from carbonshift.scheduler.regional.transport import InProcess, RegionDown, Transport

__all__ = ["MAX_ROUNDS", "ROUNDS_PER_HOUR", "Coordinator", "Delta", "InProcess", "RegionDown", "RegionState",
           "Regional", "RegionalScheduler", "Request", "Route", "SyncStats", "Transport", "in_process"]
