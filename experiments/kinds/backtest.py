"""Experiment kind ``backtest``: rolling-origin forecast backtest of the configured models, the
error-weighted ensemble and conformal calibration (see :mod:`forecast.backtest`).

Metric names (flat floats): ``<metric>.<target>.<model>.<region>`` for metric in mape, mae, accuracy,
pinball, crps, picp50/80/90, width50/80/90 on the day-ahead test rows (horizons ≤ ``day_ahead_h``), plus
``<metric>.<target>.<model>.mean`` averaged over regions, ``mape.<target>.dacf.<region>`` for DACF's
published forecasts, and ``wall_s``. The calibrated test-window ensemble forecast table is a file
(``forecast_ensemble[_<target>].csv`` in the reports folder and under ``files/`` in MLflow; ``.parquet`` with
``output.table_format: parquet``), not a printed table.
With ``output.member_tables: true`` every member's test-window forecast is written the same way
(``forecast_<member>[_<target>].csv`` / ``.parquet``, same schema), with the conformal (CQR) intervals the
backtest fits for that member on validation / already-observed errors only, and its ``model`` column naming it
(``seasonal24+cqr``, ``lstm (CPU-sized)+cqr``) — so a sweep can schedule on each forecaster and measure its
interval coverage.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from carbonshift.experiments import decision_value, tracking
from carbonshift.experiments.config import ConfigError, bounded, check, parse, registry_sections
from carbonshift.experiments.decision_value import CI_TARGETS
from carbonshift.experiments.instances import MAX_SPAN_DAYS
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.forecast import report
from carbonshift.forecast.backtest import PipelineSettings, Windows, run_backtest
from carbonshift.forecast.calibration import ADAPTIVE_STEP, ADAPTIVE_WINDOW_DAYS, AdaptiveCQR, RollingCQR, StaticCQR
from carbonshift.forecast.data.dacf import read_dacf_forecasts
from carbonshift.forecast.data.electricitymaps import VALUE_COLUMNS
from carbonshift.forecast.data.panel import dacf_path, load_dacf_panel, load_panel
from carbonshift.forecast.data.schema import DEFAULT_BUCKETS, MAX_HORIZON_H, TARGETS
from carbonshift.forecast.ensemble import (ErrorWeightedEnsemble, RollingEnsemble, dropped_summary, ensemble_label,
                                           member_weights)
from carbonshift.forecast.metrics import score_by
from carbonshift.forecast.models.lstm import LSTMParams
from carbonshift.forecast.models.naive import NaiveParams
from carbonshift.forecast.models.neural import TrainerSettings
from carbonshift.forecast.models.registry import forecaster_class, forecaster_classes
from carbonshift.forecast.models.tft import TFTParams

log = logging.getLogger(__name__)


@dataclass
class DataSection:
    source: Literal["dacf", "electricitymaps"]
    regions: list[str]
    years: list[int] = field(default_factory=list)   # electricitymaps only; any years found in the data dir
    exclude_columns: list[str] = field(default_factory=list)   # value columns not read/validated (e.g. ci_lca)

    def __post_init__(self) -> None:
        check(bool(self.regions), "data.regions", "name at least one zone / region")
        excl = set(self.exclude_columns)
        check(excl <= set(VALUE_COLUMNS) and len(excl) < len(VALUE_COLUMNS), "data.exclude_columns",
              f"expected some (not all) of {list(VALUE_COLUMNS)}")


@dataclass
class WindowSection:
    """Inclusive UTC dates (YYYY-MM-DD)."""

    train_end: str
    val_start: str
    val_end: str
    test_start: str
    test_end: str
    train_start: str | None = None

    def __post_init__(self) -> None:
        try:
            Windows.from_strings(self.train_start, self.train_end, self.val_start, self.val_end, self.test_start,
                                 self.test_end)
        except ValueError as exc:
            check(False, "windows", str(exc))


@dataclass
class BacktestSection:
    issue_hour: int = 23
    horizon_h: int = 48   # longest forecast horizon, h (1 … 168 = MAX_HORIZON_H)
    day_ahead_h: int = 24
    refit_every_days: dict[str, int] = field(default_factory=dict)   # member → days between refits over the test window (0: fit once); a member not named: its model's default (prophet 28, gbm 91, others 0)
    refit_before_test: bool = True
    buckets: list[int] = field(default_factory=lambda: list(DEFAULT_BUCKETS))
    ensemble_power: float = 2.0
    ensemble_prune: float = 1.5
    ensemble_method: Literal["inverse_error", "stacking", "rolling"] = "inverse_error"
    ensemble_window_days: int = bounded(14, le=MAX_SPAN_DAYS)   # rolling: weights at each issue from the last N days of observed errors
    ensemble_loss: Literal["mape", "mae", "regret"] = "mape"   # rolling: error the weights invert (regret: single-job decision regret, 1–8 h jobs, 24–48 h slack)
    ensemble_members: list[str] = field(default_factory=list)   # empty: every non-naive model
    oracle_weather: bool = False   # observed obs_* weather as known-future input ("oracle weather")
    weather_forecasts: bool = False   # Open-Meteo fc_* forecasts from the data dir, published ≥ horizon_h before each hour
    calibration: Literal["static", "rolling", "adaptive"] = "adaptive"   # CQR fitted on validation; refitted at each issue; + online level (ACI)
    calibration_window_days: int = bounded(ADAPTIVE_WINDOW_DAYS, le=MAX_SPAN_DAYS)   # rolling/adaptive: days of already-observed errors the corrections are refitted on
    calibration_step: float = ADAPTIVE_STEP   # adaptive: per issue, the quantile level moves step × (miss rate − α) per region × bucket

    def __post_init__(self) -> None:
        check(0 <= self.issue_hour <= 23, "backtest.issue_hour", "must be 0–23 (UTC)")
        check(1 <= self.horizon_h <= MAX_HORIZON_H, "backtest.horizon_h", f"must be 1–{MAX_HORIZON_H} h")
        check(self.calibration_window_days >= 1, "backtest.calibration_window_days",
              "must be ≥ 1 day (for validation-only corrections set backtest.calibration: static)")
        check(self.calibration_step > 0, "backtest.calibration_step", "must be > 0")
        check(self.ensemble_window_days >= 1, "backtest.ensemble_window_days", "must be ≥ 1 day")
        check(self.ensemble_loss == "mape" or self.ensemble_method == "rolling", "backtest.ensemble_loss",
              "is the rolling weights' loss (set backtest.ensemble_method: rolling)")
        check(1 <= self.day_ahead_h <= self.horizon_h, "backtest.day_ahead_h", "must be 1 … horizon_h")
        for member, days in self.refit_every_days.items():
            check(days >= 0, f"backtest.refit_every_days.{member}", "must be ≥ 0 days (0 = fitted once)")
        check(self.buckets == sorted(self.buckets) and self.buckets[-1] >= self.horizon_h, "backtest.buckets",
              "must be ascending and end at ≥ horizon_h")


def apply_tuned(section: object, model: str) -> None:
    """Replace the fields of ``section`` (a :class:`LSTMSection` / :class:`TFTSection`) named in the ``model``
    entry of its ``params_from`` file (the ``best_params.json`` the ``tune`` kind writes; a relative path is
    looked up in the current folder, then the project root); other fields keep their configured values."""
    import json

    path = Path(section.params_from)
    if not path.is_absolute() and not path.exists():
        path = tracking.project_dir(str(path))
    key = "params_from"   # the parser prefixes models.<model>.
    check(path.is_file(), key, f"{section.params_from} not found (run the tune kind: carbonshift run "
                               f"experiments/configs/forecast_tune.yaml)")
    try:
        tuned = json.loads(path.read_text()).get(model)
    except (json.JSONDecodeError, AttributeError) as exc:
        raise ConfigError(f"{key}: {path} is not a tuning result ({exc})") from None
    check(isinstance(tuned, dict), key, f"{path} has no settings for {model!r}")
    fields = [f.name for f in dataclasses.fields(section) if f.name != "params_from"]
    for name in tuned:
        check(name in fields, key, f"{path}: {model}.{name} is not a {model} setting (known: {sorted(fields)})")
    try:   # the same typed, range-checked parse as the YAML (numbers, flags, choices, optional values)
        merged = parse({**{name: getattr(section, name) for name in fields}, **tuned}, type(section), str(path))
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    for name in tuned:
        setattr(section, name, getattr(merged, name))


@dataclass
class LSTMSection(LSTMParams):
    """``models.lstm``: the LSTM's hyperparameters (:class:`forecast.models.lstm.LSTMParams`) + ``params_from``."""

    params_from: str | None = None   # best_params.json of a tune run: its lstm settings replace these

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.params_from is not None:
            apply_tuned(self, "lstm")


