"""Forecaster lifecycle: fit an ensemble once, save it as an artifact folder, load it elsewhere, predict.

:func:`train` runs the backtest's pipeline (:func:`forecast.backtest.run_backtest`, the same
:class:`forecast.backtest.PipelineSettings`) exactly up to its first test issue: members are fitted on hours
before the validation window and forecast it; the weighting (:class:`forecast.ensemble.Weighting`) and the
calibration (:class:`forecast.calibration.Calibration`) are fitted on those validation forecasts; then the
members are refitted on every hour before the cut-off — the first issue after the validation window
(``val_end + 1 day − (24 − issue_hour) h``), which is also where the backtest refits for its test window. A
:class:`TrainedForecaster` then predicts any issue time ≥ that cut-off from a panel (target hours before
the issue, known-future covariates after it) and returns the calibrated ensemble forecast table
(``model`` = :attr:`TrainedForecaster.label`, then :data:`forecast.data.schema.FORECAST_COLUMNS`; the
scheduler's ``forecast.source: table``).

When the weighting or the calibration rolls (its ``lookback_days`` > 0) predict mirrors the backtest's online
steps: the artifact keeps the members' validation forecasts (with their actuals). Predicting at T
re-forecasts, with the saved members (no refit), the daily issues T − k days (k = 1 … the weighting's + the
calibration's look-back, those ≥ the cut-off; every daily issue from the cut-off for the adaptive calibration,
whose online state starts there, so its predict cost grows with the time since the cut-off) from the given history — each past forecast sees only targets
before its own issue, and only actuals before the last requested issue score them — then combines every issue
with the weighting on that pool (validation forecasts + re-forecasts) and calibrates with the calibration,
exactly as :func:`forecast.backtest.run_backtest` does at the same issue.

Refit schedules (``PipelineSettings.refit_every_days``; :attr:`TrainedForecaster.refit_every_days`): a member
with a schedule of d > 0 days is served at issue T by the model fitted on the history before T's origin
(:func:`forecast.backtest.refit_origins` from the cut-off, the backtest's own rule): the saved member up to
cut-off + d days, after that a refit on the predict panel's hours before the origin (from ``train_start``),
made once per origin and predict call — so predict needs the training history too and costs a fit per origin
it reaches.

Artifact folder (``FORMAT`` = ``carbonshift-forecaster/2``)::

    forecaster.json             format, target, issue_hour, horizon_h, buckets, cutoff (UTC), the weighting
                                (``ensemble``) and calibration specs, members [{name, class, folder, libraries}],
                                data spec, the full run config, code version (package version, git commit) and
                                numpy / pandas versions
    members/<name>/             each fitted member as it saves itself (:meth:`forecast.models.base.Forecaster.save`:
                                model.pkl + model.json with its class, hyperparameters, sha256 and the versions
                                of every library it needs — torch, lightning, pytorch-forecasting, prophet,
                                scikit-learn … as its class declares)
    ensemble_weights.parquet    region, bucket, model, mae, weight (the fitted ensemble); rolling: the
                                validation issues' rolling weights (issue_time, …, loss, n, weight, basis)
    conformal_corrections.parquet  region, bucket, level, q_hat, n (CQR fitted on the validation window;
                                rolling calibration falls back to it where its window is empty)
    validation_forecasts.parquet   rolling only: model, forecast columns, actual (the members' validation
                                forecasts, issues before the cut-off)

``carbonshift forecast train`` wraps this folder in an MLflow pyfunc model (``MLmodel`` at the top, the folder
under ``data/forecaster``, loader :func:`_load_pyfunc`), so ``mlflow.pyfunc.load_model("runs:/<id>/forecaster")
.predict(history)`` works too (:class:`PyfuncForecaster`).

Pickles run code when loaded: load only artifacts you (or your MLflow server) produced. Loading refuses a
different numpy / pandas version than the one that saved, and each member a different version of any library
its class requires (:func:`forecast.models.base.load_forecaster`; the error names the library and both versions).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carbonshift.forecast import version
from carbonshift.forecast.backtest import (FitMonitor, PipelineSettings, Windows, extend_panel, fit_member,
                                           issue_times, refit_origins)
from carbonshift.forecast.calibration import Calibration, calibration_from_spec
from carbonshift.forecast.data.schema import FORECAST_COLUMNS, TARGETS
from carbonshift.forecast.ensemble import Weighting, dropped_summary, ensemble_label, weighting_from_spec
from carbonshift.forecast.metrics import score_by
from carbonshift.forecast.models.base import (BASE_REQUIRES, Forecaster, as_issue_index, check_forecast_table,
                                              check_library_versions, load_forecaster)

log = logging.getLogger(__name__)
FORMAT = "carbonshift-forecaster/2"
_PINNED_LIBS = BASE_REQUIRES   # the artifact's own tables; each member checks the libraries it requires


def code_version() -> dict[str, str]:
    """Package version, git commit of the checkout and whether tracked files had uncommitted changes
    (``"not a git checkout"`` when installed elsewhere), the run-level :func:`forecast.version.code_version`
    string, and the numpy / pandas versions (the members record the libraries they need themselves)."""
    state = version.git_state()
    commit, dirty = (state[0], "yes" if state[1] else "no") if state else ("not a git checkout", "unknown")
    return {"carbonshift": metadata.version("carbonshift"), "git_commit": commit, "git_dirty": dirty,
            "code_version": version.describe(state), **{lib: metadata.version(lib) for lib in _PINNED_LIBS}}


@dataclass
class TrainedForecaster:
    """A fitted ensemble: ``members`` (name → fitted forecaster), ``weighting`` (a fitted
    :class:`forecast.ensemble.Weighting`: fixed weights, or rolling ones refitted at every issue) and
    ``calibration`` (a :class:`forecast.calibration.Calibration` fitted on the validation window), valid for
    issue times ≥ ``cutoff`` (UTC); ``validation``: the members' validation forecasts with ``actual``
    (``model`` + forecast columns + ``actual``), required when the weighting or the calibration rolls;
    ``refit_every_days``: each member's refit schedule (days, 0: never; module docstring), ``train_start``: the
    first hour refits train on (None: all); ``validation_scores``: :func:`forecast.metrics.score_by` of the
    members' and the (uncalibrated) ensemble's validation forecasts per model × region (set by :func:`train`,
    not saved)."""

    target: str
    issue_hour: int
    horizon: int
    cutoff: pd.Timestamp
    members: dict[str, Forecaster]
    weighting: Weighting
    calibration: Calibration
    config: dict[str, Any] = field(default_factory=dict)
    version: dict[str, str] = field(default_factory=code_version)
    validation: pd.DataFrame | None = None
    refit_every_days: dict[str, int] = field(default_factory=dict)
    train_start: pd.Timestamp | None = None
    validation_scores: pd.DataFrame | None = None
    _refits: dict[tuple[str, pd.Timestamp], Forecaster] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.rolling and self.validation is None:
            raise ValueError("a rolling forecaster (rolling weights or calibration) needs the members' "
                             "validation forecasts")

    def _member_tables(self, history: pd.DataFrame, issues: pd.DatetimeIndex) -> dict[str, pd.DataFrame]:
        """Member name → its forecast table for ``issues`` (sorted), each issue forecast by the member fitted at
        its refit origin (module docstring); refits train on ``history`` hours before the origin."""
        out = {}
        for name, member in self.members.items():
            origins = refit_origins(self.cutoff, issues, self.refit_every_days.get(name, 0))
            parts = []
            for origin in origins.unique():
                model = member if origin == self.cutoff else self._refit(name, origin, history)
                parts.append(model.predict(history, issues[origins == origin], self.horizon))
            out[name] = pd.concat(parts, ignore_index=True)
            check_forecast_table(out[name], f"{name} forecasts issued {issues[0]} … {issues[-1]}")
        return out

    def _refit(self, name: str, origin: pd.Timestamp, history: pd.DataFrame) -> Forecaster:
        """Member ``name`` refitted on ``history`` hours before ``origin`` (cached per predict call)."""
        key = (name, origin)
        if key not in self._refits:
            data = history if self.train_start is None else history[history["time"] >= self.train_start]
            log.info("%s: refit at %s (refit_every_days %d)", name, origin, self.refit_every_days[name])
            self._refits[key] = fit_member(self.members[name].unfitted, data, self.target, origin)
        return self._refits[key]

    def dropped(self) -> pd.DataFrame:
        """Per member: share of region × bucket (× validation issue) cells with weight 0 and why
        (:func:`forecast.ensemble.dropped_summary`)."""
        return dropped_summary(self.weighting.dropped())

    @property
    def buckets(self) -> list[int]:
        """Horizon bucket edges (h) of the weights and corrections."""
        return self.weighting.buckets

    @property
    def rolling(self) -> bool:
        """Whether weights or conformal corrections are refitted at every issue (see the module docstring)."""
        return self.lookback_days > 0

    @property
    def lookback_days(self) -> int:
        """Days of past daily issues re-forecast before each predicted issue (0 when nothing rolls)."""
        return self.weighting.lookback_days + self.calibration.lookback_days

    def predict(self, panel: pd.DataFrame, issue_times: pd.Timestamp | pd.DatetimeIndex) -> pd.DataFrame:
        """Calibrated ensemble forecast table for each issue time (UTC hours, ≥ ``cutoff``), horizons
        1 … ``horizon`` h, for every region of ``panel``, sorted by (region, issue_time, time). For each issue,
        target values at or after it are masked before the members see the panel (only known-future ``fc_*``
        covariates and the calendar reach past it)."""
        issues = as_issue_index(issue_times)
        if issues[0] < self.cutoff:
            raise ValueError(f"issue time {issues[0]} is before the training cut-off {self.cutoff}: the members "
                             "were fitted on those hours (use the backtest for in-sample periods)")
        trained = self.regions
        regions = sorted(set(panel["region"]))
        unknown = [r for r in regions if r not in trained]
        if unknown:
            raise ValueError(f"region(s) {unknown} were not in the training data ({trained})")
        self._refits.clear()
        if self.rolling:
            out, label = self._predict_rolling(panel, regions, issues)
        else:
            out = pd.concat([self._predict_one(panel, regions, t) for t in issues], ignore_index=True)
            label = self.label
        out = out[list(FORECAST_COLUMNS)].sort_values(["region", "issue_time", "time"], ignore_index=True)
        out.insert(0, "model", label)
        return out

    @property
    def regions(self) -> list[str]:
        """The regions the forecaster was trained on."""
        return sorted(set(self.calibration.fitted_corrections["region"]))

    @property
    def label(self) -> str:
        """What the forecast is: ``ensemble(gbm 0.62, seasonal24 0.38)+cqr`` (mean weights over regions ×
        buckets), or ``<member>+cqr`` when pruning left one member with positive weight. Rolling ensemble:
        ``ensemble(…)+rolling14d+cqr`` with the weights of the last validation issue (a predicted table's
        ``model`` carries the mean weights of its own issues)."""
        weights = self.weighting.fitted_weights
        if "issue_time" in weights.columns:
            weights = weights[weights["issue_time"] == weights["issue_time"].max()]
        return ensemble_label(weights, self._label_suffix)

    @property
    def _label_suffix(self) -> str:
        return f"{self.weighting.label_suffix}+cqr"

    def _check_reaches(self, observed: pd.DataFrame, regions: list[str], issues: pd.DatetimeIndex,
                       what: str) -> None:
        """``ValueError`` unless the target is observed in the hour before every issue, for every region."""
        have = pd.MultiIndex.from_frame(observed.loc[observed[self.target].notna(), ["region", "time"]])
        need = pd.MultiIndex.from_product([regions, issues - pd.Timedelta(hours=1)], names=["region", "time"])
        missing = need[~need.isin(have)]
        if len(missing):
            shown = ", ".join(f"{r} {t + pd.Timedelta(hours=1):%Y-%m-%d %H:%M} UTC" for r, t in list(missing)[:3])
            raise ValueError(f"no observed {self.target} in the hour before {len(missing)} {what} issue time(s) "
                             f"(e.g. {shown}); the history must reach each issue")

    def _past_issues(self, issues: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """Daily issues T − k days (k = 1 … :attr:`lookback_days`) of every requested T — every daily issue
        from the cut-off when the calibration carries online state (``since_start``) — at or after the cut-off,
        that are not requested themselves."""
        if self.calibration.since_start:
            past = pd.date_range(self.cutoff, issues[-1], freq="D")
        else:
            days = pd.to_timedelta(np.arange(1, self.lookback_days + 1), unit="D")
            past = pd.DatetimeIndex(sorted({t - d for t in issues for d in days}))
        return past[(past >= self.cutoff) & ~past.isin(issues)]

    def _predict_rolling(self, panel: pd.DataFrame, regions: list[str], issues: pd.DatetimeIndex
                         ) -> tuple[pd.DataFrame, str]:
        """Re-forecast the past issues, weight and calibrate every issue as the backtest does (module docstring);
        returns the requested issues' calibrated table and its label."""
        last = issues[-1]
        past = self._past_issues(issues)
        self._check_reaches(panel, regions, issues, "requested")
        self._check_reaches(panel, regions, past, "past (re-forecast)")
        history = panel[panel["region"].isin(regions)].copy()
        history.loc[(history["time"] >= last).to_numpy(), [c for c in TARGETS if c in history.columns]] = np.nan
        observed = history.set_index(["region", "time"])[self.target].dropna()
        if self.validation is None:
            raise RuntimeError("rolling forecaster without validation forecasts (checked at construction)")
        val = self.validation[self.validation["region"].isin(regions)]
        stored = val.drop_duplicates(["region", "time"]).set_index(["region", "time"])["actual"].dropna()
        actual = stored.combine_first(observed)           # validation actuals as trained; after them, the history
        history = extend_panel(history, self.horizon + 1)
        pooled = past.append(issues).sort_values()
        pool = {name: pd.concat([val.loc[val["model"] == name, list(FORECAST_COLUMNS)], table], ignore_index=True)
                for name, table in self._member_tables(history, pooled).items()}
        combined, label = self._combine_rolling(pool, actual, issues, past)
        combined["actual"] = actual.reindex(pd.MultiIndex.from_frame(combined[["region", "time"]])).to_numpy(float)
        after = (combined["issue_time"] >= self.cutoff).to_numpy()
        table = self.calibration.calibrate(combined[~after], combined[after])
        return table[table["issue_time"].isin(issues)].drop(columns="actual"), label

    def _combine_rolling(self, pool: dict[str, pd.DataFrame], actual: pd.Series, issues: pd.DatetimeIndex,
                         past: pd.DatetimeIndex) -> tuple[pd.DataFrame, str]:
        """Ensemble of the pooled member tables (rolling or static weights) and the label of ``issues``.
        Raises when a rolling cell of an issue that matters fell back to earlier errors (``expanding``) while
        daily issues between the cut-off and the last requested one were not re-forecast: that fallback would
        differ from the backtest's."""
        if self.weighting.lookback_days == 0:
            return self.weighting.combine(pool), self.label
        ens = self.weighting.clone()
        combined = ens.combine(pool, actual)
        pooled = past.append(issues).sort_values()
        skipped = (pooled[0] - pd.Timedelta(days=1) >= self.cutoff
                   or bool((pooled[1:] - pooled[:-1] > pd.Timedelta(days=1)).any()))
        needed = ens.fitted_weights[ens.fitted_weights["issue_time"] >= issues[0] - pd.Timedelta(days=self.calibration.lookback_days)]
        fallback = needed[needed["basis"] != "window"].drop_duplicates(["issue_time", "region", "bucket"])
        if skipped and len(fallback):
            cell = fallback.iloc[0]
            raise ValueError(f"rolling ensemble: {len(fallback)} (issue, region, bucket) cell(s) have no observed "
                             f"member error in the last {ens.lookback_days} d (e.g. {cell['region']} bucket "
                             f"{cell['bucket']} at {cell['issue_time']:%Y-%m-%d %H:%M} UTC); the backtest then "
                             "uses every earlier error, which predict does not re-forecast — use a longer "
                             "ensemble_window_days or a shorter horizon")
        at = ens.fitted_weights[ens.fitted_weights["issue_time"].isin(issues)]
        return combined, ensemble_label(at, self._label_suffix)

    def _predict_one(self, panel: pd.DataFrame, regions: list[str], issue: pd.Timestamp) -> pd.DataFrame:
        history = panel.copy()
        future = (history["time"] >= issue).to_numpy()
        history.loc[future, [c for c in TARGETS if c in history.columns]] = float("nan")
        last = history[history[self.target].notna()].groupby("region")["time"].max().reindex(regions)
        stale = last[~(last == issue - pd.Timedelta(hours=1))]
        if len(stale):
            seen = ", ".join(f"{r} (last observed {t:%Y-%m-%d %H:%M} UTC)" if pd.notna(t) else f"{r} (none)"
                             for r, t in stale.items())
            raise ValueError(f"no observed {self.target} in the hour before the issue time {issue:%Y-%m-%d %H:%M} UTC "
                             f"for {seen}; the history must reach the issue")
        history = extend_panel(history, self.horizon + 1)   # target hours past the data end are NaN rows
        tables = self._member_tables(history, pd.DatetimeIndex([issue]))
        return self.calibration.calibrate(None, self.weighting.combine(tables))

    def save(self, folder: str | Path) -> Path:
        """Write the artifact folder (layout in the module docstring); returns it."""
        folder = Path(folder)
        (folder / "members").mkdir(parents=True, exist_ok=True)
        members = []
        for name, model in self.members.items():
            try:
                saved = model.save(folder / "members" / name)
            except ValueError as exc:
                raise ValueError(f"member {name!r}: {exc}") from exc
            members.append({"name": name, "class": saved["class"], "folder": f"members/{name}",
                            "libraries": saved["libraries"], "refit_every_days": self.refit_every_days.get(name, 0)})
        self.weighting.fitted_weights.to_parquet(folder / "ensemble_weights.parquet", index=False)
        self.calibration.fitted_corrections.to_parquet(folder / "conformal_corrections.parquet", index=False)
        if self.validation is not None:
            self.validation.to_parquet(folder / "validation_forecasts.parquet", index=False)
        manifest = {"format": FORMAT, "label": self.label, "target": self.target, "unit": TARGETS[self.target],
                    "issue_hour": self.issue_hour, "horizon_h": self.horizon, "buckets": self.buckets,
                    "cutoff": self.cutoff.isoformat(),
                    "train_start": None if self.train_start is None else self.train_start.isoformat(),
                    "members": members, "ensemble": self.weighting.spec(),
                    "calibration": self.calibration.spec(), "lookback_days": self.lookback_days, "config": self.config, "code_version": self.version}
        (folder / "forecaster.json").write_text(json.dumps(manifest, indent=1, default=str))
        return folder


