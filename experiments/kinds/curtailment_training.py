"""Experiment kind ``curtailment_training``: train a tiny transformer LM only inside surplus-renewable
windows across sites (local steps alone, FedAvg when ≥ 2 sites are in windows, pause when none), against a
centralised single-site baseline that trains continuously (seed 002).

Windows come from :mod:`scheduler.curtailment` on the Electricity Maps panel (a proxy: we have no
marginal-emission series). Orchestration is plain torch (:mod:`scheduler.federated.elastic`); Flower 1.41
could not be installed without changing pinned packages (see the module docs of ``scheduler.federated``).

Metrics: ``elastic.*`` and ``baseline.*`` (val_loss nats/byte, val_ppl, hours, compute_kwh, network_kwh,
cpu_seconds), ``elastic.energy_in_windows_pct``, ``elastic.emissions_vs_baseline_pct.<site>`` (+ ``_min`` /
``_max``), ``ppl_gap`` (elastic − baseline), ``elastic.fedavg_rounds``, ``elastic.hours_paused``,
``baseline.energy_in_windows_pct.<site>``. Tables ``runs`` and ``windows``; figure ``windows.png``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from experiments.config import check
from experiments.registry import Context, Result, experiment_kind
from scheduler.curtailment import WindowRule, window_table, windows_from_panel


@dataclass
class CTDataSection:
    zones: list[str] = field(default_factory=lambda: ["DE", "GB", "US-CAL-CISO"])
    years: list[int] = field(default_factory=lambda: [2023])
    start: str = "2023-03-01"        # UTC
    span_days: int = 60              # hours available to finish training
    column: str = "ci_direct"        # intensity used for emissions: ci_direct | ci_lca

    def __post_init__(self) -> None:
        check(len(self.zones) >= 2, "data.zones", "need at least two sites")
        check(self.span_days >= 1, "data.span_days", "must be ≥ 1")
        check(self.column in ("ci_direct", "ci_lca"), "data.column", "expected ci_direct or ci_lca")


@dataclass
class CorpusSection:
    max_bytes_per_site: int = 400_000
    val_bytes: int = 50_000
    val_every: int = 10


@dataclass
class ModelSection:
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    context: int = 64
    batch_size: int = 16
    lr: float = 3e-3


@dataclass
class TrainingSection:
    total_steps: int = 600
    steps_per_hour: int = 10
    site_kw: float = 5.6
    pue: float = 1.10
    network_kwh_per_gb: float = 0.06

    def __post_init__(self) -> None:
        check(self.total_steps >= 1 and self.steps_per_hour >= 1, "training.total_steps", "must be ≥ 1")


@dataclass
class CurtailmentTrainingConfig:
    kind: str
    name: str
    seed: int = 0
    data: CTDataSection = field(default_factory=CTDataSection)
    windows: WindowRule = field(default_factory=WindowRule)
    corpus: CorpusSection = field(default_factory=CorpusSection)
    model: ModelSection = field(default_factory=ModelSection)
    training: TrainingSection = field(default_factory=TrainingSection)


def windows_figure(mask: np.ndarray, times: pd.DatetimeIndex, regions: list[str], trained_h: int):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 0.6 * len(regions) + 1.4))
    ax.imshow(mask, aspect="auto", interpolation="nearest", cmap="Greens",
              extent=(0, mask.shape[1], len(regions) - 0.5, -0.5))
    ax.axvline(trained_h, color="k", lw=1, label="curtailment run ends")
    ax.set_yticks(range(len(regions)), regions)
    ax.set_xlabel(f"hours from {times[0]:%Y-%m-%d %H:%M} UTC")
    ax.set_title("Surplus-renewable windows (green) per site")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


@experiment_kind("curtailment_training", CurtailmentTrainingConfig,
                 "LM training inside curtailment windows with FedAvg vs continuous single-site (seed 002)")
def run(cfg: CurtailmentTrainingConfig, ctx: Context) -> Result:
    from forecast.data.panel import load_panel, to_matrix
    from scheduler.federated.corpus import stdlib_corpus
    from scheduler.federated.elastic import ElasticConfig, baseline_share_in_windows, train_baseline, train_elastic
    from scheduler.federated.lm import LMConfig

    d = cfg.data
    panel = load_panel(d.zones, d.years, weather=False, data_dir=ctx.data_dir)
    mask, times, regions = windows_from_panel(panel, cfg.windows, d.zones)
    ci, ci_times, _ = to_matrix(panel, d.column, d.zones)
    if not ci_times.equals(times):
        raise ValueError("curtailment_training: intensity and window signals cover different hours")
    start = pd.Timestamp(d.start, tz="UTC")
    i0 = times.searchsorted(start)
    n = d.span_days * 24
    if i0 >= len(times) or times[i0] != start or i0 + n > len(times):
        raise ValueError(f"data.start/span_days: panel covers {times[0]} → {times[-1]}, cannot take {n} h from "
                         f"{start}")
    mask, ci, times = mask[:, i0:i0 + n], ci[:, i0:i0 + n], times[i0:i0 + n]
    corpus = stdlib_corpus(len(regions), cfg.corpus.max_bytes_per_site, cfg.corpus.val_bytes,
                           cfg.corpus.val_every)
    lm = LMConfig(**cfg.model.__dict__)
    ec = ElasticConfig(**cfg.training.__dict__, max_hours=n)
    el = train_elastic(corpus, mask, ci, lm, ec, seed=cfg.seed)
    bl = train_baseline(corpus, ci, lm, ec, seed=cfg.seed)
    ratio = 100.0 * el.carbon_kg[0] / bl.carbon_kg
    base_win = 100.0 * baseline_share_in_windows(mask, ec)
    metrics = {
        "elastic.val_loss": el.val_loss, "elastic.val_ppl": el.val_ppl, "elastic.hours": float(el.hours),
        "elastic.compute_kwh": el.compute_kwh, "elastic.network_kwh": el.network_kwh,
        "elastic.carbon_kg": float(el.carbon_kg[0]), "elastic.energy_in_windows_pct": 100 * el.share_in_windows,
        "elastic.fedavg_rounds": float(el.rounds_fedavg), "elastic.hours_paused": float(el.hours_paused),
        "elastic.cpu_seconds": el.seconds,
        "baseline.val_loss": bl.val_loss, "baseline.val_ppl": bl.val_ppl, "baseline.hours": float(bl.hours),
        "baseline.compute_kwh": bl.compute_kwh, "baseline.cpu_seconds": bl.seconds,
        "ppl_gap": el.val_ppl - bl.val_ppl,
        "elastic.emissions_vs_baseline_pct_min": float(ratio.min()),
        "elastic.emissions_vs_baseline_pct_max": float(ratio.max()),
        "windows.share_of_hours_pct": 100.0 * float(mask.mean()),
    }
    for s, r in enumerate(regions):
        metrics[f"elastic.emissions_vs_baseline_pct.{r}"] = float(ratio[s])
        metrics[f"baseline.carbon_kg.{r}"] = float(bl.carbon_kg[s])
        metrics[f"baseline.energy_in_windows_pct.{r}"] = float(base_win[s])
        metrics[f"elastic.train_hours.{r}"] = float(el.train_hours_by_site[s])
    runs = pd.DataFrame(
        [{"run": "curtailment (elastic FedAvg)", "site": "+".join(regions), "val_loss": el.val_loss,
          "val_ppl": el.val_ppl, "wall_clock_h": el.hours, "energy_kwh": el.compute_kwh + el.network_kwh,
          "energy_in_windows_pct": 100 * el.share_in_windows, "carbon_kg": float(el.carbon_kg[0]),
          "emissions_vs_this_baseline_pct": np.nan}]
        + [{"run": "baseline (centralised, continuous)", "site": r, "val_loss": bl.val_loss, "val_ppl": bl.val_ppl,
            "wall_clock_h": bl.hours, "energy_kwh": bl.compute_kwh, "energy_in_windows_pct": float(base_win[s]),
            "carbon_kg": float(bl.carbon_kg[s]), "emissions_vs_this_baseline_pct": float(ratio[s])}
           for s, r in enumerate(regions)])
    return Result(metrics=metrics, tables={"runs": runs, "windows": window_table(mask, times, regions)},
                  figures={"windows.png": windows_figure(mask, times, regions, el.hours)},
                  summary={"name": cfg.name, "sites": ", ".join(regions), "start": str(times[0]),
                           "total_steps": ec.total_steps, "flower": "not used (install would change pinned "
                           "packages); plain-torch FedAvg"})
