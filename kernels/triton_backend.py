"""backend="triton": our kernels behind :func:`kernels.delta_product`, with autograd.

Forward: :mod:`kernels.triton_kernels` (chunked or fused recurrent). Backward: not yet a Triton kernel —
gradients are computed by recomputing the forward with :func:`kernels.reference.chunked` in the
accumulation dtype (float32, or float64 for float64 inputs) and differentiating it with autograd. They
are the exact gradients of the same function, but at the reference's speed and memory.
"""

from __future__ import annotations

import torch

from kernels import reference, triton_kernels

__all__ = ["run"]


def _block(n: int) -> int:
    """Power-of-two block ≥ 16 covering n (tl.dot needs at least 16 along each dimension)."""
    return max(16, 1 << (n - 1).bit_length())


def _forward(q, k, v, beta, g, h0, n_h, scale, output_final_state, cu_seqlens, mode, chunk_size):
    tl = triton_kernels.tl
    batch, tokens, heads, kdim = q.shape
    vdim = v.shape[-1]
    sequences = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    acc_torch = reference.state_dtype(q.dtype)
    acc = tl.float64 if acc_torch == torch.float64 else tl.float32
    bk = _block(kdim)
    bv = min(_block(vdim), 64 if bk <= 128 else 32)
    o = torch.zeros(batch, tokens, heads, vdim, dtype=q.dtype, device=q.device)
    ht = torch.empty(sequences, heads, kdim, vdim, dtype=acc_torch, device=q.device) if output_final_state else None
    dummy = torch.empty(1, dtype=acc_torch, device=q.device)
    args = (
        q.contiguous(),
        k.contiguous(),
        v.contiguous(),
        beta.contiguous(),
        dummy if g is None else g.contiguous(),
        dummy if h0 is None else h0.contiguous(),
        o,
        dummy if ht is None else ht,
        dummy if cu_seqlens is None else cu_seqlens.contiguous(),
        tokens,
    )
    flags = dict(
        HAS_G=g is not None,
        HAS_H0=h0 is not None,
        STORE_HT=ht is not None,
        VARLEN=cu_seqlens is not None,
        ACC=acc,
    )
    grid = (-(-vdim // bv), sequences * heads)
    scale_t = torch.tensor([scale], dtype=acc_torch, device=q.device)
    if sequences * heads and tokens:
        if mode == "chunk":
            precision = "ieee" if acc_torch == torch.float64 else "tf32x3"
            triton_kernels.chunk_fwd[grid](
                *args, heads, kdim, vdim, n_h, scale_t, C=chunk_size, BK=bk, BV=bv, PRECISION=precision, **flags
            )
        else:
            triton_kernels.recurrent_fwd[grid](*args, heads, kdim, vdim, n_h, scale_t, BK=bk, BV=bv, **flags)
    elif ht is not None:
        ht.copy_(h0 if h0 is not None else torch.zeros_like(ht))
    return o, ht


class _DeltaProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, beta, g, h0, n_h, scale, output_final_state, cu_seqlens, mode, chunk_size):
        ctx.save_for_backward(q, k, v, beta, g, h0)
        ctx.options = (n_h, scale, cu_seqlens, chunk_size)
        o, ht = _forward(q, k, v, beta, g, h0, n_h, scale, output_final_state, cu_seqlens, mode, chunk_size)
        return (o, ht) if ht is not None else (o,)

    @staticmethod
    def backward(ctx, do, dht=None):
        q, k, v, beta, g, h0 = ctx.saved_tensors
        n_h, scale, cu_seqlens, chunk_size = ctx.options
        acc = reference.state_dtype(q.dtype)
        inputs = [None if x is None else x.detach().to(acc).requires_grad_(True) for x in (q, k, v, beta, g, h0)]
        with torch.enable_grad():
            o, ht = reference.chunked(
                *inputs[:5],
                num_householder=n_h,
                scale=scale,
                initial_state=inputs[5],
                output_final_state=dht is not None,
                cu_seqlens=cu_seqlens,
                chunk_size=chunk_size,
            )
            pairs = [(o, do)] + ([(ht, dht)] if dht is not None else [])
            pairs = [(out, grad.to(acc)) for out, grad in pairs if out.requires_grad]  # empty inputs: none
            wanted = [x for x, need in zip(inputs, ctx.needs_input_grad[:6]) if x is not None and need]
            found = [None] * len(wanted)
            if wanted and pairs:
                outs, grads = zip(*pairs)
                found = list(torch.autograd.grad(outs, wanted, grads, allow_unused=True))
        found = iter(found)
        result = []
        for x, original, need in zip(inputs, (q, k, v, beta, g, h0), ctx.needs_input_grad[:6]):
            grad = next(found) if x is not None and need else None
            if x is not None and need and grad is None:
                grad = torch.zeros_like(x)  # the outputs do not depend on this input (e.g. T = 0)
            result.append(None if grad is None else grad.to(original.dtype))
        return (*result, None, None, None, None, None, None)


def run(q, k, v, beta, g, *, num_householder, scale, initial_state, output_final_state, cu_seqlens, mode, chunk_size):
    out = _DeltaProduct.apply(
        q, k, v, beta, g, initial_state, num_householder, scale, output_final_state, cu_seqlens, mode, chunk_size
    )
    return (out[0], out[1]) if output_final_state else (out[0], None)
