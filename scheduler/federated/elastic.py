"""Elastic window-following FedAvg training vs a centralised single-site continuous baseline (seed 002).

Timeline in UTC hours. In hour ``t`` every site whose *schedule* mask is on trains the current global model
locally for ``steps_per_hour`` steps (the site's compute throughput); at the end of the hour, two or more
active sites are averaged with FedAvg (weights = local examples seen), one active site's model simply becomes
the global model, and with none active training pauses. Training stops once the summed local steps reach
``total_steps`` — the same compute the centralised baseline spends on one site, training continuously from
the same start hour.

Energy: an active site draws ``site_kw`` for the fraction of the hour it computes; each FedAvg round also
moves the model up and back per participant at ``network_kwh_per_gb`` (see :mod:`scheduler.feasibility`).
Operational emissions use each site's hourly carbon intensity (gCO2eq/kWh). "Energy in windows" is measured
against the *actual* window mask, which may differ from the schedule mask (e.g. a forecast one).

Flower (flwr) is not used: every flwr release pins ``protobuf<7`` (1.41.0 also ``packaging<26``,
``fastapi<0.139``, ``starlette<1.4``, ``uvicorn<0.50``) while the pinned venv has protobuf 7.36.2, packaging
26.3, fastapi 0.165.0, starlette 1.10.0, uvicorn 0.54.0; flwr 1.42.0 needs certifi>=2026.10.19, absent
from the registry. The client-fit / server-FedAvg loop below is the same algorithm Flower's ``FedAvg``
strategy runs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from scheduler.federated.lm import LMConfig, TinyLM, evaluate_loss, perplexity, train_steps


@dataclass(frozen=True)
class TrainPlan:
    """Training knobs. ``site_kw``: power of one site's training cluster while it computes, kW."""

    total_steps: int = 600
    steps_per_hour: int = 10
    batch_size: int = 16
    lr: float = 3e-3
    site_kw: float = 8.0
    network_kwh_per_gb: float = 0.06
    seed: int = 0

    def __post_init__(self) -> None:
        if self.total_steps < 1 or self.steps_per_hour < 1 or self.batch_size < 1 or self.lr <= 0 or self.site_kw <= 0:
            raise ValueError(f"TrainPlan: total_steps, steps_per_hour, batch_size ≥ 1 and lr, site_kw > 0 required: {self}")


def fedavg(states: list[dict[str, torch.Tensor]], weights: np.ndarray) -> dict[str, torch.Tensor]:
    """Weighted average of model state dicts (FedAvg)."""
    w = np.asarray(weights, dtype=float)
    if len(states) != w.size or len(states) == 0 or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"fedavg: need ≥ 1 state with non-negative weights summing > 0, got {w.tolist()}")
    w = w / w.sum()
    return {k: sum(float(wi) * s[k].float() for wi, s in zip(w, states)).to(states[0][k].dtype) for k in states[0]}


def _new_model(cfg: LMConfig, plan: TrainPlan) -> tuple[TinyLM, torch.optim.Optimizer]:
    model = TinyLM(cfg)
    return model, torch.optim.AdamW(model.parameters(), lr=plan.lr)


def model_gb(model: torch.nn.Module) -> float:
    """Size of the model's float32 weights, GB."""
    return sum(p.numel() for p in model.parameters()) * 4 / 1e9


