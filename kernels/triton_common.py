"""Device functions shared by our Triton kernels (:mod:`kernels.triton_chunk`, :mod:`kernels.triton_recurrent`):
row-block loads and stores, sequence and chunk bounds, gate decays, pointer arithmetic, the unit lower
triangular inverse by 16×16 block forward substitution, and the products (:func:`precise_dot` makes
fp32-accurate ``tf32x3`` products from three one-pass tf32 ones, or ``fp16x2`` ones from three fp16 ones).

Sums accumulate in the accumulation dtype ACC (fp32, or fp64 for fp64 inputs; the gates' prefix sums in
fp64, :func:`gate_sums`): inputs are upcast on load and outputs rounded once on store; products of two raw
bf16 or fp16 inputs run on the inputs themselves (:func:`input_dot`: exact in the fp32 accumulator), and the
operands of the other products are rounded to the operand dtype DOT (:func:`dot`: the accumulation dtype, or
a 16-bit input dtype). Import this module lazily, after :func:`kernels.runtime.load_triton` has chosen the
interpreter where there is no GPU.
"""

from __future__ import annotations

from kernels.runtime import load_triton

triton = load_triton()
import triton.language as tl  # noqa: E402  (after load_triton: the interpreter must be chosen first)

__all__ = [
    "load_row_block",
    "store_row_block",
    "sequence",
    "chunk_of",
    "first_chunk",
    "flag_values",
    "rows",
    "gate_sums",
    "decays",
    "decay_vectors",
    "last",
    "state_ptrs",
    "chunk_ptrs",
    "parts_ptrs",
    "inverse_in_blocks",
    "tf32_round",
    "tile_scale",
    "precise_dot",
    "input_dot",
    "dot",
]


@triton.jit
def load_row_block(ptr, rows, cols, row_mask, col_mask, stride_row):
    offs = rows.to(tl.int64)[:, None] * stride_row + cols[None, :]
    return tl.load(ptr + offs, mask=row_mask[:, None] & col_mask[None, :], other=0.0)


@triton.jit
def store_row_block(ptr, x, rows, cols, row_mask, col_mask, stride_row):
    offs = rows.to(tl.int64)[:, None] * stride_row + cols[None, :]
    tl.store(ptr + offs, x.to(ptr.dtype.element_ty), mask=row_mask[:, None] & col_mask[None, :])


@triton.jit
def sequence(cu, i_n, T, VARLEN: tl.constexpr):
    """(batch row, first token, end token) of sequence i_n."""
    if VARLEN:
        bos, eos = tl.load(cu + i_n).to(tl.int64), tl.load(cu + i_n + 1).to(tl.int64)
        i_b = 0
    else:
        bos, eos = 0, T
        i_b = i_n
    return i_b, bos, eos


@triton.jit
def chunk_of(chunk_map, cu, i_c, T, NH: tl.constexpr, C: tl.constexpr, VARLEN: tl.constexpr):
    """(batch row, first sub-step row, end row) of global chunk i_c: from the host's (sequence, chunk) map
    with cu_seqlens; sequences of equal length have ⌈T·NH / C⌉ chunks each, in order."""
    if VARLEN:
        i_n, j = tl.load(chunk_map + 2 * i_c), tl.load(chunk_map + 2 * i_c + 1)
    else:
        per_sequence = tl.cdiv(T * NH, C)
        i_n, j = i_c // per_sequence, i_c % per_sequence
    i_b, bos, eos = sequence(cu, i_n, T, VARLEN)
    return i_b, bos * NH + j * C, eos * NH


@triton.jit
def first_chunk(chunk_offsets, i_n, T, NH: tl.constexpr, C: tl.constexpr, VARLEN: tl.constexpr):
    """The global index of sequence i_n's first chunk (see :func:`chunk_of`)."""
    if VARLEN:
        return tl.load(chunk_offsets + i_n)
    return i_n * tl.cdiv(T * NH, C)


