"""Metrics and the ``runs`` table of the ``curtailment_training`` kind from its training records: the elastic
run in windows (:class:`scheduler.federated.train.ElasticRecord`) against the centralised continuous baseline
(:class:`scheduler.federated.elastic.BaselineRecord`, evaluated at every site), and optionally the elastic run on
forecast windows. Units: val_loss nats/byte, energy kWh, carbon kgCO2e, hours of wall-clock, seconds real time,
shares and ratios %. Loads torch (through :mod:`scheduler.federated`): import it where it is used.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from carbonshift.experiments.forecast_windows import ForecastWindows
from carbonshift.scheduler.curtailment import precision_recall_metrics
from carbonshift.scheduler.federated.elastic import (BaselineRecord, ElasticConfig, baseline_share_in_windows,
                                                     energy_in_mask_pct)
from carbonshift.scheduler.federated.train import ElasticRecord


def emissions_vs_baseline_pct(el: ElasticRecord, bl: BaselineRecord) -> np.ndarray:
    """The elastic run's emissions as % of the baseline's at each site ([sites])."""
    return 100.0 * el.energy.carbon_kg / bl.carbon_kg


def run_metrics(el: ElasticRecord, bl: BaselineRecord, mask: np.ndarray, ec: ElasticConfig,
                regions: list[str]) -> dict[str, float]:
    """``elastic.*``, ``baseline.*``, ``ppl_gap`` and ``windows.share_of_hours_pct`` (see the kind's docstring);
    ``mask``: the windows [site × hour] the elastic run followed."""
    e = el.energy
    ratio = emissions_vs_baseline_pct(el, bl)
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
    return metrics


def forecast_metrics(el: ElasticRecord, fw: ForecastWindows, pf_mask: np.ndarray, bl: BaselineRecord,
                     ec: ElasticConfig, regions: list[str]) -> dict[str, float]:
    """``forecast.*`` metrics of the elastic run ``el`` on forecast windows ``fw`` (see the kind's docstring);
    ``pf_mask``: the perfect-foresight windows [site × hour]."""
    e = el.energy
    ratio = emissions_vs_baseline_pct(el, bl)
    out = {"forecast.elastic.val_loss": el.val_loss, "forecast.elastic.val_ppl": el.val_ppl,
           "forecast.elastic.hours": float(el.plan.hours), "forecast.elastic.compute_kwh": e.compute_kwh,
           "forecast.elastic.network_kwh": e.network_kwh, "forecast.elastic.carbon_kg": e.carbon_kg,
           "forecast.elastic.energy_in_windows_pct": 100 * e.share_in_windows,
           "forecast.elastic.energy_in_actual_windows_pct": energy_in_mask_pct(el.plan, pf_mask, ec, e),
           "forecast.elastic.fedavg_rounds": float(el.plan.n_fedavg_rounds),
           "forecast.elastic.hours_paused": float(el.plan.hours_paused), "forecast.elastic.seconds": el.seconds,
           "forecast.ppl_gap": el.val_ppl - bl.val_ppl,
           "forecast.windows.share_of_hours_pct": 100.0 * float(fw.mask.mean())}
    for s, r in enumerate(regions):
        out[f"forecast.elastic.emissions_vs_baseline_pct.{r}"] = float(ratio[s])
    for row in fw.pr.itertuples(index=False):
        out[f"forecast.windows.precision_pct.{row.region}.{row.horizon}"] = float(row.precision_pct)
        out[f"forecast.windows.recall_pct.{row.region}.{row.horizon}"] = float(row.recall_pct)
    out.update(precision_recall_metrics(fw.mask, pf_mask, regions, "forecast.vs_pf"))
    return out


def _elastic_row(el: ElasticRecord, label: str, regions: list[str], in_windows_pct: float) -> dict[str, object]:
    e = el.energy
    return {"run": f"curtailment (Flower FedAvg; {label})", "site": "+".join(regions), "val_loss": el.val_loss,
            "val_ppl": el.val_ppl, "wall_clock_h": el.plan.hours, "real_seconds": el.seconds,
            "energy_kwh": e.compute_kwh + e.network_kwh, "energy_in_windows_pct": in_windows_pct,
            "carbon_kg": e.carbon_kg, "emissions_vs_this_baseline_pct": np.nan}


def runs_table(el: ElasticRecord, bl: BaselineRecord, mask: np.ndarray, ec: ElasticConfig, regions: list[str],
               label: str) -> pd.DataFrame:
    """One row for the elastic run on windows ``mask`` (labelled ``label``) and one per baseline site."""
    ratio = emissions_vs_baseline_pct(el, bl)
    base_win = 100.0 * baseline_share_in_windows(mask, ec)
    return pd.DataFrame(
        [_elastic_row(el, label, regions, 100 * el.energy.share_in_windows)]
        + [{"run": "baseline (centralised, continuous)", "site": r, "val_loss": bl.val_loss, "val_ppl": bl.val_ppl,
            "wall_clock_h": bl.hours, "real_seconds": bl.seconds, "energy_kwh": bl.compute_kwh,
            "energy_in_windows_pct": float(base_win[s]), "carbon_kg": float(bl.carbon_kg[s]),
            "emissions_vs_this_baseline_pct": float(ratio[s])}
           for s, r in enumerate(regions)])


def forecast_run_row(el: ElasticRecord, label: str, pf_mask: np.ndarray, ec: ElasticConfig,
                     regions: list[str]) -> dict[str, object]:
    """``runs`` row of the elastic run on forecast windows (labelled ``label``); its energy in windows is counted
    inside the perfect-foresight windows ``pf_mask``."""
    return _elastic_row(el, label, regions, energy_in_mask_pct(el.plan, pf_mask, ec, el.energy))
