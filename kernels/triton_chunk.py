"""Our chunked Triton kernels for (gated) DeltaProduct: the UT/WY forward and the backward.

The chunked algorithm is :func:`kernels.reference.chunked`'s. Per chunk of C interleaved sub-step
rows with local log-gates γ_r: decays D[r, s] = Σ_{s<t≤r} γ_t = G_r − G_s from the prefix sums G of the
finite gates (a −inf gate zeroes every pair across it, counted apart: no NaN; ``gate_sums``),
A = strictly_lower(β_r k_rᵀk_s e^{D[r,s]}), T = (I + A)⁻¹;
then u = T(β ⊙ (V − Γ ⊙ K S)) (= U − W S with W = T(βΓ ⊙ K), U = T(β ⊙ V), which are never formed),
o = scale(Γ ⊙ Q S + (QKᵀ ⊙ e^D) u), S ← Γ_C S + (e^{D[C,·]} ⊙ K)ᵀ u. Only the state recurrence is
sequential:

* ``chunk_prep`` — one program per (chunk, head), all in parallel: A and T by block forward substitution
  over 16×16 blocks (T is kept for the backward).
* ``chunk_fwd`` — one program per (sequence × head, block of value columns), walking its chunks in
  order: u, the state, and the state at every chunk start (the output's and the backward's inputs).
* ``chunk_out`` — one program per (chunk, head, block of value columns), in parallel: o from the chunk's
  start state and u. The sequential walk does only what the recurrence needs (three products per chunk),
  as fla's split of its forward does.
* ``chunk_bwd_states`` — the same programs walking the chunks in reverse: the state gradient dS at every
  chunk end and y = Tᵀ du (du = ∂L/∂u).
* ``chunk_bwd_dqk`` — one program per (chunk, head, block of key columns), in parallel: dq, dk and the
  block's shares of dβ and of dg's row weights, from the chunk's S₀, dS₁, u and y (dA = −y uᵀ needs no key
  block but its own).
* ``chunk_bwd_dv`` — one program per (chunk, head): dv = β ⊙ y, dβ and dg (whose C×C part needs the whole key
  dimension, so it is formed once per chunk here).

The kernels that need the C×C decays e^D (chunk_out, chunk_bwd_states, chunk_bwd_dqk) form them per chunk from
the C gates: cheaper than storing and reading them (measured, bench/results/speed/README.md).
Precision and the shared device functions: :mod:`kernels.triton_common`. Import this module lazily: it
defines the kernels at import, after :func:`kernels.runtime.load_triton` has switched the interpreter on
where there is no GPU.
"""

from __future__ import annotations

from kernels.runtime import load_triton

triton = load_triton()
import triton.language as tl  # noqa: E402  (after load_triton: the interpreter must be chosen first)

from kernels.triton_common import (  # noqa: E402
    chunk_of,
    chunk_ptrs,
    decay_vectors,
    decays,
    dot,
    first_chunk,
    flag_values,
    input_dot,
    inverse_in_blocks,
    last,
    load_row_block,
    parts_ptrs,
    rows,
    sequence,
    state_ptrs,
    store_row_block,
    tf32_round,
)

__all__ = ["chunk_prep", "chunk_fwd", "chunk_out", "chunk_bwd_states", "chunk_bwd_dqk", "chunk_bwd_dv"]


