"""Kind ``panel_summary``: load and validate the hourly panel for some zones/years, summarise each zone
(span, mean/min/max direct CI in gCO2eq/kWh, mean renewable %) and plot the mean daily CI profile."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from carbonshift.experiments.config import check
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.forecast.data.panel import EM_YEARS, EM_ZONES, load_panel

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class PanelData:
    zones: list[str] = field(default_factory=lambda: list(EM_ZONES))
    years: list[int] = field(default_factory=lambda: list(EM_YEARS))
    weather: bool = True    # also load and validate the zone's observed Open-Meteo weather (optional for own zones)

    def __post_init__(self) -> None:
        # any zone/year with an export in the data dir works (load_panel names the missing file and how to add it)
        check(bool(self.zones), "data.zones", "at least one zone")
        check(bool(self.years), "data.years", "at least one year")


@dataclass
class PanelSummaryConfig:
    kind: str
    name: str
    seed: int = 0
    data: PanelData = field(default_factory=PanelData)


def summarise(panel: pd.DataFrame) -> pd.DataFrame:
    """One row per zone: first/last hour (UTC), hours, estimated share, CI stats, mean renewable %."""
    g = panel.groupby("region", sort=False)
    return pd.DataFrame({
        "zone": list(g.groups),
        "start_utc": g["time"].min().dt.strftime("%Y-%m-%d %H:%M").to_numpy(),
        "end_utc": g["time"].max().dt.strftime("%Y-%m-%d %H:%M").to_numpy(),
        "hours": g.size().to_numpy(),
        "estimated_pct": (100 * g["estimated"].mean()).to_numpy(),
        "ci_mean": g["ci_direct"].mean().to_numpy(),
        "ci_min": g["ci_direct"].min().to_numpy(),
        "ci_max": g["ci_direct"].max().to_numpy(),
        "renewable_pct_mean": g["renewable_pct"].mean().to_numpy(),
    })


def daily_profile_figure(panel: pd.DataFrame) -> Figure:
    """Mean direct CI (gCO2eq/kWh) by UTC hour of day, one line per zone, over every loaded hour; the title names
    the zones and the period (UTC), the legend (outside the axes) marks zones whose hours are mostly estimated
    by Electricity Maps rather than measured."""
    prof = panel.assign(hour=panel["time"].dt.hour).groupby(["region", "hour"])["ci_direct"].mean().unstack(0)
    estimated = panel.groupby("region")["estimated"].mean()
    labels = [f"{z} ({100 * estimated[z]:.0f} % of hours estimated)" if estimated[z] >= 0.05 else str(z)
              for z in prof.columns]
    import matplotlib   # lazy: matplotlib.pyplot takes ~0.3 s to import; parsing a config imports this module (issue 24)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5))
    for i, (zone, label) in enumerate(zip(prof.columns, labels)):
        ax.plot(prof.index, prof[zone], marker=".", color=f"C{i % 10}", label=label)
    start, end = panel["time"].min(), panel["time"].max()
    days = (end - start).days + 1
    ax.set(xlabel="hour of day (UTC)", ylabel="mean carbon intensity, direct (gCO2eq/kWh)", xticks=range(0, 24, 3))
    ax.set_title(f"Mean daily profile of direct carbon intensity — {len(prof.columns)} Electricity Maps zones\n"
                 f"{start:%Y-%m-%d} – {end:%Y-%m-%d} UTC ({days:,} days averaged per hour; observed data)",
                 fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def daily_series_figure(panel: pd.DataFrame) -> Figure:
    """Daily mean (UTC days) of direct CI (gCO2eq/kWh, top) and renewable share (%, bottom), one line per zone;
    the title names the zones and the period (UTC)."""
    import matplotlib   # lazy: matplotlib.pyplot takes ~0.3 s to import; parsing a config imports this module (issue 24)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    for ax, column, label in zip(axes, ("ci_direct", "renewable_pct"), ("direct CI, daily mean (gCO2eq/kWh)",
                                                                          "renewable share, daily mean (%)")):
        daily = panel.pivot_table(index="time", columns="region", values=column).resample("D").mean()
        for i, zone in enumerate(daily.columns):
            ax.plot(daily.index, daily[zone], lw=1, color=f"C{i % 10}", label=str(zone))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    start, end = panel["time"].min(), panel["time"].max()
    axes[0].set_title(f"Electricity Maps, {panel['region'].nunique()} zones, {start:%Y-%m-%d} – {end:%Y-%m-%d} "
                      "(UTC days)", fontsize=10)
    axes[1].set_xlabel("UTC")
    axes[0].legend(ncol=3, fontsize=8)
    fig.tight_layout()
    return fig


@experiment_kind("panel_summary", PanelSummaryConfig)
def run(config: PanelSummaryConfig, ctx: Context) -> Result:
    """Load + validate the panel, summarise each zone and plot daily CI profiles."""
    panel = load_panel(config.data.zones, config.data.years, weather=config.data.weather, data_dir=ctx.data_dir)
    table = summarise(panel)
    metrics = {f"ci_mean.{z}": v for z, v in zip(table["zone"], table["ci_mean"])}
    metrics |= {f"renewable_pct_mean.{z}": v for z, v in zip(table["zone"], table["renewable_pct_mean"])}
    metrics["panel_rows"] = float(len(panel))
    return Result(metrics=metrics, tables={"zone_summary": table},
                  figures={"daily_ci_profile.png": daily_profile_figure(panel)},
                  summary={"zones": len(table), "rows": len(panel)})
