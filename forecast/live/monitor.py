"""Failover monitor: poll carbon signals per zone from an ordered list of sources, reject anomalous
values, store the first good point per (zone, hour) and record which source served it.

A source is skipped or abandoned for a zone when it errors (HTTP error, connection failure, timeout,
malformed body; an unexpected exception inside a source is logged and counted as an ``error`` attempt
naming its class, so one bad response never stops a round), is rate-limited (HTTP 429; the source is then skipped until ``Retry-After`` has passed)
or returns an anomalous value: an impossible value (carbon intensity outside [0, ``ci_max_gkwh``]
gCO2eq/kWh, a share outside [0, 100] %), a stale timestamp (older than ``max_age_h``), a timestamp in the
future (beyond ``max_future_h``), or a jump versus the same source's last stored value within
``jump_window_h`` hours larger than max(``jump_min_gkwh``, ``jump_frac`` × last value).

Bounds: with ``zone_timeout_s`` every request made for one zone in a round — to every source, logins
included — ends within that many seconds in all (so a round takes at most zones × ``zone_timeout_s`` plus
the store's time); :meth:`Monitor.run_every` takes intervals of :data:`MIN_INTERVAL_S` to
:data:`MAX_INTERVAL_S` and stops after ``give_up_after`` consecutive failed rounds.
"""
from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import time as _time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from carbonshift.forecast.live.redact import RedactFilter
from carbonshift.forecast.live.sources import Source
from carbonshift.forecast.live.store import ATTEMPT_COLUMNS, LiveStore
from carbonshift.forecast.live.transport import RateLimited, SourceError, deadline_within

log = logging.getLogger(__name__)
log.addFilter(RedactFilter())
CARBON_COLUMNS = ("ci_lca", "ci_direct", "ci_marginal")
MIN_INTERVAL_S = 1.0  # shortest polling interval: providers rate-limit, and their data is hourly
MAX_INTERVAL_S = 7 * 24 * 3600.0  # longest polling interval (one week)


@dataclass(frozen=True)
class AnomalyLimits:
    """Plausibility limits for one point (units: gCO2eq/kWh, hours, fraction)."""

    ci_max_gkwh: float = 2000.0
    max_age_h: float = 3.0
    max_future_h: float = 1.0
    jump_frac: float = 0.5
    jump_min_gkwh: float = 150.0
    jump_window_h: float = 3.0


def carbon_value(row: dict) -> float:
    """The point's carbon signal, gCO2eq/kWh: the first non-NaN of ci_lca, ci_direct, ci_marginal."""
    return next((float(row[c]) for c in CARBON_COLUMNS if not math.isnan(row[c])), math.nan)


def anomaly(row: dict, now: pd.Timestamp, last: tuple[pd.Timestamp, float] | None,
            limits: AnomalyLimits) -> str | None:
    """Why ``row`` is not plausible, or ``None`` when it is."""
    value = carbon_value(row)
    if math.isnan(value) or not 0.0 <= value <= limits.ci_max_gkwh:
        return f"impossible carbon intensity {value:g} gCO2eq/kWh"
    for col in ("renewable_pct", "low_carbon_pct"):
        if not math.isnan(row[col]) and not 0.0 <= row[col] <= 100.0:
            return f"impossible {col} {row[col]:g} %"
    age_h = (now - row["observed_at"]) / pd.Timedelta(hours=1)
    if age_h > limits.max_age_h:
        return f"stale timestamp {row['observed_at'].isoformat()} ({age_h:.1f} h old)"
    if -age_h > limits.max_future_h:
        return f"timestamp {row['observed_at'].isoformat()} is {-age_h:.1f} h in the future"
    if last is not None:
        last_time, last_value = last
        gap_h = (row["time"] - last_time) / pd.Timedelta(hours=1)
        if 0 < gap_h <= limits.jump_window_h and \
                abs(value - last_value) > max(limits.jump_min_gkwh, limits.jump_frac * last_value):
            return f"jump {last_value:g} → {value:g} gCO2eq/kWh in {gap_h:g} h"
    return None


