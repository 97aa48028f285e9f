"""Monitor failover, anomaly rejection, the append-only store and ``carbonshift monitor --once``."""
import json
import math

import pandas as pd
import pytest

from carbonshift.experiments.cli import main
from carbonshift.forecast.live.electricitymaps import ElectricityMapsClient
from carbonshift.forecast.live.monitor import AnomalyLimits, Monitor, anomaly
from carbonshift.forecast.live.sources import ElectricityMapsSource, WattTimeSource
from carbonshift.forecast.live.store import STORE_COLUMNS, LiveStore
from carbonshift.forecast.live.watttime import WattTimeClient

ZONE = "US-CAL-CISO"


def monitor(fake, tmp_path, zones=(ZONE,)):
    em = ElectricityMapsSource(ElectricityMapsClient(api_key="test-em-key", base_url=fake.url, timeout_s=0.3))
    wt = WattTimeSource(WattTimeClient(username="user", password="pw", base_url=fake.url, timeout_s=0.3))
    return Monitor([em, wt], LiveStore(tmp_path / "live.sqlite"), list(zones))


def test_primary_serves_when_healthy(fake, tmp_path):
    mon = monitor(fake, tmp_path)
    out = mon.poll_once()
    assert out.loc[0, "served_by"] == "electricitymaps" and out.loc[0, "failover"] == ""
    stored = mon.store.read()
    assert list(stored.columns) == list(STORE_COLUMNS)
    row = stored.iloc[0]
    assert row["ci_lca"] == 250.0 and math.isnan(row["ci_marginal"]) and row["renewable_pct"] == 40.0
    assert row["source"] == "electricitymaps" and str(stored["time"].dt.tz) == "UTC"


@pytest.mark.parametrize("path, behaviour, reason", [
    ("/v3/carbon-intensity/latest", "error", "HTTP 500"),
    ("/v3/carbon-intensity/latest", "timeout", "timed out"),
    ("/v3/carbon-intensity/latest", "malformed", "malformed"),
    ("/v3/carbon-intensity/latest", "ratelimit", "429"),
    ("/v3/carbon-intensity/latest", "stale", "stale timestamp"),
    ("/v3/carbon-intensity/latest", "impossible", "impossible carbon intensity"),
    ("/v3/power-breakdown/latest", "impossible", "impossible low_carbon_pct"),
])
def test_fails_over_to_secondary(fake, tmp_path, path, behaviour, reason):
    fake.set(path, behaviour)
    mon = monitor(fake, tmp_path)
    out = mon.poll_once()
    assert out.loc[0, "served_by"] == "watttime" and out.loc[0, "signal"] == "marginal"
    assert reason in out.loc[0, "failover"]
    stored = mon.store.read()
    assert stored.loc[0, "source"] == "watttime" and stored.loc[0, "ci_marginal"] == pytest.approx(408.233, 1e-3)
    assert math.isnan(stored.loc[0, "ci_lca"])
    attempts = mon.store.attempts()
    assert list(attempts["source"]) == ["electricitymaps", "watttime"] and attempts["outcome"].iloc[1] == "ok"


def test_jump_against_last_stored_value_fails_over(fake, tmp_path):
    mon = monitor(fake, tmp_path)
    hour = pd.Timestamp.now(tz="UTC").floor("h")
    mon.store.append(pd.DataFrame([{"region": ZONE, "time": hour - pd.Timedelta(hours=1), "ci_direct": math.nan,
                                    "ci_lca": 250.0, "renewable_pct": 40.0, "low_carbon_pct": 60.0,
                                    "estimated": False, "ci_marginal": math.nan, "source": "electricitymaps",
                                    "fetched_at": hour}]))
    fake.set("/v3/carbon-intensity/latest", "jump")  # 250 → 1000 gCO2eq/kWh
    out = mon.poll_once()
    assert out.loc[0, "served_by"] == "watttime" and "jump 250 → 1000" in out.loc[0, "failover"]


def test_rate_limited_primary_is_skipped_until_retry_after(fake, tmp_path):
    fake.set("/v3/carbon-intensity/latest", "ratelimit")
    mon = monitor(fake, tmp_path)
    mon.poll_once()
    hits = fake.hits["/v3/carbon-intensity/latest"]
    fake.set("/v3/carbon-intensity/latest", "ok")
    out = mon.poll_once()  # within the 120 s Retry-After: the primary must not be called
    assert fake.hits["/v3/carbon-intensity/latest"] == hits
    assert "cool-down" in out.loc[0, "failover"] and out.loc[0, "served_by"] == "watttime"


def test_no_source_left(fake, tmp_path):
    fake.set("/v3/carbon-intensity/latest", "error")
    out = monitor(fake, tmp_path, zones=("DE",)).poll_once()  # DE has no WattTime region configured
    assert out.loc[0, "served_by"] == "none" and "no WattTime region" in out.loc[0, "failover"]


def test_store_is_append_only_and_deduplicated(fake, tmp_path):
    mon = monitor(fake, tmp_path, zones=(ZONE, "DE"))
    first = mon.poll_once()
    second = mon.poll_once()
    assert first.attrs["new_points"] == 2 and second.attrs["new_points"] == 0
    assert len(mon.store.read()) == 2 and len(mon.store.attempts()) == 4


def test_anomaly_rules_directly():
    now = pd.Timestamp("2024-05-01 12:10", tz="UTC")
    base = {"time": now.floor("h"), "observed_at": now, "ci_lca": 300.0, "ci_direct": math.nan,
            "ci_marginal": math.nan, "renewable_pct": 30.0, "low_carbon_pct": 50.0}
    limits = AnomalyLimits()
    assert anomaly(base, now, None, limits) is None
    assert "in the future" in anomaly({**base, "observed_at": now + pd.Timedelta(hours=3)}, now, None, limits)
    assert "impossible" in anomaly({**base, "ci_lca": 5000.0}, now, None, limits)
    assert "impossible" in anomaly({**base, "ci_lca": math.nan}, now, None, limits)
    prev = (now.floor("h") - pd.Timedelta(hours=1), 280.0)
    assert anomaly(base, now, prev, limits) is None  # +20 gCO2eq/kWh: plausible
    assert "jump" in anomaly({**base, "ci_lca": 600.0}, now, prev, limits)
    old = (now.floor("h") - pd.Timedelta(hours=10), 100.0)  # outside the jump window
    assert anomaly({**base, "ci_lca": 600.0}, now, old, limits) is None


def test_cli_monitor_once_shows_failover(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", "test-em-key")
    monkeypatch.setenv("WATTTIME_USERNAME", "user")
    monkeypatch.setenv("WATTTIME_PASSWORD", "pw")
    fake.set("/v3/carbon-intensity/latest", "ratelimit")
    code = main(["monitor", "--once", "--json", "--zones", ZONE, "--store", str(tmp_path / "s.sqlite"),
                 "--em-url", fake.url, "--wt-url", fake.url, "--timeout", "0.5"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["failovers"] == 1 and doc["served"][0]["served_by"] == "watttime"
    assert "test-em-key" not in json.dumps(doc)


def test_run_every_polls_rounds_and_interval_parsing(fake, tmp_path):
    import argparse

    from carbonshift.experiments.commands.monitor import parse_interval

    assert parse_interval("15m") == 900 and parse_interval("30s") == 30 and parse_interval("1h") == 3600
    with pytest.raises(argparse.ArgumentTypeError, match="15m"):
        parse_interval("soon")
    seen = []
    monitor(fake, tmp_path).run_every(1.0, rounds=2, on_round=seen.append)
    assert len(seen) == 2 and fake.hits["/v3/carbon-intensity/latest"] == 2
