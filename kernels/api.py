"""The one entry point, :func:`delta_product`, and the validation every backend shares."""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from dataclasses import dataclass

import torch

from kernels import reference
from kernels.runtime import interpreting

__all__ = ["delta_product", "check_deferred", "BACKENDS", "MODES", "CHUNK_SIZES"]

BACKENDS = ("auto", "reference", "triton", "fla")
MODES = ("chunk", "recurrent")
CHUNK_SIZES = (16, 32, 64)
_QKV_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.float64)
MAX_HEAD_DIM = 256


def _tensor(x, name: str, ndim: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    return x


def _expect_shape(x: torch.Tensor, name: str, shape: tuple, meaning: str) -> None:
    if tuple(x.shape) != shape:
        raise ValueError(f"{name}: expected shape {shape} ({meaning}), got {tuple(x.shape)}")


@dataclass(frozen=True)
class ValueChecks:
    """The value checks of :func:`validate` (finite values, β in [0, 2], log-gates ≤ 0), not yet read.

    Synchronous (on the CPU, or ``check_values=True``): ``stats`` [n, 2] holds (min, max) of each named
    non-empty tensor in float64, NaN where it holds a NaN (one reduction kernel per tensor); calling it reads
    them — a single transfer, so one synchronisation for GPU inputs — and raises. The triton backend calls it
    after its host-side preparation, just before its first kernel, so that the synchronisation does not leave
    the GPU idle while Python prepares the launches.

    Asynchronous (GPU inputs by default): ``flags``, the device's :class:`_Monitor` buffer, set by our kernels
    on the loads they make anyway, or by :meth:`fill` (one kernel) for the other backends; :meth:`queue` ends
    the call, and the monitor sends the flags to pinned host memory behind an event, for
    :func:`check_deferred` and later calls to read. Neither synchronises."""

    names: tuple[str, ...] = ()
    stats: torch.Tensor | None = None
    flags: torch.Tensor | None = None
    tensors: tuple[tuple[str, torch.Tensor], ...] = ()

    def __call__(self) -> None:
        if self.stats is None:
            return
        ranges = dict(zip(self.names, self.stats.tolist()))
        for name, (lo, hi) in ranges.items():
            if name != "g" and not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError(f"{name}: expected finite values, got NaN or infinity")
        if "beta" in ranges and not (0 <= ranges["beta"][0] and ranges["beta"][1] <= 2):
            raise ValueError(
                f"beta: expected values in [0, 2] (the GH factor I − βkkᵀ has ‖·‖ ≤ 1 there), got range "
                f"[{ranges['beta'][0]}, {ranges['beta'][1]}]"
            )
        if "g" in ranges:
            if math.isnan(ranges["g"][0]):
                raise ValueError("g: expected log-gates ≤ 0 (−inf allowed: a reset), got NaN")
            if ranges["g"][1] > 0:
                raise ValueError(f"g: expected log-gates ≤ 0 (decay γ = e^g ≤ 1), got a maximum of {ranges['g'][1]}")

    def fill(self) -> None:
        """Set the asynchronous flags by one kernel over every tensor (for backends other than ours)."""
        if self.flags is not None:
            from kernels.triton_checks import value_flags

            value_flags(dict(self.tensors), self.flags)

    def queue(self) -> None:
        """End the call for the asynchronous flags (:meth:`_Monitor.called`), after its kernels."""
        if self.flags is not None:
            _MONITORS[self.flags.device].called()


def _value_checks(tensors: list[tuple[str, torch.Tensor]]) -> ValueChecks:
    named = [(name, x) for name, x in tensors if x.numel()]
    if not named:
        return ValueChecks()
    stats = torch.stack([torch.stack(torch.aminmax(x)).double() for _, x in named])
    return ValueChecks(tuple(name for name, _ in named), stats)


@dataclass(frozen=True)
class _Deferred:
    """The asynchronous value checks of GPU calls ``first`` … ``last``: their flags in pinned host memory, one
    per slot of :data:`kernels.triton_checks.SLOTS`, readable once ``done`` has passed."""

    first: int
    last: int
    flags: torch.Tensor
    done: torch.cuda.Event


_DEFERRED: deque[_Deferred] = deque()
_CALLS = itertools.count(1)


class _Monitor:
    """One device's asynchronous value checks: a flags buffer that every GPU call's kernels OR into, sent to
    the host (a copy to pinned memory, a reset, an event: three queued operations) at the end of a call at
    most every ``interval`` seconds, and on :func:`check_deferred`. So a decoding loop of many short calls
    pays for one transfer per interval, a training step's call for one each, and a failure is named within
    the calls of one transfer."""

    interval = 1e-3

    def __init__(self, device: torch.device):
        from kernels.triton_checks import new_flags

        self.flags = new_flags(device)
        self.first, self.last, self.sent = None, None, 0.0

    def called(self) -> None:
        self.last = next(_CALLS)
        self.first = self.last if self.first is None else self.first
        if time.perf_counter() - self.sent >= self.interval:
            self.send()

    def send(self) -> None:
        if self.first is None:
            return
        host = torch.empty(self.flags.shape, dtype=self.flags.dtype, pin_memory=True)
        host.copy_(self.flags, non_blocking=True)
        self.flags.zero_()
        done = torch.cuda.Event()
        done.record(torch.cuda.current_stream(self.flags.device))
        _DEFERRED.append(_Deferred(self.first, self.last, host, done))
        self.first, self.sent = None, time.perf_counter()


class _Monitors(dict):
    def __missing__(self, device: torch.device) -> _Monitor:
        self[device] = _Monitor(device)
        return self[device]


_MONITORS = _Monitors()


def _deferred_error(item: _Deferred) -> ValueError | None:
    from kernels.triton_checks import NOT_FINITE, OUT_OF_RANGE, SLOTS

    expected = {
        "beta": "values in [0, 2] (the GH factor I − βkkᵀ has ‖·‖ ≤ 1 there)",
        "g": "log-gates ≤ 0 (−inf allowed: a reset)",
    }
    for name, bits in zip(SLOTS, item.flags.tolist()):
        if bits & (NOT_FINITE | OUT_OF_RANGE):
            if name != "g" and bits & NOT_FINITE:
                what = "expected finite values, got NaN or infinity"
            elif name == "g" and bits & NOT_FINITE:
                what = f"expected {expected['g']}, got NaN"
            else:
                what = f"expected {expected[name]}, got values outside"
            return ValueError(
                f"{name}: {what} (in GPU calls {item.first}–{item.last} of delta_product, checked asynchronously; "
                "their results are invalid; pass check_values=True to check before computing)"
            )
    return None


def check_deferred(wait: bool = True) -> None:
    """Raise the named error of the first failed asynchronous value check of earlier GPU calls of
    :func:`delta_product` (their default). ``wait``: send every device's pending flags and wait for them (a
    synchronisation); otherwise read only those already sent that the GPU has passed. Each failure is
    reported once."""
    if wait:
        for monitor in _MONITORS.values():
            monitor.send()
    while _DEFERRED and (wait or _DEFERRED[0].done.query()):
        item = _DEFERRED.popleft()
        item.done.synchronize()
        error = _deferred_error(item)
        if error is not None:
            raise error


def validate(
    q, k, v, beta, g, num_householder, scale, initial_state, cu_seqlens, mode, chunk_size, backend, check_values
) -> ValueChecks:
    """Check every argument of :func:`delta_product`: types, shapes, devices, cu_seqlens and scale here;
    the tensors' values (finite, β ∈ [0, 2], g ≤ 0) by the returned :class:`ValueChecks`, which must be
    called before any of the backend's kernels runs — or, on a GPU by default, asynchronously (its flags).
    Errors name the argument."""
    if check_values not in (None, True, False):
        raise ValueError(f"check_values: expected None (the default), True or False, got {check_values!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    if mode == "chunk" and chunk_size not in CHUNK_SIZES:
        raise ValueError(f"chunk_size: expected one of {CHUNK_SIZES} sub-step rows, got {chunk_size!r}")
    if isinstance(num_householder, bool) or not isinstance(num_householder, int) or num_householder < 1:
        raise ValueError(f"num_householder: expected an integer ≥ 1, got {num_householder!r}")
    q, k, v = _tensor(q, "q", 4), _tensor(k, "k", 4), _tensor(v, "v", 4)
    beta = _tensor(beta, "beta", 3)
    batch, tokens, heads, kdim = q.shape
    n_h, rows, vdim = num_householder, tokens * num_householder, v.shape[-1]
    if q.dtype not in _QKV_DTYPES:
        raise TypeError(f"q: expected one of {_QKV_DTYPES}, got {q.dtype}")
    for name, x in (("k", k), ("v", v)):
        if x.dtype != q.dtype:
            raise TypeError(f"{name}: expected q's dtype {q.dtype} (q, k, v share one dtype), got {x.dtype}")
    if backend == "triton" and not q.is_cuda and torch.cuda.is_available() and not interpreting():
        raise ValueError(
            f"q: backend='triton' compiles for the GPU on this machine, but q is on {q.device}: move the tensors "
            "to cuda, or use backend='reference' on the CPU"
        )
    if backend == "triton" and q.dtype == torch.bfloat16 and not q.is_cuda:
        raise TypeError(
            "q: backend='triton' on the CPU runs Triton's interpreter, which does not support bfloat16 (its dot "
            "products return garbage, and the output NaN); got bfloat16 q, k, v: use float32 or float16 inputs, "
            "backend='reference' (op by op in bfloat16), or a CUDA GPU"
        )
    _expect_shape(k, "k", (batch, rows, heads, kdim), f"[B, T·n_h, H, K] with T = {tokens}, n_h = {n_h}")
    _expect_shape(v, "v", (batch, rows, heads, vdim), f"[B, T·n_h, H, V] with T = {tokens}, n_h = {n_h}")
    _expect_shape(beta, "beta", (batch, rows, heads), "[B, T·n_h, H]")
    for name, d in (("K (q.shape[-1])", kdim), ("V (v.shape[-1])", vdim)):
        if not 1 <= d <= MAX_HEAD_DIM:
            raise ValueError(f"{name}: expected a head dimension from 1 to {MAX_HEAD_DIM}, got {d}")
    tensors = [("q", q), ("k", k), ("v", v), ("beta", beta)]
    if g is not None:
        g = _tensor(g, "g", 3)
        _expect_shape(g, "g", (batch, tokens, heads), "[B, T, H] log-gates, one per token")
        tensors.append(("g", g))
    sequences = batch
    if cu_seqlens is not None:
        sequences = _check_cu_seqlens(cu_seqlens, batch, tokens)
    if initial_state is not None:
        initial_state = _tensor(initial_state, "initial_state", 4)
        _expect_shape(initial_state, "initial_state", (sequences, heads, kdim, vdim), "[N, H, K, V]")
        tensors.append(("initial_state", initial_state))
    device = q.device
    for name, x in tensors[1:] + ([("cu_seqlens", cu_seqlens)] if cu_seqlens is not None else []):
        if x.device != device:
            raise ValueError(f"{name}: expected q's device {device}, got {x.device}")
    if scale is not None and (
        isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale)
    ):
        raise ValueError(f"scale: expected a finite number, got {scale!r}")
    if check_values is False:
        return ValueChecks()
    if check_values is None and device.type == "cuda":
        return ValueChecks(flags=_MONITORS[device].flags, tensors=tuple(tensors))
    return _value_checks(tensors)


def _check_cu_seqlens(cu_seqlens, batch: int, tokens: int) -> int:
    if not isinstance(cu_seqlens, torch.Tensor) or cu_seqlens.dtype not in (torch.int32, torch.int64):
        got = cu_seqlens.dtype if isinstance(cu_seqlens, torch.Tensor) else type(cu_seqlens).__name__
        raise TypeError(f"cu_seqlens: expected an int32 or int64 tensor of cumulative token counts, got {got}")
    if cu_seqlens.ndim != 1 or cu_seqlens.numel() < 2:
        raise ValueError(f"cu_seqlens: expected shape [N + 1] with N ≥ 1, got {tuple(cu_seqlens.shape)}")
    if batch != 1:
        raise ValueError(f"q: with cu_seqlens the batch must be 1 (sequences are packed along T), got B = {batch}")
    bounds = cu_seqlens.tolist()
    if bounds[0] != 0 or bounds[-1] != tokens or any(b < a for a, b in zip(bounds, bounds[1:])):
        raise ValueError(
            f"cu_seqlens: expected non-decreasing token offsets from 0 to T = {tokens}, got {bounds[:8]}"
            + ("…" if len(bounds) > 8 else "")
        )
    return len(bounds) - 1


def delta_product(
    q,
    k,
    v,
    beta,
    *,
    g=None,
    num_householder=1,
    scale=None,
    initial_state=None,
    output_final_state=False,
    cu_seqlens=None,
    mode="chunk",
    chunk_size=64,
    backend="auto",
    check_values=None,
):
    """Gated DeltaProduct: per token t, S ← e^{g_t} S; for j = 1 … n_h: S ← S + β_j k_j (v_j − Sᵀk_j)ᵀ;
    o_t = scale · Sᵀ q_t (Siems et al. 2025; identical to fla's ``chunk_gated_delta_product``).

    Args:
        q: [B, T, H, K] queries. k: [B, T·n_h, H, K] keys, v: [B, T·n_h, H, V] values, beta: [B, T·n_h, H]
            step sizes in [0, 2]; row t·n_h + j is sub-step j of token t. q, k, v share one dtype (bf16,
            fp16, fp32 or fp64); beta, g and initial_state may have any float dtype.
        g: [B, T, H] log-gates ≤ 0 (keyword-only; −inf is a complete reset), or None for no gate.
        num_householder: n_h ≥ 1 sub-steps per token.
        scale: output scale, default K^-0.5.
        initial_state: [N, H, K, V] (N = B, or the number of cu_seqlens sequences), or None for zeros.
        output_final_state: also return the final states.
        cu_seqlens: [N + 1] int32/int64 cumulative lengths in tokens (B must be 1); zero-length
            sequences keep their initial state.
        mode: "chunk" (UT/WY over chunks of ``chunk_size`` ∈ {16, 32, 64} sub-step rows) or "recurrent".
            On a GPU, backend "triton" halves the chunk where a kernel would not fit the shared memory.
        backend: "reference" (PyTorch, op by op in the input dtype), "triton" (ours), "fla" (fla-core, if
            installed) or "auto" (triton on a GPU, reference on the CPU).
        check_values: the input values' checks (finite, β ∈ [0, 2], g ≤ 0), each failure a ValueError naming
            the argument. None (default): before computing on the CPU; on a GPU asynchronously, without a
            host synchronisation — our kernels check what they load (other backends: one checking kernel),
            their flags reach the host behind an event at most every millisecond, and a failure is raised by
            name by :func:`check_deferred` or by a later call that finds it. True: before computing, with
            one synchronisation on a GPU. False: none.
            (A call with cu_seqlens synchronises once in any case: its launch grid depends on the lengths.)

    Returns:
        (o [B, T, H, V] in q's dtype, final state [N, H, K, V] in float32 — float64 for float64 inputs —
        or None).

    ‖A_t‖ ≤ 1 for every token, and so stability of the state recurrence, needs unit-norm keys; they are not
    required here (stability studies feed keys normalised in low precision).
    """
    if isinstance(q, torch.Tensor) and q.is_cuda:
        check_deferred(wait=False)
    checks = validate(
        q, k, v, beta, g, num_householder, scale, initial_state, cu_seqlens, mode, chunk_size, backend, check_values
    )
    scale = q.shape[-1] ** -0.5 if scale is None else float(scale)
    if backend == "auto":
        backend = "triton" if q.is_cuda else "reference"
    args = (q, k, v, beta, g)
    options = dict(
        num_householder=num_householder,
        scale=scale,
        initial_state=initial_state,
        output_final_state=output_final_state,
        cu_seqlens=cu_seqlens,
    )
    if backend == "triton":
        from kernels import triton_backend

        result = triton_backend.run(*args, **options, mode=mode, chunk_size=chunk_size, checks=checks)
    else:
        checks()
        checks.fill()
        if backend == "fla":
            from kernels import fla_backend

            result = fla_backend.run(*args, **options, mode=mode, chunk_size=chunk_size)
        elif mode == "recurrent":
            result = reference.recurrent(*args, **options)
        else:
            result = reference.chunked(*args, **options, chunk_size=chunk_size)
    checks.queue()
    return result
