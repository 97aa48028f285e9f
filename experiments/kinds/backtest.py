"""Experiment kind ``backtest``: rolling-origin forecast backtest of the configured models, the
error-weighted ensemble and conformal calibration (see :mod:`forecast.backtest`).

Metric names (flat floats): ``<metric>.<target>.<model>.<region>`` for metric in mape, mae, accuracy,
pinball, crps, picp50/80/90, width50/80/90 on the day-ahead test rows (horizons ≤ ``day_ahead_h``), plus
``<metric>.<target>.<model>.mean`` averaged over regions, ``mape.<target>.dacf.<region>`` for DACF's
published forecasts, and ``wall_s``. The calibrated test-window ensemble forecast table is a file
(``forecast_ensemble[_<target>].csv`` in the reports folder and under ``files/`` in MLflow; ``.parquet`` with
``output.table_format: parquet``), not a printed table.
With ``output.member_tables: true`` every member's test-window forecast is written the same way
(``forecast_<member>[_<target>].csv`` / ``.parquet``, same schema), with the conformal (CQR) intervals the
backtest fits for that member on validation / already-observed errors only, and its ``model`` column naming it
(``seasonal24+cqr``, ``lstm (CPU-sized)+cqr``) — so a sweep can schedule on each forecaster and measure its
interval coverage.
"""
from __future__ import annotations

import time
from collections.abc import Mapping

from carbonshift.experiments import decision_value, tracking
from carbonshift.experiments.backtest_config import BacktestConfig
from carbonshift.experiments.backtest_inputs import (Member, dacf_forecasts, load_data, model_factories,
                                                     pipeline_settings, refit_schedule)
from carbonshift.experiments.backtest_results import (coverage_warnings, dacf_metrics, report_dropped, score_metrics,
                                                      weather_forecast_note)
from carbonshift.experiments.decision_value import CI_TARGETS
from carbonshift.experiments.forecast_sections import cpu_sized
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.forecast import report
from carbonshift.forecast.backtest import BacktestResult, run_backtest
from carbonshift.forecast.backtest_labels import label_models, label_uncalibrated
from carbonshift.forecast.backtest_tables import bucket_summary, ensemble_table, member_tables, weight_basis, write_table
from carbonshift.forecast.data.schema import TARGETS
from carbonshift.forecast.metrics import score_by


@experiment_kind("backtest", BacktestConfig)
def run(config: BacktestConfig, ctx: Context) -> Result:
    """Rolling-origin forecast backtest: models, ensemble, conformal calibration, DACF comparison."""
    t_start = time.perf_counter()
    panel = load_data(config, ctx.data_dir)
    b = config.backtest
    windows = config.windows.windows()
    factories = model_factories(config)
    settings = pipeline_settings(config, factories)
    members = settings.member_names(factories)
    res = Result()
    for target in config.targets:
        bt = run_backtest(panel, target, factories, windows, settings, progress=ctx.progress,
                          monitor=tracking.epoch_monitor())
        _add_target(res, config, ctx, target, bt, factories, members)
    res.metrics["wall_s"] = time.perf_counter() - t_start
    if b.weather_forecasts:
        res.summary["weather_forecasts"] = weather_forecast_note(panel, b.horizon_h)
    res.summary["refit_every_days"] = refit_schedule(settings, factories)
    res.summary.update({"name": config.name, "targets": config.targets, "models": list(factories),
                        "ensemble_members": members, "oracle_weather": b.oracle_weather,
                        "wall_s": round(res.metrics["wall_s"], 1)})
    return res


