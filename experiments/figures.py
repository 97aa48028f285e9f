"""Figures shared by kinds and reports, and the one place that says what a metric is called and in which unit.

- :data:`METRIC_UNITS` / :func:`metric_label`: every axis label comes from the metric's name (words + unit), never
  from the data (a NaN or a small range does not turn % into a fraction). Names not listed fall back only on the
  unit suffixes of :data:`SUFFIX_UNITS` (``_pct`` → %, ``_kg`` → kgCO2e …); anything else is an error.
- :data:`KEY_LABELS` / :func:`key_label`: swept config keys in words with units (``forecast.accuracy`` …).
- One Pareto view everywhere (:func:`pareto_figure`): total carbon (kgCO2e, y) vs mean job completion time (h, x)
  per policy, with the non-dominated front of the policies; an oracle row is a perfect-foresight bound, drawn as
  a horizontal line at its carbon and labelled by its kind, never on the front.
- :func:`log_scale_ok`: log axes only when the values span at least two decades.
"""
from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pandas as pd

from carbonshift.forecast.ensemble import short_label
from carbonshift.forecast.palette import SPARE_COLOURS

ORACLE = "oracle"

#: metric → (what it is, in words; unit). Units as in :mod:`scheduler.metrics`, :mod:`forecast.metrics` and
#: :mod:`experiments.execution` (trial_seconds, trial_peak_rss_mb).
METRIC_UNITS: dict[str, tuple[str, str]] = {
    "carbon_kg": ("total carbon", "kgCO2e"),
    "carbon_operational_kg": ("operational carbon", "kgCO2e"),
    "carbon_transfer_kg": ("data-transfer carbon", "kgCO2e"),
    "oracle_bound_kg": ("oracle bound", "kgCO2e"),
    "migration_kg": ("migration network carbon", "kgCO2e"),
    "energy_mwh": ("operational energy incl. PUE", "MWh"),
    "energy_kwh": ("energy", "kWh"),
    "reduction_vs_perf_first": ("carbon reduction vs performance-first", "%"),
    "reduction_pct": ("carbon reduction", "%"),
    "reduction": ("carbon reduction", "%"),
    "deadline_rate": ("jobs meeting their deadline", "%"),
    "renewable_share": ("renewable share of energy used", "%"),
    "renewable_share_pct": ("renewable share of energy used", "%"),
    "energy_share_pct": ("share of energy", "%"),
    "oracle_share": ("share of the oracle's reduction captured", "%"),
    "ontime_share": ("share of the on-time oracle saving, late jobs at run-now carbon", "%"),
    "captured_share_pct": ("share of the perfect-foresight saving captured", "%"),
    "forecast_fallback_share": ("job-hours priced by the long-range fallback", "%"),
    "forecast_accuracy_pct": ("measured forecast accuracy (100 − MAPE)", "%"),
    "lateness_h_mean": ("mean lateness of late jobs", "h"),
    "completion_h_mean": ("mean job completion time", "h"),
    "completion_h_p95": ("95th-percentile job completion time", "h"),
    "plan_seconds": ("total decision time", "s"),
    "adapt_ms_mean": ("mean adaptation latency", "ms"),
    "adapt_ms_p95": ("95th-percentile adaptation latency", "ms"),
    "peak_mem_mb": ("tracemalloc peak of one decision call", "MB"),
    "trial_seconds": ("wall clock of the trial", "s"),
    "trial_peak_rss_mb": ("process peak RSS of the trial", "MB"),
    "process_max_rss_mb": ("process peak RSS so far", "MB"),
    "gpu_hours": ("GPU time", "GPU-hours"),
    "n_late": ("late jobs", "count"),
    "n_unfinished": ("unfinished jobs", "count"),
    "n_rejected": ("rejected jobs", "count"),
    "n_migrations": ("migrations", "count"),
    "failures": ("failures", "count"),
    "mape": ("MAPE", "%"),
    "accuracy": ("accuracy (100 − MAPE)", "%"),
    "ci_direct": ("carbon intensity, direct", "gCO2eq/kWh"),
    "ci_lca": ("carbon intensity, life-cycle", "gCO2eq/kWh"),
    "renewable_pct": ("renewable share of generation", "%"),
    "low_carbon_pct": ("low-carbon share of generation", "%"),
}
#: unit of a metric not listed above, from its name's suffix (the project's naming convention)
SUFFIX_UNITS: dict[str, str] = {"_pct": "%", "_kg": "kgCO2e", "_kwh": "kWh", "_mwh": "MWh", "_h": "h",
                                "_seconds": "s", "_s": "s", "_ms": "ms", "_mb": "MB", "_gb": "GB", "_gbps": "Gbps"}
