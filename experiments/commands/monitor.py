"""``carbonshift monitor``: poll live carbon signals (Electricity Maps → WattTime failover) into the
local store, once (``--once``) or on a schedule (``--every 15m``).

Credentials come only from the environment (``ELECTRICITYMAPS_API_KEY``, ``WATTTIME_USERNAME``,
``WATTTIME_PASSWORD``) and are never printed. Base URLs: ``--em-url``/``--wt-url`` or
``ELECTRICITYMAPS_BASE_URL``/``WATTTIME_BASE_URL`` (e.g. the local ``python -m forecast.live.fakeserver``).
"""
from __future__ import annotations

import argparse
import os
import re

import pandas as pd

from experiments.output import emit
from forecast.live.electricitymaps import ElectricityMapsClient
from forecast.live.monitor import AnomalyLimits, Monitor
from forecast.live.sources import DEFAULT_WATTTIME_REGIONS, ElectricityMapsSource, WattTimeSource, parse_region_map
from forecast.live.store import LiveStore
from forecast.live.watttime import WattTimeClient

DEFAULT_STORE = "reports/live/carbon.sqlite"
_UNITS_S = {"s": 1, "m": 60, "h": 3600}


def parse_interval(text: str) -> float:
    """``"15m"`` → 900.0 seconds (units s, m, h)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh])", text.strip())
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"--every: expected a positive interval like 15m, 30s or 1h, got {text!r}")
    return float(match.group(1)) * _UNITS_S[match.group(2)]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("monitor", help="poll live carbon intensity with failover into the local store",
                       description=__doc__)
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--once", action="store_true", help="one polling round, then exit")
    when.add_argument("--every", type=parse_interval, metavar="INTERVAL", help="poll every INTERVAL (e.g. 15m)")
    p.add_argument("--rounds", type=int, default=None, help="with --every: stop after this many rounds")
    p.add_argument("--zones", default="US-CAL-CISO,DE", help="comma-separated Electricity Maps zones")
    p.add_argument("--primary", choices=["electricitymaps", "watttime"], default="electricitymaps")
    p.add_argument("--store", default=DEFAULT_STORE, help="sqlite store path (append-only)")
    p.add_argument("--em-url", default=None, help="Electricity Maps base URL (default $ELECTRICITYMAPS_BASE_URL)")
    p.add_argument("--wt-url", default=None, help="WattTime base URL (default $WATTTIME_BASE_URL)")
    p.add_argument("--wt-regions", default=os.environ.get("CARBONSHIFT_WATTTIME_REGIONS", ""),
                   help="extra ZONE=WATTTIME_REGION pairs, comma-separated")
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds")
    p.add_argument("--max-age-h", type=float, default=AnomalyLimits.max_age_h, help="stale-timestamp limit, hours")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    zones = [z.strip() for z in args.zones.split(",") if z.strip()]
    em = ElectricityMapsSource(ElectricityMapsClient(base_url=args.em_url, timeout_s=args.timeout))
    wt = WattTimeSource(WattTimeClient(base_url=args.wt_url, timeout_s=args.timeout),
                        {**DEFAULT_WATTTIME_REGIONS, **parse_region_map(args.wt_regions)})
    sources = [em, wt] if args.primary == "electricitymaps" else [wt, em]
    store = LiveStore(args.store)
    monitor = Monitor(sources, store, zones, AnomalyLimits(max_age_h=args.max_age_h))

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
        monitor.run_every(args.every, args.rounds, show)
    except KeyboardInterrupt:
        pass
    return 0
