"""WattTime API v3 client: login token, signal index, marginal emissions (MOER) forecast and history.

Endpoints (documented v3 shapes): ``GET /login`` with HTTP basic auth → ``{"token": …}`` (valid 30 min);
``GET /v3/signal-index?region=R&signal_type=co2_moer``, ``GET /v3/forecast?region=R&signal_type=co2_moer``
and ``GET /v3/historical?region=R&start=…&end=…&signal_type=co2_moer`` with ``Authorization: Bearer``;
each returns ``{"data": [{"point_time", "value"}], "meta": {"units", "region", "signal_type", …}}``.
MOER units are ``lbs_co2_per_mwh``; this client converts them to gCO2eq/kWh (× 0.453592). Signal index
units are ``percentile`` (0–100).

Configuration: ``$WATTTIME_USERNAME`` / ``$WATTTIME_PASSWORD`` (surrounding whitespace stripped; other
whitespace or control characters are a ``ValueError`` that does not show them); a received token must be
visible ASCII of at most :data:`MAX_TOKEN_CHARS` characters, else a :class:`SourceError` (token not shown); base URL ``$WATTTIME_BASE_URL``
(default ``https://api.watttime.org``).
"""
from __future__ import annotations

import os
import time as _time

import pandas as pd

from carbonshift.forecast.live.transport import SourceError, Unauthorized, credential, get_json
from carbonshift.forecast.live.parse import field, number, obj, records, shown, timestamp

SOURCE = "watttime"
DEFAULT_BASE_URL = "https://api.watttime.org"
LBS_PER_MWH_TO_G_PER_KWH = 453.59237 / 1000.0
TOKEN_LIFETIME_S = 30 * 60
MAX_TOKEN_CHARS = 8192


class WattTimeClient:
    """Typed access to WattTime v3; logs in lazily and again on 401 or after the token's 30 min."""

    def __init__(self, username: str | None = None, password: str | None = None, base_url: str | None = None,
                 timeout_s: float = 10.0):
        self._user = credential(username if username is not None else os.environ.get("WATTTIME_USERNAME", ""),
                                "WATTTIME_USERNAME", header_value=False, secret=False)  # an account name
        self._password = credential(password if password is not None else os.environ.get("WATTTIME_PASSWORD", ""),
                                    "WATTTIME_PASSWORD", header_value=False)
        self.base_url = base_url or os.environ.get("WATTTIME_BASE_URL", DEFAULT_BASE_URL)
        self.timeout_s = timeout_s
        self._token: str | None = None
        self._token_until = 0.0

    def __repr__(self) -> str:  # never show credentials
        return f"WattTimeClient(base_url={self.base_url!r}, user={'set' if self._user else 'unset'})"

    def login(self) -> None:
        doc = get_json(SOURCE, self.base_url, "/login", timeout_s=self.timeout_s,
                       basic_auth=(self._user, self._password))
        token = field(obj(doc, SOURCE, "/login"), "token", SOURCE, "/login")
        if not isinstance(token, str) or not token:
            raise SourceError(SOURCE, "/login", "malformed body: empty token")
        try:
            token = credential(token, "token")
        except ValueError:
            raise SourceError(SOURCE, "/login", "malformed token: whitespace or control characters "
                                                "(not shown)") from None
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise SourceError(SOURCE, "/login", f"malformed token: {len(token)} characters (not shown)")
        self._token, self._token_until = token, _time.monotonic() + TOKEN_LIFETIME_S - 60

    def _get(self, path: str, params: dict[str, str]) -> dict:
        for attempt in range(2):
            if self._token is None or _time.monotonic() >= self._token_until:
                self.login()
            try:
                return obj(get_json(SOURCE, self.base_url, path, params,
                                    {"Authorization": f"Bearer {self._token}"}, self.timeout_s), SOURCE, path)
            except Unauthorized:
                self._token = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _series(doc: dict, where: str, expect_units: str) -> pd.DataFrame:
        units = field(field(doc, "meta", SOURCE, where), "units", SOURCE, where)
        if units != expect_units:
            raise SourceError(SOURCE, where, f"unexpected units {shown(units)} (expected {expect_units!r})")
        rows = records(doc, "data", SOURCE, where)
        return pd.DataFrame({"time": [timestamp(r, "point_time", SOURCE, where) for r in rows],
                             "value": [number(r, "value", SOURCE, where) for r in rows]})

    def _moer(self, path: str, params: dict[str, str]) -> pd.DataFrame:
        frame = self._series(self._get(path, params), path, "lbs_co2_per_mwh")
        return pd.DataFrame({"time": frame["time"], "moer_gkwh": frame["value"] * LBS_PER_MWH_TO_G_PER_KWH})

    def signal_index(self, region: str) -> pd.DataFrame:
        """Current MOER percentile: DataFrame(time [UTC], value [0–100])."""
        return self._series(self._get("/v3/signal-index", {"region": region, "signal_type": "co2_moer"}),
                            "/v3/signal-index", "percentile")

    def forecast(self, region: str) -> pd.DataFrame:
        """MOER forecast (5-min points from now): DataFrame(time [UTC], moer_gkwh [gCO2eq/kWh])."""
        return self._moer("/v3/forecast", {"region": region, "signal_type": "co2_moer"})

    def historical(self, region: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """MOER history between ``start`` and ``end`` (UTC, inclusive): DataFrame(time, moer_gkwh)."""
        return self._moer("/v3/historical", {"region": region, "signal_type": "co2_moer",
                                             "start": pd.Timestamp(start).isoformat(),
                                             "end": pd.Timestamp(end).isoformat()})