@dataclass
class TFTSection(TFTParams):
    """``models.tft``: the TFT's hyperparameters (:class:`forecast.models.tft.TFTParams`) + ``params_from``."""

    params_from: str | None = None   # best_params.json of a tune run: its tft settings replace these

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.params_from is not None:
            apply_tuned(self, "tft")


#: Config sections of the forecasters a tune run can tune (their ``params_from`` reads its result).
TUNABLE: dict[str, type] = {"lstm": LSTMSection, "tft": TFTSection}


MODELS_HINT = ("add your own: @register_forecaster in a module named in CARBONSHIFT_FORECASTERS, "
               "see README 'Your own forecaster'")


def model_sections() -> dict[str, type]:
    """Config name → ``models.<name>`` section dataclass of every registered forecaster (built-ins, then those of
    ``CARBONSHIFT_FORECASTERS``): its ``Params``, with ``params_from`` for the tunable ones."""
    return {name: TUNABLE.get(name, cls.Params) for name, cls in forecaster_classes().items()}


@dataclass
class TrainerSection:
    """Lightning settings of the neural members (forecast.models.neural.TrainerSettings)."""

    accelerator: str = "auto"   # auto (GPU when visible), cpu, gpu, cuda, mps
    devices: int | str = 1   # device count, or auto; > 1 needs strategy ddp
    strategy: str = "auto"   # auto, single_device, ddp, ddp_spawn, ddp_find_unused_parameters_true
    precision: str = "auto"   # auto (bf16-mixed on CUDA, else 32-true), 32-true, 16-mixed, bf16-mixed, 64-true
    deterministic: bool = True   # reproducible kernels (slower on GPU)

    def __post_init__(self) -> None:
        try:
            self.settings()
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def settings(self) -> TrainerSettings:
        return TrainerSettings(**dataclasses.asdict(self))


