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
- hour-of-day allocation heatmap (from a logged table with an ``hour`` column);
- a backtest run (kind ``backtest``): day-ahead forecast vs actual with 50/90 % intervals, reliability diagram
  and MAPE (%) with 90 % interval coverage by horizon (h), from its logged forecast table (:func:`backtest_figures`).

Every figure's title says what, where and when (regions, period in UTC, jobs, from the runs' ``summary.json``)
and how many seeds it averages; axis labels and units come from :mod:`experiments.figures` (the metric's name,
never the data).
"""
from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carbonshift.experiments import tracking
from carbonshift.experiments.figures import (context_line, key_label, key_value, key_words,
                                             legend_outside, log_scale_ok, metric_label, metric_unit, pareto_figure,
                                             policy_colour, short_cells, thousands, value_ticks)
from carbonshift.experiments.provenance import TAG as CODE_VERSION_TAG
from carbonshift.experiments.provenance import project_relative
from carbonshift.experiments.figures import pareto_table as pareto_frame
from carbonshift.experiments.runner import REPORTS_DIR, quiet_mlflow, run_report_dir
from carbonshift.experiments.sweep import child_runs
from carbonshift.forecast import report as fr
from carbonshift.forecast.data.schema import TARGETS
from carbonshift.forecast.models.base import read_forecast_table

log = logging.getLogger("carbonshift.report")

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


def is_run_id(text: str) -> bool:
    return len(text) == 32 and all(ch in "0123456789abcdef" for ch in text)


def resolve(c: Any, target: str) -> Any:
    """The run named by ``target``: a run id (any status), else the latest FINISHED sweep whose name is
    ``target``, else the latest FINISHED single run of that name. Newer runs of that name that failed, were
    killed or still run are skipped with a warning naming them; with none FINISHED, a :class:`LookupError` lists
    them (report one with its run id: ``carbonshift report --run-id ID``)."""
    if is_run_id(target):
        return c.get_run(target)
    exps = [e.experiment_id for e in c.search_experiments()]
    for role in ("sweep", "run"):
        named = f"attributes.run_name = '{target}' and tags.`carbonshift.role` = '{role}'"
        runs = c.search_runs(exps, filter_string=f"{named} and attributes.status = 'FINISHED'",
                             order_by=["attributes.start_time DESC"], max_results=1) if exps else []
        newer = c.search_runs(exps, filter_string=f"{named} and attributes.status != 'FINISHED'"
                              + (f" and attributes.start_time > {runs[0].info.start_time}" if runs else ""),
                              order_by=["attributes.start_time DESC"], max_results=5) if exps else []
        skipped = ", ".join(f"{r.info.run_id} ({r.info.status})" for r in newer)
        if runs:
            if newer:
                log.warning("%s: reporting the latest FINISHED %s %s; skipped newer %s (report one with --run-id)",
                            target, role, runs[0].info.run_id, skipped)
            return runs[0]
        if newer:
            raise LookupError(f"no FINISHED {role} named {target!r} at {tracking.tracking_uri()}; latest: {skipped}. "
                              f"Report one anyway with `carbonshift report --run-id RUN_ID`")
    raise LookupError(f"no MLflow sweep or run named {target!r} at {tracking.tracking_uri()}")


def finished_trials(c: Any, parent: Any) -> list[Any]:
    """FINISHED child runs of a sweep's parent run."""
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


def run_summaries(c: Any, runs: list[Any]) -> dict[str, dict]:
    """Run id → the run's ``summary.json`` (empty for a run without one)."""
    from mlflow.exceptions import MlflowException

    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in runs:
            try:
                path = c.download_artifacts(r.info.run_id, "summary.json", f"{tmp}/{r.info.run_id}")
            except (OSError, MlflowException):  # a run without summary.json has no context to show
                out[r.info.run_id] = {}
                continue
            out[r.info.run_id] = json.loads(Path(path).read_text())
    return out


def label_oracle(frame: pd.DataFrame, summaries: list[dict]) -> pd.DataFrame:
    """Policy ``oracle`` (a ``policy`` column value) named by its bound kind from the runs' summaries
    (``oracle (exact MILP)``; kinds that differ between trials are listed with their counts:
    ``oracle (exact MILP ×3, LP bound ×1)``)."""
    kinds = pd.Series([s["oracle.bound_kind"] for s in summaries if "oracle.bound_kind" in s], dtype=object)
    if kinds.empty or "policy" not in frame.columns or not (frame["policy"] == "oracle").any():
        return frame
    counts = kinds.value_counts()
    kind = counts.index[0] if len(counts) == 1 else ", ".join(f"{k} ×{n}" for k, n in counts.items())
    return frame.assign(policy=frame["policy"].replace({"oracle": f"oracle ({kind})"}))


