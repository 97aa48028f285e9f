"""The one interface every forecaster implements, and helpers shared by all of them.

Timing convention (the information set, enforced by :mod:`forecast.models.features`): a forecast issued
at ``issue_time`` (a UTC hour boundary) may use the target for hours starting strictly before it (the hour
``issue_time − 1 h`` is complete at issue) and *known-future* covariates (``fc_*`` day-ahead forecasts,
calendar) for the target hours. Horizon ``h`` is the hour starting at ``issue_time + h`` hours (h ≥ 1), as
in :data:`forecast.data.schema.FORECAST_COLUMNS`. Issued at 23:00 UTC, horizons 1–24 are the next UTC day
(00:00–23:00), the same hours DACF forecasts day-ahead.

A forecaster subclasses :class:`Forecaster` and declares, once, on the class:

- ``Params``: a dataclass of its hyperparameters (defaults, ``# comments``, checks in ``__post_init__``). The
  constructor takes them as keywords (or ``params=Params(...)``); the backtest config's ``models.<name>``
  section is that dataclass, parsed strictly; ``carbonshift config-reference`` lists its fields.
- ``capabilities``: :class:`Capabilities` (quantiles learnt, past / future covariates, one global model
  across regions, GPU training).
- ``requires``: the distributions (beyond numpy and pandas) a fitted model depends on; :meth:`Forecaster.save`
  records their versions and :func:`load_forecaster` refuses another version of any of them.
- ``refit_every_days``: its default refit schedule over a test window (days; 0 = fitted once before it); a
  config's ``backtest.refit_every_days.<member>`` overrides it (:class:`forecast.backtest.PipelineSettings`).

and implements two hooks: ``_fit(panel, target, until)`` and ``_predict(history, issues, horizon)``. The
template methods :meth:`Forecaster.fit` / :meth:`Forecaster.predict` do the shared work around them (target and
region bookkeeping, issue-time normalisation, horizon and region checks, the forecast-table check of the output).
Register it under a config name with :func:`forecast.models.registry.register_forecaster`.
"""
from __future__ import annotations

import abc
import dataclasses
import hashlib
import importlib
import json
import pickle
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd

from carbonshift.forecast.data.schema import FORECAST_COLUMNS, MAX_HORIZON_H, QUANTILE_COLUMNS, QUANTILE_LEVELS

F = TypeVar("F", bound="Forecaster")
#: Libraries every forecaster depends on (its saved state holds numpy arrays and pandas objects).
BASE_REQUIRES: tuple[str, ...] = ("numpy", "pandas")
MODEL_FILE, MANIFEST_FILE = "model.pkl", "model.json"
#: Called by a forecaster that trains in epochs after each one: ``monitor(epoch, metrics)`` with the epoch
#: (0-based) and its metrics (``train_loss``, ``val_loss``: the training loss, ``epoch_s``: wall seconds). The
#: experiments layer supplies one that logs MLflow step metrics; forecast/ never imports MLflow.
TrainingMonitor = Callable[[int, Mapping[str, float]], None]


@dataclass(frozen=True)
class Capabilities:
    """What a forecaster can do (class attribute ``capabilities``).

    ``quantiles``: learns the quantile levels itself (False: point forecast + empirical quantiles of its
    training residuals). ``past_covariates``: can read observed covariates other than the target, before the
    issue. ``future_covariates``: reads known-future covariates (``fc_*`` forecasts; ``obs_*`` weather with
    ``oracle_weather``) at the target hours. ``global_model``: one model across all regions (False: one per
    region). ``gpu``: trains on an accelerator when one is visible (takes Lightning ``trainer`` settings)."""

    quantiles: bool = False
    past_covariates: bool = False
    future_covariates: bool = False
    global_model: bool = False
    gpu: bool = False


@dataclass
class NoParams:
    """Hyperparameters of a forecaster that has none."""


