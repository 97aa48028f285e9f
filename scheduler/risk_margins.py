"""Duration margins of the ``risk_aware`` policy: a fixed margin, or per-job margins learned by a
:class:`scheduler.duration.DurationEstimator` fitted on a prior job history (jobs finished before hour 0); and
``chance_constrained`` with :class:`~scheduler.policies.risk_aware.ConformalMargins` calibrated on such a history.

Pure scheduling (no MLflow, no Ray). Durations are in hours; a margin ``m`` plans
``ceil(estimate × (1 + m))`` hours for a job.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.duration import (JOBS_CATEGORICAL, JOBS_NUMERIC, JOBS_TIME_COLS, DurationEstimator, EstimatorMargins,
                                error_metrics, jobs_history, prior_history)
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.policies.cooperative import RiskAware
from carbonshift.scheduler.policies.registry import PolicyOptions, chance_constrained
from carbonshift.scheduler.policies.risk_aware import ChanceConstrained, ConformalMargins
from carbonshift.scheduler.workloads import Jobs


def covered_pct(jobs: Jobs, margins: np.ndarray) -> float:
    """Share (%) of jobs whose planned hours ``ceil(estimate × (1 + margin))`` cover the true duration."""
    planned = np.ceil(jobs.est_duration_h * (1.0 + margins) - 1e-9)
    return float(100.0 * np.mean(jobs.duration_h <= planned))


def fixed_margin_metrics(jobs: Jobs, margin: float) -> dict[str, float]:
    """``duration.margin_mean`` and ``duration.covered_pct`` of the one margin ``margin`` for every job."""
    return {"duration.margin_mean": margin, "duration.covered_pct": covered_pct(jobs, np.full(len(jobs), margin))}


def fixed_risk_aware(dc: DataCenters, options: PolicyOptions, pad_to_fit: bool) -> RiskAware:
    """``risk_aware`` with the one margin ``options.risk_duration_margin`` for every job."""
    return RiskAware(dc, quantile=options.risk_quantile, lam=options.risk_lambda,
                     duration_margin=options.risk_duration_margin,
                     delay_weight_kg_per_h=options.delay_weight_kg_per_h, pad_to_fit=pad_to_fit)


def fit_prior_estimator(spec: GeneratorSpec, n_regions: int, level: float, max_iter: int,
                        seed: int) -> DurationEstimator:
    """Duration estimator (quantiles 0.5 and ``level``) fitted on the jobs ``spec`` generates with
    ``seed + 1``, all treated as finished before hour 0."""
    past = prior_history(generate(spec, n_regions, seed + 1))
    est = DurationEstimator(numeric=JOBS_NUMERIC, categorical=JOBS_CATEGORICAL, quantiles=(0.5, level),
                            max_iter=max_iter, seed=seed, time_cols=JOBS_TIME_COLS)
    return est.fit(past)


@dataclass
class LearnedRiskAware:
    """``risk_aware`` with learned margins: the policy, its margin source (also the simulator's feedback
    object) and ``duration.*`` metrics of the prior estimator on the simulated jobs, before any feedback."""

    policy: RiskAware
    source: EstimatorMargins
    metrics: dict[str, float] = field(default_factory=dict)


def learned_risk_aware(dc: DataCenters, jobs: Jobs, spec: GeneratorSpec, options: PolicyOptions, level: float,
                       feedback: str, update_every: int, max_iter: int, pad_to_fit: bool,
                       seed: int) -> LearnedRiskAware:
    """Fit the prior estimator on ``spec`` (see :func:`fit_prior_estimator`) and wire its per-job margins
    ``q_level / median − 1`` into ``risk_aware``; ``feedback`` (none | observe | update) says what the
    simulator's finished jobs do to the estimator."""
    t0 = time.perf_counter()
    est = fit_prior_estimator(spec, dc.n, level, max_iter, seed)
    fit_s = time.perf_counter() - t0
    source = EstimatorMargins(est, jobs, level, feedback, update_every)
    pred = est.predict(jobs_history(jobs))
    initial = source.margins(np.arange(len(jobs)))
    acc = error_metrics(jobs.duration_h, pred["estimate"].to_numpy())
    metrics = {"duration.margin_mean": float(initial.mean()), "duration.margin_p90": float(np.percentile(initial, 90)),
               "duration.covered_pct": covered_pct(jobs, initial), "duration.fit_seconds": fit_s,
               "duration.prior_within_20pct": acc["within_20pct"], "duration.prior_mape_pct": acc["mape_pct"],
               "duration.profiled_within_20pct": error_metrics(jobs.duration_h, jobs.est_duration_h)["within_20pct"]}
    policy = RiskAware(dc, quantile=options.risk_quantile, lam=options.risk_lambda, duration_margin=source,
                       delay_weight_kg_per_h=options.delay_weight_kg_per_h, pad_to_fit=pad_to_fit)
    return LearnedRiskAware(policy, source, metrics)


def learned_chance_constrained(dc: DataCenters, jobs: Jobs, spec: GeneratorSpec, options: PolicyOptions, feedback: str,
                               seed: int) -> tuple[ChanceConstrained, ConformalMargins, dict[str, float]]:
    """``chance_constrained`` reserving the ``options.risk_deadline_target`` duration quantile of
    :class:`ConformalMargins` calibrated on a prior history of ``spec`` (drawn with ``seed + 1``, all
    finished before hour 0). Returns (policy, margin
    source = the simulator's feedback object, ``duration.*`` metrics: margins, ``covered_pct`` = share of
    the simulated jobs whose reservation covers their true duration (the chance constraint's realised
    level before feedback), the per-bin ratios and ``n_pooled_bins``)."""
    past = prior_history(generate(spec, dc.n, seed + 1))
    source = ConformalMargins(past["requested_h"].to_numpy(), past["duration"].to_numpy(), jobs,
                              options.risk_deadline_target, feedback)
    initial = source.margins(np.arange(len(jobs)))
    metrics = {"duration.margin_mean": float(initial.mean()), "duration.margin_p90": float(np.percentile(initial, 90)),
               "duration.covered_pct": covered_pct(jobs, initial), "duration.n_history": float(len(past)),
               "duration.n_pooled_bins": float(source.n_pooled_bins),
               **{f"duration.ratio_bin{b}": float(r) for b, r in enumerate(source.ratios)}}
    return chance_constrained(dc, options, source), source, metrics


def feedback_metrics(jobs: Jobs, source: EstimatorMargins | ConformalMargins) -> dict[str, float]:
    """``duration.*`` metrics after a simulation fed finished jobs back into ``source``."""
    final = source.margins(np.arange(len(jobs)))
    return {"duration.margin_mean_final": float(final.mean()), "duration.covered_pct_final": covered_pct(jobs, final),
            "duration.n_observed": float(source.n_observed), "duration.n_refits": float(source.n_refits)}
