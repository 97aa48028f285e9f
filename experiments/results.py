"""Regenerate ``RESULTS.md`` from MLflow: for each shipped single experiment (forecast backtests, the
main simulation, migration, curtailment training, duration estimates, scaling) the tables its latest
finished run logged, and for each shipped sweep its latest parent run's finished trials, the headline
curve of the main policy (mean ± std over seeds) next to the seed paper's claim, and where/when/how it
ran (machine, date, config file, seeds, settings held fixed). Never typed by hand.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carbonshift.experiments import tracking
from carbonshift.experiments.profiles import TAG as PROFILE_TAG
from carbonshift.experiments.profiles import describe
from carbonshift.experiments.provenance import TAG as CODE_VERSION_TAG
from carbonshift.experiments.provenance import project_relative
from carbonshift.experiments.report.frame import forecast_labels, name_forecast_tables, param_value, runs_frame
from carbonshift.experiments.report.markdown import markdown
from carbonshift.experiments.report.metric_names import MAIN_POLICY, METRIC_LABELS
from carbonshift.experiments.report.runs import client, finished_trials, run_summaries

NOT_RECORDED = "not recorded"


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
    top = max(weights, key=weights.__getitem__)
    return f"{top}-heavy" if weights[top] / total >= 0.5 else "mixed"


# Seed paper (seeds/000, §5.3–5.4): reduction (%) vs performance-first, planning latency (s), memory (MB).
SHIPPED: dict[str, list[Claim]] = {
    "sweep_accuracy": [Claim("forecast.accuracy", "reduction_vs_perf_first", {0.6: 28.6, 0.75: 39.4, 0.87: 47.3}, "%")],
    "sweep_accuracy_ensemble": [Claim("forecast.source", "reduction_vs_perf_first", {}, "%")],
    "sweep_forecasters": [Claim("forecast.source", "reduction_vs_perf_first", {}, "%")],   # real forecasters
    "sweep_flexibility": [Claim("workload.flexibility", "reduction_vs_perf_first", {0.1: 31.2, 0.6: 58.7}, "%")],
    "sweep_regions": [Claim("data.zones", "reduction_vs_perf_first", {2: 32.1, 6: 47.3, 10: 49.7}, "%")],
    "sweep_composition": [Claim("workload.mix", "reduction_vs_perf_first",
                                {"lm-heavy": 52.3, "cv-heavy": 44.7, "rl-heavy": 56.1, "mixed": 47.3}, "%")],
    "scale": [Claim("workload.n_jobs", "reduction_vs_perf_first", {100: 43.1, 1000: 47.3, 5000: 49.8}, "%"),
              Claim("workload.n_jobs", "plan_seconds", {100: 3.1, 1000: 8.2, 5000: 31.4}, "s"),
              # the seed's 247 MB / 1.83 GB / 8.96 GB are process figures: compared with the trial's process
              # peak RSS, not with peak_mem_mb (tracemalloc peak of one decision call)
              Claim("workload.n_jobs", "trial_peak_rss_mb", {100: 247.0, 1000: 1830.0, 5000: 8960.0}, "MB", policy=""),
              Claim("workload.n_jobs", "peak_mem_mb", {}, "MB"),
              Claim("workload.n_jobs", "trial_seconds", {}, "s", policy="")],
}


def spread(values: pd.Series) -> str:
    """``mean ± std over N seeds`` (sample std), or ``mean (1 seed)`` — one seed has no spread to show."""
    if len(values) == 1:
        return f"{values.iloc[0]:.2f} (1 seed)"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f} over {len(values)} seeds"


EXTRA_METRICS = ("deadline_rate", "renewable_share", "oracle_share", "ontime_share")

#: Suffix of the backtest's calibrated combined forecast (``ensemble(gbm 0.62, prophet 0.38)+cqr`` or ``gbm+cqr``).
CALIBRATED = "+cqr"

#: Decision-value tables of a backtest (experiments.decision_value): the ensemble's goal groups at a glance and its
#: decision reliability (the calibrated ensemble's rows end in ``+cqr``).
DECISION_TABLES: list[tuple[str, str | None]] = [("decision_value_goals", None),
                                                 ("decision_reliability", f"model.str.endswith('{CALIBRATED}')")]

#: Single experiments shown in RESULTS.md: run name → (table-name prefix, optional row filter) pairs.
RUN_TABLES: dict[str, list[tuple[str, str | None]]] = {
    "forecast_dacf": [("mape_by_region", None), ("ensemble_goals", None), ("accuracy_by_horizon", None),
                      ("coverage", f"model.str.endswith('{CALIBRATED}')"), ("coverage90_by_month", None), *DECISION_TABLES],
    "forecast_tune": [("validation_mape", None), ("trials", None)],
    "forecast_dacf_tuned": [("mape_by_region", None), ("ensemble_goals", None), *DECISION_TABLES],
    "forecast_em": [("mape_by_region", None), ("ensemble_goals", None),
                    ("coverage", f"model.str.endswith('{CALIBRATED}') and nominal == 0.9"), ("coverage90_by_month", None),
                    *DECISION_TABLES],
    "forecast_paper_period": [("mape_by_region", None), ("ensemble_goals", None), *DECISION_TABLES],
    "forecast_level_shift": [("mape_by_region", None), ("mape_by_month", None), ("coverage90_by_month", None), *DECISION_TABLES],
    "forecast_level_shift_refit": [("mape_by_region", None), ("mape_by_month", None), ("coverage90_by_month", None), *DECISION_TABLES],
    "forecast_members": [("mape_by_region", None),
                         ("coverage", "nominal == 0.9 and not model.str.endswith('(uncalibrated)')"), *DECISION_TABLES,
                         ("decision_value_vs_mape", None)],
    "paper_main": [("policies", None), ("oracle_bounds", None)],
    "paper_capacity": [("policies", None), ("oracle_bounds", None)],
    "duration_mismatch": [("policies", None), ("oracle_bounds", None)],
    "temporal_only": [("policies", None), ("oracle_bounds", None)],
    "regional": [("policies", None), ("regional_sync", None)],
    "scale_bench": [("scale", None)],
    "duration_feedback": [("policies", "policy in ['performance_first', 'risk_aware']")],
    "migration": [("policies", None), ("feasibility", None)],
    "migration_forecast": [("policies", None), ("forecast_windows_pr", None)],
    "curtailment_training": [("runs", None)],
    "curtailment_forecast": [("runs", None), ("forecast_windows_pr", None)],
    "topology": [("summary", None)],
    "duration": [("duration_errors", None)],
    "scaling": [("scaling_comparison", None)],
}


@dataclass
class RunSection:
    name: str
    run: Any
    tables: list[tuple[str, pd.DataFrame]]


def latest_run(c: Any, name: str) -> Any | None:
    """The latest FINISHED single (non-sweep) run named ``name``."""
    exps = [e.experiment_id for e in c.search_experiments()]
    runs = c.search_runs(exps, filter_string=f"attributes.run_name = '{name}' and tags.`carbonshift.role` = 'run' "
                         "and attributes.status = 'FINISHED'", order_by=["attributes.start_time DESC"],
                         max_results=1) if exps else []
    return runs[0] if runs else None


def collect_runs(c: Any) -> list[RunSection]:
    """The logged tables of the latest run of every experiment in :data:`RUN_TABLES` present in MLflow."""
    import tempfile

    sections = []
    for name, wanted in RUN_TABLES.items():
        run = latest_run(c, name)
        if run is None:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(c.download_artifacts(run.info.run_id, "tables", tmp))
            logged = {p.stem: p for p in sorted(folder.glob("*.csv"))}
            tables = []
            for prefix, query in wanted:
                for stem, path in logged.items():
                    if stem == prefix or stem.startswith(prefix + "_"):
                        table = pd.read_csv(path)
                        tables.append((stem, table.query(query, engine="python") if query else table))
        sections.append(RunSection(name, run, tables))
    return sections


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
               f"{METRIC_LABELS.get(claim.metric, claim.metric)} ({claim.unit})": spread(vals), "seeds": len(vals)}
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
        if "forecast.source" in keys:
            labels = forecast_labels(run_summaries(c, trials))
            frame = name_forecast_tables(frame, labels)
            synthetic = (frame["forecast.source"] == "synthetic") & frame["run_id"].isin(labels)   # perfect foresight …
            frame.loc[synthetic, "forecast.source"] = "synthetic (" + frame.loc[synthetic, "run_id"].map(labels) + ")"
        claims = SHIPPED.get(name) or [Claim(next((k for k in keys if k != "seed"), "seed"),
                                             "reduction_vs_perf_first", {}, "%")]
        for claim in claims:
            if claim.x in keys:
                table = headline(frame, claim, keys)
                if len(table):
                    sec.tables.append((claim, table))
        sections.append(sec)
    return sections


def _when(ms: int | None) -> str:
    return dt.datetime.fromtimestamp((ms or 0) / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def run_code_version(run: Any) -> str:
    """The code version a run was tagged with (:func:`experiments.provenance.code_version`)."""
    return run.data.tags.get(CODE_VERSION_TAG, NOT_RECORDED)


def code_versions(sections: list[SweepSection], runs: list[RunSection]) -> dict[str, list[str]]:
    """Code version → names of the rendered experiments (a sweep: each of its finished trials) run under it."""
    out: dict[str, list[str]] = {}
    for run_sec in runs:
        out.setdefault(run_code_version(run_sec.run), []).append(run_sec.name)
    for sec in sections:
        for version in sorted({run_code_version(t) for t in sec.trials}):
            out.setdefault(version, []).append(sec.name)
    return out


def run_profile(run: Any) -> str:
    """The run profile a run or sweep ran under (:mod:`experiments.profiles`); runs from before profiles were
    recorded say so."""
    return run.data.tags.get(PROFILE_TAG, NOT_RECORDED)


def profile_line(run: Any) -> str:
    """``- profile: `two_core` (overrides: …)`` for one run or sweep parent."""
    overrides = run.data.tags.get("carbonshift.overrides")
    return f"- profile: `{run_profile(run)}`" + (f"; overrides: `{overrides}`" if overrides else "")


def render_profiles(sections: list[SweepSection], runs: list[RunSection]) -> list[str]:
    """One line naming the profile(s) of the rendered runs (see :mod:`experiments.profiles`)."""
    used: dict[str, list[str]] = {}
    for name, run in [(s.name, s.run) for s in runs] + [(s.name, s.parent) for s in sections]:
        used.setdefault(run_profile(run), []).append(name)
    if len(used) == 1:
        (profile, _), = used.items()
        return [f"Profile of the runs shown: `{profile}` ({describe(profile)}) for every run.", ""]
    if not used:
        return []
    return ["Profiles of the runs shown: " + "; ".join(f"`{p}` ({describe(p)}: {', '.join(names)})"
                                                      for p, names in sorted(used.items())) + ".", ""]


def render_code_versions(versions: dict[str, list[str]]) -> list[str]:
    """Lines listing the code versions of the rendered runs, with a warning when they differ."""
    if not versions:
        return []
    lines = [f"Code version{'s' if len(versions) > 1 else ''} of the runs shown: "
             + "; ".join(f"`{v}` ({', '.join(names)})" for v, names in sorted(versions.items())) + "."]
    if len(versions) > 1:
        lines += ["", f"**Warning: these results come from {len(versions)} different code versions** "
                      f"(or runs that did not record one); numbers from different versions may not be comparable."]
    if any(v.endswith("-dirty") for v in versions):
        lines += ["", "Versions ending in `-dirty` ran with uncommitted changes to tracked files on top of that "
                      "commit; their exact code is not recorded."]
    return lines + [""]


def render_run(sec: RunSection) -> list[str]:
    r = sec.run
    seconds = r.data.metrics.get("trial_seconds")
    out = [f"## {sec.name}", "",
           f"- config: `{r.data.tags.get('carbonshift.config_source', '?')}` (kind `{r.data.tags.get('carbonshift.kind', '?')}`), "
           f"seed {r.data.params.get('seed', '?')}",
           f"- MLflow run `{r.info.run_id}`, started {_when(r.info.start_time)}"
           + (f", wall time {seconds:,.0f} s" if seconds is not None else ""),
           f"- machine: {r.data.tags.get('carbonshift.machine', NOT_RECORDED)}; code `{run_code_version(r)}`",
           profile_line(r), ""]
    for name, table in sec.tables:
        headers = {c: METRIC_LABELS[c].replace(" = ", " (") + ")" for c in table.columns if c in METRIC_LABELS}
        out += [f"**{name}**", "", markdown(table.rename(columns=headers).reset_index(drop=True)), ""]
    return out


def render(sections: list[SweepSection], runs: list[RunSection] | None = None) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["# Results", "",
           f"Generated by `carbonshift results` on {now} from the MLflow store "
           f"`{project_relative(tracking.tracking_uri())}`. "
           "Do not edit by hand: rerun the experiments (`make results` runs every shipped config) and this command.",
           "", "Units: carbon intensity gCO2eq/kWh, emissions kgCO2e, energy kWh, MAPE and shares in %.", ""]
    out += render_code_versions(code_versions(sections, runs or []))
    out += render_profiles(sections, runs or [])
    for run_sec in runs or []:
        out += render_run(run_sec)
    if sections:
        out += ["# Sweeps", "",
                f"Main policy: `{MAIN_POLICY}`; reductions are vs `performance_first` (%), mean ± std (sample) over "
                "the seeds shown; a single seed is marked `(1 seed)`, it has no spread. "
                "The seed paper's numbers are its claims (seeds/000, §5), shown for comparison.", ""]
    for sec in sections:
        p = sec.parent
        seeds = sorted({param_value(t.data.params.get("seed")) for t in sec.trials}, key=str)
        out += [f"## {sec.name}", "",
                f"- config: `{project_relative(p.data.tags.get('carbonshift.config_path') or p.data.tags.get('carbonshift.config_source'))}`"
                f" (kind `{p.data.tags.get('carbonshift.kind', '?')}`), swept: {', '.join(f'`{k}`' for k in sec.keys)}",
                f"- MLflow parent run `{p.info.run_id}`, started {_when(p.info.start_time)}, status {p.info.status}; "
                f"{len(sec.trials)} of {p.data.params.get('n_trials', '?')} trials finished",
                f"- machine: {p.data.tags.get('carbonshift.machine', NOT_RECORDED)} "
                f"(Ray: {p.data.tags.get('carbonshift.ray_address', 'local')}); code "
                + ", ".join(f"`{v}`" for v in sorted({run_code_version(t) for t in sec.trials})),
                f"- seeds: {', '.join(map(str, seeds))}", profile_line(p), ""]
        for claim, table in sec.tables:
            who = f"`{claim.policy}`" if claim.policy else "per trial"
            out += [f"**{claim.metric}** ({who}) vs `{claim.x}`" +
                    (" (number of regions)" if claim.x == "data.zones" else ""), "", markdown(table), ""]
        fixed = _fixed_settings(sec.trials, sec.keys)
        out += ["<details><summary>settings held fixed</summary>", "", "| key | value |", "|---|---|"]
        out += [f"| `{k}` | `{(project_relative(v) if v.startswith('/') else v)[:200]}` |" for k, v in fixed.items()]
        out += ["", "</details>", ""]
    return "\n".join(out)


def write_results(output: str | Path = "RESULTS.md", names: list[str] | None = None) -> dict[str, Any]:
    """Write ``output`` from MLflow; returns {"sweeps": [...], "headline": rows} for the command."""
    sections = collect(names)
    runs = [] if names else collect_runs(client())
    if not sections and not runs:
        raise LookupError(f"no finished shipped experiments or sweeps in {tracking.tracking_uri()}")
    Path(output).write_text(render(sections, runs))
    rows = [{"section": s.name, "trials": len(s.trials), "run_id": s.parent.info.run_id,
             "tables": len(s.tables)} for s in sections]
    rows += [{"section": s.name, "trials": 1, "run_id": s.run.info.run_id, "tables": len(s.tables)} for s in runs]
    return {"sweeps": [{"name": s.name} for s in sections], "headline": rows}

