"""PyTorch references for (gated) DeltaProduct, op by op in the input dtype.

Both functions compute, per sequence and head, with the state S ∈ R^{K×V} (Siems et al. 2025 §3;
fla's ``chunk_gated_delta_product`` semantics):

    for each token t:   S ← exp(g_t) · S
                        for j = 1 … n_h:   S ← S + β_j k_j (v_j − Sᵀk_j)ᵀ        (row t·n_h + j − 1)
                        o_t = scale · Sᵀ q_t

* :func:`recurrent` is that loop, literally (ground truth in float64; in bf16 it models a naive
  low-precision recurrence, every operation rounded to bf16).
* :func:`chunked` is the UT/WY form on the interleaved sequence of sub-step rows — the algorithm the
  chunked Triton kernel computes, in the kernel's order (the error models of :mod:`theory.error_models`
  describe it). Within a chunk of C rows with local log-gates γ_r (g_t at a token's first sub-step, 0
  elsewhere), decays D[r, s] = Σ_{s<t≤r} γ_t, and A = strictly_lower(β_r e^{D[r,s]} k_rᵀk_s):

      T = (I + A)⁻¹,   u = T · (β ⊙ (V − e^{D[r,0]} ⊙ K S₀))   (= U − W S₀ with U = T · (β ⊙ V) and
                                                               W = T · (β e^{D[r,0]} ⊙ K), never formed)
      S_end = e^{D[L,0]} S₀ + Σ_s e^{D[L,s]} k_s u_sᵀ
      o_r = scale · (e^{D[r,0]} q_rᵀ S₀ + Σ_{s≤r} e^{D[r,s]} (q_rᵀ k_s) u_s)

  D[r, s] is summed directly over (s, r] (a cumulative sum per column, not a difference of prefix sums),
  so a gate of −inf (γ = 0, a complete reset) gives e^{D} = 0 for every pair that straddles it — no
  −inf − (−inf) = NaN — and strongly negative gates lose no precision to cancellation.

Layouts (as fla): q [B, T, H, K]; k [B, T·n_h, H, K]; v [B, T·n_h, H, V]; beta [B, T·n_h, H];
g [B, T, H] (log-gates, ≤ 0, −inf allowed) or None; initial_state [N, H, K, V]; cu_seqlens [N + 1] in
tokens (then B = 1). Returns o [B, T, H, V] in q's dtype and the final state [N, H, K, V] in float32
(float64 for float64 inputs), or None. Inputs are assumed valid: :func:`kernels.delta_product` checks them.
"""

from __future__ import annotations

import torch

__all__ = ["recurrent", "chunked", "unit_lower_inverse", "segments", "state_dtype"]