#: swept keys the context line already shows (regions listed, ``N jobs``), not repeated in a group's title
SHOWN_IN_CONTEXT = ("data.zones", "workload.n_jobs")


def instance_keys(varied: list[str]) -> list[str]:
    """The varied keys that change the scheduling instance (jobs, regions, mix, capacity …: every key outside
    ``forecast.``): carbon totals of different instances are not averaged together."""
    return [k for k in varied if not k.startswith("forecast.")]


def instance_groups(frame: pd.DataFrame, varied: list[str]) -> list[tuple[str, str, pd.DataFrame]]:
    """(file suffix, what the group is, its rows) per value of the instance-changing swept keys
    (:func:`INSTANCE_KEYS`), so per-policy totals compare like with like; one group (``""``) when none varies."""
    keys = instance_keys(varied)
    if not keys:
        return [("", "", frame)]
    out = []
    for values, part in frame.groupby(keys, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        text = ", ".join(key_value(k, v) for k, v in zip(keys, values) if k not in SHOWN_IN_CONTEXT)
        sfx = "_" + "_".join(f"{k}={v}" for k, v in zip(keys, values))
        out.append(("".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in sfx), text, part))
    return out


def pooled_note(n_runs: int, varied: list[str]) -> str:
    """What a value pooled over ``n_runs`` runs is: ``1 seed``, ``mean over 3 seeds``, or ``mean over 12 trials
    pooling <swept keys> and seeds``."""
    if n_runs <= 1:
        return "1 seed"
    if not varied:
        return f"mean over {n_runs} seeds"
    return f"mean over {n_runs} trials, pooling every {' × '.join(key_words(k) for k in varied)} value and seeds"


def reduction_metric(frame: pd.DataFrame) -> str | None:
    names = set(frame["metric"])
    return next((m for m in REDUCTION_METRICS if m in names), next((m for m in sorted(names) if "reduction" in m), None))