class Monitor:
    """Polls ``zones`` from ``sources`` (first = primary) into ``store``; ``clock`` returns now (UTC)."""

    def __init__(self, sources: list[Source], store: LiveStore, zones: list[str],
                 limits: AnomalyLimits = AnomalyLimits(),
                 clock: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC"),
                 zone_timeout_s: float | None = None):
        if not sources:
            raise ValueError("Monitor needs at least one source")
        if not zones:
            raise ValueError("Monitor needs at least one zone")
        if zone_timeout_s is not None and not (math.isfinite(zone_timeout_s) and zone_timeout_s > 0):
            raise ValueError(f"Monitor: zone_timeout_s must be a positive finite number of seconds, got {zone_timeout_s!r}")
        self.sources, self.store, self.zones, self.limits, self.clock = sources, store, zones, limits, clock
        self.zone_timeout_s = zone_timeout_s
        self._cooldown_until: dict[str, pd.Timestamp] = {}
        self.failed_rounds = 0  # rounds of run_every lost to a store error (logged)
        self.failed_streak = 0  # consecutive failed rounds of run_every (see run_every)

    def _poll_zone(self, zone: str, now: pd.Timestamp, last: dict, attempts: list) -> tuple[dict | None, list[str]]:
        """Try the sources in order for ``zone``: (the first good row or None, reasons earlier ones failed);
        every attempt is appended to ``attempts``."""
        reasons: list[str] = []
        for source in self.sources:
            until = self._cooldown_until.get(source.name)
            if until is not None and now < until:
                detail = f"rate-limit cool-down until {until.isoformat()}"
                attempts.append((now, zone, source.name, "skipped", detail))
                reasons.append(f"{source.name}: {detail}")
                continue
            try:
                candidate = source.fetch(zone)
            except RateLimited as exc:
                self._cooldown_until[source.name] = now + pd.Timedelta(seconds=exc.retry_after_s)
                attempts.append((now, zone, source.name, "rate_limited", str(exc)))
                reasons.append(str(exc))
                continue
            except SourceError as exc:
                attempts.append((now, zone, source.name, "error", str(exc)))
                reasons.append(str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 — a bug in one source must not stop the round
                detail = f"{source.name}: unexpected {exc.__class__.__name__} (a bug: please report)"
                log.error("%s for %s", detail, zone)
                attempts.append((now, zone, source.name, "error", detail))
                reasons.append(detail)
                continue
            problem = anomaly(candidate, now, last.get((zone, source.name)), self.limits)
            if problem is not None:
                attempts.append((now, zone, source.name, "anomaly", problem))
                reasons.append(f"{source.name}: anomalous value: {problem}")
                continue
            attempts.append((now, zone, source.name, "ok", ""))
            return {**candidate, "source": source.name, "fetched_at": now}, reasons
        return None, reasons

    def poll_once(self) -> pd.DataFrame:
        """One round over all zones. Returns one row per zone: region, time, served_by, value_gkwh,
        signal (average/marginal), stored (new point?), failover (reasons the earlier sources were
        passed over, '' when the primary served). With ``zone_timeout_s`` each zone's requests (all
        sources) end within that many seconds in all."""
        now = self.clock()
        last = self.store.last_values()
        attempts: list[tuple] = []
        served, report = [], []
        for zone in self.zones:
            with (deadline_within(self.zone_timeout_s, f"{self.zone_timeout_s:g} s per zone")
                  if self.zone_timeout_s is not None else contextlib.nullcontext()):
                row, reasons = self._poll_zone(zone, now, last, attempts)
            if row is None:
                log.warning("no source served %s: %s", zone, "; ".join(reasons))
            else:
                served.append(row)
            report.append({"region": zone, "time": None if row is None else row["time"],
                           "served_by": "none" if row is None else row["source"],
                           "value_gkwh": math.nan if row is None else carbon_value(row),
                           "signal": "" if row is None else
                           ("marginal" if math.isnan(row["ci_lca"]) and math.isnan(row["ci_direct"]) else "average"),
                           "failover": " | ".join(reasons)})
        stored = self.store.append(pd.DataFrame(served)) if served else 0
        self.store.log_attempts(pd.DataFrame(attempts, columns=list(ATTEMPT_COLUMNS)))
        out = pd.DataFrame(report)
        out.attrs["new_points"] = stored
        return out

    def run_every(self, interval_s: float, rounds: int | None = None,
                  on_round: Callable[[pd.DataFrame], None] | None = None, give_up_after: int | None = None) -> bool:
        """Poll every ``interval_s`` seconds (:data:`MIN_INTERVAL_S` to :data:`MAX_INTERVAL_S`; aligned to the
        start of each round), ``rounds`` times or forever. A round *fails* when some zone was served by no
        source, or when it is lost to a store error (sqlite locked, disk full: logged and counted in
        ``failed_rounds``); the next round runs as scheduled. With ``give_up_after`` = N the loop stops after
        N consecutive failed rounds. Returns True when the last min(N, rounds run) rounds all failed
        (``failed_streak`` counts them), False otherwise (always False without ``give_up_after``)."""
        if not (math.isfinite(interval_s) and MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S):
            raise ValueError(f"Monitor.run_every: interval_s must be {MIN_INTERVAL_S:g} to {MAX_INTERVAL_S:g} s, "
                             f"got {interval_s!r}")
        if give_up_after is not None and give_up_after < 1:
            raise ValueError(f"Monitor.run_every: give_up_after must be ≥ 1, got {give_up_after!r}")
        done, self.failed_streak = 0, 0
        while rounds is None or done < rounds:
            started = _time.monotonic()
            try:
                result = self.poll_once()
            except (sqlite3.Error, OSError) as exc:
                self.failed_rounds += 1
                self.failed_streak += 1
                log.error("round %d lost: store %s: %s", done + 1, exc.__class__.__name__, exc)
            else:
                self.failed_streak = self.failed_streak + 1 if (result["served_by"] == "none").any() else 0
                if on_round is not None:
                    on_round(result)
            done += 1
            if give_up_after is not None and self.failed_streak >= give_up_after:
                log.error("giving up: the last %d round(s) all failed", self.failed_streak)
                return True
            if rounds is None or done < rounds:
                _time.sleep(max(0.0, interval_s - (_time.monotonic() - started)))
        return give_up_after is not None and self.failed_streak >= min(give_up_after, done)
