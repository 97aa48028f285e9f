"""Policies by config name."""
from __future__ import annotations

from dataclasses import dataclass

from scheduler.datacenters import DataCenters
from scheduler.policies.baselines import Casper, GreedyCarbon, PerformanceFirst, RandomPolicy, RoundRobin
from scheduler.policies.cooperative import Cooperative, RiskAware
from scheduler.policies.oracle import Oracle
from scheduler.policies.risk_aware import CARBON_RISKS, ChanceConstrained
from scheduler.regional.coordinator import Regional

NAMES: tuple[str, ...] = ("performance_first", "random", "round_robin", "greedy_carbon", "casper", "cooperative",
                          "cooperative_suspend", "risk_aware", "chance_constrained", "regional")
REGIONAL_TRANSPORTS: tuple[str, ...] = ("inprocess", "ray")


@dataclass
class PolicyOptions:
    """Knobs of the carbon-aware policies (config section ``policy_options``)."""

    delay_weight_kg_per_h: float = 0.0     # cooperative/risk-aware: penalty per hour of delay, kgCO2e
    risk_quantile: float | None = 0.9      # risk-aware planning quantile; None → mean + λ·half-interval
    risk_lambda: float = 1.0               # λ for the spread rule
    risk_duration_margin: float = 0.25     # plan ceil(estimate × (1 + margin)) hours
    # chance_constrained: P(finish ≤ deadline) target (duration quantile it reserves) and the carbon risk term
    risk_deadline_target: float = 0.99
    risk_carbon: str = "cvar"              # cvar (mean + λ·(CVaR_α − mean)) | spread | mean
    risk_alpha: float = 0.9                # CVaR level, one of the forecast quantile levels
    regional_transport: str = "inprocess"  # regional: schedulers in this process | one Ray actor per region

    def __post_init__(self) -> None:
        from forecast.data.schema import QUANTILE_LEVELS

        if self.risk_quantile is not None and self.risk_quantile not in QUANTILE_LEVELS:
            raise ValueError(f"policy_options.risk_quantile: expected one of {QUANTILE_LEVELS} or null, "
                             f"got {self.risk_quantile}")
        if self.risk_duration_margin < 0 or self.delay_weight_kg_per_h < 0:
            raise ValueError("policy_options: risk_duration_margin and delay_weight_kg_per_h must be ≥ 0")
        if not 0.5 <= self.risk_deadline_target < 1:
            raise ValueError(f"policy_options.risk_deadline_target: expected a probability in [0.5, 1), "
                             f"got {self.risk_deadline_target}")
        if self.risk_carbon not in CARBON_RISKS:
            raise ValueError(f"policy_options.risk_carbon: expected one of {CARBON_RISKS}, got {self.risk_carbon!r}")
        if self.regional_transport not in REGIONAL_TRANSPORTS:
            raise ValueError(f"policy_options.regional_transport: expected one of {REGIONAL_TRANSPORTS}, "
                             f"got {self.regional_transport!r}")
        if self.risk_alpha not in QUANTILE_LEVELS or self.risk_lambda < 0:
            raise ValueError(f"policy_options.risk_alpha: expected one of {QUANTILE_LEVELS} (got {self.risk_alpha}); "
                             f"risk_lambda must be ≥ 0")


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
    if name == "chance_constrained":   # fixed margin here; simulate wires the learned estimator's quantile
        return chance_constrained(dc, o, o.risk_duration_margin)
    if name == "regional":   # in-process schedulers; experiments.regional_ray hosts them in Ray actors
        if o.regional_transport != "inprocess":
            raise ValueError(f"policy regional: transport {o.regional_transport!r} is built by "
                             f"experiments.regional_ray, not the scheduler core")
        return Regional(dc)
    raise ValueError(f"unknown policy {name!r}; known: {list(NAMES)}")


def chance_constrained(dc: DataCenters, o: PolicyOptions, margin) -> ChanceConstrained:  # noqa: ANN001 (Margin)
    """``chance_constrained`` with ``o``'s target, carbon risk term and delay weight and duration ``margin``
    (a fraction, per-row array or ``MarginSource`` at the ``o.risk_deadline_target`` quantile)."""
    return ChanceConstrained(dc, margin, o.risk_deadline_target, o.risk_carbon, o.risk_alpha, o.risk_lambda,
                             o.delay_weight_kg_per_h)


def make_oracle(dc: DataCenters, max_jobs_milp: int = 300, time_limit_s: float = 120.0) -> Oracle:
    return Oracle(dc, max_jobs_milp=max_jobs_milp, time_limit_s=time_limit_s)
