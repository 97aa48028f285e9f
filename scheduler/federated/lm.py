"""A tiny causal transformer language model over bytes (vocabulary 256), its batches, steps and evaluation.

Size knobs (``LMConfig``): ``d_model``, ``n_layers``, ``n_heads``, ``context``; the defaults are CPU-sized
(~0.1 M parameters); raise them on a GPU machine.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

VOCAB = 256


@dataclass(frozen=True)
class LMConfig:
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    context: int = 64           # tokens (bytes) per sequence
    batch_size: int = 16
    lr: float = 3e-3

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads or min(self.d_model, self.n_layers, self.context, self.batch_size) < 1:
            raise ValueError(f"LMConfig: d_model must be a multiple of n_heads and all sizes ≥ 1: {self}")


class TinyLM(nn.Module):
    """Token + learned position embeddings → pre-norm causal transformer encoder → tied output head."""

    mask: torch.Tensor  # a registered buffer (nn.Module.__getattr__ would type it Tensor | Module)

    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(VOCAB, cfg.d_model)
        self.pos = nn.Parameter(torch.zeros(cfg.context, cfg.d_model))
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, 4 * cfg.d_model, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(cfg.context), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        h = self.tok(x) + self.pos[:t]
        h = self.body(h, mask=self.mask[:t, :t], is_causal=True)
        return self.norm(h) @ self.tok.weight.T


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def batch(data: torch.Tensor, cfg: LMConfig, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (input, next-byte target) windows of ``cfg.context`` bytes."""
    idx = torch.randint(0, len(data) - cfg.context - 1, (cfg.batch_size,), generator=gen)
    rows = torch.stack([data[i:i + cfg.context + 1] for i in idx.tolist()]).long()
    return rows[:, :-1], rows[:, 1:]


def train_steps(model: TinyLM, opt: torch.optim.Optimizer, data: torch.Tensor, steps: int,
                gen: torch.Generator) -> float:
    """``steps`` AdamW steps on ``data``; returns the mean training loss (nats/byte)."""
    model.train()
    total = 0.0
    for _ in range(steps):
        x, y = batch(data, model.cfg, gen)
        loss = nn.functional.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach())
    return total / max(steps, 1)


@torch.no_grad()
def evaluate(model: TinyLM, val: torch.Tensor) -> float:
    """Mean cross-entropy (nats/byte) over non-overlapping validation windows (deterministic)."""
    model.eval()
    c = model.cfg.context
    n = (len(val) - 1) // c
    if n < 1:
        raise ValueError(f"evaluate: validation text shorter than one context ({c} bytes)")
    x = val[: n * c].long().view(n, c)
    y = val[1: n * c + 1].long().view(n, c)
    losses = [nn.functional.cross_entropy(model(xb).reshape(-1, VOCAB), yb.reshape(-1), reduction="sum")
              for xb, yb in zip(x.split(256), y.split(256))]
    return float(sum(losses)) / (n * c)


def perplexity(loss: float) -> float:
    return math.exp(loss)