def load(folder: str | Path) -> TrainedForecaster:
    """Read an artifact folder written by :meth:`TrainedForecaster.save`; clear errors on a wrong format,
    a tampered member file or library versions that differ from the saving environment."""
    folder = Path(folder)
    path = folder / "forecaster.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: not a forecaster artifact (no forecaster.json)")
    doc = json.loads(path.read_text())
    if doc.get("format") != FORMAT:
        raise ValueError(f"{path}: format {doc.get('format')!r}, this code reads {FORMAT!r}")
    check_library_versions({lib: doc["code_version"].get(lib) for lib in _PINNED_LIBS}, str(path))
    members = {m["name"]: load_forecaster(folder / m["folder"]) for m in doc["members"]}
    weighting = weighting_from_spec(doc["ensemble"], doc["buckets"])
    weighting.weights = pd.read_parquet(folder / "ensemble_weights.parquet")
    calibration = calibration_from_spec(doc["calibration"], doc["buckets"])
    calibration.static.corrections = pd.read_parquet(folder / "conformal_corrections.parquet")
    val_path = folder / "validation_forecasts.parquet"
    validation = pd.read_parquet(val_path) if val_path.is_file() else None
    refit = {m["name"]: int(m.get("refit_every_days", 0)) for m in doc["members"]}   # earlier artifacts: none
    start = doc.get("train_start")
    return TrainedForecaster(doc["target"], doc["issue_hour"], doc["horizon_h"], pd.Timestamp(doc["cutoff"]),
                             members, weighting, calibration, doc["config"], doc["code_version"], validation,
                             refit, None if start is None else pd.Timestamp(start))


