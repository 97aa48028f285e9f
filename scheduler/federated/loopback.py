"""Keep a *local* Ray instance on the loopback interface (used by ``carbonshift sweep`` and the Flower
simulation, the two places that start Ray).

In Ray 2.55, ``ray.init(_node_ip_address="127.0.0.1")`` does not restrict anything: Ray replaces a
loopback node address by the machine's external address, and the GCS, raylet, object manager, workers
and the runtime-env agent then listen on all interfaces (the agent on the external address). The
supported switch is ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (Ray's single-machine mode, the default on
macOS/Windows): the node address stays 127.0.0.1 and every Ray server binds to loopback only. Ray reads
the switch once, when ``ray._private.ray_constants`` is imported, so :func:`prepare` also sets the
already-imported constant; :func:`verify` checks the outcome after ``ray.init``. Never use this when
connecting to a multi-machine cluster (``RAY_ADDRESS``).
"""
from __future__ import annotations

import ipaddress
import os

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def prepare() -> None:
    """Before a local ``ray.init``: single-machine mode for this process and every Ray process it starts."""
    os.environ.update(LOOPBACK_ENV)
    from ray._private import ray_constants  # the env var is read at import; Ray may be imported already

    ray_constants.ENABLE_RAY_CLUSTER = False


def is_loopback(host: str) -> bool:
    """``127.0.0.0/8``, ``::1`` or an IPv4-mapped loopback address such as ``::ffff:127.0.0.1``."""
    address = ipaddress.ip_address(host.split("%")[0])
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def verify() -> None:
    """After a local ``ray.init``: raise ``RuntimeError`` unless Ray's node address is loopback."""
    import ray

    node_ip = ray.util.get_node_ip_address()
    if not is_loopback(node_ip):
        raise RuntimeError(f"local Ray instance runs on {node_ip}, not loopback; call "
                           "carbonshift.scheduler.federated.loopback.prepare() before ray.init")
