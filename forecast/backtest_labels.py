"""How a backtest's models are named in its tables and metric keys: the calibrated ensemble by what it is
(``ensemble(gbm 0.62, prophet 0.38)+cqr``, or ``gbm+cqr`` with one member of positive weight), members by their
display names (``lstm (CPU-sized)``)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from carbonshift.forecast.backtest import BacktestResult
from carbonshift.forecast.ensemble import ensemble_label, member_weights


@dataclass(frozen=True)
class ModelLabels:
    """``ensemble``: the calibrated ensemble rows' model label; ``raw``: the uncalibrated ensemble's label;
    ``keys``: label → metric-safe key (the ensemble: ``ensemble``, or ``<member>_cqr`` with one member of positive
    weight; a renamed member: its model name)."""

    ensemble: str
    raw: str
    keys: dict[str, str]


def label_models(bt: BacktestResult, shown: Mapping[str, str]) -> ModelLabels:
    """Rename, in ``bt.forecasts`` and ``bt.corrections``, the calibrated ``ensemble`` rows by what they are
    (:func:`forecast.ensemble.ensemble_label` + ``+cqr``; members named as in ``shown``) and the members in
    ``shown`` (model → display name, e.g. ``lstm`` → ``lstm (CPU-sized)``) by their display names."""
    base = ensemble_label(bt.weights.assign(model=bt.weights["model"].replace(shown)))
    label = f"{base}+cqr"
    for frame in (bt.forecasts, bt.corrections):
        frame.loc[frame["model"] == "ensemble", "model"] = label
    members = member_weights(bt.weights)
    key = "ensemble" if len(members) >= 2 else f"{members.index[0]}_cqr"
    for frame in (bt.forecasts, bt.corrections):
        frame["model"] = frame["model"].replace(shown)
    return ModelLabels(label, f"{base} (uncalibrated)", {label: key, **{s: name for name, s in shown.items()}})


def label_uncalibrated(coverage: pd.DataFrame, labels: ModelLabels) -> pd.DataFrame:
    """``coverage`` (:func:`forecast.report.coverage_table`) with its ``ensemble (uncalibrated)`` row named
    ``labels.raw``."""
    coverage.loc[coverage["model"] == "ensemble (uncalibrated)", "model"] = labels.raw
    return coverage