def train(panel: pd.DataFrame, target: str, models: Mapping[str, Callable[[], Forecaster]], windows: Windows,
          settings: PipelineSettings = PipelineSettings(), *, config: dict[str, Any] | None = None,
          monitor: FitMonitor | None = None, score_h: int = 24) -> TrainedForecaster:
    """Fit the ensemble of ``models`` (name → factory, ≥ 2; ``settings.members`` selects among them) on
    ``panel[target]``: clones of ``settings.weighting`` and ``settings.calibration`` fitted on the validation
    window of ``windows`` (its test dates are not used), members refitted on every hour before the cut-off (the
    first issue after the validation window). Rolling weighting / calibration keep the validation forecasts
    for predict (module docstring), and each member's refit schedule (``settings.refit_days``) is kept for
    predict. Members that train in epochs report each to ``monitor`` (fits ``<target>.<member>.validation`` and
    ``.cutoff``). ``validation_scores`` scores horizons ≤ ``score_h`` h of the validation forecasts; members
    the weighting zeroed are logged (warning) with the reason."""
    models = {m: models[m] for m in settings.member_names(models)}
    if len(models) < 2:
        raise ValueError(f"an ensemble needs ≥ 2 members, got {list(models)}")
    if target not in panel.columns:
        raise ValueError(f"target {target!r} is not a panel column ({list(panel.columns)})")
    horizon = settings.horizon
    actual = panel.set_index(["region", "time"])[target]
    data = panel if windows.train_start is None else panel[panel["time"] >= windows.train_start]
    data = extend_panel(data, horizon)
    val_issues = issue_times(windows.val_start, windows.val_end, settings.issue_hour)
    cutoff = issue_times(windows.val_end + pd.Timedelta(days=1), windows.val_end + pd.Timedelta(days=1),
                         settings.issue_hour)[0]
    fit_until = min(windows.train_end + pd.Timedelta(days=1), val_issues[0])
    val_tables, members = {}, {}
    for name, factory in models.items():
        val = fit_member(factory, data, target, fit_until, monitor, f"{target}.{name}.validation")
        val = val.predict(data, val_issues, horizon)
        val_tables[name] = val[val["time"] < cutoff].reset_index(drop=True)
        check_forecast_table(val_tables[name], f"{name} validation forecasts")
        members[name] = fit_member(factory, data, target, cutoff, monitor, f"{target}.{name}.cutoff")
    weighting = settings.weighting.clone().fit(val_tables, actual)
    val_ens = weighting.combine(val_tables, actual)
    val_ens["actual"] = actual.reindex(pd.MultiIndex.from_frame(val_ens[["region", "time"]])).to_numpy(float)
    scored = pd.concat([val_ens.assign(model="ensemble (uncalibrated)"),
                        *(t.assign(model=n) for n, t in val_tables.items())], ignore_index=True)
    scored["actual"] = actual.reindex(pd.MultiIndex.from_frame(scored[["region", "time"]])).to_numpy(float)
    scores = score_by(scored[(scored["horizon_h"] <= score_h) & scored["actual"].notna()], ["model", "region"])
    calibration = settings.calibration.clone().fit(val_ens)
    validation = None
    if weighting.lookback_days + calibration.lookback_days > 0:
        validation = pd.concat([t.assign(model=name) for name, t in val_tables.items()], ignore_index=True)
        validation = validation[["model", *FORECAST_COLUMNS]]
        validation["actual"] = actual.reindex(pd.MultiIndex.from_frame(validation[["region", "time"]])).to_numpy(float)
    fitted = TrainedForecaster(target, settings.issue_hour, horizon, cutoff, members, weighting, calibration,
                               dict(config or {}), validation=validation,
                               refit_every_days={n: settings.refit_days(n, m) for n, m in members.items()},
                               train_start=windows.train_start, validation_scores=scores)
    for _, row in fitted.dropped().iterrows():
        if row["dropped_share"] > 0:
            log.warning("%s ensemble member %s has weight 0 in %.0f%% of region × bucket cells (%s)", target,
                        row["model"], 100 * row["dropped_share"], row["reason"])
    return fitted


