"""A config document before it is parsed: find the file, read it, apply ``--set`` overrides by dotted key, and
parse the result into its kind's config dataclass.

A config is a YAML mapping with a top-level ``kind:`` (see :mod:`experiments.registry`); :func:`read_doc` returns
it raw (an optional ``sweep:`` section included, for :mod:`experiments.sweep` to split off), :func:`parse_doc`
parses a mapping without ``sweep`` strictly (:func:`experiments.config.parse`).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from carbonshift.experiments import registry
from carbonshift.experiments.config import ConfigError, load_yaml, parse, safe_yaml
from carbonshift.experiments.kind_lookup import get_kind
from carbonshift.experiments.tracking import project_dir


def set_dotted(doc: dict, key: str, value: Any, source: str = "<config>") -> None:
    """Set ``doc[a][b][c] = value`` for ``key='a.b.c'``, creating missing mappings.

    Keys under ``sweep`` are themselves dotted, so ``sweep.forecast.accuracy`` sets
    ``doc['sweep']['forecast.accuracy']``."""
    parts = key.split(".")
    if parts[0] == "sweep" and len(parts) > 1:
        sweep = doc.setdefault("sweep", {})
        if not isinstance(sweep, dict):
            raise ConfigError(f"{source}: --set {key}: the sweep section is not a single mapping")
        sweep[".".join(parts[1:])] = value
        return
    node = doc
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: {'.'.join(parts[:i + 1])}: is {child!r}, cannot set {key}")
        node = child
    node[parts[-1]] = value


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["workload.n_jobs=50", "seed=[0,1]"]`` → ``{"workload.n_jobs": 50, "seed": [0, 1]}`` (values YAML-parsed)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. workload.n_jobs=100")
        out[key.strip()] = safe_yaml(value, f"--set {key.strip()}")
    return out


def config_path(config: str | Path) -> Path:
    """A config file on disk: as given (absolute, or relative to the current directory), else relative to the project
    root of a checkout (``experiments/configs/paper_main.yaml`` works from any folder), else a shipped config of
    that name inside the installed package; unchanged when none exists (the reader then names it)."""
    given = Path(config)
    shipped = Path(__file__).with_name("configs") / given.name
    candidates = [given] if given.is_absolute() else [given, project_dir(".") / given]
    if given.parent.as_posix().endswith("experiments/configs") or given.parent == Path("."):
        candidates.append(shipped)
    return next((c for c in candidates if c.is_file()), given)


def read_doc(config: str | Path | dict, overrides: dict[str, Any] | None = None) -> tuple[dict, str]:
    """Raw config mapping (from a path — :func:`config_path` — or a dict) with ``overrides`` applied, and its source
    name."""
    if isinstance(config, dict):
        doc, source = copy.deepcopy(config), str(config.get("name", "<config>"))
    else:
        doc, source = load_yaml(config_path(config)), Path(config).name
    for key, value in (overrides or {}).items():
        set_dotted(doc, key, value, source)
    return doc, source


def parse_doc(doc: dict, source: str) -> tuple[registry.Kind, Any]:
    """Parse a raw mapping (without ``sweep``) into its kind and config dataclass; clear errors."""
    kind = get_kind(doc.get("kind"), source)
    return kind, parse(doc, kind.config_cls, source)
