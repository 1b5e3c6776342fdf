"""Our Triton kernels for (gated) DeltaProduct: chunked UT/WY forward and backward, fused recurrent forward.

All run one program per (sequence × head, block of value columns): the columns of the state
S ∈ R^{K×V} evolve independently, so a program owns S[:, block] in registers (fp32, or fp64 for fp64
inputs) and walks its sequence in order. Every arithmetic step is in that accumulation dtype; inputs are
upcast on load and outputs rounded once on store.

Chunked forward, per chunk of C interleaved sub-step rows (exactly :func:`kernels.reference.chunked`):
decays D[r, s] = Σ_{s<t≤r} γ_t by a column-wise cumulative sum (a −inf gate zeroes every pair across it
without NaN), A = strictly_lower(β_r k_rᵀk_s e^{D[r,s]}), T = (I + A)⁻¹ by forward substitution in
registers, W = T(βΓ ⊙ K), u = T(β ⊙ V) − W S, o = scale(Γ ⊙ Q S + (QKᵀ ⊙ e^D) u), S ← Γ_C S + (e^{D[C,·]} ⊙ K)ᵀ u.

The backward (``chunk_bwd``) walks the chunks in reverse from states stored at every chunk start by
``chunk_fwd`` (STORE_SNAPS), recomputing each chunk's quantities; its docstring gives the gradients.

Import this module lazily: it defines the kernels at import, after :func:`kernels.runtime.load_triton`
has switched the interpreter on where there is no GPU.
"""

from __future__ import annotations

from kernels.runtime import load_triton

triton = load_triton()
import triton.language as tl  # noqa: E402  (after load_triton: the interpreter must be chosen first)

__all__ = ["chunk_fwd", "chunk_bwd", "recurrent_fwd"]


@triton.jit
def _load_row_block(ptr, rows, cols, row_mask, col_mask, stride_row):
    offs = rows.to(tl.int64)[:, None] * stride_row + cols[None, :]
    return tl.load(ptr + offs, mask=row_mask[:, None] & col_mask[None, :], other=0.0)


@triton.jit
def _sequence(cu, i_n, T, VARLEN: tl.constexpr):
    """(batch row, first token, end token) of sequence i_n."""
    if VARLEN:
        bos, eos = tl.load(cu + i_n).to(tl.int64), tl.load(cu + i_n + 1).to(tl.int64)
        i_b = 0
    else:
        bos, eos = 0, T
        i_b = i_n
    return i_b, bos, eos


@triton.jit
def _load_chunk(q, k, v, beta, g, i_b, i_h, start, eos, T, ck, cv, mk, mv, ti,
                H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr,
                HAS_G: tl.constexpr, ACC: tl.constexpr):  # fmt: skip
    """One chunk of interleaved sub-step rows: keys, values, betas, local log-gates (g_t at a token's first
    sub-step, 0 elsewhere), queries (a token's query at its last sub-step, 0 elsewhere), and the masks."""
    r = start + ti
    mr = r < eos * NH
    flat = (i_b * T * NH + r) * H + i_h  # row index into [B, T·NH, H, ·]
    tok = r // NH
    tok_flat = (i_b * T + tok) * H + i_h  # row index into [B, T, H, ·]
    is_query = mr & (r % NH == NH - 1)
    kc = _load_row_block(k, flat, ck, mr, mk, K).to(ACC)
    vc = _load_row_block(v, flat, cv, mr, mv, V).to(ACC)
    bc = tl.load(beta + flat.to(tl.int64), mask=mr, other=0.0).to(ACC)
    qc = _load_row_block(q, tok_flat, ck, is_query, mk, K).to(ACC)
    if HAS_G:
        is_gate = mr & (r % NH == 0)
        gam = tl.load(g + tok_flat.to(tl.int64), mask=is_gate, other=0.0).to(ACC)
    else:
        is_gate = mr & False
        gam = tl.zeros((ti.shape[0],), dtype=ACC)
    return kc, vc, bc, qc, gam, flat, tok_flat, is_query, is_gate


