"""Report tables and figures of a backtest: MAPE by region × model (with DACF's published forecasts and the
naive baselines), accuracy by horizon, coverage by nominal level, forecast-vs-actual and reliability plots.
All MAPE / accuracy values in %, widths in the target's unit."""
from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from carbonshift.forecast.data.schema import MAX_HORIZON_H, QUANTILE_COLUMNS, QUANTILE_LEVELS
from carbonshift.forecast.ensemble import horizon_bucket, short_label
from carbonshift.forecast.metrics import INTERVALS, mape, score_by
from carbonshift.forecast.palette import forecaster_colour

#: Horizons (h) of the accuracy-by-horizon table: daily steps out to MAX_HORIZON_H (absent horizons drop out).
REPORT_HORIZONS = (1, 6, 12, 24, 48, 72, 96, 120, 144, MAX_HORIZON_H)


def day_ahead(forecasts: pd.DataFrame, day_ahead_h: int = 24) -> pd.DataFrame:
    """Test-window rows with horizon ≤ ``day_ahead_h`` (each test hour once per model)."""
    return forecasts[(forecasts["window"] == "test") & (forecasts["horizon_h"] <= day_ahead_h)]


def mape_table(forecasts: pd.DataFrame, dacf: pd.DataFrame | None = None, day_ahead_h: int = 24) -> pd.DataFrame:
    """Day-ahead MAPE (%) per model (rows) × region (columns) + ``mean`` column; ``dacf`` (a table with
    region, time, mean, actual) is scored on the same hours when given."""
    da = day_ahead(forecasts, day_ahead_h)
    rows = da.groupby(["model", "region"]).apply(lambda g: mape(g["actual"], g["mean"]), include_groups=False)
    wide = rows.unstack("region")
    if dacf is not None and len(dacf):
        hours = da[["region", "time"]].drop_duplicates()
        d = dacf.merge(hours, on=["region", "time"])
        wide.loc["DACF (published)"] = d.groupby("region").apply(lambda g: mape(g["actual"], g["mean"]),
                                                                 include_groups=False)
    wide["mean"] = wide.mean(axis=1)
    return wide.reset_index().rename(columns={"index": "model"})


def horizon_table(forecasts: pd.DataFrame, horizons: Sequence[int] = REPORT_HORIZONS) -> pd.DataFrame:
    """Accuracy (100 − MAPE, %) per model at single horizons, averaged over regions."""
    t = forecasts[(forecasts["window"] == "test") & forecasts["horizon_h"].isin(list(horizons))]
    per = t.groupby(["model", "horizon_h", "region"]).apply(lambda g: 100 - mape(g["actual"], g["mean"]),
                                                            include_groups=False)
    return per.groupby(["model", "horizon_h"]).mean().unstack("horizon_h").reset_index()


