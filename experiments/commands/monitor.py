"""``carbonshift monitor``: poll live carbon signals (Electricity Maps → WattTime failover) into the
local store, once (``--once``) or on a schedule (``--every 15m``).

With ``--every`` the command stops and exits 1 once the last ``--give-up-after`` rounds (default 3) all
failed — a round fails when some zone was served by no source or the store could not be written — and also
exits 1 when ``--rounds`` ends on such a run of failed rounds; otherwise it exits 0. ``--timeout`` bounds every
request and, in all, all the requests made for one zone in a round (every source, logins included), so a
round takes at most zones × ``--timeout`` seconds plus the store's time.

Credentials come only from the environment (``ELECTRICITYMAPS_API_KEY``, ``WATTTIME_USERNAME``,
``WATTTIME_PASSWORD``) and are never printed. Base URLs: ``--em-url``/``--wt-url`` or
``ELECTRICITYMAPS_BASE_URL``/``WATTTIME_BASE_URL`` (e.g. the local ``python -m forecast.live.fakeserver``).
"""
from __future__ import annotations

import argparse
import math
import os
import re
import sqlite3
import sys

import pandas as pd

from carbonshift.experiments.output import emit
from carbonshift.forecast.live.electricitymaps import ElectricityMapsClient
from carbonshift.forecast.live.monitor import MAX_INTERVAL_S, MIN_INTERVAL_S, AnomalyLimits, Monitor
from carbonshift.forecast.live.redact import redact
from carbonshift.forecast.live.sources import (DEFAULT_WATTTIME_REGIONS, ElectricityMapsSource, Source,
                                               WattTimeSource, parse_region_map)
from carbonshift.forecast.live.store import LiveStore
from carbonshift.forecast.live.watttime import WattTimeClient

DEFAULT_STORE = "reports/live/carbon.sqlite"
_UNITS_S = {"s": 1, "m": 60, "h": 3600}
_ZONE = re.compile(r"[A-Za-z0-9]{1,8}(-[A-Za-z0-9_]{1,16}){0,4}")
_WT_REGION = re.compile(r"[A-Za-z0-9_]{1,64}")


def parse_interval(text: str) -> float:
    """``"15m"`` → 900.0 seconds (units s, m, h), between :data:`MIN_INTERVAL_S` and :data:`MAX_INTERVAL_S`."""
    match = re.fullmatch(r"(\d{1,30}(?:\.\d{1,9})?)([smh])", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"--every: expected a positive interval like 15m, 30s or 1h, "
                                         f"got {text[:40]!r}")
    seconds = float(match.group(1)) * _UNITS_S[match.group(2)]
    if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
        raise argparse.ArgumentTypeError(f"--every: expected {MIN_INTERVAL_S:g} s to {MAX_INTERVAL_S / 3600:g} h "
                                         f"(one week), got {text[:40]!r}")
    return seconds


