"""This process's rank when a DDP launcher started it: under several devices (``trainer.strategy: ddp``) every
rank runs the command, and only rank 0 records an MLflow run and writes reports."""
from __future__ import annotations

import os

from carbonshift.experiments.config import ConfigError

RANK_VARS: tuple[str, ...] = ("RANK", "LOCAL_RANK", "NODE_RANK")


def distributed_rank() -> int:
    """This process's rank when a DDP launcher started it, else 0. Lightning's ``ddp`` strategy re-launches the
    running command once per extra device with ``LOCAL_RANK``/``NODE_RANK`` set (torchrun sets ``RANK``); any of
    them non-zero makes this a worker rank."""
    ranks = []
    for var in RANK_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            try:
                ranks.append(int(value))
            except ValueError:
                raise ConfigError(f"environment variable {var}={value!r}: expected a process rank (integer)") from None
    return max(ranks, default=0)
