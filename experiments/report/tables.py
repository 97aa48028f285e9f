"""The tables a report derives for one group of runs, from its metrics frame (:mod:`experiments.report.frame`)
or the tables its runs logged: Pareto (carbon vs completion time), operational vs transfer carbon, renewable
utilisation per region and the hour-of-day allocation matrix. Each is ``None`` when the runs logged nothing
to build it from."""
from __future__ import annotations

import pandas as pd

from carbonshift.experiments.figures import pareto_table as pareto_frame
from carbonshift.experiments.report.metric_names import SPLIT_METRICS, main_policy


def pareto_table(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Per policy: mean carbon (kgCO2e) and mean completion time (h), and whether it is Pareto-optimal
    (:func:`experiments.figures.pareto_table`)."""
    need = frame[frame["metric"].isin(["carbon_kg", "completion_h_mean"]) & (frame["policy"] != "")]
    if need.empty or need["metric"].nunique() < 2:
        return None
    cols = ["carbon_kg", "completion_h_mean"]
    bound = frame[(frame["metric"] == "oracle_bound_kg") & frame["policy"].astype(str).str.startswith("oracle")]
    notes = frame[frame["metric"].isin(["deadline_rate", "renewable_share"]) & (frame["policy"] != "")]
    table = pd.concat([need, bound, notes]).pivot_table(index="policy", columns="metric", values="value",
                                                        aggfunc="mean")
    table = table.dropna(subset=cols).reset_index()
    table.columns.name = None
    return pareto_frame(table)


def carbon_split(frame: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """Operational and transfer carbon (kgCO2e) per policy, from metrics or a logged table."""
    metrics = frame[frame["metric"].isin(SPLIT_METRICS) & (frame["policy"] != "")]
    if metrics["metric"].nunique() == 2:
        out = metrics.pivot_table(index="policy", columns="metric", values="value", aggfunc="mean").reset_index()
        return out.rename(columns=dict(zip(SPLIT_METRICS, ("operational_kg", "transfer_kg"))))
    for table in tables.values():
        for names in (SPLIT_METRICS, ("operational_kg", "transfer_kg")):
            if {"policy", *names} <= set(table.columns):
                out = table.groupby("policy", as_index=False)[list(names)].mean()
                return out.rename(columns=dict(zip(names, ("operational_kg", "transfer_kg"))))
    return None


def renewable_by_region(tables: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """Mean renewable utilisation per (policy, region) from the first table that has one."""
    for table in tables.values():
        col = next((c for c in table.columns if "renewable" in c), None)
        if col and "region" in table.columns and "hour" not in table.columns:
            by = [c for c in ("policy", "region") if c in table.columns]
            return table.groupby(by, as_index=False)[col].mean()
    return None


def hourly_allocation(tables: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, str, str] | None:
    """(rows × 24 hour-of-day matrix, row label, value label) from the first table with an hour column:
    long (``hour``, ``region``, value) or wide (``hour_utc`` + one column per region) format; with a
    ``policy`` column the main policy's rows, averaged over runs."""
    for table in tables.values():
        hour = next((c for c in ("hour_of_day", "hour", "hour_utc") if c in table.columns), None)
        if hour is None:
            continue
        policy = None
        if "policy" in table.columns:
            policy = main_policy(list(dict.fromkeys(table["policy"])))
            table = table[table["policy"] == policy]
        label = f"{policy}: " if policy else ""
        data = table.assign(_h=table[hour] % 24)
        if "region" in table.columns:
            value = next((c for c in table.columns if c not in (hour, "policy", "region", "run_id")
                          and pd.api.types.is_numeric_dtype(table[c])), None)
            if value is None:
                continue
            wide = data.pivot_table(index="region", columns="_h", values=value, aggfunc="mean")
            return wide.reindex(columns=range(24)).fillna(0.0), "region", label + value
        cols = [c for c in table.columns if c not in (hour, "policy", "run_id", "_h")
                and pd.api.types.is_numeric_dtype(table[c])]
        if cols:
            wide = data.groupby("_h")[cols].mean().T
            wide.index.name = "region"
            return wide.reindex(columns=range(24)).fillna(0.0), "region", label + "energy share (%)"
    return None
