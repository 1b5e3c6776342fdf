"""backend="triton": our kernels behind :func:`kernels.delta_product`, with autograd.

Forward: :mod:`kernels.triton_kernels` (chunked or fused recurrent). Backward (both modes): the chunked
forward is rerun to store the state at every chunk start, then ``chunk_bwd`` walks the chunks in reverse.
Gradients of q, k, β and g are summed over value blocks on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kernels import reference, triton_kernels

__all__ = ["run"]


def _block(n: int) -> int:
    """Power-of-two block ≥ 16 covering n (tl.dot needs at least 16 along each dimension)."""
    return max(16, 1 << (n - 1).bit_length())


@dataclass(frozen=True)
class Launch:
    """Sizes, blocks, grid and flags shared by every kernel launch of one call."""

    batch: int
    tokens: int
    heads: int
    kdim: int
    vdim: int
    n_h: int
    sequences: int
    bk: int
    bv: int
    acc: torch.dtype

    @property
    def grid(self) -> tuple[int, int]:
        return (-(-self.vdim // self.bv), self.sequences * self.heads)

    @property
    def tl_acc(self):
        return triton_kernels.tl.float64 if self.acc == torch.float64 else triton_kernels.tl.float32

    @property
    def precision(self) -> str:
        return "ieee" if self.acc == torch.float64 else "tf32x3"


def _launch(q, v, n_h, cu_seqlens, backward: bool = False) -> Launch:
    """Blocks: the whole key dimension (BK) and a slice of the value columns (BV). The backward keeps many
    more C×C and C×K tiles live, so it takes narrower value slices (Hopper has 227 KiB of shared memory)."""
    batch, tokens, heads, kdim = q.shape
    vdim = v.shape[-1]
    bk = _block(kdim)
    if backward:
        wide = 32 if bk <= 64 and q.dtype != torch.float64 else 16
        bv = min(_block(vdim), wide)
    else:
        bv = min(_block(vdim), 64 if bk <= 128 else 32)
    sequences = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    return Launch(batch, tokens, heads, kdim, vdim, n_h, sequences, bk, bv, reference.state_dtype(q.dtype))


def _chunk_offsets(sizes: Launch, cu_seqlens, chunk_size: int, device) -> torch.Tensor:
    """Index of every sequence's first chunk in the snapshot buffer ([N + 1], int64)."""
    if cu_seqlens is None:
        lengths = torch.full((sizes.sequences,), sizes.tokens, dtype=torch.int64)
    else:
        lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).to("cpu", torch.int64)
    chunks = (lengths * sizes.n_h + chunk_size - 1) // chunk_size
    return torch.cat([torch.zeros(1, dtype=torch.int64), chunks.cumsum(0)]).to(device)


def _inputs(q, k, v, beta, g, dummy):
    """The kernels' first five arguments, contiguous; a dummy pointer stands for an absent gate."""
    return (q.contiguous(), k.contiguous(), v.contiguous(), beta.contiguous(),
            dummy if g is None else g.contiguous())  # fmt: skip


def _forward(q, k, v, beta, g, h0, n_h, scale, output_final_state, cu_seqlens, mode, chunk_size, snaps=None):
    """Run a forward kernel; with ``snaps`` (chunk mode) also store every chunk's starting state."""
    sizes = _launch(q, v, n_h, cu_seqlens)
    o = torch.zeros(sizes.batch, sizes.tokens, sizes.heads, sizes.vdim, dtype=q.dtype, device=q.device)
    ht = None
    if output_final_state:
        ht = torch.empty(sizes.sequences, sizes.heads, sizes.kdim, sizes.vdim, dtype=sizes.acc, device=q.device)
    if not (sizes.sequences * sizes.heads and sizes.tokens):
        if ht is not None:
            ht.copy_(h0 if h0 is not None else torch.zeros_like(ht))
        return o, ht
    dummy = torch.empty(1, dtype=sizes.acc, device=q.device)
    inputs = _inputs(q, k, v, beta, g, dummy)
    tail = (
        dummy if h0 is None else h0.contiguous(),
        o,
        dummy if ht is None else ht,
        dummy if cu_seqlens is None else cu_seqlens.contiguous(),
    )
    scale_t = torch.tensor([scale], dtype=sizes.acc, device=q.device)
    dims = (sizes.tokens, sizes.heads, sizes.kdim, sizes.vdim, n_h, scale_t)
    flags = dict(HAS_G=g is not None, HAS_H0=h0 is not None, STORE_HT=ht is not None,
                 VARLEN=cu_seqlens is not None, ACC=sizes.tl_acc, BK=sizes.bk, BV=sizes.bv)  # fmt: skip
    if mode == "chunk":
        offsets = _chunk_offsets(sizes, cu_seqlens, chunk_size, q.device)
        triton_kernels.chunk_fwd[sizes.grid](
            *inputs, *tail, dummy if snaps is None else snaps, offsets, *dims,
            C=chunk_size, STORE_SNAPS=snaps is not None, PRECISION=sizes.precision, **flags,
        )  # fmt: skip
    else:
        triton_kernels.recurrent_fwd[sizes.grid](*inputs, *tail, *dims, **flags)
    return o, ht