@triton.jit
def chunk_prep(
    k, beta, g, cu, chunk_map, t_buf,
    T, H: tl.constexpr, K: tl.constexpr, NH: tl.constexpr,
    C: tl.constexpr, BK: tl.constexpr, HAS_G: tl.constexpr, VARLEN: tl.constexpr, ACC: tl.constexpr,
    PRECISION: tl.constexpr, INV_PRECISION: tl.constexpr, flags, CHECK: tl.constexpr,
):  # fmt: skip
    """T = (I + A)⁻¹ of one chunk (:func:`inverse_in_blocks`) into ``t_buf`` [chunks, H, C, C], with
    A = strictly_lower(β_r (k_rᵀk_s) E_rs) and the Gram matrix summed over blocks of BK key columns. If CHECK,
    the values of k, β and g it loads are checked into ``flags`` (:func:`flag_values`)."""
    i_c, i_h = tl.program_id(0), tl.program_id(1)
    i_b, start, end = chunk_of(chunk_map, cu, i_c, T, NH, C, VARLEN)
    ti = tl.arange(0, C)
    flat, tok_flat, valid, is_query, is_gate = rows(i_b, i_h, start, end, T, ti, H, NH)
    b_raw = tl.load(beta + flat.to(tl.int64), mask=valid, other=0.0)
    flag_values(flags, 3, b_raw, 1, CHECK)
    bc = b_raw.to(ACC)
    if HAS_G and CHECK:
        flag_values(flags, 4, tl.load(g + tok_flat.to(tl.int64), mask=is_gate, other=0.0), 2, CHECK)
    e, from_start, _ = decays(g, tok_flat, is_gate, ti, C, HAS_G, ACC)
    gram = tl.zeros((C, C), dtype=ACC)
    for i_k in range(0, tl.cdiv(K, BK)):
        ck = i_k * BK + tl.arange(0, BK)
        kc = load_row_block(k, flat, ck, valid, ck < K, K)
        flag_values(flags, 1, kc, 0, CHECK)
        gram += input_dot(kc, tl.trans(kc), ACC, PRECISION)
    a = tl.where(ti[:, None] > ti[None, :], bc[:, None] * gram * e, 0.0).to(ACC)
    inverse_in_blocks(t_buf + (i_c * H + i_h).to(tl.int64) * C * C, a, ti, C, INV_PRECISION, ACC)


@triton.jit
def chunk_fwd(
    k, v, beta, t_in, g, h0, ht, cu, snaps, u_out, chunk_offsets,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr,
    C: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, HAS_H0: tl.constexpr, STORE_HT: tl.constexpr, VARLEN: tl.constexpr,
    ACC: tl.constexpr, PRECISION: tl.constexpr, DOT: tl.constexpr, flags, CHECK: tl.constexpr,
    HALVES: tl.constexpr = False,
):  # fmt: skip
    """The state recurrence over chunks, from each chunk's T (:func:`chunk_prep`): stores the state at every
    chunk start and u = T(β ⊙ (V − Γ ⊙ K S)) (= U − W S, as W = T diag(βΓ) K and U = T diag(β) V), then
    S ← Γ_C S + (e_L ⊙ K)ᵀ u; the final state if STORE_HT. Only what depends on the state is here: the
    output, which does not feed the recurrence, is :func:`chunk_out`'s, in parallel over chunks. If CHECK, the
    values of v and the initial state are checked into ``flags``. If HALVES, the key dimension is two tiles of
    BK rows, S = [S₁; S₂] and K S = K₁S₁ + K₂S₂ (the launch's ``halves_fwd``: tiles of 64 rows at K = 128,
    where value blocks of 32 with 16-bit operands are not refused)."""
    i_v, i_nh = tl.program_id(0), tl.program_id(1)
    i_n, i_h = i_nh // H, i_nh % H
    i_b, bos, eos = sequence(cu, i_n, T, VARLEN)
    ck, cv = tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mk, mv = ck < K, cv < V
    ti = tl.arange(0, C)
    s = tl.zeros((BK, BV), dtype=ACC)
    if HALVES:
        ck2 = BK + ck  # the second tile's rows
        mk2 = ck2 < K
        s2 = tl.zeros((BK, BV), dtype=ACC)
    if HAS_H0:
        p, m = state_ptrs(h0, i_n * H + i_h, ck, cv, mk, mv, K, V)
        s = tl.load(p, mask=m, other=0.0)
        flag_values(flags, 5, s, 0, CHECK)
        s = s.to(ACC)
        if HALVES:
            p, m = state_ptrs(h0, i_n * H + i_h, ck2, cv, mk2, mv, K, V)
            s2 = tl.load(p, mask=m, other=0.0)
            flag_values(flags, 5, s2, 0, CHECK)
            s2 = s2.to(ACC)
    chunk0 = first_chunk(chunk_offsets, i_n, T, NH, C, VARLEN)
    for start in range(bos * NH, eos * NH, C):
        i_c = chunk0 + (start - bos * NH) // C
        p_snap, m_snap = state_ptrs(snaps, i_c * H + i_h, ck, cv, mk, mv, K, V)
        tl.store(p_snap, s.to(snaps.dtype.element_ty), mask=m_snap)
        flat, tok_flat, valid, is_query, is_gate = rows(i_b, i_h, start, eos * NH, T, ti, H, NH)
        kc = load_row_block(k, flat, ck, valid, mk, K).to(ACC)
        if HALVES:
            p_snap, m_snap = state_ptrs(snaps, i_c * H + i_h, ck2, cv, mk2, mv, K, V)
            tl.store(p_snap, s2.to(snaps.dtype.element_ty), mask=m_snap)
            kc2 = load_row_block(k, flat, ck2, valid, mk2, K).to(ACC)
        bc = tl.load(beta + flat.to(tl.int64), mask=valid, other=0.0).to(ACC)
        from_start, to_end = decay_vectors(g, tok_flat, is_gate, ti, C, HAS_G, ACC)
        x = load_row_block(v, flat, cv, valid, mv, V)
        flag_values(flags, 2, x, 0, CHECK)
        x = x.to(ACC) - from_start[:, None] * dot(kc, s, DOT, ACC, PRECISION)
        if HALVES:
            x -= from_start[:, None] * dot(kc2, s2, DOT, ACC, PRECISION)
        t_inv = tl.load(chunk_ptrs(t_in, i_c, i_h, ti, H, C))
        uc = dot(t_inv, bc[:, None] * x, DOT, ACC, PRECISION)
        store_row_block(u_out, uc, flat, cv, valid, mv, V)
        s = last(from_start, ti, C) * s + dot(tl.trans(to_end[:, None] * kc), uc, DOT, ACC, PRECISION)
        if HALVES:
            s2 = last(from_start, ti, C) * s2 + dot(tl.trans(to_end[:, None] * kc2), uc, DOT, ACC, PRECISION)
    if STORE_HT:
        p, m = state_ptrs(ht, i_n * H + i_h, ck, cv, mk, mv, K, V)
        tl.store(p, s.to(ht.dtype.element_ty), mask=m)
        if HALVES:
            p, m = state_ptrs(ht, i_n * H + i_h, ck2, cv, mk2, mv, K, V)
            tl.store(p, s2.to(ht.dtype.element_ty), mask=m)