class PyfuncForecaster:
    """MLflow pyfunc face of a :class:`TrainedForecaster` (``mlflow.pyfunc.load_model(uri).predict(history)``):
    ``history`` is a panel whose target is observed up to the hour before the issue time (rows after it may carry
    known-future ``fc_*`` covariates with the target NaN); the issue time is the hour after the last observed
    target hour, and the result is the calibrated ensemble forecast table issued then. A rolling forecaster
    also needs the :attr:`TrainedForecaster.lookback_days` before it (the re-forecast issues)."""

    def __init__(self, fitted: TrainedForecaster) -> None:
        self.fitted = fitted

    def predict(self, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        target = self.fitted.target
        if target not in model_input.columns or model_input[target].notna().sum() == 0:
            raise ValueError(f"pyfunc input: a panel with observed {target!r} values is required")
        panel = model_input.assign(time=pd.to_datetime(model_input["time"], utc=True))
        issue = panel.loc[panel[target].notna(), "time"].max() + pd.Timedelta(hours=1)
        return self.fitted.predict(panel, issue)


def _load_pyfunc(data_path: str) -> PyfuncForecaster:
    """MLflow ``loader_module`` hook: ``data_path`` is the artifact folder stored inside the MLflow model."""
    return PyfuncForecaster(load(data_path))
