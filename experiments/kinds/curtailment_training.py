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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from carbonshift.experiments.config import bounded, check
from carbonshift.experiments.instances import MAX_SPAN_DAYS, MAX_SPAN_H, ZoneData
from carbonshift.experiments.ray_setup import ray_temp_dir
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.forecast.backtest import PipelineSettings, Windows, run_backtest
from carbonshift.forecast.data.panel import load_panel, to_matrix
from carbonshift.forecast.data.schema import MAX_HORIZON_H, QUANTILE_COLUMNS
from carbonshift.forecast.models.gbm import GBMForecaster
from carbonshift.forecast.models.naive import NaiveForecaster
from carbonshift.scheduler.curtailment import (ForecastWindowRule, WindowRule, forecast_windows, foresight, handoff_mask,
                                   precision_recall, window_label, window_table, windows_from_panel)
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
#: upper bound of a CPU or thread count (flower.ray_num_cpus, torch_threads)
MAX_CPUS = 1024


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
class ForecastWindowsSection:
    """Causal windows from a forecast of ``windows.column`` (see module docstring). ``model``: a naive kind
    (persistence | seasonal24 | seasonal168) or ``gbm``; ``stat``: mean or a quantile column (q0.05 … q0.95)."""

    model: str = "seasonal24"
    val_days: int = bounded(28, ge=7, le=MAX_SPAN_DAYS)   # calibration window just before data.start
    trailing_days: int = bounded(28, ge=1, le=MAX_SPAN_DAYS)   # thresholds: percentiles of the actuals in the past trailing_days
    stat: str = "mean"
    warmup_h: int = bounded(24, le=MAX_SPAN_H)
    issue_hour: int = 23            # UTC; day D is planned from the issue at D − 1 day + issue_hour
    horizon_h: int = 48

    def __post_init__(self) -> None:
        check(self.model in ("persistence", "seasonal24", "seasonal168", "gbm"), "forecast_windows.model",
              "expected persistence | seasonal24 | seasonal168 | gbm")
        check(self.stat == "mean" or self.stat in QUANTILE_COLUMNS, "forecast_windows.stat",
              f"expected mean or one of {list(QUANTILE_COLUMNS)}")
        check(24 <= self.horizon_h <= MAX_HORIZON_H and 0 <= self.issue_hour <= 23, "forecast_windows.horizon_h",
              f"horizon 24–{MAX_HORIZON_H} h (covers the next day), issue hour 0–23")


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


@dataclass
class ForecastWindows:
    """Forecast windows over ``n`` hours from ``start``: ``mask`` [R × n] (hand-off of the per-issue
    membership), per-region × horizon-bucket precision/recall ``pr`` vs windows cut from the actuals with the
    same causal thresholds, and ``label``."""

    mask: np.ndarray
    pr: pd.DataFrame
    label: str