@triton.jit
def chunk_out(
    q, k, t_in, g, cu, chunk_map, snaps, u, o,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr, scale_ptr,
    C: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, VARLEN: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr,
    DOT: tl.constexpr, flags, CHECK: tl.constexpr,
):  # fmt: skip
    """o = scale(Γ ⊙ Q S₀ + (QKᵀ ⊙ E) u) for one chunk, head and block of BV value columns, from the chunk's
    start state S₀ and u (:func:`chunk_fwd`): every chunk in parallel. If CHECK, the values of
    q are checked into ``flags`` (by the first value block's programs)."""
    i_c, i_h, i_v = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    scale = tl.load(scale_ptr)  # a tensor in ACC: a Python float argument would be rounded to float32
    i_b, start, end = chunk_of(chunk_map, cu, i_c, T, NH, C, VARLEN)
    ti, ck, cv = tl.arange(0, C), tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mk, mv = ck < K, cv < V
    flat, tok_flat, valid, is_query, is_gate = rows(i_b, i_h, start, end, T, ti, H, NH)
    k_raw = load_row_block(k, flat, ck, valid, mk, K)
    q_raw = load_row_block(q, tok_flat, ck, is_query, mk, K)
    if i_v == 0:
        flag_values(flags, 0, q_raw, 0, CHECK)
    e, from_start, _ = decays(g, tok_flat, is_gate, ti, C, HAS_G, ACC)
    scores = input_dot(q_raw, tl.trans(k_raw), ACC, PRECISION) * e
    p_s, m_s = state_ptrs(snaps, i_c * H + i_h, ck, cv, mk, mv, K, V)
    s0 = tl.load(p_s, mask=m_s, other=0.0).to(ACC)
    uc = load_row_block(u, flat, cv, valid, mv, V).to(ACC)
    out = from_start[:, None] * dot(q_raw.to(ACC), s0, DOT, ACC, PRECISION)
    out = scale * (out + dot(scores, uc, DOT, ACC, PRECISION))
    store_row_block(o, out, tok_flat, cv, is_query, mv, V)


