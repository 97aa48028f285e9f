"""Decision-value tables, summary, metrics and figure of forecast tables (:mod:`forecast.decision_scores`), shared by
the backtest kind and ``carbonshift forecast value``. Only carbon-intensity targets (``ci_direct``, ``ci_lca``):
a job minimises carbon, not a renewable share.

Tables (``sfx``: ``""`` or ``_<target>``): ``decision_value`` (model × choice × region incl. pooled rows × {all
shapes, goal groups}, with bootstrap intervals), ``decision_value_shapes`` (per single job shape),
``decision_value_vs_<baseline>`` (reference − baseline captured share, paired bootstrap), ``decision_reliability``
(implied vs observed P(chosen window beats run-now)), ``decision_value_vs_mape`` (the figure's points),
``decision_value_goals`` (the reference's goal groups at a glance, for RESULTS).
Metrics ``decision_share_<group key>.<target>.<model key>.<region | mean_of_zones | pooled>`` (temporal choice, %).
"""
from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carbonshift.experiments.figures import METRIC_UNITS, add_caption, legend_outside, metric_label
from carbonshift.experiments.report.runs import client, resolve
from carbonshift.forecast.decision_scores import GOAL_GROUPS, MEAN_OF_ZONES, POOLED, ValueReport, value_report
from carbonshift.forecast.metrics import mape
from carbonshift.forecast.palette import forecaster_colour
from carbonshift.forecast.report import forecast_context

CI_TARGETS = ("ci_direct", "ci_lca")
#: goal group → metric-name key
GROUP_KEYS = {"L 1–8 h, S 24–48 h": "s24_48", "L 1–8 h, S 96–168 h": "s96_168"}


@dataclass
class DecisionValue:
    """What :func:`decision_value` adds to a run's result (figure: ``decision_value<sfx>.png``)."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    figure: Any = None
    figure_name: str = "decision_value.png"

    def add_to(self, result: Any) -> None:
        """Merge into a run's :class:`experiments.registry.Result`."""
        result.tables.update(self.tables)
        result.metrics.update(self.metrics)
        result.summary.update(self.summary)
        result.figures[self.figure_name] = self.figure


def mape_points(tables: Mapping[str, pd.DataFrame], rep: ValueReport, short: Mapping[str, str]) -> pd.DataFrame:
    """One row per forecaster: MAPE (%, mean over regions, test hours at horizons ≤ the group's longest slack)
    and the captured share (temporal choice, mean of zones, with its interval) of the first goal group the
    tables reach (else all shapes)."""
    s = rep.scores[(rep.scores["choice"] == "time") & (rep.scores["region"] == MEAN_OF_ZONES)]
    group = next((g for g in GOAL_GROUPS if g in set(s["group"])), "all shapes")
    max_h = GOAL_GROUPS[group][1][1] if group in GOAL_GROUPS else None
    rows = []
    for name, t in tables.items():
        t = t if max_h is None else t[t["horizon_h"] <= max_h]
        m = t.groupby("region").apply(lambda g: mape(g["actual"], g["mean"]), include_groups=False).mean()
        row = s[(s["model"] == name) & (s["group"] == group)].iloc[0]
        rows.append({"model": short.get(name, name), "forecaster": name, "group": group,
                     "mape_horizons_h": f"1–{max_h if max_h else int(t['horizon_h'].max())}", "mape": float(m),
                     **{k: float(row[k]) for k in ("captured_share_pct", "captured_share_pct_lo", "captured_share_pct_hi")}})
    return pd.DataFrame(rows)


