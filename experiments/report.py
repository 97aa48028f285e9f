"""Reports built from MLflow (never from memory): tables (markdown + CSV) and PNG figures for one run
or one sweep, written to ``reports/<name>/<run id>/report/`` and logged back to the run as ``report/``
artifacts (only the files the report wrote).

Metric names follow ``<policy>.<metric>`` (``cooperative.carbon_kg``) or plain ``<metric>``
(``trial_seconds``). What is drawn depends on what was logged:

- sweep curves: for every swept key except ``seed``, each metric's mean ± std over seeds (and over
  any other non-seed key, drawn as separate lines); figure of the reduction metric vs that key
  (error bars = std over seeds) and, when logged, latency/memory vs that key;
- Pareto: carbon (kgCO2e) vs mean completion time (h) per policy, with the non-dominated front;
- operational vs transfer carbon (kgCO2e) bars per policy;
- renewable utilisation per region (from a logged table with ``region`` and a ``renewable*`` column);
- hour-of-day allocation heatmap (from a logged table with an ``hour`` column).
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carbonshift.experiments import tracking
from carbonshift.experiments.figures import pareto_figure
from carbonshift.experiments.provenance import TAG as CODE_VERSION_TAG
from carbonshift.experiments.provenance import project_relative
from carbonshift.experiments.figures import pareto_table as pareto_frame
from carbonshift.experiments.runner import REPORTS_DIR, quiet_mlflow, run_report_dir

REDUCTION_METRICS = ("reduction_vs_perf_first", "reduction_pct", "reduction")
COST_METRICS = ("plan_seconds", "peak_mem_mb", "trial_seconds", "trial_peak_rss_mb")
MAIN_POLICY = "cooperative"  # the seed's method (Algorithm 1): the policy single-policy views show
SPLIT_METRICS = ("carbon_operational_kg", "carbon_transfer_kg")
#: What a metric measures, where its name does not say it (table headers, figure titles): compare the seed
#: paper's process-level memory figures with ``trial_peak_rss_mb``, never with ``peak_mem_mb``.
METRIC_LABELS: dict[str, str] = {
    "peak_mem_mb": "peak_mem_mb = tracemalloc peak of one decision call, not a process figure",
    "trial_peak_rss_mb": "trial_peak_rss_mb = process peak RSS of the trial",
    "trial_seconds": "trial_seconds = wall clock of the trial",
    "process_max_rss_mb": "process_max_rss_mb = process peak RSS so far (grows over the benchmark's cells)",
}


@dataclass
class Report:
    """What :func:`build_report` produced (paths are under ``out_dir``)."""

    run_id: str
    name: str
    is_sweep: bool
    out_dir: Path
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)


def client() -> Any:
    import mlflow

    quiet_mlflow()
    mlflow.set_tracking_uri(tracking.tracking_uri())
    return mlflow.MlflowClient()


def resolve(c: Any, target: str) -> Any:
    """The run named by ``target``: a run id, else the latest sweep whose name is ``target``, else the
    latest single run of that name."""
    if len(target) == 32 and all(ch in "0123456789abcdef" for ch in target):
        return c.get_run(target)
    exps = [e.experiment_id for e in c.search_experiments()]
    for role in ("sweep", "run"):
        runs = c.search_runs(exps, filter_string=f"attributes.run_name = '{target}' and "
                             f"tags.`carbonshift.role` = '{role}'", order_by=["attributes.start_time DESC"],
                             max_results=1) if exps else []
        if runs:
            return runs[0]
    raise LookupError(f"no MLflow sweep or run named {target!r} at {tracking.tracking_uri()}")


def finished_trials(c: Any, parent: Any) -> list[Any]:
    """FINISHED child runs of a sweep's parent run."""
    from carbonshift.experiments.sweep import child_runs

    return [r for r in child_runs(c, parent.info.experiment_id, parent.info.run_id) if r.info.status == "FINISHED"]


