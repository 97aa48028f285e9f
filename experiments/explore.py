"""Exploration across MLflow runs (notebook 02): every trial of every sweep in the store — all sweeps of an
experiment, all code versions — as one table, and one metric against one swept value with a line per sweep run.

A report (:mod:`experiments.report`) shows one sweep; this compares sweeps: reruns at another code version,
sweeps of one experiment with other settings, or any metric the report does not plot. Reads MLflow only."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from carbonshift.experiments.report.runs import client

#: columns of :func:`trials` before the ``params.*`` / ``metrics.*`` ones
ID_COLUMNS = ["experiment", "sweep", "sweep_run_id", "sweep_started", "code_version", "trial", "status", "run_id"]


def trials(experiments: list[str] | None = None, statuses: tuple[str, ...] = ("FINISHED",)) -> pd.DataFrame:
    """One row per sweep trial in the MLflow store of :func:`experiments.tracking.tracking_uri` (experiments named in
    ``experiments``, default all; runs whose status is in ``statuses``): :data:`ID_COLUMNS`, then every param
    (``params.<dotted key>``, as logged) and metric (``metrics.<name>``)."""
    import mlflow

    c = client()
    exps = {e.experiment_id: e.name for e in c.search_experiments()
            if experiments is None or e.name in experiments}
    if not exps:
        return pd.DataFrame(columns=ID_COLUMNS)
    kids = mlflow.search_runs(list(exps), filter_string="tags.`carbonshift.role` = 'trial'", output_format="pandas")
    kids = kids[kids["status"].isin(statuses)] if len(kids) else kids
    if kids.empty:
        return pd.DataFrame(columns=ID_COLUMNS)
    parents = mlflow.search_runs(list(exps), filter_string="tags.`carbonshift.role` = 'sweep'",
                                 output_format="pandas").set_index("run_id")
    pid = kids["tags.mlflow.parentRunId"]
    out = pd.DataFrame({
        "experiment": kids["experiment_id"].map(exps),
        "sweep": pid.map(parents["tags.mlflow.runName"]),
        "sweep_run_id": pid,
        "sweep_started": pid.map(parents["start_time"]),
        "code_version": kids.get("tags.carbonshift.code_version", pd.Series("", index=kids.index)),
        "trial": kids.get("tags.carbonshift.trial"),
        "status": kids["status"],
        "run_id": kids["run_id"],
    })
    rest = kids[[c for c in kids.columns if c.startswith(("params.", "metrics."))]]
    rest = rest.apply(lambda s: _numeric(s) if s.name.startswith("params.") else s)
    return pd.concat([out, rest], axis=1).sort_values(["sweep_started", "trial"]).reset_index(drop=True)


def compare(frame: pd.DataFrame, x: str, y: str, by: str = "sweep_run_id") -> tuple[Any, pd.DataFrame]:
    """``y`` (a ``metrics.*`` column) against ``x`` (a ``params.*`` column), one line per value of ``by`` (default:
    each sweep run), mean ± 95 % normal interval (1.96 standard errors) over the trials at each x (seeds, months, …).
    Returns (figure, table: by, x, mean, ci95, n)."""
    import matplotlib.pyplot as plt

    for col in (x, y, by):
        if col not in frame.columns:
            raise KeyError(f"{col!r} is not a column of the trials table; choose among "
                           f"{[c for c in frame.columns if c.startswith(('params.', 'metrics.'))][:40]}…")
    rows = frame.dropna(subset=[x, y])
    table = (rows.groupby([by, x])[y].agg(["mean", "std", "count"]).reset_index()
             .rename(columns={"count": "n"}))
    table["ci95"] = 1.96 * table["std"].fillna(0) / np.sqrt(table["n"])
    table = table.drop(columns="std")
    labels = _labels(rows, by)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for key, g in table.groupby(by, sort=False):
        ax.errorbar(g[x], g["mean"], yerr=g["ci95"], marker="o", capsize=3, label=labels.get(key, str(key)))
    ax.set(xlabel=x.removeprefix("params."), ylabel=y.removeprefix("metrics."),
           title=f"{y.removeprefix('metrics.')} vs {x.removeprefix('params.')}: mean and 95 % interval over trials")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), title=by)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig, table


def _numeric(values: pd.Series) -> pd.Series:
    """Logged params are text: numbers where every value is one (``forecast.accuracy``), else as logged."""
    try:
        return pd.to_numeric(values)
    except (ValueError, TypeError):
        return values


def _labels(rows: pd.DataFrame, by: str) -> dict[Any, str]:
    """Legend label per sweep run: its name, start date (UTC) and code version; other ``by`` columns as they are."""
    if by != "sweep_run_id":
        return {}
    first = rows.drop_duplicates("sweep_run_id").set_index("sweep_run_id")
    return {rid: f"{r['sweep']} {pd.Timestamp(r['sweep_started']):%Y-%m-%d %H:%M} @{str(r['code_version'])[:12]}"
            for rid, r in first.iterrows()}


def sweeps(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per sweep run of a :func:`trials` table: experiment, name, run id, start (UTC), code version, number
    of trials, and the params that vary across its trials (what it swept)."""
    rows = []
    for rid, g in frame.groupby("sweep_run_id", sort=False):
        varied = [c.removeprefix("params.") for c in g.columns
                  if c.startswith("params.") and g[c].nunique(dropna=True) > 1]
        rows.append({"experiment": g["experiment"].iloc[0], "sweep": g["sweep"].iloc[0], "sweep_run_id": rid,
                     "started": g["sweep_started"].iloc[0], "code_version": g["code_version"].iloc[0],
                     "trials": len(g), "varies": ", ".join(varied)})
    return pd.DataFrame(rows)
