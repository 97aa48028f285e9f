"""Figures shared by kinds and reports. One Pareto view everywhere: total carbon (kgCO2e, y) vs mean job
completion time (h, x) per policy, with the non-dominated front of the policies (an oracle row is a bound,
not a policy: drawn as a star, never on the front)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

ORACLE = "oracle"


def pareto_mask(carbon_kg: np.ndarray, completion_h: np.ndarray) -> np.ndarray:
    """True where no other point has carbon ≤ and completion ≤ with at least one strictly less."""
    c, t = np.asarray(carbon_kg, float)[:, None], np.asarray(completion_h, float)[:, None]
    dominated = ((c.T <= c) & (t.T <= t) & ((c.T < c) | (t.T < t))).any(axis=1)
    return ~dominated


def pareto_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (columns ``policy``, ``carbon_kg``, ``completion_h_mean``) with ``pareto_optimal`` (computed
    over the policies; an oracle row is never Pareto-optimal), sorted by carbon."""
    out = table.copy()
    policies = ~out["policy"].astype(str).str.startswith(ORACLE).to_numpy()   # "oracle (exact MILP)" …
    mask = np.zeros(len(out), dtype=bool)
    mask[policies] = pareto_mask(out["carbon_kg"].to_numpy()[policies], out["completion_h_mean"].to_numpy()[policies])
    out["pareto_optimal"] = mask
    return out.sort_values("carbon_kg").reset_index(drop=True)


def pareto_figure(table: pd.DataFrame, points: pd.DataFrame | None = None, title: str | None = None) -> Any:
    """Carbon (kgCO2e) vs mean completion time (h) of the policies in ``table`` (one row per policy; with
    ``deadline_rate`` (%) the marker size follows it, with ``renewable_share`` (%) the colour), the dashed
    line joining the Pareto-optimal policies; ``points`` (one row per trial and policy) are drawn faint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = pareto_table(table)
    fig, ax = plt.subplots(figsize=(7, 5))
    if points is not None:
        for _, part in points[~points["policy"].astype(str).str.startswith(ORACLE)].groupby("policy", sort=True):
            ax.scatter(part["completion_h_mean"], part["carbon_kg"], s=10, alpha=0.3)
    is_oracle = table["policy"].astype(str).str.startswith(ORACLE).to_numpy()
    pol = table[~is_oracle]
    size = pol["deadline_rate"].clip(lower=1) * 2.5 if "deadline_rate" in pol else 60
    if "renewable_share" in pol:
        sc = ax.scatter(pol["completion_h_mean"], pol["carbon_kg"], s=size, c=pol["renewable_share"], cmap="YlGn",
                        edgecolors="k", zorder=3)
        fig.colorbar(sc, ax=ax, label="renewable share (%)")
    else:
        ax.scatter(pol["completion_h_mean"], pol["carbon_kg"], s=size, c="k", zorder=3)
    if is_oracle.any():
        orc = table[is_oracle]
        ax.scatter(orc["completion_h_mean"], orc["carbon_kg"], marker="*", s=250, c="gold", edgecolors="k", zorder=4,
                   label=f"{orc['policy'].iloc[0]}: perfect-foresight bound")
    for row in table.itertuples(index=False):
        ax.annotate(row.policy, (row.completion_h_mean, row.carbon_kg), textcoords="offset points", xytext=(6, 4),
                    fontsize=8)
    front = table[table["pareto_optimal"]].sort_values("completion_h_mean")
    ax.plot(front["completion_h_mean"], front["carbon_kg"], "k--", lw=1, zorder=2, label="Pareto front (policies)")
    sized = " (marker size ∝ deadline rate)" if "deadline_rate" in pol else ""
    ax.set(xlabel="mean job completion time (h)", ylabel="total carbon (kgCO2e)",
           title=title or f"Carbon vs completion time{sized}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig
