"""backend="triton": our kernels behind :func:`kernels.delta_product`, with autograd.

Forward, chunk mode (:mod:`kernels.triton_chunk`): ``chunk_prep`` (every chunk's T = (I + A)⁻¹, in
parallel), ``chunk_fwd`` (the state recurrence, sequential over chunks: the state at every chunk start and u)
and ``chunk_out`` (the output, in parallel over chunks), the split of fla's forward: the sequential walk does
only what the recurrence needs. Recurrent mode: ``recurrent_fwd`` (:mod:`kernels.triton_recurrent`). Launch
choices: :mod:`kernels.triton_launch`. With gates, each kernel that needs a chunk's C×C decays
E[r, s] = e^{D[r, s]} forms them from the chunk's C gates (two vector scans and C² exponentials): on the H200
this beat storing them beside T and reading them back (bench/results/speed/README.md). When gradients are
needed the chunk-mode forward keeps T, the chunk-start states and u for the backward: it has formed them
anyway, and the backward then needs no sequential pass but its own. Backward (both modes, chunked):
``chunk_prep`` and ``chunk_fwd`` again unless the forward kept their results at this chunk size,
``chunk_bwd_states`` for the state gradient at every chunk end and y = Tᵀ du, then, in parallel over
chunks, ``chunk_bwd_dqk`` (dq, dk and each key block's share of dβ, dγ) and ``chunk_bwd_dv`` (dv, dβ, dγ).

Precision. Every sum accumulates in fp32 (fp64 for float64 inputs). The triangular solve's products are as
accurate as T's uses: one-pass ``tf32`` for bf16 calls, whose products round T to bf16 or tf32 at every use,
fp32-accurate ``tf32x3`` for fp16 and fp32 calls and the recurrent mode's backward (three one-pass tf32
products of the operands' tf32 heads and rests, :func:`kernels.triton_common.precise_dot`), ``ieee`` for float64.
Products of two raw bf16 or fp16 inputs (QKᵀ, KKᵀ) run on the inputs themselves: their products are exact in
fp32. The other products — the sequential and gradient kernels' — take, for bf16 inputs whose value block is
64 wide (K ≤ 128 and V > 32, the usual heads), operands rounded to bf16 and the backward stores its
intermediates in it, as fla's kernels do (:func:`tuning`'s ``dot_bits=16``, ``store_bits=16``, with two
pipeline stages in the walkers). This trades accuracy for speed as fla does: the bf16 errors rise to fla's
level and stay below fla's on the same inputs (bench/results/verify_kernels/README.md); the time it saves is
in bench/results/speed/README.md. The recurrent mode's backward, chunked, keeps fp32-accurate products and
32-bit storage (``accurate``), so that its gradients carry little more than the rounding of their own stores,
as fla's fused recurrent backward's do. fp16 calls keep fp32-accurate operands and solve and 32-bit storage at
every block: those operands include the state and u, which outgrow fp16's range (65 504) — states may grow
linearly (claim stability.state_growth), and fla, which stores its chunk states in fp16, returns NaN there
(bench/results/stability_gpu, section D). One-pass tf32 (fp16's significand with fp32's range) is not enough
there: with tf32 operands and solve the H200 measured o and the final state of that section 72 % and 80 % off
(bench/results/speed/README.md). ``tuning(dot_bits=16, store_bits=16)`` opts in to fp16 operands and storage.
Other blocks keep fp32 operands (``tf32`` for bf16, ``tf32x3`` for fp16 and fp32, ``ieee`` for float64):
Triton 3.6.0 miscompiles the walkers with 16-bit operands at a value block of 32 or 16 and a key block of 128
or more (wrong results, or an illegal memory access, on the H200:
bench/results/verify_kernels/tuning_check.json), and the small heads of constructions gain nothing from them.
"""

from __future__ import annotations

import torch

from kernels import triton_chunk, triton_recurrent
from kernels.triton_launch import Launch, fit_chunk_size, operand_format, parse_tuning, plan_launch, tuning

__all__ = ["run", "operand_format", "tuning", "parse_tuning"]


