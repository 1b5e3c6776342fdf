"""Our Triton kernels' former single module, kept so that code written against it still imports: the chunked
kernels of :mod:`kernels.triton_chunk` and the recurrent one of :mod:`kernels.triton_recurrent`. Import lazily."""

from kernels.triton_chunk import (
    chunk_bwd_dqk,
    chunk_bwd_dv,
    chunk_bwd_states,
    chunk_fwd,
    chunk_out,
    chunk_prep,
    tl,
    triton,
)
from kernels.triton_recurrent import recurrent_fwd

__all__ = [
    "chunk_prep",
    "chunk_fwd",
    "chunk_out",
    "chunk_bwd_states",
    "chunk_bwd_dqk",
    "chunk_bwd_dv",
    "recurrent_fwd",
    "triton",
    "tl",
]
