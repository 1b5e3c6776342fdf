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
    """Apply ``run(rows, start, end, s0) -> (outputs [rows, end − start, H, V], final states [rows, H, K, V])`` to
    the sequences, each from its initial state (zeros if none): all batch rows in one call (``rows`` a slice of
    them; the same arithmetic per sequence as one by one, a fraction of the Python and autograd work), cu_seqlens
    pieces one by one. Assembles o and the stacked final states."""
    batch, tokens, heads, kdim = q.shape
    vdim, dtype = v.shape[-1], q.dtype
    if cu_seqlens is None:
        calls = [(slice(None), 0, tokens, initial_state)]
    else:
        calls = [(slice(0, 1), start, end, None if initial_state is None else initial_state[n : n + 1])
                 for n, (_, start, end) in enumerate(segments(batch, tokens, cu_seqlens))]  # fmt: skip
    count = batch if cu_seqlens is None else 1
    o = torch.zeros(batch, tokens, heads, vdim, dtype=dtype, device=q.device)
    finals = []
    for rows, start, end, s0 in calls:
        s = torch.zeros(count, heads, kdim, vdim, dtype=dtype, device=q.device) if s0 is None else s0.to(dtype)
        if end > start:
            out, s = run(rows, start, end, s)
            o[rows, start:end] = out.to(dtype)
        finals.append(s.to(state_dtype(dtype)))
    return o, (torch.cat(finals) if output_final_state else None)


def recurrent(
    q, k, v, beta, g, *, num_householder, scale, initial_state=None, output_final_state=False, cu_seqlens=None
):
    """The sub-step loop, every operation in q's dtype (see the module docstring)."""
    n_h, dtype = num_householder, q.dtype

    def run(rows, start, end, s):
        outs = []
        for t in range(start, end):
            if g is not None:
                s = torch.exp(g[rows, t].to(dtype))[..., None, None] * s
            for j in range(n_h):
                row = t * n_h + j
                kk, vv, bb = k[rows, row], v[rows, row].to(dtype), beta[rows, row].to(dtype)
                err = vv - (kk[..., None, :] @ s)[..., 0, :]  # kᵀS, a matmul: einsum's parsing, per step, cost more
                s = s + bb[..., None, None] * kk[..., :, None] * err[..., None, :]
            outs.append(scale * (q[rows, t, :, None, :] @ s)[..., 0, :])
        return torch.stack(outs, dim=1), s

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
    heads = q.shape[2]
    n_h, dtype = num_householder, q.dtype

    def run(rows, start, end, s):  # every (sequence, head) a row of _chunk_walk
        kk = k[rows, start * n_h : end * n_h].transpose(1, 2).flatten(0, 1)  # [sequences · H, sub-steps, K]
        vv = v[rows, start * n_h : end * n_h].transpose(1, 2).flatten(0, 1).to(dtype)
        bb = beta[rows, start * n_h : end * n_h].transpose(1, 2).flatten(0, 1).to(dtype)
        gamma = torch.zeros(kk.shape[:2], dtype=dtype, device=q.device)
        if g is not None:
            gamma[:, ::n_h] = g[rows, start:end].transpose(1, 2).flatten(0, 1).to(dtype)
        qq = torch.zeros(kk.shape, dtype=dtype, device=q.device)
        qq[:, n_h - 1 :: n_h] = q[rows, start:end].transpose(1, 2).flatten(0, 1)
        out, s = _chunk_walk(kk, vv, bb, gamma, qq, s.flatten(0, 1), scale, chunk_size)
        return out[:, n_h - 1 :: n_h].unflatten(0, (-1, heads)).transpose(1, 2), s.unflatten(0, (-1, heads))

    return _by_sequence(q, v, initial_state, output_final_state, cu_seqlens, run)


def _chunk_walk(kk, vv, bb, gamma, qq, s, scale, chunk_size):
    """The chunked recurrence over N independent rows of sub-steps (N = sequences × heads): keys kk [N, R, K],
    values vv [N, R, V], β bb [N, R], local log-gates γ [N, R], queries qq [N, R, K] (zero except at a token's
    last sub-step) and initial states s [N, K, V]. Returns (outputs [N, R, V] at every sub-step row, final
    states [N, K, V]), by the formulas of the module docstring, chunk after chunk."""
    out_rows = []
    for c in range(0, kk.shape[1], chunk_size):
        sl = slice(c, min(c + chunk_size, kk.shape[1]))
        kc, vc, bc, qc = kk[:, sl], vv[:, sl], bb[:, sl], qq[:, sl]
        decay, from_start = _chunk_decays(gamma[:, sl])
        a = torch.tril(bc[:, :, None] * (kc @ kc.transpose(1, 2)) * decay, diagonal=-1)
        t_inv = unit_lower_inverse(a)
        u = t_inv @ (bc[:, :, None] * (vc - from_start[:, :, None] * (kc @ s)))
        scores = (qc @ kc.transpose(1, 2)) * decay
        out_rows.append(scale * (from_start[:, :, None] * (qc @ s) + scores @ u))
        s = from_start[:, -1, None, None] * s + (decay[:, -1, :, None] * kc).transpose(1, 2) @ u
    return torch.cat(out_rows, dim=1), s