@triton.jit
def chunk_bwd_states(
    q, k, beta, t_in, g, cu, do, dht, y_out, dsnaps, dh0, chunk_offsets,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr, scale_ptr,
    C: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, HAS_DHT: tl.constexpr, VARLEN: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr,
    DOT: tl.constexpr, HALVES: tl.constexpr = False,
):  # fmt: skip
    """The chunks in reverse, through o = scale(Γ⊙Q S₀ + (QKᵀ⊙E) u), u = T(β ⊙ (V − Γ⊙K S₀)) and
    S₁ = Γ_L S₀ + (e_L⊙K)ᵀ u: stores dS₁ (the state gradient at the chunk's end) and y = Tᵀ du, with
    du = scale·(QKᵀ⊙E)ᵀ dO + (e_L⊙K) dS₁, and carries dS₀ = scale·(Γ⊙Q)ᵀ dO + Γ_L dS₁ − Kᵀ(βΓ ⊙ y) to the
    chunk before (dh0 after the first). If HALVES, the key dimension is two tiles of BK rows, as in
    :func:`chunk_fwd`."""
    i_v, i_nh = tl.program_id(0), tl.program_id(1)
    i_n, i_h = i_nh // H, i_nh % H
    scale = tl.load(scale_ptr)
    i_b, bos, eos = sequence(cu, i_n, T, VARLEN)
    ck, cv = tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mk, mv = ck < K, cv < V
    ti = tl.arange(0, C)
    ds = tl.zeros((BK, BV), dtype=ACC)
    if HALVES:
        ck2 = BK + ck  # the second tile's rows
        mk2 = ck2 < K
        ds2 = tl.zeros((BK, BV), dtype=ACC)
    if HAS_DHT:
        p, m = state_ptrs(dht, i_n * H + i_h, ck, cv, mk, mv, K, V)
        ds = tl.load(p, mask=m, other=0.0).to(ACC)
        if HALVES:
            p, m = state_ptrs(dht, i_n * H + i_h, ck2, cv, mk2, mv, K, V)
            ds2 = tl.load(p, mask=m, other=0.0).to(ACC)
    chunk0 = first_chunk(chunk_offsets, i_n, T, NH, C, VARLEN)
    n_chunks = (eos * NH - bos * NH + C - 1) // C
    for back in range(0, n_chunks):
        c = n_chunks - 1 - back
        start = bos * NH + c * C
        p_snap, m_snap = state_ptrs(dsnaps, (chunk0 + c) * H + i_h, ck, cv, mk, mv, K, V)
        tl.store(p_snap, ds.to(dsnaps.dtype.element_ty), mask=m_snap)
        flat, tok_flat, valid, is_query, is_gate = rows(i_b, i_h, start, eos * NH, T, ti, H, NH)
        k_raw = load_row_block(k, flat, ck, valid, mk, K)
        q_raw = load_row_block(q, tok_flat, ck, is_query, mk, K)
        kc, qc = k_raw.to(ACC), q_raw.to(ACC)
        if HALVES:
            p_snap, m_snap = state_ptrs(dsnaps, (chunk0 + c) * H + i_h, ck2, cv, mk2, mv, K, V)
            tl.store(p_snap, ds2.to(dsnaps.dtype.element_ty), mask=m_snap)
            k_raw2 = load_row_block(k, flat, ck2, valid, mk2, K)
            q_raw2 = load_row_block(q, tok_flat, ck2, is_query, mk2, K)
            kc2, qc2 = k_raw2.to(ACC), q_raw2.to(ACC)
        do_c = load_row_block(do, tok_flat, cv, is_query, mv, V).to(ACC)
        bc = tl.load(beta + flat.to(tl.int64), mask=valid, other=0.0).to(ACC)
        e, from_start, to_end = decays(g, tok_flat, is_gate, ti, C, HAS_G, ACC)
        qk = input_dot(q_raw, tl.trans(k_raw), ACC, PRECISION)
        if HALVES:
            qk += input_dot(q_raw2, tl.trans(k_raw2), ACC, PRECISION)
        scores = qk * e
        du_c = scale * dot(tl.trans(scores), do_c, DOT, ACC, PRECISION)
        du_c += dot(to_end[:, None] * kc, ds, DOT, ACC, PRECISION)
        if HALVES:
            du_c += dot(to_end[:, None] * kc2, ds2, DOT, ACC, PRECISION)
        t_inv = tl.load(chunk_ptrs(t_in, chunk0 + c, i_h, ti, H, C))
        yc = dot(tl.trans(t_inv), du_c, DOT, ACC, PRECISION)
        store_row_block(y_out, yc, flat, cv, valid, mv, V)
        ds = last(from_start, ti, C) * ds - dot(tl.trans(kc), (bc * from_start)[:, None] * yc, DOT, ACC, PRECISION)
        ds += scale * dot(tl.trans(from_start[:, None] * qc), do_c, DOT, ACC, PRECISION)
        if HALVES:
            ds2 = last(from_start, ti, C) * ds2 - dot(tl.trans(kc2), (bc * from_start)[:, None] * yc, DOT, ACC,
                                                      PRECISION)  # fmt: skip
            ds2 += scale * dot(tl.trans(from_start[:, None] * qc2), do_c, DOT, ACC, PRECISION)
    p, m = state_ptrs(dh0, i_n * H + i_h, ck, cv, mk, mv, K, V)
    tl.store(p, ds, mask=m)
    if HALVES:
        p, m = state_ptrs(dh0, i_n * H + i_h, ck2, cv, mk2, mv, K, V)
        tl.store(p, ds2, mask=m)


