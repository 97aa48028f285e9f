"""One rule for paths built from user input (zone and region names, config names): :func:`inside`."""
from __future__ import annotations

import os
from pathlib import Path


def inside(folder: str | Path, *names: str) -> Path:
    """``folder/names[0]/names[1]/…`` after checking that it stays inside ``folder``: each name must be a
    single path component — not empty, ``.`` or ``..``, no ``/`` or ``\\``, no NUL, not absolute — and the
    joined path, normalised (``..`` collapsed without following links, so a user's symlinked files keep
    working), must lie under the normalised ``folder``. Raises ``ValueError`` naming the offending name."""
    for name in names:
        bad = (not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name
               or os.path.isabs(name) or Path(name).drive)
        if bad:
            raise ValueError(f"{name[:80]!r}: not a plain file or folder name (a path built from it would leave "
                             f"{str(folder)[:120]}; refused)")
    base = os.path.normpath(os.path.abspath(folder))
    path = os.path.normpath(os.path.join(base, *names))
    if os.path.commonpath([base, path]) != base:
        raise ValueError(f"{'/'.join(names)[:80]!r}: resolves outside {base} (refused)")
    return Path(path)