#: swept config key → (in words, unit; "" when it has none)
KEY_LABELS: dict[str, tuple[str, str]] = {
    "forecast.accuracy": ("controlled forecast accuracy, 1 − MAPE", "fraction"),
    "forecast.correlation_h": ("forecast-error correlation time", "h"),
    "forecast.error_model": ("forecast error model", ""),
    "forecast.source": ("forecast", ""),
    "forecast.k": ("Gaussian error scale k", ""),
    "forecast.e": ("uniform error bound e", ""),
    "workload.flexibility": ("deadline flexibility, slack / duration", "fraction"),
    "workload.n_jobs": ("number of jobs", "jobs"),
    "workload.mix": ("workload mix, share per job type", ""),
    "datacenters.gpus_per_region": ("GPUs per region", "GPUs"),
    "datacenters.wan_gbps": ("WAN bandwidth", "Gbps"),
    "data.zones": ("regions", ""),
    "seed": ("seed", ""),
}


CONTEXT_KEYS = (("regions", "{}"), ("sites", "sites {}"), ("period", "{}"), ("jobs", "{} jobs"))


#: The one colour per policy that every figure uses (a policy keeps its colour from figure to figure); oracle
#: bounds are drawn in goldenrod. Forecasters have theirs in :mod:`forecast.palette`.
POLICY_COLOURS: dict[str, str] = {
    "performance_first": "#7f7f7f", "cooperative": "#1f77b4", "greedy_carbon": "#ff7f0e", "risk_aware": "#2ca02c",
    "chance_constrained": "#9467bd", "casper": "#8c564b", "random": "#bcbd22", "round_robin": "#17becf",
    "feasible_migration": "#e377c2", "oracle": "goldenrod",
}


def policy_colour(policy: str) -> str:
    """The colour of ``policy`` in every figure (``oracle (exact MILP)`` is the oracle's); a policy not listed
    (a plug-in) gets a fixed colour from its name."""
    name = str(policy).split(" ", 1)[0]
    return POLICY_COLOURS.get(name) or SPARE_COLOURS[zlib.crc32(name.encode()) % len(SPARE_COLOURS)]


def context_line(summaries: list[dict]) -> str:
    """Where and when runs are, from their summaries (``summary.json``): regions, period (UTC), jobs; a value
    that differs between runs is named as varying (``regions: 2 values over trials``)."""
    parts = []
    for key, fmt in CONTEXT_KEYS:
        values = list(dict.fromkeys(str(s[key]) for s in summaries if key in s))
        if len(values) == 1:
            parts.append(fmt.format(values[0]))
        elif values:
            parts.append(f"{key}: {len(values)} values over trials")
    return "; ".join(parts)


def add_caption(fig: Any, text: str) -> None:
    """``text`` as the figure's header line above every axes (a figure without a suptitle), else as a small
    grey caption under it; both are kept by ``savefig(bbox_inches="tight")``."""
    if not fig.get_suptitle():
        fig.suptitle(text, y=1.0, va="bottom", fontsize=9)
    else:
        fig.text(0.01, 0.0, text, ha="left", va="top", fontsize=7, color="dimgrey")


def run_caption(name: str, seed: int | None, summary: dict, trial: str = "") -> str:
    """Caption of a run's figures: config name, a sweep trial's swept values, the one seed it ran with, and
    where/when from its summary."""
    seeds = "1 seed" if seed is None else f"1 seed (seed {seed})"
    return " · ".join(filter(None, [f"run {name}", trial, seeds, context_line([summary])]))