@dataclass
class OutputSection:
    """Files a backtest writes besides the combined forecast table."""

    member_tables: bool = False   # also write forecast_<member>[_<target>].<format> per model (calibrated, test window)
    table_format: Literal["csv", "parquet"] = "csv"   # forecast tables' file format (parquet: ~10× smaller, faster to read)


@dataclass
class BacktestConfig:
    kind: str
    name: str
    data: DataSection
    windows: WindowSection
    targets: list[str] = field(default_factory=lambda: ["ci_direct"])
    backtest: BacktestSection = field(default_factory=BacktestSection)
    models: dict[str, Any] = registry_sections(model_sections, lambda: {"naive": NaiveParams()}, MODELS_HINT)   # registered forecasters (built-in or CARBONSHIFT_FORECASTERS plug-ins) → hyperparameters; absent = not run
    trainer: TrainerSection = field(default_factory=TrainerSection)   # LSTM/TFT members' Lightning settings
    output: OutputSection = field(default_factory=OutputSection)
    seed: int = 0

    def __post_init__(self) -> None:
        for t in self.targets:
            check(t in TARGETS, "targets", f"unknown target {t!r}; known: {sorted(TARGETS)}")
            check(t not in self.data.exclude_columns, "targets", f"target {t!r} is in data.exclude_columns")
        check(bool(self.models), "models", "configure at least one model")
        built = member_sections(self.models)
        unknown = [m for m in self.backtest.ensemble_members if m not in built]
        check(not unknown, "backtest.ensemble_members", f"{unknown} are not members of the configured models "
                                                        f"({list(built)})")
        unknown = [m for m in self.backtest.refit_every_days if m not in built]
        check(not unknown, "backtest.refit_every_days", f"{unknown} are not members of the configured models "
                                                        f"({list(built)})")
        check(not self.backtest.weather_forecasts or self.data.source == "electricitymaps",
              "backtest.weather_forecasts", "Open-Meteo forecasts are for electricitymaps zones (DACF ships its own fc_*)")


