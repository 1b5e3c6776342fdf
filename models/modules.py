"""The building blocks of :mod:`models`, with the parameter names and shapes of fla's modules so that state
dicts move between them: a depthwise causal short convolution, RMS normalisation (plain and gated), and
the gated MLP. Written here (a few lines each) because fla's versions are Triton kernels that need a GPU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ShortConvolution", "RMSNorm", "GatedRMSNorm", "GatedMLP", "l2_normalise"]


def l2_normalise(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """x / √(Σx² + eps) over the last axis, in float32 at least: fla's in-kernel q/k normalisation."""
    y = x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
    return (y * torch.rsqrt(y.pow(2).sum(-1, keepdim=True) + eps)).to(x.dtype)


class ShortConvolution(nn.Conv1d):
    """Depthwise causal convolution over time followed by SiLU: y_t = silu(Σ_{i<K} w_i ⊙ x_{t−K+1+i}),
    x [B, T, C] → [B, T, C]; ``weight`` [C, 1, K] as fla's ``ShortConvolution`` (a Conv1d too)."""

    def __init__(self, hidden_size: int, kernel_size: int = 4, bias: bool = False):
        super().__init__(hidden_size, hidden_size, kernel_size, groups=hidden_size, padding=kernel_size - 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x.transpose(1, 2))[..., : x.shape[1]]
        return F.silu(y).transpose(1, 2)


class RMSNorm(nn.Module):
    """x / √(mean(x²) + eps) ⊙ weight over the last axis (computed in float32 at least)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        y = x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
        return y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.to(y.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalise(x).to(x.dtype)


class GatedRMSNorm(RMSNorm):
    """RMSNorm(x) ⊙ silu(g): fla's ``FusedRMSNormGated`` with its default swish activation."""

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        gate = g.float() if g.dtype in (torch.bfloat16, torch.float16) else g
        return (self.normalise(x) * F.silu(gate)).to(x.dtype)


class GatedMLP(nn.Module):
    """down(silu(gate(x)) ⊙ up(x)), as fla's ``GatedMLP`` (``gate_proj``, ``up_proj``, ``down_proj``)."""

    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
