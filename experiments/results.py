"""Regenerate ``RESULTS.md`` from MLflow: for each shipped sweep, its latest parent run's finished
trials, the headline curve of the main policy (mean ± std over seeds) next to the seed paper's claim,
and where/when/how it ran (machine, date, config file, seeds, settings held fixed). Never typed by hand.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import tracking
from experiments.report import MAIN_POLICY, _param_value, client, finished_trials, markdown, runs_frame


@dataclass(frozen=True)
class Claim:
    """One headline of a shipped sweep: x key, metric (of the main policy unless ``policy=''``) and the
    seed paper's numbers for it ({x: value}); ``label`` maps an x value to the key of ``values``."""

    x: str
    metric: str
    values: dict[Any, float]
    unit: str
    policy: str = MAIN_POLICY


def composition_label(mix_text: str) -> str:
    """``'lm=0.7 cv=0.1 rl=0.1 rec=0.1'`` → ``'lm-heavy'``; no type ≥ 50 % → ``'mixed'``."""
    pairs = dict(p.split("=") for p in str(mix_text).split())
    weights = {k: float(v) for k, v in pairs.items()}
    total = sum(weights.values()) or 1.0
    top = max(weights, key=weights.get)
    return f"{top}-heavy" if weights[top] / total >= 0.5 else "mixed"


# Seed paper (seeds/000, §5.3–5.4): reduction (%) vs performance-first, planning latency (s), memory (MB).
SHIPPED: dict[str, list[Claim]] = {
    "sweep_accuracy": [Claim("forecast.accuracy", "reduction_vs_perf_first", {0.6: 28.6, 0.75: 39.4, 0.87: 47.3}, "%")],
    "sweep_accuracy_ensemble": [Claim("forecast.source", "reduction_vs_perf_first", {}, "%")],
    "sweep_flexibility": [Claim("workload.flexibility", "reduction_vs_perf_first", {0.1: 31.2, 0.6: 58.7}, "%")],
    "sweep_regions": [Claim("data.zones", "reduction_vs_perf_first", {2: 32.1, 6: 47.3, 10: 49.7}, "%")],
    "sweep_composition": [Claim("workload.mix", "reduction_vs_perf_first",
                                {"lm-heavy": 52.3, "cv-heavy": 44.7, "rl-heavy": 56.1, "mixed": 47.3}, "%")],
    "scale": [Claim("workload.n_jobs", "reduction_vs_perf_first", {100: 43.1, 1000: 47.3, 5000: 49.8}, "%"),
              Claim("workload.n_jobs", "plan_seconds", {100: 3.1, 1000: 8.2, 5000: 31.4}, "s"),
              Claim("workload.n_jobs", "peak_mem_mb", {100: 247.0, 1000: 1830.0, 5000: 8960.0}, "MB"),
              Claim("workload.n_jobs", "trial_seconds", {}, "s", policy=""),
              Claim("workload.n_jobs", "trial_peak_rss_mb", {}, "MB", policy="")],
}
EXTRA_METRICS = ("deadline_rate", "renewable_share", "oracle_share")


def _claim_key(claim: Claim, x: Any) -> Any:
    return composition_label(x) if claim.x == "workload.mix" else x


