"""Local text corpora that ship with Python: the source of the standard library's top-level modules.

Files (sorted by name, so the split is reproducible on one Python version) are dealt round-robin to the
training sites; every ``val_every``-th file is held out for validation instead. Text is byte-encoded
(vocabulary 256), so no tokenizer is downloaded.
"""
from __future__ import annotations

import sysconfig
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class Corpus:
    """Byte tensors (uint8 → int64 at batch time): one per site, plus the shared validation text."""

    sites: list[torch.Tensor]
    val: torch.Tensor
    files: int

    @property
    def train_bytes(self) -> int:
        return int(sum(len(s) for s in self.sites))


def stdlib_corpus(n_sites: int, max_bytes_per_site: int, val_bytes: int, val_every: int = 10,
                  root: str | Path | None = None) -> Corpus:
    """Deal the stdlib's top-level ``*.py`` files to ``n_sites`` sites (each capped at
    ``max_bytes_per_site`` bytes) and hold out every ``val_every``-th file (capped at ``val_bytes``)."""
    if n_sites < 1 or max_bytes_per_site < 1024 or val_bytes < 1024 or val_every < 2:
        raise ValueError("stdlib_corpus: need n_sites ≥ 1, max_bytes_per_site ≥ 1024, val_bytes ≥ 1024, "
                         "val_every ≥ 2")
    folder = Path(root or sysconfig.get_paths()["stdlib"])
    files = sorted(folder.glob("*.py"))
    if len(files) < val_every:
        raise ValueError(f"stdlib_corpus: only {len(files)} .py files under {folder}")
    site_parts: list[list[bytes]] = [[] for _ in range(n_sites)]
    site_len = [0] * n_sites
    val_parts: list[bytes] = []
    val_len = 0
    k = 0
    for i, f in enumerate(files):
        text = f.read_bytes()
        if i % val_every == 0:
            if val_len < val_bytes:
                val_parts.append(text)
                val_len += len(text)
            continue
        s = k % n_sites
        k += 1
        if site_len[s] < max_bytes_per_site:
            site_parts[s].append(text)
            site_len[s] += len(text)
    as_tensor = lambda parts, cap: torch.frombuffer(bytearray(b"".join(parts)[:cap]), dtype=torch.uint8)  # noqa: E731
    sites = [as_tensor(p, max_bytes_per_site) for p in site_parts]
    if min(len(s) for s in sites) < 1024:
        raise ValueError(f"stdlib_corpus: a site got < 1024 bytes; lower n_sites ({n_sites})")
    return Corpus(sites, as_tensor(val_parts, val_bytes), len(files))
