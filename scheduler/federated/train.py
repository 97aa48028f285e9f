"""Window-following training end to end: plan the rounds from the windows, run them on Flower, evaluate the
final global model and account its energy and emissions."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from carbonshift.scheduler.federated.corpus import Corpus
from carbonshift.scheduler.federated.elastic import Accounting, ElasticConfig, RoundPlan, account, plan_rounds
from carbonshift.scheduler.federated.flower_app import SimulationConfig, run_plan
from carbonshift.scheduler.federated.lm import LMConfig, TinyLM, evaluate, n_params, perplexity


@dataclass
class ElasticRecord:
    """Outcome of a curtailment-following run: val_loss nats/byte; seconds: real wall-clock of the Flower
    simulation, s; rounds: one row per (Flower round, participating site)."""

    val_loss: float
    val_ppl: float
    plan: RoundPlan
    energy: Accounting
    rounds: pd.DataFrame
    seconds: float


def train_elastic(corpus: Corpus, windows: np.ndarray, ci: np.ndarray, lm: LMConfig, cfg: ElasticConfig,
                  sim: SimulationConfig = SimulationConfig(), seed: int = 0) -> ElasticRecord:
    """Follow ``windows`` ([site × hour] bool, hour 0 = start) with intensities ``ci`` ([site × hour],
    gCO2eq/kWh); every synchronisation round runs through Flower's simulation engine."""
    if windows.shape != ci.shape or windows.shape[0] != len(corpus.sites):
        raise ValueError(f"train_elastic: windows {windows.shape} / ci {ci.shape} must be "
                         f"[{len(corpus.sites)} sites × hours]")
    plan = plan_rounds(windows, cfg)
    outcome = run_plan(corpus, plan, lm, sim, seed)
    model = TinyLM(lm)
    model.load_state_dict(outcome.state_dict)
    loss = evaluate(model, corpus.val)
    energy = account(plan, ci, cfg, model_bytes=4 * n_params(model))
    rounds = pd.DataFrame(outcome.rounds).sort_values(["round", "site"], ignore_index=True)
    return ElasticRecord(loss, perplexity(loss), plan, energy, rounds, outcome.seconds)
