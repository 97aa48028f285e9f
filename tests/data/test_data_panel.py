"""The canonical panel built from real data."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carbonshift.forecast.data.dacf import read_dacf_forecasts
from carbonshift.forecast.data.panel import load_dacf_panel, load_panel, to_matrix
from carbonshift.forecast.data.schema import PANEL_COLUMNS


def test_em_panel_schema_and_alignment(shared_data):
    panel = load_panel(["GB", "IN-WE"], [2023], data_dir=shared_data)
    assert list(panel.columns[: len(PANEL_COLUMNS)]) == list(PANEL_COLUMNS)
    assert str(panel["time"].dt.tz) == "UTC"
    assert panel.groupby("region").size().to_dict() == {"GB": 8760, "IN-WE": 8760}
    assert not panel[["ci_direct", "ci_lca", "renewable_pct", "low_carbon_pct"]].isna().any().any()
    gb = panel[panel.region == "GB"]
    # Open-Meteo GB is on UTC+0: its first local hour maps to 2023-01-01 00:00 UTC exactly
    assert not np.isnan(gb["obs_temperature_c"].iloc[0])
    # IN-WE is UTC+05:30: local 2023 ends at 17:30 UTC (floored to 17:00), so the year's last 6 UTC hours
    # have no weather (they are in the 2024 file, not shipped) and stay NaN
    inwe = panel[panel.region == "IN-WE"]
    assert inwe["obs_temperature_c"].iloc[-6:].isna().all() and inwe["obs_temperature_c"].iloc[:-6].notna().all()
    assert panel["estimated"].dtype == bool and inwe["estimated"].all()


def test_missing_zone_names_the_file_and_the_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no electricitymaps/XX_2023_hourly\.csv\.gz or \.csv in "):
        load_panel(["XX"], [2023], data_dir=tmp_path)


def test_to_matrix_is_region_by_hour(shared_data):
    panel = load_panel(["US-CAL-CISO", "DE"], [2022, 2023], weather=False, data_dir=shared_data)
    ci, times, regions = to_matrix(panel, "ci_direct")
    assert ci.shape == (2, 17520) and regions == ["US-CAL-CISO", "DE"]
    assert times[0] == pd.Timestamp("2022-01-01", tz="UTC")
    assert ci[1, 5] == panel[(panel.region == "DE")]["ci_direct"].iloc[5]


def test_dacf_panel_reproduces_published_baseline(shared_data):
    panel = load_dacf_panel(["DE", "PJM"], data_dir=shared_data)
    assert panel.groupby("region").size().to_dict() == {"DE": 26304, "PJM": 26304}
    pjm = panel[panel.region == "PJM"]
    assert pjm["fc_dswrf_wm2"].notna().sum() == 17544 - 24  # 2020–2021 minus the zero-filled last day
    for region, published in {"DE": 9.08, "PJM": 3.30}.items():
        fc = read_dacf_forecasts(region, shared_data / "dacf")
        actual = panel[panel.region == region].set_index("time")["ci_direct"].reindex(fc["time"]).to_numpy()
        np.testing.assert_allclose(actual, fc["actual"], atol=0.01)  # our direct CI = DACF's actuals
        mape = 100 * np.mean(np.abs(fc["mean"] - fc["actual"]) / fc["actual"])
        assert round(mape, 2) == published
