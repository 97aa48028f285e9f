"""Strict YAML config parsing into dataclasses.

Every config section is a dataclass; :func:`parse` converts a nested dict into it and rejects unknown
keys, wrong types and missing required keys with a message naming the file and the dotted key path,
e.g. ``paper_main.yaml: workload.n_jobs: expected int, got 'many'``. Numeric ranges are declared on the
field with :func:`forecast.bounds.bounded` (or :func:`~forecast.bounds.bounded_entries` for a mapping of
per-name settings; in experiment sections and in the library dataclasses they expose alike) and every one is
checked here at parse time (:func:`check_range`); cross-field checks live in each dataclass's ``__post_init__``
and raise :class:`ConfigError` via :func:`check`. A mapping whose names come from a registry that plug-ins extend
(the backtest's ``models``) is a :func:`registry_sections` field.

Untrusted YAML fails fast and short (:func:`safe_yaml`): at most :data:`MAX_YAML_BYTES` of UTF-8 text,
nesting at most :data:`MAX_DEPTH` levels, aliases expanding to at most :data:`MAX_EXPANDED_NODES` nodes;
values quoted in messages are cut to :data:`MAX_SHOWN` characters.
"""
from __future__ import annotations

import dataclasses
import datetime
import math
import operator
import re
import reprlib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from carbonshift.forecast.bounds import Range, entry_ranges, field_range

T = TypeVar("T")
MAX_YAML_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_EXPANDED_NODES = 100_000
MAX_SHOWN = 80


class ConfigError(ValueError):
    """Invalid experiment config; the message names the file and the key."""


def check(ok: bool, key: str, problem: str) -> None:
    """Raise :class:`ConfigError` for ``key`` unless ``ok`` (for use in ``__post_init__``)."""
    if not ok:
        raise ConfigError(f"{key}: {problem}")


def shown(value: Any) -> str:
    """A bounded ``repr(value)`` of at most :data:`MAX_SHOWN` characters: containers show their first items
    only (printing never expands a huge aliased value), huge integers their bit length."""
    limiter = reprlib.Repr()
    limiter.maxlevel, limiter.maxlist, limiter.maxdict, limiter.maxstring = 3, 6, 6, MAX_SHOWN
    limiter.maxlong = limiter.maxother = 40
    try:
        text = limiter.repr(value)
    except ValueError:  # an integer beyond the interpreter's str-conversion digit limit
        text = f"<{type(value).__name__} too large to show>"
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}…"


def registry_sections(sections: Callable[[], Mapping[str, type]], default: Callable[[], dict[str, Any]],
                      hint: str = "") -> Any:
    """A dataclass field mapping names to sections whose names and dataclasses come from ``sections()`` when the
    config is parsed (a registry that plug-in modules extend, e.g. the backtest's ``models``). Annotate it
    ``dict[str, Any]``. Each listed name's mapping is parsed strictly into its dataclass (a ``ValueError`` its
    ``__post_init__`` raises becomes a :class:`ConfigError` naming the key); ``null`` drops an entry of
    ``default()``, which holds the entries present when the config does not name them. The parsed mapping is
    ordered as ``sections()``. ``hint`` ends the message of an unknown name (how to add one)."""
    return dataclasses.field(default_factory=default, metadata={"sections": sections, "hint": hint})


