"""Real clients against the local provider-format server (no mocks of the HTTP layer)."""
import time

import pandas as pd
import pytest

from carbonshift.forecast.live.electricitymaps import ElectricityMapsClient
from carbonshift.forecast.live.transport import RateLimited, SourceError, Unauthorized
from carbonshift.forecast.live.watttime import LBS_PER_MWH_TO_G_PER_KWH, WattTimeClient


def em(fake, key="test-em-key"):
    return ElectricityMapsClient(api_key=key, base_url=fake.url, timeout_s=0.3)


def wt(fake, password="pw"):
    return WattTimeClient(username="user", password=password, base_url=fake.url, timeout_s=0.3)


def test_electricitymaps_endpoints_parse(fake):
    client = em(fake)
    before = pd.Timestamp.now(tz="UTC").floor("h")
    point = client.latest("DE")
    after = pd.Timestamp.now(tz="UTC").floor("h")
    assert point.zone == "DE" and point.ci_gkwh == 250.0 and point.factor_type == "lifecycle"
    assert str(point.time.tz) == "UTC" and before <= point.time <= after   # the server's current hour, in UTC
    hist = client.history("DE")
    assert len(hist) == 24 and hist["time"].is_monotonic_increasing and str(hist["time"].dt.tz) == "UTC"
    fc = client.forecast("DE")
    assert len(fc) == 24 and fc["ci_gkwh"].iloc[3] == 253.0
    mix = client.power_breakdown_latest("DE")
    assert mix["renewable_pct"] == 40.0 and mix["low_carbon_pct"] == 60.0
    assert len(client.power_breakdown_history("DE")) == 24


def test_electricitymaps_wrong_key_is_unauthorized_and_key_never_shown(fake):
    client = em(fake, key="secret-123")
    with pytest.raises(Unauthorized) as err:
        client.latest("DE")
    assert "secret-123" not in str(err.value) and "secret-123" not in repr(client)


def test_watttime_login_forecast_and_units(fake):
    client = wt(fake)
    fc = client.forecast("CAISO_NORTH")
    assert fake.hits["/login"] == 1 and len(fc) == 24
    assert fc["moer_gkwh"].iloc[0] == pytest.approx(900.0 * LBS_PER_MWH_TO_G_PER_KWH)
    assert client.signal_index("CAISO_NORTH")["value"].iloc[0] == 37.0
    hist = client.historical("CAISO_NORTH", pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=2),
                             pd.Timestamp.now(tz="UTC"))
    assert len(hist) == 24 and hist["time"].max() < fc["time"].min()


def test_watttime_relogs_in_when_token_rejected(fake):
    client = wt(fake)
    client.forecast("CAISO_NORTH")
    fake.token = "wt-token-2"  # server rotates tokens: the old one now gets 401
    client.forecast("CAISO_NORTH")
    assert fake.hits["/login"] == 2


def test_watttime_bad_credentials(fake):
    with pytest.raises(Unauthorized, match="403"):
        wt(fake, password="wrong").forecast("CAISO_NORTH")


@pytest.mark.parametrize("behaviour, exc, match", [
    ("error", SourceError, "HTTP 500"),
    ("malformed", SourceError, "malformed JSON"),
    ("timeout", SourceError, "timed out"),
])
def test_transport_failures_are_typed(fake, behaviour, exc, match):
    fake.set("/v3/carbon-intensity/latest", behaviour)
    started = time.monotonic()
    with pytest.raises(exc, match=match):
        em(fake).latest("DE")
    assert time.monotonic() - started < 0.9  # the 1 s hang is cut by the 0.3 s timeout


def test_rate_limit_carries_retry_after(fake):
    fake.set("/v3/forecast", "ratelimit")
    with pytest.raises(RateLimited) as err:
        wt(fake).forecast("CAISO_NORTH")
    assert err.value.retry_after_s == 120.0


def test_connection_refused_is_a_source_error():
    client = ElectricityMapsClient(api_key="k", base_url="http://127.0.0.1:9", timeout_s=0.3)
    with pytest.raises(SourceError, match="connection failed"):
        client.latest("DE")