class Forecaster(abc.ABC):
    """A probabilistic multi-horizon forecaster of one panel target.

    ``fit(panel, target, until)`` trains on panel rows with ``time < until`` (all rows when ``None``).
    ``predict(history, issue_times, horizon)`` returns a forecast table (:data:`FORECAST_COLUMNS`) for every
    region of ``history`` and every issue time, horizons ``1 … horizon`` h; it reads the target only at hours
    before each issue time (later target values in ``history`` are ignored) and known-future covariates at
    the target hours.

    Constructor: ``issue_hour`` (UTC hour of the daily training issues), ``horizon`` (h, the longest horizon it
    is fitted for), ``seed``, ``oracle_weather`` (observed weather as known-future input; only with
    ``capabilities.future_covariates``), then the hyperparameters of ``Params`` as keywords or ``params``."""

    name: str = ""                                      # config name (set by register_forecaster); per instance
    Params: ClassVar[type] = NoParams
    capabilities: ClassVar[Capabilities] = Capabilities()
    requires: ClassVar[tuple[str, ...]] = ()
    baseline: ClassVar[bool] = False                    # a floor to beat: not an ensemble member unless named
    refit_every_days: ClassVar[int] = 0                 # default refit schedule over a test window (0: fit once)
    reports_epochs: ClassVar[bool] = False              # fit takes ``monitor`` (a TrainingMonitor) per epoch

    def __init__(self, issue_hour: int = 23, horizon: int = 48, *, seed: int = 0, oracle_weather: bool = False,
                 params: Any = None, **hyperparameters: Any) -> None:
        self.name = self.name or type(self).__name__   # a class not registered: named by itself
        if not 0 <= issue_hour <= 23:
            raise ValueError(f"{self.name}: issue_hour must be 0–23 (UTC), got {issue_hour}")
        if not 1 <= horizon <= MAX_HORIZON_H:
            raise ValueError(f"{self.name}: horizon must be 1–{MAX_HORIZON_H} h, got {horizon}")
        if oracle_weather and not self.capabilities.future_covariates:
            raise ValueError(f"{self.name}: oracle_weather needs a forecaster that reads future covariates")
        known = [f.name for f in dataclasses.fields(self.Params)]
        unknown = sorted(set(hyperparameters) - set(known))
        if unknown:
            raise TypeError(f"{self.name}: unknown hyperparameter(s) {unknown}; known: {known}")
        self.params = dataclasses.replace(params if params is not None else self.Params(), **hyperparameters)
        self.issue_hour, self.horizon, self.seed, self.oracle_weather = issue_hour, horizon, seed, oracle_weather
        self.target: str | None = None
        self.trained_regions: list[str] = []

    @classmethod
    def members(cls, params: Any) -> dict[str, Any]:
        """Member name → hyperparameters of the members one config section ``models.<name>`` (``params``) builds:
        by default one, named like the class (the naive section builds one per baseline kind)."""
        return {cls.name: params}

    def unfitted(self: F) -> F:
        """A fresh, unfitted forecaster of this class with the same hyperparameters and constructor context
        (issue hour, horizon, seed, oracle weather; the neural members' trainer settings) — what a scheduled
        refit trains. A subclass whose constructor takes more arguments extends :meth:`_context`."""
        return type(self)(**self._context())

    def _context(self) -> dict[str, Any]:
        """Constructor keywords that rebuild this forecaster unfitted (:meth:`unfitted`)."""
        return {"issue_hour": self.issue_hour, "horizon": self.horizon, "seed": self.seed,
                "oracle_weather": self.oracle_weather, "params": self.params}

    # -- template methods -------------------------------------------------------------------------------
    def fit(self: F, panel: pd.DataFrame, target: str, until: pd.Timestamp | None = None, **options: Any) -> F:
        """Train on ``panel[target]`` at hours before ``until``; ``options`` go to the hook (e.g. Lightning
        ``callbacks`` of the neural members)."""
        if target not in panel.columns:
            raise ValueError(f"{self.name}: target {target!r} is not a panel column")
        self.target = target
        self.trained_regions = sorted(set(panel["region"]))
        self._fit(panel, target, until, **options)
        return self

    def predict(self, history: pd.DataFrame, issue_times: pd.DatetimeIndex | pd.Timestamp,
                horizon: int) -> pd.DataFrame:
        """Forecast table for every region of ``history`` × issue time × horizon 1 … ``horizon`` h."""
        if self.target is None:
            raise RuntimeError(f"{self.name}: fit before predict")
        if not 1 <= horizon <= self.horizon:
            raise ValueError(f"{self.name}: fitted for horizons ≤ {self.horizon}, asked {horizon}")
        issues = as_issue_index(issue_times)
        regions = sorted(set(history["region"]))
        unknown = [r for r in regions if r not in self.trained_regions]
        if unknown:
            raise ValueError(f"{self.name}: region {unknown[0]!r} was not in the training panel "
                             f"({self.trained_regions})")
        table = self._predict(history, issues, horizon)
        check_forecast_table(table, f"{self.name} forecast")
        if len(table) != len(regions) * len(issues) * horizon:
            raise ValueError(f"{self.name}: {len(table)} forecast rows, expected {len(regions)} regions × "
                             f"{len(issues)} issues × {horizon} horizons")
        return table

    @property
    def fitted_target(self) -> str:
        """The target column :meth:`fit` set (``RuntimeError`` before it) — what the hooks read."""
        if self.target is None:
            raise RuntimeError(f"{self.name}: fit before predict")
        return self.target

    @abc.abstractmethod
    def _fit(self, panel: pd.DataFrame, target: str, until: pd.Timestamp | None) -> None:
        """Train (``self.target`` and ``self.trained_regions`` are set). A subclass may take keyword options,
        which :meth:`fit` passes on (the neural members: ``callbacks``, ``monitor``)."""

    @abc.abstractmethod
    def _predict(self, history: pd.DataFrame, issues: pd.DatetimeIndex, horizon: int) -> pd.DataFrame:
        """The forecast table for ``issues`` (sorted UTC whole hours) and horizons 1 … ``horizon`` (checked)."""

    # -- save / load ----------------------------------------------------------------------------------
    @classmethod
    def library_versions(cls) -> dict[str, str]:
        """Installed version of every library a fitted model of this class depends on."""
        return {lib: metadata.version(lib) for lib in (*BASE_REQUIRES, *cls.requires)}

    def save(self, folder: str | Path) -> dict[str, Any]:
        """Write the fitted model to ``folder`` (``model.pkl`` and the manifest ``model.json``: class, name,
        hyperparameters, the versions of :meth:`library_versions` and each file's sha256); returns the manifest.
        A subclass whose state does not pickle overrides ``__getstate__``/``__setstate__`` (the LSTM does)."""
        if self.target is None:
            raise RuntimeError(f"{self.name}: fit before save")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            blob = pickle.dumps(self, protocol=5)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise ValueError(f"{self.name} ({type(self).__name__}) cannot be saved: {exc}") from exc
        (folder / MODEL_FILE).write_bytes(blob)
        manifest = {"class": f"{type(self).__module__}.{type(self).__qualname__}", "name": self.name,
                    "params": dataclasses.asdict(self.params), "libraries": self.library_versions(),
                    "files": {MODEL_FILE: hashlib.sha256(blob).hexdigest()}}
        (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, default=str))
        return manifest

    @classmethod
    def load(cls: type[F], folder: str | Path) -> F:
        """Read a model written by :meth:`save`; ``ValueError`` when a required library's version differs from
        the saving one (naming the library and both versions) or a file's sha256 differs."""
        folder = Path(folder)
        manifest = read_manifest(folder)
        check_library_versions(manifest["libraries"], f"{folder} ({manifest['name']})")
        blob = (folder / MODEL_FILE).read_bytes()
        if hashlib.sha256(blob).hexdigest() != manifest["files"][MODEL_FILE]:
            raise ValueError(f"{folder / MODEL_FILE}: sha256 differs from {MANIFEST_FILE} (corrupted or modified)")
        model = pickle.loads(blob)  # noqa: S301 — trusted artifact (forecast.artifact module docstring)
        if not isinstance(model, cls):
            raise ValueError(f"{folder / MODEL_FILE}: holds a {type(model).__name__}, not a {cls.__name__}")
        return model