def _add_target(res: Result, config: BacktestConfig, ctx: Context, target: str, bt: BacktestResult,
                factories: Mapping[str, Member], members: list[str]) -> None:
    """Metrics, tables, figures, files and summary lines of one target's backtest ``bt`` of the models built by
    ``factories`` (``members``: the ensemble's)."""
    b = config.backtest
    sized = cpu_sized(config.models)
    labels = label_models(bt, sized)
    dacf, dacf_note = dacf_forecasts(config, target, ctx.data_dir)
    if config.data.source == "dacf":
        res.summary[f"dacf_published_{target}"] = dacf_note
    scores = score_by(report.day_ahead(bt.forecasts, b.day_ahead_h), ["model", "region"])
    res.metrics.update(score_metrics(scores, target, labels.keys))
    mape_t = report.mape_table(bt.forecasts, dacf, b.day_ahead_h)
    if dacf is not None:
        res.metrics.update(dacf_metrics(mape_t, target))
    sfx = "" if len(config.targets) == 1 else f"_{target}"
    res.tables[f"mape_by_region{sfx}"] = mape_t
    res.tables[f"accuracy_by_horizon{sfx}"] = report.horizon_table(bt.forecasts)
    by_bucket = report.bucket_table(bt.forecasts, b.buckets)
    res.tables[f"by_horizon_bucket{sfx}"] = by_bucket
    res.summary[f"ensemble_by_horizon_bucket{sfx}"] = bucket_summary(by_bucket, labels.ensemble)
    coverage = label_uncalibrated(report.coverage_table(bt.forecasts, bt.raw_ensemble, b.day_ahead_h), labels)
    res.tables[f"coverage{sfx}"] = coverage
    res.tables[f"scores{sfx}"] = scores
    res.tables[f"ensemble_weights{sfx}"] = report.weights_summary(bt.weights)
    goals = report.ensemble_goal_table(mape_t, labels.ensemble, [sized.get(m, m) for m in members])
    monthly = report.monthly_coverage(bt.forecasts, b.day_ahead_h)
    res.tables[f"ensemble_goals{sfx}"] = goals
    res.tables[f"coverage90_by_month{sfx}"] = monthly
    alerts = report.trailing_coverage_alerts(bt.forecasts, labels.ensemble, b.day_ahead_h)
    res.tables[f"coverage_alerts{sfx}"] = alerts
    if warnings := coverage_warnings(alerts, target):
        res.summary[f"coverage_warnings{sfx}"] = warnings
    res.tables[f"mape_by_month{sfx}"] = report.monthly_mape(bt.forecasts, b.day_ahead_h)
    res.summary[f"ensemble_goals{sfx}"] = report.goals_with_coverage(goals, coverage, monthly, labels.ensemble)
    if (basis := weight_basis(bt.weights)) is not None:
        res.summary[f"ensemble_weight_basis{sfx}"] = basis
    report_dropped(res, bt.dropped, target, sfx, sized)
    res.tables[f"conformal_corrections{sfx}"] = bt.corrections
    res.tables[f"timings{sfx}"] = bt.timings
    ext = config.output.table_format
    res.files.append(write_table(ensemble_table(bt.forecasts, labels.ensemble),
                                 ctx.out_dir / f"forecast_ensemble{sfx}.{ext}"))
    if config.output.member_tables:
        for name, table in member_tables(bt.forecasts, list(factories), sized).items():
            res.files.append(write_table(table, ctx.out_dir / f"forecast_{name}{sfx}.{ext}"))
    weather = " (oracle weather)" if b.oracle_weather else ""
    rel = report.reliability(bt.forecasts, b.day_ahead_h)
    res.figures[f"reliability{sfx}.png"] = report.reliability_figure(rel, f"Reliability — {target}{weather}")
    res.figures[f"forecast_vs_actual{sfx}.png"] = report.forecast_figure(bt.forecasts, dacf, TARGETS[target],
                                                                         day_ahead_h=b.day_ahead_h, model=labels.ensemble)
    if target in CI_TARGETS:   # decision value of every forecaster (experiments.decision_value)
        decision_value.of_backtest(bt.forecasts, target, sfx, labels.ensemble, labels.keys, config.name).add_to(res)
    res.summary[f"day_ahead_mape{sfx}"] = mape_t.round(2).to_dict("records")
    res.summary[f"combined_forecast{sfx}"] = labels.ensemble