def _param_value(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text


def param(params: dict[str, str], key: str) -> Any:
    """Config value of dotted ``key`` from a run's flattened params; a mapping (``workload.mix``) is
    logged as ``workload.mix.lm`` … and is reassembled."""
    if key in params:
        return _param_value(params[key])
    prefix = f"{key}."
    nested = {k[len(prefix):]: _param_value(v) for k, v in params.items() if k.startswith(prefix)}
    return nested or None


def axis_value(value: Any) -> Any:
    """How a swept value is shown on an axis: a list by its length (``data.zones`` → number of
    regions), a mapping as ``k=v`` pairs (``workload.mix`` → ``lm=0.7 cv=0.1 …``)."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        return " ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in value.items())
    return value


def runs_frame(runs: list[Any], keys: list[str]) -> pd.DataFrame:
    """Long table: one row per (run, policy, metric) with the swept ``keys`` as columns."""
    rows = []
    for r in runs:
        base = {"run_id": r.info.run_id, **{k: axis_value(param(r.data.params, k)) for k in keys}}
        for name, value in r.data.metrics.items():
            policy, _, metric = name.rpartition(".")
            rows.append({**base, "policy": policy, "metric": metric, "value": value})
    return pd.DataFrame(rows, columns=["run_id", *keys, "policy", "metric", "value"])


def forecast_labels(c: Any, runs: list[Any]) -> dict[str, str]:
    """Run id → what forecast the run planned on (the ``forecast`` entry of its ``summary.json``, e.g.
    ``gbm+cqr forecast table forecast_ensemble.csv``), for runs that logged one."""
    from mlflow.exceptions import MlflowException

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in runs:
            try:
                path = c.download_artifacts(r.info.run_id, "summary.json", tmp)
            except (OSError, MlflowException):  # a run without summary.json: no label to show
                continue
            forecast = json.loads(Path(path).read_text()).get("forecast")
            if forecast:
                out[r.info.run_id] = str(forecast).split(", measured accuracy")[0]
    return out


def name_forecast_tables(frame: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """``forecast.source`` values ``table`` become ``table (<what the table holds>)`` per run (``labels`` from
    :func:`forecast_labels`), so sweep points name the forecast (``table (gbm+cqr forecast table …)``)."""
    named = frame["run_id"].map(labels)
    is_table = (frame["forecast.source"] == "table") & named.notna()
    out = frame.copy()
    out.loc[is_table, "forecast.source"] = "table (" + named[is_table] + ")"
    return out


def aggregate(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean, sample std (over seeds and any key not in ``by``) and count of ``value`` per group; a group of
    one value has no std (NaN, shown blank), not 0."""
    g = frame.groupby(by, dropna=False, sort=True)["value"]
    return g.agg(mean="mean", std="std", n="count").reset_index()


def seeds_note(n: pd.Series) -> str:
    """``mean ± std over N seeds`` (``N–M`` when groups differ), or ``1 seed`` (no spread)."""
    if n.empty:
        return "no runs"
    lo, hi = int(n.min()), int(n.max())
    if hi <= 1:
        return "1 seed"
    return f"mean ± std over {lo if lo == hi else f'{lo}–{hi}'} seeds"


def reduction_metric(frame: pd.DataFrame) -> str | None:
    names = set(frame["metric"])
    return next((m for m in REDUCTION_METRICS if m in names), next((m for m in sorted(names) if "reduction" in m), None))


def markdown(table: pd.DataFrame) -> str:
    cols = [str(c) for c in table.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else (f"{value:,.2f}" if abs(value) < 1e7 else f"{value:.3g}")
    return str(value)


def curve_figure(agg: pd.DataFrame, x: str, metric: str, series: list[str], xlabel: str | None = None) -> Any:
    """Line per (policy, other swept keys) of ``metric`` mean vs ``x`` with std error bars."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    sub = agg[agg["metric"] == metric]
    if sub.groupby(["policy", *series], dropna=False).ngroups > 12 and MAIN_POLICY in set(sub["policy"]):
        sub = sub[sub["policy"] == MAIN_POLICY]            # too many lines: the main policy only
    for key, part in sub.groupby(["policy", *series], dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        label = " ".join(str(k) for k in key if k not in ("", None))
        part = part.sort_values(x)
        xs = part[x].to_numpy()
        positions = xs if np.issubdtype(np.asarray(xs).dtype, np.number) else np.arange(len(xs))
        ax.errorbar(positions, part["mean"], yerr=part["std"], marker="o", capsize=3, label=label or metric)
        if positions is not xs:
            ax.set_xticks(positions, [str(v) for v in xs])
    unit = " (%)" if "reduction" in metric or metric.endswith("_pct") else ""
    ax.set(xlabel=xlabel or x, ylabel=f"{metric}{unit}", title=f"{metric} vs {xlabel or x} ({seeds_note(sub['n'])})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def cost_figure(agg: pd.DataFrame, x: str, metrics: list[str]) -> Any:
    """Latency (s) and memory (MB) vs ``x`` on log axes, one panel per metric family."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for policy, part in agg[agg["metric"] == metric].groupby("policy", sort=True):
            part = part.groupby(x, as_index=False)[["mean", "std"]].mean().sort_values(x)
            ax.errorbar(part[x], part["mean"], yerr=part["std"], marker="o", capsize=3, label=policy or metric)
        unit = "s" if "seconds" in metric else "MB"
        ax.set(xlabel=x, ylabel=f"{metric} ({unit})", xscale="log", yscale="log",
               title=METRIC_LABELS.get(metric, metric).replace(" = ", "\n"))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    return fig


def pareto_table(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Per policy: mean carbon (kgCO2e) and mean completion time (h), and whether it is Pareto-optimal
    (:func:`experiments.figures.pareto_table`)."""
    need = frame[frame["metric"].isin(["carbon_kg", "completion_h_mean"]) & (frame["policy"] != "")]
    if need.empty or need["metric"].nunique() < 2:
        return None
    table = need.pivot_table(index="policy", columns="metric", values="value", aggfunc="mean").dropna().reset_index()
    table.columns.name = None
    return pareto_frame(table)


def carbon_split(frame: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """Operational and transfer carbon (kgCO2e) per policy, from metrics or a logged table."""
    metrics = frame[frame["metric"].isin(SPLIT_METRICS) & (frame["policy"] != "")]
    if metrics["metric"].nunique() == 2:
        out = metrics.pivot_table(index="policy", columns="metric", values="value", aggfunc="mean").reset_index()
        return out.rename(columns=dict(zip(SPLIT_METRICS, ("operational_kg", "transfer_kg"))))
    for table in tables.values():
        for names in (SPLIT_METRICS, ("operational_kg", "transfer_kg")):
            if {"policy", *names} <= set(table.columns):
                out = table.groupby("policy", as_index=False)[list(names)].mean()
                return out.rename(columns=dict(zip(names, ("operational_kg", "transfer_kg"))))
    return None


def split_figure(table: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = np.arange(len(table))
    ax.bar(x, table["operational_kg"], label="operational")
    ax.bar(x, table["transfer_kg"], bottom=table["operational_kg"], label="data transfer")
    ax.set_xticks(x, table["policy"], rotation=30, ha="right")
    ax.set(ylabel="carbon (kgCO2e)", title="Operational vs transfer carbon per policy")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    return fig


def renewable_by_region(tables: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """Mean renewable utilisation per (policy, region) from the first table that has one."""
    for table in tables.values():
        col = next((c for c in table.columns if "renewable" in c), None)
        if col and "region" in table.columns and "hour" not in table.columns:
            by = [c for c in ("policy", "region") if c in table.columns]
            return table.groupby(by, as_index=False)[col].mean()
    return None


def renewable_figure(table: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    col = next(c for c in table.columns if "renewable" in c)
    wide = table.pivot_table(index="region", columns="policy", values=col) if "policy" in table else \
        table.set_index("region")[[col]]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    wide.plot.bar(ax=ax)
    unit = "%" if wide.to_numpy().max() > 1.5 else "fraction"
    ax.set(ylabel=f"{col} ({unit})", title="Renewable utilisation per region")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, ncol=2)
    return fig


def main_policy(policies: list[str]) -> str:
    """The policy a single-policy view shows: :data:`MAIN_POLICY` if present, else the last listed."""
    return MAIN_POLICY if MAIN_POLICY in policies else policies[-1]


def hourly_allocation(tables: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, str, str] | None:
    """(rows × 24 hour-of-day matrix, row label, value label) from the first table with an hour column:
    long (``hour``, ``region``, value) or wide (``hour_utc`` + one column per region) format; with a
    ``policy`` column the main policy's rows, averaged over runs."""
    for table in tables.values():
        hour = next((c for c in ("hour_of_day", "hour", "hour_utc") if c in table.columns), None)
        if hour is None:
            continue
        policy = None
        if "policy" in table.columns:
            policy = main_policy(list(dict.fromkeys(table["policy"])))
            table = table[table["policy"] == policy]
        label = f"{policy}: " if policy else ""
        data = table.assign(_h=table[hour] % 24)
        if "region" in table.columns:
            value = next((c for c in table.columns if c not in (hour, "policy", "region", "run_id")
                          and pd.api.types.is_numeric_dtype(table[c])), None)
            if value is None:
                continue
            wide = data.pivot_table(index="region", columns="_h", values=value, aggfunc="mean")
            return wide.reindex(columns=range(24)).fillna(0.0), "region", label + value
        cols = [c for c in table.columns if c not in (hour, "policy", "run_id", "_h")
                and pd.api.types.is_numeric_dtype(table[c])]
        if cols:
            wide = data.groupby("_h")[cols].mean().T
            wide.index.name = "region"
            return wide.reindex(columns=range(24)).fillna(0.0), "region", label + "energy share (%)"
    return None


def heatmap_figure(wide: pd.DataFrame, row: str, value: str) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 0.45 * len(wide) + 2))
    im = ax.imshow(wide.to_numpy(), aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(wide)), wide.index)
    ax.set_xticks(range(0, 24, 2))
    ax.set(xlabel="hour of day (UTC)", ylabel=row, title=f"{value} by hour of day")
    fig.colorbar(im, ax=ax, label=value)
    return fig


