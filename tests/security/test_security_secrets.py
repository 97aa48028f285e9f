"""No output of `carbonshift monitor` — stdout, stderr, log records, the store's attempt log — ever contains
an API key, password or token, whatever the (127.0.0.1, bounded-lifetime) providers answer."""
from __future__ import annotations

import logging
import sqlite3

import pytest

from carbonshift.experiments.cli import main
from carbonshift.forecast.live.fakeserver import BEHAVIOURS, FakeProviders

KEY, USER, PASSWORD, TOKEN = "EMKEY-RECOGNISABLE-5150", "wt-user-8086", "WTPASS-RECOGNISABLE-6502", "TOKEN-Z80-4004"


@pytest.fixture
def hostile():
    with FakeProviders(em_key=KEY, wt_user=USER, wt_password=PASSWORD, hang_s=1.0) as server, \
            FakeProviders(em_key=KEY) as elsewhere:
        server.token, server.redirect_to = TOKEN, elsewhere.url
        yield server, elsewhere


@pytest.mark.parametrize("behaviour", [b for b in BEHAVIOURS if b != "ok"])
def test_no_output_contains_a_secret(hostile, tmp_path, monkeypatch, capsys, caplog, behaviour):
    server, elsewhere = hostile
    for path in server.behaviour:
        server.set(path, behaviour)
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", KEY + "\n")  # a trailing newline, as from a file
    monkeypatch.setenv("WATTTIME_USERNAME", USER)
    monkeypatch.setenv("WATTTIME_PASSWORD", PASSWORD)
    store = tmp_path / "s.sqlite"
    with caplog.at_level(logging.DEBUG):
        code = main(["-v", "monitor", "--once", "--zones", "US-CAL-CISO", "--store", str(store),
                     "--em-url", server.url, "--wt-url", server.url, "--timeout", "0.3"])
    out, err = capsys.readouterr()
    with sqlite3.connect(store) as con:
        details = " ".join(str(row) for row in con.execute("SELECT * FROM attempts"))
    everything = " ".join([out, err, caplog.text, details])
    assert code in (0, 1) and "Traceback" not in everything
    for secret in (KEY, PASSWORD, TOKEN):
        assert secret not in everything, (behaviour, secret)
    assert elsewhere.headers_seen == []  # nothing was sent across origins


LONG_KEY = "EMKEY-" + "LONG-RECOGNISABLE-" * 5  # 96 characters: longer than a quoted value is shown


@pytest.mark.parametrize("key", [KEY, LONG_KEY])
def test_an_echoing_provider_never_gets_a_secret_into_any_output(tmp_path, monkeypatch, capsys, caplog, key):
    """Every endpoint answers 200 with the request's own credential where a value belongs (the auth-token in
    ``isEstimated`` / ``emissionFactorType`` / ``renewablePercentage``, the bearer token in WattTime's
    ``units``): the values are rejected as malformed, and the message saying so masks the secret on stdout
    (text and ``--json``), stderr, the log records and anywhere in the store file (``attempts.detail``)."""
    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", key)
    monkeypatch.setenv("WATTTIME_USERNAME", USER)
    monkeypatch.setenv("WATTTIME_PASSWORD", PASSWORD)
    outputs = []
    with FakeProviders(em_key=key, wt_user=USER, wt_password=PASSWORD) as server, caplog.at_level(logging.DEBUG):
        server.token = TOKEN
        for path in server.behaviour:
            server.set(path, "echo" if path != "/login" else "ok")
        for n, mode in enumerate((["--once"], ["--once", "--json"], ["--every", "1s", "--rounds", "2", "--json"])):
            store = tmp_path / f"s{n}.sqlite"
            code = main(["-v", "monitor", *mode, "--zones", "US-CAL-CISO,DE", "--store", str(store),
                         "--em-url", server.url, "--wt-url", server.url, "--timeout", "0.5"])
            out, err = capsys.readouterr()
            outputs += [out, err, store.read_bytes().decode("latin-1")]
            assert code == 1  # no zone served: every value was the echoed credential
    everything = " ".join([*outputs, caplog.text])
    assert "is not a boolean: '<redacted>'" in everything  # the echo reached the messages, masked
    assert "unexpected units 'Bearer <redacted>'" in everything
    for secret in (key, key[:30], TOKEN, PASSWORD):
        assert secret not in everything, secret


def test_the_watttime_account_name_stays_readable_and_the_password_does_not():
    from carbonshift.forecast.live.redact import redact
    from carbonshift.forecast.live.watttime import WattTimeClient

    WattTimeClient(username="alice-account", password="PW-RECOGNISABLE-1234", base_url="http://127.0.0.1:9")
    assert redact("user alice-account, password PW-RECOGNISABLE-1234") == "user alice-account, password <redacted>"