def horizon_figure(table: pd.DataFrame, title: str):
    """:func:`horizon_table` drawn: accuracy (100 − MAPE, %) vs forecast horizon (h), one line per model in its
    colour (:mod:`forecast.palette`), short labels (:func:`forecast.ensemble.short_label`); ``title`` says which
    run, window and seeds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    hours = [c for c in table.columns if c != "model"]
    for row in table.itertuples(index=False):
        values = dict(zip(table.columns, row))
        ax.plot(hours, [values[h] for h in hours], marker="o", color=forecaster_colour(values["model"]),
                label=short_label(values["model"]))
    ax.set(xlabel="forecast horizon (h after the issue)", ylabel="accuracy = 100 − MAPE (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
    fig.tight_layout()
    return fig


def coverage_table(forecasts: pd.DataFrame, raw_ensemble: pd.DataFrame | None = None,
                   day_ahead_h: int = 24) -> pd.DataFrame:
    """Day-ahead test coverage (PICP, fraction) and mean width per model × region × nominal level;
    ``raw_ensemble`` (before conformal calibration) is added as model ``ensemble (uncalibrated)``."""
    da = day_ahead(forecasts, day_ahead_h)
    if raw_ensemble is not None and len(raw_ensemble):
        da = pd.concat([da, day_ahead(raw_ensemble.assign(model="ensemble (uncalibrated)"), day_ahead_h)])
    s = score_by(da, ["model", "region"])
    rows = [pd.DataFrame({"model": s["model"], "region": s["region"], "nominal": level / 100,
                          "picp": s[f"picp{level}"], "width": s[f"width{level}"]}) for level in INTERVALS]
    return pd.concat(rows, ignore_index=True).sort_values(["model", "region", "nominal"], ignore_index=True)


def horizon_words(day_ahead_h: int = 24) -> str:
    """How a figure names the horizons it shows: ``day-ahead (1–24 h)`` for 24, else ``1–N h ahead``."""
    return f"day-ahead (1–{day_ahead_h} h)" if day_ahead_h == 24 else f"1–{day_ahead_h} h ahead"


def forecast_context(forecasts: pd.DataFrame) -> str:
    """Where and when a forecast table is: ``DE, GB, US-CAL-CISO; test days 2023-03-01 – 2023-03-15 (issued daily at
    23:00 UTC)`` — the UTC days whose first hour is horizon 1 of an issue, from the table's ``region`` and
    ``issue_time``: the same words for every figure drawn from one set of issues, whichever horizons it shows; a
    table without issue times by its target hours."""
    if forecasts.empty:
        return "no rows"
    regions = sorted(dict.fromkeys(forecasts["region"].astype(str)))
    where = ", ".join(regions) if len(regions) <= 6 else f"{len(regions)} regions"
    if "issue_time" not in forecasts.columns:
        times = pd.to_datetime(forecasts["time"], utc=True)
        return f"{where}; targets {times.min():%Y-%m-%d} – {times.max():%Y-%m-%d} UTC"
    issues = pd.to_datetime(forecasts["issue_time"], utc=True)
    hours = ", ".join(f"{h:02d}:00" for h in sorted(set(issues.dt.hour)))
    first, last = issues.min() + pd.Timedelta(hours=1), issues.max() + pd.Timedelta(hours=1)
    return f"{where}; test days {first:%Y-%m-%d} – {last:%Y-%m-%d} (issued daily at {hours} UTC)"


def reliability(forecasts: pd.DataFrame, day_ahead_h: int = 24) -> pd.DataFrame:
    """Observed frequency of actual ≤ q_τ per model and level τ on day-ahead test rows (``n``: rows scored);
    ``attrs["context"]`` says which horizons, regions and period (:func:`forecast_context`)."""
    da = day_ahead(forecasts, day_ahead_h)
    da = da[da["actual"].notna()]
    rows = []
    for model, g in da.groupby("model"):
        y = g["actual"].to_numpy(float)[:, None]
        freq = (y <= g[list(QUANTILE_COLUMNS)].to_numpy(float)).mean(axis=0)
        rows += [{"model": model, "level": tau, "observed": float(f), "n": len(g)}
                 for tau, f in zip(QUANTILE_LEVELS, freq)]
    out = pd.DataFrame(rows, columns=["model", "level", "observed", "n"])
    out.attrs["context"] = f"{horizon_words(day_ahead_h)} test forecasts; {forecast_context(da)}"
    return out


def reliability_figure(rel: pd.DataFrame, title: str = "", seeds: str = "1 seed"):
    """Reliability diagram: observed frequency of actual ≤ q_τ vs nominal level τ per model (the diagonal is
    perfect calibration); the title says what (``title``), the horizons, regions and period
    (``rel.attrs["context"]``, from :func:`reliability`), the hours scored and ``seeds``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect calibration")
    markers = "osD^vP*X"
    for i, (model, g) in enumerate(rel.groupby("model")):   # own marker, shrinking size: equal curves stay visible
        ax.plot(g["level"], g["observed"], marker=markers[i % len(markers)], ms=max(9 - 1.2 * i, 3), alpha=0.85,
                lw=2 if model == "ensemble" else 1, label=model, color=forecaster_colour(model))
    ax.set_xlabel("nominal quantile level τ (fraction)")
    ax.set_ylabel("observed frequency of actual ≤ q_τ (fraction)")
    ax.set(xlim=(0, 1), ylim=(0, 1))
    n = f"{int(rel['n'].max()):,} forecast hours per model" if "n" in rel.columns and len(rel) else ""
    context = rel.attrs.get("context", "")
    ax.set_title("\n".join(filter(None, [title or "Reliability of the forecast quantiles", context,
                                         "; ".join(filter(None, [n, seeds]))])), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
    fig.tight_layout()
    return fig


def forecast_figure(forecasts: pd.DataFrame, dacf: pd.DataFrame | None, unit: str, days: int | None = None,
                    day_ahead_h: int = 24, model: str = "ensemble", target: str = "", seeds: str = "1 seed"):
    """Day-ahead forecasts (stitched issue by issue: each hour from the issue that forecast it 1–``day_ahead_h``
    h ahead) vs the actual with 50/90 % central intervals, over every test issue (the period of the run's other
    figures; ``days``: only the first ``days`` days), one panel per region;
    ``unit`` is the target's unit (gCO2eq/kWh, %). The title names the model, the horizon, the regions, the
    period (UTC) and ``seeds``; the legend sits above the panels."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    da = day_ahead(forecasts[forecasts["model"] == model], day_ahead_h)
    regions = list(dict.fromkeys(da["region"]))
    fig, axes = plt.subplots(len(regions), 1, figsize=(11, 2.4 * len(regions) + 1.2), squeeze=False, sharex=True)
    shown = []
    for ax, region in zip(axes[:, 0], regions):
        g = da[da["region"] == region].sort_values("time")
        if days is not None:
            g = g[g["time"] < g["time"].min() + pd.Timedelta(days=days)]
        shown.append(g)
        colour = forecaster_colour(model)
        ax.fill_between(g["time"], g["q0.05"], g["q0.95"], alpha=0.2, color=colour, label="90 % interval")
        ax.fill_between(g["time"], g["q0.25"], g["q0.75"], alpha=0.35, color=colour, label="50 % interval")
        ax.plot(g["time"], g["mean"], color=colour, lw=1.2, label=f"{short_label(model)} (mean)")
        ax.plot(g["time"], g["actual"], color="k", lw=1, label="actual")
        if dacf is not None and len(dacf):
            d = dacf[(dacf["region"] == region) & dacf["time"].isin(g["time"])]
            ax.plot(d["time"], d["mean"], color=forecaster_colour("DACF"), lw=1, ls="--", label="DACF (published)")
        ax.set_ylabel(f"{region}\n({unit})")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (UTC)")
    what = f"{target} " if target else ""
    head = f"{horizon_words(day_ahead_h)} {what}forecast vs actual — {short_label(model)}, 50 % and 90 % intervals"
    context = forecast_context(pd.concat(shown)) if shown else "no rows"
    full = "" if short_label(model) == model else "\n" + textwrap.fill(f"{short_label(model)} = {model}", 130)
    height = fig.get_figheight()     # inches; the header (title lines + one legend row) takes ~0.7 in + 0.17 a line
    top = (0.62 + 0.17 * full.count("\n")) / height
    fig.tight_layout(rect=(0, 0, 1, 1 - top))     # first: it would reserve the header's room twice
    fig.suptitle(f"{head}\n{context}; {seeds}{full}", fontsize=10, y=1 - 0.03 / height, va="top")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=len(labels), fontsize=8, loc="upper center",
               bbox_to_anchor=(0.5, 1 - (0.4 + 0.17 * full.count("\n")) / height), frameon=False)
    return fig


def mape_by_horizon(forecasts: pd.DataFrame, model: str) -> pd.DataFrame:
    """Test MAPE (%) of ``model`` at every horizon (h) per region, plus ``mean`` over regions; rows: horizons."""
    t = forecasts[(forecasts["model"] == model) & (forecasts["window"] == "test")]
    per = t.groupby(["horizon_h", "region"]).apply(lambda g: mape(g["actual"], g["mean"]), include_groups=False)
    wide = per.unstack("region")
    wide["mean"] = wide.mean(axis=1)
    return wide


def coverage_by_horizon(forecasts: pd.DataFrame, model: str, level: int = 90) -> pd.DataFrame:
    """Test coverage (PICP, fraction) of ``model``'s central ``level`` % interval at every horizon (h) per region,
    plus ``mean`` over regions; rows: horizons (hours without an actual are skipped)."""
    lo, hi = INTERVALS[level]
    t = forecasts[(forecasts["model"] == model) & (forecasts["window"] == "test") & forecasts["actual"].notna()]
    inside = ((t["actual"] >= t[lo]) & (t["actual"] <= t[hi])).rename("inside")
    wide = pd.concat([t[["horizon_h", "region"]], inside], axis=1).groupby(["horizon_h", "region"])["inside"].mean()
    wide = wide.unstack("region")
    wide["mean"] = wide.mean(axis=1)
    return wide


def mape_by_horizon_figure(wide: pd.DataFrame, model: str, context: str, day_ahead_h: int = 24,
                           seeds: str = "1 seed", target: str = "", coverage: pd.DataFrame | None = None,
                           level: int = 90):
    """MAPE (%) vs forecast horizon (h) of ``model``: one line per region and, with several regions, the mean over
    regions (bold; a single region is drawn bold under its own name, never as a "mean");
    a dotted line marks the day-ahead horizon ``day_ahead_h``. ``wide`` is :func:`mape_by_horizon`'s output;
    ``coverage`` (:func:`coverage_by_horizon` at ``level`` %) adds a lower panel with the interval coverage per
    horizon against its nominal level."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regions = [c for c in wide.columns if c != "mean"]
    if coverage is None:
        fig, ax = plt.subplots(figsize=(9, 4.8))
        axes = [ax]
    else:
        fig, axes = plt.subplots(2, 1, figsize=(9, 7.2), sharex=True, height_ratios=(3, 2))
        ax = axes[0]
    single = len(regions) == 1
    one_colour: dict[str, Any] = {"color": "k"} if single else {}
    for region in regions:
        ax.plot(wide.index, wide[region], lw=2.2 if single else 1, label=str(region), **one_colour)
    if not single:
        ax.plot(wide.index, wide["mean"], color="k", lw=2.2, label="mean over regions")
    ax.set(ylabel="MAPE (%)", ylim=(0, None))
    if coverage is not None:
        cov = axes[1]
        for region in regions:
            cov.plot(coverage.index, coverage[region], lw=2.2 if single else 1, **one_colour)
        if not single:
            cov.plot(coverage.index, coverage["mean"], color="k", lw=2.2)
        cov.axhline(level / 100, color="tab:red", ls="--", lw=1, label=f"nominal {level} %")
        cov.set(ylabel=f"{level} % interval coverage", ylim=(max(0.0, min(0.5, coverage.min().min() - 0.05)), 1.0))
        cov.legend(loc="lower left", fontsize=8)
    for a in axes:
        a.axvline(day_ahead_h, color="grey", ls=":", lw=1, label=f"day-ahead limit ({day_ahead_h} h)" if a is ax else None)
        a.grid(alpha=0.3)
    axes[-1].set_xlabel("forecast horizon (h after the issue time)")
    what = f" — {target}" if target else ""
    which = "MAPE" if coverage is None else f"MAPE and {level} % coverage"
    ax.set_title(f"Test {which} by forecast horizon{what}\n{textwrap.fill(model, 110)}\n{context}; {seeds}", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
    fig.tight_layout()
    return fig


def bucket_table(forecasts: pd.DataFrame, buckets: Sequence[int], level: int = 90) -> pd.DataFrame:
    """Test accuracy per model × region × horizon bucket (bucket k covers (buckets[k-1], buckets[k]] h, the
    buckets the ensemble weights and conformal corrections are fitted on): ``horizons`` (``"97–168 h"``),
    MAPE (%), coverage of the central ``level`` % interval (fraction), its mean width (target unit) and the
    hour count ``n``. Buckets no forecast reaches are absent."""
    lo, hi = INTERVALS[level]
    t = forecasts[(forecasts["window"] == "test") & forecasts["actual"].notna()]
    edges = list(buckets)
    b = horizon_bucket(t["horizon_h"].to_numpy(), edges)
    if (b >= len(edges)).any():
        raise ValueError(f"bucket_table: horizons beyond the last bucket edge ({edges[-1]} h)")
    y = t["actual"].to_numpy(float)
    d = pd.DataFrame({"model": t["model"].to_numpy(), "region": t["region"].to_numpy(), "bucket": b,
                      "ape": 100.0 * np.abs(t["mean"].to_numpy(float) - y) / np.where(y != 0, np.abs(y), np.nan),
                      "inside": (y >= t[lo].to_numpy(float)) & (y <= t[hi].to_numpy(float)),
                      "width": t[hi].to_numpy(float) - t[lo].to_numpy(float)})
    g = d.groupby(["model", "region", "bucket"]).agg(mape=("ape", "mean"), picp=("inside", "mean"),
                                                     width=("width", "mean"), n=("inside", "size")).reset_index()
    starts = [1, *(e + 1 for e in edges[:-1])]
    g.insert(3, "horizons", [f"{starts[k]}–{edges[k]} h" for k in g["bucket"]])
    return g.rename(columns={"picp": f"picp{level}", "width": f"width{level}"})


def monthly_coverage(forecasts: pd.DataFrame, day_ahead_h: int = 24, level: int = 90) -> pd.DataFrame:
    """Day-ahead test coverage (PICP, fraction) of the central ``level`` % interval per model × region ×
    calendar month (UTC, of the target hour), with the hour count ``n``."""
    lo, hi = INTERVALS[level]
    da = day_ahead(forecasts, day_ahead_h)
    da = da[da["actual"].notna()]
    inside = (da["actual"] >= da[lo]) & (da["actual"] <= da[hi])
    t = pd.DataFrame({"model": da["model"], "region": da["region"],
                      "month": da["time"].dt.strftime("%Y-%m"), "inside": inside})
    g = t.groupby(["model", "region", "month"])["inside"].agg(picp="mean", n="size").reset_index()
    g.insert(3, "nominal", level / 100)
    return g


def trailing_coverage_alerts(forecasts: pd.DataFrame, model: str, day_ahead_h: int = 24, level: int = 90,
                             days: int = 28, drop: float = 0.05) -> pd.DataFrame:
    """Per region, the day-ahead test coverage (fraction) of ``model``'s central ``level`` % interval over the
    trailing ``days`` days of target hours, at each test day; a row for every region whose trailing coverage
    fell below nominal − ``drop`` (default 85 % for 90 %): its lowest value (``picp_min``), the day that window
    ended (``window_end``, UTC date) and the number of test days below the threshold (``days_below``)."""
    lo, hi = INTERVALS[level]
    da = day_ahead(forecasts, day_ahead_h)
    da = da[(da["model"] == model) & da["actual"].notna()]
    daily = pd.DataFrame({"region": da["region"], "day": da["time"].dt.floor("D"),
                          "inside": ((da["actual"] >= da[lo]) & (da["actual"] <= da[hi])).astype(float)})
    daily = daily.groupby(["region", "day"])["inside"].agg(["sum", "size"]).reset_index()
    rows = []
    for region, g in daily.groupby("region"):
        g = g.set_index("day").asfreq("D", fill_value=0)
        win = g[["sum", "size"]].rolling(days, min_periods=days).sum()
        picp = (win["sum"] / win["size"].where(win["size"] > 0)).dropna()
        below = picp[picp < level / 100 - drop]
        if len(below):
            rows.append({"region": region, "model": model, "nominal": level / 100, "window_days": days,
                         "picp_min": float(below.min()), "window_end": below.idxmin().strftime("%Y-%m-%d"),
                         "days_below": len(below)})
    return pd.DataFrame(rows, columns=["region", "model", "nominal", "window_days", "picp_min", "window_end",
                                       "days_below"])


def ensemble_goal_table(mape_t: pd.DataFrame, ensemble: str, members: Sequence[str],
                        baseline: str = "seasonal24", tolerance: float = 1.02) -> pd.DataFrame:
    """Per region: the combined forecast's day-ahead MAPE (%) against its best member, the ``baseline``
    (seasonal-naive 24 h) and DACF's published forecast where present, with the goals ensemble ≤ best member ×
    ``tolerance`` and ensemble ≤ baseline as booleans. ``mape_t`` is :func:`mape_table`'s output."""
    wide = mape_t.set_index("model").drop(columns="mean", errors="ignore")
    present = [m for m in members if m in wide.index]
    if ensemble not in wide.index or not present:
        raise ValueError(f"ensemble_goal_table: need {ensemble!r} and members {list(members)} in {list(wide.index)}")
    best = wide.loc[present]
    out = pd.DataFrame({"region": wide.columns, "ensemble": wide.loc[ensemble].to_numpy(),
                        "best_member": best.idxmin().to_numpy(), "best_member_mape": best.min().to_numpy()})
    if baseline in wide.index:
        out[baseline] = wide.loc[baseline].to_numpy()
    if "DACF (published)" in wide.index:
        out["dacf"] = wide.loc["DACF (published)"].to_numpy()
    out["ratio_to_best"] = out["ensemble"] / out["best_member_mape"]
    out[f"le_best_x{tolerance:g}"] = out["ratio_to_best"] <= tolerance
    if baseline in wide.index:
        out[f"le_{baseline}"] = out["ensemble"] <= out[baseline]
    return out


def weights_summary(weights: pd.DataFrame) -> pd.DataFrame:
    """Ensemble weights per region × bucket × model; for rolling weights (an ``issue_time`` column) the mean
    weight and loss over issues and the share of issues where the member had the largest weight."""
    if "issue_time" not in weights.columns:
        return weights
    w = weights.copy()
    top = w.groupby(["issue_time", "region", "bucket"])["weight"].transform("max")
    w["top"] = (w["weight"] == top) & (w["weight"] > 0)
    return (w.groupby(["region", "bucket", "model"])
            .agg(weight=("weight", "mean"), loss=("loss", "mean"), top_share=("top", "mean"), issues=("top", "size"))
            .reset_index())


def goals_with_coverage(goals: pd.DataFrame, coverage: pd.DataFrame, monthly: pd.DataFrame,
                        ensemble: str) -> list[dict]:
    """:func:`ensemble_goal_table` rows (MAPE %, rounded) with the combined forecast's day-ahead 90 % coverage
    per region overall (``picp90``) and in its worst calendar month (``picp90_worst_month``, ``worst_month``)."""
    c = coverage[(coverage["model"] == ensemble) & (coverage["nominal"] == 0.9)].set_index("region")["picp"]
    m = monthly[monthly["model"] == ensemble]
    worst = m.loc[m.groupby("region")["picp"].idxmin()].set_index("region")
    out = goals.copy()
    out["picp90"] = out["region"].map(c)
    out["picp90_worst_month"] = out["region"].map(worst["picp"])
    out["worst_month"] = out["region"].map(worst["month"])
    return out.round(4).to_dict("records")


def monthly_mape(forecasts: pd.DataFrame, day_ahead_h: int = 24) -> pd.DataFrame:
    """Day-ahead test MAPE (%) per model × region × calendar month (UTC, of the target hour), with the hour
    count ``n`` — shows a model that drifts away from a changing grid month by month."""
    da = day_ahead(forecasts, day_ahead_h)
    da = da.assign(month=da["time"].dt.strftime("%Y-%m"))
    g = da.groupby(["model", "region", "month"])
    return pd.DataFrame({"mape": g.apply(lambda x: mape(x["actual"], x["mean"]), include_groups=False),
                         "n": g.size()}).reset_index()
