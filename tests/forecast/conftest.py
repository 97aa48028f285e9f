"""Shared real-data slices for the forecast tests (DACF panel, loaded once per session)."""
import pandas as pd
import pytest

from carbonshift.forecast.data.panel import load_dacf_panel


@pytest.fixture(scope="session")
def dacf_slice() -> pd.DataFrame:
    """CISO and SE, 2020-10-01 → 2021-01-31 UTC (with fc_* covariates)."""
    p = load_dacf_panel(["CISO", "SE"])
    return p[(p["time"] >= "2020-10-01") & (p["time"] < "2021-02-01")].reset_index(drop=True)


@pytest.fixture(scope="session")
def windows():
    until = pd.Timestamp("2021-01-10", tz="UTC")
    issues = pd.date_range("2021-01-09 23:00", "2021-01-16 23:00", freq="D", tz="UTC")
    return until, issues
