"""paper_main's forecasts cover the hours its policies plan (issue 20): on a tiny instance of the shipped config
(its 168 h synthetic horizon) every non-oracle policy prices ≤ 5 % of its planned job-hours with the seasonal
fallback; an explicitly short horizon is counted in ``forecast_fallback_share`` and named in the summary."""
import pytest

from carbonshift.experiments.config import ConfigError, load_yaml, parse
from carbonshift.experiments.kinds.simulate import SimulateConfig
from carbonshift.experiments.registry import Context, get

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
