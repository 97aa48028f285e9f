"""What a backtest config builds besides the pipeline (experiments.backtest_inputs): DACF's published forecasts to
compare with, or why there are none; each member's refit schedule."""
from __future__ import annotations

from carbonshift.experiments.backtest_config import BacktestConfig
from carbonshift.experiments.backtest_inputs import (dacf_forecasts, model_factories, pipeline_settings,
                                                     refit_schedule)
from carbonshift.experiments.config import parse
from carbonshift.forecast.data.panel import load_dacf_forecasts

WINDOWS = {"train_end": "2021-04-30", "val_start": "2021-05-01", "val_end": "2021-06-30",
           "test_start": "2021-07-01", "test_end": "2021-07-14"}


def _cfg(source: str, regions: list[str], **backtest: object) -> BacktestConfig:
    return parse({"kind": "backtest", "name": "t", "data": {"source": source, "regions": regions},
                  "windows": WINDOWS, "backtest": backtest,
                  "models": {"naive": {"kinds": ["seasonal24"]}, "gbm": {"max_iter": 5}}}, BacktestConfig)


def test_dacf_comparison_only_for_dacf_direct_ci_and_every_region(shared_data):
    assert dacf_forecasts(_cfg("electricitymaps", ["DE"]), "ci_direct", None) == (None, "not applicable")
    assert dacf_forecasts(_cfg("dacf", ["CISO"]), "ci_lca", None) == (None, "not applicable")
    assert dacf_forecasts(_cfg("dacf", ["CISO", "XX"]), "ci_direct", None) == (
        None, "not compared: no published DACF forecasts for ['XX']")
    table, note = dacf_forecasts(_cfg("dacf", ["CISO"]), "ci_direct", None)
    assert note == "compared" and set(table["region"]) == {"CISO"}


def test_load_dacf_forecasts_names_the_regions_without_published_forecasts(shared_data):
    table, missing = load_dacf_forecasts(["CISO", "SE"])
    assert missing == [] and list(table["region"].unique()) == ["CISO", "SE"]
    assert load_dacf_forecasts(["XX", "CISO", "YY"]) == (None, ["XX", "YY"])


def test_refit_schedule_is_the_configured_one_else_the_class_default():
    cfg = _cfg("dacf", ["CISO"], refit_every_days={"seasonal24": 7})
    factories = model_factories(cfg)
    assert refit_schedule(pipeline_settings(cfg, factories), factories) == {"seasonal24": 7, "gbm": 91}
