"""Run profiles: named sets of config overrides for the shipped experiments (``--profile NAME``).

``full`` (no overrides) runs every shipped config as written: the numbers of record, several hours on 2 cores,
meant for a Ray cluster (``RAY_ADDRESS``). ``two_core`` (``experiments/profiles/two_core.yaml``) is the reduced
profile ``make results`` runs by default, sized so that every shipped run and sweep fits in 2 h on a 2-core
machine; each of its overrides says what it cuts and why. A profile file maps a shipped config's file stem to
dotted overrides, applied exactly like ``--set`` (which wins over the profile). A run records its profile (tag
``carbonshift.profile``) and its overrides (tag ``carbonshift.overrides``); RESULTS.md names both.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from carbonshift.experiments.config import ConfigError, load_yaml

PROFILE_DIR = Path(__file__).parent / "profiles"
CONFIG_DIR = Path(__file__).parent / "configs"
#: the profile of every shipped config as written
FULL = "full"
#: run tag naming the profile a run or sweep ran under
TAG = "carbonshift.profile"


def describe(name: str) -> str:
    """A few words on what profile ``name`` runs (for RESULTS.md)."""
    return {FULL: "every config as written",
            "two_core": "the reduced 2-core profile, experiments/profiles/two_core.yaml says what it cuts"
            }.get(name, "see experiments/profiles/")


def profile_names() -> list[str]:
    """``full`` and every ``experiments/profiles/*.yaml``."""
    return [FULL] + sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name: str) -> dict[str, dict[str, Any]]:
    """{config stem: {dotted key: value}} of profile ``name`` (empty for ``full``); raises :class:`ConfigError`
    for an unknown profile, a config it names that is not shipped, or an entry that is not a mapping."""
    if name == FULL:
        return {}
    if name not in profile_names():
        raise ConfigError(f"--profile {name!r}: unknown profile (available: {', '.join(profile_names())})")
    path = PROFILE_DIR / f"{name}.yaml"
    doc = load_yaml(path) or {}
    shipped = {p.stem for p in CONFIG_DIR.glob("*.yaml")}
    for stem, overrides in doc.items():
        if stem not in shipped:
            raise ConfigError(f"{path.name}: {stem}: not a shipped config (experiments/configs/{stem}.yaml)")
        if not isinstance(overrides, dict) or not all(isinstance(k, str) for k in overrides):
            raise ConfigError(f"{path.name}: {stem}: expected a mapping of dotted config keys to values")
    return doc


def profile_overrides(name: str, config: str | Path | dict) -> dict[str, Any]:
    """The overrides profile ``name`` sets for ``config``, matched by file stem (``…/paper_main.yaml`` →
    ``paper_main``); {} for a config the profile does not name or a mapping."""
    if isinstance(config, dict):
        load_profile(name)        # an unknown profile is an error even here
        return {}
    return dict(load_profile(name).get(Path(config).stem, {}))
