"""Rolling-origin backtest: fit on the training window, forecast every day of a validation and a test
window from a fixed issue hour using only data before it, combine members with the configured weighting
(:class:`forecast.ensemble.Weighting`) and calibrate intervals with the configured calibration
(:class:`forecast.calibration.Calibration`), both fitted on validation forecasts and, when they roll, on
errors already observed at each issue — the test window's actuals are never used before they are observed.
``forecast train``/``predict`` (:mod:`forecast.artifact`) run the same objects from the same
:class:`PipelineSettings`.

Issue convention: test day D (UTC) is forecast from ``D 00:00 − (24 − issue_hour) h``; with the default
issue hour 23 that is 23:00 UTC the day before, horizons 1–24 h are D's 24 hours (the day-ahead forecast
scored against DACF) and horizons up to ``horizon`` (≤ ``MAX_HORIZON_H`` = 168) reach further.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd
from tqdm.auto import tqdm

from carbonshift.forecast.calibration import Calibration, StaticCQR
from carbonshift.forecast.data.schema import MAX_HORIZON_H
from carbonshift.forecast.ensemble import ErrorWeightedEnsemble, Weighting
from carbonshift.forecast.models.base import Forecaster, check_forecast_table


@dataclass(frozen=True)
class Windows:
    """Day ranges (UTC dates, inclusive) of the training, validation/calibration and test windows."""

    train_start: pd.Timestamp | None
    train_end: pd.Timestamp
    val_start: pd.Timestamp
    val_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    @classmethod
    def from_strings(cls, train_start: str | None, train_end: str, val_start: str, val_end: str, test_start: str,
                     test_end: str) -> Windows:
        ts = lambda s: None if s is None else pd.Timestamp(s, tz="UTC")  # noqa: E731
        w = cls(ts(train_start), ts(train_end), ts(val_start), ts(val_end), ts(test_start), ts(test_end))
        if not (w.train_end < w.val_start <= w.val_end < w.test_start <= w.test_end):
            raise ValueError(f"windows must be ordered train < validation < test, got {w}")
        return w


def issue_times(first_day: pd.Timestamp, last_day: pd.Timestamp, issue_hour: int) -> pd.DatetimeIndex:
    """One issue per target day in [first_day, last_day]: ``day − (24 − issue_hour) h``."""
    days = pd.date_range(first_day.normalize(), last_day.normalize(), freq="D")
    return days - pd.Timedelta(hours=24 - issue_hour)


def extend_panel(panel: pd.DataFrame, hours: int) -> pd.DataFrame:
    """Append ``hours`` empty (all-NaN) hours per region so horizons may run past the data end."""
    last = panel.groupby("region", sort=False)["time"].max()
    pad = [pd.DataFrame({"region": r, "time": pd.date_range(t + pd.Timedelta(hours=1), periods=hours, freq="h")})
           for r, t in last.items()]
    return pd.concat([panel, *pad], ignore_index=True).sort_values(["region", "time"], kind="stable",
                                                                    ignore_index=True)


@dataclass
class BacktestResult:
    """``forecasts``: tidy table (model, window, forecast columns, actual) incl. ``ensemble``;
    ``weights``/``corrections``: fitted ensemble weights and CQR corrections; ``timings``: seconds per fit
    (model, step, origin: the fit's cut-off, refit_every_days, fit_s, predict_s); ``dropped``: every member's
    share of (issue ×) region × bucket cells with weight 0 and why (:meth:`forecast.ensemble.Weighting.dropped`)."""

    forecasts: pd.DataFrame
    weights: pd.DataFrame
    corrections: pd.DataFrame
    timings: pd.DataFrame
    raw_ensemble: pd.DataFrame = field(default_factory=pd.DataFrame)
    dropped: pd.DataFrame = field(default_factory=pd.DataFrame)


def _attach_actual(table: pd.DataFrame, actual: pd.Series) -> pd.DataFrame:
    table = table.copy()
    table["actual"] = actual.reindex(pd.MultiIndex.from_frame(table[["region", "time"]])).to_numpy(float)
    return table


@dataclass(frozen=True)
class PipelineSettings:
    """What the backtest and ``forecast train`` run, built once from the config
    (:func:`experiments.backtest_inputs.pipeline_settings`): issue hour (UTC), horizon (h), the ensemble
    ``members`` (None: every model), the ``weighting`` and ``calibration`` objects (unfitted templates: each
    run fits :meth:`~forecast.ensemble.Weighting.clone` copies), each member's refit schedule
    ``refit_every_days`` (member → days; a member not named keeps its class's
    :attr:`~forecast.models.base.Forecaster.refit_every_days`; 0 = fitted once at the cut-off) — the backtest
    refits on it over the test window, a trained forecaster's predict at the same issues — and, for the
    backtest only, whether members are refitted at the test window's start (``refit_before_test``)."""

    issue_hour: int = 23
    horizon: int = 48
    members: tuple[str, ...] | None = None
    weighting: Weighting = field(default_factory=ErrorWeightedEnsemble)
    calibration: Calibration = field(default_factory=StaticCQR)
    refit_every_days: Mapping[str, int] = field(default_factory=dict)
    refit_before_test: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.horizon <= MAX_HORIZON_H:
            raise ValueError(f"horizon must be 1–{MAX_HORIZON_H} h, got {self.horizon}")
        if not 0 <= self.issue_hour <= 23:
            raise ValueError(f"issue_hour must be 0–23, got {self.issue_hour}")
        bad = {m: d for m, d in self.refit_every_days.items() if not isinstance(d, int) or d < 0}
        if bad:
            raise ValueError(f"refit_every_days must be whole days ≥ 0 (0: fit once), got {bad}")
        if self.weighting.buckets != self.calibration.buckets:
            raise ValueError(f"weighting and calibration use different horizon buckets: {self.weighting.buckets} "
                             f"vs {self.calibration.buckets}")

    def member_names(self, models: Mapping[str, object]) -> list[str]:
        """The ensemble members among ``models``; ``ValueError`` unless a non-empty subset."""
        members = list(models) if self.members is None else list(self.members)
        unknown = [m for m in members if m not in models]
        if unknown or not members:
            raise ValueError(f"ensemble members {unknown or members} must be a non-empty subset of {list(models)}")
        return members

    def refit_days(self, name: str, model: Forecaster | type[Forecaster]) -> int:
        """Member ``name``'s refit schedule (days; 0: fitted once): the configured one, else the default of
        ``model``'s class."""
        cls = model if isinstance(model, type) else type(model)
        return int(self.refit_every_days.get(name, cls.refit_every_days))


#: ``monitor(fit, epoch, metrics)``: per-epoch report of a member that trains in epochs; ``fit`` names the fit
#: (``<target>.<member>.<step>``, step ``validation`` or ``test<k>``), metrics as in
#: :data:`forecast.models.base.TrainingMonitor`.
FitMonitor = Callable[[str, int, Mapping[str, float]], None]


def refit_origins(first: pd.Timestamp, issues: pd.DatetimeIndex, every_days: int) -> pd.DatetimeIndex:
    """The fit cut-off serving each issue under a refit schedule starting at issue ``first``:
    ``first + ⌊(issue − first) / every_days⌋ · every_days`` days (``every_days`` 0: ``first`` for all). The
    model serving an issue was fitted on hours strictly before its origin, which is ≤ the issue."""
    if every_days <= 0:
        return pd.DatetimeIndex([first] * len(issues))
    step = pd.Timedelta(days=every_days)
    return first + ((issues - first) // step) * step


def fit_member(factory: Callable[[], Forecaster], data: pd.DataFrame, target: str, until: pd.Timestamp,
               monitor: FitMonitor | None = None, fit_name: str = "") -> Forecaster:
    """A fresh forecaster from ``factory`` fitted on ``data`` hours before ``until``; a member that trains in
    epochs reports each to ``monitor`` as fit ``fit_name``."""
    model = factory()
    options = {}
    if monitor is not None and model.reports_epochs:
        options["monitor"] = lambda epoch, metrics: monitor(fit_name, epoch, metrics)
    return model.fit(data, target, until=until, **options)


def run_backtest(panel: pd.DataFrame, target: str, models: Mapping[str, Callable[[], Forecaster]], windows: Windows,
                 settings: PipelineSettings = PipelineSettings(), *, progress: bool = True,
                 monitor: FitMonitor | None = None) -> BacktestResult:
    """Backtest every model factory in ``models`` on ``panel[target]`` over ``windows``.

    Models are fitted on hours before the validation window and forecast it; for the test window they are
    refitted on all hours before it (``settings.refit_before_test``) and, for a member whose refit schedule
    (:meth:`PipelineSettings.refit_days`) is > 0, again every that many days on all hours before each
    :func:`refit_origins` origin. Members that train in epochs report each to ``monitor``. ``settings.members``
    (default: all models) are combined into ``ensemble`` by ``settings.weighting`` (fitted on the validation
    forecasts, then combining validation and test issues together, so rolling weights carry over; ``weights``
    then holds the test issues' rows). Every model's and the ensemble's intervals are calibrated by a clone of
    ``settings.calibration`` fitted on its validation forecasts (the validation window itself gets the static
    in-sample CQR; its ``corrections`` are reported)."""
    if not models:
        raise ValueError("no models to backtest")
    members = settings.member_names(models)
    horizon = settings.horizon
    actual = panel.set_index(["region", "time"])[target]
    data = panel if windows.train_start is None else panel[panel["time"] >= windows.train_start]
    data = extend_panel(data, horizon)
    val_issues = issue_times(windows.val_start, windows.val_end, settings.issue_hour)
    test_issues = issue_times(windows.test_start, windows.test_end, settings.issue_hour)
    fit_train_end = windows.train_end + pd.Timedelta(days=1)
    bar = tqdm(total=len(models), desc=f"backtest {target}", disable=not progress, leave=False)
    val_tables: dict[str, pd.DataFrame] = {}
    test_tables: dict[str, pd.DataFrame] = {}
    timings = []
    for name, factory in models.items():
        bar.set_postfix(member=name, fit="validation")
        t0 = time.perf_counter()
        until = min(fit_train_end, val_issues[0])
        model = fit_member(factory, data, target, until, monitor, f"{target}.{name}.validation")
        t1 = time.perf_counter()
        val = model.predict(data, val_issues, horizon)
        val_tables[name] = val[val["time"] < test_issues[0]].reset_index(drop=True)  # never score on test hours
        every = settings.refit_days(name, model)
        timings.append({"model": name, "step": "validation", "origin": until, "refit_every_days": every,
                        "fit_s": t1 - t0, "predict_s": time.perf_counter() - t1})
        origins = refit_origins(test_issues[0], test_issues, every)
        parts = []
        for k, origin in enumerate(origins.unique()):
            chunk = test_issues[origins == origin]
            bar.set_postfix(member=name, fit=f"test {k + 1}/{origins.nunique()}")
            t0 = time.perf_counter()
            if settings.refit_before_test or k > 0:   # targets strictly before the origin (≤ its issues)
                model = fit_member(factory, data, target, origin, monitor, f"{target}.{name}.test{k}")
            t1 = time.perf_counter()
            parts.append(model.predict(data, chunk, horizon))
            timings.append({"model": name, "step": f"test[{k}]", "origin": origin, "refit_every_days": every,
                            "fit_s": t1 - t0, "predict_s": time.perf_counter() - t1})
        bar.update(1)
        test_tables[name] = pd.concat(parts, ignore_index=True)
        for table, where in ((val_tables[name], "validation"), (test_tables[name], "test")):
            check_forecast_table(table, f"{name} {where} forecasts")
    bar.close()
    ens = settings.weighting.clone().fit({m: val_tables[m] for m in members}, actual)
    both = ens.combine({m: pd.concat([val_tables[m], test_tables[m]], ignore_index=True) for m in members}, actual)
    in_test = (both["issue_time"] >= test_issues[0]).to_numpy()
    val_tables["ensemble"] = both[~in_test].reset_index(drop=True)
    test_tables["ensemble"] = both[in_test].reset_index(drop=True)
    weights = ens.fitted_weights
    if "issue_time" in weights.columns:   # weights per issue: keep the test issues'
        ens.weights = weights[weights["issue_time"] >= test_issues[0]].reset_index(drop=True)
    raw = _attach_actual(test_tables["ensemble"], actual).assign(model="ensemble", window="test")
    frames, corrections = [], []
    for name in [*models, "ensemble"]:
        val = _attach_actual(val_tables[name], actual)
        cal = settings.calibration.clone().fit(val)
        corrections.append(cal.fitted_corrections.assign(model=name))
        frames.append(cal.static.transform(val).assign(model=name, window="validation"))
        test = cal.calibrate(val, _attach_actual(test_tables[name], actual))
        frames.append(test.assign(model=name, window="test"))
    forecasts = pd.concat(frames, ignore_index=True)
    lead = ["model", "window"]
    forecasts = forecasts[lead + [c for c in forecasts.columns if c not in lead]]
    return BacktestResult(forecasts, ens.weights, pd.concat(corrections, ignore_index=True), pd.DataFrame(timings),
                          raw, ens.dropped())
