"""Run a :class:`~scheduler.federated.elastic.RoundPlan` on Flower's simulation engine (flwr 1.41, Ray
backend, offline, telemetry off).

* ``ClientApp`` — one virtual SuperNode per site (``partition-id`` → site). A *query* message answers the
  node's site; a *train* message carries the global model and ``steps``: the site loads the model, runs that
  many AdamW steps on its own corpus shard (its optimizer state persists across rounds in the node's
  ``Context.state``) and replies with its weights and ``num-examples`` = steps × batch size.
* ``ServerApp`` — maps nodes to sites with one query round, then runs :class:`WindowFedAvg` for
  ``plan.n_rounds`` rounds: Flower's ``FedAvg`` (train fraction 1.0, no client-side evaluation) whose
  ``configure_train`` sends round ``r`` only to the sites the window schedule puts in it, each with its own
  step count, and whose minimum train nodes is that number of sites. Aggregation is Flower's weighted FedAvg.

Results leave the ServerApp thread through a dict held by the caller (``run_simulation`` returns nothing).
"""
from __future__ import annotations

import io
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from carbonshift.scheduler.federated import loopback
from carbonshift.scheduler.federated.corpus import Corpus
from carbonshift.scheduler.federated.elastic import RoundPlan
from carbonshift.scheduler.federated.lm import LMConfig, TinyLM, train_steps

if TYPE_CHECKING:
    from flwr.app import ConfigRecord, RecordDict

R = TypeVar("R")

#: Environment for an offline, quiet simulation: Flower telemetry and Ray usage stats off.
OFFLINE_ENV = {
    "FLWR_TELEMETRY_ENABLED": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
}


@dataclass(frozen=True)
class SimulationConfig:
    """Simulation-engine resources. ray_num_cpus: CPUs of the local Ray instance (ignored when Ray is already
    running); client_num_cpus: CPUs per ClientApp actor; torch_threads: intra-op threads per actor;
    ray_temp_dir: Ray's session folder (Unix socket paths under it must stay < 107 bytes; None = Ray's
    default); timeout_s: longest wait for one round's replies, s."""

    ray_num_cpus: int = 2
    client_num_cpus: float = 1.0
    torch_threads: int = 1
    ray_temp_dir: str | None = None
    timeout_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.ray_num_cpus < 1 or self.client_num_cpus <= 0 or self.torch_threads < 1 or self.timeout_s <= 0:
            raise ValueError(f"SimulationConfig: out of range: {self}")


@dataclass
class FlowerOutcome:
    """The final global model and one row per (round, participating site) as Flower reported it."""

    state_dict: dict[str, torch.Tensor]
    rounds: list[dict[str, Any]]
    seconds: float                 # real wall-clock of run_simulation, s


def _opt_bytes(opt: torch.optim.Optimizer) -> bytes:
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    return buf.getvalue()


def _record(records: RecordDict, key: str, kind: type[R]) -> R:
    """``records[key]``, which must be a ``kind`` record (Flower types a RecordDict's values as any record kind)."""
    record = records[key]
    if not isinstance(record, kind):
        raise TypeError(f"Flower message: {key!r} is a {type(record).__name__}, expected a {kind.__name__}")
    return record


def _config_int(record: ConfigRecord, key: str) -> int:
    """``int(record[key])`` of a scalar config value (a ConfigRecord value may also be a list)."""
    value = record[key]
    if isinstance(value, list):
        raise TypeError(f"Flower config {key!r}: expected a number, got a list")
    return int(value)


def _config_bytes(record: ConfigRecord, key: str) -> bytes:
    """``record[key]``, which must be bytes."""
    value = record[key]
    if not isinstance(value, bytes):
        raise TypeError(f"Flower config {key!r}: expected bytes, got {type(value).__name__}")
    return value


