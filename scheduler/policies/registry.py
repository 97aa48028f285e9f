"""Policies by config name: a registry of policy factories.

A factory ``(dc: DataCenters, seed: int, options: PolicyOptions) -> Policy`` is registered under a config name
with :func:`register_policy`; :func:`make_policy` builds a fresh instance for one simulation. The built-in
policies (:data:`NAMES`) register here; a user's policies live in their own modules, named (comma-separated,
importable from ``PYTHONPATH``) in the environment variable ``CARBONSHIFT_POLICIES``, which are imported
before a name is looked up. A module that fails to import is an error naming the module and its import
error, never "unknown policy". The returned object must satisfy :class:`scheduler.policies.base.Policy`
(``name``, ``clairvoyant``, ``plan``, ``adapt``).
"""
from __future__ import annotations

import math
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from carbonshift.forecast.bounds import MAX_SOLVER_S, bounded
from carbonshift.forecast.data.schema import QUANTILE_LEVELS
from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.baselines import Casper, GreedyCarbon, PerformanceFirst, RandomPolicy, RoundRobin
from carbonshift.scheduler.policies.cooperative import Cooperative, RiskAware
from carbonshift.scheduler.policies.migration import FeasibleMigration
from carbonshift.scheduler.policies.oracle import Oracle
from carbonshift.scheduler.policies.risk_aware import CARBON_RISKS, MISS_PRICE_KG, ChanceConstrained
from carbonshift.scheduler.policies.rolling_milp import RollingMilp
from carbonshift.scheduler.regional.coordinator import Regional

REGIONAL_TRANSPORTS: tuple[str, ...] = ("inprocess", "ray")


@dataclass
class PolicyOptions:
    """Knobs of the carbon-aware policies (config section ``policy_options``)."""

    delay_weight_kg_per_h: float = 0.0     # cooperative/risk-aware: penalty per hour of delay, kgCO2e
    # the forecast-risk term of risk_aware / chance_constrained is off by default (λ 0: the mean forecast); it did
    # not lower realised carbon (issue 20 measurement: scheduler.policies.cooperative, RiskAware)
    risk_quantile: float | None = None     # risk-aware planning quantile; None → mean + λ·half-interval
    risk_lambda: float = 0.0               # λ of the spread rule (risk_aware) and of risk_carbon (chance_constrained)
    risk_duration_margin: float = 0.25     # plan ceil(estimate × (1 + margin)) hours
    # chance_constrained: P(finish ≤ deadline) target (duration quantile it reserves) and the carbon risk term
    risk_deadline_target: float = 0.99
    risk_carbon: str = "cvar"              # cvar (mean + λ·(CVaR_α − mean)) | spread | mean
    risk_alpha: float = 0.9                # CVaR level, one of the forecast quantile levels
    risk_miss_price_kg: float = MISS_PRICE_KG  # chance_constrained: kgCO2e charged per expected missed deadline
    regional_transport: str = "inprocess"  # regional: schedulers in this process | one Ray actor per region
    milp_time_limit_s: float = bounded(8.0, le=MAX_SOLVER_S)   # rolling_milp: HiGHS time limit per daily plan, s

    def __post_init__(self) -> None:
        if self.risk_quantile is not None and self.risk_quantile not in QUANTILE_LEVELS:
            raise ValueError(f"policy_options.risk_quantile: expected one of {QUANTILE_LEVELS} or null, "
                             f"got {self.risk_quantile}")
        for key in ("risk_duration_margin", "delay_weight_kg_per_h", "risk_lambda"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):     # NaN fails too: it would silently switch a term off
                raise ValueError(f"policy_options.{key}: expected a finite number ≥ 0, got {value}")
        if not 0.5 <= self.risk_deadline_target < 1:
            raise ValueError(f"policy_options.risk_deadline_target: expected a probability in [0.5, 1), "
                             f"got {self.risk_deadline_target}")
        if self.risk_carbon not in CARBON_RISKS:
            raise ValueError(f"policy_options.risk_carbon: expected one of {CARBON_RISKS}, got {self.risk_carbon!r}")
        if self.regional_transport not in REGIONAL_TRANSPORTS:
            raise ValueError(f"policy_options.regional_transport: expected one of {REGIONAL_TRANSPORTS}, "
                             f"got {self.regional_transport!r}")
        if not self.milp_time_limit_s > 0:
            raise ValueError(f"policy_options.milp_time_limit_s: expected > 0 s, got {self.milp_time_limit_s}")
        if not self.risk_miss_price_kg >= 0:
            raise ValueError(f"policy_options.risk_miss_price_kg: expected ≥ 0 kgCO2e, got {self.risk_miss_price_kg}")
        if self.risk_alpha not in QUANTILE_LEVELS:
            raise ValueError(f"policy_options.risk_alpha: expected one of {QUANTILE_LEVELS}, got {self.risk_alpha}")


PolicyFactory = Callable[[DataCenters, int, PolicyOptions], Any]
PLUGINS_ENV = "CARBONSHIFT_POLICIES"
_FACTORIES: dict[str, PolicyFactory] = {}
PROTOCOL: tuple[str, ...] = ("name", "clairvoyant", "plan", "adapt")