def train_elastic(schedule: np.ndarray, shards: list[np.ndarray], val: np.ndarray, cfg: LMConfig,
                  plan: TrainPlan) -> dict:
    """Run window-following FedAvg. ``schedule``: bool [site × hour] (when each site may train);
    ``shards``: one uint8 training corpus per site. Returns per-site-hour steps [site × hour], rounds, the
    final validation loss and the seconds spent."""
    schedule = np.asarray(schedule, dtype=bool)
    n_sites, n_hours = schedule.shape
    if len(shards) != n_sites:
        raise ValueError(f"train_elastic: {len(shards)} shards for {n_sites} sites")
    torch.manual_seed(plan.seed)
    global_model, _ = _new_model(cfg, plan)
    sites = []
    for i in range(n_sites):
        m, opt = _new_model(cfg, plan)
        sites.append((m, opt, np.random.default_rng([plan.seed, i])))
    steps = np.zeros((n_sites, n_hours), dtype=int)
    fed_rounds = solo_hours = 0
    done = 0
    t0 = time.perf_counter()
    for t in range(n_hours):
        if done >= plan.total_steps:
            break
        active = np.flatnonzero(schedule[:, t])
        if active.size == 0:
            continue
        left = plan.total_steps - done
        quota = np.minimum(plan.steps_per_hour, np.maximum(left - plan.steps_per_hour * np.arange(active.size), 0))
        states, weights = [], []
        for s, k in zip(active, quota):
            if k == 0:
                continue
            model, opt, rng = sites[s]
            model.load_state_dict(global_model.state_dict())
            train_steps(model, opt, shards[s], int(k), plan.batch_size, rng)
            states.append({n: v.detach().clone() for n, v in model.state_dict().items()})
            weights.append(int(k) * plan.batch_size)
            steps[s, t] = k
            done += int(k)
        if len(states) >= 2:
            fed_rounds += 1
        else:
            solo_hours += 1
        global_model.load_state_dict(fedavg(states, np.array(weights)))
    val_loss = evaluate_loss(global_model, val)
    return {"steps": steps, "fed_rounds": fed_rounds, "solo_hours": solo_hours, "done_steps": done,
            "val_loss": val_loss, "val_ppl": perplexity(val_loss), "model_gb": model_gb(global_model),
            "seconds": time.perf_counter() - t0}


def train_centralised(train: np.ndarray, val: np.ndarray, cfg: LMConfig, plan: TrainPlan) -> dict:
    """Single-site continuous training for ``total_steps`` on the whole training corpus."""
    torch.manual_seed(plan.seed)
    model, opt = _new_model(cfg, plan)
    t0 = time.perf_counter()
    train_steps(model, opt, train, plan.total_steps, plan.batch_size, np.random.default_rng([plan.seed, 999]))
    val_loss = evaluate_loss(model, val)
    return {"val_loss": val_loss, "val_ppl": perplexity(val_loss), "seconds": time.perf_counter() - t0}


def energy_accounting(steps: np.ndarray, actual_windows: np.ndarray, ci: np.ndarray, plan: TrainPlan,
                      model_size_gb: float) -> dict[str, float]:
    """Energy (kWh), share inside actual windows, emissions (kgCO2e) and wall-clock (h) of a run given its
    per-site-hour steps [site × hour]; FedAvg rounds (hours with ≥ 2 sites) add model up/down transfers."""
    frac = steps / plan.steps_per_hour
    compute_kwh = frac * plan.site_kw
    sync = (steps > 0).sum(axis=0) >= 2
    comm_kwh = np.where(sync[None, :] & (steps > 0), 2 * model_size_gb * plan.network_kwh_per_gb, 0.0)
    kwh = compute_kwh + comm_kwh
    used = np.flatnonzero(steps.sum(axis=0) > 0)
    total = float(kwh.sum())
    return {
        "energy_kwh": total,
        "energy_in_windows_pct": 100.0 * float(kwh[actual_windows].sum()) / total if total > 0 else float("nan"),
        "emissions_kg": float((kwh * ci).sum() / 1000.0),
        "wall_clock_h": float(used[-1] + 1) if used.size else 0.0,
        "site_hours": float(frac.sum()),
    }


def continuous_steps(n_sites: int, n_hours: int, site: int, plan: TrainPlan) -> np.ndarray:
    """Per-site-hour steps of the centralised baseline run continuously on ``site`` from hour 0."""
    steps = np.zeros((n_sites, n_hours), dtype=int)
    full, rest = divmod(plan.total_steps, plan.steps_per_hour)
    if full + (rest > 0) > n_hours:
        raise ValueError(f"continuous_steps: baseline needs {full + (rest > 0)} h, span has {n_hours} h")
    steps[site, :full] = plan.steps_per_hour
    if rest:
        steps[site, full] = rest
    return steps
