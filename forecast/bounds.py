"""Numeric ranges of config fields, declared on the dataclass field that holds the number.

Every layer declares its config-facing fields with :func:`bounded` (``max_iter: int = bounded(300, le=10_000)``)
or, for a mapping of per-name settings, :func:`bounded_entries`; ``experiments.config.parse`` checks every
declared range when a config is parsed, before anything is built, and ``carbonshift config-reference`` prints it.
This module only declares: it is the bottom layer (it imports nothing from carbonshift), so ``forecast``,
``scheduler`` and ``experiments`` all use the same declaration. A library object built directly in Python is not
range-checked by it.

The upper bounds below are the size limits that fields of more than one module use; a limit of one module's
fields lives in that module.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

#: upper bound of a day count a config names (data spans, training and calibration windows): ten years, longer
#: than any data set the project reads (1e9 days overflowed the date arithmetic at run time)
MAX_SPAN_DAYS = 3660
#: upper bound of an hour count a config names besides the forecast horizon (issue spacing, deadlines, warm-up,
#: window lengths): the span bound in hours
MAX_SPAN_H = MAX_SPAN_DAYS * 24
#: upper bound of boosting iterations per quantile model (forecast gbm max_iter, duration estimator max_iter;
#: shipped ≤ 300)
MAX_BOOSTING_ITER = 10_000
#: upper bound of a CPU or thread count a config names
MAX_CPUS = 1024
#: upper bound of a solver's time limit, seconds (a day)
MAX_SOLVER_S = 86_400


@dataclasses.dataclass(frozen=True)
class Range:
    """An open (``gt``, ``lt``) and/or closed (``ge``, ``le``) numeric range; ``None`` = no limit on that side."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def limits(self) -> list[tuple[str, float]]:
        """The set limits as (operator, limit) pairs, in the order >, ≥, <, ≤."""
        return [(op, v) for op, v in ((">", self.gt), ("≥", self.ge), ("<", self.lt), ("≤", self.le)) if v is not None]


def bounded(default: Any = dataclasses.MISSING, *, gt: float | None = None, ge: float | None = None,
            lt: float | None = None, le: float | None = None) -> Any:
    """A dataclass field with a numeric range checked at parse time, e.g. ``n_jobs: int = bounded(100, ge=1,
    le=10**7)``; ``None`` values (optional fields) are not checked."""
    return dataclasses.field(default=default, metadata={"range": Range(gt, ge, lt, le)})


def bounded_entries(default_factory: Callable[[], dict[str, Any]], **ranges: Range) -> Any:
    """A dataclass field mapping names to settings (``dict[str, dict[str, float]]``) whose numeric settings have
    ranges checked at parse time in every entry, e.g. ``overrides: dict[str, dict[str, float]] =
    bounded_entries(dict, gpus=Range(ge=1, le=10**6))``; a setting not named here is refused (a typo such as
    ``gpu:`` would otherwise be ignored)."""
    return dataclasses.field(default_factory=default_factory, metadata={"entry_ranges": ranges})


def field_range(field: dataclasses.Field) -> Range | None:
    """The range :func:`bounded` declared on ``field`` (None: none)."""
    return field.metadata.get("range")


def entry_ranges(field: dataclasses.Field) -> dict[str, Range]:
    """Setting name → range that :func:`bounded_entries` declared on ``field`` (empty: none)."""
    return dict(field.metadata.get("entry_ranges", {}))
