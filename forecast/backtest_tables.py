"""Tables cut from a backtest's forecasts and weights: the calibrated test-window forecast table of the ensemble
and of each member (files, not printed tables), the ensemble's scores per horizon bucket and the basis its
weights were fitted on."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd


def ensemble_table(forecasts: pd.DataFrame, label: str) -> pd.DataFrame:
    """The test-window rows of model ``label`` (the calibrated ensemble) in ``forecasts``."""
    return forecasts[(forecasts["model"] == label) & (forecasts["window"] == "test")]


def member_tables(forecasts: pd.DataFrame, models: Sequence[str], shown: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    """Model name → its calibrated test-window forecast table (rows of ``forecasts`` with ``window == "test"``,
    ``model`` renamed ``<shown name>+cqr``: the backtest applied the member's own conformal corrections, fitted
    on validation forecasts or, with a calibration window, on forecasts whose target hour preceded the issue).
    ``forecasts`` carries members under their shown names (``shown``: e.g. ``lstm`` → ``lstm (CPU-sized)``)."""
    test = forecasts[forecasts["window"] == "test"]
    out = {}
    for name in models:
        rows = test[test["model"] == shown.get(name, name)]
        if rows.empty:
            raise ValueError(f"member table {name!r}: the backtest holds no test-window forecast of it")
        out[name] = rows.assign(model=f"{shown.get(name, name)}+cqr").reset_index(drop=True)
    return out


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """Write a forecast table as CSV, or as parquet when ``path`` ends in ``.parquet`` (a file artifact, not a
    printed table: ~10⁴ rows per zone-year and horizon hour; a year of 168 h forecasts for six zones is ~80 MB of
    CSV, ~10 MB of parquet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


def bucket_summary(by_bucket: pd.DataFrame, label: str) -> list[dict[str, Any]]:
    """Model ``label``'s mean MAPE (%) and 90 % coverage per horizon bucket of ``by_bucket``
    (:func:`forecast.report.bucket_table`), averaged over regions, rounded to 3 decimals: one record per bucket
    (``horizons``, ``mape``, ``picp90``)."""
    rows = by_bucket[by_bucket["model"] == label].groupby(["bucket", "horizons"])
    return rows[["mape", "picp90"]].mean().round(3).reset_index().drop(columns="bucket").to_dict("records")


def weight_basis(weights: pd.DataFrame) -> dict[str, int] | None:
    """Issue × region × bucket cells of the ensemble ``weights`` per ``basis`` the weights were fitted on; ``None``
    when the weighting records none."""
    if "basis" not in weights.columns:
        return None
    cells = weights.drop_duplicates(["issue_time", "region", "bucket"])
    return cells["basis"].value_counts().to_dict()