def _backward(q, k, v, beta, g, h0, n_h, scale, cu_seqlens, chunk_size, do, dht):
    """(dq, dk, dv, dβ, dg, dh0) in the accumulation dtype, by the chunked backward kernel."""
    sizes = _launch(q, v, n_h, cu_seqlens, backward=True)
    device, acc = q.device, sizes.acc
    offsets = _chunk_offsets(sizes, cu_seqlens, chunk_size, device)
    rows = sizes.tokens * n_h
    blocks = sizes.grid[0]
    snaps = torch.zeros(int(offsets[-1]), sizes.heads, sizes.kdim, sizes.vdim, dtype=acc, device=device)
    dq = torch.zeros(blocks, *q.shape, dtype=acc, device=device)
    dk = torch.zeros(blocks, *k.shape, dtype=acc, device=device)
    dv = torch.zeros(v.shape, dtype=acc, device=device)
    dbeta = torch.zeros(blocks, *beta.shape, dtype=acc, device=device)
    dg = torch.zeros(blocks, *q.shape[:3], dtype=acc, device=device)
    dh0 = torch.zeros(sizes.sequences, sizes.heads, sizes.kdim, sizes.vdim, dtype=acc, device=device)
    if sizes.sequences * sizes.heads and sizes.tokens:
        _forward(q, k, v, beta, g, h0, n_h, scale, False, cu_seqlens, "chunk", chunk_size, snaps=snaps)
        dummy = torch.empty(1, dtype=acc, device=device)
        scale_t = torch.tensor([scale], dtype=acc, device=device)
        triton_kernels.chunk_bwd[sizes.grid](
            *_inputs(q, k, v, beta, g, dummy), snaps, offsets,
            dummy if cu_seqlens is None else cu_seqlens.contiguous(), do.contiguous(),
            dummy if dht is None else dht.contiguous(), dq, dk, dv, dbeta, dg, dh0,
            sizes.tokens, sizes.heads, sizes.kdim, sizes.vdim, n_h, scale_t, sizes.batch, rows,
            C=chunk_size, BK=sizes.bk, BV=sizes.bv, HAS_G=g is not None, HAS_DHT=dht is not None,
            VARLEN=cu_seqlens is not None, ACC=sizes.tl_acc, PRECISION=sizes.precision, num_stages=1,
        )  # fmt: skip
    elif dht is not None:
        dh0 = dht.to(acc)
    return dq.sum(0), dk.sum(0), dv, dbeta.sum(0), dg.sum(0), dh0


def _backward_chunk(q, mode: str, chunk_size: int) -> int:
    """Chunk size of the backward: the forward's in chunk mode, 64 for the recurrent mode; float64 with
    K > 64 uses 32-row chunks, since its 64-row tiles exceed Hopper's shared memory (measured on the H200:
    245,760 > 232,448 bytes at K = 128). The gradients are the same function's for any chunk size."""
    size = chunk_size if mode == "chunk" else 64
    if q.dtype == torch.float64 and q.shape[-1] > 64:
        size = min(size, 32)
    return size


class _DeltaProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, beta, g, h0, n_h, scale, output_final_state, cu_seqlens, mode, chunk_size):
        ctx.save_for_backward(q, k, v, beta, g, h0)
        # the backward is chunked in both modes; the recurrent mode has no chunk size of its own
        ctx.options = (n_h, scale, cu_seqlens, _backward_chunk(q, mode, chunk_size))
        o, ht = _forward(q, k, v, beta, g, h0, n_h, scale, output_final_state, cu_seqlens, mode, chunk_size)
        return (o, ht) if ht is not None else (o,)

    @staticmethod
    def backward(ctx, do, dht=None):
        q, k, v, beta, g, h0 = ctx.saved_tensors
        n_h, scale, cu_seqlens, chunk_size = ctx.options
        grads = _backward(q, k, v, beta, g, h0, n_h, scale, cu_seqlens, chunk_size, do, dht)
        result = []
        for x, grad, need in zip((q, k, v, beta, g, h0), grads, ctx.needs_input_grad[:6]):
            result.append(grad.to(x.dtype) if x is not None and need else None)
        return (*result, None, None, None, None, None, None)


def run(q, k, v, beta, g, *, num_householder, scale, initial_state, output_final_state, cu_seqlens, mode, chunk_size):
    out = _DeltaProduct.apply(
        q, k, v, beta, g, initial_state, num_householder, scale, output_final_state, cu_seqlens, mode, chunk_size
    )
    return (out[0], out[1]) if output_final_state else (out[0], None)