def make_client_app(corpus: Corpus, lm: LMConfig, seed: int, torch_threads: int = 1):
    """ClientApp training the site's shard of ``corpus`` (site = the node's ``partition-id``)."""
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp

    app = ClientApp()

    @app.query()
    def site(msg: Message, context: Context) -> Message:
        site_id = int(context.node_config["partition-id"])
        return Message(RecordDict({"site": ConfigRecord({"site": site_id})}), reply_to=msg)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        torch.set_num_threads(torch_threads)
        site_id = int(context.node_config["partition-id"])
        cfg = _record(msg.content, "config", ConfigRecord)
        steps, server_round = _config_int(cfg, "steps"), _config_int(cfg, "server-round")
        model = TinyLM(lm)
        model.load_state_dict(_record(msg.content, "arrays", ArrayRecord).to_torch_state_dict())
        opt = torch.optim.AdamW(model.parameters(), lr=lm.lr)
        saved = _record(context.state, "optimizer", ConfigRecord) if "optimizer" in context.state else None
        if saved is not None:
            opt.load_state_dict(torch.load(io.BytesIO(_config_bytes(saved, "adamw"))))
        gen = torch.Generator().manual_seed(seed * 1_000_003 + site_id * 10_007 + server_round)
        loss = train_steps(model, opt, corpus.sites[site_id], steps, gen)
        done = steps + (_config_int(saved, "local-steps") if saved is not None else 0)
        context.state["optimizer"] = ConfigRecord({"adamw": _opt_bytes(opt), "local-steps": done})
        metrics = MetricRecord({"num-examples": steps * lm.batch_size, "train-loss": loss, "site": site_id,
                                "steps": steps, "local-steps-total": done})
        return Message(RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": metrics}), reply_to=msg)

    return app


def _train_loss_only(records: list, weight_key: str):
    """Weighted mean training loss of a round (site ids and counters are not averageable)."""
    from flwr.app import MetricRecord

    rows = [next(iter(r.metric_records.values())) for r in records]
    w = np.array([float(m[weight_key]) for m in rows])
    return MetricRecord({"train-loss": float(np.dot(w, [float(m["train-loss"]) for m in rows]) / w.sum())})


def make_strategy(plan: RoundPlan, site_to_node: dict[int, int]):
    """Flower FedAvg whose round ``r`` trains exactly ``plan.sites_in_round(r - 1)``."""
    from flwr.app import ConfigRecord, Message, MessageType, RecordDict
    from flwr.serverapp.strategy import FedAvg

    class WindowFedAvg(FedAvg):
        """FedAvg with the participants (and their local steps) of each round taken from the window plan."""

        def __init__(self) -> None:
            super().__init__(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=len(site_to_node),
                             train_metrics_aggr_fn=_train_loss_only)
            self.rows: list[dict[str, Any]] = []

        def configure_train(self, server_round, arrays, config, grid):
            sites = plan.sites_in_round(server_round - 1)
            self.min_train_nodes = len(sites)
            messages = []
            for site_id, steps in sites.items():
                cfg = ConfigRecord({**dict(config), "server-round": server_round, "steps": steps})
                messages.append(Message(RecordDict({"arrays": arrays, "config": cfg}),
                                        dst_node_id=site_to_node[site_id], message_type=MessageType.TRAIN))
            return messages

        def aggregate_train(self, server_round, replies):
            replies = list(replies)
            failed = [m.error.reason for m in replies if m.has_error()]
            expected = set(plan.sites_in_round(server_round - 1))
            got = {int(m.content["metrics"]["site"]) for m in replies if not m.has_error()}
            if failed or got != expected:
                raise RuntimeError(f"Flower round {server_round}: expected sites {sorted(expected)}, got "
                                   f"{sorted(got)}; errors: {failed}")
            hour = int(plan.round_end[server_round - 1])
            for m in replies:
                r = m.content["metrics"]
                self.rows.append({"round": server_round, "hour": hour, "site": int(r["site"]),
                                  "steps": int(r["steps"]), "num_examples": int(r["num-examples"]),
                                  "train_loss": float(r["train-loss"]),
                                  "site_steps_total": int(r["local-steps-total"])})
            return super().aggregate_train(server_round, replies)

    return WindowFedAvg()


def make_server_app(plan: RoundPlan, lm: LMConfig, seed: int, timeout_s: float, out: dict[str, Any]):
    """ServerApp running ``plan`` and leaving ``out['state_dict']`` and ``out['rounds']``."""
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
    from flwr.serverapp import Grid, ServerApp

    n_sites = plan.steps.shape[0]
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            _serve(grid)
        except Exception as exc:  # re-raised by run_plan with this reason (Flower only says "Exception in ServerApp")
            out["error"] = f"{type(exc).__name__}: {exc}"
            raise

    def _serve(grid: Grid) -> None:
        start = time.monotonic()
        while len(nodes := list(grid.get_node_ids())) < n_sites:
            if time.monotonic() - start > timeout_s:
                raise TimeoutError(f"Flower ServerApp: only {len(nodes)} of {n_sites} site nodes connected")
            time.sleep(0.1)
        replies = grid.send_and_receive([Message(RecordDict(), dst_node_id=n, message_type=MessageType.QUERY)
                                         for n in nodes], timeout=timeout_s)
        site_to_node = {_config_int(_record(m.content, "site", ConfigRecord), "site"): m.metadata.src_node_id
                        for m in replies if not m.has_error()}
        if sorted(site_to_node) != list(range(n_sites)):
            raise RuntimeError(f"Flower ServerApp: node → site query answered sites {sorted(site_to_node)}")
        torch.manual_seed(seed)
        strategy = make_strategy(plan, site_to_node)
        result = strategy.start(grid=grid, initial_arrays=ArrayRecord(TinyLM(lm).state_dict()),
                                num_rounds=plan.n_rounds, timeout=timeout_s)
        out["state_dict"] = result.arrays.to_torch_state_dict()
        out["rounds"] = strategy.rows

    return app


def run_plan(corpus: Corpus, plan: RoundPlan, lm: LMConfig, sim: SimulationConfig = SimulationConfig(),
             seed: int = 0) -> FlowerOutcome:
    """Execute every round of ``plan`` through ``flwr.simulation.run_simulation`` (one SuperNode per site)."""
    if plan.steps.shape[0] != len(corpus.sites):
        raise ValueError(f"run_plan: plan has {plan.steps.shape[0]} sites, corpus {len(corpus.sites)}")
    os.environ.update(OFFLINE_ENV)
    loopback.prepare()  # Ray (started by Flower) listens on 127.0.0.1 only
    from flwr.simulation import run_simulation

    if not logging.getLogger("carbonshift").isEnabledFor(logging.DEBUG):  # Flower's per-round log only with -v
        logging.getLogger("flwr").setLevel(logging.WARNING)
    init_args: dict[str, Any] = {"num_cpus": sim.ray_num_cpus, "include_dashboard": False,
                                 "log_to_driver": False, "logging_level": logging.ERROR,
                                 "_node_ip_address": "127.0.0.1"}
    if sim.ray_temp_dir:
        os.makedirs(sim.ray_temp_dir, exist_ok=True)
        init_args["_temp_dir"] = os.path.abspath(sim.ray_temp_dir)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    try:
        run_simulation(server_app=make_server_app(plan, lm, seed, sim.timeout_s, out),
                       client_app=make_client_app(corpus, lm, seed, sim.torch_threads),
                       num_supernodes=len(corpus.sites),
                       backend_config={"client_resources": {"num_cpus": sim.client_num_cpus, "num_gpus": 0.0},
                                       "init_args": init_args})
    except RuntimeError as exc:
        raise RuntimeError(f"run_plan: Flower simulation failed: {out.get('error', exc)}") from exc
    seconds = time.perf_counter() - t0
    if "state_dict" not in out:
        raise RuntimeError("run_plan: the Flower ServerApp finished without a global model (see the flwr log)")
    return FlowerOutcome(out["state_dict"], out["rounds"], seconds)
