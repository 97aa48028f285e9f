"""Tables as markdown (``<stem>.md`` beside each CSV, the report's index, RESULTS.md): numbers with two decimals
and thousands separators (``3.1e+07`` style from 10⁷ on), NaN blank, long ensemble labels shortened in the
cells and given in full below the table."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from carbonshift.experiments.figures import short_cells


def markdown(table: pd.DataFrame) -> str:
    """A markdown table; long ensemble labels are shortened in the cells and given in full below it."""
    table, full = short_cells(table)
    cols = [str(c) for c in table.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    lines += ([""] if full else []) + [f"- *{short}*: `{label}`" for short, label in full.items()]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else (f"{value:,.2f}" if abs(float(value)) < 1e7 else f"{value:.3g}")
    return str(value)
