"""Curtailment-window training (seed 002): elastic local / FedAvg training that follows surplus windows,
against a single-site baseline that trains continuously. Plain-torch FedAvg orchestration.

Time advances in UTC hours. Each hour ``t`` the sites in a window (``windows[s, t]``) train:

* none in a window → training pauses (no energy drawn);
* one site → it trains ``steps_per_hour`` local steps starting from the global model, which it then becomes;
* two or more → each trains ``steps_per_hour`` local steps from the global model on its own corpus, then the
  models are averaged (FedAvg, weighted equally — every site runs the same number of steps of the same
  batch size) and the averaged model becomes global; one FedAvg round per hour, scheduled by wall-clock as in
  the seed. Each participant ships its model up and the global model down: ``2 × model bytes`` per site
  per round over the WAN.

Training ends when the total number of local steps over all sites reaches ``total_steps`` (the same compute as
the baseline, so the energy of compute is equal and emissions compare where and when it was drawn).

Accounting: a training site draws ``site_kw × pue`` kW for each hour it trains (kWh); its operational
emissions are that energy × the site's hourly intensity (gCO2eq/kWh → kgCO2e). FedAvg traffic costs
``network_kwh_per_gb`` kWh/GB (Aslan et al. 2018), charged at the mean intensity of the participants and
counted as energy *outside* windows (the WAN path is not in the surplus region), so "energy in windows"
is compute / (compute + network).

The baseline trains the same model on all sites' data pooled (centralised), continuously from the same start
hour at one site; its emissions are evaluated at every site, giving one ratio per baseline site.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from scheduler.federated.corpus import Corpus
from scheduler.federated.lm import LMConfig, TinyLM, evaluate, n_params, perplexity, train_steps


@dataclass(frozen=True)
class ElasticConfig:
    """Schedule and energy knobs. site_kw: IT power of one site's training cluster, kW."""

    total_steps: int = 600
    steps_per_hour: int = 10
    site_kw: float = 5.6          # 8 GPUs × 0.7 kW (H100 SXM board power)
    pue: float = 1.10
    network_kwh_per_gb: float = 0.06
    max_hours: int = 24 * 90      # give up if the windows never supply total_steps

    def __post_init__(self) -> None:
        if self.total_steps < 1 or self.steps_per_hour < 1 or self.site_kw <= 0 or self.pue < 1:
            raise ValueError(f"ElasticConfig: out of range: {self}")


@dataclass
class RunRecord:
    """Outcome of one training run (curtailment-following or baseline)."""

    val_loss: float               # nats/byte
    val_ppl: float
    hours: int                    # wall-clock from start to the last training hour, h
    train_hours_by_site: np.ndarray
    compute_kwh: float
    network_kwh: float
    kwh_in_windows: float
    carbon_kg: np.ndarray         # baseline: one value per site; elastic: shape (1,)
    rounds_fedavg: int
    hours_paused: int
    seconds: float                # CPU time of the run, s

    @property
    def share_in_windows(self) -> float:
        return self.kwh_in_windows / (self.compute_kwh + self.network_kwh)


def _average(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([s[k].float() for s in states]).mean(0).to(states[0][k].dtype) for k in states[0]}


