"""Every client against the hostile behaviours of the stand-in provider (127.0.0.1, bounded lifetime):
each malformed response is a SourceError (so the monitor fails over), never a crash, a hang or a leak."""
import json
import math
import re
import sqlite3
import time

import pandas as pd
import pytest

from carbonshift.experiments.cli import main
from carbonshift.forecast.live.electricitymaps import ElectricityMapsClient
from carbonshift.forecast.live.fakeserver import FakeProviders
from carbonshift.forecast.live.monitor import Monitor
from carbonshift.forecast.live.sources import ElectricityMapsSource, WattTimeSource
from carbonshift.forecast.live.store import LiveStore
from carbonshift.forecast.live.transport import (MAX_RETRY_AFTER_S, RateLimited, SourceError, TransportError,
                                                  get_json, http_get)
from carbonshift.forecast.live.watttime import WattTimeClient

NOW = pd.Timestamp.now(tz="UTC")
EM_CALLS = {
    "/v3/carbon-intensity/latest": lambda c: c.latest("DE"),
    "/v3/carbon-intensity/history": lambda c: c.history("DE"),
    "/v3/carbon-intensity/forecast": lambda c: c.forecast("DE"),
    "/v3/power-breakdown/latest": lambda c: c.power_breakdown_latest("DE"),
    "/v3/power-breakdown/history": lambda c: c.power_breakdown_history("DE"),
}
WT_CALLS = {
    "/login": lambda c: c.forecast("CAISO_NORTH"),
    "/v3/forecast": lambda c: c.forecast("CAISO_NORTH"),
    "/v3/signal-index": lambda c: c.signal_index("CAISO_NORTH"),
    "/v3/historical": lambda c: c.historical("CAISO_NORTH", NOW - pd.Timedelta(hours=2), NOW),
}
TRANSPORT_FAULTS = {"slow": "timed out after 0.3 s (whole request)", "short": "body cut short",
                    "redirect": "redirect to another origin", "nonobject": "expected a JSON object",
                    "oversized": "byte cap", "badstatus": "malformed HTTP response (BadStatusLine)"}


def em(fake):
    return ElectricityMapsClient(api_key="test-em-key", base_url=fake.url, timeout_s=0.3)


def wt(fake):
    return WattTimeClient(username="user", password="pw", base_url=fake.url, timeout_s=0.3)


def call(fake, path):
    return EM_CALLS[path](em(fake)) if path in EM_CALLS else WT_CALLS[path](wt(fake))


@pytest.fixture
def elsewhere():
    """A second server on another port: a redirect target that must never be contacted."""
    with FakeProviders() as server:
        yield server


@pytest.mark.parametrize("path", [*EM_CALLS, *WT_CALLS])
@pytest.mark.parametrize("behaviour", list(TRANSPORT_FAULTS))
def test_transport_faults_are_source_errors_within_the_deadline(fake, elsewhere, path, behaviour):
    fake.redirect_to = elsewhere.url
    fake.set(path, behaviour)
    started = time.monotonic()
    with pytest.raises(SourceError, match=re.escape(TRANSPORT_FAULTS[behaviour])):
        call(fake, path)
    assert time.monotonic() - started < 1.0  # a 1-byte-per-50-ms body would take > 10 s
    assert elsewhere.headers_seen == []  # nothing, in particular no credential, crossed origins


CUT_OR_UNFRAMED = {"nolength": "neither Content-Length nor chunked encoding",
                   "heldopen": "neither Content-Length nor chunked encoding",
                   "chunkcut": "body cut short: chunked body ended",
                   "trailers": "timed out after 0.3 s (whole request)",
                   "headerdrip": "timed out after 0.3 s (whole request)",
                   "bigheaders": "response header section exceeds the 65536-byte cap"}


