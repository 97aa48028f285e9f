"""Forecasters by config name: a registry of :class:`forecast.models.base.Forecaster` classes.

A class is registered under a config name with :func:`register_forecaster`; the backtest config's
``models.<name>`` section is its ``Params`` dataclass and the backtest, ``forecast train`` and the tune kind
build members through :func:`forecaster_class`. The built-in forecasters (:data:`BUILTIN_MODULES`) register on
first use; a user's forecasters live in their own modules, named (comma-separated, importable from
``PYTHONPATH``) in the environment variable ``CARBONSHIFT_FORECASTERS``, which are imported before a name is
looked up. A module that fails to import is an error naming the module and its import error, never
"unknown forecaster" (as ``CARBONSHIFT_POLICIES`` for scheduling policies).
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Callable

from carbonshift.forecast.models.base import Forecaster

PLUGINS_ENV = "CARBONSHIFT_FORECASTERS"
#: Modules of the built-in forecasters, in the order their members appear in a backtest.
BUILTIN_MODULES: tuple[str, ...] = tuple(f"carbonshift.forecast.models.{m}"
                                         for m in ("naive", "gbm", "prophet", "lstm", "tft"))
_CLASSES: dict[str, type[Forecaster]] = {}


def register_forecaster(name: str) -> Callable[[type[Forecaster]], type[Forecaster]]:
    """Class decorator registering a :class:`Forecaster` subclass under config name ``name`` (an identifier; it
    becomes the class's ``name``). Registering a second, different class under a taken name is a ``ValueError``."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"register_forecaster: forecaster name must be an identifier, got {name!r}")

    def wrap(cls: type[Forecaster]) -> type[Forecaster]:
        if not (isinstance(cls, type) and issubclass(cls, Forecaster)):
            raise ValueError(f"register_forecaster({name!r}): {cls!r} is not a subclass of "
                             "carbonshift.forecast.models.base.Forecaster")
        known = _CLASSES.get(name)
        if known is not None and _qualname(known) != _qualname(cls):
            raise ValueError(f"register_forecaster: forecaster {name!r} is already registered by {_qualname(known)}; "
                             f"choose another name for {_qualname(cls)}")
        cls.name = name
        _CLASSES[name] = cls
        return cls

    return wrap


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def import_plugins() -> None:
    """Import the built-in forecaster modules, then those named in ``CARBONSHIFT_FORECASTERS`` (comma-separated)
    so they register; one that fails to import is a ``ValueError`` naming it and passing its import error
    through."""
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise ValueError(f"{PLUGINS_ENV}: forecaster module {module!r} failed to import "
                             f"({type(exc).__name__}: {exc})") from exc


def forecaster_classes() -> dict[str, type[Forecaster]]:
    """Config name → class of every registered forecaster: the built-ins, then those of
    ``CARBONSHIFT_FORECASTERS`` in registration order."""
    import_plugins()
    order = {m: k for k, m in enumerate(BUILTIN_MODULES)}
    ranked = sorted(enumerate(_CLASSES.items()), key=lambda e: (order.get(e[1][1].__module__, len(order)), e[0]))
    return {name: cls for _, (name, cls) in ranked}


def forecaster_class(name: str) -> type[Forecaster]:
    """The class registered as ``name``; ``ValueError`` listing the known names when there is none."""
    known = forecaster_classes()
    if name not in known:
        raise ValueError(f"unknown forecaster {name!r}; known: {list(known)} (register your own with "
                         f"@register_forecaster in a module named in {PLUGINS_ENV})")
    return known[name]
