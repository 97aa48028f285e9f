"""The long metrics frame of a report: one row per (run, policy, metric) with the swept keys' values as columns
(read from each run's flattened config params), its aggregation over seeds, the names it gives forecast tables
and the oracle, and its split into groups of runs that scheduled the same instance."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from carbonshift.experiments.figures import key_value


def param_value(text: str | None) -> Any:
    """A logged param as the config value it was (JSON), or the text itself when it is not JSON."""
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
        return param_value(params[key])
    prefix = f"{key}."
    nested = {k[len(prefix):]: param_value(v) for k, v in params.items() if k.startswith(prefix)}
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


def forecast_labels(summaries: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Run id → what forecast the run planned on (the ``forecast`` entry of its ``summary.json``, e.g.
    ``gbm+cqr forecast table forecast_ensemble.csv``), for runs that logged one; ``summaries``: run id → summary
    (:func:`experiments.report.runs.run_summaries`)."""
    return {run_id: str(summary["forecast"]).split(", measured accuracy")[0]
            for run_id, summary in summaries.items() if summary.get("forecast")}


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


def label_oracle(frame: pd.DataFrame, summaries: list[dict[str, Any]]) -> pd.DataFrame:
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
    (:func:`instance_keys`), so per-policy totals compare like with like; one group (``""``) when none varies."""
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
