"""The Gated DeltaProduct layer (Siems et al. 2025) on :func:`kernels.delta_product`, with the parameters of
fla's ``fla.layers.gated_deltaproduct.GatedDeltaProduct`` (names and shapes), so that a state dict moves
between the two.

Per token t with input x_t: n_h keys k_{t,j} = normalise(silu(conv(W_k x))_j), values v_{t,j} =
silu(conv(W_v x))_j, step sizes β_{t,j} = σ(W_b x)_j (times 2 with ``allow_neg_eigval``: β ∈ (0, 2), the
factor's eigenvalue 1 − β ∈ (−1, 1)), the Mamba-2 log-gate g_t = −e^{A_log}·softplus(W_a x + dt_bias), the
query q_t = normalise(silu(conv(W_q x))); the state follows S ← e^{g_t} S, then S ← S + β_j k_j (v_j − Sᵀk_j)ᵀ
for j = 1 … n_h, and o_t = K^{-1/2} Sᵀq_t, normalised per head (RMS, gated by silu(W_g x)) and projected out.
The state transition of token t is A_t = (I − β_n k_n k_nᵀ) ⋯ (I − β_1 k_1 k_1ᵀ) e^{g_t}
(:meth:`GatedDeltaProduct.transitions`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kernels import delta_product
from models.modules import GatedRMSNorm, RMSNorm, ShortConvolution, l2_normalise

__all__ = ["GatedDeltaProduct", "Factors"]


@dataclass(frozen=True)
class Factors:
    """One layer's per-token recurrence inputs for x [B, T, hidden]: q [B, T, H, K]; k [B, T, n_h, H, K] (unit
    norm), v [B, T, n_h, H, V], beta [B, T, n_h, H]; g [B, T, H] log-gates, or None without a forget gate."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    beta: torch.Tensor
    g: torch.Tensor | None


