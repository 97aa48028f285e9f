"""Before a run is recorded: the data a config names exists, and its windows lie inside the years it loads.

A zone no data folder has, or a window outside ``data.years``, is a config error (exit 2) whose message names
the keys to change (``data.zones``, ``data.years``, ``data.start``, ``data.span_days``, ``data.tail_days``,
``windows.*``) — not a run that fails later with "0 training issue days" or "cannot take 336 h". It only
checks file names and dates; the readers validate the contents when the run loads them."""
from __future__ import annotations

from typing import Any

import pandas as pd

from carbonshift.experiments.config import ConfigError
from carbonshift.forecast.data.panel import EM_YEARS, dacf_path, em_path

#: UTC span of the bundle's DACF files (``forecast.data.dacf``)
DACF_SPAN = (pd.Timestamp("2019-01-01", tz="UTC"), pd.Timestamp("2022-01-01", tz="UTC"))
_WINDOW_KEYS = ("train_start", "train_end", "val_start", "val_end", "test_start", "test_end")


def _sections(cfg: Any) -> list[tuple[str, Any]]:
    """(key prefix, section) of every part of a config that names zones: ``data``, ``carbon`` or the top level."""
    out = [(f"{name}.", getattr(cfg, name)) for name in ("data", "carbon") if hasattr(cfg, name)]
    return out + ([("", cfg)] if hasattr(cfg, "zones") else [])


def _years(sec: Any) -> tuple[str, list[int]]:
    """(key, UTC years loaded) of a section: ``years`` (empty = the bundle's), or a single ``year``."""
    if hasattr(sec, "years"):
        return "years", sorted(set(sec.years or EM_YEARS))
    return "year", [int(sec.year)] if hasattr(sec, "year") else list(EM_YEARS)


def _coverage(sec: Any, prefix: str) -> tuple[pd.Timestamp, pd.Timestamp, str]:
    """[lo, hi) UTC the section loads and how to say it (naming the years key)."""
    if getattr(sec, "source", "electricitymaps") == "dacf":
        lo, hi = DACF_SPAN
        return lo, hi, f"the DACF data cover {lo.date()} → {(hi - pd.Timedelta(days=1)).date()}"
    key, years = _years(sec)
    lo, hi = pd.Timestamp(f"{years[0]}-01-01", tz="UTC"), pd.Timestamp(f"{years[-1] + 1}-01-01", tz="UTC")
    return lo, hi, f"{prefix}{key}={years} covers {lo.date()} → {(hi - pd.Timedelta(days=1)).date()}"


def _utc(text: str) -> pd.Timestamp:
    t = pd.Timestamp(text)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def check_data(cfg: Any, data_dir: str | None, source: str = "") -> None:
    """Raise :class:`ConfigError` (prefixed with ``source``, the config file) for a zone or region whose files no
    data folder holds, or a window outside the data the config loads."""
    where = f"{source}: " if source else ""
    for prefix, sec in _sections(cfg):
        dacf = getattr(sec, "source", "electricitymaps") == "dacf"
        zone_key = "regions" if hasattr(sec, "regions") else "zones"
        zones = list(getattr(sec, zone_key, []) or [])
        _, years = _years(sec)
        for zone in zones:
            for year in ([None] if dacf else years):   # DACF: one file per region, whatever the year
                try:
                    dacf_path(zone, "2019_clean", data_dir) if year is None else em_path(zone, year, data_dir)
                except FileNotFoundError as exc:
                    raise ConfigError(f"{where}{prefix}{zone_key}: {zone!r}" + ("" if year is None else f" in {year}") +
                                      f" has no data: {exc}") from None
        if getattr(sec, "start", None) is not None and zones:
            _check_span(sec, prefix, *_coverage(sec, prefix), where)
    windows, data = getattr(cfg, "windows", None), getattr(cfg, "data", None)
    if windows is not None and data is not None and hasattr(data, "regions"):
        lo, hi, covers = _coverage(data, "data.")
        for key in _WINDOW_KEYS:
            value = getattr(windows, key, None)
            if value is not None and not lo <= _utc(value) < hi:
                fix = ("move the window" if getattr(data, "source", "") == "dacf" else
                       f"add {_utc(value).year} to data.years or move the window")
                raise ConfigError(f"{where}windows.{key}={value} is outside the data: {covers}; {fix}")


def _check_span(sec: Any, prefix: str, lo: pd.Timestamp, hi: pd.Timestamp, covers: str, where: str) -> None:
    """``start`` (UTC) and ``start + span_days + tail_days`` inside [lo, hi)."""
    start = _utc(sec.start)
    span, tail = int(getattr(sec, "span_days", 0) or 0), int(getattr(sec, "tail_days", 0) or 0)
    end = start + pd.Timedelta(days=span + tail)
    if start < lo or start >= hi or end > hi:
        days = " + ".join(f"{prefix}{k}={v}" for k, v in (("span_days", span), ("tail_days", tail))
                          if hasattr(sec, k))
        needs = f"{prefix}start={sec.start}" + (f" + {days} needs {start.date()} → {end.date()}" if days else "")
        raise ConfigError(f"{where}{needs}, outside the data: {covers}; move {prefix}start"
                          + (f", shorten {prefix}span_days/{prefix}tail_days" if days else "")
                          + f" or change {prefix}{'years' if hasattr(sec, 'years') else 'year'}")