def _pointers(q, k, v, beta, g, h0, cu_seqlens, dummy):
    """Contiguous inputs; a dummy pointer stands for each absent tensor."""
    return tuple(dummy if x is None else x.contiguous() for x in (q, k, v, beta, g, h0, cu_seqlens))


def _flag_args(sizes: Launch, flags) -> dict:
    """The value-check arguments of a kernel: the asynchronous checks' flags (:class:`kernels.api.ValueChecks`)
    and CHECK, or the scale tensor standing in for an unread pointer."""
    return dict(flags=sizes.scale if flags is None else flags, CHECK=flags is not None)


def _inverses(sizes: Launch, k, beta, g, cu, flags=None) -> torch.Tensor:
    """``chunk_prep``: T = (I + A)⁻¹ of every chunk and head, [chunks, H, C, C] in the accumulation dtype;
    k, β and g's values checked into ``flags`` if given."""
    t = sizes.empty(sizes.chunks, sizes.heads, sizes.chunk_size, sizes.chunk_size)
    triton_chunk.chunk_prep[sizes.chunk_grid](
        k, beta, g, cu, sizes.chunk_index, t, sizes.tokens, sizes.heads, sizes.kdim, sizes.n_h,
        C=sizes.chunk_size, BK=sizes.bk_prep, HAS_G=sizes.has_g, VARLEN=sizes.varlen, ACC=sizes.tl_acc,
        PRECISION=sizes.precision, INV_PRECISION=sizes.inv_precision, num_warps=sizes.warps_prep,
        num_stages=1, **_flag_args(sizes, flags),
    )  # fmt: skip
    return t


