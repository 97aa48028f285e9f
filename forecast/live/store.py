"""Append-only sqlite store of live carbon points in the panel format, de-duplicated by (region, time).

Table ``observations``: the panel columns (:data:`forecast.data.schema.PANEL_COLUMNS`; ``time`` is the
UTC hour start) plus ``ci_marginal`` (marginal rate, gCO2eq/kWh, WattTime), ``source`` (which provider
served the point) and ``fetched_at`` (UTC). The first point stored for a (region, hour) wins; later
ones are ignored, nothing is ever updated or deleted. Table ``attempts`` logs every provider request the
monitor made (outcome ``ok`` / ``error`` / ``rate_limited`` / ``anomaly`` / ``skipped``) so failovers can
be audited.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from carbonshift.forecast.data.schema import PANEL_COLUMNS
from carbonshift.forecast.live.redact import redact

EXTRA_COLUMNS: tuple[str, ...] = ("ci_marginal", "source", "fetched_at")
STORE_COLUMNS: tuple[str, ...] = (*PANEL_COLUMNS, *EXTRA_COLUMNS)
ATTEMPT_COLUMNS: tuple[str, ...] = ("fetched_at", "region", "source", "outcome", "detail")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS observations (
  region TEXT NOT NULL, time TEXT NOT NULL, ci_direct REAL, ci_lca REAL, renewable_pct REAL,
  low_carbon_pct REAL, estimated INTEGER NOT NULL, ci_marginal REAL, source TEXT NOT NULL,
  fetched_at TEXT NOT NULL, PRIMARY KEY (region, time));
CREATE TABLE IF NOT EXISTS attempts (
  fetched_at TEXT NOT NULL, region TEXT NOT NULL, source TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT);
"""


def _iso(ts: pd.Timestamp) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S+00:00")


class LiveStore:
    """sqlite file at ``path`` (created with its folder on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def append(self, rows: pd.DataFrame) -> int:
        """Insert ``rows`` (columns :data:`STORE_COLUMNS`); returns how many were new (not duplicates)."""
        missing = [c for c in STORE_COLUMNS if c not in rows.columns]
        if missing:
            raise ValueError(f"LiveStore.append: missing columns {missing}")
        values = [
            (r.region, _iso(r.time), *(None if pd.isna(v) else float(v) for v in
                                       (r.ci_direct, r.ci_lca, r.renewable_pct, r.low_carbon_pct)),
             int(bool(r.estimated)), None if pd.isna(r.ci_marginal) else float(r.ci_marginal), r.source,
             _iso(r.fetched_at))
            for r in rows.itertuples(index=False)
        ]
        with self._connect() as con:
            before = con.total_changes
            con.executemany(f"INSERT OR IGNORE INTO observations ({', '.join(STORE_COLUMNS)}) "
                            f"VALUES ({', '.join('?' * len(STORE_COLUMNS))})", values)
            return con.total_changes - before

    def log_attempts(self, attempts: pd.DataFrame) -> None:
        """Append ``attempts`` (columns :data:`ATTEMPT_COLUMNS`), registered secrets masked in the texts."""
        with self._connect() as con:
            con.executemany("INSERT INTO attempts VALUES (?, ?, ?, ?, ?)",
                            [(_iso(a.fetched_at), redact(str(a.region)), a.source, a.outcome, redact(str(a.detail)))
                             for a in attempts.itertuples(index=False)])

    def read(self, regions: list[str] | None = None) -> pd.DataFrame:
        """Stored points sorted by (region, time), ``time``/``fetched_at`` as UTC datetimes."""
        with self._connect() as con:
            frame = pd.read_sql_query("SELECT * FROM observations ORDER BY region, time", con)
        if regions is not None:
            frame = frame[frame["region"].isin(regions)].reset_index(drop=True)
        for col in ("time", "fetched_at"):
            frame[col] = pd.to_datetime(frame[col], utc=True)
        frame["estimated"] = frame["estimated"].astype(bool)
        num = ["ci_direct", "ci_lca", "renewable_pct", "low_carbon_pct", "ci_marginal"]
        frame[num] = frame[num].astype(np.float64)
        return frame[list(STORE_COLUMNS)]

    def attempts(self) -> pd.DataFrame:
        with self._connect() as con:
            frame = pd.read_sql_query("SELECT * FROM attempts", con)
        frame["fetched_at"] = pd.to_datetime(frame["fetched_at"], utc=True)
        return frame

    def last_values(self) -> dict[tuple[str, str], tuple[pd.Timestamp, float]]:
        """Latest stored (time, carbon value) per (region, source) — the reference for jump detection."""
        frame = self.read()
        if frame.empty:
            return {}
        value = frame["ci_lca"].fillna(frame["ci_direct"]).fillna(frame["ci_marginal"])
        frame = frame.assign(value=value).sort_values("time").groupby(["region", "source"]).tail(1)
        return {(r.region, r.source): (r.time, float(r.value)) for r in frame.itertuples(index=False)}
