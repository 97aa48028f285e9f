"""paper_main's forecasts cover the hours its policies plan (issue 20): on a tiny instance of the shipped config
(its 168 h synthetic horizon) every non-oracle policy prices ≤ 5 % of its planned job-hours with the seasonal
fallback; an explicitly short horizon is counted in ``forecast_fallback_share`` and named in the summary."""
import numpy as np
import pytest

from carbonshift.experiments.config import ConfigError, load_yaml, parse
from carbonshift.experiments.kinds.simulate import SimulateConfig
from carbonshift.experiments.registry import Context, get
from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.base import Decisions
from carbonshift.scheduler.signals import controlled_error
from carbonshift.scheduler.simulator import PolicyError, simulate
from carbonshift.scheduler.workloads import make_jobs

POLICIES = ["performance_first", "casper", "cooperative", "risk_aware", "chance_constrained"]


def _tiny_paper_main(**forecast) -> SimulateConfig:
    doc = load_yaml("experiments/configs/paper_main.yaml")
    doc["data"].update(zones=["US-CAL-CISO", "GB", "DE"], span_days=5, tail_days=14)
    doc["workload"]["n_jobs"] = 40
    doc["forecast"].update(forecast)
    doc.update(policies=POLICIES, oracle={"enabled": False}, duration={"model": "fixed", "history_jobs": 200})
    doc["simulation"]["measure_memory"] = False
    return parse(doc, SimulateConfig)


def _shares(cfg: SimulateConfig, tmp_path) -> tuple[dict[str, float], dict]:
    result = get("simulate").run(cfg, Context(seed=cfg.seed, out_dir=tmp_path))
    return {p: result.metrics[f"{p}.forecast_fallback_share"] for p in POLICIES}, result.summary


def test_shipped_horizon_covers_the_planned_hours(tmp_path):
    cfg = _tiny_paper_main()
    assert cfg.forecast.horizon_h == 168
    shares, _ = _shares(cfg, tmp_path)
    assert all(0.0 <= s <= 5.0 for s in shares.values()), shares


def test_too_short_a_horizon_is_counted_not_silent(tmp_path):
    shares, summary = _shares(_tiny_paper_main(horizon_h=36), tmp_path)
    assert all(s > 5.0 for s in shares.values()), shares
    assert "seasonal profile" in summary["forecast"]


def test_horizon_past_a_week_is_refused_at_parse_time():
    with pytest.raises(ConfigError, match="forecast.horizon_h"):
        _tiny_paper_main(horizon_h=169)


class _OnePlacement:
    """Places every arriving job at once in region 0 for ``hours`` h, declaring ``priced`` of them priced."""

    name, clairvoyant = "one_placement", False

    def __init__(self, hours: int, priced: int | None):
        self.hours, self.priced = hours, priced

    def plan(self, jobs, idx, now, state, view):
        idx = np.asarray(idx, dtype=np.int64)
        n = len(idx)
        return Decisions(idx, np.zeros(n, np.int64), np.full(n, now, np.int64), np.full(n, self.hours, np.int64),
                         priced={} if self.priced is None else {int(i): self.priced for i in idx})

    def adapt(self, event, jobs, now, state, view):
        return self.plan(jobs, event.jobs, now, state, view)


@pytest.mark.parametrize("priced,planned,fallback", [(None, 60, 36), (20, 20, 0)])
def test_only_the_hours_a_choice_was_priced_over_are_counted(carbon, priced, planned, fallback):
    """A 24 h forecast issued at hour 0 covers hours 0–23: a 60 h reservation has 36 fallback hours, but a policy
    that priced only its first 20 h (chance_constrained's estimate before its quantile padding) used none."""
    fc = controlled_error(carbon, "accuracy", accuracy=0.87, horizon_h=24, issue_every_h=24, seed=0)
    dc = DataCenters.uniform(carbon.regions, gpus=64)
    jobs = make_jobs(type_=np.zeros(1), submit_h=np.array([0]), gpus=np.array([8]), duration_h=np.array([40.0]),
                     flex=np.array([0.6]), ckpt_interval_h=np.array([0.5]), data_gb=np.array([1.0]), home=np.array([0]),
                     rng=np.random.default_rng(0), gpu_kw=0.7, profiling_error=0.0)
    out = simulate(jobs, carbon, fc, dc, _OnePlacement(60, priced))
    assert (out.planned_job_h, out.fallback_job_h) == (planned, fallback)
    with pytest.raises(PolicyError, match="priced over 0 of its 60"):
        simulate(jobs, carbon, fc, dc, _OnePlacement(60, 0))
