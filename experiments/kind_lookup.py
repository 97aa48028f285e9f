"""Which registered kind a config's ``kind:`` names, with plug-in kind modules imported first.

Kind modules outside the package (user plugins, test kinds) are imported from the comma-separated module list in
``CARBONSHIFT_KINDS`` before a kind is looked up; a missing, unknown or unavailable kind is a
:class:`~experiments.config.ConfigError` naming the config it came from.
"""
from __future__ import annotations

import importlib
import os
from typing import Any

from carbonshift.experiments import registry
from carbonshift.experiments.config import ConfigError


def import_plugins() -> None:
    """Import the kind modules named in ``CARBONSHIFT_KINDS`` (comma-separated) so they register; one that fails
    to import is a :class:`ConfigError` naming it and passing its import error through."""
    for name in filter(None, (m.strip() for m in os.environ.get("CARBONSHIFT_KINDS", "").split(","))):
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise ConfigError(f"CARBONSHIFT_KINDS: kind module {name!r} failed to import "
                              f"({type(exc).__name__}: {exc})") from exc


def get_kind(name: Any, source: str) -> registry.Kind:
    """Kind registered as ``name``; a missing or unknown kind is a :class:`ConfigError` naming ``source``."""
    if not isinstance(name, str):
        raise ConfigError(f"{source}: kind: required key missing (one of {sorted(_known_kinds())})")
    import_plugins()
    try:
        return registry.get(name)
    except KeyError as exc:   # the message names kind modules that failed to import, with their import error
        raise ConfigError(f"{source}: kind: {exc.args[0]}") from None


def _known_kinds() -> list[str]:
    import_plugins()
    return list(registry.kinds())