def forecast_window_mask(panel: pd.DataFrame, regions: list[str], rule: WindowRule, sec: ForecastWindowsSection,
                         start: pd.Timestamp, n: int, seed: int, progress: bool) -> ForecastWindows:
    """Backtest ``sec.model`` on ``rule.column`` (fit before the validation window, CQR on ``val_days`` before
    ``start``, test = the ``n`` hours from ``start``) and cut causal windows from its calibrated forecasts."""
    day = pd.Timedelta(days=1)
    val_start = start - sec.val_days * day
    windows = Windows(None, val_start - day, val_start, start - day, start, start + (n // 24 - 1) * day)
    if sec.model == "gbm":
        factory = lambda: GBMForecaster(sec.issue_hour, sec.horizon_h, max_iter=150, seed=seed)  # noqa: E731
    else:
        factory = lambda: NaiveForecaster(sec.model, sec.issue_hour, sec.horizon_h)  # noqa: E731
    bt = run_backtest(panel, rule.column, {sec.model: factory}, windows,
                      PipelineSettings(sec.issue_hour, sec.horizon_h), progress=progress)
    fc = bt.forecasts[(bt.forecasts["model"] == sec.model) & (bt.forecasts["window"] == "test")]
    actual, times, _ = to_matrix(panel, rule.column, regions)
    cube = fc.pivot_table(index=["issue_time", "region"], columns="horizon_h", values=sec.stat)
    issues = cube.index.get_level_values(0).unique()
    cube = cube.reindex(index=pd.MultiIndex.from_product([issues, regions]), columns=range(1, sec.horizon_h + 1))
    if cube.isna().to_numpy().any():
        raise ValueError(f"forecast_windows: the {sec.model} forecast of {rule.column} misses some issue/region/"
                         "horizon rows")
    values = cube.to_numpy().reshape(len(issues), len(regions), -1)
    issue_idx = times.get_indexer(issues)
    if (issue_idx < 0).any():
        raise ValueError(f"forecast_windows: issue times {list(issues[issue_idx < 0][:3])} are not panel hours")
    frule = ForecastWindowRule(sec.trailing_days, sec.stat, sec.warmup_h)
    member = forecast_windows(actual, issue_idx, values, rule, frule)
    future = issue_idx[:, None] + np.arange(1, values.shape[2] + 1)[None, :]                    # [I × H]
    inside = future.max(axis=1) < actual.shape[1]
    truth = forecast_windows(actual, issue_idx[inside], actual[:, future[inside]].transpose(1, 0, 2), rule, frule)
    pr = precision_recall(member[inside], truth, regions, np.arange(1, values.shape[2] + 1))
    mask = handoff_mask(member, issue_idx, times.get_loc(start), n)
    return ForecastWindows(mask, pr, frule.label(f"{sec.model}+cqr"))


def energy_in(plan, mask: np.ndarray, ec, energy) -> float:  # noqa: ANN001 (RoundPlan, ElasticConfig, Accounting)
    """Share (%) of a run's energy (compute + network, kWh) spent in site-hours inside ``mask`` [S × ≥ hours]."""
    site_kwh = ec.site_kw * ec.pue * plan.steps / ec.steps_per_hour
    return 100.0 * float((site_kwh * mask[:, :plan.hours]).sum()) / (energy.compute_kwh + energy.network_kwh)


def forecast_metrics(el, fw: ForecastWindows, pf_mask: np.ndarray, bl, ec, regions: list[str]) -> dict[str, float]:  # noqa: ANN001
    """``forecast.*`` metrics of the elastic run on forecast windows (see module docstring)."""
    e = el.energy
    ratio = 100.0 * e.carbon_kg / bl.carbon_kg
    out = {"forecast.elastic.val_loss": el.val_loss, "forecast.elastic.val_ppl": el.val_ppl,
           "forecast.elastic.hours": float(el.plan.hours), "forecast.elastic.compute_kwh": e.compute_kwh,
           "forecast.elastic.network_kwh": e.network_kwh, "forecast.elastic.carbon_kg": e.carbon_kg,
           "forecast.elastic.energy_in_windows_pct": 100 * e.share_in_windows,
           "forecast.elastic.energy_in_actual_windows_pct": energy_in(el.plan, pf_mask, ec, e),
           "forecast.elastic.fedavg_rounds": float(el.plan.n_fedavg_rounds),
           "forecast.elastic.hours_paused": float(el.plan.hours_paused), "forecast.elastic.seconds": el.seconds,
           "forecast.ppl_gap": el.val_ppl - bl.val_ppl,
           "forecast.windows.share_of_hours_pct": 100.0 * float(fw.mask.mean())}
    for s, r in enumerate(regions):
        out[f"forecast.elastic.emissions_vs_baseline_pct.{r}"] = float(ratio[s])
    for row in fw.pr.itertuples(index=False):
        out[f"forecast.windows.precision_pct.{row.region}.{row.horizon}"] = float(row.precision_pct)
        out[f"forecast.windows.recall_pct.{row.region}.{row.horizon}"] = float(row.recall_pct)
    vs_pf = precision_recall(fw.mask, pf_mask, regions)
    for row in vs_pf.itertuples(index=False):
        out[f"forecast.vs_pf.precision_pct.{row.region}"] = float(row.precision_pct)
        out[f"forecast.vs_pf.recall_pct.{row.region}"] = float(row.recall_pct)
    return out


def windows_figure(mask: np.ndarray, times: pd.DatetimeIndex, regions: list[str], trained_h: int, label: str):
    """Site × hour map of the surplus-renewable windows (green = inside a window), hours counted from the first
    hour (UTC), with the hour the curtailment run ended; the title names the sites, the period (UTC) and ends
    with the windows' foresight ``label``."""
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


@experiment_kind("curtailment_training", CurtailmentTrainingConfig,
                 "LM training inside curtailment windows with Flower FedAvg vs continuous single-site (seed 002)")
def run(cfg: CurtailmentTrainingConfig, ctx: Context) -> Result:
    from carbonshift.scheduler.federated.corpus import stdlib_corpus
    from carbonshift.scheduler.federated.elastic import ElasticConfig, baseline_share_in_windows, train_baseline
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
    e = el.energy
    ratio = 100.0 * e.carbon_kg / bl.carbon_kg
    base_win = 100.0 * baseline_share_in_windows(mask, ec)
    metrics = {
        "elastic.val_loss": el.val_loss, "elastic.val_ppl": el.val_ppl, "elastic.hours": float(el.plan.hours),
        "elastic.compute_kwh": e.compute_kwh, "elastic.network_kwh": e.network_kwh,
        "elastic.carbon_kg": e.carbon_kg, "elastic.energy_in_windows_pct": 100 * e.share_in_windows,
        "elastic.flower_rounds": float(el.plan.n_rounds), "elastic.fedavg_rounds": float(el.plan.n_fedavg_rounds),
        "elastic.hours_paused": float(el.plan.hours_paused), "elastic.seconds": el.seconds,
        "baseline.val_loss": bl.val_loss, "baseline.val_ppl": bl.val_ppl, "baseline.hours": float(bl.hours),
        "baseline.compute_kwh": bl.compute_kwh, "baseline.seconds": bl.seconds,
        "ppl_gap": el.val_ppl - bl.val_ppl,
        "elastic.emissions_vs_baseline_pct_min": float(ratio.min()),
        "elastic.emissions_vs_baseline_pct_max": float(ratio.max()),
        "windows.share_of_hours_pct": 100.0 * float(mask.mean()),
    }
    for s, r in enumerate(regions):
        metrics[f"elastic.emissions_vs_baseline_pct.{r}"] = float(ratio[s])
        metrics[f"baseline.carbon_kg.{r}"] = float(bl.carbon_kg[s])
        metrics[f"baseline.energy_in_windows_pct.{r}"] = float(base_win[s])
        metrics[f"elastic.train_hours.{r}"] = float(e.train_hours_by_site[s])
    runs = pd.DataFrame(
        [{"run": f"curtailment (Flower FedAvg; {windows_label})", "site": "+".join(regions), "val_loss": el.val_loss,
          "val_ppl": el.val_ppl, "wall_clock_h": el.plan.hours, "real_seconds": el.seconds,
          "energy_kwh": e.compute_kwh + e.network_kwh, "energy_in_windows_pct": 100 * e.share_in_windows,
          "carbon_kg": e.carbon_kg, "emissions_vs_this_baseline_pct": np.nan}]
        + [{"run": "baseline (centralised, continuous)", "site": r, "val_loss": bl.val_loss, "val_ppl": bl.val_ppl,
            "wall_clock_h": bl.hours, "real_seconds": bl.seconds, "energy_kwh": bl.compute_kwh,
            "energy_in_windows_pct": float(base_win[s]), "carbon_kg": float(bl.carbon_kg[s]),
            "emissions_vs_this_baseline_pct": float(ratio[s])}
           for s, r in enumerate(regions)])
    rounds = el.rounds.assign(region=np.asarray(regions)[el.rounds["site"].to_numpy()],
                              time=times[el.rounds["hour"].to_numpy()])
    tables = {"runs": runs, "rounds": rounds, "windows": window_table(mask, times, regions)}
    if fw is not None:
        el_f = train_elastic(corpus, fw.mask, ci, lm, ec, sim, seed=cfg.seed)
        metrics.update(forecast_metrics(el_f, fw, mask, bl, ec, regions))
        ef = el_f.energy
        runs.loc[len(runs)] = {
            "run": f"curtailment (Flower FedAvg; {fw.label})", "site": "+".join(regions), "val_loss": el_f.val_loss,
            "val_ppl": el_f.val_ppl, "wall_clock_h": el_f.plan.hours, "real_seconds": el_f.seconds,
            "energy_kwh": ef.compute_kwh + ef.network_kwh,
            "energy_in_windows_pct": energy_in(el_f.plan, mask, ec, ef), "carbon_kg": ef.carbon_kg,
            "emissions_vs_this_baseline_pct": np.nan}
        tables["forecast_windows_pr"] = fw.pr
        tables["forecast_windows"] = window_table(fw.mask, times, regions)
    return Result(metrics=metrics, tables=tables,
                  figures={"windows.png": windows_figure(mask, times, regions, el.plan.hours, windows_label)},
                  summary={"name": cfg.name, "sites": ", ".join(regions), "start": str(times[0]),
                           "windows": "; ".join([windows_label, *foresight(cfg.windows)]),
                           **({"forecast_windows": fw.label} if fw is not None else {}),
                           "total_steps": ec.total_steps, "flower_rounds": el.plan.n_rounds,
                           "engine": "Flower simulation (Ray backend)"})
