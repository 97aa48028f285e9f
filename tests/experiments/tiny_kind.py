"""A tiny experiment kind for the experiments-layer tests (registered as ``tiny``).

It mimics the shape of a scheduling result without the scheduler: per-policy carbon (kgCO2e), mean
completion time (h) and reduction vs ``performance_first`` (%) that improve with ``forecast.accuracy``
plus seeded noise, and tables shaped like the ``simulate`` kind's (``policies``, ``regions`` with
renewable share, wide ``hour_of_day`` energy shares per region). ``sleep_s`` lets the resume test kill a sweep mid-way.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from carbonshift.experiments.config import check
from carbonshift.experiments.registry import Context, Result, experiment_kind

POLICIES = ("performance_first", "greedy_carbon", "cooperative")


@dataclass
class TinyForecast:
    accuracy: float = 0.87
    error_model: str = "gaussian"

    def __post_init__(self) -> None:
        check(0.0 < self.accuracy <= 1.0, "accuracy", f"must be in (0, 1], got {self.accuracy}")


@dataclass
class TinyConfig:
    kind: str
    name: str
    seed: int = 0
    forecast: TinyForecast = field(default_factory=TinyForecast)
    n_regions: int = 3
    sleep_s: float = 0.0
    fail: bool = False
    crash_log: str = ""     # non-empty: append a line to this file, then kill the process (a dying Ray worker)


@experiment_kind("tiny", TinyConfig)
def run(config: TinyConfig, ctx: Context) -> Result:
    """Synthetic policy comparison whose reduction grows with forecast accuracy."""
    if config.fail:
        raise RuntimeError("tiny kind asked to fail")
    if config.crash_log:
        with open(config.crash_log, "a") as fh:
            fh.write("attempt\n")
        print("tiny kind: about to crash", flush=True)   # worker stdout, forwarded by Ray when log_to_driver
        os._exit(3)
    time.sleep(config.sleep_s)
    rng = np.random.default_rng(config.seed)
    base = 1000.0
    saving = np.array([0.0, 0.2, 0.5 * config.forecast.accuracy]) + rng.normal(0, 0.01, 3) * [0, 1, 1]
    carbon = base * (1 - saving)
    completion = np.array([26.0, 27.0, 28.0 + 2 * config.forecast.accuracy])
    metrics = {}
    for p, c, h in zip(POLICIES, carbon, completion):
        metrics[f"{p}.carbon_kg"] = float(c)
        metrics[f"{p}.carbon_operational_kg"] = float(0.95 * c)
        metrics[f"{p}.carbon_transfer_kg"] = float(0.05 * c)
        metrics[f"{p}.completion_h_mean"] = float(h)
        metrics[f"{p}.reduction_vs_perf_first"] = float(100 * (1 - c / carbon[0]))
    regions = [f"R{i}" for i in range(config.n_regions)]
    policies = pd.DataFrame({"policy": POLICIES, "carbon_kg": carbon, "carbon_operational_kg": carbon * 0.95,
                             "carbon_transfer_kg": carbon * 0.05, "completion_h_mean": completion})
    renewable = pd.DataFrame({"policy": np.repeat(POLICIES, len(regions)), "region": regions * len(POLICIES),
                              "renewable_share_pct": rng.uniform(20, 90, len(POLICIES) * len(regions))})
    share = rng.dirichlet(np.ones(24 * len(regions)), len(POLICIES)) * 100      # energy share (%) per policy
    hours = pd.DataFrame(share.reshape(len(POLICIES) * 24, len(regions)), columns=regions)
    hours.insert(0, "hour_utc", np.tile(np.arange(24), len(POLICIES)))
    hours.insert(0, "policy", np.repeat(POLICIES, 24))
    return Result(metrics=metrics, tables={"policies": policies, "regions": renewable, "hour_of_day": hours},
                  summary={"regions": regions})
