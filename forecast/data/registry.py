"""Dataset registry: every bundled file with its upstream repository, commit, path and sha256.

``registry.json`` lists the files of the shared data bundle (``<folder>/<name>.gz``). It is the bundle's
checksum list, not an allow-list: :func:`find` resolves any file with the bundle's layout (a user's own zones,
years or DACF regions in ``--data-dir``), and the readers validate whatever they find. ``sha256`` and
``bytes`` are of the *decompressed* file, i.e. of the upstream raw file byte for byte, so a download from
the pinned upstream commit can be verified against it.

Resolution order for the data folder (first that has the file wins):
1. an explicit ``data_dir`` argument (CLI ``--data-dir``), else ``$CARBONSHIFT_DATA_DIR``: it must be an existing
   folder (:class:`DataDirError` otherwise — never a silent fall-back to the bundle);
2. ``../shared/data`` next to the repository checkout;
3. the user cache ``$XDG_CACHE_HOME/carbonshift/data`` (default ``~/.cache/carbonshift/data``),
   which ``carbonshift data fetch`` fills.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from carbonshift.forecast.data.paths import inside

REPO_ROOT = Path(__file__).resolve().parents[2]
_REGISTRY = Path(__file__).with_name("registry.json")


@dataclass(frozen=True)
class Dataset:
    """One bundled file: ``file`` is relative to the data folder (gzip of the upstream raw file)."""

    file: str
    repo: str
    commit: str
    upstream_path: str
    sha256: str
    bytes: int

    @property
    def folder(self) -> str:
        return self.file.split("/", 1)[0]

    def raw_url(self, base: str = "https://raw.githubusercontent.com") -> str:
        return f"{base.rstrip('/')}/{self.repo}/{self.commit}/{self.upstream_path}"


@cache
def datasets() -> tuple[Dataset, ...]:
    return tuple(Dataset(**d) for d in json.loads(_REGISTRY.read_text()))


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "carbonshift" / "data"


class DataDirError(ValueError):
    """The data folder a user named cannot be used as named: it does not exist, or it holds a file twice
    (``X.csv`` and ``X.csv.gz``). The message says what to change."""


def explicit_dir(data_dir: str | Path | None = None) -> Path | None:
    """The data folder the user named (``data_dir``, else ``$CARBONSHIFT_DATA_DIR``), checked to exist; ``None``
    when neither is set. A named folder that is not there is a :class:`DataDirError`, not a fall-back to the
    shipped data."""
    named, origin = (data_dir, "--data-dir") if data_dir else (os.environ.get("CARBONSHIFT_DATA_DIR"),
                                                                "CARBONSHIFT_DATA_DIR")
    if not named:
        return None
    path = Path(named).expanduser()
    if not path.is_dir():
        raise DataDirError(f"{origin}={named}: no such folder. Fix the path (a folder laid out like the bundle: "
                           f"electricitymaps/<ZONE>_<YEAR>_hourly.csv[.gz], …) or unset {origin} to use the shipped "
                           f"data ({REPO_ROOT.parent / 'shared' / 'data'})")
    return path


def candidate_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for data, in resolution order (raises :class:`DataDirError` for a named folder that
    does not exist)."""
    explicit = explicit_dir(data_dir)
    return ([explicit] if explicit else []) + [REPO_ROOT.parent / "shared" / "data", cache_dir()]


#: data files :func:`find` / :func:`resolve` returned in this process since :func:`reset_used` (what a run read)
_USED: dict[Path, None] = {}


def used_files() -> list[Path]:
    """Data files located since the last :func:`reset_used`, in first-use order."""
    return list(_USED)


def reset_used() -> None:
    _USED.clear()


def _used(path: Path) -> Path:
    _USED[path.resolve()] = None
    return path


def resolve(file: str, data_dir: str | Path | None = None) -> Path:
    """Path of a registry file (``folder/name.gz``) in the first folder that has it."""
    for d in candidate_dirs(data_dir):
        if (d / file).is_file():
            return _used(d / file)
    raise FileNotFoundError(
        f"dataset file {file!r} not found in {[str(d) for d in candidate_dirs(data_dir)]}; "
        "set --data-dir / CARBONSHIFT_DATA_DIR or run `carbonshift data fetch`")


def find(folder: str, stem: str, suffixes: tuple[str, ...], data_dir: str | Path | None = None) -> Path:
    """First ``<dir>/<folder>/<stem><suffix>`` over :func:`candidate_dirs` × ``suffixes`` (e.g. a user's
    ``electricitymaps/CA-ON_2024_hourly.csv`` or the bundle's ``…csv.gz``); a clear error lists what exists. One
    folder holding the file under two suffixes (``X.csv`` and ``X.csv.gz``) is a :class:`DataDirError`."""
    dirs = candidate_dirs(data_dir)
    for d in dirs:
        hits = [inside(d, folder, f"{stem}{suffix}") for suffix in suffixes
                if inside(d, folder, f"{stem}{suffix}").is_file()]
        if len(hits) > 1:
            raise DataDirError(f"{d / folder}: both {' and '.join(h.name for h in hits)} — which one is meant is "
                               "ambiguous; remove or rename all but one")
        if hits:
            return _used(hits[0])
    tried = f"{folder}/{stem}{suffixes[0]}" + "".join(f" or {s}" for s in suffixes[1:])
    files = [f.name for d in dirs if (d / folder).is_dir() for f in (d / folder).iterdir() if f.is_file()]
    zones = sorted({name.split("_")[0] for name in files})   # bundle layout: <ZONE or REGION>_…
    raise FileNotFoundError(
        f"no {tried} in {[str(d) for d in dirs]} (file prefixes there: {', '.join(zones) or 'none'}); add yours "
        "with --data-dir / CARBONSHIFT_DATA_DIR (README: Bring your own zone) or run `carbonshift data fetch`")


#: Folders (and file-name endings) of the bundle layout that a user's data dir may add files to.
USER_LAYOUT: dict[str, tuple[str, ...]] = {
    "electricitymaps": ("_hourly.csv", "_hourly.csv.gz"),
    "openmeteo": (".json", ".json.gz"),
    "openmeteo_forecast": (".csv", ".csv.gz"),
    "dacf": (".csv", ".csv.gz"),
}


def user_files(data_dir: str | Path | None = None) -> list[Path]:
    """Files with the bundle's layout in the explicit data dir (``data_dir`` or ``$CARBONSHIFT_DATA_DIR``) that
    the registry does not list — a user's own zones, years and regions."""
    root = explicit_dir(data_dir)
    if root is None:
        return []
    known = {ds.file for ds in datasets()}
    return sorted(f for folder, ends in USER_LAYOUT.items() if (root / folder).is_dir()
                  for f in (root / folder).iterdir()
                  if f.is_file() and f.name.endswith(ends) and f"{folder}/{f.name}" not in known)
