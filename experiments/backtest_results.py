"""A backtest's scores and warnings as a run's metrics and summary lines: metric names
``<metric>.<target>.<model key>.<region | mean>``, DACF's published MAPE, members the ensemble weighting dropped
and trailing coverage alerts (each also logged)."""
from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd

from carbonshift.experiments.registry import Result
from carbonshift.forecast.ensemble import dropped_summary

log = logging.getLogger(__name__)

#: Scores also averaged over regions (``<metric>.<target>.<model key>.mean``).
MEAN_SCORES: tuple[str, ...] = ("mape", "accuracy", "crps", "picp50", "picp80", "picp90")


def score_metrics(scores: pd.DataFrame, target: str, keys: Mapping[str, str], *, prefix: str = "",
                  means: tuple[str, ...] = MEAN_SCORES) -> dict[str, float]:
    """Metrics of ``scores`` (:func:`forecast.metrics.score_by` over model × region): every score as
    ``<prefix><score>.<target>.<key>.<region>``, and the scores in ``means`` averaged over regions as
    ``<prefix><score>.<target>.<key>.mean``; ``key``: the model's metric-safe key in ``keys``, else its name."""
    out = {}
    for _, row in scores.iterrows():
        for k, v in row.items():
            if k not in ("model", "region", "n"):
                out[f"{prefix}{k}.{target}.{keys.get(row['model'], row['model'])}.{row['region']}"] = float(v)
    for model, g in scores.groupby("model"):
        for k in means:
            out[f"{prefix}{k}.{target}.{keys.get(str(model), str(model))}.mean"] = float(g[k].mean())
    return out


def dacf_metrics(mape_t: pd.DataFrame, target: str) -> dict[str, float]:
    """DACF's published forecasts' day-ahead MAPE (%) per region of ``mape_t`` (:func:`forecast.report.mape_table`
    with the DACF row) as ``mape.<target>.dacf.<region>``."""
    return {f"mape.{target}.dacf.{region}": float(v)
            for region, v in mape_t.set_index("model").loc["DACF (published)"].items()}


def coverage_warnings(alerts: pd.DataFrame, target: str) -> list[str]:
    """One line per trailing-coverage alert (:func:`forecast.report.trailing_coverage_alerts`), each logged as a
    warning."""
    notes = []
    for _, row in alerts.iterrows():
        note = (f"{target} {row['region']}: trailing {row['window_days']}-day 90 % coverage fell to "
                f"{row['picp_min']:.1%} (window ending {row['window_end']}; {row['days_below']} days below 85 %)")
        log.warning("interval coverage: %s", note)
        notes.append(note)
    return notes


def report_dropped(res: Result, dropped: pd.DataFrame, target: str, sfx: str, shown: Mapping[str, str]) -> None:
    """Members the ensemble weighting zeroed, never silently: the cells (table ``ensemble_dropped``: member ×
    region × bucket with weight 0 at some issue, share and reason), per member the metric
    ``dropped_share.<target>.<member>`` (share of region × bucket (× issue) cells with weight 0), a summary line
    and a log line (warning when it is out of at least half the cells)."""
    cells = dropped.assign(model=dropped["model"].replace(shown))
    res.tables[f"ensemble_dropped{sfx}"] = cells[cells["dropped_share"] > 0].reset_index(drop=True)
    for _, row in dropped_summary(dropped).iterrows():
        res.metrics[f"dropped_share.{target}.{row['model']}"] = row["dropped_share"]
        if row["dropped_share"] > 0:
            note = (f"{target} {shown.get(row['model'], row['model'])}: weight 0 in {row['dropped_share']:.0%} of "
                    f"{row['cells']} region × bucket cells (worst {row['reason']})")
            res.summary.setdefault(f"ensemble_dropped{sfx}", []).append(note)
            log.log(logging.WARNING if row["dropped_share"] >= 0.5 else logging.INFO, "ensemble member dropped: %s",
                    note)


def weather_forecast_note(panel: pd.DataFrame, lead_h: int) -> str:
    """The Open-Meteo ``fc_*`` columns of ``panel`` (published ≥ ``lead_h`` hours before each hour) and the share
    of hours all of them cover."""
    fc = [c for c in panel.columns if c.startswith("fc_")]
    return (f"Open-Meteo {fc}, each hour's value published ≥ {lead_h} h before it; "
            f"{panel[fc].notna().all(axis=1).mean():.1%} of hours covered")