def state_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of returned states: float64 for float64 inputs, float32 otherwise."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def segments(batch: int, tokens: int, cu_seqlens: torch.Tensor | None) -> list[tuple[int, int, int]]:
    """(batch row, first token, last token + 1) of every sequence: the batch rows, or the cu_seqlens pieces."""
    if cu_seqlens is None:
        return [(b, 0, tokens) for b in range(batch)]
    bounds = [int(x) for x in cu_seqlens.tolist()]
    return [(0, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def _by_sequence(q, v, initial_state, output_final_state, cu_seqlens, run):
    """Apply ``run(b, start, end, s0) -> (outputs [end − start, H, V], final state)`` to every sequence,
    starting each from its initial state (zeros if none); assemble o and the stacked final states."""
    batch, tokens, heads, kdim = q.shape
    vdim, dtype = v.shape[-1], q.dtype
    o = torch.zeros(batch, tokens, heads, vdim, dtype=dtype, device=q.device)
    finals = []
    for n, (b, start, end) in enumerate(segments(batch, tokens, cu_seqlens)):
        if initial_state is None:
            s = torch.zeros(heads, kdim, vdim, dtype=dtype, device=q.device)
        else:
            s = initial_state[n].to(dtype)
        out, s = run(b, start, end, s)
        if end > start:
            o[b, start:end] = out.to(dtype)
        finals.append(s.to(state_dtype(dtype)))
    return o, (torch.stack(finals) if output_final_state else None)


def recurrent(
    q, k, v, beta, g, *, num_householder, scale, initial_state=None, output_final_state=False, cu_seqlens=None
):
    """The sub-step loop, every operation in q's dtype (see the module docstring)."""
    n_h, dtype = num_householder, q.dtype

    def run(b, start, end, s):
        outs = []
        for t in range(start, end):
            if g is not None:
                s = torch.exp(g[b, t].to(dtype))[:, None, None] * s
            for j in range(n_h):
                row = t * n_h + j
                kk, vv, bb = k[b, row], v[b, row].to(dtype), beta[b, row].to(dtype)
                err = vv - torch.einsum("hkv,hk->hv", s, kk)
                s = s + bb[:, None, None] * kk[:, :, None] * err[:, None, :]
            outs.append(scale * torch.einsum("hkv,hk->hv", s, q[b, t]))
        return (torch.stack(outs) if outs else None), s

    return _by_sequence(q, v, initial_state, output_final_state, cu_seqlens, run)


def _chunk_decays(gamma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For local log-gates γ [H, L]: (e^{D[r, s]} for s ≤ r, zero above the diagonal) [H, L, L] and the
    decay from the chunk start e^{D[r, 0]} = e^{Σ_{t≤r} γ_t} [H, L]."""
    length = gamma.shape[-1]
    idx = torch.arange(length, device=gamma.device)
    after = idx[:, None] > idx[None, :]  # t > s
    x = torch.where(after, gamma[:, :, None], torch.zeros((), dtype=gamma.dtype, device=gamma.device))
    d = torch.cumsum(x, dim=1)  # D[r, s] = Σ_{s<t≤r} γ_t (summed from s upward)
    lower = idx[:, None] >= idx[None, :]
    decay = torch.where(lower, torch.exp(d), torch.zeros((), dtype=gamma.dtype, device=gamma.device))
    return decay, torch.exp(torch.cumsum(gamma, dim=1))


def unit_lower_inverse(a: torch.Tensor) -> torch.Tensor:
    """(I + A)⁻¹ for strictly lower triangular A [..., L, L], by forward substitution in A's dtype:
    row i of T is e_i − Σ_{j<i} A_ij T_j. float32/float64 use torch.linalg.solve_triangular (the same
    substitution, fast on GPUs); half formats, which it does not support, build the rows one by one."""
    length = a.shape[-1]
    eye = torch.eye(length, dtype=a.dtype, device=a.device).expand(a.shape)
    if a.dtype in (torch.float32, torch.float64):
        return torch.linalg.solve_triangular(eye + a, eye, upper=False, unitriangular=True)
    rows = [eye[..., 0, :]]
    for i in range(1, length):
        previous = torch.stack(rows, dim=-2)  # [..., i, L]
        rows.append(eye[..., i, :] - (a[..., i, :i, None] * previous).sum(-2))
    return torch.stack(rows, dim=-2)


def chunked(
    q,
    k,
    v,
    beta,
    g,
    *,
    num_householder,
    scale,
    initial_state=None,
    output_final_state=False,
    cu_seqlens=None,
    chunk_size=64,
):
    """The UT/WY form over chunks of ``chunk_size`` sub-step rows, every operation in q's dtype."""
    heads, kdim = q.shape[2], q.shape[3]
    n_h, dtype = num_householder, q.dtype

    def run(b, start, end, s):
        rows = (end - start) * n_h
        kk = k[b, start * n_h : end * n_h].transpose(0, 1)  # [H, rows, K]
        vv = v[b, start * n_h : end * n_h].transpose(0, 1).to(dtype)
        bb = beta[b, start * n_h : end * n_h].transpose(0, 1).to(dtype)  # [H, rows]
        gamma = torch.zeros(heads, rows, dtype=dtype, device=q.device)
        if g is not None:
            gamma[:, ::n_h] = g[b, start:end].transpose(0, 1).to(dtype)
        qq = torch.zeros(heads, rows, kdim, dtype=dtype, device=q.device)
        qq[:, n_h - 1 :: n_h] = q[b, start:end].transpose(0, 1)
        out_rows = []
        for c in range(0, rows, chunk_size):
            sl = slice(c, min(c + chunk_size, rows))
            kc, vc, bc, qc = kk[:, sl], vv[:, sl], bb[:, sl], qq[:, sl]
            decay, from_start = _chunk_decays(gamma[:, sl])
            a = torch.tril(bc[:, :, None] * (kc @ kc.transpose(1, 2)) * decay, diagonal=-1)
            t_inv = unit_lower_inverse(a)
            u = t_inv @ (bc[:, :, None] * (vc - from_start[:, :, None] * (kc @ s)))
            scores = (qc @ kc.transpose(1, 2)) * decay
            out_rows.append(scale * (from_start[:, :, None] * (qc @ s) + scores @ u))
            s = from_start[:, -1, None, None] * s + (decay[:, -1, :, None] * kc).transpose(1, 2) @ u
        out = torch.cat(out_rows, dim=1)[:, n_h - 1 :: n_h].transpose(0, 1) if out_rows else None
        return out, s

    return _by_sequence(q, v, initial_state, output_final_state, cu_seqlens, run)
