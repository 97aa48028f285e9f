"""Figure of the ``curtailment_training`` kind: the site × hour map of surplus-renewable windows."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def windows_figure(mask: np.ndarray, times: pd.DatetimeIndex, regions: list[str], trained_h: int, label: str) -> Any:
    """Site × hour map of the surplus-renewable windows (green = inside a window), hours counted from the first
    hour (UTC), with the hour the curtailment run ended; the title names the sites, the period (UTC) and ends
    with the windows' foresight ``label``. A matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(10, 0.6 * len(regions) + 1.8))
    ax.imshow(mask, aspect="auto", interpolation="nearest", cmap="Greens", vmin=0, vmax=1,
              extent=(0, mask.shape[1], len(regions) - 0.5, -0.5))
    ax.axvline(trained_h, color="k", lw=1, label=f"curtailment run ends (hour {trained_h})")
    ax.set_yticks(range(len(regions)), regions)
    ax.set_ylabel("site")
    ax.set_xlabel(f"hours from {times[0]:%Y-%m-%d %H:%M} UTC")
    end = times[0] + pd.Timedelta(hours=mask.shape[1] - 1)
    ax.set_title(f"Surplus-renewable windows per site, {times[0]:%Y-%m-%d} – {end:%Y-%m-%d} UTC "
                 f"({int(mask.sum()):,} window site-hours) — {label}", fontsize=10)
    handles = [Patch(facecolor=plt.get_cmap("Greens")(1.0), label="inside a window"),
               *ax.get_legend_handles_labels()[0]]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
    fig.tight_layout()
    return fig
