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
from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from carbonshift.experiments import decision_value, tracking
from carbonshift.experiments.backtest_config import BacktestConfig
from carbonshift.experiments.backtest_inputs import (dacf_forecasts, load_data, model_factories, pipeline_settings,
                                                     refit_schedule)
from carbonshift.experiments.decision_value import CI_TARGETS
from carbonshift.experiments.forecast_sections import cpu_sized
# the tune kind's imports from here (experiments.forecast_sections holds them)
from carbonshift.experiments.forecast_sections import TUNABLE as TUNABLE
from carbonshift.experiments.forecast_sections import DataSection as DataSection
from carbonshift.experiments.forecast_sections import LSTMSection as LSTMSection
from carbonshift.experiments.forecast_sections import TFTSection as TFTSection
from carbonshift.experiments.forecast_sections import TrainerSection as TrainerSection
from carbonshift.experiments.forecast_sections import model_params as model_params
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.forecast import report
from carbonshift.forecast.backtest import run_backtest
from carbonshift.forecast.data.schema import TARGETS
from carbonshift.forecast.ensemble import dropped_summary, ensemble_label, member_weights
from carbonshift.forecast.metrics import score_by

log = logging.getLogger(__name__)


def name_ensemble(bt, shown: dict[str, str]) -> tuple[str, str, str]:  # noqa: ANN001 (forecast.backtest.BacktestResult)
    """Rename the backtest's calibrated ``ensemble`` rows (forecasts, corrections) by what they are
    (:func:`forecast.ensemble.ensemble_label` + ``+cqr``: ``ensemble(gbm 0.62, prophet 0.38)+cqr``, or with one
    member of positive weight ``gbm+cqr``; members named as in ``shown``, e.g. ``lstm (CPU-sized)``). Returns
    (that label, the uncalibrated row's label, the metric-safe key: ``ensemble`` or ``<member>_cqr``)."""
    base = ensemble_label(bt.weights.assign(model=bt.weights["model"].replace(shown)))
    label = f"{base}+cqr"
    for frame in (bt.forecasts, bt.corrections):
        frame.loc[frame["model"] == "ensemble", "model"] = label
    members = member_weights(bt.weights)
    key = "ensemble" if len(members) >= 2 else f"{members.index[0]}_cqr"
    return label, f"{base} (uncalibrated)", key