@triton.jit
def _chunk_solve(kc, bc, gam, ti, ACC: tl.constexpr, PRECISION: tl.constexpr):
    """Decays e^{D[r,s]} (lower, diagonal included), decay from the chunk start, and T = (I + A)⁻¹."""
    strict = ti[:, None] > ti[None, :]
    d = tl.cumsum(tl.where(strict, gam[:, None], 0.0).to(ACC), axis=0)  # D[r, s] = Σ_{s<t≤r} γ_t
    e = tl.where(ti[:, None] >= ti[None, :], tl.exp(d), 0.0).to(ACC)
    from_start = tl.exp(tl.cumsum(gam, axis=0))
    gram = tl.dot(kc, tl.trans(kc), input_precision=PRECISION, out_dtype=ACC)
    a = tl.where(strict, bc[:, None] * gram * e, 0.0).to(ACC)
    t_inv = tl.where(ti[:, None] == ti[None, :], 1.0, 0.0).to(ACC)
    for i in range(1, ti.shape[0]):  # forward substitution: row i = e_i − Σ_{j<i} A_ij T_j
        a_i = tl.sum(tl.where(ti[:, None] == i, a, 0.0), axis=0)
        t_inv = tl.where(ti[:, None] == i, t_inv - tl.sum(a_i[:, None] * t_inv, axis=0)[None, :], t_inv)
    return e, from_start, gram, t_inv


@triton.jit
def _state_ptrs(ptr, index, ck, cv, mk, mv, K: tl.constexpr, V: tl.constexpr):
    return ptr + index.to(tl.int64) * K * V + ck[:, None] * V + cv[None, :], mk[:, None] & mv[None, :]


