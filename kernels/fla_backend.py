"""fla's kernels behind :func:`kernels.delta_product` (backend="fla"; needs fla-core).

* mode "chunk": ``fla.ops.gated_delta_product.chunk_gated_delta_product`` as it is (same layout).
* mode "recurrent": fla's fused recurrent delta-rule kernels on the interleaved sequence of sub-step
  rows — queries only at each token's last sub-step, the log-gate only at its first — keeping every
  n_h-th output, as fla's GatedDeltaProduct layer does at inference.

fla's own limits are passed on as errors, before fla is imported and never worked around by casting: its
chunk op refuses float32 and float64 inputs and chunks other than 64 rows, its gated chunk backward does
not compile with float64 β or float64 log-gates (``prepare_wy_repr_bwd`` accumulates
``b_dg += sum(b_dkbg * b_kbg)`` in a float32 loop-carried variable, and ``b_kbg = b_k * (b_b * exp2(b_g))``
is float64 when β or g is: a Triton CompilationError, measured on the H200 with float64 β and float32 g at
D = 64 and 128, bench/results/stability_gpu/report.md), and its gated fused recurrent kernel has no
backward.
"""

from __future__ import annotations

import torch

__all__ = ["run", "available"]


def available() -> bool:
    try:
        import fla.ops.gated_delta_product  # noqa: F401
    except ImportError:
        return False
    return True


def _require_fla():
    if not available():
        raise RuntimeError("backend='fla' needs fla-core: pip install 'deltaproof[fla]' (and a CUDA GPU)")


def _refuse_fla_limits(q, k, v, beta, g, initial_state, mode, chunk_size):
    """fla's known limits (the module's docstring) as errors naming the argument."""
    tensors = (q, k, v, beta, g, initial_state)
    grads = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    if mode == "chunk":
        if q.dtype not in (torch.bfloat16, torch.float16):
            raise TypeError(
                f"q: backend='fla' mode='chunk' (chunk_gated_delta_product) accepts only bfloat16 and float16, got "
                f"{q.dtype}; use backend='triton' or 'reference' for this dtype"
            )
        if chunk_size != 64:
            raise ValueError(f"chunk_size: fla's chunk_gated_delta_product uses 64-row chunks only, got {chunk_size}")
        wide = [name for name, x in (("beta", beta), ("g", g)) if x is not None and x.dtype == torch.float64]
        if grads and g is not None and wide:
            raise TypeError(
                f"{wide[0]}: backend='fla' mode='chunk' with a gate and gradients expects float32 beta and g: fla's "
                f"chunk backward does not compile with either in float64 (a float32 accumulator promoted to "
                f"float64); got float64 {wide[0]}: pass {wide[0]}.float(), or use backend='triton'"
            )
    elif g is not None and grads:
        raise NotImplementedError(
            "backend='fla' mode='recurrent' with a gate: fla's fused_recurrent_gated_delta_rule has no "
            "backward; run under torch.no_grad(), or use mode='chunk' or backend='triton' for gradients"
        )


def run(q, k, v, beta, g, *, num_householder, scale, initial_state, output_final_state, cu_seqlens, mode, chunk_size):
    _refuse_fla_limits(q, k, v, beta, g, initial_state, mode, chunk_size)
    _require_fla()
    if not q.is_cuda:
        raise RuntimeError(f"backend='fla' runs fla's Triton kernels, which need a CUDA GPU; q is on {q.device}")
    if mode == "chunk":
        return _chunk(q, k, v, beta, g, num_householder, scale, initial_state, output_final_state, cu_seqlens)
    return _recurrent(q, k, v, beta, g, num_householder, scale, initial_state, output_final_state, cu_seqlens)


def _chunk(q, k, v, beta, g, n_h, scale, initial_state, output_final_state, cu_seqlens):
    from fla.ops.gated_delta_product import chunk_gated_delta_product

    return chunk_gated_delta_product(
        q,
        k,
        v,
        g,
        beta,
        num_householder=n_h,
        scale=scale,
        initial_state=initial_state,
        output_final_state=output_final_state,
        cu_seqlens=None if cu_seqlens is None else cu_seqlens.long(),
    )


def _recurrent(q, k, v, beta, g, n_h, scale, initial_state, output_final_state, cu_seqlens):
    from fla.ops.delta_rule import fused_recurrent_delta_rule
    from fla.ops.gated_delta_rule import fused_recurrent_gated_delta_rule

    batch, tokens, heads, kdim = q.shape
    q_rows = q.new_zeros(batch, tokens * n_h, heads, kdim)
    q_rows[:, n_h - 1 :: n_h] = q
    cu_rows = None if cu_seqlens is None else (cu_seqlens.long() * n_h)
    common = dict(scale=scale, initial_state=initial_state, output_final_state=output_final_state, cu_seqlens=cu_rows)
    if g is None:
        o, final = fused_recurrent_delta_rule(q_rows, k, v, beta=beta, **common)
    else:
        g_rows = g.new_zeros(batch, tokens * n_h, heads)
        g_rows[:, ::n_h] = g
        o, final = fused_recurrent_gated_delta_rule(q_rows, k, v, g=g_rows, beta=beta, **common)
    return o[:, n_h - 1 :: n_h], final
