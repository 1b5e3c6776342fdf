"""The value checks of :func:`kernels.delta_product` on a GPU, without a host synchronisation.

Failures are OR-ed into a device int32 tensor with one slot per checked argument (:data:`SLOTS`), bit
:data:`NOT_FINITE` for a NaN or an infinity (log-gates: a NaN; −inf is a reset) and bit :data:`OUT_OF_RANGE`
for β outside [0, 2] or a log-gate above 0 (:func:`kernels.triton_common.flag_values`). Our kernels set them
on the loads they make anyway (``CHECK``); :func:`value_flags` is the one-launch check for the other
backends. :mod:`kernels.api` copies the flags to pinned host memory behind an event and reads them once the
GPU has passed it. Import this module lazily (:func:`kernels.runtime.load_triton`).
"""

from __future__ import annotations

import torch

from kernels.runtime import load_triton

triton = load_triton()
import triton.language as tl  # noqa: E402  (after load_triton: the interpreter must be chosen first)

from kernels.triton_common import flag_values  # noqa: E402

__all__ = ["NOT_FINITE", "OUT_OF_RANGE", "SLOTS", "new_flags", "value_flags"]

NOT_FINITE = 1
OUT_OF_RANGE = 2
SLOTS = ("q", "k", "v", "beta", "g", "initial_state")
_BLOCK = 4096


@triton.jit
def _flag_block(x_ptr, n, flags, slot: tl.constexpr, pid, RULE: tl.constexpr, BLOCK: tl.constexpr):
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
    flag_values(flags, slot, x, RULE, True)


@triton.jit
def _flags_kernel(x0, n0, x1, n1, x2, n2, x3, n3, x4, n4, x5, n5, flags, BLOCK: tl.constexpr):
    """Block pid of each slot's tensor, by its rule: finite (q, k, v, initial_state), β ∈ [0, 2], g ≤ 0."""
    pid = tl.program_id(0)
    _flag_block(x0, n0, flags, 0, pid, 0, BLOCK)
    _flag_block(x1, n1, flags, 1, pid, 0, BLOCK)
    _flag_block(x2, n2, flags, 2, pid, 0, BLOCK)
    _flag_block(x3, n3, flags, 3, pid, 1, BLOCK)
    _flag_block(x4, n4, flags, 4, pid, 2, BLOCK)
    _flag_block(x5, n5, flags, 5, pid, 0, BLOCK)


def new_flags(device) -> torch.Tensor:
    """Zeroed flags, one int32 per slot of :data:`SLOTS`, on ``device``."""
    return torch.zeros(len(SLOTS), dtype=torch.int32, device=device)


def value_flags(tensors: dict[str, torch.Tensor | None], flags: torch.Tensor | None = None) -> torch.Tensor:
    """The flags (:data:`SLOTS`) of the named tensors (absent or None ones pass), OR-ed into ``flags`` (new
    if None) by one kernel launch; no synchronisation."""
    unknown = set(tensors) - set(SLOTS)
    if unknown:
        raise ValueError(f"tensors: expected names among {SLOTS}, got {sorted(unknown)}")
    present = [x for x in tensors.values() if x is not None]
    if not present:
        raise ValueError("tensors: expected at least one tensor, got none")
    flags = new_flags(present[0].device) if flags is None else flags
    args = []  # (pointer, count) per slot: an absent tensor's slot points at a present one, with count 0
    for name in SLOTS:
        x = tensors.get(name)
        args += [present[0], 0] if x is None or not x.numel() else [x.contiguous(), x.numel()]
    blocks = max(triton.cdiv(n, _BLOCK) for n in args[1::2])
    if blocks:
        _flags_kernel[(blocks,)](*args, flags, BLOCK=_BLOCK)
    return flags
