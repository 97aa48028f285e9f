"""Regional schedulers hosted in Ray actors (``policy_options.regional_transport: ray``).

Each region's :class:`~scheduler.regional.region.RegionalScheduler` lives in one Ray actor (``num_cpus=0``:
they wait on messages, the coordinator drives them) created with ``max_restarts``. Ray restarts a dead actor
with its constructor; the restarted actor knows it was reconstructed and refuses work until the coordinator
restores it from its last synced state (:meth:`RayTransport.restore`), so a restart can never silently
continue from an empty ledger. A round's requests go to every actor at once and are awaited together.
``observe`` is sent without waiting (Ray runs one caller's tasks on an actor in order, so it lands before the
next step; if it failed, that step fails too and the coordinator restores and re-sends).

Ray is started on loopback only (:func:`experiments.ray_setup.init_ray`, which uses
``scheduler.federated.loopback``), or joins the cluster named by ``RAY_ADDRESS``.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from carbonshift.experiments.ray_setup import init_ray
from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.regional import Delta, Regional, RegionalScheduler, RegionDown, RegionState, Request

MAX_RESTARTS = 3          # Ray restarts of one region's actor per run
RESTORE_TIMEOUT_S = 60.0  # how long restore waits for Ray to bring a dead actor back


class RegionActor:
    """Ray actor body: one region's scheduler (module docstring)."""

    def __init__(self, region: int, capacity: int, pue: float, n_hours: int):
        import ray

        self.r, self.pue = region, pue
        fresh = not ray.get_runtime_context().was_current_actor_reconstructed
        self.region = RegionalScheduler(RegionState.empty(region, capacity, n_hours), pue) if fresh else None

    def _live(self) -> RegionalScheduler:
        if self.region is None:
            raise RegionDown(self.r, "restarted by Ray, waiting to be restored from the last synced state")
        return self.region

    def observe(self, now: int, capacity: int, reserved: np.ndarray, forecast: np.ndarray) -> None:
        self._live().observe(now, capacity, reserved, forecast)

    def step(self, req: Request) -> Delta:
        return self._live().step(req)

    def snapshot(self) -> RegionState:
        return self._live().snapshot()

    def restore(self, snapshot: RegionState) -> None:
        self.region = RegionalScheduler.restored(snapshot, self.pue)


class RayTransport:
    """Transport with one Ray actor per region (module docstring)."""

    def __init__(self, dc: DataCenters, n_hours: int, max_restarts: int = MAX_RESTARTS):
        import ray

        self.n = dc.n
        self._started = init_ray()
        actor = ray.remote(num_cpus=0, max_restarts=max_restarts, max_task_retries=0)(RegionActor)
        # Ray actor handles (ray.actor.ActorHandle): Ray types their methods' ``.remote`` only for methods decorated
        # with @ray.method, which would import Ray with this module (instances imports it at module level)
        self.actors: list[Any] = [actor.remote(r, int(dc.gpus[r]), float(dc.pue[r]), int(n_hours)) for r in range(dc.n)]

    def _get(self, r: int, ref):  # noqa: ANN001 (ray.ObjectRef)
        """``ray.get`` that turns a dead, restarting or not-yet-restored actor into :class:`RegionDown`."""
        import ray
        from ray.exceptions import ActorUnavailableError, RayActorError, RayTaskError

        try:
            return ray.get(ref)
        except (RayActorError, ActorUnavailableError) as e:
            raise RegionDown(r, f"actor died ({type(e).__name__})") from e
        except RayTaskError as e:
            if isinstance(e.cause, RegionDown):
                raise RegionDown(r, str(e.cause)) from e
            raise

    def observe(self, r: int, now: int, capacity: int, reserved: np.ndarray, forecast: np.ndarray) -> None:
        self.actors[r].observe.remote(now, capacity, reserved, forecast)

    def step_many(self, requests: dict[int, Request]) -> dict[int, list[Delta] | RegionDown]:
        refs = {r: self.actors[r].step.remote(req) for r, req in requests.items()}
        out: dict[int, list[Delta] | RegionDown] = {}
        for r, ref in refs.items():
            try:
                out[r] = [self._get(r, ref)]
            except RegionDown as e:
                out[r] = e
        return out

    def snapshot(self, r: int) -> RegionState:
        return self._get(r, self.actors[r].snapshot.remote())

    def restore(self, r: int, snapshot: RegionState) -> None:
        """Restore region ``r``'s actor (restarted by Ray) from ``snapshot``; waits for the restart."""
        deadline = time.monotonic() + RESTORE_TIMEOUT_S
        while True:
            try:
                return self._get(r, self.actors[r].restore.remote(snapshot))
            except RegionDown as e:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"regional scheduler {r}: Ray did not restart its actor within "
                                       f"{RESTORE_TIMEOUT_S:.0f} s (max_restarts spent?)") from e
                time.sleep(0.1)

    def kill(self, r: int) -> None:
        """Kill region ``r``'s actor (Ray restarts it; tests and fault drills)."""
        import ray

        ray.kill(self.actors[r], no_restart=False)

    def close(self) -> None:
        import ray

        for a in self.actors:
            ray.kill(a, no_restart=True)
        if self._started:
            ray.shutdown()


def ray_transport(dc: DataCenters, n_hours: int) -> RayTransport:
    return RayTransport(dc, n_hours)


def ray_regional(dc: DataCenters, delay_weight_kg_per_h: float = 0.0) -> Regional:
    """Policy ``regional`` with its schedulers in Ray actors (started at the first policy call);
    ``delay_weight_kg_per_h``: Cooperative's penalty per hour of delay, kgCO2e."""
    return Regional(dc, ray_transport, delay_weight_kg_per_h=delay_weight_kg_per_h)
