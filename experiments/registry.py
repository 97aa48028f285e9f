"""Experiment kinds: what a YAML config's top-level ``kind:`` runs.

A kind is registered in a module under :mod:`experiments.kinds` with :func:`experiment_kind`; it names
the dataclass its config parses into and a function ``run(config, ctx) -> Result``. The runner
(``carbonshift run``), the sweeps (one Ray trial per grid point) and the dedicated commands
(``carbonshift simulate``, ``carbonshift forecast backtest`` …) all go through :func:`get`, and the runner
logs every ``Result`` to MLflow the same way.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from carbonshift.experiments.config import ConfigError, shown
from carbonshift.forecast.bounds import Range, entry_ranges, field_range
from carbonshift.scheduler.policies.registry import PLUGINS_ENV, policy_names


@dataclass
class Context:
    """What a kind's run function may use besides its config."""

    seed: int = 0
    data_dir: str | None = None
    out_dir: Path = field(default_factory=lambda: Path("reports"))  # where figures/tables are written
    progress: bool = True
    trial: str = ""     # a sweep trial's swept values (``forecast.accuracy=0.6 seed=1``), named in figure captions


@dataclass
class Result:
    """Everything one experiment produced. ``metrics`` are flat floats with stable names; ``tables`` are
    logged as CSV artifacts; ``figures`` maps a file name (``pareto.png``) to a matplotlib Figure;
    ``files`` are extra artifact paths already on disk."""

    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Kind:
    name: str
    config_cls: type
    run: Callable[[Any, Context], Result]
    description: str = ""


_KINDS: dict[str, Kind] = {}
_BROKEN: dict[str, str] = {}  # kind module -> why it failed to import


def experiment_kind(name: str, config_cls: type, description: str = "") -> Callable:
    """Decorator registering ``run(config, ctx) -> Result`` as kind ``name``."""

    def wrap(fn: Callable[[Any, Context], Result]) -> Callable[[Any, Context], Result]:
        _KINDS[name] = Kind(name, config_cls, fn, description or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return wrap


def _kind_modules() -> list[str]:
    """Names of the modules in :mod:`experiments.kinds` (listed, not imported)."""
    return [m.name for m in pkgutil.iter_modules(importlib.import_module("carbonshift.experiments.kinds").__path__)]


def _import_kind_module(module: str) -> None:
    """Import ``carbonshift.experiments.kinds.<module>`` so its kinds register; an import error is kept in
    :data:`_BROKEN` (reported by :func:`get` when a kind of this module is asked for)."""
    try:
        importlib.import_module(f"carbonshift.experiments.kinds.{module}")
    except Exception as exc:
        _BROKEN[module] = f"{type(exc).__name__}: {exc}"


def kinds() -> dict[str, Kind]:
    """All registered kinds. Each kind module is imported on its own, so one that fails to import (e.g. an
    optional dependency is missing) only makes its own kinds unavailable; :func:`get` reports why."""
    for module in _kind_modules():
        _import_kind_module(module)
    return dict(_KINDS)


def get(name: str) -> Kind:
    """The kind registered as ``name``. Kinds live in ``experiments/kinds/<kind>.py``: only the module of that name
    is imported (the others load scikit-learn, matplotlib …, seconds for a config error); the rest only when
    ``name`` is not found there. ``KeyError`` otherwise: when the module of the same name failed to import, the
    message is that module's import error (e.g. a missing optional dependency), not "unknown kind"; an unknown
    name lists the known kinds and any module that failed to import."""
    if name in _kind_modules():
        _import_kind_module(name)
    if name in _KINDS:
        return _KINDS[name]
    known = kinds()
    if name not in known and name in _BROKEN:
        raise KeyError(f"experiment kind {name!r} is unavailable: module carbonshift.experiments.kinds.{name} failed to import "
                       f"({_BROKEN[name]}); install what it needs or fix the module")
    if name not in known:
        broken = "".join(f"; module carbonshift.experiments.kinds.{m} failed to import ({why})" for m, why in _BROKEN.items())
        raise KeyError(f"unknown experiment kind {name!r}; known: {sorted(known)}{broken}")
    return known[name]


def check_policies(names: list[str], key: str = "policies") -> None:
    """Config check: every name in ``names`` is a registered scheduling policy (built-in or from a module in
    ``CARBONSHIFT_POLICIES``); otherwise a :class:`ConfigError` for ``key`` listing the known ones and how to add
    one. A policy module that fails to import is reported with its import error."""
    try:
        known = policy_names()
    except ValueError as exc:   # a CARBONSHIFT_POLICIES module failed to import
        raise ConfigError(f"{key}: {exc}") from None
    unknown = [p for p in names if p not in known]
    if unknown:
        raise ConfigError(f"{key}: unknown {unknown}; known {list(known)} (add your own: @register_policy in a "
                          f"module named in {PLUGINS_ENV}, see README 'Your own policy')")


REFERENCE_PATH = "docs/config_reference.md"
_COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+)$")