def markdown(table: pd.DataFrame) -> str:
    """A markdown table; long ensemble labels are shortened in the cells and given in full below it."""
    table, full = short_cells(table)
    cols = [str(c) for c in table.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    lines += ([""] if full else []) + [f"- *{short}*: `{label}`" for short, label in full.items()]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else (f"{value:,.2f}" if abs(value) < 1e7 else f"{value:.3g}")
    return str(value)


def tick_text(value: Any) -> str:
    """A categorical tick label, one ``k=v`` pair per line (``lm=0.7`` / ``cv=0.1`` …)."""
    return "\n".join(str(value).split())


def spread_note(n: pd.Series) -> str:
    """:func:`seeds_note` plus what the error bars are, when there are any (more than one seed)."""
    note = seeds_note(n)
    return note if note in ("1 seed", "no runs") else f"{note}; error bars = std"


def _positions(xs: np.ndarray) -> tuple[np.ndarray, bool]:
    """Numeric x values as they are; any other (a mix, a forecast name) at 0, 1, 2 … (``True``: categorical)."""
    numeric = pd.api.types.is_numeric_dtype(pd.Series(xs))
    return (np.asarray(xs, float), False) if numeric else (np.arange(len(xs), dtype=float), True)


def curve_figure(agg: pd.DataFrame, x: str, metric: str, series: list[str], xlabel: str | None = None,
                 context: str = "") -> Any:
    """Line per (policy, other swept keys) of ``metric`` mean vs ``x`` with std error bars (over seeds); axis
    labels in words with the metric's unit (:func:`experiments.figures.metric_label`), the title says what,
    ``context`` where and when, and how many seeds each point averages."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5))
    sub = agg[agg["metric"] == metric]
    only = ""
    if sub.groupby(["policy", *series], dropna=False).ngroups > 12 and MAIN_POLICY in set(sub["policy"]):
        sub = sub[sub["policy"] == MAIN_POLICY]            # too many lines: the main policy only
        only = f" ({MAIN_POLICY} only)"
    xs_all = None if pd.api.types.is_numeric_dtype(sub[x]) else sorted(sub[x].dropna().unique(), key=str)
    for key, part in sub.groupby(["policy", *series], dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{k} bound" if i == 0 and str(k).startswith("oracle") else
                          str(k) if i == 0 else key_value(series[i - 1], k)
                          for i, k in enumerate(key) if k not in ("", None))
        part = part.sort_values(x)
        if xs_all is None:
            positions = part[x].to_numpy(float)
        else:
            positions = np.array([xs_all.index(v) for v in part[x]], float)
        bound = str(key[0]).startswith("oracle")
        colour = {"color": policy_colour(key[0])} if key[0] and len(key) == 1 else {}   # several lines per policy: cycle
        ax.errorbar(positions, part["mean"], yerr=part["std"], marker="*" if bound else "o", ls=":" if bound else "-",
                    capsize=3, label=label or metric, **colour)
    if xs_all is not None:
        ax.set_xticks(range(len(xs_all)), [tick_text(v) for v in xs_all])
    else:
        value_ticks(ax, sub[x])
    xl = xlabel or key_label(x)
    words = metric_label(metric)
    ax.set(xlabel=xl, ylabel=words)
    what = f"{words.rsplit(' (', 1)[0]}, by {xl.rsplit(' (', 1)[0]}{only}"
    ax.set_title("\n".join(filter(None, [what[0].upper() + what[1:], context,
                                         spread_note(sub["n"])])), fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()      # before the legend: it goes right of the axes and widens the saved figure, not squeezes it
    legend_outside(ax)
    return fig


def cost_figure(agg: pd.DataFrame, x: str, metrics: list[str], context: str = "", xlabel: str | None = None) -> Any:
    """Latency (s, ms) and memory (MB) vs ``x``, one panel per metric; an axis is logarithmic only when its values
    span two decades or more (:func:`experiments.figures.log_scale_ok`)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 4.6), squeeze=False)
    n = agg[agg["metric"].isin(metrics)]["n"]
    for ax, metric in zip(axes[0], metrics):
        part_all = agg[agg["metric"] == metric]
        xs_sorted = sorted(part_all[x].unique(), key=lambda v: (isinstance(v, str), v))
        _, categorical = _positions(np.asarray(xs_sorted))
        for policy, part in part_all.groupby("policy", sort=True):
            part = part.groupby(x, as_index=False)[["mean", "std"]].mean().sort_values(x)
            pos = np.array([xs_sorted.index(v) for v in part[x]], float) if categorical else part[x].to_numpy(float)
            ax.errorbar(pos, part["mean"], yerr=part["std"], marker="o", capsize=3, label=policy or "whole trial",
                        color=policy_colour(policy) if policy else "k")
        if categorical:
            ax.set_xticks(range(len(xs_sorted)), [tick_text(v) for v in xs_sorted])
        elif log_scale_ok(part_all[x]):
            ax.set_xscale("log")
        else:
            value_ticks(ax, part_all[x])
        if log_scale_ok(part_all["mean"]):
            ax.set_yscale("log")
        else:   # a cost is ≥ 0: from zero, so run-to-run noise is not drawn as an effect of x
            ax.set_ylim(bottom=0)
        ax.set(xlabel=xlabel or key_label(x), ylabel=metric_label(metric))
        ax.set_title(METRIC_LABELS.get(metric, metric).replace(" = ", "\n"), fontsize=9)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle("\n".join(filter(None, [f"Decision latency and memory vs {xlabel or key_label(x)}", context,
                                         spread_note(n)])), fontsize=10)
    fig.tight_layout()
    labels: dict[str, Any] = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            labels.setdefault(label, handle)
    fig.legend(list(labels.values()), list(labels), loc="upper left", bbox_to_anchor=(1.0, 0.85), fontsize=8)
    return fig


