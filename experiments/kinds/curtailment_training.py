"""Experiment kind ``curtailment_training``: train a tiny transformer LM only inside surplus-renewable
windows across sites (a lone site trains locally, sites synchronise with FedAvg rounds on Flower's simulation
engine when ≥ 2 are in windows, training pauses when none), against a centralised single-site baseline that
trains continuously (seed 002).

Windows come from :mod:`scheduler.curtailment` on the Electricity Maps panel (a proxy: we have no
marginal-emission series). They are cut from *actual* values: with percentile thresholds over the whole
loaded span or ``min_hours`` > 1 they use knowledge a real trainer would not have, and the ``runs`` table,
the figure title and the summary say "perfect-foresight windows" (:func:`scheduler.curtailment.foresight`).
Rounds are planned by :mod:`scheduler.federated.elastic` and run through Flower
1.41 (:mod:`scheduler.federated.flower_app`, Ray backend, offline, telemetry off, Ray session under
``<runs dir>/ray/flower``).

Metrics: ``elastic.*`` and ``baseline.*`` (val_loss nats/byte, val_ppl, hours, compute_kwh, network_kwh,
seconds = real wall-clock), ``elastic.energy_in_windows_pct``, ``elastic.emissions_vs_baseline_pct.<site>``
(+ ``_min`` / ``_max``), ``ppl_gap`` (elastic − baseline), ``elastic.flower_rounds``,
``elastic.fedavg_rounds`` (rounds averaging ≥ 2 sites), ``elastic.hours_paused``,
``baseline.energy_in_windows_pct.<site>``. Tables ``runs``, ``rounds`` (per Flower round and site) and
``windows``; figure ``windows.png``.

With a ``forecast_windows`` section the elastic run is repeated on **forecast windows**, decided causally
(:func:`scheduler.curtailment.forecast_windows`) from day-ahead forecasts of ``windows.column`` made by the
forecasting stack (:func:`forecast.backtest.run_backtest`: one model, CQR-calibrated on the
``val_days`` before ``data.start``, fitted on everything loaded before that): metrics ``forecast.elastic.*``
(as above, plus ``forecast.elastic.energy_in_actual_windows_pct`` — energy inside the perfect-foresight
windows), ``forecast.ppl_gap``, ``forecast.windows.precision_pct.<site>.<bucket>`` /
``recall_pct`` (vs windows cut from the actuals with the same causal thresholds, per horizon bucket) and
``forecast.vs_pf.precision_pct.<site>`` / ``recall_pct`` (the hour mask vs the perfect-foresight windows);
table ``forecast_windows_pr``.

The kind wires the config to :mod:`experiments.forecast_windows` (the forecast windows),
:mod:`scheduler.federated` (the training) and :mod:`experiments.curtailment_results` /
:mod:`experiments.curtailment_figure` (metrics, ``runs`` table, figure).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from carbonshift.experiments.config import check
from carbonshift.experiments.curtailment_figure import windows_figure
from carbonshift.experiments.forecast_windows import ForecastWindowsSection, forecast_window_mask
from carbonshift.experiments.instances import ZoneData
from carbonshift.experiments.ray_setup import ray_temp_dir
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.forecast.bounds import MAX_CPUS, MAX_SPAN_DAYS, bounded
from carbonshift.forecast.data.panel import load_panel, to_matrix
from carbonshift.scheduler.curtailment import WindowRule, foresight, window_label, window_table, windows_from_panel
from carbonshift.scheduler.datacenters import DEFAULT_NETWORK_KWH_PER_GB


@dataclass
class CTDataSection(ZoneData):
    min_zones: ClassVar[int] = 2     # sites train in their windows and synchronise
    zones: list[str] = field(default_factory=lambda: ["DE", "GB", "US-CAL-CISO"])
    span_days: int = bounded(60, ge=1, le=MAX_SPAN_DAYS)   # hours available to finish training


#: upper bound of a step count (training.total_steps, steps_per_hour, corpus.val_every; shipped ≤ 600)
MAX_STEPS = 1_000_000
#: upper bound of the corpus bytes a site reads (corpus.max_bytes_per_site, val_bytes): 100 MB, 250× the shipped
MAX_CORPUS_BYTES = 100_000_000


@dataclass
class CorpusSection:
    max_bytes_per_site: int = bounded(400_000, le=MAX_CORPUS_BYTES)
    val_bytes: int = bounded(50_000, le=MAX_CORPUS_BYTES)
    val_every: int = bounded(10, le=MAX_STEPS)


@dataclass
class ModelSection:
    d_model: int = bounded(64, ge=1, le=4096)
    n_layers: int = bounded(2, ge=1, le=64)
    n_heads: int = bounded(4, ge=1, le=64)
    context: int = bounded(64, ge=1, le=4096)
    batch_size: int = bounded(16, ge=1, le=4096)
    lr: float = 3e-3


@dataclass
class TrainingSection:
    total_steps: int = bounded(600, le=MAX_STEPS)
    steps_per_hour: int = bounded(10, le=MAX_STEPS)
    site_kw: float = 5.6
    pue: float = 1.10
    network_kwh_per_gb: float = DEFAULT_NETWORK_KWH_PER_GB

    def __post_init__(self) -> None:
        check(self.total_steps >= 1 and self.steps_per_hour >= 1, "training.total_steps", "must be ≥ 1")


@dataclass
class FlowerSection:
    """Flower simulation resources: CPUs of the local Ray instance, CPUs per ClientApp actor, torch threads
    per actor."""

    ray_num_cpus: int = bounded(2, le=MAX_CPUS)
    client_num_cpus: float = 1.0
    torch_threads: int = bounded(1, le=MAX_CPUS)

    def __post_init__(self) -> None:
        check(self.ray_num_cpus >= 1, "flower.ray_num_cpus", "must be ≥ 1")
        check(0 < self.client_num_cpus <= self.ray_num_cpus, "flower.client_num_cpus",
              "must be in (0, ray_num_cpus]")
        check(self.torch_threads >= 1, "flower.torch_threads", "must be ≥ 1")


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
    flower: FlowerSection = field(default_factory=FlowerSection)
    forecast_windows: ForecastWindowsSection | None = None


@experiment_kind("curtailment_training", CurtailmentTrainingConfig,
                 "LM training inside curtailment windows with Flower FedAvg vs continuous single-site (seed 002)")
def run(cfg: CurtailmentTrainingConfig, ctx: Context) -> Result:
    from carbonshift.experiments.curtailment_results import forecast_metrics, forecast_run_row, run_metrics, runs_table
    from carbonshift.scheduler.federated.corpus import stdlib_corpus
    from carbonshift.scheduler.federated.elastic import ElasticConfig, train_baseline
    from carbonshift.scheduler.federated.flower_app import SimulationConfig
    from carbonshift.scheduler.federated.lm import LMConfig
    from carbonshift.scheduler.federated.train import train_elastic

    d = cfg.data
    panel = load_panel(d.zones, d.years, weather=False, data_dir=ctx.data_dir)
    mask, times, regions = windows_from_panel(panel, cfg.windows, d.zones)
    windows_label = window_label(cfg.windows)
    ci, ci_times, _ = to_matrix(panel, d.column, d.zones)
    if not ci_times.equals(times):
        raise ValueError("curtailment_training: intensity and window signals cover different hours")
    start = pd.Timestamp(d.start, tz="UTC")
    i0 = times.searchsorted(start)
    n = d.span_days * 24
    if i0 >= len(times) or times[i0] != start or i0 + n > len(times):
        raise ValueError(f"data.start/span_days: panel covers {times[0]} → {times[-1]}, cannot take {n} h from "
                         f"{start}")
    fw = (forecast_window_mask(panel, regions, cfg.windows, cfg.forecast_windows, start, n, cfg.seed, ctx.progress)
          if cfg.forecast_windows else None)
    mask, ci, times = mask[:, i0:i0 + n], ci[:, i0:i0 + n], times[i0:i0 + n]
    corpus = stdlib_corpus(len(regions), cfg.corpus.max_bytes_per_site, cfg.corpus.val_bytes,
                           cfg.corpus.val_every)
    lm = LMConfig(**cfg.model.__dict__)
    ec = ElasticConfig(**cfg.training.__dict__, max_hours=n)
    sim = SimulationConfig(cfg.flower.ray_num_cpus, cfg.flower.client_num_cpus, cfg.flower.torch_threads,
                           ray_temp_dir=str(ray_temp_dir() / "flower"))
    el = train_elastic(corpus, mask, ci, lm, ec, sim, seed=cfg.seed)
    bl = train_baseline(corpus, ci, lm, ec, seed=cfg.seed)
    metrics = run_metrics(el, bl, mask, ec, regions)
    runs = runs_table(el, bl, mask, ec, regions, windows_label)
    rounds = el.rounds.assign(region=np.asarray(regions)[el.rounds["site"].to_numpy()],
                              time=times[el.rounds["hour"].to_numpy()])
    tables = {"runs": runs, "rounds": rounds, "windows": window_table(mask, times, regions)}
    if fw is not None:
        el_f = train_elastic(corpus, fw.mask, ci, lm, ec, sim, seed=cfg.seed)
        metrics.update(forecast_metrics(el_f, fw, mask, bl, ec, regions))
        runs.loc[len(runs)] = forecast_run_row(el_f, fw.label, mask, ec, regions)
        tables["forecast_windows_pr"] = fw.pr
        tables["forecast_windows"] = window_table(fw.mask, times, regions)
    return Result(metrics=metrics, tables=tables,
                  figures={"windows.png": windows_figure(mask, times, regions, el.plan.hours, windows_label)},
                  summary={"name": cfg.name, "sites": ", ".join(regions), "start": str(times[0]),
                           "windows": "; ".join([windows_label, *foresight(cfg.windows)]),
                           **({"forecast_windows": fw.label} if fw is not None else {}),
                           "total_steps": ec.total_steps, "flower_rounds": el.plan.n_rounds,
                           "engine": "Flower simulation (Ray backend)"})
