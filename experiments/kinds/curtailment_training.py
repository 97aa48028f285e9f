"""Kind ``curtailment_training``: elastic window-following FedAvg training of a tiny byte-level transformer LM
across sites vs a centralised single-site continuous baseline (seed 002).

Windows come from :mod:`scheduler.curtailment` on the real Electricity Maps panel (a renewable-share proxy:
we have no marginal-emission series). The schedule follows the actual windows (``schedule_on: actual``,
oracle) or the windows of the signal 24 h earlier (``persistence24``); energy-in-window is always measured
on the actual windows. Emissions use ``ci_direct`` (operational, gCO2eq/kWh). Training: plain-torch FedAvg
(Flower blocked by pins, see :mod:`scheduler.federated.elastic`) on the standard library's own source text.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from experiments.config import check
from experiments.registry import Context, Result, experiment_kind
from forecast.data.panel import EM_ZONES, load_panel, to_matrix
from scheduler.curtailment import WindowRule, surplus_windows, window_table
from scheduler.federated.elastic import (TrainPlan, continuous_steps, energy_accounting, train_centralised,
                                         train_elastic)
from scheduler.federated.lm import LMConfig, stdlib_corpus


@dataclass
class SitesSection:
    zones: list[str] = field(default_factory=lambda: ["US-CAL-CISO", "DE", "AU-NSW"])
    year: int = 2023
    start: str = "2023-03-01"      # UTC
    span_h: int = 336
    schedule_on: str = "actual"    # actual | persistence24

    def __post_init__(self) -> None:
        check(len(self.zones) >= 2 and all(z in EM_ZONES for z in self.zones), "sites.zones",
              f"≥ 2 of {list(EM_ZONES)}")
        check(self.span_h >= 24, "sites.span_h", "≥ 24")
        check(self.schedule_on in ("actual", "persistence24"), "sites.schedule_on", "actual or persistence24")


@dataclass
class WindowSection:
    column: str = "renewable_pct"
    mode: str = "percentile"
    enter: float = 80.0
    hysteresis: float = 10.0
    min_hours: int = 3


@dataclass
class ModelSection:
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    context: int = 64
    corpus_bytes: int = 400_000
    val_bytes: int = 40_000

    def __post_init__(self) -> None:
        check(self.d_model % self.n_heads == 0, "model.d_model", "must be a multiple of n_heads")
        check(self.corpus_bytes > 10 * self.context and self.val_bytes > self.context, "model.corpus_bytes",
              "corpus and validation must be longer than the context")


@dataclass
class TrainSection:
    total_steps: int = 600
    steps_per_hour: int = 10
    batch_size: int = 16
    lr: float = 3e-3
    site_kw: float = 8.0


@dataclass
class CurtailmentTrainingConfig:
    kind: str
    name: str
    seed: int = 0
    sites: SitesSection = field(default_factory=SitesSection)
    windows: WindowSection = field(default_factory=WindowSection)
    model: ModelSection = field(default_factory=ModelSection)
    train: TrainSection = field(default_factory=TrainSection)


@experiment_kind("curtailment_training", CurtailmentTrainingConfig)
def run(config: CurtailmentTrainingConfig, ctx: Context) -> Result:
    """Window-following FedAvg LM training vs centralised single-site continuous training."""
    s, w, m, tr = config.sites, config.windows, config.model, config.train
    rule = WindowRule(column=w.column, mode=w.mode, enter=w.enter, hysteresis=w.hysteresis, min_hours=w.min_hours)
    panel = load_panel(s.zones, [s.year], weather=False, data_dir=ctx.data_dir)
    signal, times, regions = to_matrix(panel, rule.column, s.zones)
    ci, _, _ = to_matrix(panel, "ci_direct", s.zones)
    actual = surplus_windows(signal, rule)
    lag = 24 if s.schedule_on == "persistence24" else 0
    start = int(times.get_indexer([pd.Timestamp(s.start, tz="UTC")])[0])
    if start < lag or start + s.span_h > len(times):
        raise ValueError(f"curtailment_training: sites.start {s.start} + span {s.span_h} h outside {s.year} "
                         f"(needs {lag} h before it)")
    span = slice(start, start + s.span_h)
    sched = actual[:, start - lag:start - lag + s.span_h]
    act, ci_span = actual[:, span], ci[:, span]

    plan = TrainPlan(total_steps=tr.total_steps, steps_per_hour=tr.steps_per_hour, batch_size=tr.batch_size,
                     lr=tr.lr, site_kw=tr.site_kw, seed=config.seed)
    cfg = LMConfig(d_model=m.d_model, n_layers=m.n_layers, n_heads=m.n_heads, context=m.context)
    corpus = stdlib_corpus(m.corpus_bytes + m.val_bytes)
    train, val = corpus[:m.corpus_bytes], corpus[m.corpus_bytes:]
    shards = np.array_split(train, len(regions))

    el = train_elastic(sched, shards, val, cfg, plan)
    ce = train_centralised(train, val, cfg, plan)
    el_acc = energy_accounting(el["steps"], act, ci_span, plan, el["model_gb"])
    rows = [{"run": "elastic_fedavg", "site": "+".join(regions), **el_acc, "val_loss": el["val_loss"],
             "val_ppl": el["val_ppl"], "fed_rounds": el["fed_rounds"], "solo_hours": el["solo_hours"],
             "completed": el["done_steps"] >= plan.total_steps}]
    for i, r in enumerate(regions):
        acc = energy_accounting(continuous_steps(len(regions), s.span_h, i, plan), act, ci_span, plan, 0.0)
        rows.append({"run": "centralised_continuous", "site": r, **acc, "val_loss": ce["val_loss"],
                     "val_ppl": ce["val_ppl"], "fed_rounds": 0, "solo_hours": acc["wall_clock_h"], "completed": True})
    table = pd.DataFrame(rows)
    base = table[table.run == "centralised_continuous"]
    ratio = el_acc["emissions_kg"] / base["emissions_kg"].to_numpy()
    table["emissions_vs_baseline_pct"] = 100.0 * table["emissions_kg"] / base["emissions_kg"].mean()
    metrics = {
        "energy_in_windows_pct": el_acc["energy_in_windows_pct"],
        "emissions_kg": el_acc["emissions_kg"],
        "baseline_emissions_kg_min": float(base["emissions_kg"].min()),
        "baseline_emissions_kg_max": float(base["emissions_kg"].max()),
        "emissions_vs_baseline_pct_min": float(100 * ratio.min()),
        "emissions_vs_baseline_pct_max": float(100 * ratio.max()),
        "wall_clock_h": el_acc["wall_clock_h"],
        "baseline_wall_clock_h": float(base["wall_clock_h"].iloc[0]),
        "val_loss": el["val_loss"], "val_ppl": el["val_ppl"],
        "central_val_loss": ce["val_loss"], "central_val_ppl": ce["val_ppl"],
        "ppl_gap": el["val_ppl"] - ce["val_ppl"],
        "fed_rounds": float(el["fed_rounds"]), "completed": float(el["done_steps"] >= plan.total_steps),
        "window_share_pct": float(100 * act.mean()),
        "train_seconds": el["seconds"] + ce["seconds"],
    }
    wt = window_table(act, times[span], regions)
    return Result(metrics=metrics, tables={"curtailment_training": table, "windows": wt},
                  summary={k: round(v, 4) for k, v in metrics.items()})
