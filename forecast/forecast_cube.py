"""One column of a one-model forecast table as a dense ``[issue × region × horizon]`` array, for code that works
on arrays (e.g. :func:`scheduler.curtailment.forecast_windows`). Values in the target's unit."""
from __future__ import annotations

import numpy as np
import pandas as pd


def column_cube(forecasts: pd.DataFrame, column: str, regions: list[str],
                horizon_h: int) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The issue times (sorted) and ``forecasts[column]`` as ``[issue × region × horizon]`` (regions in the
    given order, horizon h at index h − 1, h = 1 … ``horizon_h``; NaN where the table has no row)."""
    cube = forecasts.pivot_table(index=["issue_time", "region"], columns="horizon_h", values=column)
    issues = cube.index.get_level_values(0).unique()
    cube = cube.reindex(index=pd.MultiIndex.from_product([issues, regions]), columns=range(1, horizon_h + 1))
    return pd.DatetimeIndex(issues), cube.to_numpy().reshape(len(issues), len(regions), -1)