def _convert_sections(value: Any, field: dataclasses.Field, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping, got {shown(value)}")
    try:
        known = field.metadata["sections"]()
    except ValueError as exc:   # a plug-in module failed to import
        raise ConfigError(f"{key}: {exc}") from None
    unknown = [k for k in value if k not in known]
    if unknown:
        hint = f" ({field.metadata['hint']})" if field.metadata.get("hint") else ""
        raise ConfigError(f"{key}.{shown(unknown[0])[1:-1]}: unknown key (allowed: {list(known)}){hint}")
    assert field.default_factory is not dataclasses.MISSING, "registry_sections always sets default_factory"
    chosen = dict(field.default_factory())
    for name, doc in value.items():
        if doc is None:
            chosen.pop(name, None)
            continue
        if not isinstance(doc, dict):
            raise ConfigError(f"{key}.{name}: expected a mapping or null, got {shown(doc)}")
        try:
            chosen[name] = _parse_dataclass(doc, known[name], f"{key}.{name}")
        except ConfigError:
            raise
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{key}.{name}: {exc}") from None
    return {name: chosen[name] for name in known if name in chosen}


#: operator of :meth:`forecast.bounds.Range.limits` → whether a value is inside that limit
_INSIDE: dict[str, Callable[[Any, Any], bool]] = {">": operator.gt, "≥": operator.ge, "<": operator.lt,
                                                  "≤": operator.le}


def check_range(value: Any, rng: Range, key: str) -> None:
    """Raise :class:`ConfigError` naming ``key`` when number ``value`` lies outside ``rng`` (NaN always does);
    ``None`` and non-numbers pass (their type is checked elsewhere)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and math.isnan(value):
        raise ConfigError(f"{key}: must be a number, got nan")
    for word, limit in rng.limits():
        if not _INSIDE[word](value, limit):
            raise ConfigError(f"{key}: must be {word} {limit:g}, got {shown(value)}")


def _check_field_ranges(value: Any, field: dataclasses.Field, key: str) -> None:
    """The ranges declared on ``field`` (:mod:`forecast.bounds`) for its parsed ``value``."""
    rng, settings_ranges = field_range(field), entry_ranges(field)
    if rng is not None:
        check_range(value, rng, key)
    if settings_ranges and isinstance(value, dict):
        for entry, settings in value.items():
            unknown = sorted(set(settings) - set(settings_ranges))
            check(not unknown, f"{key}.{entry}", f"unknown setting(s) {', '.join(map(repr, unknown))}; "
                                                  f"known: {', '.join(settings_ranges)}")
            for name, setting_range in settings_ranges.items():
                if name in settings:
                    check_range(settings[name], setting_range, f"{key}.{entry}.{name}")


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
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: expected {_type_name(tp)}, got {shown(value)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: expected one of {list(args)}, got {shown(value)}")
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {shown(value)}")
        return _parse_dataclass(value, tp, key)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {shown(value)}")
        item = args[0] if args else Any
        return [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {shown(value)}")
        return {str(k): _convert(v, args[1] if args else Any, f"{key}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {shown(value)}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {shown(value)}")
        return value
    if tp is str and isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()   # unquoted YAML date (``--set data.start=2023-07-01``): the same date as text
    if tp is str and isinstance(value, str):
        check_date_text(value, key)   # a quoted "2023-02-30" is refused here, not when the run reaches it
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ConfigError(f"{key}: expected {tp.__name__}, got {shown(value)}")
        return value
    raise TypeError(f"unsupported config type {tp!r} at {key}")


#: text that is meant as a date: ``YYYY-MM-DD``, optionally followed by a time (``T23:00Z``, `` 23:00:00+00:00``)
DATE_TEXT = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:([T ])(.*))?$")


def check_date_text(value: str, key: str) -> None:
    """Raise :class:`ConfigError` naming ``key`` when ``value`` is written as a date (``YYYY-MM-DD[ time]``) but
    is not one (``2023-02-30``, ``2023-13-01``, ``2023-03-01T25:00``). Any other text passes unchanged."""
    m = DATE_TEXT.match(value)
    if m is None:
        return
    year, month, day, sep, rest = m.groups()
    try:
        datetime.date(int(year), int(month), int(day))
        if sep is not None:
            iso = f"{int(year):04d}-{int(month):02d}-{int(day):02d}T{rest.strip()}"
            datetime.datetime.fromisoformat(iso[:-1] + "+00:00" if iso.endswith(("Z", "z")) else iso)
    except ValueError as exc:
        raise ConfigError(f"{key}: {shown(value)} is not a valid date ({exc})") from None


def _keyed(message: str, prefix: str, joint: str) -> str:
    """``message`` of the section at dotted ``prefix``, keyed once from the config's root: ``prefix`` + ``joint`` +
    ``message``, unless the message already names its key from the root (``forecast.horizon_h: …``, as
    :func:`check` is called in ``__post_init__``)."""
    if not prefix or message.startswith((f"{prefix}.", f"{prefix}:")):
        return message
    return f"{prefix}{joint}{message}"


def _parse_dataclass(doc: dict, cls: type[T], prefix: str) -> T:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"unsupported config type {cls!r} at {prefix or 'the top level'} (not a dataclass)")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(doc) - set(fields))
    dot = f"{prefix}." if prefix else ""
    if unknown:
        raise ConfigError(f"{dot}{shown(unknown[0])[1:-1]}: unknown key (allowed: {sorted(fields)})")
    kwargs = {}
    for name, field in fields.items():
        if name in doc and "sections" in field.metadata:
            kwargs[name] = _convert_sections(doc[name], field, f"{dot}{name}")
        elif name in doc:
            kwargs[name] = _convert(doc[name], hints[name], f"{dot}{name}")
            _check_field_ranges(kwargs[name], field, f"{dot}{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{dot}{name}: required key missing")
    try:
        return cls(**kwargs)
    except ConfigError as exc:                 # a section's own checks name their key (:func:`check`)
        raise ConfigError(_keyed(str(exc), prefix, ".")) from None
    except ValueError as exc:                  # a library dataclass (scheduler, forecast Params) checking itself
        raise ConfigError(_keyed(str(exc), prefix, ": ")) from None


#: a run name (``name:``): names the MLflow experiment and the reports folder, so never a path
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def parse(doc: dict, cls: type[T], source: str = "<config>") -> T:
    """Convert ``doc`` into dataclass ``cls``; errors are prefixed with ``source``. A top-level ``name`` must
    match :data:`RUN_NAME` (letters, digits, ``_ . -``, starting with a letter or digit, ≤ 100 characters)."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(doc).__name__}")
    name = doc.get("name")
    if name is not None and not (isinstance(name, str) and RUN_NAME.fullmatch(name)):
        raise ConfigError(f"{source}: name: {shown(name)} is not a run name (letters, digits, _ . - only, starting "
                          f"with a letter or digit, at most 100 characters; it names a folder, never a path)")
    try:
        return _parse_dataclass(doc, cls, "")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


