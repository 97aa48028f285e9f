"""Shared fixtures: a real 2023 slice of three regions and small job sets."""
from __future__ import annotations

import pytest

from carbonshift.forecast.data.panel import load_panel
from carbonshift.scheduler.signals import CarbonSignal

REGIONS = ["US-CAL-CISO", "GB", "DE"]


@pytest.fixture(scope="session")
def carbon() -> CarbonSignal:
    """15 days of March 2023 actual intensity for three regions."""
    panel = load_panel(REGIONS, [2023], weather=False)
    return CarbonSignal.from_panel(panel, REGIONS, "2023-03-01", 24 * 15)