@pytest.mark.parametrize("path", ["/v3/carbon-intensity/latest", "/v3/forecast"])
@pytest.mark.parametrize("behaviour", list(CUT_OR_UNFRAMED))
def test_a_body_is_complete_only_by_its_length_or_chunked_terminator(fake, path, behaviour):
    """Valid JSON followed by no proof of its end (no length, a missing terminator, endless trailers, headers
    still arriving at the deadline) is an error — never a 200 with the part read so far."""
    fake.set(path, behaviour)
    started = time.monotonic()
    with pytest.raises(SourceError, match=re.escape(CUT_OR_UNFRAMED[behaviour])):
        call(fake, path)
    assert time.monotonic() - started < 1.0  # the fake holds each connection for 1 s


def test_deadline_cutting_the_body_is_a_timeout_not_a_short_body(fake):
    fake.set("/v3/carbon-intensity/latest", "slow")  # Content-Length, then one byte every 50 ms
    with pytest.raises(TransportError, match=re.escape("timed out after 0.3 s (whole request)")):
        http_get(f"{fake.url}/v3/carbon-intensity/latest?zone=DE", {"auth-token": fake.em_key}, timeout_s=0.3)


def test_header_bytes_count_toward_the_size_cap(fake):
    url, headers = f"{fake.url}/v3/carbon-intensity/latest?zone=DE", {"auth-token": fake.em_key}
    body = http_get(url, headers, timeout_s=1.0).body
    assert json.loads(body)["carbonIntensity"] == 250.0
    with pytest.raises(TransportError, match=r"body of \d+ bytes \(after \d+ header bytes\) exceeds the \d+-byte cap"):
        http_get(url, headers, timeout_s=1.0, max_bytes=len(body) + 1)  # room for the body, not the headers


def test_same_origin_redirect_is_followed_with_credentials(fake):
    fake.set("/v3/carbon-intensity/latest", "redirect", times=1)  # redirects to itself once, then serves
    assert em(fake).latest("DE").ci_gkwh == 250.0
    assert fake.hits["/v3/carbon-intensity/latest"] == 2


@pytest.mark.parametrize("path", ["/v3/carbon-intensity/latest", "/v3/carbon-intensity/history",
                                  "/v3/forecast", "/v3/historical"])
@pytest.mark.parametrize("behaviour, match", [("hugeint", "is not a finite number: <1329-bit int>"),
                                              ("badtime", "is not an ISO-8601 timestamp: 'now'")])
def test_bad_values_are_source_errors(fake, path, behaviour, match):
    fake.set(path, behaviour)
    with pytest.raises(SourceError, match=re.escape(match)):
        call(fake, path)


@pytest.mark.parametrize("path", ["/v3/carbon-intensity/latest", "/v3/carbon-intensity/history"])
def test_is_estimated_must_be_a_boolean(fake, path):
    fake.set(path, "estimatedstr")
    with pytest.raises(SourceError, match="'isEstimated' is not a boolean: 'false'"):
        call(fake, path)


def test_token_with_crlf_is_rejected_and_not_shown(fake):
    fake.set("/login", "badtoken")
    with pytest.raises(SourceError, match="malformed token") as err:
        wt(fake).forecast("CAISO_NORTH")
    assert fake.token not in str(err.value) and "Injected" not in str(err.value)
    assert fake.hits["/v3/forecast"] == 0  # the token was never sent


@pytest.mark.parametrize("behaviour, expected", [("retryinf", 60.0), ("retryhuge", MAX_RETRY_AFTER_S)])
def test_absurd_retry_after_is_bounded(fake, behaviour, expected):
    fake.set("/v3/forecast", behaviour)
    with pytest.raises(RateLimited) as err:
        wt(fake).forecast("CAISO_NORTH")
    assert err.value.retry_after_s == expected


def test_deeply_nested_json_is_a_source_error(fake, monkeypatch):
    import carbonshift.forecast.live.transport as transport
    monkeypatch.setattr(transport.json, "loads", lambda body: transport.json.JSONDecoder().decode("[" * 10**6))
    with pytest.raises(SourceError, match="malformed JSON"):
        em(fake).latest("DE")