class _Budget:
    """Fail-fast checks on a YAML document before it is built into Python objects."""

    @staticmethod
    def depth(text: str, source: str) -> None:
        """Nesting ≤ :data:`MAX_DEPTH`, from the parser's (iterative) event stream — before the recursive
        composer could overflow the stack."""
        depth = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels "
                                      f"(line {event.start_mark.line + 1})")
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1

    @staticmethod
    def expansion(node: yaml.Node, source: str) -> None:
        """The node graph, aliases expanded, has ≤ :data:`MAX_EXPANDED_NODES` nodes (counted per distinct
        node, so a billion-laughs document is rejected without being expanded)."""
        sizes: dict[int, int] = {}

        def size(n: yaml.Node) -> int:
            if id(n) not in sizes:
                children = [c for pair in n.value for c in pair] if isinstance(n, yaml.MappingNode) else \
                    n.value if isinstance(n, yaml.SequenceNode) else []
                sizes[id(n)] = 1 + sum(size(c) for c in children)
            return sizes[id(n)]

        if size(node) > MAX_EXPANDED_NODES:
            raise ConfigError(f"{source}: aliases expand to more than {MAX_EXPANDED_NODES} values (refused)")


def safe_yaml(text: str, source: str) -> Any:
    """Parse untrusted YAML ``text`` (safe loader) within the size, depth and alias-expansion budgets;
    every failure is one :class:`ConfigError` line naming ``source``."""
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{source}: larger than {MAX_YAML_BYTES} characters (refused)")
    try:
        _Budget.depth(text, source)
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _Budget.expansion(node, source)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except ConfigError:
        raise
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise ConfigError(f"{source}: invalid YAML: {problem[:200]}") from None
    except (RecursionError, ValueError, OverflowError) as exc:  # e.g. an integer past the digit limit, 2023-02-30
        why = f": {exc}" if isinstance(exc, ValueError) and len(str(exc)) <= MAX_SHOWN else ""  # a short reason
        raise ConfigError(f"{source}: invalid YAML value ({exc.__class__.__name__}{why})") from None


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping with :func:`safe_yaml`; every problem (missing or binary file, syntax with file and
    line, budgets) is one :class:`ConfigError`."""
    path = Path(path)
    try:
        if not path.is_file():       # a folder, FIFO or device (/dev/zero) is never read: it could hang or fill memory
            raise ConfigError(f"{path}: no such config file" if not path.exists() else
                              f"{path}: not a regular file (a config is a YAML file)")
        with path.open("rb") as f:
            raw = f.read(MAX_YAML_BYTES + 1)    # never more than the budget, whatever the file's size
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_YAML_BYTES} bytes (refused)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); is this a YAML file?") from None
    doc = safe_yaml(text, str(path))
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return doc


def load(path: str | Path, cls: type[T]) -> T:
    return parse(load_yaml(path), cls, Path(path).name)


def as_dict(config: Any) -> dict:
    """Dataclass config back to plain dicts (for logging to MLflow)."""
    return dataclasses.asdict(config)