def read_manifest(folder: Path) -> dict[str, Any]:
    """The ``model.json`` of a saved forecaster folder."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: not a saved forecaster (no {MANIFEST_FILE})")
    return json.loads(path.read_text())


def check_library_versions(saved: dict[str, str], where: str) -> None:
    """``ValueError`` naming every library whose installed version differs from ``saved`` (library → version)."""
    differ = []
    for lib, version in saved.items():
        try:
            here = metadata.version(lib)
        except metadata.PackageNotFoundError:
            here = "not installed"
        if here != version:
            differ.append(f"{lib} {version} (saved) vs {here} (here)")
    if differ:
        raise ValueError(f"{where}: saved with other library versions: {'; '.join(differ)}; install the saving "
                         "versions (constraints.txt) or retrain")


def load_forecaster(folder: str | Path) -> Forecaster:
    """Load a saved forecaster of any class: the manifest names the class (its module must be importable —
    a plug-in's module on ``PYTHONPATH``), whose :meth:`Forecaster.load` reads it."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    check_library_versions(manifest["libraries"], f"{folder} ({manifest['name']})")
    module, _, qualname = manifest["class"].rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{folder}: forecaster class {manifest['class']} cannot be imported "
                         f"({type(exc).__name__}: {exc}); is its module on PYTHONPATH?") from exc
    if not (isinstance(cls, type) and issubclass(cls, Forecaster)):
        raise ValueError(f"{folder}: {manifest['class']} is not a Forecaster")
    return cls.load(folder)