def metric_unit(metric: str) -> str:
    """Unit of ``metric`` (``cooperative.carbon_kg`` or ``carbon_kg``) from :data:`METRIC_UNITS`, else from its
    suffix (:data:`SUFFIX_UNITS`); a name with neither is a ``KeyError`` (add it to :data:`METRIC_UNITS`)."""
    base = metric.rpartition(".")[2]
    if base in METRIC_UNITS:
        return METRIC_UNITS[base][1]
    suffix = next((s for s in sorted(SUFFIX_UNITS, key=len, reverse=True) if base.endswith(s)), None)
    if suffix is None:
        raise KeyError(f"metric {metric!r} has no declared unit: add it to experiments.figures.METRIC_UNITS")
    return SUFFIX_UNITS[suffix]


def metric_label(metric: str) -> str:
    """Axis label of ``metric``: words and unit, e.g. ``carbon reduction vs performance-first (%)``."""
    base = metric.rpartition(".")[2]
    words = METRIC_UNITS.get(base, (base.replace("_", " "), ""))[0]
    unit = metric_unit(metric)
    return f"{words} ({unit})" if unit != "count" else f"{words} (count)"


def key_label(key: str, counted: bool = False) -> str:
    """Axis label of a swept config key; ``counted`` for list values shown by their length (``data.zones`` →
    ``number of regions``)."""
    words, unit = KEY_LABELS.get(key, (key, ""))
    if counted:
        return f"number of {words}"
    return f"{words} ({unit})" if unit else words


def key_value(key: str, value: Any) -> str:
    """A swept value in words for a legend: ``forecast-error correlation time = 12 h``."""
    words, unit = key_words(key), KEY_LABELS.get(key, (key, ""))[1]
    shown = f"{value:g}" if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) else str(value)
    return f"{words} = {shown}" + (f" {unit}" if unit and unit != "fraction" else "")


def key_words(key: str) -> str:
    """The short name of a swept key (``controlled forecast accuracy`` for ``forecast.accuracy``)."""
    return KEY_LABELS.get(key, (key, ""))[0].split(",")[0]


def value_ticks(ax: Any, values: Any, max_ticks: int = 12) -> None:
    """Ticks exactly at the swept x values when there are few of them (no 2.25 regions between 2 and 2.5)."""
    v = np.unique(np.asarray(values, dtype=float)[np.isfinite(np.asarray(values, dtype=float))])
    if 0 < v.size <= max_ticks:
        ax.set_xticks(v, [f"{x:g}" for x in v])


def log_scale_ok(values: Any, decades: float = 2.0) -> bool:
    """True when the finite values are all > 0 and span at least ``decades`` decades (max/min ≥ 10**decades):
    only then is a log axis used."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return bool(v.size) and bool((v > 0).all()) and float(v.max() / v.min()) >= 10 ** decades


def legend_outside(ax: Any, **kwargs: Any) -> Any:
    """The legend to the right of the axes, so it never covers a line or a point."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8, **kwargs)


def thousands(axis: Any) -> None:
    """Plain tick labels with thousands separators (``28,000``), no scientific offset."""
    from matplotlib.ticker import StrMethodFormatter

    axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def pareto_mask(carbon_kg: np.ndarray, completion_h: np.ndarray) -> np.ndarray:
    """True where no other point has carbon ≤ and completion ≤ with at least one strictly less."""
    c, t = np.asarray(carbon_kg, float)[:, None], np.asarray(completion_h, float)[:, None]
    dominated = ((c.T <= c) & (t.T <= t) & ((c.T < c) | (t.T < t))).any(axis=1)
    return np.asarray(~dominated)