#: Size knobs of the neural models; below the section defaults a model is "CPU-sized" (shrunk to train on
#: shared CPU cores), and its rows say so.
SIZE_KNOBS: tuple[str, ...] = ("hidden", "max_epochs", "limit_train_batches")


def cpu_sized(cfg: BacktestConfig) -> dict[str, str]:
    """Model name → display name for neural models configured below their section's default size
    (``lstm`` → ``lstm (CPU-sized)``); other models keep their name."""
    out = {}
    for name, section in cfg.models.items():
        full = type(section)()
        if any(getattr(section, k) < getattr(full, k) for k in SIZE_KNOBS if hasattr(section, k)):
            out[name] = f"{name} (CPU-sized)"
    return out


def model_params(section: object) -> dict:
    """A model section's constructor keywords (everything but ``params_from``, already applied at parse time)."""
    return {k: v for k, v in dataclasses.asdict(section).items() if k != "params_from"}


@dataclass(frozen=True)
class Member:
    """One forecaster the backtest runs: its registered class, hyperparameters and the constructor context."""

    cls: type
    params: dict[str, Any]
    context: dict[str, Any]

    def __call__(self):  # noqa: ANN204 (a fresh, unfitted forecaster)
        return self.cls(**self.context, **self.params)


def model_factories(cfg: BacktestConfig) -> dict[str, Member]:
    """Member name → zero-argument factory building a fresh, unfitted forecaster, for every ``models`` section
    (registered classes; the naive section builds one member per kind). Each gets the backtest's issue hour,
    horizon and seed, plus ``oracle_weather`` when it reads future covariates and the ``trainer`` settings when it
    trains on a GPU (its capabilities)."""
    b = cfg.backtest
    out: dict[str, Member] = {}
    for member, (cls, params) in member_sections(cfg.models).items():
        context: dict[str, Any] = {"issue_hour": b.issue_hour, "horizon": b.horizon_h, "seed": cfg.seed}
        if cls.capabilities.future_covariates:
            context["oracle_weather"] = b.oracle_weather
        if cls.capabilities.gpu:
            context["trainer"] = cfg.trainer.settings()
        out[member] = Member(cls, {"params": params}, context)
    return out


def member_sections(models: dict[str, Any]) -> dict[str, tuple[type, Any]]:
    """Member name → (registered class, its hyperparameters) of every ``models`` section (the naive section builds
    one member per kind); a member name two sections build is a :class:`ConfigError`."""
    out: dict[str, tuple[type, Any]] = {}
    for name, section in models.items():
        cls = forecaster_class(name)
        for member, params in cls.members(cls.Params(**model_params(section))).items():
            check(member not in out, f"models.{name}", f"member {member!r} is built by two model sections")
            out[member] = (cls, params)
    return out


def ensemble_members(cfg: BacktestConfig, factories: dict[str, Member]) -> list[str]:
    """``backtest.ensemble_members``, else every non-baseline member (baselines: the naive kinds), else every
    member."""
    return cfg.backtest.ensemble_members or [n for n, f in factories.items() if not f.cls.baseline] or list(factories)


