"""Assembling one report: read a run or a sweep back from MLflow, decide which tables and figures its logged
metrics and tables support, write them to ``reports/<name>/<run id>/report/`` with an index (``report.md``)
and log exactly those files back to the run as ``report/`` artifacts."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from carbonshift.experiments import tracking
from carbonshift.experiments.figures import context_line, key_label, pareto_figure
from carbonshift.experiments.provenance import TAG as CODE_VERSION_TAG
from carbonshift.experiments.provenance import project_relative
from carbonshift.experiments.report.backtest import backtest_figures
from carbonshift.experiments.report.charts import (cost_figure, curve_figure, heatmap_figure, renewable_figure,
                                                   split_figure)
from carbonshift.experiments.report.frame import (aggregate, forecast_labels, instance_groups, instance_keys,
                                                  label_oracle, name_forecast_tables, param, runs_frame)
from carbonshift.experiments.report.markdown import markdown
from carbonshift.experiments.report.metric_names import COST_METRICS, reduction_metric
from carbonshift.experiments.report.notes import pooled_note
from carbonshift.experiments.report.runs import client, finished_trials, load_tables, resolve, run_summaries
from carbonshift.experiments.report.tables import carbon_split, hourly_allocation, pareto_table, renewable_by_region
from carbonshift.experiments.report_dirs import REPORTS_DIR, run_report_dir


@dataclass
class Report:
    """What :func:`build_report` produced (paths are under ``out_dir``)."""

    run_id: str
    name: str
    is_sweep: bool
    out_dir: Path
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class _Logged:
    """What the report's runs logged: the metrics frame (swept ``keys`` as columns, forecast tables and the oracle
    named), their ``tables/*.csv`` (oracle named), summaries by run id, and the context line of them all."""

    runs: list[Any]
    keys: list[str]
    frame: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    summaries: dict[str, dict[str, Any]]
    context: str


def _read(c: Any, runs: list[Any], keys: list[str]) -> _Logged:
    summaries = run_summaries(c, runs)
    frame = runs_frame(runs, keys)
    if "forecast.source" in keys:
        frame = name_forecast_tables(frame, forecast_labels(summaries))
    every = list(summaries.values())
    return _Logged(runs, keys, label_oracle(frame, every),
                   {stem: label_oracle(table, every) for stem, table in load_tables(c, runs).items()},
                   summaries, context_line(every))


def _add_table(rep: Report, stem: str, table: pd.DataFrame) -> None:
    """Keep ``table`` in the report and write it as ``<stem>.csv`` and ``<stem>.md``."""
    rep.tables[stem] = table
    table.to_csv(rep.out_dir / f"{stem}.csv", index=False)
    (rep.out_dir / f"{stem}.md").write_text(markdown(table) + "\n")


def _curves(rep: Report, figures: dict[str, Any], logged: _Logged, varied: list[str], red: str | None) -> None:
    """Per swept key: every metric's mean ± std (table), the reduction metric's curve and the cost figure."""
    for x in varied:
        series = [k for k in varied if k != x]
        agg = aggregate(logged.frame, [x, *series, "policy", "metric"])
        _add_table(rep, f"curve_{x}", agg)
        counted = isinstance(param(logged.runs[0].data.params, x), list)     # e.g. data.zones -> how many
        if red:
            figures[f"{red}_vs_{x}.png"] = curve_figure(agg, x, red, series, key_label(x, counted), logged.context)
        cost = [m for m in COST_METRICS if m in set(agg["metric"])]
        if cost:
            figures[f"cost_vs_{x}.png"] = cost_figure(agg, x, cost, logged.context, key_label(x, counted))


def _instance_group(rep: Report, figures: dict[str, Any], logged: _Logged, varied: list[str],
                    group: tuple[str, str, pd.DataFrame]) -> None:
    """Tables and figures of one group of runs that scheduled the same instance
    (:func:`experiments.report.frame.instance_groups`): Pareto, carbon split, renewable share, hourly allocation."""
    sfx, what, part = group
    ids = set(part["run_id"])
    own = {stem: t[t["run_id"].isin(ids)] for stem, t in logged.tables.items()}
    where = "; ".join(filter(None, [what, context_line([logged.summaries[i] for i in ids if i in logged.summaries])]))
    pooled = pooled_note(len(ids), [k for k in varied if k not in instance_keys(varied)])
    pareto = pareto_table(part)
    if pareto is not None:
        _add_table(rep, f"pareto{sfx}", pareto)
        points = part[part["metric"].isin(["carbon_kg", "completion_h_mean"]) & (part["policy"] != "")]
        points = points.pivot_table(index=["run_id", "policy"], columns="metric", values="value").reset_index()
        figures[f"pareto_carbon_vs_completion{sfx}.png"] = pareto_figure(
            pareto, points, "Carbon vs completion time per policy" + (" (faint dots = trials)" if len(ids) > 1 else ""),
            where, pooled)
    split = carbon_split(part, own)
    if split is not None:
        _add_table(rep, f"carbon_operational_vs_transfer{sfx}", split)
        figures[f"carbon_operational_vs_transfer{sfx}.png"] = split_figure(split, where, pooled)
    renew = renewable_by_region(own)
    if renew is not None:
        _add_table(rep, f"renewable_by_region{sfx}", renew)
        figures[f"renewable_by_region{sfx}.png"] = renewable_figure(renew, where, pooled)
    hourly = hourly_allocation(own)
    if hourly is not None:
        wide, row, value = hourly
        _add_table(rep, f"allocation_by_hour{sfx}", wide.reset_index())
        figures[f"allocation_by_hour_heatmap{sfx}.png"] = heatmap_figure(wide, row, value, where, pooled)


def _save_figures(rep: Report, figures: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    for fname, fig in figures.items():
        fig.savefig(rep.out_dir / fname, dpi=120, bbox_inches="tight")
        plt.close(fig)
        rep.figures.append(rep.out_dir / fname)


def _write_index(rep: Report, run: Any, n_runs: int) -> None:
    """``report.md``: where the report came from, every figure, then every table (its first 60 rows)."""
    index = [f"# Report: {rep.name}", "",
             f"- MLflow run: `{run.info.run_id}` ({'sweep of ' + str(n_runs) + ' finished trials' if rep.is_sweep else 'single run'})",
             f"- tracking store: `{project_relative(tracking.tracking_uri())}`",
             f"- code version: `{run.data.tags.get(CODE_VERSION_TAG, 'not recorded')}`", ""]
    index += [f"![{p.stem}]({p.name})" for p in rep.figures]
    for stem, table in rep.tables.items():
        index += ["", f"## {stem}", "", markdown(table.head(60))]
    (rep.out_dir / "report.md").write_text("\n".join(index) + "\n")


def build_report(target: str, reports_dir: Path = REPORTS_DIR, log_to_mlflow: bool = True) -> Report:
    """Build the report of a sweep (parent run) or a single run named by ``target`` (id or name)."""
    import matplotlib

    matplotlib.use("Agg")

    c = client()
    run = resolve(c, target)
    is_sweep = run.data.tags.get("carbonshift.role") == "sweep"
    keys = json.loads(run.data.tags.get("carbonshift.sweep_keys", "[]")) if is_sweep else []
    runs = finished_trials(c, run) if is_sweep else [run]
    if not runs:
        raise LookupError(f"{target}: no FINISHED runs to report on")
    name = run.info.run_name or run.info.run_id
    out_dir = run_report_dir(reports_dir, name, run.info.run_id) / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    rep = Report(run.info.run_id, name, is_sweep, out_dir)
    logged = _read(c, runs, keys)
    figures: dict[str, Any] = {}
    red = reduction_metric(logged.frame)
    varied = [k for k in keys if k != "seed" and logged.frame[k].nunique(dropna=False) > 1]
    _curves(rep, figures, logged, varied, red)
    if not varied:
        _add_table(rep, "metrics", aggregate(logged.frame, ["policy", "metric"]))
    for group in instance_groups(logged.frame, varied):
        _instance_group(rep, figures, logged, varied, group)
    # MAPE → reduction per forecaster; lazy: scipy.stats takes ~1 s to import and `carbonshift --help` imports this module
    from carbonshift.experiments.forecaster_curve import forecaster_report
    labels = forecast_labels(logged.summaries)
    curve = forecaster_report(logged.frame, labels, keys, logged.summaries) if is_sweep and red else None
    if curve is not None:
        for stem, table in curve[0].items():
            _add_table(rep, stem, table)
        figures["forecaster_curve.png"] = curve[1]
    if not is_sweep and run.data.tags.get("carbonshift.kind") == "backtest":
        bt_figures, bt_tables = backtest_figures(c, run)
        figures.update(bt_figures)
        for stem, table in bt_tables.items():
            _add_table(rep, stem, table)
    _save_figures(rep, figures)
    _write_index(rep, run, len(runs))
    if log_to_mlflow:   # only what this report wrote, never other files lying in its folder
        written = [rep.out_dir / "report.md", *rep.figures,
                   *(rep.out_dir / f"{stem}.{ext}" for stem in rep.tables for ext in ("csv", "md"))]
        for path in written:
            c.log_artifact(run.info.run_id, str(path), artifact_path="report")
    return rep