def _walk(sizes: Launch, k, v, beta, t, g, h0, cu, dummy, *, ht=None, flags=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``chunk_fwd``: the state recurrence from the chunks' T; returns the state at every chunk start
    [chunks, H, K, V] and u (v's shape), both in :meth:`Launch.stored`'s dtype, and stores the final state
    in ``ht`` where given; v's and h0's values checked into ``flags`` if given."""
    snaps, u = sizes.stored(sizes.chunks, sizes.heads, sizes.kdim, sizes.vdim), sizes.stored(*v.shape)
    triton_chunk.chunk_fwd[sizes.walk_grid(False)](
        k, v, beta, t, g, h0, dummy if ht is None else ht, cu, snaps, u, sizes.offsets, *sizes.shape,
        **sizes.constants(num_warps=sizes.warps_walk, num_stages=sizes.stages_walk, **sizes.walk_blocks(False)),
        HAS_H0=h0 is not dummy, STORE_HT=ht is not None, **_flag_args(sizes, flags),
    )  # fmt: skip
    return snaps, u


def _forward(q, k, v, beta, g, h0, n_h, scale, output_final_state, cu_seqlens, mode, chunk_size, keep, checks):
    """(o, final state or None, kept, the launch). Chunk mode: ``chunk_prep``, ``chunk_fwd`` (the chunk-start
    states and u) and ``chunk_out``. If ``keep`` (chunk mode, gradients needed), ``kept`` is what the backward
    reuses at this chunk size: (T, chunk-start states, u) — T is C² numbers per chunk and head in the
    accumulation dtype, the states K·V per chunk and head and u the size of v, in
    :meth:`Launch.stored`'s dtype; otherwise (None, None, None). ``checks`` (:class:`kernels.api.ValueChecks`):
    synchronous ones run after the host-side preparation, before any kernel; asynchronous ones are set by the
    kernels on their loads."""
    sizes = plan_launch(q, v, g, n_h, scale, cu_seqlens, chunk_size, accurate=mode == "recurrent")
    o = torch.empty(sizes.batch, sizes.tokens, sizes.heads, sizes.vdim, dtype=q.dtype, device=q.device)
    ht = sizes.empty(sizes.sequences, sizes.heads, sizes.kdim, sizes.vdim) if output_final_state else None
    checks()
    flags = checks.flags
    if not (sizes.sequences * sizes.heads and sizes.tokens):
        checks.fill()  # no kernel of ours runs: an initial state is still checked
        if ht is not None:
            ht.copy_(h0 if h0 is not None else torch.zeros_like(ht))
        return o.zero_(), ht, (None, None, None), sizes
    dummy = sizes.scale  # stands for every absent tensor: its pointer is never read
    q, k, v, beta, g, h0, cu = _pointers(q, k, v, beta, g, h0, cu_seqlens, dummy)
    if mode == "recurrent":
        triton_recurrent.recurrent_fwd[sizes.state_grid](
            q, k, v, beta, g, h0, o, dummy if ht is None else ht, cu, *sizes.shape, sizes.scale,
            BK=sizes.bk, BV=sizes.bv, HAS_G=sizes.has_g, HAS_H0=h0 is not dummy, STORE_HT=ht is not None,
            VARLEN=sizes.varlen, ACC=sizes.tl_acc, **_flag_args(sizes, flags),
        )  # fmt: skip
        return o, ht, (None, None, None), sizes
    t = _inverses(sizes, k, beta, g, cu, flags)
    snaps, u = _walk(sizes, k, v, beta, t, g, h0, cu, dummy, ht=ht, flags=flags)
    triton_chunk.chunk_out[(*sizes.chunk_grid, -(-sizes.vdim // sizes.bv))](
        q, k, t, g, cu, sizes.chunk_index, snaps, u, o, *sizes.shape, sizes.scale,
        **sizes.constants(num_warps=sizes.warps_walk), **_flag_args(sizes, flags),
    )  # fmt: skip
    return o, ht, (t, snaps, u) if keep else (None, None, None), sizes


def _fitted_forward(q, k, v, beta, g, h0, n_h, scale, output_final_state, cu_seqlens, mode, chunk_size, keep, checks):
    """:func:`_forward` at the largest chunk size ≤ ``chunk_size`` that fits the GPU (:func:`fit_chunk_size`)."""
    return fit_chunk_size(
        lambda size: _forward(q, k, v, beta, g, h0, n_h, scale, output_final_state, cu_seqlens, mode, size, keep,
                              checks),
        q, v, g, chunk_size, backward=False,
    )  # fmt: skip


def _backward(sizes: Launch, q, k, v, beta, g, h0, cu_seqlens, do, dht, kept):
    """(dq, dk, dv, dβ, dg, dh0) by the chunked backward kernels, each in its input's dtype (dh0 in the
    accumulation dtype without an initial state): the kernels round every gradient once, on store.
    ``kept``: (T, chunk-start states, u) from the forward at this launch's chunk size, or Nones (they are
    then computed again)."""
    dq, dk, dv, dbeta = (torch.empty(x.shape, dtype=x.dtype, device=x.device) for x in (q, k, v, beta))
    dg = sizes.empty(*q.shape[:3]) if g is None else torch.empty(g.shape, dtype=g.dtype, device=g.device)
    dh0 = sizes.empty(sizes.sequences, sizes.heads, sizes.kdim, sizes.vdim)
    if not (sizes.sequences * sizes.heads and sizes.tokens):
        dh0.copy_(dht if dht is not None else torch.zeros_like(dh0))
        return dq.zero_(), dk.zero_(), dv.zero_(), dbeta.zero_(), dg.zero_(), dh0
    dummy = sizes.scale  # stands for every absent tensor: its pointer is never read
    q, k, v, beta, g, h0, cu = _pointers(q, k, v, beta, g, h0, cu_seqlens, dummy)
    do, dht = do.contiguous(), dummy if dht is None else dht.contiguous()
    t, snaps, u = kept
    if t is None:
        t = _inverses(sizes, k, beta, g, cu)
        snaps, u = _walk(sizes, k, v, beta, t, g, h0, cu, dummy)
    y, dsnaps = sizes.stored(*v.shape), torch.empty_like(snaps)
    triton_chunk.chunk_bwd_states[sizes.walk_grid(True)](
        q, k, beta, t, g, cu, do, dht, y, dsnaps, dh0, sizes.offsets, *sizes.shape, sizes.scale,
        **sizes.constants(num_warps=sizes.warps_walk, num_stages=sizes.stages_walk, **sizes.walk_blocks(True)),
        HAS_DHT=dht is not dummy,
    )  # fmt: skip
    key_blocks = -(-sizes.kdim // sizes.bk_grads)
    parts = sizes.empty(sizes.chunks, sizes.heads, key_blocks, 3, sizes.chunk_size)
    triton_chunk.chunk_bwd_dqk[(*sizes.chunk_grid, key_blocks)](
        q, k, beta, g, cu, sizes.chunk_index, u, snaps, dsnaps, y, do, dq, dk, parts, *sizes.shape, sizes.scale,
        **sizes.constants(BK=sizes.bk_grads, BV=sizes.bv_grads, num_warps=sizes.warps_grads),
    )  # fmt: skip
    triton_chunk.chunk_bwd_dv[sizes.chunk_grid](
        q, k, v, beta, g, cu, sizes.chunk_index, do, u, y, parts, dv, dbeta, dg, *sizes.shape, sizes.scale,
        **sizes.constants(BK=sizes.bk_grads, num_warps=sizes.warps_grads),
    )  # fmt: skip
    return dq, dk, dv, dbeta, dg, dh0


class _DeltaProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, beta, g, h0, n_h, scale, output_final_state, cu_seqlens, mode, chunk_size, checks):
        keep = mode == "chunk" and any(ctx.needs_input_grad[:6])
        o, ht, kept, sizes = _fitted_forward(
            q, k, v, beta, g, h0, n_h, scale, output_final_state, cu_seqlens, mode, chunk_size, keep, checks
        )
        ctx.save_for_backward(q, k, v, beta, g, h0, *kept)
        # the backward is chunked in both modes; the recurrent mode has no chunk size of its own
        ctx.options = (n_h, scale, cu_seqlens, chunk_size if mode == "chunk" else 64, sizes)
        return (o, ht) if ht is not None else (o,)

    @staticmethod
    def backward(ctx, do, dht=None):
        q, k, v, beta, g, h0, *kept = ctx.saved_tensors
        n_h, scale, cu_seqlens, chunk_size, forward_sizes = ctx.options

        def run(size):
            """The backward at ``size`` rows, reusing the forward's launch and what it kept when its chunk
            size is the same."""
            if size == forward_sizes.chunk_size:
                return _backward(forward_sizes, q, k, v, beta, g, h0, cu_seqlens, do, dht, kept)
            sizes = plan_launch(q, v, g, n_h, scale, cu_seqlens, size, forward_sizes.accurate)
            return _backward(sizes, q, k, v, beta, g, h0, cu_seqlens, do, dht, (None, None, None))

        grads = fit_chunk_size(run, q, v, g, chunk_size, backward=True)
        result = []
        for x, grad, need in zip((q, k, v, beta, g, h0), grads, ctx.needs_input_grad[:6]):
            result.append(grad.to(x.dtype) if x is not None and need else None)
        return (*result, None, None, None, None, None, None, None)


def run(
    q, k, v, beta, g, *, num_householder, scale, initial_state, output_final_state, cu_seqlens, mode, chunk_size, checks
):
    """:func:`kernels.delta_product` on our kernels; ``checks`` (the input values' pending checks) runs
    before the first kernel. Without gradients to record (no input requires one, or grad mode is off: a
    decoding step) the forward runs without autograd's bookkeeping."""
    tensors = (q, k, v, beta, g, initial_state)
    if not (torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in tensors)):
        o, ht, _, _ = _fitted_forward(q, k, v, beta, g, initial_state, num_householder, scale, output_final_state,
                                      cu_seqlens, mode, chunk_size, False, checks)  # fmt: skip
        return o, ht
    out = _DeltaProduct.apply(
        q, k, v, beta, g, initial_state, num_householder, scale, output_final_state, cu_seqlens, mode, chunk_size,
        checks,
    )  # fmt: skip
    return (out[0], out[1]) if output_final_state else (out[0], None)