def value_figure(points: pd.DataFrame, caption: str) -> Any:
    """MAPE (%, x) against the captured share of the perfect-foresight saving (%, y), one point per forecaster
    with its bootstrap interval; short labels on the points, provenance in ``caption``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    y = points["captured_share_pct"].to_numpy(float)
    err = np.vstack([y - points["captured_share_pct_lo"].to_numpy(float), points["captured_share_pct_hi"].to_numpy(float) - y])
    ax.errorbar(points["mape"], y, yerr=err, fmt="none", capsize=3, ecolor="grey", zorder=2)
    ax.scatter(points["mape"], y, c=[forecaster_colour(f) for f in points["forecaster"]], edgecolors="k", zorder=3)
    for k, row in enumerate(points.sort_values("captured_share_pct").itertuples(index=False)):   # alternate sides
        ax.annotate(row.model, (row.mape, row.captured_share_pct), textcoords="offset points", fontsize=8,
                    xytext=(6, 4) if k % 2 else (-6, -11), ha="left" if k % 2 else "right")
    ax.axhline(100, color="goldenrod", ls=":", lw=1, label="perfect foresight (100 %)")
    ax.axhline(0, color="grey", ls="--", lw=1, label="run-now (0 %)")
    group, hours = points["group"].iloc[0], points["mape_horizons_h"].iloc[0]
    ax.set(xlabel=f"{METRIC_UNITS['mape'][0]}, horizons {hours} h, mean over zones (%)",
           ylabel=metric_label("captured_share_pct"))
    ax.set_title(f"Decision value vs accuracy — jobs {group}, mean over zones", fontsize=10)
    ax.grid(alpha=0.3)
    legend_outside(ax)
    add_caption(fig, textwrap.fill(caption, 110))
    fig.tight_layout()
    return fig


def decision_value(tables: Mapping[str, pd.DataFrame], target: str, sfx: str = "", reference: str | None = None,
                   baseline: str | None = None, short: Mapping[str, str] | None = None, caption: str = "",
                   n_boot: int = 1000, seed: int = 0) -> DecisionValue:
    """Decision value of each forecaster (name → its test-window forecast table with ``actual``); ``reference``
    (e.g. the ensemble) is compared with ``baseline`` (e.g. seasonal24) when both are given; ``short``: names
    for labels and metric keys (default: the names)."""
    if target not in CI_TARGETS:
        raise ValueError(f"decision value is for carbon-intensity targets {CI_TARGETS}, not {target!r}")
    short = dict(short or {})
    rep = value_report(tables, n_boot=n_boot, seed=seed, reference=reference, baseline=baseline)
    out = DecisionValue()
    out.tables[f"decision_value{sfx}"] = rep.scores
    out.tables[f"decision_value_shapes{sfx}"] = rep.shapes
    if rep.paired is not None and baseline is not None:   # paired: both reference and baseline given
        out.tables[f"decision_value_vs_{short.get(baseline, baseline)}{sfx}"] = rep.paired
    out.tables[f"decision_reliability{sfx}"] = rep.reliability
    out.tables[f"decision_value_goals{sfx}"] = goals_table(rep, reference or next(iter(tables)), short)
    points = mape_points(tables, rep, short)
    out.tables[f"decision_value_vs_mape{sfx}"] = points
    temporal = rep.scores[rep.scores["choice"] == "time"]
    for row in temporal[temporal["group"].isin(list(GROUP_KEYS))].itertuples(index=False):
        region = {MEAN_OF_ZONES: "mean_of_zones", POOLED: "pooled"}.get(row.region, row.region)
        out.metrics[f"decision_share_{GROUP_KEYS[row.group]}.{target}.{short.get(row.model, row.model)}.{region}"] = \
            float(row.captured_share_pct)
    out.summary[f"decision_value{sfx}"] = summary_lines(rep, reference, baseline, short)
    out.summary[f"decision_value_notes{sfx}"] = rep.notes
    out.figure, out.figure_name = value_figure(points, caption), f"decision_value{sfx}.png"
    return out


def _ci(v: float, lo: float, hi: float) -> str:
    return f"{v:.1f} [{lo:.1f}, {hi:.1f}]"


def goals_table(rep: ValueReport, reference: str, short: Mapping[str, str]) -> pd.DataFrame:
    """The goal groups at a glance (RESULTS): per choice, goal group and region (zones, mean of zones, pooled) the
    reference's captured share [95 % interval], regret (%), rank correlation and decisions, and with a baseline its
    share and the paired difference [interval]."""
    s = rep.scores[(rep.scores["model"] == reference) & rep.scores["group"].isin(list(GOAL_GROUPS))]
    out = pd.DataFrame({"choice": s["choice"], "jobs": s["group"], "region": s["region"],
                        "decisions": s["n_decisions"],
                        f"{short.get(reference, reference)} captured share (%)":
                            [_ci(*v) for v in s[["captured_share_pct", "captured_share_pct_lo", "captured_share_pct_hi"]].to_numpy()],
                        "regret (%)": s["regret_pct"].round(2), "rank correlation": s["spearman"].round(2)})
    if rep.paired is not None:
        base = short.get(rep.paired["baseline"].iloc[0], rep.paired["baseline"].iloc[0])
        p = rep.paired.set_index(["choice", "group", "region"]).reindex(pd.MultiIndex.from_frame(s[["choice", "group", "region"]]))
        out[f"{base} captured share (%)"] = p["share_b_pct"].round(1).to_numpy()
        out["difference (pp) [95 % interval]"] = [_ci(*v) for v in p[["difference_pp", "difference_lo", "difference_hi"]].to_numpy()]
        out["interval excludes 0"] = p["excludes_zero"].to_numpy()
    return out.reset_index(drop=True)


def summary_lines(rep: ValueReport, reference: str | None, baseline: str | None, short: Mapping[str, str]) -> list[str]:
    """Per goal group: the reference's (else every forecaster's) captured share, mean of zones with its interval,
    the lowest zone, and the zones where it beats the baseline with an interval excluding zero."""
    s = rep.scores[(rep.scores["choice"] == "time") & rep.scores["group"].isin(list(GOAL_GROUPS))]
    lines = []
    for (model, group), g in s.groupby(["model", "group"], sort=False):
        if reference is not None and model != reference:
            continue
        mz = g[g["region"] == MEAN_OF_ZONES].iloc[0]
        zones = g[~g["region"].isin([MEAN_OF_ZONES, POOLED])]
        low = zones.loc[zones["captured_share_pct"].idxmin()] if zones["captured_share_pct"].notna().any() else None
        text = (f"{short.get(model, model)}, jobs {group}: captures {mz.captured_share_pct:.1f} % "
                f"[{mz.captured_share_pct_lo:.1f}, {mz.captured_share_pct_hi:.1f}] of the perfect-foresight saving "
                f"(mean of {len(zones)} zones)")
        if low is not None:
            text += f", lowest {low.region} {low.captured_share_pct:.1f} %"
        if rep.paired is not None and baseline is not None and model == reference:   # paired: both given
            p = rep.paired[(rep.paired["choice"] == "time") & (rep.paired["group"] == group)
                           & ~rep.paired["region"].isin([MEAN_OF_ZONES, POOLED])]
            wins = int(((p["difference_pp"] > 0) & p["excludes_zero"]).sum())
            text += f"; beats {short.get(baseline, baseline)} in {wins} of {len(p)} zones (95 % interval excluding 0)"
        lines.append(text)
    return lines


def of_backtest(forecasts: pd.DataFrame, target: str, sfx: str, reference: str, short: Mapping[str, str],
                run_name: str) -> DecisionValue:
    """:func:`decision_value` of every forecaster in a backtest's ``forecasts`` (test-window rows, calibrated,
    with ``actual``; ``reference``: the ensemble's label), against ``seasonal24`` when it was backtested."""
    test = forecasts[forecasts["window"] == "test"]
    tables = {str(m): g.drop(columns=["model", "window"]) for m, g in test.groupby("model", sort=False)}
    baseline = "seasonal24" if "seasonal24" in tables else None
    caption = (f"run {run_name} · {target} · {forecast_context(test)} · {reference} · calibrated test-window "
               f"forecasts, actual carbon · 95 % bootstrap intervals over issue days")
    return decision_value(tables, target, sfx, reference, baseline, short, caption)


def logged_figures(run: str) -> dict[str, tuple[Any, pd.DataFrame]]:
    """The MAPE-vs-captured-share figure of a logged backtest (an MLflow run id, or a run name: its latest run),
    redrawn from each of its ``decision_value_vs_mape[_<target>]`` tables: table name → (figure, points)."""
    import tempfile

    c = client()
    r = resolve(c, run)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(c.download_artifacts(r.info.run_id, "tables", tmp))
        for path in sorted(folder.glob("decision_value_vs_mape*.csv")):
            points = pd.read_csv(path)
            caption = f"MLflow run {r.info.run_name} ({r.info.run_id}) · table {path.stem} · 95 % bootstrap intervals over issue days"
            out[path.stem] = (value_figure(points, caption), points)
    if not out:
        raise LookupError(f"run {r.info.run_name} ({r.info.run_id}) logged no decision_value_vs_mape table "
                          f"(a backtest of a carbon-intensity target logs one)")
    return out