def pipeline_settings(cfg: BacktestConfig, factories: dict[str, object]) -> PipelineSettings:
    """The one place the config's ``backtest`` section becomes the pipeline the backtest and ``forecast train``
    run: ensemble members, the weighting object (``ensemble_method``), the calibration object
    (``calibration``) and the members' refit schedules (``refit_every_days``)."""
    b = cfg.backtest
    buckets = tuple(b.buckets)
    if b.ensemble_method == "rolling":
        weighting = RollingEnsemble(buckets, b.ensemble_window_days, b.ensemble_power, b.ensemble_prune,
                                    b.ensemble_loss)
    else:
        weighting = ErrorWeightedEnsemble(buckets, b.ensemble_power, b.ensemble_prune, b.ensemble_method)
    calibration = {"static": lambda: StaticCQR(buckets),
                   "rolling": lambda: RollingCQR(buckets, b.calibration_window_days),
                   "adaptive": lambda: AdaptiveCQR(buckets, b.calibration_window_days, b.calibration_step)}[b.calibration]()
    return PipelineSettings(b.issue_hour, b.horizon_h, tuple(ensemble_members(cfg, factories)), weighting,
                            calibration, dict(b.refit_every_days), b.refit_before_test)


def name_ensemble(bt, shown: dict[str, str]) -> tuple[str, str, str]:  # noqa: ANN001 (forecast.backtest.BacktestResult)
    """Rename the backtest's calibrated ``ensemble`` rows (forecasts, corrections) by what they are
    (:func:`forecast.ensemble.ensemble_label` + ``+cqr``: ``ensemble(gbm 0.62, prophet 0.38)+cqr``, or with one
    member of positive weight ``gbm+cqr``; members named as in ``shown``, e.g. ``lstm (CPU-sized)``). Returns
    (that label, the uncalibrated row's label, the metric-safe key: ``ensemble`` or ``<member>_cqr``)."""
    base = ensemble_label(bt.weights.assign(model=bt.weights["model"].replace(shown)))
    label = f"{base}+cqr"
    for frame in (bt.forecasts, bt.corrections):
        frame.loc[frame["model"] == "ensemble", "model"] = label
    members = member_weights(bt.weights)
    key = "ensemble" if len(members) >= 2 else f"{members.index[0]}_cqr"
    return label, f"{base} (uncalibrated)", key


def member_tables(forecasts: pd.DataFrame, models: list[str], shown: dict[str, str]) -> dict[str, pd.DataFrame]:
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


def report_dropped(res: Result, dropped: pd.DataFrame, target: str, sfx: str, shown: dict[str, str]) -> None:
    """Members the ensemble weighting zeroed, never silently: the cells (table ``ensemble_dropped``: member ×
    region × bucket with weight 0 at some issue, share and reason), per member the metric
    ``dropped_share.<target>.<member>`` (share of region × bucket (× issue) cells with weight 0), a summary line
    and a log line (warning when it is out of at least half the cells)."""
    cells = dropped.assign(model=dropped["model"].replace(shown))
    res.tables[f"ensemble_dropped{sfx}"] = cells[cells["dropped_share"] > 0].reset_index(drop=True)
    for _, row in dropped_summary(dropped).iterrows():
        res.metrics[f"dropped_share.{target}.{row['model']}"] = row["dropped_share"]
        if row["dropped_share"] > 0:
            note = (f"{target} {shown.get(row['model'], row['model'])}: weight 0 in {row['dropped_share']:.0%} of "
                    f"{row['cells']} region × bucket cells (worst {row['reason']})")
            res.summary.setdefault(f"ensemble_dropped{sfx}", []).append(note)
            log.log(logging.WARNING if row["dropped_share"] >= 0.5 else logging.INFO, "ensemble member dropped: %s",
                    note)


def load_data(cfg: BacktestConfig, data_dir: str | None) -> pd.DataFrame:
    if cfg.data.source == "dacf":
        return load_dacf_panel(cfg.data.regions, data_dir, cfg.data.exclude_columns)
    b = cfg.backtest
    return load_panel(cfg.data.regions, cfg.data.years or (2021, 2022, 2023), weather=b.oracle_weather,
                      data_dir=data_dir, exclude=cfg.data.exclude_columns,
                      weather_forecast_lead_h=b.horizon_h if b.weather_forecasts else None)


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


