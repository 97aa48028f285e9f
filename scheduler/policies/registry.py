"""Policies by config name."""
from __future__ import annotations

from dataclasses import dataclass

from scheduler.datacenters import DataCenters
from scheduler.policies.baselines import Casper, GreedyCarbon, PerformanceFirst, RandomPolicy, RoundRobin
from scheduler.policies.cooperative import Cooperative, RiskAware
from scheduler.policies.oracle import Oracle

NAMES: tuple[str, ...] = ("performance_first", "random", "round_robin", "greedy_carbon", "casper", "cooperative",
                          "cooperative_suspend", "risk_aware")


@dataclass
class PolicyOptions:
    """Knobs of the carbon-aware policies (config section ``policy_options``)."""

    delay_weight_kg_per_h: float = 0.0     # cooperative/risk-aware: penalty per hour of delay, kgCO2e
    risk_quantile: float | None = 0.9      # risk-aware planning quantile; None → mean + λ·half-interval
    risk_lambda: float = 1.0               # λ for the spread rule
    risk_duration_margin: float = 0.25     # plan ceil(estimate × (1 + margin)) hours

    def __post_init__(self) -> None:
        from forecast.data.schema import QUANTILE_LEVELS

        if self.risk_quantile is not None and self.risk_quantile not in QUANTILE_LEVELS:
            raise ValueError(f"policy_options.risk_quantile: expected one of {QUANTILE_LEVELS} or null, "
                             f"got {self.risk_quantile}")
        if self.risk_duration_margin < 0 or self.delay_weight_kg_per_h < 0:
            raise ValueError("policy_options: risk_duration_margin and delay_weight_kg_per_h must be ≥ 0")


def make_policy(name: str, dc: DataCenters, seed: int = 0, options: PolicyOptions | None = None):
    """A fresh policy instance for ``name`` (one of :data:`NAMES`)."""
    o = options or PolicyOptions()
    if name == "performance_first":
        return PerformanceFirst(dc, seed)
    if name == "random":
        return RandomPolicy(dc, seed)
    if name == "round_robin":
        return RoundRobin(dc, seed)
    if name == "greedy_carbon":
        return GreedyCarbon(dc, seed)
    if name == "casper":
        return Casper(dc, seed)
    if name == "cooperative":
        return Cooperative(dc, delay_weight_kg_per_h=o.delay_weight_kg_per_h)
    if name == "cooperative_suspend":
        return Cooperative(dc, delay_weight_kg_per_h=o.delay_weight_kg_per_h, interruptible=True,
                           name="cooperative_suspend")
    if name == "risk_aware":
        return RiskAware(dc, quantile=o.risk_quantile, lam=o.risk_lambda, duration_margin=o.risk_duration_margin,
                         delay_weight_kg_per_h=o.delay_weight_kg_per_h)
    raise ValueError(f"unknown policy {name!r}; known: {list(NAMES)}")


def make_oracle(dc: DataCenters, max_jobs_milp: int = 300, time_limit_s: float = 120.0) -> Oracle:
    return Oracle(dc, max_jobs_milp=max_jobs_milp, time_limit_s=time_limit_s)