def pareto_table(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Per policy: mean carbon (kgCO2e) and mean completion time (h), and whether it is Pareto-optimal
    (:func:`experiments.figures.pareto_table`)."""
    need = frame[frame["metric"].isin(["carbon_kg", "completion_h_mean"]) & (frame["policy"] != "")]
    if need.empty or need["metric"].nunique() < 2:
        return None
    cols = ["carbon_kg", "completion_h_mean"]
    bound = frame[(frame["metric"] == "oracle_bound_kg") & frame["policy"].astype(str).str.startswith("oracle")]
    notes = frame[frame["metric"].isin(["deadline_rate", "renewable_share"]) & (frame["policy"] != "")]
    table = pd.concat([need, bound, notes]).pivot_table(index="policy", columns="metric", values="value",
                                                        aggfunc="mean")
    table = table.dropna(subset=cols).reset_index()
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


def split_figure(table: pd.DataFrame, context: str = "", note: str = "1 seed") -> Any:
    """Stacked bars per policy: operational and data-transfer carbon (kgCO2e); ``note`` says what each bar
    averages (:func:`pooled_note`)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.8))
    x = np.arange(len(table))
    ax.bar(x, table["operational_kg"], label="operational")
    ax.bar(x, table["transfer_kg"], bottom=table["operational_kg"], label="data transfer")
    ax.set_xticks(x, table["policy"], rotation=20, ha="right")
    ax.set(ylabel=f"carbon ({metric_unit('carbon_operational_kg')})")
    ax.set_title("\n".join(filter(None, ["Operational vs data-transfer carbon per policy", context, note])),
                 fontsize=9)
    thousands(ax.yaxis)
    legend_outside(ax)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def renewable_by_region(tables: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """Mean renewable utilisation per (policy, region) from the first table that has one."""
    for table in tables.values():
        col = next((c for c in table.columns if "renewable" in c), None)
        if col and "region" in table.columns and "hour" not in table.columns:
            by = [c for c in ("policy", "region") if c in table.columns]
            return table.groupby(by, as_index=False)[col].mean()
    return None


def renewable_figure(table: pd.DataFrame, context: str = "", note: str = "1 seed") -> Any:
    """Grouped bars: renewable utilisation per region and policy, in the unit of its column's metric (never
    guessed from the values: a NaN region does not change it)."""
    import matplotlib.pyplot as plt

    col = next(c for c in table.columns if "renewable" in c)
    wide = table.pivot_table(index="region", columns="policy", values=col, dropna=False) if "policy" in table else \
        table.set_index("region")[[col]]
    fig, ax = plt.subplots(figsize=(max(7.0, 1.2 * len(wide) + 4), 4.8))
    wide.plot.bar(ax=ax, rot=0)
    missing = int(wide.isna().to_numpy().sum())
    gaps = f"\nno bar: the policy used no energy in that region ({missing} region × policy cells)" if missing else ""
    ax.set(xlabel="region", ylabel=metric_label(col))
    ax.set_title("\n".join(filter(None, ["Renewable utilisation per region and policy", context, note + gaps])),
                 fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    legend_outside(ax)
    fig.tight_layout()
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


def heatmap_figure(wide: pd.DataFrame, row: str, value: str, context: str = "", note: str = "1 seed") -> Any:
    """Rows × hour of day (UTC) heatmap of ``value`` (its label carries the unit, e.g. ``energy share (%)``)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 0.45 * len(wide) + 2.4))
    im = ax.imshow(wide.to_numpy(), aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(wide)), wide.index)
    ax.set_xticks(range(0, 24, 2))
    ax.set(xlabel="hour of day (UTC)", ylabel=row)
    ax.set_title("\n".join(filter(None, [f"{value} by hour of day", context, note])), fontsize=9)
    fig.colorbar(im, ax=ax, label=value)
    fig.tight_layout()
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


BACKTEST_TABLE = "forecast_ensemble"   # files/forecast_ensemble[_<target>].csv of a backtest run


def backtest_figures(c: Any, run: Any) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Figures and tables of a backtest run from its logged forecast tables (``files/forecast_ensemble[_<target>]
    .csv``: the combined forecast on the test window, every horizon): day-ahead forecast vs actual with the 50/90 %
    intervals, the reliability diagram and MAPE (%) with 90 % interval coverage by horizon (h), per target. A
    backtest run without the table is a ``LookupError``."""
    from mlflow.exceptions import MlflowException

    params = run.data.params
    day_ahead_h = param(params, "backtest.day_ahead_h")
    targets = param(params, "targets") or []
    try:
        names = [a.path.rpartition("/")[2] for a in c.list_artifacts(run.info.run_id, "files")]
    except MlflowException:
        names = []
    names = sorted(n for n in names if n.startswith(BACKTEST_TABLE) and n.endswith((".csv", ".parquet")))
    if not names or day_ahead_h is None:
        raise LookupError(f"backtest run {run.info.run_id}: no files/{BACKTEST_TABLE}*.csv (or .parquet) or no "
                          "backtest.day_ahead_h logged; rerun it with this version to get its figures")
    figs: dict[str, Any] = {}
    tables: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fname in names:
            stem = fname.rpartition(".")[0]
            sfx = stem[len(BACKTEST_TABLE):]
            target = sfx.lstrip("_") or (targets[0] if len(targets) == 1 else "")
            if target not in TARGETS:
                raise LookupError(f"backtest run {run.info.run_id}: {fname}: cannot tell its target (targets {targets})")
            local = c.download_artifacts(run.info.run_id, f"files/{fname}", tmp)
            fc = read_forecast_table(local)
            model = str(fc["model"].iloc[0])
            figs[f"forecast_vs_actual{sfx}.png"] = fr.forecast_figure(fc, None, TARGETS[target], day_ahead_h=day_ahead_h,
                                                                      model=model, target=target)
            rel = fr.reliability(fc, day_ahead_h)
            tables[f"reliability{sfx}"] = rel
            figs[f"reliability{sfx}.png"] = fr.reliability_figure(rel, f"Reliability of the {target} quantiles — {model}")
            wide = fr.mape_by_horizon(fc, model)
            tables[f"mape_by_horizon{sfx}"] = wide.reset_index()
            cover = fr.coverage_by_horizon(fc, model)
            tables[f"coverage90_by_horizon{sfx}"] = cover.reset_index()
            figs[f"mape_by_horizon{sfx}.png"] = fr.mape_by_horizon_figure(wide, model, fr.forecast_context(fc),
                                                                         day_ahead_h, target=target, coverage=cover)
    return figs, tables


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
    by_run = run_summaries(c, runs)
    summaries = list(by_run.values())
    context = context_line(summaries)
    frame = label_oracle(frame, summaries)
    tables = {stem: label_oracle(table, summaries) for stem, table in tables.items()}

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
            figures[f"{red}_vs_{x}.png"] = curve_figure(agg, x, red, series, key_label(x, counted), context)
        cost = [m for m in COST_METRICS if m in set(agg["metric"])]
        if cost:
            figures[f"cost_vs_{x}.png"] = cost_figure(agg, x, cost, context,
                                                      key_label(x, isinstance(param(runs[0].data.params, x), list)))
    if not varied:
        add_table("metrics", aggregate(frame, ["policy", "metric"]))
    for sfx, what, part in instance_groups(frame, varied):
        ids = set(part["run_id"])
        own = {stem: t[t["run_id"].isin(ids)] for stem, t in tables.items()}
        where = "; ".join(filter(None, [what, context_line([by_run[i] for i in ids if i in by_run])]))
        pooled = pooled_note(len(ids), [k for k in varied if k not in instance_keys(varied)])
        pareto = pareto_table(part)
        if pareto is not None:
            add_table(f"pareto{sfx}", pareto)
            points = part[part["metric"].isin(["carbon_kg", "completion_h_mean"]) & (part["policy"] != "")]
            points = points.pivot_table(index=["run_id", "policy"], columns="metric", values="value").reset_index()
            figures[f"pareto_carbon_vs_completion{sfx}.png"] = pareto_figure(
                pareto, points, "Carbon vs completion time per policy" + (" (faint dots = trials)" if len(ids) > 1 else ""),
                where, pooled)
        split = carbon_split(part, own)
        if split is not None:
            add_table(f"carbon_operational_vs_transfer{sfx}", split)
            figures[f"carbon_operational_vs_transfer{sfx}.png"] = split_figure(split, where, pooled)
        renew = renewable_by_region(own)
        if renew is not None:
            add_table(f"renewable_by_region{sfx}", renew)
            figures[f"renewable_by_region{sfx}.png"] = renewable_figure(renew, where, pooled)
        hourly = hourly_allocation(own)
        if hourly is not None:
            wide, row, value = hourly
            add_table(f"allocation_by_hour{sfx}", wide.reset_index())
            figures[f"allocation_by_hour_heatmap{sfx}.png"] = heatmap_figure(wide, row, value, where, pooled)
    # MAPE → reduction per forecaster; lazy: scipy.stats takes ~1 s to import and `carbonshift --help` imports this module
    from carbonshift.experiments.forecaster_curve import forecaster_report
    curve = forecaster_report(frame, forecast_labels(c, runs), keys, by_run) if is_sweep and red else None
    if curve is not None:
        for stem, table in curve[0].items():
            add_table(stem, table)
        figures["forecaster_curve.png"] = curve[1]
    if not is_sweep and run.data.tags.get("carbonshift.kind") == "backtest":
        bt_figures, bt_tables = backtest_figures(c, run)
        figures.update(bt_figures)
        for stem, table in bt_tables.items():
            add_table(stem, table)
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
