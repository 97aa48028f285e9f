"""Forecast windows inside the curtailment_training kind: built from the forecasting stack's calibrated
renewable-share forecasts, causal end to end, labelled, and the shipped config parses."""
import numpy as np
import pandas as pd
import pytest

from carbonshift.experiments.config import ConfigError, load, parse
from carbonshift.experiments.forecast_windows import ForecastWindowsSection, forecast_window_mask
from carbonshift.experiments.kinds.curtailment_training import CurtailmentTrainingConfig
from carbonshift.forecast.data.panel import load_panel
from carbonshift.scheduler.curtailment import WindowRule

ZONES = ["DE", "GB", "US-CAL-CISO"]
START = pd.Timestamp("2023-03-01", tz="UTC")


@pytest.fixture(scope="module")
def panel():
    return load_panel(ZONES, [2023], weather=False)


def _mask(panel, n=24 * 14):
    sec = ForecastWindowsSection(model="seasonal24", val_days=14, trailing_days=21)
    return forecast_window_mask(panel, ZONES, WindowRule(min_hours=3), sec, START, n, seed=0, progress=False)


def test_forecast_windows_are_causal_end_to_end(panel):
    base = _mask(panel)
    assert base.mask.shape == (3, 24 * 14) and 0 < base.mask.mean() < 1
    assert base.label.startswith("forecast windows (seasonal24+cqr, mean")
    later = START + pd.Timedelta(days=7) - pd.Timedelta(hours=1)        # the issue for day 8 is at this hour
    changed = panel.copy()
    future = changed["time"] >= later
    changed.loc[future, "renewable_pct"] = 100.0 - changed.loc[future, "renewable_pct"]
    again = _mask(changed)
    np.testing.assert_array_equal(again.mask[:, :24 * 8], base.mask[:, :24 * 8])   # day 8: issued at `later`
    assert (again.mask[:, 24 * 8:] != base.mask[:, 24 * 8:]).any()                  # later days do react


def test_precision_recall_table_covers_sites_and_horizons(panel):
    pr = _mask(panel).pr
    assert set(pr["region"]) == set(ZONES)
    assert set(pr["horizon"]) == {"1-6h", "7-12h", "13-24h", "25-48h"}
    assert ((pr["tp"] + pr["fn"]) > 0).groupby(pr["region"]).any().all()             # every site has windows
    ok = pr["precision_pct"].dropna()
    assert ((ok >= 0) & (ok <= 100)).all()


def test_shipped_config_and_bad_sections():
    cfg = load("experiments/configs/curtailment_forecast.yaml", CurtailmentTrainingConfig)
    assert cfg.forecast_windows is not None and cfg.forecast_windows.model == "seasonal24"
    assert cfg.data.years == [2022, 2023]
    base = {"kind": "curtailment_training", "name": "x"}
    with pytest.raises(ConfigError, match="forecast_windows.stat"):
        parse({**base, "forecast_windows": {"stat": "median"}}, CurtailmentTrainingConfig)
    with pytest.raises(ConfigError, match="forecast_windows.model"):
        parse({**base, "forecast_windows": {"model": "prophet"}}, CurtailmentTrainingConfig)


def test_a_low_quantile_gives_cautious_windows_inside_the_mean_ones(panel):
    rule = WindowRule(min_hours=3)
    mean = _mask(panel).mask
    sec = ForecastWindowsSection(model="seasonal24", val_days=14, trailing_days=21, stat="q0.05")
    low = forecast_window_mask(panel, ZONES, rule, sec, START, 24 * 14, seed=0, progress=False)
    assert "q0.05" in low.label
    assert not (low.mask & ~mean).any() and low.mask.sum() < mean.sum()    # q0.05 ≤ mean: a subset


def test_column_cube_orders_issues_regions_and_horizons():
    from carbonshift.forecast.forecast_cube import column_cube

    issues = pd.to_datetime(["2023-03-02 23:00", "2023-03-01 23:00"], utc=True)
    rows = [{"issue_time": i, "region": r, "horizon_h": h, "q0.1": 100 * k + 10 * (r == "GB") + h}
            for k, i in enumerate(issues) for r in ("GB", "DE") for h in (1, 2)]
    got_issues, cube = column_cube(pd.DataFrame(rows[:-1]), "q0.1", ["DE", "GB"], 3)   # DE h2 of the 2nd missing
    assert list(got_issues) == sorted(issues) and cube.shape == (2, 2, 3)
    np.testing.assert_array_equal(cube[1], [[1, 2, np.nan], [11, 12, np.nan]])          # issue 03-02: k = 0
    np.testing.assert_array_equal(cube[0], [[101, np.nan, np.nan], [111, 112, np.nan]])