@triton.jit
def flag_values(flags, slot: tl.constexpr, x, RULE: tl.constexpr, CHECK: tl.constexpr):
    """If CHECK, OR into ``flags[slot]`` the value-check failures of the tile x (masked entries loaded as 0
    pass): 1 for a NaN or infinity (a NaN only for log-gates, where −inf is a reset), 2 for a value out of
    range — RULE 0 finite, 1 β in [0, 2], 2 log-gates ≤ 0. One reduction and at most one atomic per tile:
    the checks ride on the loads the kernels make anyway (:mod:`kernels.triton_checks` says how they are
    read)."""
    if CHECK:
        finite = tl.abs(x) < float("inf")  # in x's own format: a cast could overflow
        if RULE == 2:
            bad = tl.where(x != x, 1, 0) | tl.where(x > 0, 2, 0)
        elif RULE == 1:
            bad = tl.where(finite, 0, 1) | tl.where((x < 0) | (x > 2), 2, 0)
        else:
            bad = tl.where(finite, 0, 1)
        bad = tl.max(bad, axis=None)
        if bad != 0:
            tl.atomic_or(flags + slot, bad)


@triton.jit
def rows(i_b, i_h, start, end, T, ti, H: tl.constexpr, NH: tl.constexpr):
    """Row indices of one chunk: into [B, T·NH, H, ·] (sub-steps) and [B, T, H, ·] (tokens), the valid
    rows, the rows that carry a query (a token's last sub-step) and those that carry a gate (its first)."""
    r = start + ti
    valid = r < end
    flat = (i_b * T * NH + r) * H + i_h
    tok_flat = (i_b * T + r // NH) * H + i_h
    return flat, tok_flat, valid, valid & (r % NH == NH - 1), valid & (r % NH == 0)


@triton.jit
def gate_sums(g, tok_flat, is_gate):
    """(G, n) of one chunk's local log-gates γ_r (g_t at a token's first sub-step, 0 elsewhere): G_r the
    sum of the finite γ_t over t ≤ r and n_r the number of −inf gates (resets) among them. A reset lies in
    (s, r] iff n_r > n_s, so every decay is e^{G_r − G_s} where none does and 0 where one does: two vector
    scans, and no −inf − (−inf). G is summed in float64: a difference G_r − G_s rounded once to ACC has the
    error of the direct sum Σ_{s<t≤r} γ_t, where float32 prefix sums would add u·|G_r| (strong decays make
    |G| ≫ |G_r − G_s| for the pairs whose decay is not negligible)."""
    gam = tl.load(g + tok_flat.to(tl.int64), mask=is_gate, other=0.0).to(tl.float64)
    reset = gam == float("-inf")
    return tl.cumsum(tl.where(reset, 0.0, gam), axis=0), tl.cumsum(reset.to(tl.int32), axis=0)


@triton.jit
def _decays_from_sums(big, resets, ti, C: tl.constexpr, ACC: tl.constexpr):
    """(Γ_r = e^{G_r}, e^{G_{C−1} − G_r}) from :func:`gate_sums`, 0 across a reset."""
    to_end = tl.where(resets == last(resets, ti, C), tl.exp((last(big, ti, C) - big).to(ACC)), 0.0)
    return tl.where(resets == 0, tl.exp(big.to(ACC)), 0.0), to_end


@triton.jit
def decays(g, tok_flat, is_gate, ti, C: tl.constexpr, HAS_G: tl.constexpr, ACC: tl.constexpr):
    """(E, Γ, e_L): E[r, s] = e^{D[r,s]} = e^{Σ_{s<t≤r} γ_t} on and below the diagonal (zero above) and the
    vectors of :func:`decay_vectors`, from :func:`gate_sums`; without a gate, the causal mask and ones."""
    if HAS_G:
        big, resets = gate_sums(g, tok_flat, is_gate)
        keep = (ti[:, None] >= ti[None, :]) & (resets[:, None] == resets[None, :])
        e = tl.where(keep, tl.exp((big[:, None] - big[None, :]).to(ACC)), 0.0).to(ACC)
        from_start, to_end = _decays_from_sums(big, resets, ti, C, ACC)
        return e, from_start, to_end
    ones = tl.full((ti.shape[0],), 1.0, dtype=ACC)
    return tl.where(ti[:, None] >= ti[None, :], 1.0, 0.0).to(ACC), ones, ones


@triton.jit
def decay_vectors(g, tok_flat, is_gate, ti, C: tl.constexpr, HAS_G: tl.constexpr, ACC: tl.constexpr):
    """(Γ_r = e^{Σ_{t≤r} γ_t}, e^{Σ_{r<t<C} γ_t}): the decay from the chunk start to each row and from each
    row to the chunk end (:func:`gate_sums`)."""
    if HAS_G:
        big, resets = gate_sums(g, tok_flat, is_gate)
        return _decays_from_sums(big, resets, ti, C, ACC)
    ones = tl.full((ti.shape[0],), 1.0, dtype=ACC)
    return ones, ones


@triton.jit
def last(x, ti, C: tl.constexpr):
    """Entry C − 1 of a [C] vector."""
    return tl.sum(tl.where(ti == C - 1, x, 0.0), axis=0)


@triton.jit
def state_ptrs(ptr, index, ck, cv, mk, mv, K: tl.constexpr, V: tl.constexpr):
    return ptr + index.to(tl.int64) * K * V + ck[:, None] * V + cv[None, :], mk[:, None] & mv[None, :]


@triton.jit
def chunk_ptrs(ptr, i_c, i_h, ti, H: tl.constexpr, C: tl.constexpr):
    """Pointers to the C×C matrix T = (I + A)⁻¹ of chunk i_c and head i_h in a buffer [chunks, H, C, C]."""
    return ptr + (((i_c * H + i_h).to(tl.int64) * C + ti[:, None]) * C + ti[None, :])


@triton.jit
def parts_ptrs(parts, i_c, i_h, i_k, ti, H: tl.constexpr, K: tl.constexpr, BK: tl.constexpr, C: tl.constexpr):
    """Pointers to key block i_k's share of dβ for chunk i_c and head i_h in ``parts`` [chunks, H, NK, 3, C]
    (its shares of dγ's row weights and last row follow, C and 2C further: ``chunk_bwd_dqk``)."""
    return parts + (((i_c * H + i_h) * tl.cdiv(K, BK) + i_k) * 3).to(tl.int64) * C + ti


@triton.jit
def tf32_round(x):
    """fp32 x rounded to tf32 (sign, exponent, 10 mantissa bits; ties away from zero): add half a unit of
    the 11th bit to the magnitude bits, then clear the 13 low bits. The result is exact in a tf32 product."""
    return ((x.to(tl.int32, bitcast=True) + 4096) & -8192).to(tl.float32, bitcast=True)


@triton.jit
def tile_scale(x):
    """The power of two 2^e that brings the fp32 tile x's largest magnitude into [2¹⁴, 2¹⁵) (e from the
    exponent bits, clamped to fp32's normal range; 1 for an all-zero tile): x / 2^e is within fp16's range
    with a bit to spare for the rounding."""
    peak = tl.max(tl.max(tl.abs(x), axis=1), axis=0)
    e = tl.maximum(((peak.to(tl.int32, bitcast=True) >> 23) & 255) - 141, -126)
    return tl.where(peak > 0, ((e + 127) << 23).to(tl.float32, bitcast=True), 1.0)


@triton.jit
def precise_dot(a, b, PRECISION: tl.constexpr, ACC: tl.constexpr):
    """a·b accumulated in ACC at PRECISION. ``tf32x3`` (fp32-accurate) is made here from three one-pass tf32
    products: with a = a₁ + a₂, a₁ = tf32(a), a₂ = tf32(a − a₁) (likewise b), a·b ≈ a₁b₂ + a₂b₁ + a₁b₁, the
    dropped a₂b₂ and the rounding of a₂, b₂ being 2⁻²² of |a||b| each. Triton 3.6's own tf32x3 computes the
    same sum but ran 2.3 ms slower for one 64×64×64 product per program of chunk_bwd_dqk on the H200
    (bench/results/speed/README.md).

    ``fp16x2`` (a ``dot_bits=22`` tuning, for measurement): each fp32 tile divided by its :func:`tile_scale`
    2^e and split into two fp16 terms a = 2^e(a₁ + a₂), a₂ = fp16(a/2^e − a₁), likewise b; a·b ≈
    2^{e_a + e_b}(a₁b₁ + a₁b₂ + a₂b₁): three 16-bit products (twice tf32's rate on Hopper), 22 bits relative
    to each tile's largest entry. bench/operand_rounding.py emulates it ("one scale per tile for every
    operand"): at fp32-accurate's level on the stability verdict's sections A and D."""
    if PRECISION == "fp16x2":
        scale_a = tile_scale(a)
        scale_b = tile_scale(b)
        a = a * (1.0 / scale_a)
        b = b * (1.0 / scale_b)
        a_head = a.to(tl.float16)
        b_head = b.to(tl.float16)
        out = tl.dot(a_head, (b - b_head.to(tl.float32)).to(tl.float16), out_dtype=ACC)
        out += tl.dot((a - a_head.to(tl.float32)).to(tl.float16), b_head, out_dtype=ACC)
        out += tl.dot(a_head, b_head, out_dtype=ACC)
        out = (out * scale_a) * scale_b
    elif PRECISION == "tf32x3":
        a_head = tf32_round(a)
        b_head = tf32_round(b)
        out = tl.dot(a_head, tf32_round(b - b_head), input_precision="tf32", out_dtype=ACC)
        out += tl.dot(tf32_round(a - a_head), b_head, input_precision="tf32", out_dtype=ACC)
        out += tl.dot(a_head, b_head, input_precision="tf32", out_dtype=ACC)
    else:
        out = tl.dot(a, b, input_precision=PRECISION, out_dtype=ACC)
    return out


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
            inner = precise_dot(lower.to(ACC), t_inv, INV_PRECISION, ACC)
            t_inv = t_inv - precise_dot(t_inv, inner, INV_PRECISION, ACC)
    return t_inv


@triton.jit
def _block(base, i: tl.constexpr, j: tl.constexpr, t16, C: tl.constexpr):
    """Pointers to the 16×16 block (i, j) of a row-major C×C tile at ``base``."""
    return base + (16 * i + t16)[:, None] * C + 16 * j + t16[None, :]


@triton.jit
def _solve_block_row(d_i, a_i0, t_0, a_i1, t_1, a_i2, t_2, PREC: tl.constexpr, ACC: tl.constexpr):
    """T_ij = −D_i Σ_m A_im T_mj for up to three terms (absent ones are zero tiles): one block of
    block forward substitution."""
    acc = precise_dot(a_i0, t_0, PREC, ACC)
    acc += precise_dot(a_i1, t_1, PREC, ACC)
    acc += precise_dot(a_i2, t_2, PREC, ACC)
    return -precise_dot(d_i, acc, PREC, ACC)


@triton.jit
def inverse_in_blocks(base, a, ti, C: tl.constexpr, PREC: tl.constexpr, ACC: tl.constexpr):
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
def input_dot(a, b, ACC: tl.constexpr, PRECISION: tl.constexpr):
    """a·b for tiles of raw inputs: in their own dtype when bf16 or fp16 (the products of two such numbers
    are exact in the fp32 accumulator, so the result is the tf32x3 or ieee one at half the registers and
    twice the rate), else in the accumulation dtype at PRECISION."""
    if a.dtype == tl.bfloat16 or a.dtype == tl.float16:
        return tl.dot(a, b, out_dtype=ACC)
    return precise_dot(a.to(ACC), b.to(ACC), PRECISION, ACC)


@triton.jit
def dot(a, b, DOT: tl.constexpr, ACC: tl.constexpr, PRECISION: tl.constexpr):
    """a·b accumulated in ACC: at PRECISION if the operand dtype DOT is ACC, else with both operands
    rounded to DOT (a 16-bit input dtype, as fla's kernels do: half the registers, twice the rate)."""
    if DOT == ACC:
        return precise_dot(a, b, PRECISION, ACC)
    return tl.dot(a.to(DOT), b.to(DOT), out_dtype=ACC)