def member_tables(forecasts: pd.DataFrame, models: list[str], shown: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Model name → its calibrated test-window forecast table (rows of ``forecasts`` with ``window == "test"``,
    ``model`` renamed ``<shown name>+cqr``: the backtest applied the member's own conformal corrections, fitted
    on validation forecasts or, with a calibration window, on forecasts whose target hour preceded the issue).
    ``forecasts`` carries members under their shown names (``shown``: e.g. ``lstm`` → ``lstm (CPU-sized)``)."""
    test = forecasts[forecasts["window"] == "test"]
    out = {}
    for name in models:
        rows = test[test["model"] == shown.get(name, name)]
        if rows.empty:
            raise ValueError(f"member table {name!r}: the backtest holds no test-window forecast of it")
        out[name] = rows.assign(model=f"{shown.get(name, name)}+cqr").reset_index(drop=True)
    return out


def report_dropped(res: Result, dropped: pd.DataFrame, target: str, sfx: str, shown: dict[str, str]) -> None:
    """Members the ensemble weighting zeroed, never silently: the cells (table ``ensemble_dropped``: member ×
    region × bucket with weight 0 at some issue, share and reason), per member the metric
    ``dropped_share.<target>.<member>`` (share of region × bucket (× issue) cells with weight 0), a summary line
    and a log line (warning when it is out of at least half the cells)."""
    cells = dropped.assign(model=dropped["model"].replace(shown))
    res.tables[f"ensemble_dropped{sfx}"] = cells[cells["dropped_share"] > 0].reset_index(drop=True)
    for _, row in dropped_summary(dropped).iterrows():
        res.metrics[f"dropped_share.{target}.{row['model']}"] = row["dropped_share"]
        if row["dropped_share"] > 0:
            note = (f"{target} {shown.get(row['model'], row['model'])}: weight 0 in {row['dropped_share']:.0%} of "
                    f"{row['cells']} region × bucket cells (worst {row['reason']})")
            res.summary.setdefault(f"ensemble_dropped{sfx}", []).append(note)
            log.log(logging.WARNING if row["dropped_share"] >= 0.5 else logging.INFO, "ensemble member dropped: %s",
                    note)


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """Write a forecast table as CSV, or as parquet when ``path`` ends in ``.parquet`` (a file artifact, not a
    printed table: ~10⁴ rows per zone-year and horizon hour; a year of 168 h forecasts for six zones is ~80 MB of
    CSV, ~10 MB of parquet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


@experiment_kind("backtest", BacktestConfig)
def run(config: BacktestConfig, ctx: Context) -> Result:
    """Rolling-origin forecast backtest: models, ensemble, conformal calibration, DACF comparison."""
    t_start = time.perf_counter()
    panel = load_data(config, ctx.data_dir)
    b = config.backtest
    windows = config.windows.windows()
    factories = model_factories(config)
    settings = pipeline_settings(config, factories)
    members = list(settings.members)
    res = Result()
    label = " (oracle weather)" if b.oracle_weather else ""
    for target in config.targets:
        bt = run_backtest(panel, target, factories, windows, settings, progress=ctx.progress,
                          monitor=tracking.epoch_monitor())
        sized = cpu_sized(config.models)
        ens_label, raw_label, ens_key = name_ensemble(bt, sized)
        for frame in (bt.forecasts, bt.corrections):
            frame["model"] = frame["model"].replace(sized)
        keys = {ens_label: ens_key, **{shown: name for name, shown in sized.items()}}
        dacf, dacf_note = dacf_forecasts(config, target, ctx.data_dir)
        if config.data.source == "dacf":
            res.summary[f"dacf_published_{target}"] = dacf_note
        da = report.day_ahead(bt.forecasts, b.day_ahead_h)
        scores = score_by(da, ["model", "region"])
        for _, row in scores.iterrows():
            for k, v in row.items():
                if k not in ("model", "region", "n"):
                    res.metrics[f"{k}.{target}.{keys.get(row['model'], row['model'])}.{row['region']}"] = float(v)
        for model, g in scores.groupby("model"):
            for k in ("mape", "accuracy", "crps", "picp50", "picp80", "picp90"):
                res.metrics[f"{k}.{target}.{keys.get(model, model)}.mean"] = float(g[k].mean())
        mape_t = report.mape_table(bt.forecasts, dacf, b.day_ahead_h)
        if dacf is not None:
            for region, v in mape_t.set_index("model").loc["DACF (published)"].items():
                res.metrics[f"mape.{target}.dacf.{region}"] = float(v)
        sfx = "" if len(config.targets) == 1 else f"_{target}"
        res.tables[f"mape_by_region{sfx}"] = mape_t
        res.tables[f"accuracy_by_horizon{sfx}"] = report.horizon_table(bt.forecasts)
        by_bucket = report.bucket_table(bt.forecasts, b.buckets)
        res.tables[f"by_horizon_bucket{sfx}"] = by_bucket
        ens_buckets = by_bucket[by_bucket["model"] == ens_label].groupby(["bucket", "horizons"])
        res.summary[f"ensemble_by_horizon_bucket{sfx}"] = (
            ens_buckets[["mape", "picp90"]].mean().round(3).reset_index().drop(columns="bucket").to_dict("records"))
        coverage = report.coverage_table(bt.forecasts, bt.raw_ensemble, b.day_ahead_h)
        coverage.loc[coverage["model"] == "ensemble (uncalibrated)", "model"] = raw_label
        res.tables[f"coverage{sfx}"] = coverage
        res.tables[f"scores{sfx}"] = scores
        res.tables[f"ensemble_weights{sfx}"] = report.weights_summary(bt.weights)
        goals = report.ensemble_goal_table(mape_t, ens_label, [sized.get(m, m) for m in members])
        monthly = report.monthly_coverage(bt.forecasts, b.day_ahead_h)
        res.tables[f"ensemble_goals{sfx}"] = goals
        res.tables[f"coverage90_by_month{sfx}"] = monthly
        alerts = report.trailing_coverage_alerts(bt.forecasts, ens_label, b.day_ahead_h)
        res.tables[f"coverage_alerts{sfx}"] = alerts
        for _, row in alerts.iterrows():
            note = (f"{target} {row['region']}: trailing {row['window_days']}-day 90 % coverage fell to "
                    f"{row['picp_min']:.1%} (window ending {row['window_end']}; {row['days_below']} days below 85 %)")
            res.summary.setdefault(f"coverage_warnings{sfx}", []).append(note)
            log.warning("interval coverage: %s", note)
        res.tables[f"mape_by_month{sfx}"] = report.monthly_mape(bt.forecasts, b.day_ahead_h)
        res.summary[f"ensemble_goals{sfx}"] = report.goals_with_coverage(goals, coverage, monthly, ens_label)
        if "basis" in bt.weights.columns:
            cells = bt.weights.drop_duplicates(["issue_time", "region", "bucket"])
            res.summary[f"ensemble_weight_basis{sfx}"] = cells["basis"].value_counts().to_dict()
        report_dropped(res, bt.dropped, target, sfx, sized)
        res.tables[f"conformal_corrections{sfx}"] = bt.corrections
        res.tables[f"timings{sfx}"] = bt.timings
        ens = bt.forecasts[(bt.forecasts["model"] == ens_label) & (bt.forecasts["window"] == "test")]
        ext = config.output.table_format
        res.files.append(write_table(ens, ctx.out_dir / f"forecast_ensemble{sfx}.{ext}"))
        if config.output.member_tables:
            for name, table in member_tables(bt.forecasts, list(factories), sized).items():
                res.files.append(write_table(table, ctx.out_dir / f"forecast_{name}{sfx}.{ext}"))
        rel = report.reliability(bt.forecasts, b.day_ahead_h)
        res.figures[f"reliability{sfx}.png"] = report.reliability_figure(rel, f"Reliability — {target}{label}")
        res.figures[f"forecast_vs_actual{sfx}.png"] = report.forecast_figure(bt.forecasts, dacf, TARGETS[target],
                                                                             day_ahead_h=b.day_ahead_h, model=ens_label)
        if target in CI_TARGETS:   # decision value of every forecaster (experiments.decision_value)
            decision_value.of_backtest(bt.forecasts, target, sfx, ens_label, keys, config.name).add_to(res)
        res.summary[f"day_ahead_mape{sfx}"] = mape_t.round(2).to_dict("records")
        res.summary[f"combined_forecast{sfx}"] = ens_label
    res.metrics["wall_s"] = time.perf_counter() - t_start
    if b.weather_forecasts:
        fc = [c for c in panel.columns if c.startswith("fc_")]
        res.summary["weather_forecasts"] = (f"Open-Meteo {fc}, each hour's value published ≥ {b.horizon_h} h before it; "
                                            f"{panel[fc].notna().all(axis=1).mean():.1%} of hours covered")
    res.summary["refit_every_days"] = refit_schedule(settings, factories)
    res.summary.update({"name": config.name, "targets": config.targets, "models": list(factories),
                        "ensemble_members": members, "oracle_weather": b.oracle_weather,
                        "wall_s": round(res.metrics["wall_s"], 1)})
    return res