def register_policy(name: str) -> Callable[[PolicyFactory], PolicyFactory]:
    """Decorator registering ``factory(dc, seed, options) -> Policy`` under config name ``name``.
    Registering a second, different factory under a taken name is a ``ValueError``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"register_policy: policy name must be an identifier, got {name!r}")

    def wrap(factory: PolicyFactory) -> PolicyFactory:
        known = _FACTORIES.get(name)
        if known is not None and _qualname(known) != _qualname(factory):
            raise ValueError(f"register_policy: policy {name!r} is already registered by {_qualname(known)}; "
                             f"choose another name for {_qualname(factory)}")
        _FACTORIES[name] = factory
        return factory

    return wrap


def _qualname(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def import_plugins() -> None:
    """Import the policy modules named in ``CARBONSHIFT_POLICIES`` (comma-separated) so they register; one that
    fails to import is a ``ValueError`` naming it and passing its import error through."""
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise ValueError(f"{PLUGINS_ENV}: policy module {module!r} failed to import "
                             f"({type(exc).__name__}: {exc})") from exc


def policy_names() -> tuple[str, ...]:
    """Every registered policy name: the built-ins (:data:`NAMES`) and those of ``CARBONSHIFT_POLICIES``."""
    import_plugins()
    return tuple(_FACTORIES)


def make_policy(name: str, dc: DataCenters, seed: int = 0, options: PolicyOptions | None = None):
    """A fresh policy instance for registered policy ``name`` (see :func:`policy_names`)."""
    known = policy_names()
    if name not in known:
        raise ValueError(f"unknown policy {name!r}; known: {list(known)} (register your own with "
                         f"@register_policy in a module named in {PLUGINS_ENV})")
    policy = _FACTORIES[name](dc, seed, options or PolicyOptions())
    missing = [a for a in PROTOCOL if not hasattr(policy, a)]
    if missing:
        raise ValueError(f"policy {name!r}: factory {_qualname(_FACTORIES[name])} returned a "
                         f"{type(policy).__name__} without {missing} (the Policy protocol needs {list(PROTOCOL)})")
    return policy


def _regional(dc: DataCenters, seed: int, o: PolicyOptions) -> Regional:
    """In-process regional schedulers; experiments.regional_ray hosts them in Ray actors."""
    if o.regional_transport != "inprocess":
        raise ValueError(f"policy regional: transport {o.regional_transport!r} is built by "
                         f"carbonshift.experiments.regional_ray, not the scheduler core")
    return Regional(dc, delay_weight_kg_per_h=o.delay_weight_kg_per_h)


_BUILTINS: dict[str, PolicyFactory] = {
    "performance_first": lambda dc, seed, o: PerformanceFirst(dc, seed),
    "random": lambda dc, seed, o: RandomPolicy(dc, seed),
    "round_robin": lambda dc, seed, o: RoundRobin(dc, seed),
    "greedy_carbon": lambda dc, seed, o: GreedyCarbon(dc, seed),
    "casper": lambda dc, seed, o: Casper(dc, seed),
    "cooperative": lambda dc, seed, o: Cooperative(dc, delay_weight_kg_per_h=o.delay_weight_kg_per_h),
    "cooperative_suspend": lambda dc, seed, o: Cooperative(dc, delay_weight_kg_per_h=o.delay_weight_kg_per_h,
                                                           interruptible=True, name="cooperative_suspend"),
    "risk_aware": lambda dc, seed, o: RiskAware(dc, quantile=o.risk_quantile, lam=o.risk_lambda,
                                                duration_margin=o.risk_duration_margin,
                                                delay_weight_kg_per_h=o.delay_weight_kg_per_h),
    # fixed margin here; simulate wires the learned estimator's quantile
    "chance_constrained": lambda dc, seed, o: chance_constrained(dc, o, o.risk_duration_margin),
    "regional": _regional,
}
NAMES: tuple[str, ...] = tuple(_BUILTINS)   # the built-in policies (simulate's default list)
for _name, _factory in _BUILTINS.items():
    register_policy(_name)(_factory)


@register_policy("rolling_milp")
def _rolling_milp(dc: DataCenters, seed: int, o: PolicyOptions) -> RollingMilp:
    """One HiGHS MILP over the queued jobs per daily plan, greedy ``chance_constrained`` adaptation between plans
    (fixed margin here; simulate wires the learned conformal quantiles as for ``chance_constrained``). Built in,
    not in :data:`NAMES`: its plans take up to ``milp_time_limit_s`` each, so configs list it explicitly."""
    return rolling_milp(chance_constrained(dc, o, o.risk_duration_margin), o)


def rolling_milp(greedy: ChanceConstrained, o: PolicyOptions) -> RollingMilp:
    """``rolling_milp`` warm-started from and adapting with ``greedy``, with ``o``'s time limit per plan."""
    return RollingMilp(greedy, time_limit_s=o.milp_time_limit_s)


@register_policy("feasible_migration")
def _feasible_migration(dc: DataCenters, seed: int, o: PolicyOptions) -> FeasibleMigration:
    """Cooperative placement + feasibility-aware moves of running jobs (``Decisions.moves``). Built in, but
    not in :data:`NAMES`: a migrating schedule has no oracle bound, so configs list it explicitly."""
    return FeasibleMigration(dc, delay_weight_kg_per_h=o.delay_weight_kg_per_h)


def chance_constrained(dc: DataCenters, o: PolicyOptions, margin) -> ChanceConstrained:  # noqa: ANN001 (Margin)
    """``chance_constrained`` with ``o``'s target, carbon risk term and delay weight and duration ``margin``
    (a fraction, per-row array or ``MarginSource`` at the ``o.risk_deadline_target`` quantile)."""
    return ChanceConstrained(dc, margin, o.risk_deadline_target, o.risk_carbon, o.risk_alpha, o.risk_lambda,
                             o.delay_weight_kg_per_h, miss_price_kg=o.risk_miss_price_kg)


def make_oracle(dc: DataCenters, max_jobs_milp: int = 300, time_limit_s: float = 120.0) -> Oracle:
    return Oracle(dc, max_jobs_milp=max_jobs_milp, time_limit_s=time_limit_s)
