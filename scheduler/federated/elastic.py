"""Curtailment-window training (seed 002): which site trains how much in which hour, how those hours group
into Flower synchronisation rounds, and the energy / emissions accounting; plus the centralised baseline.

Time advances in UTC hours from the start of the span. Each hour ``t`` the sites in a window
(``windows[s, t]``) train ``steps_per_hour`` local steps each; with none in a window training pauses (no
energy drawn). Training ends in the hour where the steps over all sites reach ``total_steps`` (that hour's
in-window sites share the remainder), i.e. the same compute as the baseline, so emissions compare *where and
when* it was drawn.

Rounds (:func:`plan_rounds`) follow the elastic membership: a round closes at every hour with ≥ 2 sites in
windows (they synchronise each hour), at the last hour before the set of in-window sites changes (a site
leaving uploads its work; a site joining starts from the current global model), and at the last training
hour. A lone site in a long window therefore trains locally for the whole window and hands its model on
when the window ends. In round ``r`` every site that trained since the previous round starts from the
global model, runs the local steps it had inside its windows since then, and Flower's FedAvg averages the
returned models weighted by the number of examples (steps × batch size). The rounds are executed by
:mod:`scheduler.federated.flower_app`.

Accounting (:func:`account`): a site draws ``site_kw × pue`` kW for each hour it trains (pro rata in the
last, partial hour); its operational emissions are that energy × the site's hourly intensity
(gCO2eq/kWh → kgCO2e). Each round every participant downloads the global model and uploads its own:
``2 × model bytes`` per participant over the WAN at ``network_kwh_per_gb`` kWh/GB (Aslan et al. 2018),
charged at the participants' mean intensity in the round's hour and counted as energy *outside* windows (the
WAN path is not in the surplus region), so "energy in windows" is compute / (compute + network).

The baseline trains the same model on all sites' text pooled (centralised) continuously from hour 0 at one
site; its emissions are evaluated at every site, giving one ratio per baseline site.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from carbonshift.scheduler.datacenters import DEFAULT_NETWORK_KWH_PER_GB
from carbonshift.scheduler.federated.corpus import Corpus
from carbonshift.scheduler.federated.lm import LMConfig, TinyLM, evaluate, perplexity, train_steps


@dataclass(frozen=True)
class ElasticConfig:
    """Schedule and energy knobs. site_kw: IT power of one site's training cluster, kW; network_kwh_per_gb:
    WAN transfer energy, kWh/GB; max_hours: give up if the windows never supply ``total_steps``."""

    total_steps: int = 600
    steps_per_hour: int = 10
    site_kw: float = 5.6          # 8 GPUs × 0.7 kW (H100 SXM board power)
    pue: float = 1.10
    network_kwh_per_gb: float = DEFAULT_NETWORK_KWH_PER_GB
    max_hours: int = 24 * 90

    def __post_init__(self) -> None:
        if self.total_steps < 1 or self.steps_per_hour < 1 or self.site_kw <= 0 or self.pue < 1 \
                or self.network_kwh_per_gb < 0 or self.max_hours < 1:
            raise ValueError(f"ElasticConfig: out of range: {self}")


@dataclass(frozen=True)
class RoundPlan:
    """The window schedule. ``steps[s, t]``: local steps site ``s`` trains in hour ``t`` (t < ``hours``);
    ``round_end[r]``: hour that closes round ``r``; ``round_steps[s, r]``: steps site ``s`` brings to round
    ``r`` (0 = not a participant)."""

    steps: np.ndarray
    round_end: np.ndarray
    round_steps: np.ndarray
    hours_paused: int

    @property
    def hours(self) -> int:
        """Wall-clock from the start to the end of the last training hour, h."""
        return int(self.steps.shape[1])

    @property
    def n_rounds(self) -> int:
        return int(self.round_end.size)

    @property
    def participants(self) -> np.ndarray:
        """[site × round] bool."""
        return self.round_steps > 0

    @property
    def n_fedavg_rounds(self) -> int:
        """Rounds that average ≥ 2 sites' models."""
        return int((self.participants.sum(axis=0) >= 2).sum())

    def sites_in_round(self, r: int) -> dict[int, int]:
        """{site: local steps} for round ``r`` (0-based)."""
        col = self.round_steps[:, r]
        return {int(s): int(col[s]) for s in np.flatnonzero(col)}


