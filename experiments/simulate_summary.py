"""The summary lines of a ``simulate`` run (:mod:`experiments.kinds.simulate`): the instance, how the risk-aware
policies padded durations, and the oracle bounds. Text only; every number comes from the run's metrics or its
oracle run.
"""
from __future__ import annotations

from collections.abc import Mapping

from carbonshift.experiments.instances import DurationSection
from carbonshift.scheduler.policies.oracle import PREEMPTIVE
from carbonshift.scheduler.policies.registry import PolicyOptions
from carbonshift.scheduler.policy_runs import OracleRun
from carbonshift.scheduler.signals import DAY_AHEAD_H, CarbonSignal, ForecastSignal
from carbonshift.scheduler.workloads import Jobs


def instance_summary(name: str, carbon: CarbonSignal, jobs: Jobs, forecast: ForecastSignal,
                     forecast_metrics: Mapping[str, float]) -> dict[str, str | int]:
    """Name, regions, period (UTC), job count and the forecast with its measured quality
    (:func:`scheduler.signals.forecast_metrics`)."""
    return {"name": name, "regions": ", ".join(carbon.regions),
            "period": f"{carbon.times[0]:%Y-%m-%d %H:%M} → {carbon.times[-1]:%Y-%m-%d %H:%M} UTC",
            "jobs": len(jobs), "forecast": f"{forecast.handoff_label}, measured accuracy "
                                           f"{forecast_metrics['forecast_accuracy_pct']:.1f} % over all horizons, "
                                           f"{100 - forecast_metrics['forecast_mape_day_ahead_pct']:.1f} % day-ahead "
                                           f"(0–{DAY_AHEAD_H - 1} h), 90 % interval coverage "
                                           f"{forecast_metrics['forecast_coverage90_pct']:.1f} %"}


def duration_summary(duration: DurationSection, options: PolicyOptions,
                     duration_metrics: Mapping[str, float]) -> dict[str, str]:
    """``chance_constrained`` and ``risk_aware durations`` lines, each only when its metrics are there."""
    summary = {}
    if "chance_constrained.duration.covered_pct" in duration_metrics:
        o = options
        summary["chance_constrained"] = (
            f"reserves the conformal q{o.risk_deadline_target:g} duration (feedback {duration.feedback}), covering "
            f"the true duration for {duration_metrics['chance_constrained.duration.covered_pct']:.1f} % of jobs; "
            + ("carbon priced with the mean forecast (risk term off, λ 0)" if o.risk_lambda == 0 else
               f"carbon {o.risk_carbon}" + (f" α {o.risk_alpha:g}" if o.risk_carbon == "cvar" else "")
               + f" λ {o.risk_lambda:g}"))
    if "duration.margin_mean" in duration_metrics:
        du = duration
        how = (f"fixed margin {options.risk_duration_margin:g}" if du.model == "fixed" else
               f"estimator q{du.level:g} margins, feedback {du.feedback}") + (", pad to fit" if du.pad_to_fit else "")
        summary["risk_aware durations"] = (f"{how}; mean margin {duration_metrics['duration.margin_mean']:.3f}, "
                                           f"planned hours cover the true duration for "
                                           f"{duration_metrics['duration.covered_pct']:.1f} % of jobs")
    return summary


def oracle_summary(run: OracleRun) -> dict[str, str]:
    """The contiguous bound (solve, gap, warm start) and the preemptive one (or why it was not solved)."""
    bound = run.bound
    summary = {"oracle": (f"{run.oracle.solve_kind}; bound {bound.kg:,.1f} kgCO2e, schedule gap "
                          f"{bound.gap_pct:.2f} % (perfect foresight, contiguous on-time runs)"),
               "oracle.bound_kind": bound.kind,
               "oracle.warm_start": ("none: no policy schedule is contiguous and on time" if run.warm_start is None
                                     else f"{run.warm_start} (best on-time contiguous policy schedule)"
                                          f"{run.oracle.incumbent_note}")}
    pre = run.bounds.get(PREEMPTIVE)
    summary["oracle_preemptive"] = (
        f"{pre.kind}; bound {pre.kg:,.1f} kgCO2e (suspend/resume, no resume overhead)" if pre is not None else
        "not solved: no policy suspended a job, so no schedule is in the suspend/resume set")
    if pre is not None:
        summary["oracle_preemptive.bound_kind"] = pre.kind
    return summary