def load_tables(c: Any, runs: list[Any]) -> dict[str, pd.DataFrame]:
    """Every ``tables/*.csv`` artifact of ``runs``, concatenated per table name (column ``run_id`` added)."""
    out: dict[str, list[pd.DataFrame]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in runs:
            if not any(a.path == "tables" for a in c.list_artifacts(r.info.run_id)):
                continue
            local = Path(c.download_artifacts(r.info.run_id, "tables", tmp + "/" + r.info.run_id))
            for path in sorted(local.glob("*.csv")):
                out.setdefault(path.stem, []).append(pd.read_csv(path).assign(run_id=r.info.run_id))
    return {k: pd.concat(v, ignore_index=True) for k, v in out.items()}


def build_report(target: str, reports_dir: Path = REPORTS_DIR, log_to_mlflow: bool = True) -> Report:
    """Build the report of a sweep (parent run) or a single run named by ``target`` (id or name)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    frame = runs_frame(runs, keys)
    if "forecast.source" in keys:
        frame = name_forecast_tables(frame, forecast_labels(c, runs))
    tables = load_tables(c, runs)
    figures: dict[str, Any] = {}

    def add_table(stem: str, table: pd.DataFrame) -> None:
        rep.tables[stem] = table
        table.to_csv(out_dir / f"{stem}.csv", index=False)
        (out_dir / f"{stem}.md").write_text(markdown(table) + "\n")

    red = reduction_metric(frame)
    varied = [k for k in keys if k != "seed" and frame[k].nunique(dropna=False) > 1]
    for x in varied:
        series = [k for k in varied if k != x]
        agg = aggregate(frame, [x, *series, "policy", "metric"])
        add_table(f"curve_{x}", agg)
        if red:
            counted = isinstance(param(runs[0].data.params, x), list)     # e.g. data.zones -> how many
            figures[f"{red}_vs_{x}.png"] = curve_figure(agg, x, red, series, f"number of {x}" if counted else None)
        cost = [m for m in COST_METRICS if m in set(agg["metric"])]
        if cost:
            figures[f"cost_vs_{x}.png"] = cost_figure(agg, x, cost)
    if not varied:
        add_table("metrics", aggregate(frame, ["policy", "metric"]))
    pareto = pareto_table(frame)
    if pareto is not None:
        add_table("pareto", pareto)
        points = frame[frame["metric"].isin(["carbon_kg", "completion_h_mean"]) & (frame["policy"] != "")]
        points = points.pivot_table(index=["run_id", "policy"], columns="metric", values="value").reset_index()
        figures["pareto_carbon_vs_completion.png"] = pareto_figure(
            pareto, points, "Carbon vs completion time (policy means; dots = trials)")
    split = carbon_split(frame, tables)
    if split is not None:
        add_table("carbon_operational_vs_transfer", split)
        figures["carbon_operational_vs_transfer.png"] = split_figure(split)
    renew = renewable_by_region(tables)
    if renew is not None:
        add_table("renewable_by_region", renew)
        figures["renewable_by_region.png"] = renewable_figure(renew)
    hourly = hourly_allocation(tables)
    if hourly is not None:
        wide, row, value = hourly
        add_table("allocation_by_hour", wide.reset_index())
        figures["allocation_by_hour_heatmap.png"] = heatmap_figure(wide, row, value)
    from carbonshift.experiments.forecaster_curve import forecaster_report   # MAPE → reduction per forecaster
    curve = forecaster_report(frame, forecast_labels(c, runs), keys) if is_sweep and red else None
    if curve is not None:
        add_table("forecaster_curve", curve[0])
        figures["forecaster_curve.png"] = curve[1]
    for fname, fig in figures.items():
        fig.savefig(out_dir / fname, dpi=120, bbox_inches="tight")
        plt.close(fig)
        rep.figures.append(out_dir / fname)
    index = [f"# Report: {name}", "", f"- MLflow run: `{run.info.run_id}` ({'sweep of ' + str(len(runs)) + ' finished trials' if is_sweep else 'single run'})",
             f"- tracking store: `{project_relative(tracking.tracking_uri())}`",
             f"- code version: `{run.data.tags.get(CODE_VERSION_TAG, 'not recorded')}`", ""]
    index += [f"![{p.stem}]({p.name})" for p in rep.figures]
    for stem, table in rep.tables.items():
        index += ["", f"## {stem}", "", markdown(table.head(60))]
    (out_dir / "report.md").write_text("\n".join(index) + "\n")
    if log_to_mlflow:   # only what this report wrote, never other files lying in its folder
        own = [out_dir / "report.md", *rep.figures,
               *(out_dir / f"{stem}.{ext}" for stem in rep.tables for ext in ("csv", "md"))]
        for path in own:
            c.log_artifact(run.info.run_id, str(path), artifact_path="report")
    return rep