def as_issue_index(issue_times: pd.DatetimeIndex | pd.Timestamp) -> pd.DatetimeIndex:
    """Issue times as a sorted UTC ``DatetimeIndex`` of whole hours; raises on naive or non-hour times."""
    idx = pd.DatetimeIndex([issue_times] if isinstance(issue_times, pd.Timestamp) else issue_times)
    if idx.tz is None:
        raise ValueError("issue times must be tz-aware UTC")
    idx = idx.tz_convert("UTC")
    if (idx != idx.floor("h")).any():
        raise ValueError(f"issue times must be whole hours, got {idx[idx != idx.floor('h')][:3].tolist()}")
    return idx.sort_values()


def sort_quantiles(q: np.ndarray) -> np.ndarray:
    """Make the last axis (quantile levels) non-decreasing (rearrangement; Chernozhukov et al. 2010)."""
    return np.sort(q, axis=-1)


def forecast_frame(region: str, issue: pd.DatetimeIndex, horizons: np.ndarray, mean: np.ndarray,
                   quantiles: np.ndarray) -> pd.DataFrame:
    """Build a forecast table for one region from ``mean`` [issue × horizon] and ``quantiles``
    [issue × horizon × level]; quantiles are sorted, the mean is kept inside [q0.05, q0.95]."""
    n_i, n_h = mean.shape
    if quantiles.shape != (n_i, n_h, len(QUANTILE_LEVELS)):
        raise ValueError(f"quantiles shape {quantiles.shape}, expected {(n_i, n_h, len(QUANTILE_LEVELS))}")
    q = sort_quantiles(quantiles).reshape(-1, len(QUANTILE_LEVELS))
    issue_col = pd.DatetimeIndex(issue).repeat(n_h)
    h = np.tile(np.asarray(horizons, dtype=int), n_i)
    frame = pd.DataFrame({
        "region": region,
        "issue_time": issue_col,
        "time": issue_col + pd.to_timedelta(h, unit="h"),
        "horizon_h": h,
        "mean": np.clip(mean.reshape(-1), q[:, 0], q[:, -1]),
    })
    for j, col in enumerate(QUANTILE_COLUMNS):
        frame[col] = q[:, j]
    return frame[list(FORECAST_COLUMNS)]


def read_forecast_table(path: str | Path) -> pd.DataFrame:
    """A forecast table file (:data:`FORECAST_COLUMNS`, optional ``model``/``actual`` columns) as a frame:
    parquet by its ``.parquet`` suffix, else CSV; ``issue_time`` and ``time`` as tz-aware UTC."""
    path = Path(path)
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    for col in ("issue_time", "time"):
        if col in table.columns:
            table[col] = pd.to_datetime(table[col], utc=True)
    return table


def check_forecast_table(table: pd.DataFrame, where: str = "forecast table") -> None:
    """Raise ``ValueError`` unless ``table`` has the schema columns, finite values and sorted quantiles."""
    missing = [c for c in FORECAST_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{where}: missing columns {missing}")
    q = table[list(QUANTILE_COLUMNS)].to_numpy(dtype=float)
    if not np.isfinite(q).all() or not np.isfinite(table["mean"].to_numpy(dtype=float)).all():
        raise ValueError(f"{where}: non-finite forecast values")
    if (np.diff(q, axis=1) < -1e-9).any():
        raise ValueError(f"{where}: quantiles decrease along the levels")
    if (table["horizon_h"] < 1).any():
        raise ValueError(f"{where}: horizon_h must be ≥ 1")
