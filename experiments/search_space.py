"""Search axes of a Ray Tune search as a config writes them, per setting of a model's section (a dataclass of
numeric settings): a list of values, or ``{low, high[, log]}`` (a range, high inclusive for integers). The one
place that reads that format: checked at parse time (:func:`check_spec`), turned into Ray Tune sampling
domains (:func:`search_space`), and the largest ``max_epochs`` a search may train (:func:`max_epochs_of`).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from carbonshift.experiments.config import check, check_range
from carbonshift.forecast.bounds import field_range


def check_spec(section: type, where: str, key: str, spec: Any) -> None:
    """Config check of one search axis: a known numeric setting of ``section`` and a non-empty list of values
    of its type, or ``{low, high[, log]}`` with low < high (and low > 0 when log), every value (list) or both ends
    inside the setting's declared range (:func:`forecast.bounds.bounded`) — as when the setting is configured."""
    fields = {f.name: f for f in dataclasses.fields(section) if f.name != "params_from"}
    check(key in fields, where, f"not a setting of this model (known: {sorted(fields)})")
    is_float = isinstance(fields[key].default, float)

    def ok(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and (is_float or isinstance(v, int))

    kind = "numbers" if is_float else "integers"
    if isinstance(spec, list):
        check(bool(spec) and all(ok(v) for v in spec), where, f"expected a non-empty list of {kind}, got {spec!r}")
        values = {f"{where}[{i}]": v for i, v in enumerate(spec)}
    else:
        check(isinstance(spec, dict) and set(spec) <= {"low", "high", "log"} and {"low", "high"} <= set(spec), where,
              f"expected a list of values or {{low, high, log}}, got {spec!r}")
        check(ok(spec["low"]) and ok(spec["high"]) and spec["low"] < spec["high"], where,
              f"low and high must be {kind} with low < high, got {spec!r}")
        check(isinstance(spec.get("log", False), bool) and (not spec.get("log") or spec["low"] > 0), where,
              "log must be true/false, and low > 0 for a log scale")
        values = {f"{where}.low": spec["low"], f"{where}.high": spec["high"]}
    rng = field_range(fields[key])
    if rng is not None:
        for at, value in values.items():
            check_range(value, rng, at)


def search_space(section: type, space: dict[str, Any]) -> dict[str, Any]:
    """Ray Tune sampling domains: a list → ``choice``; ``{low, high}`` → ``uniform``/``loguniform`` for float
    settings, ``randint``/``lograndint`` (high inclusive) for integer ones."""
    from ray import tune

    floats = {f.name for f in dataclasses.fields(section) if isinstance(f.default, float)}
    out = {}
    for key, spec in space.items():
        if isinstance(spec, list):
            out[key] = tune.choice(spec)
        elif key in floats:
            out[key] = (tune.loguniform if spec.get("log") else tune.uniform)(spec["low"], spec["high"])
        else:
            out[key] = (tune.lograndint if spec.get("log") else tune.randint)(spec["low"], spec["high"] + 1)
    return out


def max_epochs_of(base: dict[str, Any], space: dict[str, Any]) -> int:
    """The largest ``max_epochs`` a trial may train (ASHA's ``max_t`` is one more: the final report)."""
    spec = space.get("max_epochs", base["max_epochs"])
    return int(max(spec) if isinstance(spec, list) else spec["high"] if isinstance(spec, dict) else spec)