@triton.jit
def chunk_bwd_dqk(
    q, k, beta, g, cu, chunk_map, u, snaps, dsnaps, y, do, dq, dk, parts,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr, scale_ptr,
    C: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, VARLEN: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr, DOT: tl.constexpr,

):  # fmt: skip
    """dq and dk of one chunk's block of BK key columns, and that block's shares of dβ and of dγ's row weights,
    from the chunk's S₀, dS₁, u and y = Tᵀ du (M = scale·dO uᵀ):
    dQ = scale·Γ⊙(dO S₀ᵀ) + (M⊙E) K;  d(βΓK) = Tᵀ dW = −y S₀ᵀ (dW = −du S₀ᵀ);
    dA = −Tᵀ du uᵀ = −y uᵀ (strictly lower): dA = −Tᵀ dT Tᵀ with dT = du(βV)ᵀ + dW(βΓK)ᵀ = du((I + A)u)ᵀ,
    as (βΓK)S₀ = T⁻¹W S₀ = βV − (I + A)u, so that no key block needs another's;
    dK = (M⊙E)ᵀ Q + e_L ⊙ (u dS₁ᵀ) + βΓ ⊙ d(βΓK) + (dG + dGᵀ) K with dG = dA ⊙ β E.
    dβ and dγ are sums over the key columns: each block stores its shares in ``parts`` [chunks, H, NK, 3, C]
    (:func:`parts_ptrs`): dβ's without Σ V ⊙ y, which :func:`chunk_bwd_dv` adds, dβ ∋ Γ Σ K⊙d(βΓK) +
    Σ_s dA_rs(k_rᵀk_s)E_rs; and, gated, the row weights of dΓ_r Γ_r, w_r = scale·Σ Q⊙(dO S₀ᵀ) + β Σ K⊙d(βΓK)
    (+ Σ S₀⊙dS₁ on the last row), and the last row's dE_{L,s} = Σ K⊙(u dS₁ᵀ), from which :func:`chunk_bwd_dv`
    forms dγ (the C×C part of dγ needs the whole key dimension, so it is formed once per chunk there rather than
    per key block here). The value columns are visited in blocks of BV."""
    i_c, i_h, i_k = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    scale = tl.load(scale_ptr)
    i_b, start, end = chunk_of(chunk_map, cu, i_c, T, NH, C, VARLEN)
    ti, ck = tl.arange(0, C), i_k * BK + tl.arange(0, BK)
    mk = ck < K
    flat, tok_flat, valid, is_query, is_gate = rows(i_b, i_h, start, end, T, ti, H, NH)
    m_ = tl.zeros((C, C), dtype=ACC)
    y_u = tl.zeros((C, C), dtype=ACC)
    dq_c = tl.zeros((C, BK), dtype=ACC)
    dbk = tl.zeros((C, BK), dtype=ACC)
    u_ds = tl.zeros((C, BK), dtype=ACC)
    s0_ds1 = tl.zeros((C,), dtype=ACC)  # Σ S₀ ⊙ dS₁ over the block on every row; only the last row's is kept
    for i_v in range(0, tl.cdiv(V, BV)):
        cv = i_v * BV + tl.arange(0, BV)
        mv = cv < V
        p_s, m_s = state_ptrs(snaps, i_c * H + i_h, ck, cv, mk, mv, K, V)
        s0 = tl.load(p_s, mask=m_s, other=0.0).to(ACC)
        p_s, m_s = state_ptrs(dsnaps, i_c * H + i_h, ck, cv, mk, mv, K, V)
        ds1 = tl.load(p_s, mask=m_s, other=0.0).to(ACC)
        do_c = load_row_block(do, tok_flat, cv, is_query, mv, V).to(ACC)
        yc = load_row_block(y, flat, cv, valid, mv, V).to(ACC)
        uc = load_row_block(u, flat, cv, valid, mv, V).to(ACC)
        m_ += scale * dot(do_c, tl.trans(uc), DOT, ACC, PRECISION)
        y_u += dot(yc, tl.trans(uc), DOT, ACC, PRECISION)
        dq_c += dot(do_c, tl.trans(s0), DOT, ACC, PRECISION)
        if HAS_G:
            s0_ds1 += tl.sum(tl.sum(s0 * ds1, axis=1), axis=0)
        u_ds += dot(uc, tl.trans(ds1), DOT, ACC, PRECISION)
        dbk -= dot(yc, tl.trans(s0), DOT, ACC, PRECISION)
    bc = tl.load(beta + flat.to(tl.int64), mask=valid, other=0.0).to(ACC)
    e, from_start, to_end = decays(g, tok_flat, is_gate, ti, C, HAS_G, ACC)
    m_ = m_ * e  # M ⊙ E and dA ⊙ E: E is needed no further, so its tile is not held beside them
    da_e = tl.where(ti[:, None] > ti[None, :], -y_u, 0.0) * e
    k_raw = load_row_block(k, flat, ck, valid, mk, K)
    q_raw = load_row_block(q, tok_flat, ck, is_query, mk, K)
    kc, qc = k_raw.to(ACC), q_raw.to(ACC)
    if HAS_G:
        q_dq = tl.sum(qc * dq_c, axis=1)  # Σ_v (Q S₀)_rv dO_rv = Σ_k Q_rk (dO S₀ᵀ)_rk over the block
    dq_c = scale * from_start[:, None] * dq_c + dot(m_, kc, DOT, ACC, PRECISION)
    store_row_block(dq, dq_c, tok_flat, ck, is_query, mk, K)
    dk_c = dot(tl.trans(m_), qc, DOT, ACC, PRECISION) + to_end[:, None] * u_ds
    k_dbk = tl.sum(kc * dbk, axis=1)
    dk_c += (bc * from_start)[:, None] * dbk
    gram = input_dot(k_raw, tl.trans(k_raw), ACC, PRECISION)
    dgram = da_e * bc[:, None]
    dk_c += dot(dgram + tl.trans(dgram), kc, DOT, ACC, PRECISION)
    store_row_block(dk, dk_c, flat, ck, valid, mk, K)
    p_parts = parts_ptrs(parts, i_c, i_h, i_k, ti, H, K, BK, C)
    tl.store(p_parts, from_start * k_dbk + tl.sum(da_e * gram, axis=1))
    if HAS_G:  # dγ's row weights (through Γ_r and the last row's E_{L,s}); chunk_bwd_dv forms dγ
        tl.store(p_parts + C, scale * q_dq + bc * k_dbk + tl.where(ti == C - 1, s0_ds1, 0.0))
        tl.store(p_parts + 2 * C, tl.sum(kc * u_ds, axis=1))