def headline(frame: pd.DataFrame, claim: Claim, keys: list[str]) -> pd.DataFrame:
    """Mean ± std (over seeds) of ``claim.metric`` per x (and per any other non-seed swept key), with
    the main policy's deadline rate, renewable share and oracle share, next to the seed's number."""
    series = [k for k in keys if k not in ("seed", claim.x)]
    sub = frame[frame["policy"] == claim.policy]
    rows = []
    for key, part in sub.groupby([claim.x, *series], sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        vals = part[part["metric"] == claim.metric]["value"].dropna()
        if vals.empty:
            continue
        shown = f"{composition_label(key[0])} ({key[0]})" if claim.x == "workload.mix" else key[0]
        row = {claim.x: shown, **dict(zip(series, key[1:])),
               f"{claim.metric} ({claim.unit})": f"{vals.mean():.2f} ± {vals.std(ddof=1) if len(vals) > 1 else 0:.2f}",
               "seeds": len(vals)}
        measured = frame[(frame["policy"] == "") & (frame["metric"] == "forecast_accuracy_pct")
                         & frame["run_id"].isin(part["run_id"])]["value"]
        if claim.unit == "%" and len(measured):
            row["measured forecast accuracy (%)"] = round(float(measured.mean()), 1)
        if claim.unit == "%":
            for m in EXTRA_METRICS:
                extra = part[part["metric"] == m]["value"].dropna()
                row[f"{m} (%)"] = round(float(extra.mean()), 1) if len(extra) else np.nan
        seed = claim.values.get(_claim_key(claim, key[0]))
        row[f"seed paper ({claim.unit})"] = seed if seed is not None else ""
        rows.append(row)
    return pd.DataFrame(rows)


def latest_sweep(c: Any, name: str) -> Any | None:
    exps = [e.experiment_id for e in c.search_experiments()]
    runs = c.search_runs(exps, filter_string=f"attributes.run_name = '{name}' and tags.`carbonshift.role` = 'sweep'",
                         order_by=["attributes.start_time DESC"], max_results=1) if exps else []
    return runs[0] if runs else None


def _fixed_settings(trials: list[Any], keys: list[str]) -> dict[str, str]:
    """Params identical across all trials (the settings the sweep held fixed)."""
    first = trials[0].data.params
    return {k: v for k, v in sorted(first.items())
            if k not in keys and all(t.data.params.get(k) == v for t in trials[1:])}


@dataclass
class SweepSection:
    name: str
    parent: Any
    trials: list[Any]
    keys: list[str]
    tables: list[tuple[Claim, pd.DataFrame]] = field(default_factory=list)


def collect(names: list[str] | None = None) -> list[SweepSection]:
    """The latest sweep run of each name (default: every shipped sweep present in MLflow)."""
    c = client()
    sections = []
    for name in names or list(SHIPPED):
        parent = latest_sweep(c, name)
        if parent is None:
            if names:
                raise LookupError(f"no sweep named {name!r} in {tracking.tracking_uri()}")
            continue
        trials = finished_trials(c, parent)
        if not trials:
            continue
        keys = json.loads(parent.data.tags.get("carbonshift.sweep_keys", "[]"))
        sec = SweepSection(name, parent, trials, keys)
        frame = runs_frame(trials, keys)
        claims = SHIPPED.get(name) or [Claim(next((k for k in keys if k != "seed"), "seed"),
                                             "reduction_vs_perf_first", {}, "%")]
        for claim in claims:
            if claim.x in keys:
                table = headline(frame, claim, keys)
                if len(table):
                    sec.tables.append((claim, table))
        sections.append(sec)
    if not sections:
        raise LookupError(f"no finished shipped sweeps ({', '.join(SHIPPED)}) in {tracking.tracking_uri()}")
    return sections


def _when(ms: int | None) -> str:
    return dt.datetime.fromtimestamp((ms or 0) / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render(sections: list[SweepSection]) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["# Results", "",
           f"Generated by `carbonshift results` on {now} from the MLflow store `{tracking.tracking_uri()}`. "
           "Do not edit by hand: rerun the sweeps (`carbonshift sweep CONFIG`) and this command.", "",
           f"Main policy: `{MAIN_POLICY}`; reductions are vs `performance_first` (%), mean ± std over seeds. "
           "The seed paper's numbers are its claims (seeds/000, §5), shown for comparison.", ""]
    for sec in sections:
        p = sec.parent
        seeds = sorted({_param_value(t.data.params.get("seed")) for t in sec.trials}, key=str)
        out += [f"## {sec.name}", "",
                f"- config: `{p.data.tags.get('carbonshift.config_path') or p.data.tags.get('carbonshift.config_source')}`"
                f" (kind `{p.data.tags.get('carbonshift.kind', '?')}`), swept: {', '.join(f'`{k}`' for k in sec.keys)}",
                f"- MLflow parent run `{p.info.run_id}`, started {_when(p.info.start_time)}, status {p.info.status}; "
                f"{len(sec.trials)} of {p.data.params.get('n_trials', '?')} trials finished",
                f"- machine: {p.data.tags.get('carbonshift.machine', 'not recorded')} "
                f"(Ray: {p.data.tags.get('carbonshift.ray_address', 'local')})",
                f"- seeds: {', '.join(map(str, seeds))}", ""]
        for claim, table in sec.tables:
            who = f"`{claim.policy}`" if claim.policy else "per trial"
            out += [f"**{claim.metric}** ({who}) vs `{claim.x}`" +
                    (" (number of regions)" if claim.x == "data.zones" else ""), "", markdown(table), ""]
        fixed = _fixed_settings(sec.trials, sec.keys)
        out += ["<details><summary>settings held fixed</summary>", "", "| key | value |", "|---|---|"]
        out += [f"| `{k}` | `{v[:200]}` |" for k, v in fixed.items()] + ["", "</details>", ""]
    return "\n".join(out)


def write_results(output: str | Path = "RESULTS.md", names: list[str] | None = None) -> dict[str, Any]:
    """Write ``output`` from MLflow; returns {"sweeps": [...], "headline": rows} for the command."""
    sections = collect(names)
    Path(output).write_text(render(sections))
    rows = [{"sweep": s.name, "trials": len(s.trials), "run_id": s.parent.info.run_id,
             "tables": len(s.tables)} for s in sections]
    return {"sweeps": [{"name": s.name} for s in sections], "headline": rows}

