"""Our Triton kernels for (gated) DeltaProduct: chunked UT/WY forward and backward, fused recurrent forward.

The chunked algorithm is :func:`kernels.reference.chunked`'s. Per chunk of C interleaved sub-step
rows with local log-gates γ_r: decays D[r, s] = Σ_{s<t≤r} γ_t by a column-wise cumulative sum (a −inf
gate zeroes every pair across it without NaN), A = strictly_lower(β_r k_rᵀk_s e^{D[r,s]}), T = (I + A)⁻¹;
then u = T(β ⊙ (V − Γ ⊙ K S)) (= U − W S with W = T(βΓ ⊙ K), U = T(β ⊙ V), which are never formed),
o = scale(Γ ⊙ Q S + (QKᵀ ⊙ e^D) u), S ← Γ_C S + (e^{D[C,·]} ⊙ K)ᵀ u. Only the state recurrence is
sequential:

* ``chunk_prep`` — one program per (chunk, head), all in parallel: A and T by block forward substitution
  over 16×16 blocks (T is kept for the backward).
* ``chunk_fwd`` — one program per (sequence × head, block of value columns), walking its chunks in
  order: u, o, the state (and, for the backward, the state at every chunk start and u).
* ``chunk_bwd_states`` — the same programs walking the chunks in reverse: the state gradient dS at every
  chunk end and y = Tᵀ du (du = ∂L/∂u).
* ``chunk_bwd_dqk`` — one program per (chunk, head, block of key columns), in parallel: dq, dk and the
  block's shares of dβ and dg, from the chunk's S₀, dS₁, u and y (dA = −y uᵀ needs no key block but its own).
* ``chunk_bwd_dv`` — one program per (chunk, head): dv = β ⊙ y, dβ and dg.

The sequential kernels form their C×C decays and scores QKᵀ ⊙ e^D per chunk, next to the recurrence
(they do not depend on the state), or, with MATS = 2, read the decays that chunk_prep stored beside T.
Sums accumulate in the accumulation dtype (fp32, or fp64 for fp64 inputs): inputs are upcast on load and
outputs rounded once on store; products of two raw bf16 or fp16 inputs run on the inputs themselves
(:func:`_input_dot`: exact in the fp32 accumulator), and the operands of the other products are rounded to
the operand dtype DOT (:func:`_dot`: the accumulation dtype, or a 16-bit input dtype). Import
this module lazily: it defines the kernels at import, after :func:`kernels.runtime.load_triton` has
switched the interpreter on where there is no GPU.
"""

from __future__ import annotations

from kernels.runtime import load_triton

triton = load_triton()
import triton.language as tl  # noqa: E402  (after load_triton: the interpreter must be chosen first)

__all__ = ["chunk_prep", "chunk_fwd", "chunk_bwd_states", "chunk_bwd_dqk", "chunk_bwd_dv", "recurrent_fwd"]


@triton.jit
def _load_row_block(ptr, rows, cols, row_mask, col_mask, stride_row):
    offs = rows.to(tl.int64)[:, None] * stride_row + cols[None, :]
    return tl.load(ptr + offs, mask=row_mask[:, None] & col_mask[None, :], other=0.0)


@triton.jit
def _store_row_block(ptr, x, rows, cols, row_mask, col_mask, stride_row):
    offs = rows.to(tl.int64)[:, None] * stride_row + cols[None, :]
    tl.store(ptr + offs, x.to(ptr.dtype.element_ty), mask=row_mask[:, None] & col_mask[None, :])


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
def _chunk_of(chunk_map, cu, i_c, T, NH: tl.constexpr, C: tl.constexpr, VARLEN: tl.constexpr):
    """(batch row, first sub-step row, end row) of global chunk i_c, from the host's (sequence, chunk) map."""
    i_n, j = tl.load(chunk_map + 2 * i_c), tl.load(chunk_map + 2 * i_c + 1)
    i_b, bos, eos = _sequence(cu, i_n, T, VARLEN)
    return i_b, bos * NH + j * C, eos * NH