def pareto_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (columns ``policy``, ``carbon_kg``, ``completion_h_mean``) with ``pareto_optimal`` (computed
    over the policies; an oracle row is never Pareto-optimal), sorted by carbon."""
    out = table.copy()
    policies = ~out["policy"].astype(str).str.startswith(ORACLE).to_numpy()   # "oracle (exact MILP)" …
    mask = np.zeros(len(out), dtype=bool)
    mask[policies] = pareto_mask(out["carbon_kg"].to_numpy()[policies], out["completion_h_mean"].to_numpy()[policies])
    out["pareto_optimal"] = mask
    return out.sort_values("carbon_kg").reset_index(drop=True)


def _policy_note(row: pd.Series) -> str:
    parts = [f"{row[m]:.0f} % {w}" for m, w in (("deadline_rate", "on time"), ("renewable_share", "renewable"),
                                                 ("ontime_share", "of on-time oracle"))
             if m in row.index and pd.notna(row[m])]
    return f" ({', '.join(parts)})" if parts else ""


def pareto_figure(table: pd.DataFrame, points: pd.DataFrame | None = None, title: str | None = None,
                  context: str = "", seeds: str = "1 seed") -> Any:
    """Total carbon (kgCO2e, y) vs mean job completion time (h, x) of the policies in ``table`` (one row per
    policy; ``deadline_rate``, ``renewable_share`` and ``ontime_share`` (%) are named in the legend when present), the dashed line
    joining the Pareto-optimal policies; ``points`` (one row per trial and policy) drawn faint in the policy's
    colour. An oracle row is a bound: a dotted horizontal line at its carbon, labelled
    ``<its label, e.g. oracle (exact MILP)>: perfect-foresight bound`` (at ``oracle_bound_kg`` when the table has
    it, else at the oracle schedule's carbon) and a star at its schedule. The title says what, ``context`` where and
    when (regions, period, jobs) and ``seeds`` how many seeds (``1 seed``, ``mean ± std over 3 seeds``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = pareto_table(table)
    fig, ax = plt.subplots(figsize=(9, 5))
    is_oracle = table["policy"].astype(str).str.startswith(ORACLE).to_numpy()
    pol = table[~is_oracle].sort_values("policy")
    colours = {p: policy_colour(p) for p in pol["policy"]}
    if points is not None:
        for policy, part in points[~points["policy"].astype(str).str.startswith(ORACLE)].groupby("policy", sort=True):
            ax.scatter(part["completion_h_mean"], part["carbon_kg"], s=12, alpha=0.35,
                       color=colours.get(policy, "grey"), zorder=2)
    for row in pol.itertuples(index=False):
        series = pol[pol["policy"] == row.policy].iloc[0]
        ax.scatter(row.completion_h_mean, row.carbon_kg, s=70, color=colours[row.policy], edgecolors="k", zorder=3,
                   label=f"{row.policy}{_policy_note(series)}")
    front = table[table["pareto_optimal"]].sort_values("completion_h_mean")
    ax.plot(front["completion_h_mean"], front["carbon_kg"], "k--", lw=1, zorder=2, label="Pareto front (policies)")
    for _, row in table[is_oracle].iterrows():
        bound = row.get("oracle_bound_kg", np.nan)
        bound = row["carbon_kg"] if not np.isfinite(bound) else bound     # a bound kind without a gap: its schedule
        ax.axhline(bound, color="goldenrod", ls=":", lw=1.5, zorder=1, label=f"{row['policy']}: perfect-foresight bound")
        ax.scatter(row["completion_h_mean"], row["carbon_kg"], marker="*", s=160, c="gold", edgecolors="k", zorder=4,
                   label=f"oracle schedule ({row['carbon_kg']:,.0f} kgCO2e)")
    ax.set(xlabel=f"{METRIC_UNITS['completion_h_mean'][0]} (h)", ylabel=f"{METRIC_UNITS['carbon_kg'][0]} (kgCO2e)")
    head = title or "Carbon vs completion time per policy"
    ax.set_title("\n".join(filter(None, [head, context, seeds])), fontsize=10)
    ax.margins(x=0.08, y=0.08)
    thousands(ax.yaxis)
    ax.grid(alpha=0.3)
    legend_outside(ax)
    fig.tight_layout()
    return fig


def short_cells(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """``table`` with every text cell naming a weighted ensemble shortened (:func:`forecast.ensemble.short_label`)
    and the map short → full label (several full labels with one short name get ``[1]``, ``[2]`` …)."""
    full: dict[str, str] = {}
    out = table.copy()
    for col in out.columns:
        if out[col].dtype != object and not pd.api.types.is_string_dtype(out[col]):
            continue
        mapping = {}
        for value in out[col].dropna().unique():
            short = short_label(str(value))
            if short != str(value):
                if full.get(short, value) != value:
                    short = f"{short} [{sum(k.startswith(short) for k in full) + 1}]"
                full[short], mapping[value] = str(value), short
        if mapping:
            out[col] = out[col].map(lambda v, m=mapping: m.get(v, v))
    return out, full
