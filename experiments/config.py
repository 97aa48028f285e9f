"""Strict YAML config parsing into dataclasses.

Every config section is a dataclass; :func:`parse` converts a nested dict into it and rejects unknown
keys, wrong types and missing required keys with a message naming the file and the dotted key path,
e.g. ``paper_main.yaml: workload.n_jobs: expected int, got 'many'``. Range checks live in each
dataclass's ``__post_init__`` and raise :class:`ConfigError` via :func:`check`.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """Invalid experiment config; the message names the file and the key."""


def check(ok: bool, key: str, problem: str) -> None:
    """Raise :class:`ConfigError` for ``key`` unless ``ok`` (for use in ``__post_init__``)."""
    if not ok:
        raise ConfigError(f"{key}: {problem}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: expected one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return _parse_dataclass(value, tp, key)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        item = args[0] if args else Any
        return [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {str(k): _convert(v, args[1] if args else Any, f"{key}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} at {key}")


def _parse_dataclass(doc: dict, cls: type[T], prefix: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(doc) - set(fields))
    dot = f"{prefix}." if prefix else ""
    if unknown:
        raise ConfigError(f"{dot}{unknown[0]}: unknown key (allowed: {sorted(fields)})")
    kwargs = {}
    for name, field in fields.items():
        if name in doc:
            kwargs[name] = _convert(doc[name], hints[name], f"{dot}{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{dot}{name}: required key missing")
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{dot}{exc}" if prefix else str(exc)) from None


def parse(doc: dict, cls: type[T], source: str = "<config>") -> T:
    """Convert ``doc`` into dataclass ``cls``; errors are prefixed with ``source``."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(doc).__name__}")
    try:
        return _parse_dataclass(doc, cls, "")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; syntax errors name the file and line."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return doc


def load(path: str | Path, cls: type[T]) -> T:
    return parse(load_yaml(path), cls, Path(path).name)


def as_dict(config: Any) -> dict:
    """Dataclass config back to plain dicts (for logging to MLflow)."""
    return dataclasses.asdict(config)
