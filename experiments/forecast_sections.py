"""Config sections the forecasting kinds share (``backtest``, ``tune``, ``gpu_bench``): ``data`` (zones or DACF
regions → the panel), ``models.<name>`` (a registered forecaster's hyperparameters; the tunable ones read a tune
run's ``best_params.json``) and ``trainer`` (the neural members' Lightning settings)."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from carbonshift.experiments import tracking
from carbonshift.experiments.config import ConfigError, check, parse
from carbonshift.forecast.data.electricitymaps import VALUE_COLUMNS
from carbonshift.forecast.data.panel import load_dacf_panel, load_panel
from carbonshift.forecast.models.base import Forecaster
from carbonshift.forecast.models.lstm import LSTMParams
from carbonshift.forecast.models.neural import TrainerSettings
from carbonshift.forecast.models.registry import forecaster_class, forecaster_classes
from carbonshift.forecast.models.tft import TFTParams

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


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

    def load(self, data_dir: str | None, *, weather: bool = False,
             weather_forecast_lead_h: int | None = None) -> pd.DataFrame:
        """The panel of the configured regions: the DACF panel, or the Electricity Maps zones over ``years``
        (none named: 2021–2023) with observed ``obs_*`` weather when ``weather`` and Open-Meteo ``fc_*`` forecasts
        published ≥ ``weather_forecast_lead_h`` hours before each hour when given (both electricitymaps only)."""
        if self.source == "dacf":
            return load_dacf_panel(self.regions, data_dir, self.exclude_columns)
        return load_panel(self.regions, self.years or (2021, 2022, 2023), weather=weather, data_dir=data_dir,
                          exclude=self.exclude_columns, weather_forecast_lead_h=weather_forecast_lead_h)


def apply_tuned(section: LSTMSection | TFTSection, model: str) -> None:
    """Replace the fields of ``section`` (a :class:`LSTMSection` / :class:`TFTSection`) named in the ``model``
    entry of its ``params_from`` file (the ``best_params.json`` the ``tune`` kind writes; a relative path is
    looked up in the current folder, then the project root; none: nothing to replace); other fields keep their
    configured values."""
    if section.params_from is None:
        return
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
        apply_tuned(self, "lstm")


@dataclass
class TFTSection(TFTParams):
    """``models.tft``: the TFT's hyperparameters (:class:`forecast.models.tft.TFTParams`) + ``params_from``."""

    params_from: str | None = None   # best_params.json of a tune run: its tft settings replace these

    def __post_init__(self) -> None:
        super().__post_init__()
        apply_tuned(self, "tft")


#: Config sections of the forecasters a tune run can tune (their ``params_from`` reads its result).
TUNABLE: dict[str, type] = {"lstm": LSTMSection, "tft": TFTSection}


MODELS_HINT = ("add your own: @register_forecaster in a module named in CARBONSHIFT_FORECASTERS, "
               "see README 'Your own forecaster'")


def model_sections() -> dict[str, type]:
    """Config name → ``models.<name>`` section dataclass of every registered forecaster (built-ins, then those of
    ``CARBONSHIFT_FORECASTERS``): its ``Params``, with ``params_from`` for the tunable ones."""
    return {name: TUNABLE.get(name, cls.Params) for name, cls in forecaster_classes().items()}


def model_params(section: DataclassInstance) -> dict[str, Any]:
    """A model section's constructor keywords (everything but ``params_from``, already applied at parse time)."""
    return {k: v for k, v in dataclasses.asdict(section).items() if k != "params_from"}


def member_sections(models: Mapping[str, Any]) -> dict[str, tuple[type[Forecaster], Any]]:
    """Member name → (registered class, its hyperparameters) of every ``models`` section (the naive section builds
    one member per kind); a member name two sections build is a :class:`ConfigError`."""
    out: dict[str, tuple[type[Forecaster], Any]] = {}
    for name, section in models.items():
        cls = forecaster_class(name)
        for member, params in cls.members(cls.Params(**model_params(section))).items():
            check(member not in out, f"models.{name}", f"member {member!r} is built by two model sections")
            out[member] = (cls, params)
    return out


#: Size knobs of the neural models; below the section defaults a model is "CPU-sized" (shrunk to train on
#: shared CPU cores), and its rows say so.
SIZE_KNOBS: tuple[str, ...] = ("hidden", "max_epochs", "limit_train_batches")


def cpu_sized(models: Mapping[str, Any]) -> dict[str, str]:
    """Model name → display name for neural ``models`` sections configured below their section's default size
    (``lstm`` → ``lstm (CPU-sized)``); other models keep their name."""
    out = {}
    for name, section in models.items():
        full = type(section)()
        if any(getattr(section, k) < getattr(full, k) for k in SIZE_KNOBS if hasattr(section, k)):
            out[name] = f"{name} (CPU-sized)"
    return out


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
