"""What a tune run's trials table (:mod:`experiments.tune_search`) yields: the best settings per model (the
content of ``best_params.json``), the validation MAPE table against seasonal-naive, and the run's metrics.

A model's best trial is its completed trial with the lowest ``val_mape`` (day-ahead MAPE, %, on the validation
window, mean over regions); trials stopped early or failed are never chosen.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

#: trial states of the trials table's ``status`` column
STATUSES = ("completed", "stopped_early", "error")


def best_settings(trials: pd.DataFrame, *, bases: dict[str, dict[str, Any]], sections: dict[str, type],
                  search: dict[str, dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """``best_params.json`` content: per model its full settings (``bases[model]`` with the searched keys of its
    best trial, None-valued settings left out), plus ``meta`` (given: objective, windows, regions …; added:
    ``not_tuned``, models none of whose trials completed, e.g. after an interrupt — they get no entry, so a
    backtest naming them in ``params_from`` fails clearly — and ``<model>_val_mape``). Raises ``ValueError``
    when no trial completed."""
    out: dict[str, Any] = {"meta": {**meta, "not_tuned": {}}}
    for model, group in trials.groupby("model", sort=False):
        done = group[group["status"] == "completed"]
        if done.empty:
            out["meta"]["not_tuned"][model] = (f"no trial completed ({group['status'].value_counts().to_dict()}; "
                                               f"first error: {group['error'].iloc[0] or 'none'})")
            continue
        best = done.loc[done["val_mape"].idxmin()]
        params = {**bases[model], **{k: typed(sections[model], k, best[k]) for k in search[model]}}
        out[model] = {k: v for k, v in params.items() if v is not None}
        out["meta"][f"{model}_val_mape"] = float(best["val_mape"])
    if len(out) == 1:
        raise ValueError(f"tune: no trial completed: {out['meta']['not_tuned']}")
    return out


def typed(section: type, key: str, value: Any) -> int | float:
    """A sampled setting as its section field's type: the trials table holds integer settings as floats once
    models with different settings share it (NaN fills), but ``params_from`` accepts only integers for them."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(next(f for f in dataclasses.fields(section) if f.name == key).default, float):
        return float(value)
    if float(value) != int(value):
        raise ValueError(f"tune: {key} = {value!r} is not an integer")
    return int(value)


def validation_table(trials: pd.DataFrame, seasonal: dict[str, float]) -> pd.DataFrame:
    """Validation day-ahead MAPE (%) per region: seasonal24, and per model its configured and best trial."""
    rows = [{"model": "seasonal24", **seasonal}]
    cols = [f"val_mape.{r}" for r in seasonal]
    for model, group in trials[trials["status"] == "completed"].groupby("model", sort=False):
        picks = {f"{model} (configured)": group[group["settings"] == "configured"],
                 f"{model} (tuned best)": group.loc[[group["val_mape"].idxmin()]]}
        rows += [{"model": name, **dict(zip(seasonal, pick[cols].iloc[0]))} for name, pick in picks.items()
                 if not pick.empty]
    table = pd.DataFrame(rows)
    table["mean"] = table[list(seasonal)].mean(axis=1)
    return table


def trial_metrics(trials: pd.DataFrame, best: dict[str, Any], models: list[str],
                  regions: list[str]) -> dict[str, float]:
    """Per model: ``trials.<model>.<status>`` (counts), and for a tuned model ``val_mape.<model>.best`` and
    ``val_mape.<model>.<region>`` (%) of its best trial."""
    out: dict[str, float] = {}
    for model in models:
        group = trials[trials["model"] == model]
        for status in STATUSES:
            out[f"trials.{model}.{status}"] = float((group["status"] == status).sum())
        if model not in best:
            continue
        out[f"val_mape.{model}.best"] = best["meta"][f"{model}_val_mape"]
        winner = group.loc[group["val_mape"].idxmin()]
        out.update({f"val_mape.{model}.{r}": float(winner[f"val_mape.{r}"]) for r in regions})
    return out