def train_elastic(corpus: Corpus, windows: np.ndarray, ci: np.ndarray, lm: LMConfig, cfg: ElasticConfig,
                  seed: int = 0) -> RunRecord:
    """Follow ``windows`` ([site × hour] bool, hour 0 = start) with intensities ``ci`` ([site × hour],
    gCO2eq/kWh)."""
    n_sites = len(corpus.sites)
    if windows.shape != ci.shape or windows.shape[0] != n_sites:
        raise ValueError(f"train_elastic: windows {windows.shape} / ci {ci.shape} must be [{n_sites} × hours]")
    t0 = time.process_time()
    torch.manual_seed(seed)
    global_model = TinyLM(lm)
    models = [TinyLM(lm) for _ in range(n_sites)]
    opts = [torch.optim.AdamW(m.parameters(), lr=lm.lr) for m in models]
    gens = [torch.Generator().manual_seed(seed * 1000 + s) for s in range(n_sites)]
    model_gb = n_params(global_model) * 4 / 1e9
    steps = rounds = paused = 0
    hours_by_site = np.zeros(n_sites, dtype=np.int64)
    kwh = net_kwh = carbon = 0.0
    last = -1
    for t in range(min(windows.shape[1], cfg.max_hours)):
        if steps >= cfg.total_steps:
            break
        active = np.flatnonzero(windows[:, t])
        if active.size == 0:
            paused += 1
            continue
        k = min(cfg.steps_per_hour, -(-(cfg.total_steps - steps) // active.size))
        state = global_model.state_dict()
        for s in active:
            models[s].load_state_dict(state)
            train_steps(models[s], opts[s], corpus.sites[s], k, gens[s])
        steps += k * active.size
        global_model.load_state_dict(_average([models[s].state_dict() for s in active]))
        frac = k / cfg.steps_per_hour
        site_kwh = cfg.site_kw * cfg.pue * frac
        kwh += site_kwh * active.size
        carbon += site_kwh * ci[active, t].sum() / 1000.0
        hours_by_site[active] += 1
        if active.size >= 2:
            rounds += 1
            gb = 2 * model_gb * active.size
            net_kwh += gb * cfg.network_kwh_per_gb
            carbon += gb * cfg.network_kwh_per_gb * ci[active, t].mean() / 1000.0
        last = t
    if steps < cfg.total_steps:
        raise ValueError(f"train_elastic: windows supplied only {steps} of {cfg.total_steps} steps in "
                         f"{min(windows.shape[1], cfg.max_hours)} h; lengthen the span or lower total_steps")
    loss = evaluate(global_model, corpus.val)
    return RunRecord(loss, perplexity(loss), last + 1, hours_by_site, kwh, net_kwh, kwh, np.array([carbon]),
                     rounds, paused, time.process_time() - t0)


def train_baseline(corpus: Corpus, ci: np.ndarray, lm: LMConfig, cfg: ElasticConfig, seed: int = 0) -> RunRecord:
    """Centralised single-site baseline: all sites' text pooled, ``total_steps`` continuous steps from hour 0
    at ``steps_per_hour``. Emissions are reported for running it at each site (``carbon_kg[s]``) and the
    windows share is left to the caller (it depends on the site's windows)."""
    t0 = time.process_time()
    torch.manual_seed(seed)
    model = TinyLM(lm)
    opt = torch.optim.AdamW(model.parameters(), lr=lm.lr)
    gen = torch.Generator().manual_seed(seed * 1000 + 999)
    pooled = torch.cat(corpus.sites)
    train_steps(model, opt, pooled, cfg.total_steps, gen)
    loss = evaluate(model, corpus.val)
    hours = -(-cfg.total_steps // cfg.steps_per_hour)
    if ci.shape[1] < hours:
        raise ValueError(f"train_baseline: needs {hours} h of intensity, got {ci.shape[1]}")
    frac = np.minimum(cfg.total_steps - np.arange(hours) * cfg.steps_per_hour, cfg.steps_per_hour) / cfg.steps_per_hour
    hourly_kwh = cfg.site_kw * cfg.pue * frac                                  # [hours]
    carbon = (ci[:, :hours] * hourly_kwh[None, :]).sum(axis=1) / 1000.0         # [sites]
    return RunRecord(loss, perplexity(loss), hours, np.full(ci.shape[0], hours), float(hourly_kwh.sum()), 0.0,
                     float("nan"), carbon, 0, 0, time.process_time() - t0)


def baseline_share_in_windows(windows: np.ndarray, cfg: ElasticConfig) -> np.ndarray:
    """Share of a continuous baseline's energy that happens to fall in each site's windows ([sites])."""
    hours = -(-cfg.total_steps // cfg.steps_per_hour)
    frac = np.minimum(cfg.total_steps - np.arange(hours) * cfg.steps_per_hour, cfg.steps_per_hour)
    return (windows[:, :hours] * frac[None, :]).sum(axis=1) / frac.sum()