def positive_seconds(text: str) -> float:
    """A positive, finite number of seconds (``--timeout``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number of seconds, got {text[:40]!r}")
    return value


def positive_hours(text: str) -> float:
    """A positive, finite number of hours (``--max-age-h``)."""
    try:
        return positive_seconds(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive finite number of hours, got {text[:40]!r}") from None


def positive_int(text: str) -> int:
    """An integer ≥ 1 (``--rounds``)."""
    if not re.fullmatch(r"\d{1,9}", text.strip()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 1, got {text[:40]!r}")
    return int(text)


def zone_list(text: str) -> list[str]:
    """``"US-CAL-CISO,DE"`` → zones; each must look like an Electricity Maps zone key."""
    zones = [z.strip() for z in text.split(",") if z.strip()]
    bad = next((z for z in zones if not _ZONE.fullmatch(z)), None)
    if bad is not None or not zones:
        raise argparse.ArgumentTypeError(f"expected comma-separated zone keys like US-CAL-CISO,DE, got "
                                         f"{(bad if bad is not None else text)[:40]!r}")
    return zones


def region_map(text: str) -> dict[str, str]:
    """``--wt-regions`` ``ZONE=REGION,…`` with zone keys and WattTime region names checked."""
    try:
        pairs = parse_region_map(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)[:120]) from None
    for zone, region in pairs.items():
        if not _ZONE.fullmatch(zone) or not _WT_REGION.fullmatch(region):
            raise argparse.ArgumentTypeError(f"bad ZONE=REGION pair {f'{zone}={region}'[:60]!r}")
    return pairs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("monitor", help="poll live carbon intensity with failover into the local store",
                       description=__doc__)
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--once", action="store_true", help="one polling round, then exit")
    when.add_argument("--every", type=parse_interval, metavar="INTERVAL",
                      help=f"poll every INTERVAL (e.g. 15m; {MIN_INTERVAL_S:g} s to one week)")
    p.add_argument("--rounds", type=positive_int, default=None, help="with --every: stop after this many rounds")
    p.add_argument("--give-up-after", type=positive_int, default=3, metavar="N",
                   help="with --every: stop with exit status 1 once the last N rounds all failed (a round fails "
                        "when a zone was served by no source or the store write failed; default 3); also exit 1 "
                        "when --rounds ends on min(N, rounds) failed rounds")
    p.add_argument("--zones", type=zone_list, default="US-CAL-CISO,DE", help="comma-separated Electricity Maps zones")
    p.add_argument("--primary", choices=["electricitymaps", "watttime"], default="electricitymaps")
    p.add_argument("--store", default=DEFAULT_STORE, help="sqlite store path (append-only)")
    p.add_argument("--em-url", default=None, help="Electricity Maps base URL (default $ELECTRICITYMAPS_BASE_URL)")
    p.add_argument("--wt-url", default=None, help="WattTime base URL (default $WATTTIME_BASE_URL)")
    p.add_argument("--wt-regions", type=region_map, default=os.environ.get("CARBONSHIFT_WATTTIME_REGIONS", ""),
                   help="extra ZONE=WATTTIME_REGION pairs, comma-separated")
    p.add_argument("--timeout", type=positive_seconds, default=10.0,
                   help="deadline for each whole request (connect, headers and body) and, in all, for all the "
                        "requests made for one zone in a round (every source, logins included), seconds")
    p.add_argument("--max-age-h", type=positive_hours, default=AnomalyLimits.max_age_h,
                   help="stale-timestamp limit, hours")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(handler=run)


def _fail(message: str) -> int:
    print(f"carbonshift monitor: error: {redact(message)}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    zones = args.zones
    if args.rounds is not None and args.every is None:
        return _fail("--rounds needs --every")
    try:  # credentials are read and validated here; the messages never contain them
        em = ElectricityMapsSource(ElectricityMapsClient(base_url=args.em_url, timeout_s=args.timeout))
        wt = WattTimeSource(WattTimeClient(base_url=args.wt_url, timeout_s=args.timeout),
                            {**DEFAULT_WATTTIME_REGIONS, **args.wt_regions})
    except ValueError as exc:
        return _fail(str(exc))
    sources: list[Source] = [em, wt] if args.primary == "electricitymaps" else [wt, em]
    try:
        store = LiveStore(args.store)
    except (OSError, sqlite3.Error) as exc:
        return _fail(f"--store {args.store}: cannot create or open the store ({exc.__class__.__name__}: {exc})")
    monitor = Monitor(sources, store, zones, AnomalyLimits(max_age_h=args.max_age_h), zone_timeout_s=args.timeout)

    def show(result: pd.DataFrame) -> None:
        summary = {"store": str(store.path), "sources": " → ".join(s.name for s in sources),
                   "zones": len(zones), "served": int((result["served_by"] != "none").sum()),
                   "failovers": int((result["failover"] != "").sum()), "new_points": result.attrs["new_points"],
                   "stored_points_total": len(store.read())}
        emit(summary, args.json, {"served": result})

    if args.once:
        result = monitor.poll_once()
        show(result)
        return 0 if (result["served_by"] != "none").all() else 1
    try:
        gave_up = monitor.run_every(args.every, args.rounds, show, give_up_after=args.give_up_after)
    except KeyboardInterrupt:
        return 0
    if gave_up:
        print(f"carbonshift monitor: the last {monitor.failed_streak} round(s) all failed (--give-up-after "
              f"{args.give_up_after})", file=sys.stderr)
        return 1
    return 0