def plan_rounds(windows: np.ndarray, cfg: ElasticConfig) -> RoundPlan:
    """Round schedule for ``windows`` ([site × hour] bool, hour 0 = start), vectorised over hours."""
    w = np.asarray(windows, dtype=bool)
    if w.ndim != 2 or w.shape[0] < 1:
        raise ValueError(f"plan_rounds: windows must be a [site × hour] array, got shape {w.shape}")
    w = w[:, :cfg.max_hours]
    active = w.sum(axis=0)                                        # sites in a window per hour
    done = np.cumsum(active * cfg.steps_per_hour)                 # steps finished by the end of each hour
    if done.size == 0 or done[-1] < cfg.total_steps:
        got = int(done[-1]) if done.size else 0
        raise ValueError(f"plan_rounds: windows supplied only {got} of {cfg.total_steps} steps in {w.shape[1]} h; "
                         "lengthen the span or lower total_steps")
    end = int(np.searchsorted(done, cfg.total_steps))             # last training hour
    before = int(done[end - 1]) if end > 0 else 0
    last_steps = -(-(cfg.total_steps - before) // int(active[end]))
    steps = w[:, :end + 1].astype(np.int64) * cfg.steps_per_hour
    steps[:, end] = w[:, end] * last_steps
    w, active = w[:, :end + 1], active[:end + 1]
    change = np.zeros(end + 1, dtype=bool)
    change[:-1] = (w[:, 1:] != w[:, :-1]).any(axis=0)           # membership differs in the next hour
    close = (active >= 2) | ((active == 1) & change)
    close[end] = True
    round_end = np.flatnonzero(close)
    round_steps = np.diff(np.cumsum(steps, axis=1)[:, round_end], axis=1, prepend=0)
    return RoundPlan(steps, round_end, round_steps, int((active == 0).sum()))


@dataclass
class Accounting:
    """Energy (kWh) and operational emissions (kgCO2e) of a planned curtailment run."""

    compute_kwh: float
    network_kwh: float
    carbon_kg: float
    train_hours_by_site: np.ndarray

    @property
    def share_in_windows(self) -> float:
        """Compute runs only inside windows; WAN traffic counts as outside."""
        return self.compute_kwh / (self.compute_kwh + self.network_kwh)


def _site_kwh(plan: RoundPlan, cfg: ElasticConfig) -> np.ndarray:
    """Compute energy per site and hour of ``plan`` ([site × hour], kWh): ``site_kw × pue`` pro rata of the steps."""
    return cfg.site_kw * cfg.pue * plan.steps / cfg.steps_per_hour


def account(plan: RoundPlan, ci: np.ndarray, cfg: ElasticConfig, model_bytes: int) -> Accounting:
    """Energy and emissions of ``plan`` under intensities ``ci`` ([site × hour], gCO2eq/kWh)."""
    if ci.shape[0] != plan.steps.shape[0] or ci.shape[1] < plan.hours:
        raise ValueError(f"account: ci {ci.shape} must cover [{plan.steps.shape[0]} sites × ≥ {plan.hours} h]")
    site_kwh = _site_kwh(plan, cfg)                                                       # [S × H]
    compute_kg = float((site_kwh * ci[:, :plan.hours]).sum()) / 1000.0
    part = plan.participants                                                               # [S × R]
    n_part = part.sum(axis=0)
    net_kwh = 2 * model_bytes / 1e9 * n_part * cfg.network_kwh_per_gb                     # [R]
    ci_round = (ci[:, plan.round_end] * part).sum(axis=0) / n_part                         # [R]
    net_kg = float((net_kwh * ci_round).sum()) / 1000.0
    return Accounting(float(site_kwh.sum()), float(net_kwh.sum()), compute_kg + net_kg,
                      (plan.steps > 0).sum(axis=1))


def energy_in_mask_pct(plan: RoundPlan, mask: np.ndarray, cfg: ElasticConfig, energy: Accounting) -> float:
    """Share (%) of a run's energy (compute + network, kWh) spent in site-hours inside ``mask`` [site × ≥ hours]
    — e.g. a run planned on forecast windows, scored against the windows that actually occurred."""
    site_kwh = _site_kwh(plan, cfg)
    return 100.0 * float((site_kwh * mask[:, :plan.hours]).sum()) / (energy.compute_kwh + energy.network_kwh)


@dataclass
class BaselineRecord:
    """Centralised continuous baseline: val_loss nats/byte; hours of wall-clock; carbon_kg per site
    (running it there); seconds: real time of the training, s."""

    val_loss: float
    val_ppl: float
    hours: int
    compute_kwh: float
    carbon_kg: np.ndarray
    seconds: float


def train_baseline(corpus: Corpus, ci: np.ndarray, lm: LMConfig, cfg: ElasticConfig,
                   seed: int = 0) -> BaselineRecord:
    """All sites' text pooled, ``total_steps`` continuous steps from hour 0 at ``steps_per_hour``."""
    hours = -(-cfg.total_steps // cfg.steps_per_hour)
    if ci.shape[1] < hours:
        raise ValueError(f"train_baseline: needs {hours} h of intensity, got {ci.shape[1]}")
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model = TinyLM(lm)
    opt = torch.optim.AdamW(model.parameters(), lr=lm.lr)
    gen = torch.Generator().manual_seed(seed * 1000 + 999)
    train_steps(model, opt, torch.cat(corpus.sites), cfg.total_steps, gen)
    loss = evaluate(model, corpus.val)
    hourly_kwh = cfg.site_kw * cfg.pue * _baseline_fraction(cfg)                  # [hours]
    carbon = (ci[:, :hours] * hourly_kwh[None, :]).sum(axis=1) / 1000.0            # [sites]
    return BaselineRecord(loss, perplexity(loss), hours, float(hourly_kwh.sum()), carbon,
                          time.perf_counter() - t0)


def _baseline_fraction(cfg: ElasticConfig) -> np.ndarray:
    """Share of a full hour the baseline trains in each of its hours ([hours], last one partial)."""
    hours = -(-cfg.total_steps // cfg.steps_per_hour)
    steps = np.minimum(cfg.total_steps - np.arange(hours) * cfg.steps_per_hour, cfg.steps_per_hour)
    return steps / cfg.steps_per_hour


def baseline_share_in_windows(windows: np.ndarray, cfg: ElasticConfig) -> np.ndarray:
    """Share of a continuous baseline's energy that happens to fall in each site's windows ([sites])."""
    frac = _baseline_fraction(cfg)
    return (windows[:, :frac.size] * frac[None, :]).sum(axis=1) / frac.sum()