def test_invalid_timeout_is_rejected():
    with pytest.raises(ValueError, match="timeout_s"):
        get_json("x", "http://127.0.0.1:9", "/", timeout_s=math.inf)


def test_keys_are_stripped_and_never_shown(fake):
    assert em_key_client(fake, "test-em-key\n").latest("DE").ci_gkwh == 250.0  # trailing newline stripped
    with pytest.raises(ValueError, match="ELECTRICITYMAPS_API_KEY: contains whitespace") as err:
        em_key_client(fake, "RECOGNISABLE-KEY-7731\r\nX-Evil: 1")
    assert "RECOGNISABLE" not in str(err.value)
    with pytest.raises(ValueError, match="WATTTIME_PASSWORD: contains control") as err:
        WattTimeClient(username="user", password="RECOGNISABLE-PW\x00x", base_url=fake.url)
    assert "RECOGNISABLE" not in str(err.value)


def em_key_client(fake, key):
    return ElectricityMapsClient(api_key=key, base_url=fake.url, timeout_s=0.3)


def test_monitor_cli_bad_key_is_one_line_without_the_key(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", "RECOGNISABLE-KEY-7731\rx")
    code = main(["monitor", "--once", "--zones", "DE", "--store", str(tmp_path / "s.sqlite"),
                 "--em-url", fake.url, "--wt-url", fake.url])
    out, err = capsys.readouterr()
    assert code == 2 and "RECOGNISABLE" not in out + err
    assert err.strip().splitlines() == ["carbonshift monitor: error: ELECTRICITYMAPS_API_KEY: contains whitespace, "
                                        "control or non-ASCII characters (value not shown)"]


@pytest.mark.parametrize("behaviour", ["nonobject", "badstatus", "short", "hugeint", "retryinf", "badtime"])
def test_monitor_fails_over_on_every_hostile_primary(fake, tmp_path, behaviour):
    fake.set("/v3/carbon-intensity/latest", behaviour)
    mon = Monitor([ElectricityMapsSource(em(fake)), WattTimeSource(wt(fake))],
                  LiveStore(tmp_path / "s.sqlite"), ["US-CAL-CISO"])
    out = mon.poll_once()
    assert out.loc[0, "served_by"] == "watttime" and out.loc[0, "failover"] != ""


def test_monitor_survives_a_source_bug(fake, tmp_path):
    class Broken:
        name = "broken"

        def fetch(self, zone):
            raise KeyError(zone)

    mon = Monitor([Broken(), WattTimeSource(wt(fake))], LiveStore(tmp_path / "s.sqlite"), ["US-CAL-CISO"])
    out = mon.poll_once()
    assert out.loc[0, "served_by"] == "watttime" and "unexpected KeyError" in out.loc[0, "failover"]
    assert mon.store.attempts()["outcome"].tolist() == ["error", "ok"]


def test_monitor_every_survives_one_bad_round(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", "test-em-key")
    monkeypatch.setenv("WATTTIME_USERNAME", "user")
    monkeypatch.setenv("WATTTIME_PASSWORD", "pw")
    fake.set("/v3/carbon-intensity/latest", "badstatus", times=1)
    fake.set("/v3/forecast", "nonobject", times=1)
    store = tmp_path / "s.sqlite"
    code = main(["monitor", "--every", "1s", "--rounds", "2", "--json", "--zones", "US-CAL-CISO",
                 "--store", str(store), "--em-url", fake.url, "--wt-url", fake.url, "--timeout", "0.5"])
    assert code == 0
    attempts = LiveStore(store).attempts()
    assert attempts["outcome"].tolist() == ["error", "error", "ok"]  # round 1: both bad; round 2: primary ok
    assert len(LiveStore(store).read()) == 1


@pytest.mark.parametrize("argv, message", [
    (["--timeout", "0"], "argument --timeout: expected a positive finite number"),
    (["--timeout", "inf"], "argument --timeout: expected a positive finite number"),
    (["--timeout", "nan"], "argument --timeout: expected a positive finite number"),
    (["--max-age-h", "-1"], "argument --max-age-h: expected a positive finite number of hours"),
    (["--rounds", "0"], "argument --rounds: expected an integer ≥ 1"),
    (["--zones", "DE,,;rm"], "argument --zones: expected comma-separated zone keys"),
    (["--zones", ","], "argument --zones: expected comma-separated zone keys"),
    (["--wt-regions", "DE"], "argument --wt-regions: WattTime region map: expected ZONE=REGION"),
    (["--wt-regions", "DE=a b"], "argument --wt-regions: bad ZONE=REGION pair"),
    (["--every", "0.5s"], "argument --every: --every: expected 1 s to 168 h (one week), got '0.5s'"),
    (["--every", "0s"], "argument --every: --every: expected 1 s to 168 h"),
    (["--every", "99999999999999999999h"], "argument --every: --every: expected 1 s to 168 h"),
    (["--every", "169h"], "argument --every: --every: expected 1 s to 168 h"),
    (["--give-up-after", "0"], "argument --give-up-after: expected an integer ≥ 1"),
])
def test_monitor_cli_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["monitor", "--every", "1s", *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and "Traceback" not in err


def test_monitor_cli_unwritable_store_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(["monitor", "--once", "--store", str(blocker / "sub" / "s.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("carbonshift monitor: error: --store") and len(err.splitlines()) == 1


def test_http_proxy_from_the_environment_is_honoured(fake, monkeypatch):
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("http_proxy", fake.url)  # the fake answers absolute-form requests like a proxy
    client = ElectricityMapsClient(api_key="test-em-key", base_url="http://provider.invalid", timeout_s=0.5)
    assert client.latest("DE").ci_gkwh == 250.0
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # a dead proxy …
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # … bypassed for the fake's own address
    assert em(fake).latest("DE").ci_gkwh == 250.0
    monkeypatch.delenv("no_proxy")
    with pytest.raises(SourceError, match="connection failed"):
        em(fake).latest("DE")


def test_run_every_survives_a_store_error_round(fake, tmp_path, monkeypatch, caplog):
    store = LiveStore(tmp_path / "s.sqlite")
    mon = Monitor([ElectricityMapsSource(em(fake))], store, ["DE"])
    real_append, calls = store.append, []

    def flaky_append(rows):
        calls.append(len(rows))
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real_append(rows)

    monkeypatch.setattr(store, "append", flaky_append)
    rounds = []
    mon.run_every(1.0, rounds=2, on_round=rounds.append)
    assert mon.failed_rounds == 1 and len(rounds) == 1 and len(store.read()) == 1
    assert "round 1 lost: store OperationalError: database is locked" in caplog.text


def test_slow_name_lookup_is_under_the_deadline(fake, monkeypatch):
    import socket as socket_module

    real = socket_module.getaddrinfo

    def slow_lookup(host, *args, **kwargs):
        if host == "slow.example":
            time.sleep(2.0)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket_module, "getaddrinfo", slow_lookup)
    client = ElectricityMapsClient(api_key="test-em-key", base_url="http://slow.example", timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(SourceError, match=re.escape("timed out after 0.3 s (whole request)")):
        client.latest("DE")
    assert time.monotonic() - started < 1.0


def set_env(monkeypatch):
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", "test-em-key")
    monkeypatch.setenv("WATTTIME_USERNAME", "user")
    monkeypatch.setenv("WATTTIME_PASSWORD", "pw")


def test_monitor_every_gives_up_with_exit_1_after_n_failed_rounds(fake, tmp_path, monkeypatch, capsys):
    set_env(monkeypatch)
    fake.set("/v3/carbon-intensity/latest", "error")
    fake.set("/v3/forecast", "error")
    store = tmp_path / "s.sqlite"
    code = main(["monitor", "--every", "1s", "--rounds", "5", "--give-up-after", "2", "--zones", "US-CAL-CISO",
                 "--store", str(store), "--em-url", fake.url, "--wt-url", fake.url, "--timeout", "0.5"])
    assert code == 1 and "the last 2 round(s) all failed (--give-up-after 2)" in capsys.readouterr().err
    assert LiveStore(store).attempts()["outcome"].tolist() == ["error"] * 4  # stopped after 2 of 5 rounds × 2 sources


def test_monitor_every_rounds_ending_on_failed_rounds_exit_1(fake, tmp_path, monkeypatch):
    set_env(monkeypatch)
    fake.set("/v3/carbon-intensity/latest", "error", times=1)  # EM fails round 1 only …
    fake.set("/v3/forecast", "error")  # … WattTime every round: round 1 fails, round 2 is served by EM
    argv = ["monitor", "--every", "1s", "--rounds", "2", "--zones", "US-CAL-CISO", "--store", str(tmp_path / "s.sqlite"),
            "--em-url", fake.url, "--wt-url", fake.url, "--timeout", "0.5"]
    assert main(argv) == 0  # round 1 failed, round 2 served: the run did not end on failures
    fake.set("/v3/carbon-intensity/latest", "error")
    assert main([*argv[:-6], "--store", str(tmp_path / "t.sqlite"), *argv[-4:]]) == 1  # both rounds failed


def test_run_every_interval_is_bounded(fake, tmp_path):
    mon = Monitor([ElectricityMapsSource(em(fake))], LiveStore(tmp_path / "s.sqlite"), ["DE"])
    for interval in (0.01, math.inf, math.nan, 1e30):
        with pytest.raises(ValueError, match="interval_s must be 1 to 604800 s"):
            mon.run_every(interval, rounds=1)
    assert fake.hits["/v3/carbon-intensity/latest"] == 0


def test_monitor_timeout_bounds_all_requests_for_a_zone(fake, tmp_path, monkeypatch):
    """EM's latest and WattTime's forecast both trickle (15 s bodies): with a 0.6 s zone budget the zone's
    requests — EM, then the WattTime login and forecast — end within 0.6 s in all, not 0.6 s each; the CLI
    sets that budget from --timeout."""
    fake.set("/v3/carbon-intensity/latest", "slow")
    fake.set("/v3/forecast", "slow")
    clients = [ElectricityMapsSource(ElectricityMapsClient(api_key="test-em-key", base_url=fake.url, timeout_s=0.6)),
               WattTimeSource(WattTimeClient(username="user", password="pw", base_url=fake.url, timeout_s=0.6))]

    def poll_seconds(zone_timeout_s):
        mon = Monitor(clients, LiveStore(tmp_path / f"{zone_timeout_s}.sqlite"), ["US-CAL-CISO"],
                      zone_timeout_s=zone_timeout_s)
        started = time.monotonic()
        assert mon.poll_once().loc[0, "served_by"] == "none"
        return time.monotonic() - started, mon.store.attempts()["detail"].tolist()

    unbounded, _ = poll_seconds(None)
    bounded, details = poll_seconds(0.6)
    assert unbounded >= 1.2 and bounded < 0.9, (unbounded, bounded)  # 0.6 s per request vs 0.6 s per zone
    assert details[1].startswith("watttime: GET /") and "timed out: the overall deadline (0.6 s per zone) passed" in details[1]
    set_env(monkeypatch)
    store = tmp_path / "cli.sqlite"
    assert main(["monitor", "--once", "--zones", "US-CAL-CISO", "--store", str(store), "--em-url", fake.url,
                 "--wt-url", fake.url, "--timeout", "0.6"]) == 1
    assert "the overall deadline (0.6 s per zone) passed" in LiveStore(store).attempts()["detail"].iloc[-1]
