"""The report's matplotlib figures, drawn from its tables: per swept key, a metric's mean ± std over seeds (one
line per policy and other swept keys) and the decision latency and memory; per group of runs, the operational vs
transfer carbon bars, renewable utilisation per region and the hour-of-day heatmap. Axis labels and units come
from :mod:`experiments.figures` (the metric's name, never the data); each title says what, ``context`` where and
when, and a note what each value averages (:mod:`experiments.report.notes`)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from carbonshift.experiments.figures import (key_label, key_value, legend_outside, log_scale_ok, metric_label,
                                             metric_unit, policy_colour, thousands, value_ticks)
from carbonshift.experiments.report.metric_names import MAIN_POLICY, METRIC_LABELS
from carbonshift.experiments.report.notes import spread_note


def tick_text(value: Any) -> str:
    """A categorical tick label, one ``k=v`` pair per line (``lm=0.7`` / ``cv=0.1`` …)."""
    return "\n".join(str(value).split())


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
        # one line per policy: its colour; several lines per policy: the colour cycle
        colour: dict[str, Any] = {"color": policy_colour(key[0])} if key[0] and len(key) == 1 else {}
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


def split_figure(table: pd.DataFrame, context: str = "", note: str = "1 seed") -> Any:
    """Stacked bars per policy: operational and data-transfer carbon (kgCO2e); ``note`` says what each bar
    averages (:func:`experiments.report.notes.pooled_note`)."""
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
