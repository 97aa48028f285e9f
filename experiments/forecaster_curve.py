"""The forecast-quality → scheduling-reduction curve of a sweep over forecasters (``sweep_forecasters.yaml``, or
any simulate sweep whose trials planned on different forecasts, e.g. ``sweep_accuracy``).

Each trial logs the MAPE (%) and the 90 % interval coverage (%) of the forecast its policies saw
(``forecast_mape_pct``, ``forecast_coverage90_pct``; older runs only ``forecast_accuracy_pct`` = 100 − MAPE, from
which the MAPE is taken) and, per policy, ``reduction_vs_perf_first`` (% carbon below performance-first) and
``oracle_share`` (% of the perfect-foresight oracle's reduction). Points are the forecast-driven policies (every
policy but those that never read a forecast, :data:`FORECAST_FREE`) per scenario × forecaster, mean and 95 %
interval over the replicates (seeds × months, :data:`experiments.forecaster_stats.REPLICATE_KEYS`); the forecaster
of a trial is what its ``summary.json`` says it planned on (a forecast table's ``model`` names, ``perfect
foresight (actual intensities)``, ``accuracy(87%)`` …). Scenarios are the other swept keys
(``datacenters.residency`` is named: region + time / timing only). The statistics (paired differences, rank
correlation, share of the perfect-foresight policy's saving) are :mod:`experiments.forecaster_stats`'s.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from carbonshift.experiments import forecaster_stats as fv
from carbonshift.experiments.figures import context_line, policy_colour
from carbonshift.experiments.forecaster_stats import REPLICATE_KEYS
from carbonshift.forecast.ensemble import short_label
from carbonshift.forecast.palette import forecaster_colour
from carbonshift.scheduler.signals import FALLBACK_LABEL

#: Policies whose decisions never read the forecast: performance_first (the reference), random and round_robin
#: (forecast-blind), greedy_carbon (the current hour's intensity only); oracle rows plan on actual intensities.
FORECAST_FREE: tuple[str, ...] = ("performance_first", "random", "round_robin", "greedy_carbon")
PERFECT = "perfect foresight"
Y_METRICS: dict[str, str] = {"reduction_vs_perf_first": "carbon reduction vs performance-first (%)",
                             "oracle_share": "oracle share (% of the perfect-foresight reduction)"}
Y_TITLES: dict[str, str] = {"reduction_vs_perf_first": "carbon reduction", "oracle_share": "share of the oracle's saving"}
CAPTURED_LABEL = "share of the same policy's perfect-foresight saving (%)"
SCENARIO_NAMES: dict[tuple[str, str], str] = {("datacenters.residency", "true"): "timing only (data residency)",
                                              ("datacenters.residency", "false"): "region + time"}


def forecaster_name(label: str) -> str:
    """The forecaster of a run's ``summary.json`` forecast label: ``lstm (CPU-sized)+cqr forecast table
    forecast_lstm.csv + seasonal profile …, measured accuracy …`` → ``lstm (CPU-sized)+cqr``; a synthetic
    label (``perfect foresight (actual intensities)``, ``accuracy(87%)``) stays as it is."""
    name = str(label).split(", measured accuracy")[0].replace(f" + {FALLBACK_LABEL}", "")
    if " forecast table " in name:
        name = name.split(" forecast table ")[0]
    elif name.startswith("forecast table "):          # a table without a model column: its file
        name = name[len("forecast table "):]
    return name.strip()


def short_name(forecaster: str) -> str:
    """Axis label of a forecaster: an ensemble by its member count (``ensemble of 6+cqr``; its full label with
    the weights is in the table, :func:`forecast.ensemble.short_label`), perfect foresight as such, others
    unchanged."""
    return PERFECT if forecaster.startswith(PERFECT) else short_label(forecaster)


def scenario_keys(frame: pd.DataFrame, keys: list[str]) -> list[str]:
    """Swept keys that define scenarios: varied, not a replicate key (``seed``, ``data.start``) and not a
    ``forecast.*`` key."""
    return [k for k in keys if k not in REPLICATE_KEYS and not k.startswith("forecast.") and k in frame
            and frame[k].nunique(dropna=False) > 1]


def scenario_name(row: pd.Series, keys: list[str]) -> str:
    if not keys:
        return "all trials"
    return ", ".join(SCENARIO_NAMES.get((k, str(row[k]).lower()), f"{k}={row[k]}") for k in keys)


def _per_run(frame: pd.DataFrame, metric: str) -> pd.Series:
    rows = frame[(frame["policy"] == "") & (frame["metric"] == metric)]
    return rows.drop_duplicates("run_id").set_index("run_id")["value"]


def trial_points(frame: pd.DataFrame, labels: dict[str, str], keys: list[str]) -> pd.DataFrame:
    """One row per trial × forecast-driven policy: ``run_id``, ``scenario``, ``forecaster``, ``replicate``
    (:func:`experiments.forecaster_stats.replicate_id`; the swept month ``data.start`` also as its own column),
    ``policy``, the forecast's ``mape_pct`` and
    ``coverage90_pct`` (%), the policy's ``reduction_vs_perf_first`` and ``oracle_share`` (%) and ``saving_kg``
    (performance-first's carbon − the policy's, kgCO2e, same trial; NaN for runs that logged no ``carbon_kg``).
    ``frame``: :func:`experiments.report.frame.runs_frame` rows; ``labels``: run id → forecast label
    (:func:`experiments.report.frame.forecast_labels`); ``keys``: the sweep's axes. Runs without a label are dropped and
    counted in the ``dropped_runs`` attribute; a run without MAPE or accuracy raises (nothing to put on x)."""
    runs = pd.Index(frame["run_id"].unique())
    mape = _per_run(frame, "forecast_mape_pct")
    acc = _per_run(frame, "forecast_accuracy_pct")
    mape = mape.reindex(runs).fillna(100.0 - acc.reindex(runs))
    if mape.isna().any():
        raise ValueError(f"forecaster curve: runs {list(mape.index[mape.isna()][:3])} logged neither "
                         f"forecast_mape_pct nor forecast_accuracy_pct")
    cov = _per_run(frame, "forecast_coverage90_pct").reindex(runs)
    scen = scenario_keys(frame, keys)
    per_run = frame.drop_duplicates("run_id").set_index("run_id").reindex(runs)
    info = pd.DataFrame({"forecaster": runs.map(lambda r: forecaster_name(labels[r]) if r in labels else None),
                         "scenario": [scenario_name(per_run.loc[r], scen) for r in runs],
                         "replicate": fv.replicate_id(per_run, keys).to_numpy(),
                         **{k: per_run[k].to_numpy() for k in keys if k in REPLICATE_KEYS and k != "seed"},
                         "mape_pct": mape.to_numpy(), "coverage90_pct": cov.to_numpy()}, index=runs)
    dropped = int(info["forecaster"].isna().sum())
    info = info.dropna(subset=["forecaster"])
    carbon = frame[frame["metric"] == "carbon_kg"].drop_duplicates(["run_id", "policy"])
    carbon = carbon.set_index(["run_id", "policy"])["value"]
    pol = frame[frame["metric"].isin(list(Y_METRICS)) & (frame["policy"] != "")
                & ~frame["policy"].isin(FORECAST_FREE) & ~frame["policy"].astype(str).str.startswith("oracle")]
    wide = pol.pivot_table(index=["run_id", "policy"], columns="metric", values="value").reset_index()
    wide = wide[wide["run_id"].isin(info.index)].join(info, on="run_id")
    reference = carbon.xs("performance_first", level="policy") if len(carbon) else pd.Series(dtype=float)
    own = pd.MultiIndex.from_frame(wide[["run_id", "policy"]])
    wide["saving_kg"] = (wide["run_id"].map(reference).to_numpy(float)
                         - carbon.reindex(own).to_numpy(float)) if len(carbon) else np.nan
    wide.attrs["dropped_runs"] = dropped
    wide.attrs["scenario_runs"] = {s: list(g.index) for s, g in info.groupby("scenario")}
    return wide


def curve_table(points: pd.DataFrame) -> pd.DataFrame:
    """Per scenario × forecaster × forecast-driven policy of :func:`trial_points`: replicates (``n``: seeds ×
    months) and mean, std and 95 % t half-width over them (``<m>_mean``, ``_std``, ``_ci95``) of the forecast's MAPE
    (%), its 90 % interval coverage (%), the reduction vs performance-first (%), the oracle share (%) and the saving
    (kgCO2e), sorted by MAPE within scenario and policy."""
    return fv.interval_table(points).sort_values(["scenario", "policy", "mape_pct_mean"], ignore_index=True)


def label_heights(x: pd.Series, close: float = 0.03, steps: tuple[float, ...] = (0.99, 0.93, 0.87, 0.81)) -> list[float]:
    """Heights (axes fraction) of the forecasters' number labels in ascending ``x``: a label closer than ``close``
    of the x range to the previous one moves one step down (cycling through ``steps``) so labels do not overlap."""
    xs = np.sort(x.to_numpy(float))
    span = max(float(xs[-1] - xs[0]), 1e-9) if len(xs) else 1.0
    out, level = [], 0
    for i, v in enumerate(xs):
        level = (level + 1) % len(steps) if i and v - xs[i - 1] < close * span else 0
        out.append(steps[level])
    return out


def replicates_note(n: pd.Series) -> str:
    """What each point and error bar is: ``mean and 95 % interval over N replicates (seeds × months)`` (``N–M``
    when points differ), or ``1 replicate`` (no interval)."""
    if n.empty:
        return "no runs"
    lo, hi = int(n.min()), int(n.max())
    if hi <= 1:
        return "1 replicate, no interval"
    return f"mean and 95 % interval over {lo if lo == hi else f'{lo}–{hi}'} replicates (seeds × months)"


def panels(table: pd.DataFrame, captured: pd.DataFrame | None) -> list[tuple[str, str, pd.DataFrame]]:
    """(title, y label, points) per y panel of :func:`curve_figure`; points have ``scenario``, ``forecaster``,
    ``policy``, ``x`` / ``x_err`` (MAPE mean and 95 % half-width, %), ``y`` and ``y_lo`` / ``y_hi`` (distances of
    the 95 % interval's ends below / above ``y``)."""
    x = table[["scenario", "forecaster", "policy"]].assign(x=table["mape_pct_mean"],
                                                           x_err=table["mape_pct_ci95"].fillna(0.0))
    out = []
    for metric, ylabel in Y_METRICS.items():
        if f"{metric}_mean" in table:
            half = table[f"{metric}_ci95"].fillna(0.0)
            out.append((Y_TITLES[metric], ylabel, x.assign(y=table[f"{metric}_mean"], y_lo=half, y_hi=half)))
    if captured is not None and not captured.empty:
        c = captured.merge(x, on=["scenario", "forecaster", "policy"])
        out.append(("share of the perfect-foresight policy's saving", CAPTURED_LABEL,
                    c.assign(y=c["captured_pct"], y_lo=(c["captured_pct"] - c["ci_low"]).fillna(0.0),
                             y_hi=(c["ci_high"] - c["captured_pct"]).fillna(0.0))))
    return out


def curve_figure(table: pd.DataFrame, contexts: dict[str, str] | None = None,
                 captured: pd.DataFrame | None = None) -> Any:
    """One row per scenario: reduction vs performance-first (%), oracle share (%) and, with ``captured``
    (:func:`experiments.forecaster_stats.captured_share`), the share of the same policy's perfect-foresight saving
    (%) against the measured MAPE (%) of each forecaster — a line per forecast-driven policy through its
    forecasters' points, error bars the 95 % intervals over replicates (t intervals; bootstrap for the captured
    share), a dotted line and label per forecaster, perfect foresight (MAPE 0) starred — and the forecasters'
    measured 90 % interval coverage (%) against the nominal 90 %. ``contexts``: scenario → where and when its
    runs are (regions, period, jobs), shown under the scenario's first title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(dict.fromkeys(table["scenario"]))
    ys = panels(table, captured)
    fig, axes = plt.subplots(len(scenarios), len(ys) + 1, figsize=(6 * len(ys) + 4.5, 4.6 * len(scenarios)),
                             squeeze=False, gridspec_kw={"width_ratios": [3] * len(ys) + [2]})
    for row, scen in zip(axes, scenarios):
        fc = table[table["scenario"] == scen].groupby("forecaster", sort=False)[
            ["mape_pct_mean", "coverage90_pct_mean"]].first()
        order = fc["mape_pct_mean"].sort_values()
        number = {name: i + 1 for i, name in enumerate(order.index)}   # forecasters numbered by MAPE (key: coverage panel)
        for k, (ax, (title, ylabel, pts)) in enumerate(zip(row, ys)):
            part = pts[pts["scenario"] == scen]
            starred = False
            for policy, p in part.groupby("policy", sort=True):
                p = p.sort_values("x")
                ax.errorbar(p["x"], p["y"], xerr=p["x_err"], yerr=[p["y_lo"], p["y_hi"]], marker="o", ms=4,
                            capsize=3, lw=1, color=policy_colour(policy), label=policy)
                perfect = p[p["forecaster"].str.startswith(PERFECT)]
                ax.scatter(perfect["x"], perfect["y"], marker="*", s=160, color=policy_colour(policy), edgecolors="k",
                           zorder=4)
                starred |= not perfect.empty
            if starred:   # the legend promises the star only where one is drawn
                ax.scatter([], [], marker="*", s=160, color="w", edgecolors="k", label=f"{PERFECT} (MAPE 0)")
            for (name, x), y in zip(order.items(), label_heights(order)):
                ax.axvline(x, color="0.8", ls=":", lw=0.8, zorder=0)
                ax.annotate(str(number[name]), (x, y), xycoords=("data", "axes fraction"), va="top", ha="center",
                            fontsize=7, color="0.35", bbox={"boxstyle": "round,pad=0.15", "fc": "w", "ec": "0.8"})
            if ylabel == CAPTURED_LABEL:
                ax.axhline(100, color="k", ls="--", lw=1, label="perfect foresight = 100 %")
            low, high = ax.get_ylim()
            ax.set_ylim(low, high + 0.25 * (high - low))   # headroom: the number labels sit above the data
            where = (contexts or {}).get(scen, "") if k == 0 else ""
            ax.set(xlabel="measured forecast MAPE (%); numbered dotted lines: the forecasters (key at right)",
                   ylabel=ylabel)
            ax.set_title(f"{scen}: {title}" + (f"\n{where}" if where else ""), fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="lower left")
        ax = row[-1]
        cov = fc.loc[order.index]
        names = [f"{number[n]}  {short_name(n)}" for n in cov.index]
        values = cov["coverage90_pct_mean"].to_numpy(float)
        ax.barh(np.arange(len(cov)), values, color=[forecaster_colour(n) for n in cov.index])
        for i, v in enumerate(values):   # runs from before the coverage metric existed: say so
            ax.annotate(f"{v:.1f} %" if np.isfinite(v) else "not logged", (0, i), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=7, color="w" if np.isfinite(v) else "k")
        ax.axvline(90, color="k", ls="--", lw=1, label="nominal 90 %")
        ax.set_yticks(np.arange(len(cov)), names, fontsize=7)
        ax.set(xlabel="measured q0.05–q0.95 coverage (%)", xlim=(0, 100), title=f"{scen}: interval coverage")
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Forecast quality vs scheduling result per forecaster ({replicates_note(table['n'])}; "
                 f"forecast-driven policies)", fontsize=11)
    fig.tight_layout()
    return fig


def references(forecasters: list[str]) -> list[str]:
    """The forecasters every other is compared with: seasonal-naive 24 h and the ensemble, where present."""
    return [f for f in forecasters if f.startswith("seasonal24") or f.startswith("ensemble")]


def forecaster_report(frame: pd.DataFrame, labels: dict[str, str], keys: list[str],
                      summaries: dict[str, dict] | None = None) -> tuple[dict[str, pd.DataFrame], Any] | None:
    """The forecaster sweep's tables and figure when the trials planned on ≥ 2 forecasters and logged a policy
    reduction, else None (not such a sweep). Tables: ``forecaster_curve`` (:func:`curve_table`),
    ``forecaster_differences`` (each forecaster's reduction minus seasonal24's and the ensemble's, paired),
    ``forecaster_rank_correlation`` (MAPE vs reduction among real forecasters), ``forecaster_captured_share``
    (share of the perfect-foresight policy's saving) and, over several months, ``…_by_month``, all from
    :mod:`experiments.forecaster_stats`; figure:
    :func:`curve_figure`. ``summaries``: run id → its ``summary.json`` (where and when each scenario's runs are,
    for the titles)."""
    if not labels or not frame["metric"].isin(["forecast_mape_pct", "forecast_accuracy_pct"]).any():
        return None
    if len({forecaster_name(v) for v in labels.values()}) < 2:
        return None
    points = trial_points(frame, labels, keys)
    if points.empty or "reduction_vs_perf_first" not in points:
        return None
    table = curve_table(points)
    captured = fv.captured_share(points)
    tables = {"forecaster_curve": table,
              "forecaster_differences": fv.paired_differences(points, references(sorted(points["forecaster"].unique()))),
              "forecaster_rank_correlation": fv.rank_correlation(table)}
    if not captured.empty:
        tables["forecaster_captured_share"] = captured
        months = "data.start" in points and points["data.start"].nunique() > 1
        if months:
            tables["forecaster_captured_share_by_month"] = fv.captured_share(points, ("data.start",))

    contexts = {scen: context_line([summaries[r] for r in ids if r in summaries])
                for scen, ids in points.attrs["scenario_runs"].items()} if summaries else None
    return tables, curve_figure(table, contexts, captured)
