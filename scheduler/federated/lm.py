"""A tiny byte-level causal transformer language model and a corpus that ships with Python.

Corpus: the text of the standard library's own ``.py`` files (sorted, deterministic), read from
``sysconfig.get_paths()["stdlib"]`` — nothing is downloaded. Tokens are bytes (vocabulary 256).
"""
from __future__ import annotations

import math
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn


def stdlib_corpus(n_bytes: int, skip_bytes: int = 0) -> np.ndarray:
    """First ``n_bytes`` bytes (after ``skip_bytes``) of the concatenated stdlib top-level ``*.py`` files, uint8."""
    if n_bytes <= 0:
        raise ValueError(f"stdlib_corpus: n_bytes must be > 0, got {n_bytes}")
    root = Path(sysconfig.get_paths()["stdlib"])
    chunks, total = [], 0
    for path in sorted(root.glob("*.py")):
        data = path.read_bytes()
        chunks.append(data)
        total += len(data)
        if total >= n_bytes + skip_bytes:
            break
    buf = np.frombuffer(b"".join(chunks), dtype=np.uint8)[skip_bytes:skip_bytes + n_bytes]
    if buf.size < n_bytes:
        raise ValueError(f"stdlib_corpus: only {buf.size} bytes available under {root}, asked for {n_bytes}")
    return buf


@dataclass(frozen=True)
class LMConfig:
    """Model size knobs (make them larger on a GPU machine)."""

    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    context: int = 64
    dropout: float = 0.0


class TinyLM(nn.Module):
    """Decoder-only transformer over bytes (pre-norm encoder layers with a causal mask)."""

    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(256, cfg.d_model)
        self.pos = nn.Embedding(cfg.context, cfg.d_model)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, 4 * cfg.d_model, cfg.dropout,
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, 256)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(cfg.context), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        h = self.tok(x) + self.pos(torch.arange(t, device=x.device))
        h = self.blocks(h, mask=self.mask[:t, :t], is_causal=True)
        return self.head(self.norm(h))


def batch(data: np.ndarray, batch_size: int, context: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (input, next-byte target) windows from ``data``."""
    idx = rng.integers(0, data.size - context - 1, size=batch_size)
    win = np.stack([data[i:i + context + 1] for i in idx]).astype(np.int64)
    w = torch.from_numpy(win)
    return w[:, :-1], w[:, 1:]


def train_steps(model: TinyLM, opt: torch.optim.Optimizer, data: np.ndarray, steps: int, batch_size: int,
                rng: np.random.Generator) -> float:
    """``steps`` AdamW steps on random windows of ``data``; returns the last training loss (nats/byte)."""
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        x, y = batch(data, batch_size, model.cfg.context, rng)
        loss = nn.functional.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return float(loss)


@torch.no_grad()
def evaluate_loss(model: TinyLM, data: np.ndarray) -> float:
    """Mean next-byte cross-entropy (nats/byte) over non-overlapping windows of ``data``."""
    model.eval()
    c = model.cfg.context
    n = (data.size - 1) // c
    if n < 1:
        raise ValueError(f"evaluate_loss: validation data ({data.size} bytes) shorter than the context {c}")
    x = torch.from_numpy(data[:n * c].astype(np.int64).reshape(n, c))
    y = torch.from_numpy(data[1:n * c + 1].astype(np.int64).reshape(n, c))
    total = 0.0
    for i in range(0, n, 256):
        total += float(nn.functional.cross_entropy(model(x[i:i + 256]).reshape(-1, 256), y[i:i + 256].reshape(-1),
                                                   reduction="sum"))
    return total / (n * c)


def perplexity(loss: float) -> float:
    """Per-byte perplexity exp(loss)."""
    return math.exp(loss)
