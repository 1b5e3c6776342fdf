"""Our fused recurrent Triton kernel for (gated) DeltaProduct: the forward token by token (decoding).

One program per (block of value columns, sequence × head) keeps its state block in registers and applies,
per token, the gate and the n_h sub-steps in order. Import this module lazily (:mod:`kernels.triton_common`).
"""

from __future__ import annotations

from kernels.runtime import load_triton

triton = load_triton()
import triton.language as tl  # noqa: E402  (after load_triton: the interpreter must be chosen first)

from kernels.triton_common import (  # noqa: E402
    flag_values,
    sequence,
    state_ptrs,
)

__all__ = ["recurrent_fwd"]


@triton.jit
def recurrent_fwd(
    q, k, v, beta, g, h0, o, ht, cu,
    T, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr, NH: tl.constexpr, scale_ptr,
    BK: tl.constexpr, BV: tl.constexpr,
    HAS_G: tl.constexpr, HAS_H0: tl.constexpr, STORE_HT: tl.constexpr, VARLEN: tl.constexpr,
    ACC: tl.constexpr, flags, CHECK: tl.constexpr,
):  # fmt: skip
    """Token by token: S ← e^{g_t} S; S ← S + β_j k_j (v_j − Sᵀk_j)ᵀ for each sub-step; o_t = scale·Sᵀq_t.
    If CHECK, every value it loads is checked into ``flags`` (:func:`kernels.triton_common.flag_values`;
    scalars as one-element tiles)."""
    i_v, i_nh = tl.program_id(0), tl.program_id(1)
    i_n, i_h = i_nh // H, i_nh % H
    scale = tl.load(scale_ptr)  # a tensor in ACC: a Python float argument would be rounded to float32
    i_b, bos, eos = sequence(cu, i_n, T, VARLEN)
    ck, cv = tl.arange(0, BK), i_v * BV + tl.arange(0, BV)
    mk, mv = ck < K, cv < V
    s = tl.zeros((BK, BV), dtype=ACC)
    if HAS_H0:
        p, m = state_ptrs(h0, i_n * H + i_h, ck, cv, mk, mv, K, V)
        s = tl.load(p, mask=m, other=0.0)
        flag_values(flags, 5, s, 0, CHECK)
        s = s.to(ACC)
    one = tl.zeros((1,), dtype=tl.float32)
    for t in range(bos, eos):
        tok = ((i_b * T + t) * H + i_h).to(tl.int64)
        if HAS_G:
            gt = tl.load(g + tok)
            flag_values(flags, 4, one + gt, 2, CHECK)
            s = s * tl.exp(gt.to(ACC))
        for j in range(NH):
            row = ((i_b * T * NH + t * NH + j) * H + i_h).to(tl.int64)
            kj = tl.load(k + row * K + ck, mask=mk, other=0.0)
            vj = tl.load(v + row * V + cv, mask=mv, other=0.0)
            bj = tl.load(beta + row)
            flag_values(flags, 1, kj, 0, CHECK)
            flag_values(flags, 2, vj, 0, CHECK)
            flag_values(flags, 3, one + bj, 1, CHECK)
            kj, vj, bj = kj.to(ACC), vj.to(ACC), bj.to(ACC)
            err = vj - tl.sum(s * kj[:, None], axis=0)
            s = s + bj * kj[:, None] * err[None, :]
        qt = tl.load(q + tok * K + ck, mask=mk, other=0.0)
        flag_values(flags, 0, qt, 0, CHECK)
        qt = qt.to(ACC)
        tl.store(o + tok * V + cv, (scale * tl.sum(s * qt[:, None], axis=0)).to(o.dtype.element_ty), mask=mv)
    if STORE_HT:
        p, m = state_ptrs(ht, i_n * H + i_h, ck, cv, mk, mv, K, V)
        tl.store(p, s.to(ht.dtype.element_ty), mask=m)
