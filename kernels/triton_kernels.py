"""Our Triton kernels for (gated) DeltaProduct: a chunked UT/WY forward and a fused recurrent forward.

Both run one program per (sequence × head, block of value columns): the columns of the state
S ∈ R^{K×V} evolve independently, so a program owns S[:, block] in registers (fp32, or fp64 for fp64
inputs) and walks its sequence in order. Every arithmetic step is in that accumulation dtype; inputs are
upcast on load and outputs rounded once on store.

Chunked forward, per chunk of C interleaved sub-step rows (exactly :func:`kernels.reference.chunked`):
decays D[r, s] = Σ_{s<t≤r} γ_t by a column-wise cumulative sum (a −inf gate zeroes every pair across it
without NaN), A = strictly_lower(β_r k_rᵀk_s e^{D[r,s]}), T = (I + A)⁻¹ by forward substitution in
registers, W = T(βΓ ⊙ K), u = T(β ⊙ V) − W S, o = scale(Γ ⊙ Q S + (QKᵀ ⊙ e^D) u), S ← Γ_C S + (e^{D[C,·]} ⊙ K)ᵀ u.

Import this module lazily: it defines the kernels at import, after :func:`kernels.runtime.load_triton`
has switched the interpreter on where there is no GPU.
"""

from __future__ import annotations

from kernels.runtime import load_triton

triton = load_triton()
import triton.language as tl  # noqa: E402  (after load_triton: the interpreter must be chosen first)

__all__ = ["chunk_fwd", "recurrent_fwd"]


@triton.jit
def _load_row_block(ptr, rows, cols, row_mask, col_mask, stride_row):
    offs = rows.to(tl.int64)[:, None] * stride_row + cols[None, :]
    return tl.load(ptr + offs, mask=row_mask[:, None] & col_mask[None, :], other=0.0)


@triton.jit
def chunk_fwd(
    q, k, v, beta, g, h0, o, ht, cu,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr, scale_ptr,
    C: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, HAS_H0: tl.constexpr, STORE_HT: tl.constexpr, VARLEN: tl.constexpr,
    ACC: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    i_v, i_nh = tl.program_id(0), tl.program_id(1)
    i_n, i_h = i_nh // H, i_nh % H
    scale = tl.load(scale_ptr)  # a tensor in ACC: a Python float argument would be rounded to float32
    if VARLEN:
        bos, eos = tl.load(cu + i_n).to(tl.int64), tl.load(cu + i_n + 1).to(tl.int64)
        i_b = 0
    else:
        bos, eos = 0, T
        i_b = i_n
    rows_total = T * NH
    ck, cv = tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mk, mv = ck < K, cv < V
    ti = tl.arange(0, C)
    s = tl.zeros((BK, BV), dtype=ACC)
    if HAS_H0:
        p = h0 + (i_n * H + i_h).to(tl.int64) * K * V
        s = tl.load(p + ck[:, None] * V + cv[None, :], mask=mk[:, None] & mv[None, :], other=0.0).to(ACC)
    eye = tl.where(ti[:, None] == ti[None, :], 1.0, 0.0).to(ACC)
    strict = ti[:, None] > ti[None, :]
    lower = ti[:, None] >= ti[None, :]
    last = ti == C - 1
    for start in range(bos * NH, eos * NH, C):
        r = start + ti
        mr = r < eos * NH
        flat = (i_b * rows_total + r) * H + i_h  # row index into [B, T·NH, H, ·]
        kc = _load_row_block(k, flat, ck, mr, mk, K).to(ACC)
        vc = _load_row_block(v, flat, cv, mr, mv, V).to(ACC)
        bc = tl.load(beta + flat.to(tl.int64), mask=mr, other=0.0).to(ACC)
        tok = r // NH
        is_query = mr & (r % NH == NH - 1)
        qc = _load_row_block(q, (i_b * T + tok) * H + i_h, ck, is_query, mk, K).to(ACC)
        if HAS_G:
            is_gate = mr & (r % NH == 0)
            gam = tl.load(g + ((i_b * T + tok) * H + i_h).to(tl.int64), mask=is_gate, other=0.0).to(ACC)
        else:
            gam = tl.zeros((C,), dtype=ACC)
        d = tl.cumsum(tl.where(strict, gam[:, None], 0.0).to(ACC), axis=0)
        e = tl.where(lower, tl.exp(d), 0.0).to(ACC)
        from_start = tl.exp(tl.cumsum(gam, axis=0))
        kk = tl.dot(kc, tl.trans(kc), input_precision=PRECISION, out_dtype=ACC)
        a = tl.where(strict, bc[:, None] * kk * e, 0.0).to(ACC)
        t_inv = eye
        for i in range(1, C):
            a_i = tl.sum(tl.where(ti[:, None] == i, a, 0.0), axis=0)
            t_inv = tl.where(ti[:, None] == i, t_inv - tl.sum(a_i[:, None] * t_inv, axis=0)[None, :], t_inv)
        w = tl.dot(t_inv, (bc * from_start)[:, None] * kc, input_precision=PRECISION, out_dtype=ACC)
        u = tl.dot(t_inv, bc[:, None] * vc, input_precision=PRECISION, out_dtype=ACC)
        u = u - tl.dot(w, s, input_precision=PRECISION, out_dtype=ACC)
        scores = tl.dot(qc, tl.trans(kc), input_precision=PRECISION, out_dtype=ACC) * e
        out = from_start[:, None] * tl.dot(qc, s, input_precision=PRECISION, out_dtype=ACC)
        out = scale * (out + tl.dot(scores, u, input_precision=PRECISION, out_dtype=ACC))
        po = o + ((i_b * T + tok) * H + i_h).to(tl.int64)[:, None] * V + cv[None, :]
        tl.store(po, out.to(o.dtype.element_ty), mask=is_query[:, None] & mv[None, :])
        e_last = tl.sum(tl.where(last[:, None], e, 0.0), axis=0)
        g_last = tl.sum(tl.where(last, from_start, 0.0), axis=0)
        s = g_last * s + tl.dot(tl.trans(e_last[:, None] * kc), u, input_precision=PRECISION, out_dtype=ACC)
    if STORE_HT:
        p = ht + (i_n * H + i_h).to(tl.int64) * K * V
        tl.store(p + ck[:, None] * V + cv[None, :], s.to(ht.dtype.element_ty), mask=mk[:, None] & mv[None, :])


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
    if VARLEN:
        bos, eos = tl.load(cu + i_n).to(tl.int64), tl.load(cu + i_n + 1).to(tl.int64)
        i_b = 0
    else:
        bos, eos = 0, T
        i_b = i_n
    ck, cv = tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mk, mv = ck < K, cv < V
    s = tl.zeros((BK, BV), dtype=ACC)
    if HAS_H0:
        p = h0 + (i_n * H + i_h).to(tl.int64) * K * V
        s = tl.load(p + ck[:, None] * V + cv[None, :], mask=mk[:, None] & mv[None, :], other=0.0).to(ACC)
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
        p = ht + (i_n * H + i_h).to(tl.int64) * K * V
        tl.store(p + ck[:, None] * V + cv[None, :], s.to(ht.dtype.element_ty), mask=mk[:, None] & mv[None, :])