class GatedDeltaProduct(nn.Module):
    """fla's layer, arguments and defaults included (``num_v_heads`` and ``mode`` aside: value heads equal
    the heads, and ``backend`` chooses the kernel: "auto", "triton", "fla" or "reference", see
    :func:`kernels.delta_product`)."""

    def __init__(
        self,
        hidden_size: int = 2048,
        expand_v: float = 2,
        head_dim: int = 256,
        num_heads: int = 6,
        use_output_gate: bool = True,
        use_short_conv: bool = True,
        conv_size: int = 4,
        conv_bias: bool = False,
        norm_eps: float = 1e-5,
        use_forget_gate: bool = True,
        allow_neg_eigval: bool = True,
        num_householder: int = 2,
        backend: str = "auto",
    ):
        super().__init__()
        for name, value in (("hidden_size", hidden_size), ("head_dim", head_dim), ("num_heads", num_heads),
                            ("num_householder", num_householder), ("conv_size", conv_size)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        head_v_dim = head_dim * expand_v
        if not (isinstance(expand_v, (int, float)) and head_v_dim >= 1 and math.isclose(head_v_dim, round(head_v_dim))):
            raise ValueError(
                f"expand_v: expected head_dim·expand_v to be a positive integer, got {head_dim}·{expand_v!r}"
            )
        self.hidden_size, self.head_dim, self.num_heads = hidden_size, head_dim, num_heads
        self.head_k_dim, self.head_v_dim = head_dim, int(round(head_v_dim))
        self.key_dim, self.value_dim = num_heads * head_dim, num_heads * self.head_v_dim
        self.num_householder, self.backend = num_householder, backend
        self.use_forget_gate, self.allow_neg_eigval = use_forget_gate, allow_neg_eigval
        self.use_output_gate, self.use_short_conv = use_output_gate, use_short_conv
        n = num_householder
        self.q_proj = nn.Linear(hidden_size, self.key_dim, bias=False)
        self.k_proj = nn.Linear(hidden_size, self.key_dim * n, bias=False)
        self.v_proj = nn.Linear(hidden_size, self.value_dim * n, bias=False)
        self.b_proj = nn.Linear(hidden_size, num_heads * n, bias=False)
        if use_forget_gate:
            self.a_proj = nn.Linear(hidden_size, num_heads, bias=False)
            self.A_log = nn.Parameter(torch.log(torch.empty(num_heads).uniform_(1e-4, 16)))
            dt = torch.exp(torch.rand(num_heads) * (math.log(0.1) - math.log(0.001)) + math.log(0.001)).clamp_min(1e-4)
            self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus(dt_bias) = dt
        if use_short_conv:
            self.q_conv1d = ShortConvolution(self.key_dim, conv_size, conv_bias)
            self.k_conv1d = ShortConvolution(self.key_dim * n, conv_size, conv_bias)
            self.v_conv1d = ShortConvolution(self.value_dim * n, conv_size, conv_bias)
        if use_output_gate:
            self.g_proj = nn.Linear(hidden_size, self.value_dim, bias=False)
            self.o_norm = GatedRMSNorm(self.head_v_dim, eps=norm_eps)
        else:
            self.o_norm = RMSNorm(self.head_v_dim, eps=norm_eps)
        self.o_proj = nn.Linear(self.value_dim, hidden_size, bias=False)

    def _features(self, x: torch.Tensor, name: str) -> torch.Tensor:
        projected = getattr(self, f"{name}_proj")(x)
        return getattr(self, f"{name}_conv1d")(projected) if self.use_short_conv else F.silu(projected)

    def factors(self, x: torch.Tensor) -> Factors:
        """The recurrence inputs of every token of x [B, T, hidden] (:class:`Factors`)."""
        if x.ndim != 3 or x.shape[-1] != self.hidden_size:
            raise ValueError(f"x: expected shape [B, T, {self.hidden_size}], got {tuple(x.shape)}")
        batch, tokens, n, h = x.shape[0], x.shape[1], self.num_householder, self.num_heads
        q = l2_normalise(self._features(x, "q").view(batch, tokens, h, self.head_k_dim))
        k = l2_normalise(self._features(x, "k").view(batch, tokens, n, h, self.head_k_dim))
        v = self._features(x, "v").view(batch, tokens, n, h, self.head_v_dim)
        beta = self.b_proj(x).sigmoid().view(batch, tokens, n, h)
        if self.allow_neg_eigval:
            beta = 2 * beta
        g = None
        if self.use_forget_gate:
            a = self.a_proj(x)
            a = a.float() if a.dtype in (torch.bfloat16, torch.float16) else a  # fla: at least float32
            g = -self.A_log.to(a.dtype).exp() * F.softplus(a + self.dt_bias.to(a.dtype))
        return Factors(q, k, v, beta, g)

    def transitions(self, x: torch.Tensor) -> torch.Tensor:
        """A_t = (I − β_n k_n k_nᵀ) ⋯ (I − β_1 k_1 k_1ᵀ) e^{g_t} of every token and head, float64
        [B, T, H, K, K]: S_t = A_t S_{t−1} + (the values' part)."""
        f = self.factors(x)
        k, beta = f.k.double(), f.beta.double()
        eye = torch.eye(self.head_k_dim, dtype=torch.float64, device=x.device)
        a = eye.expand(*k.shape[:2], self.num_heads, -1, -1).clone()
        if f.g is not None:
            a = a * f.g.double().exp()[..., None, None]
        for j in range(self.num_householder):
            kj = k[:, :, j]
            a = a - beta[:, :, j, :, None, None] * kj[..., :, None] * (kj[..., None, :] @ a)
        return a

    def forward(self, x: torch.Tensor, initial_state: torch.Tensor | None = None, output_final_state: bool = False):
        """(y [B, T, hidden], final state [B, H, K, V] or None) through :func:`kernels.delta_product`."""
        f = self.factors(x)
        batch, tokens = x.shape[:2]
        rows = tokens * self.num_householder
        o, state = delta_product(
            f.q, f.k.reshape(batch, rows, self.num_heads, self.head_k_dim),
            f.v.reshape(batch, rows, self.num_heads, self.head_v_dim),
            f.beta.reshape(batch, rows, self.num_heads), g=f.g, num_householder=self.num_householder,
            initial_state=initial_state, output_final_state=output_final_state, backend=self.backend,
        )  # fmt: skip
        if self.use_output_gate:
            o = self.o_norm(o, self.g_proj(x).view(batch, tokens, self.num_heads, self.head_v_dim))
        else:
            o = self.o_norm(o)
        return self.o_proj(o.reshape(batch, tokens, self.value_dim)), state