@triton.jit
def chunk_bwd_dv(
    q, k, v, beta, g, cu, chunk_map, do, u, y, parts, dv, dbeta, dg,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr, scale_ptr,
    C: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, VARLEN: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr, DOT: tl.constexpr,
):  # fmt: skip
    """dV = β ⊙ y (y = Tᵀ du = d(βV)) and dβ = Σ V ⊙ y + the key blocks' shares (:func:`chunk_bwd_dqk`); BK is
    the key block those shares were computed over. Gated, dγ_t = Σ_{r≥t>s} F_rs + Σ_{r≥t} w_r Γ_r with
    F = dE ⊙ E, dE = lower(M ⊙ QKᵀ) + dA ⊙ β (KKᵀ) (M = scale·dO uᵀ, dA = −lower_strict(y uᵀ)) plus the last row's
    Σ K⊙(u dS₁ᵀ), and w the Γ-gradient row weights: both vectors summed from the key blocks' shares, the C×C
    products formed here over the whole key and value dimensions, once per chunk."""
    i_c, i_h = tl.program_id(0), tl.program_id(1)
    i_b, start, end = chunk_of(chunk_map, cu, i_c, T, NH, C, VARLEN)
    ti = tl.arange(0, C)
    flat, tok_flat, valid, is_query, is_gate = rows(i_b, i_h, start, end, T, ti, H, NH)
    bc = tl.load(beta + flat.to(tl.int64), mask=valid, other=0.0).to(ACC)
    dbeta_c = tl.zeros((C,), dtype=ACC)
    weights = tl.zeros((C,), dtype=ACC)
    last_row = tl.zeros((C,), dtype=ACC)
    qk = tl.zeros((C, C), dtype=ACC)
    gram = tl.zeros((C, C), dtype=ACC)
    for i_k in range(0, tl.cdiv(K, BK)):
        p_parts = parts_ptrs(parts, i_c, i_h, i_k, ti, H, K, BK, C)
        dbeta_c += tl.load(p_parts)
        if HAS_G:
            weights += tl.load(p_parts + C)
            last_row += tl.load(p_parts + 2 * C)
            ck = i_k * BK + tl.arange(0, BK)
            k_raw = load_row_block(k, flat, ck, valid, ck < K, K)
            qk += input_dot(load_row_block(q, tok_flat, ck, is_query, ck < K, K), tl.trans(k_raw), ACC, PRECISION)
            gram += input_dot(k_raw, tl.trans(k_raw), ACC, PRECISION)
    m_ = tl.zeros((C, C), dtype=ACC)
    y_u = tl.zeros((C, C), dtype=ACC)
    for i_v in range(0, tl.cdiv(V, BV)):
        cv = i_v * BV + tl.arange(0, BV)
        mv = cv < V
        yc = load_row_block(y, flat, cv, valid, mv, V).to(ACC)
        store_row_block(dv, bc[:, None] * yc, flat, cv, valid, mv, V)
        dbeta_c += tl.sum(load_row_block(v, flat, cv, valid, mv, V).to(ACC) * yc, axis=1)
        if HAS_G:
            uc = load_row_block(u, flat, cv, valid, mv, V).to(ACC)
            m_ += dot(load_row_block(do, tok_flat, cv, is_query, mv, V).to(ACC), tl.trans(uc), DOT, ACC, PRECISION)
            y_u += dot(yc, tl.trans(uc), DOT, ACC, PRECISION)
    tl.store(dbeta + flat.to(tl.int64), dbeta_c.to(dbeta.dtype.element_ty), mask=valid)
    if HAS_G:  # through E_rs = e^{Σ_{s<t≤r} γ_t} and Γ_r = e^{Σ_{t≤r} γ_t}
        scale = tl.load(scale_ptr)
        e, from_start, _ = decays(g, tok_flat, is_gate, ti, C, HAS_G, ACC)
        da = tl.where(ti[:, None] > ti[None, :], -y_u, 0.0)
        de = tl.where(ti[:, None] >= ti[None, :], scale * m_ * qk, 0.0) + da * bc[:, None] * gram
        de += tl.where((ti == C - 1)[:, None], last_row[None, :], 0.0)
        # the pairs straddling t, whose inner sums Σ_{s<t} F_rs are one product with the 0/1 matrix [s < t]
        # (tensor cores, not a C×C scan)
        f = tl.where(ti[:, None] >= ti[None, :], de * e, 0.0)
        later = tl.where(ti[:, None] < ti[None, :], 1.0, 0.0).to(ACC)
        if ACC == tl.float64:
            before = tl.dot(f, later, input_precision="ieee", out_dtype=ACC)
        else:  # fp32-accurate whatever the other products' precision (dγ sums many terms of both signs): F split
            # into its tf32 head and the rest, two tf32 products with the 0/1 matrix, which is exact in tf32
            # (precise_dot's third product would multiply by its zero rest)
            f_head = tf32_round(f)
            before = tl.dot(f_head, later, input_precision="tf32", out_dtype=ACC)
            before += tl.dot(tf32_round(f - f_head), later, input_precision="tf32", out_dtype=ACC)
        dgam = tl.sum(tl.where(ti[:, None] >= ti[None, :], before, 0.0), axis=0)
        x = weights * from_start
        dgam += tl.sum(x, axis=0) - tl.cumsum(x, axis=0) + x  # Σ_{r≥t} w_r Γ_r
        tl.store(dg + tok_flat.to(tl.int64), dgam.to(dg.dtype.element_ty), mask=is_gate)