@triton.jit
def _rows(i_b, i_h, start, end, T, ti, H: tl.constexpr, NH: tl.constexpr):
    """Row indices of one chunk: into [B, T·NH, H, ·] (sub-steps) and [B, T, H, ·] (tokens), the valid
    rows, the rows that carry a query (a token's last sub-step) and those that carry a gate (its first)."""
    r = start + ti
    valid = r < end
    flat = (i_b * T * NH + r) * H + i_h
    tok_flat = (i_b * T + r // NH) * H + i_h
    return flat, tok_flat, valid, valid & (r % NH == NH - 1), valid & (r % NH == 0)


@triton.jit
def _decays(g, tok_flat, is_gate, ti, HAS_G: tl.constexpr, ACC: tl.constexpr):
    """e^{D[r,s]} on and below the diagonal (zero above) and the decay from the chunk start e^{D[r,0]}, from
    the local log-gates γ_r (g_t at a token's first sub-step, 0 elsewhere); without a gate, the causal mask
    and ones."""
    if HAS_G:
        gam = tl.load(g + tok_flat.to(tl.int64), mask=is_gate, other=0.0).to(ACC)
        d = tl.cumsum(tl.where(ti[:, None] > ti[None, :], gam[:, None], 0.0).to(ACC), axis=0)
        e = tl.where(ti[:, None] >= ti[None, :], tl.exp(d), 0.0).to(ACC)
        return e, tl.exp(tl.cumsum(gam, axis=0))
    return tl.where(ti[:, None] >= ti[None, :], 1.0, 0.0).to(ACC), tl.full((ti.shape[0],), 1.0, dtype=ACC)


@triton.jit
def _decay_vectors(g, tok_flat, is_gate, ti, HAS_G: tl.constexpr, ACC: tl.constexpr):
    """(Γ_r = e^{Σ_{t≤r} γ_t}, e^{Σ_{r<t<C} γ_t}): the decay from the chunk start to each row and from each
    row to the chunk end, both sums of log-gates ≤ 0 (no differences, so −inf gates give 0, not NaN)."""
    if HAS_G:
        gam = tl.load(g + tok_flat.to(tl.int64), mask=is_gate, other=0.0).to(ACC)
        to_end = tl.sum(tl.where(ti[None, :] > ti[:, None], gam[None, :], 0.0), axis=1)
        return tl.exp(tl.cumsum(gam, axis=0)), tl.exp(to_end)
    ones = tl.full((ti.shape[0],), 1.0, dtype=ACC)
    return ones, ones


@triton.jit
def _last_row(x, ti, C: tl.constexpr):
    """Row C − 1 of a [C, ·] tile (the chunk's last row; rows past a sequence's end are zero-padded)."""
    return tl.sum(tl.where((ti == C - 1)[:, None], x, 0.0), axis=0)


@triton.jit
def _last(x, ti, C: tl.constexpr):
    """Entry C − 1 of a [C] vector."""
    return tl.sum(tl.where(ti == C - 1, x, 0.0), axis=0)


@triton.jit
def _state_ptrs(ptr, index, ck, cv, mk, mv, K: tl.constexpr, V: tl.constexpr):
    return ptr + index.to(tl.int64) * K * V + ck[:, None] * V + cv[None, :], mk[:, None] & mv[None, :]


@triton.jit
def _chunk_ptrs(ptr, i_c, i_h, slot: tl.constexpr, ti, H: tl.constexpr, MATS: tl.constexpr, C: tl.constexpr):
    """Pointers to C×C matrix ``slot`` of chunk i_c and head i_h in a buffer [chunks, H, MATS, C, C] (slot 0:
    T = (I + A)⁻¹; slot 1, if MATS = 2: the decays E)."""
    return ptr + ((((i_c * H + i_h) * MATS + slot).to(tl.int64)) * C + ti[:, None]) * C + ti[None, :]


@triton.jit
def _decay_matrix(
    mats, i_c, i_h, g, tok_flat, is_gate, ti,
    H: tl.constexpr, C: tl.constexpr, MATS: tl.constexpr, HAS_G: tl.constexpr, ACC: tl.constexpr,
):  # fmt: skip
    """(E, Γ) as :func:`_decays`: E read from the chunk's matrices where chunk_prep stored it (MATS = 2, gated
    calls: the C×C cumulative sum and exponentials then leave the sequential kernels), else formed here."""
    if MATS == 2:
        e = tl.load(_chunk_ptrs(mats, i_c, i_h, 1, ti, H, MATS, C))
        return e, _decay_vectors(g, tok_flat, is_gate, ti, HAS_G, ACC)[0]
    return _decays(g, tok_flat, is_gate, ti, HAS_G, ACC)


@triton.jit
def _parts_ptrs(parts, i_c, i_h, i_k, ti, H: tl.constexpr, K: tl.constexpr, BK: tl.constexpr, C: tl.constexpr):
    """Pointers to key block i_k's share of dβ for chunk i_c and head i_h in ``parts`` [chunks, H, NK, 2, C]
    (its share of dγ follows, C further)."""
    return parts + (((i_c * H + i_h) * tl.cdiv(K, BK) + i_k) * 2).to(tl.int64) * C + ti


@triton.jit
def _inverse_unit_lower(a, ti, C: tl.constexpr, INV_PRECISION: tl.constexpr, ACC: tl.constexpr):
    """T = (I + A)⁻¹ for strictly lower-triangular A [C, C] by recursive 2×2 block inversion.

    With D_b the inverses of the b×b diagonal blocks of I + A (block diagonal, D_1 = I), each 2b×2b
    diagonal block [[M₁₁, 0], [A₂₁, M₂₂]] has inverse [[D₁₁, 0], [−D₂₂A₂₁D₁₁, D₂₂]], so
    D_2b = D_b − D_b L_b D_b with L_b the A₂₁ parts of every 2b-block; b = 1, 2, 4, …, C/2 gives T = D_C
    in log₂C levels of two tl.dot each. Recursive triangular inversion has the error bounds of
    substitution (Du Croz & Higham 1992; Higham, Accuracy and Stability, §14.2)."""
    pairs = tl.where(ti[:, None] // 2 == ti[None, :] // 2, a, 0.0)
    t_inv = tl.where(ti[:, None] == ti[None, :], 1.0, 0.0).to(ACC) - pairs
    for level in tl.static_range(1, 6):
        if (2 << level) <= C:
            same_pair = ti[:, None] // (2 << level) == ti[None, :] // (2 << level)
            lower = tl.where(same_pair & (ti[:, None] // (1 << level) != ti[None, :] // (1 << level)), a, 0.0)
            inner = tl.dot(lower.to(ACC), t_inv, input_precision=INV_PRECISION, out_dtype=ACC)
            t_inv = t_inv - tl.dot(t_inv, inner, input_precision=INV_PRECISION, out_dtype=ACC)
    return t_inv


@triton.jit
def _block(base, i: tl.constexpr, j: tl.constexpr, t16, C: tl.constexpr):
    """Pointers to the 16×16 block (i, j) of a row-major C×C tile at ``base``."""
    return base + (16 * i + t16)[:, None] * C + 16 * j + t16[None, :]


@triton.jit
def _solve_block_row(d_i, a_i0, t_0, a_i1, t_1, a_i2, t_2, PREC: tl.constexpr, ACC: tl.constexpr):
    """T_ij = −D_i Σ_m A_im T_mj for up to three terms (absent ones are zero tiles): one block of
    block forward substitution."""
    acc = tl.dot(a_i0, t_0, input_precision=PREC, out_dtype=ACC)
    acc += tl.dot(a_i1, t_1, input_precision=PREC, out_dtype=ACC)
    acc += tl.dot(a_i2, t_2, input_precision=PREC, out_dtype=ACC)
    return -tl.dot(d_i, acc, input_precision=PREC, out_dtype=ACC)


@triton.jit
def _inverse_in_blocks(base, a, ti, C: tl.constexpr, PREC: tl.constexpr, ACC: tl.constexpr):
    """T = (I + A)⁻¹ for strictly lower-triangular A [C, C], C ∈ {16, 32, 64}, by block forward
    substitution over 16×16 blocks: D_i = (I + A_ii)⁻¹ by :func:`_inverse_unit_lower` and
    T_ij = −D_i Σ_{j≤m<i} A_im T_mj (T_jj = D_j), as fla's solve_tril. Blocks are cut through the chunk's
    C×C tile at ``base``, which ends holding T: A is stored there, its blocks read back and T written over
    it (a barrier between each, the tile being shared by the program's threads)."""
    t16 = tl.arange(0, 16)
    z = tl.zeros((16, 16), dtype=ACC)
    tl.store(base + ti[:, None] * C + ti[None, :], a)
    tl.debug_barrier()
    d0 = _inverse_unit_lower(tl.load(_block(base, 0, 0, t16, C)), t16, 16, PREC, ACC)
    if C >= 32:
        a10 = tl.load(_block(base, 1, 0, t16, C))
        d1 = _inverse_unit_lower(tl.load(_block(base, 1, 1, t16, C)), t16, 16, PREC, ACC)
        t10 = _solve_block_row(d1, a10, d0, z, z, z, z, PREC, ACC)
    if C == 64:
        a20, a21 = tl.load(_block(base, 2, 0, t16, C)), tl.load(_block(base, 2, 1, t16, C))
        a30, a31 = tl.load(_block(base, 3, 0, t16, C)), tl.load(_block(base, 3, 1, t16, C))
        a32 = tl.load(_block(base, 3, 2, t16, C))
        d2 = _inverse_unit_lower(tl.load(_block(base, 2, 2, t16, C)), t16, 16, PREC, ACC)
        d3 = _inverse_unit_lower(tl.load(_block(base, 3, 3, t16, C)), t16, 16, PREC, ACC)
        t21 = _solve_block_row(d2, a21, d1, z, z, z, z, PREC, ACC)
        t20 = _solve_block_row(d2, a20, d0, a21, t10, z, z, PREC, ACC)
        t32 = _solve_block_row(d3, a32, d2, z, z, z, z, PREC, ACC)
        t31 = _solve_block_row(d3, a31, d1, a32, t21, z, z, PREC, ACC)
        t30 = _solve_block_row(d3, a30, d0, a31, t10, a32, t20, PREC, ACC)
    tl.debug_barrier()  # every block of A is read before T overwrites it (above the diagonal both are 0)
    tl.store(_block(base, 0, 0, t16, C), d0)
    if C >= 32:
        tl.store(_block(base, 1, 0, t16, C), t10)
        tl.store(_block(base, 1, 1, t16, C), d1)
    if C == 64:
        tl.store(_block(base, 2, 0, t16, C), t20)
        tl.store(_block(base, 2, 1, t16, C), t21)
        tl.store(_block(base, 2, 2, t16, C), d2)
        tl.store(_block(base, 3, 0, t16, C), t30)
        tl.store(_block(base, 3, 1, t16, C), t31)
        tl.store(_block(base, 3, 2, t16, C), t32)
        tl.store(_block(base, 3, 3, t16, C), d3)


@triton.jit
def _input_dot(a, b, ACC: tl.constexpr, PRECISION: tl.constexpr):
    """a·b for tiles of raw inputs: in their own dtype when bf16 or fp16 (the products of two such numbers
    are exact in the fp32 accumulator, so the result is the tf32x3 or ieee one at half the registers and
    twice the rate), else in the accumulation dtype at PRECISION."""
    if a.dtype == tl.bfloat16 or a.dtype == tl.float16:
        return tl.dot(a, b, out_dtype=ACC)
    return tl.dot(a.to(ACC), b.to(ACC), input_precision=PRECISION, out_dtype=ACC)


@triton.jit
def _dot(a, b, DOT: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr):
    """a·b accumulated in ACC: at PRECISION if the operand dtype DOT is ACC, else with both operands
    rounded to DOT (a 16-bit input dtype, as fla's kernels do: half the registers, twice the rate)."""
    if DOT == ACC:
        return tl.dot(a, b, input_precision=PRECISION, out_dtype=ACC)
    return tl.dot(a.to(DOT), b.to(DOT), out_dtype=ACC)


@triton.jit
def chunk_prep(
    k, beta, g, cu, chunk_map, t_buf,
    T, H: tl.constexpr, K: tl.constexpr, NH: tl.constexpr,
    C: tl.constexpr, BK: tl.constexpr, HAS_G: tl.constexpr, VARLEN: tl.constexpr, ACC: tl.constexpr,
    PRECISION: tl.constexpr, INV_PRECISION: tl.constexpr, MATS: tl.constexpr,
):  # fmt: skip
    """T = (I + A)⁻¹ of one chunk (:func:`_inverse_in_blocks`) into ``t_buf`` [chunks, H, MATS, C, C], with
    A = strictly_lower(β_r (k_rᵀk_s) E_rs) and the Gram matrix summed over blocks of BK key columns; the
    decays E beside it if MATS = 2."""
    i_c, i_h = tl.program_id(0), tl.program_id(1)
    i_b, start, end = _chunk_of(chunk_map, cu, i_c, T, NH, C, VARLEN)
    ti = tl.arange(0, C)
    flat, tok_flat, valid, is_query, is_gate = _rows(i_b, i_h, start, end, T, ti, H, NH)
    bc = tl.load(beta + flat.to(tl.int64), mask=valid, other=0.0).to(ACC)
    e, from_start = _decays(g, tok_flat, is_gate, ti, HAS_G, ACC)
    gram = tl.zeros((C, C), dtype=ACC)
    for i_k in range(0, tl.cdiv(K, BK)):
        ck = i_k * BK + tl.arange(0, BK)
        kc = _load_row_block(k, flat, ck, valid, ck < K, K)
        gram += _input_dot(kc, tl.trans(kc), ACC, PRECISION)
    a = tl.where(ti[:, None] > ti[None, :], bc[:, None] * gram * e, 0.0).to(ACC)
    _inverse_in_blocks(t_buf + ((i_c * H + i_h) * MATS).to(tl.int64) * C * C, a, ti, C, INV_PRECISION, ACC)
    if MATS == 2:
        tl.store(_chunk_ptrs(t_buf, i_c, i_h, 1, ti, H, MATS, C), e)


@triton.jit
def chunk_fwd(
    q, k, v, beta, t_in, g, h0, o, ht, cu, snaps, u_out, chunk_offsets,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr, scale_ptr,
    C: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, HAS_H0: tl.constexpr, STORE_HT: tl.constexpr, VARLEN: tl.constexpr,
    STORE_O: tl.constexpr, STORE_SNAPS: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr,
    DOT: tl.constexpr, MATS: tl.constexpr,
):  # fmt: skip
    """The state recurrence over chunks, from each chunk's T (and E if MATS = 2: :func:`chunk_prep`):
    u = T(β ⊙ (V − Γ ⊙ K S)) (= U − W S, as W = T diag(βΓ) K and U = T diag(β) V),
    o = scale(Γ ⊙ Q S + (QKᵀ ⊙ E) u) if STORE_O, S ← Γ_C S + (e_L ⊙ K)ᵀ u; if STORE_SNAPS, the state at
    every chunk start and u (the backward's inputs); the final state if STORE_HT."""
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
    first_chunk = tl.load(chunk_offsets + i_n)
    for start in range(bos * NH, eos * NH, C):
        i_c = first_chunk + (start - bos * NH) // C
        if STORE_SNAPS:
            p_snap, m_snap = _state_ptrs(snaps, i_c * H + i_h, ck, cv, mk, mv, K, V)
            tl.store(p_snap, s.to(snaps.dtype.element_ty), mask=m_snap)
        flat, tok_flat, valid, is_query, is_gate = _rows(i_b, i_h, start, eos * NH, T, ti, H, NH)
        k_raw = _load_row_block(k, flat, ck, valid, mk, K)
        kc = k_raw.to(ACC)
        bc = tl.load(beta + flat.to(tl.int64), mask=valid, other=0.0).to(ACC)
        from_start, to_end = _decay_vectors(g, tok_flat, is_gate, ti, HAS_G, ACC)
        x = _load_row_block(v, flat, cv, valid, mv, V).to(ACC)
        x -= from_start[:, None] * _dot(kc, s, DOT, ACC, PRECISION)
        t_inv = tl.load(_chunk_ptrs(t_in, i_c, i_h, 0, ti, H, MATS, C))
        uc = _dot(t_inv, bc[:, None] * x, DOT, ACC, PRECISION)
        if STORE_SNAPS:
            _store_row_block(u_out, uc, flat, cv, valid, mv, V)
        if STORE_O:
            q_raw = _load_row_block(q, tok_flat, ck, is_query, mk, K)
            scores = (
                _input_dot(q_raw, tl.trans(k_raw), ACC, PRECISION)
                * _decay_matrix(t_in, i_c, i_h, g, tok_flat, is_gate, ti, H, C, MATS, HAS_G, ACC)[0]
            )
            out = from_start[:, None] * _dot(q_raw.to(ACC), s, DOT, ACC, PRECISION)
            out = scale * (out + _dot(scores, uc, DOT, ACC, PRECISION))
            _store_row_block(o, out, tok_flat, cv, is_query, mv, V)
        s = _last(from_start, ti, C) * s + _dot(tl.trans(to_end[:, None] * kc), uc, DOT, ACC, PRECISION)
    if STORE_HT:
        p, m = _state_ptrs(ht, i_n * H + i_h, ck, cv, mk, mv, K, V)
        tl.store(p, s.to(ht.dtype.element_ty), mask=m)


@triton.jit
def chunk_bwd_states(
    q, k, beta, t_in, g, cu, do, dht, y_out, dsnaps, dh0, chunk_offsets,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr, scale_ptr,
    C: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, HAS_DHT: tl.constexpr, VARLEN: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr,
    DOT: tl.constexpr, MATS: tl.constexpr,
):  # fmt: skip
    """The chunks in reverse, through o = scale(Γ⊙Q S₀ + (QKᵀ⊙E) u), u = T(β ⊙ (V − Γ⊙K S₀)) and
    S₁ = Γ_L S₀ + (e_L⊙K)ᵀ u: stores dS₁ (the state gradient at the chunk's end) and y = Tᵀ du, with
    du = scale·(QKᵀ⊙E)ᵀ dO + (e_L⊙K) dS₁, and carries dS₀ = scale·(Γ⊙Q)ᵀ dO + Γ_L dS₁ − Kᵀ(βΓ ⊙ y) to the
    chunk before (dh0 after the first)."""
    i_v, i_nh = tl.program_id(0), tl.program_id(1)
    i_n, i_h = i_nh // H, i_nh % H
    scale = tl.load(scale_ptr)
    i_b, bos, eos = _sequence(cu, i_n, T, VARLEN)
    ck, cv = tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mk, mv = ck < K, cv < V
    ti = tl.arange(0, C)
    ds = tl.zeros((BK, BV), dtype=ACC)
    if HAS_DHT:
        p, m = _state_ptrs(dht, i_n * H + i_h, ck, cv, mk, mv, K, V)
        ds = tl.load(p, mask=m, other=0.0).to(ACC)
    first_chunk = tl.load(chunk_offsets + i_n)
    n_chunks = (eos * NH - bos * NH + C - 1) // C
    for back in range(0, n_chunks):
        c = n_chunks - 1 - back
        start = bos * NH + c * C
        p_snap, m_snap = _state_ptrs(dsnaps, (first_chunk + c) * H + i_h, ck, cv, mk, mv, K, V)
        tl.store(p_snap, ds.to(dsnaps.dtype.element_ty), mask=m_snap)
        flat, tok_flat, valid, is_query, is_gate = _rows(i_b, i_h, start, eos * NH, T, ti, H, NH)
        k_raw = _load_row_block(k, flat, ck, valid, mk, K)
        q_raw = _load_row_block(q, tok_flat, ck, is_query, mk, K)
        kc, qc = k_raw.to(ACC), q_raw.to(ACC)
        do_c = _load_row_block(do, tok_flat, cv, is_query, mv, V).to(ACC)
        bc = tl.load(beta + flat.to(tl.int64), mask=valid, other=0.0).to(ACC)
        e, from_start = _decay_matrix(t_in, first_chunk + c, i_h, g, tok_flat, is_gate, ti, H, C, MATS, HAS_G, ACC)
        to_end = _last_row(e, ti, C)  # e^{Σ_{s<t<C} γ_t}
        scores = _input_dot(q_raw, tl.trans(k_raw), ACC, PRECISION) * e
        du_c = scale * _dot(tl.trans(scores), do_c, DOT, ACC, PRECISION)
        du_c += _dot(to_end[:, None] * kc, ds, DOT, ACC, PRECISION)
        t_inv = tl.load(_chunk_ptrs(t_in, first_chunk + c, i_h, 0, ti, H, MATS, C))
        yc = _dot(tl.trans(t_inv), du_c, DOT, ACC, PRECISION)
        _store_row_block(y_out, yc, flat, cv, valid, mv, V)
        ds = _last(from_start, ti, C) * ds - _dot(tl.trans(kc), (bc * from_start)[:, None] * yc, DOT, ACC, PRECISION)
        ds += scale * _dot(tl.trans(from_start[:, None] * qc), do_c, DOT, ACC, PRECISION)
    p, m = _state_ptrs(dh0, i_n * H + i_h, ck, cv, mk, mv, K, V)
    tl.store(p, ds, mask=m)


@triton.jit
def chunk_bwd_dqk(
    q, k, beta, g, cu, chunk_map, u, snaps, dsnaps, y, do, dq, dk, parts, mats,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr, scale_ptr,
    C: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, VARLEN: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr, DOT: tl.constexpr,
    MATS: tl.constexpr,
):  # fmt: skip
    """dq and dk of one chunk's block of BK key columns, and that block's share of dβ and dγ, from the
    chunk's S₀, dS₁, u and y = Tᵀ du (M = scale·dO uᵀ):
    dQ = scale·Γ⊙(dO S₀ᵀ) + (M⊙E) K;  d(βΓK) = Tᵀ dW = −y S₀ᵀ (dW = −du S₀ᵀ);
    dA = −Tᵀ du uᵀ = −y uᵀ (strictly lower): dA = −Tᵀ dT Tᵀ with dT = du(βV)ᵀ + dW(βΓK)ᵀ = du((I + A)u)ᵀ,
    as (βΓK)S₀ = T⁻¹W S₀ = βV − (I + A)u, so that no key block needs another's;
    dK = (M⊙E)ᵀ Q + e_L ⊙ (u dS₁ᵀ) + βΓ ⊙ d(βΓK) + (dG + dGᵀ) K with dG = dA ⊙ β E.
    dβ and dγ are sums over the key columns: each block stores its share in ``parts`` [chunks, H, NK, 2, C]
    (dβ's without Σ V ⊙ y, which :func:`chunk_bwd_dv` adds): dβ ∋ Γ Σ K⊙d(βΓK) + Σ_s dA_rs(k_rᵀk_s)E_rs,
    and dγ_t = Σ_{r≥t} dΓ_r Γ_r + Σ_{r≥t>s} dE_rs E_rs. The value columns are visited in blocks of BV."""
    i_c, i_h, i_k = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    scale = tl.load(scale_ptr)
    i_b, start, end = _chunk_of(chunk_map, cu, i_c, T, NH, C, VARLEN)
    ti, ck = tl.arange(0, C), i_k * BK + tl.arange(0, BK)
    mk = ck < K
    flat, tok_flat, valid, is_query, is_gate = _rows(i_b, i_h, start, end, T, ti, H, NH)
    m_ = tl.zeros((C, C), dtype=ACC)
    y_u = tl.zeros((C, C), dtype=ACC)
    dq_c = tl.zeros((C, BK), dtype=ACC)
    dbk = tl.zeros((C, BK), dtype=ACC)
    u_ds = tl.zeros((C, BK), dtype=ACC)
    s0_ds1 = tl.zeros((C,), dtype=ACC)  # Σ S₀ ⊙ dS₁ over the block on every row; only the last row's is kept
    for i_v in range(0, tl.cdiv(V, BV)):
        cv = i_v * BV + tl.arange(0, BV)
        mv = cv < V
        p_s, m_s = _state_ptrs(snaps, i_c * H + i_h, ck, cv, mk, mv, K, V)
        s0 = tl.load(p_s, mask=m_s, other=0.0).to(ACC)
        p_s, m_s = _state_ptrs(dsnaps, i_c * H + i_h, ck, cv, mk, mv, K, V)
        ds1 = tl.load(p_s, mask=m_s, other=0.0).to(ACC)
        do_c = _load_row_block(do, tok_flat, cv, is_query, mv, V).to(ACC)
        yc = _load_row_block(y, flat, cv, valid, mv, V).to(ACC)
        uc = _load_row_block(u, flat, cv, valid, mv, V).to(ACC)
        m_ += scale * _dot(do_c, tl.trans(uc), DOT, ACC, PRECISION)
        y_u += _dot(yc, tl.trans(uc), DOT, ACC, PRECISION)
        dq_c += _dot(do_c, tl.trans(s0), DOT, ACC, PRECISION)
        if HAS_G:
            s0_ds1 += tl.sum(tl.sum(s0 * ds1, axis=1), axis=0)
        u_ds += _dot(uc, tl.trans(ds1), DOT, ACC, PRECISION)
        dbk -= _dot(yc, tl.trans(s0), DOT, ACC, PRECISION)
    bc = tl.load(beta + flat.to(tl.int64), mask=valid, other=0.0).to(ACC)
    e, from_start = _decay_matrix(mats, i_c, i_h, g, tok_flat, is_gate, ti, H, C, MATS, HAS_G, ACC)
    k_raw = _load_row_block(k, flat, ck, valid, mk, K)
    q_raw = _load_row_block(q, tok_flat, ck, is_query, mk, K)
    kc, qc = k_raw.to(ACC), q_raw.to(ACC)
    if HAS_G:
        q_dq = tl.sum(qc * dq_c, axis=1)  # Σ_v (Q S₀)_rv dO_rv = Σ_k Q_rk (dO S₀ᵀ)_rk over the block
    dq_c = scale * from_start[:, None] * dq_c + _dot(m_ * e, kc, DOT, ACC, PRECISION)
    _store_row_block(dq, dq_c, tok_flat, ck, is_query, mk, K)
    dk_c = _dot(tl.trans(m_ * e), qc, DOT, ACC, PRECISION) + _last_row(e, ti, C)[:, None] * u_ds
    k_dbk = tl.sum(kc * dbk, axis=1)
    dk_c += (bc * from_start)[:, None] * dbk
    da = tl.where(ti[:, None] > ti[None, :], -y_u, 0.0)
    gram = _input_dot(k_raw, tl.trans(k_raw), ACC, PRECISION)
    dgram = da * bc[:, None] * e
    dk_c += _dot(dgram + tl.trans(dgram), kc, DOT, ACC, PRECISION)
    _store_row_block(dk, dk_c, flat, ck, valid, mk, K)
    p_parts = _parts_ptrs(parts, i_c, i_h, i_k, ti, H, K, BK, C)
    tl.store(p_parts, from_start * k_dbk + tl.sum(da * gram * e, axis=1))
    if HAS_G:  # through E_rs = e^{Σ_{s<t≤r} γ_t} and Γ_r = e^{Σ_{t≤r} γ_t}
        qk = _input_dot(q_raw, tl.trans(k_raw), ACC, PRECISION)
        de = tl.where(ti[:, None] >= ti[None, :], m_ * qk, 0.0) + da * bc[:, None] * gram
        de += tl.where((ti == C - 1)[:, None], tl.sum(kc * u_ds, axis=1)[None, :], 0.0)
        dgam_from = scale * q_dq + bc * k_dbk + tl.where(ti == C - 1, s0_ds1, 0.0)
        f = tl.where(ti[:, None] >= ti[None, :], de * e, 0.0)
        before = tl.cumsum(f, axis=1) - f  # Σ_{s<t} F[r, s]
        dgam = tl.sum(tl.where(ti[:, None] >= ti[None, :], before, 0.0), axis=0)
        x = dgam_from * from_start
        dgam += tl.sum(x, axis=0) - tl.cumsum(x, axis=0) + x  # Σ_{r≥t} dΓ_r Γ_r
        tl.store(p_parts + C, dgam)


@triton.jit
def chunk_bwd_dv(
    v, beta, cu, chunk_map, y, parts, dv, dbeta, dg,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr,
    C: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, VARLEN: tl.constexpr, ACC: tl.constexpr,
):  # fmt: skip
    """dV = β ⊙ y (y = Tᵀ du = d(βV)) and dβ = Σ V ⊙ y + the key blocks' shares (:func:`chunk_bwd_dqk`);
    dγ is the sum of their shares. BK is the key block those shares were computed over."""
    i_c, i_h = tl.program_id(0), tl.program_id(1)
    i_b, start, end = _chunk_of(chunk_map, cu, i_c, T, NH, C, VARLEN)
    ti = tl.arange(0, C)
    flat, tok_flat, valid, is_query, is_gate = _rows(i_b, i_h, start, end, T, ti, H, NH)
    bc = tl.load(beta + flat.to(tl.int64), mask=valid, other=0.0).to(ACC)
    dbeta_c = tl.zeros((C,), dtype=ACC)
    dgam = tl.zeros((C,), dtype=ACC)
    for i_k in range(0, tl.cdiv(K, BK)):
        p_parts = _parts_ptrs(parts, i_c, i_h, i_k, ti, H, K, BK, C)
        dbeta_c += tl.load(p_parts)
        if HAS_G:
            dgam += tl.load(p_parts + C)
    for i_v in range(0, tl.cdiv(V, BV)):
        cv = i_v * BV + tl.arange(0, BV)
        mv = cv < V
        yc = _load_row_block(y, flat, cv, valid, mv, V).to(ACC)
        _store_row_block(dv, bc[:, None] * yc, flat, cv, valid, mv, V)
        dbeta_c += tl.sum(_load_row_block(v, flat, cv, valid, mv, V).to(ACC) * yc, axis=1)
    tl.store(dbeta + flat.to(tl.int64), dbeta_c.to(dbeta.dtype.element_ty), mask=valid)
    if HAS_G:
        tl.store(dg + tok_flat.to(tl.int64), dgam.to(dg.dtype.element_ty), mask=is_gate)


@triton.jit
def recurrent_fwd(
    q, k, v, beta, g, h0, o, ht, cu,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr, scale_ptr,
    BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, HAS_H0: tl.constexpr, STORE_HT: tl.constexpr, VARLEN: tl.constexpr,
    ACC: tl.constexpr,
):  # fmt: skip
    """Token by token: S ← e^{g_t} S; S ← S + β_j k_j (v_j − Sᵀk_j)ᵀ for each sub-step; o_t = scale·Sᵀq_t."""
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