def config_reference() -> str:
    """Markdown reference of every shipped kind's config: one table per kind with each dotted key, its type,
    default, range and the comment next to the field in the source. Generated from the dataclasses
    (``carbonshift config-reference``); a test keeps :data:`REFERENCE_PATH` equal to it. Raises ``ValueError``
    when a kind module failed to import (the reference would miss its kinds)."""
    shipped = {n: k for n, k in kinds().items() if k.run.__module__.startswith("carbonshift.experiments.kinds.")}
    if _BROKEN:
        raise ValueError(f"config reference incomplete: {', '.join(f'carbonshift.experiments.kinds.{m} ({w})' for m, w in _BROKEN.items())}")
    out = ["# Config reference", "",
           "Generated from the config dataclasses by `carbonshift config-reference --output docs/config_reference.md`;",
           "do not edit by hand (`tests/experiments/test_cli_config_reference.py` fails when it is stale). Every",
           "config also accepts a `sweep:` section (experiments/configs/README.md). Units as in the README.", ""]
    for name, kind in sorted(shipped.items()):
        out += [f"## kind: `{name}`", "", kind.description, "", "| key | type | default | range | note |",
                "|---|---|---|---|---|", *_reference_rows(kind.config_cls, ""), ""]
    return "\n".join(out)


def _reference_rows(cls: type, prefix: str) -> list[str]:
    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key, tp = f"{prefix}{f.name}", hints[f.name]
        if "sections" in f.metadata:   # registry_sections: one nested section per registered name
            rows.append(f"| `{key}` | section | present | | {comments.get(f.name, '').replace('|', '/')} |")
            present = _default_value(f)
            for name, section in f.metadata["sections"]().items():
                note = " (null: disabled)" if name in present else " (optional: present = enabled)"
                rows.append(f"| `{key}.{name}` | section | {'present' if name in present else 'absent'} | | {note} |")
                rows += _reference_rows(section, f"{key}.{name}.")
            continue
        section = _section_type(tp)
        if section is not None:
            nullable = type(None) in typing.get_args(tp)
            note = " (optional: present = enabled)" if f.default is None else " (null: disabled)" if nullable else ""
            rows.append(f"| `{key}` | section | {'absent' if f.default is None else 'present'} | | "
                        f"{comments.get(f.name, '')}{note} |")
            rows += _reference_rows(section, f"{key}.")
            continue
        rows.append(f"| `{key}` | {_type_text(tp)} | {_default_text(f)} | {_bounds_text(f)} | "
                    f"{comments.get(f.name, '').replace('|', '/')} |")
    return rows


def _field_comments(cls: type) -> dict[str, str]:
    """``field name -> the # comment on its line`` in the source of the class and its dataclass bases (empty when
    the source is unavailable)."""
    out: dict[str, str] = {}
    for klass in reversed([c for c in cls.__mro__ if dataclasses.is_dataclass(c)]):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        out.update({m.group(1): m.group(2).strip() for m in map(_COMMENT.match, source.splitlines()) if m})
    return out


def _section_type(tp: Any) -> type | None:
    """The dataclass of a nested section (``X`` or ``X | None``), else None."""
    args = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) in (typing.Union, types.UnionType) else [tp]
    return args[0] if len(args) == 1 and isinstance(args[0], type) and dataclasses.is_dataclass(args[0]) else None


def _type_text(tp: Any) -> str:
    text = getattr(tp, "__name__", None) if typing.get_origin(tp) is None else None
    return (text or str(tp).replace("typing.", "")).replace("|", "or")


def _default_value(f: dataclasses.Field) -> Any:
    """A field's default (its default factory called), or ``dataclasses.MISSING`` for a required field."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _default_text(f: dataclasses.Field) -> str:
    value = _default_value(f)
    return "**required**" if value is dataclasses.MISSING else f"`{shown(value)}`".replace("|", "/")


def _bounds_text(f: dataclasses.Field) -> str:
    """The range column: the range declared on the field (``≥ 1, ≤ 1e+06``), or those of its entries' settings
    (``gpus ≥ 1, ≤ 1e+06; pue ≥ 1``); empty: none."""
    def text(rng: Range) -> str:
        return ", ".join(f"{op} {limit:g}" for op, limit in rng.limits())

    rng = field_range(f)
    if rng is not None:
        return text(rng)
    return "; ".join(f"{name} {text(r)}" for name, r in entry_ranges(f).items())