def dacf_forecasts(cfg: BacktestConfig, target: str, data_dir: str | None) -> tuple[pd.DataFrame | None, str]:
    """DACF's published day-ahead forecasts (direct CI) for the configured DACF regions and a note; ``None``
    (and why) for other sources/targets or when a region (e.g. a user's own DACF-format region) has none —
    the comparison then covers no region rather than a subset under the same "mean" label."""
    if cfg.data.source != "dacf" or target != "ci_direct":
        return None, "not applicable"
    paths = {}
    for r in cfg.data.regions:
        try:
            paths[r] = dacf_path(r, "carbon_from_src_prod_forecasts_direct", data_dir)
        except FileNotFoundError:
            continue
    missing = [r for r in cfg.data.regions if r not in paths]
    if missing:
        return None, f"not compared: no published DACF forecasts for {missing}"
    return pd.concat([read_dacf_forecasts(r, p.parent) for r, p in paths.items()], ignore_index=True), "compared"


@experiment_kind("backtest", BacktestConfig)
def run(config: BacktestConfig, ctx: Context) -> Result:
    """Rolling-origin forecast backtest: models, ensemble, conformal calibration, DACF comparison."""
    t_start = time.perf_counter()
    panel = load_data(config, ctx.data_dir)
    b = config.backtest
    windows = Windows.from_strings(config.windows.train_start, config.windows.train_end, config.windows.val_start,
                                   config.windows.val_end, config.windows.test_start, config.windows.test_end)
    factories = model_factories(config)
    settings = pipeline_settings(config, factories)
    members = list(settings.members)
    res = Result()
    label = " (oracle weather)" if b.oracle_weather else ""
    for target in config.targets:
        bt = run_backtest(panel, target, factories, windows, settings, progress=ctx.progress,
                          monitor=tracking.epoch_monitor())
        sized = cpu_sized(config)
        ens_label, raw_label, ens_key = name_ensemble(bt, sized)
        for frame in (bt.forecasts, bt.corrections):
            frame["model"] = frame["model"].replace(sized)
        keys = {ens_label: ens_key, **{shown: name for name, shown in sized.items()}}
        dacf, dacf_note = dacf_forecasts(config, target, ctx.data_dir)
        if config.data.source == "dacf":
            res.summary[f"dacf_published_{target}"] = dacf_note
        da = report.day_ahead(bt.forecasts, b.day_ahead_h)
        scores = score_by(da, ["model", "region"])
        for _, row in scores.iterrows():
            for k, v in row.items():
                if k not in ("model", "region", "n"):
                    res.metrics[f"{k}.{target}.{keys.get(row['model'], row['model'])}.{row['region']}"] = float(v)
        for model, g in scores.groupby("model"):
            for k in ("mape", "accuracy", "crps", "picp50", "picp80", "picp90"):
                res.metrics[f"{k}.{target}.{keys.get(model, model)}.mean"] = float(g[k].mean())
        mape_t = report.mape_table(bt.forecasts, dacf, b.day_ahead_h)
        if dacf is not None:
            for region, v in mape_t.set_index("model").loc["DACF (published)"].items():
                res.metrics[f"mape.{target}.dacf.{region}"] = float(v)
        sfx = "" if len(config.targets) == 1 else f"_{target}"
        res.tables[f"mape_by_region{sfx}"] = mape_t
        res.tables[f"accuracy_by_horizon{sfx}"] = report.horizon_table(bt.forecasts)
        by_bucket = report.bucket_table(bt.forecasts, b.buckets)
        res.tables[f"by_horizon_bucket{sfx}"] = by_bucket
        ens_buckets = by_bucket[by_bucket["model"] == ens_label].groupby(["bucket", "horizons"])
        res.summary[f"ensemble_by_horizon_bucket{sfx}"] = (
            ens_buckets[["mape", "picp90"]].mean().round(3).reset_index().drop(columns="bucket").to_dict("records"))
        coverage = report.coverage_table(bt.forecasts, bt.raw_ensemble, b.day_ahead_h)
        coverage.loc[coverage["model"] == "ensemble (uncalibrated)", "model"] = raw_label
        res.tables[f"coverage{sfx}"] = coverage
        res.tables[f"scores{sfx}"] = scores
        res.tables[f"ensemble_weights{sfx}"] = report.weights_summary(bt.weights)
        goals = report.ensemble_goal_table(mape_t, ens_label, [sized.get(m, m) for m in members])
        monthly = report.monthly_coverage(bt.forecasts, b.day_ahead_h)
        res.tables[f"ensemble_goals{sfx}"] = goals
        res.tables[f"coverage90_by_month{sfx}"] = monthly
        alerts = report.trailing_coverage_alerts(bt.forecasts, ens_label, b.day_ahead_h)
        res.tables[f"coverage_alerts{sfx}"] = alerts
        for _, row in alerts.iterrows():
            note = (f"{target} {row['region']}: trailing {row['window_days']}-day 90 % coverage fell to "
                    f"{row['picp_min']:.1%} (window ending {row['window_end']}; {row['days_below']} days below 85 %)")
            res.summary.setdefault(f"coverage_warnings{sfx}", []).append(note)
            log.warning("interval coverage: %s", note)
        res.tables[f"mape_by_month{sfx}"] = report.monthly_mape(bt.forecasts, b.day_ahead_h)
        res.summary[f"ensemble_goals{sfx}"] = report.goals_with_coverage(goals, coverage, monthly, ens_label)
        if "basis" in bt.weights.columns:
            cells = bt.weights.drop_duplicates(["issue_time", "region", "bucket"])
            res.summary[f"ensemble_weight_basis{sfx}"] = cells["basis"].value_counts().to_dict()
        report_dropped(res, bt.dropped, target, sfx, sized)
        res.tables[f"conformal_corrections{sfx}"] = bt.corrections
        res.tables[f"timings{sfx}"] = bt.timings
        ens = bt.forecasts[(bt.forecasts["model"] == ens_label) & (bt.forecasts["window"] == "test")]
        ext = config.output.table_format
        res.files.append(write_table(ens, ctx.out_dir / f"forecast_ensemble{sfx}.{ext}"))
        if config.output.member_tables:
            for name, table in member_tables(bt.forecasts, list(factories), sized).items():
                res.files.append(write_table(table, ctx.out_dir / f"forecast_{name}{sfx}.{ext}"))
        rel = report.reliability(bt.forecasts, b.day_ahead_h)
        res.figures[f"reliability{sfx}.png"] = report.reliability_figure(rel, f"Reliability — {target}{label}")
        res.figures[f"forecast_vs_actual{sfx}.png"] = report.forecast_figure(bt.forecasts, dacf, TARGETS[target],
                                                                             day_ahead_h=b.day_ahead_h, model=ens_label)
        if target in CI_TARGETS:   # decision value of every forecaster (experiments.decision_value)
            decision_value.of_backtest(bt.forecasts, target, sfx, ens_label, keys, config.name).add_to(res)
        res.summary[f"day_ahead_mape{sfx}"] = mape_t.round(2).to_dict("records")
        res.summary[f"combined_forecast{sfx}"] = ens_label
    res.metrics["wall_s"] = time.perf_counter() - t_start
    if b.weather_forecasts:
        fc = [c for c in panel.columns if c.startswith("fc_")]
        res.summary["weather_forecasts"] = (f"Open-Meteo {fc}, each hour's value published ≥ {b.horizon_h} h before it; "
                                            f"{panel[fc].notna().all(axis=1).mean():.1%} of hours covered")
    res.summary["refit_every_days"] = {name: settings.refit_days(name, f.cls) for name, f in factories.items()}
    res.summary.update({"name": config.name, "targets": config.targets, "models": list(factories),
                        "ensemble_members": members, "oracle_weather": b.oracle_weather,
                        "wall_s": round(res.metrics["wall_s"], 1)})
    return res