@triton.jit
def chunk_fwd(
    q, k, v, beta, g, h0, o, ht, cu, snaps, chunk_offsets,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr, scale_ptr,
    C: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, HAS_H0: tl.constexpr, STORE_HT: tl.constexpr, VARLEN: tl.constexpr,
    STORE_SNAPS: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """Chunked forward; with STORE_SNAPS it also keeps the state at every chunk start for the backward."""
    i_v, i_nh = tl.program_id(0), tl.program_id(1)
    i_n, i_h = i_nh // H, i_nh % H
    scale = tl.load(scale_ptr)  # a tensor in ACC: a Python float argument would be rounded to float32
    i_b, bos, eos = _sequence(cu, i_n, T, VARLEN)
    ck, cv = tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mk, mv = ck < K, cv < V
    ti = tl.arange(0, C)
    s = tl.zeros((BK, BV), dtype=ACC)
    if HAS_H0:
        p, m = _state_ptrs(h0, i_n * H + i_h, ck, cv, mk, mv, K, V)
        s = tl.load(p, mask=m, other=0.0).to(ACC)
    last = ti == C - 1
    first_chunk = tl.load(chunk_offsets + i_n)
    for start in range(bos * NH, eos * NH, C):
        if STORE_SNAPS:
            c = first_chunk + (start - bos * NH) // C
            p_snap, m_snap = _state_ptrs(snaps, c * H + i_h, ck, cv, mk, mv, K, V)
            tl.store(p_snap, s, mask=m_snap)
        kc, vc, bc, qc, gam, flat, tok_flat, is_query, is_gate = _load_chunk(
            q, k, v, beta, g, i_b, i_h, start, eos, T, ck, cv, mk, mv, ti, H, K, V, NH, HAS_G, ACC
        )
        e, from_start, gram, t_inv = _chunk_solve(kc, bc, gam, ti, ACC, PRECISION)
        w = tl.dot(t_inv, (bc * from_start)[:, None] * kc, input_precision=PRECISION, out_dtype=ACC)
        u = tl.dot(t_inv, bc[:, None] * vc, input_precision=PRECISION, out_dtype=ACC)
        u = u - tl.dot(w, s, input_precision=PRECISION, out_dtype=ACC)
        scores = tl.dot(qc, tl.trans(kc), input_precision=PRECISION, out_dtype=ACC) * e
        out = from_start[:, None] * tl.dot(qc, s, input_precision=PRECISION, out_dtype=ACC)
        out = scale * (out + tl.dot(scores, u, input_precision=PRECISION, out_dtype=ACC))
        po = o + tok_flat.to(tl.int64)[:, None] * V + cv[None, :]
        tl.store(po, out.to(o.dtype.element_ty), mask=is_query[:, None] & mv[None, :])
        e_last = tl.sum(tl.where(last[:, None], e, 0.0), axis=0)
        g_last = tl.sum(tl.where(last, from_start, 0.0), axis=0)
        s = g_last * s + tl.dot(tl.trans(e_last[:, None] * kc), u, input_precision=PRECISION, out_dtype=ACC)
    if STORE_HT:
        p, m = _state_ptrs(ht, i_n * H + i_h, ck, cv, mk, mv, K, V)
        tl.store(p, s.to(ht.dtype.element_ty), mask=m)


@triton.jit
def chunk_bwd(
    q, k, v, beta, g, snaps, chunk_offsets, cu, do, dht,
    dq, dk, dv, dbeta, dg, dh0,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr, scale_ptr, B, R,
    C: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, HAS_DHT: tl.constexpr, VARLEN: tl.constexpr,
    ACC: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """Chunked backward: the chunks in reverse, each recomputed from its stored starting state.

    Per chunk, with M = scale·dO uᵀ and the forward's E, Γ, T, W, U, u (see the module docstring):
    du = scale·(QKᵀ⊙E)ᵀ dO + (e_L⊙K) dS₁;  dS₀ = scale·(Γ⊙Q)ᵀ dO + Γ_L dS₁ − Wᵀ du;
    dQ = scale·Γ⊙(dO S₀ᵀ) + (M⊙E) K;  dT = du (βV)ᵀ − du S₀ᵀ (βΓK)ᵀ;  dA = −Tᵀ dT Tᵀ (strictly lower);
    then dK, dV, dβ from W, U, A, the scores and S₁, and dγ_t = Σ_{r≥t} dΓ_r Γ_r + Σ_{r≥t>s} dE_rs E_rs.
    dq, dk, dβ, dg are partial sums over this program's value columns (summed over blocks by the caller).
    """
    i_v, i_nh = tl.program_id(0), tl.program_id(1)
    i_n, i_h = i_nh // H, i_nh % H
    scale = tl.load(scale_ptr)
    i_b, bos, eos = _sequence(cu, i_n, T, VARLEN)
    ck, cv = tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mk, mv = ck < K, cv < V
    ti = tl.arange(0, C)
    strict = ti[:, None] > ti[None, :]
    last = ti == C - 1
    part = i_v.to(tl.int64)  # this value block's slice of the partial-sum outputs
    ds = tl.zeros((BK, BV), dtype=ACC)
    if HAS_DHT:
        p, m = _state_ptrs(dht, i_n * H + i_h, ck, cv, mk, mv, K, V)
        ds = tl.load(p, mask=m, other=0.0).to(ACC)
    first_chunk = tl.load(chunk_offsets + i_n)
    n_chunks = (eos * NH - bos * NH + C - 1) // C
    for back in range(0, n_chunks):
        c = n_chunks - 1 - back
        start = bos * NH + c * C
        p_snap, m_snap = _state_ptrs(snaps, (first_chunk + c) * H + i_h, ck, cv, mk, mv, K, V)
        s0 = tl.load(p_snap, mask=m_snap, other=0.0)
        kc, vc, bc, qc, gam, flat, tok_flat, is_query, is_gate = _load_chunk(
            q, k, v, beta, g, i_b, i_h, start, eos, T, ck, cv, mk, mv, ti, H, K, V, NH, HAS_G, ACC
        )
        do_c = _load_row_block(do, tok_flat, cv, is_query, mv, V).to(ACC)
        e, gam_from, gram, t_inv = _chunk_solve(kc, bc, gam, ti, ACC, PRECISION)
        bk = (bc * gam_from)[:, None] * kc
        bv = bc[:, None] * vc
        w = tl.dot(t_inv, bk, input_precision=PRECISION, out_dtype=ACC)
        u = tl.dot(t_inv, bv, input_precision=PRECISION, out_dtype=ACC) - tl.dot(
            w, s0, input_precision=PRECISION, out_dtype=ACC
        )
        qk = tl.dot(qc, tl.trans(kc), input_precision=PRECISION, out_dtype=ACC)
        e_last = tl.sum(tl.where(last[:, None], e, 0.0), axis=0)
        g_last = tl.sum(tl.where(last, gam_from, 0.0), axis=0)
        ek = e_last[:, None] * kc
        # through o = scale(Γ⊙Q S₀ + (QKᵀ⊙E) u) and S₁ = Γ_L S₀ + (e_L⊙K)ᵀ u
        du = scale * tl.dot(tl.trans(qk * e), do_c, input_precision=PRECISION, out_dtype=ACC)
        du += tl.dot(ek, ds, input_precision=PRECISION, out_dtype=ACC)
        m_ = scale * tl.dot(do_c, tl.trans(u), input_precision=PRECISION, out_dtype=ACC)  # [C, C]
        dq_c = scale * gam_from[:, None] * tl.dot(do_c, tl.trans(s0), input_precision=PRECISION, out_dtype=ACC)
        dq_c += tl.dot(m_ * e, kc, input_precision=PRECISION, out_dtype=ACC)
        dk_c = tl.dot(tl.trans(m_ * e), qc, input_precision=PRECISION, out_dtype=ACC)
        de = tl.where(ti[:, None] >= ti[None, :], m_ * qk, 0.0)
        dgam_from = scale * tl.sum(tl.dot(qc, s0, input_precision=PRECISION, out_dtype=ACC) * do_c, axis=1)
        dgam_from += tl.where(last, tl.sum(tl.sum(s0 * ds, axis=1), axis=0), 0.0)
        u_ds = tl.dot(u, tl.trans(ds), input_precision=PRECISION, out_dtype=ACC)  # [C, K]
        dk_c += e_last[:, None] * u_ds
        de += tl.where(last[:, None], tl.sum(kc * u_ds, axis=1)[None, :], 0.0)
        ds_prev = scale * tl.dot(tl.trans(gam_from[:, None] * qc), do_c, input_precision=PRECISION, out_dtype=ACC)
        ds_prev += g_last * ds - tl.dot(tl.trans(w), du, input_precision=PRECISION, out_dtype=ACC)
        # through u = T(βV) − T(βΓK) S₀
        dw = -tl.dot(du, tl.trans(s0), input_precision=PRECISION, out_dtype=ACC)  # [C, K]
        dt = tl.dot(du, tl.trans(bv), input_precision=PRECISION, out_dtype=ACC)
        dt += tl.dot(dw, tl.trans(bk), input_precision=PRECISION, out_dtype=ACC)
        dbv = tl.dot(tl.trans(t_inv), du, input_precision=PRECISION, out_dtype=ACC)
        dbk = tl.dot(tl.trans(t_inv), dw, input_precision=PRECISION, out_dtype=ACC)
        dv_c = bc[:, None] * dbv
        dbeta_c = tl.sum(vc * dbv, axis=1) + gam_from * tl.sum(kc * dbk, axis=1)
        dk_c += (bc * gam_from)[:, None] * dbk
        dgam_from += bc * tl.sum(kc * dbk, axis=1)
        # through T = (I + A)⁻¹ and A = strictly_lower(β_r (k_rᵀk_s) E_rs)
        da = -tl.dot(tl.trans(t_inv), tl.dot(dt, tl.trans(t_inv), input_precision=PRECISION, out_dtype=ACC),
                     input_precision=PRECISION, out_dtype=ACC)  # fmt: skip
        da = tl.where(strict, da, 0.0)
        dbeta_c += tl.sum(da * gram * e, axis=1)
        dgram = da * bc[:, None] * e
        dk_c += tl.dot(dgram + tl.trans(dgram), kc, input_precision=PRECISION, out_dtype=ACC)
        de += da * bc[:, None] * gram
        # through E_rs = e^{Σ_{s<t≤r} γ_t} and Γ_r = e^{Σ_{t≤r} γ_t}
        f = tl.where(ti[:, None] >= ti[None, :], de * e, 0.0)
        before = tl.cumsum(f, axis=1) - f  # Σ_{s<t} F[r, s]
        dgam = tl.sum(tl.where(ti[:, None] >= ti[None, :], before, 0.0), axis=0)
        x = dgam_from * gam_from
        dgam += tl.sum(x, axis=0) - tl.cumsum(x, axis=0) + x  # Σ_{r≥t} dΓ_r Γ_r
        # stores: dv owns its columns; dq, dk, dβ, dg are partial sums over value blocks
        mr = (start + ti) < eos * NH
        tl.store(dv + flat.to(tl.int64)[:, None] * V + cv[None, :], dv_c.to(dv.dtype.element_ty),
                 mask=mr[:, None] & mv[None, :])  # fmt: skip
        tl.store(dk + (part * B * R * H + flat).to(tl.int64)[:, None] * K + ck[None, :], dk_c,
                 mask=mr[:, None] & mk[None, :])  # fmt: skip
        tl.store(dq + (part * B * T * H + tok_flat).to(tl.int64)[:, None] * K + ck[None, :], dq_c,
                 mask=is_query[:, None] & mk[None, :])  # fmt: skip
        tl.store(dbeta + (part * B * R * H + flat).to(tl.int64), dbeta_c, mask=mr)
        if HAS_G:
            tl.store(dg + (part * B * T * H + tok_flat).to(tl.int64), dgam, mask=is_gate)
        ds = ds_prev
    p, m = _state_ptrs(dh0, i_n * H + i_h, ck, cv, mk, mv, K, V)
    tl.store(p, ds, mask=m)


@triton.jit
def recurrent_fwd(
    q, k, v, beta, g, h0, o, ht, cu,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr, scale_ptr,
    BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, HAS_H0: tl.constexpr, STORE_HT: tl.constexpr, VARLEN: tl.constexpr,
    ACC: tl.constexpr,
):  # fmt: skip
    i_v, i_nh = tl.program_id(0), tl.program_id(1)
    i_n, i_h = i_nh // H, i_nh % H
    scale = tl.load(scale_ptr)  # a tensor in ACC: a Python float argument would be rounded to float32
    i_b, bos, eos = _sequence(cu, i_n, T, VARLEN)
    ck, cv = tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mk, mv = ck < K, cv < V
    s = tl.zeros((BK, BV), dtype=ACC)
    if HAS_H0:
        p, m = _state_ptrs(h0, i_n * H + i_h, ck, cv, mk, mv, K, V)
        s = tl.load(p, mask=m, other=0.0).to(ACC)
    for t in range(bos, eos):
        tok = ((i_b * T + t) * H + i_h).to(tl.int64)
        if HAS_G:
            s = s * tl.exp(tl.load(g + tok).to(ACC))
        for j in range(NH):
            row = ((i_b * T * NH + t * NH + j) * H + i_h).to(tl.int64)
            kj = tl.load(k + row * K + ck, mask=mk, other=0.0).to(ACC)
            vj = tl.load(v + row * V + cv, mask=mv, other=0.0).to(ACC)
            bj = tl.load(beta + row).to(ACC)
            err = vj - tl.sum(s * kj[:, None], axis=0)
            s = s + bj * kj[:, None] * err[None, :]
        qt = tl.load(q + tok * K + ck, mask=mk, other=0.0).to(ACC)
        tl.store(o + tok * V + cv, (scale * tl.sum(s * qt[:, None], axis=0)).to(o.dtype.element_ty), mask=mv)
    if STORE_HT:
        p, m = _state_ptrs(ht, i_n * H + i_h, ck, cv, mk, mv, K, V)
        tl.store(p, s.to(ht.dtype.element_ty), mask=m)
