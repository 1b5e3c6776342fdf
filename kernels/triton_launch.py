"""Launch choices of our Triton kernels: blocks, warps, stages, operand and storage precision, the chunk
layout, and the chunk size that fits the GPU's shared memory.

:func:`plan_launch` decides, for one call, every size and flag the kernels of :mod:`kernels.triton_chunk` and
:mod:`kernels.triton_recurrent` are launched with (a :class:`Launch`); :func:`tuning` overrides them inside
a block, for profiling; :func:`fit_chunk_size` retries a launch at half the chunk size where shared memory
is short. Why the defaults are what they are (16-bit operands for bf16 at a value block of 64, fp32 for
fp16) is said in :mod:`kernels.triton_backend`.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch

from kernels import reference
from kernels.triton_common import tl, triton

__all__ = [
    "Launch",
    "plan_launch",
    "tuning",
    "parse_tuning",
    "operand_format",
    "chunk_layout",
    "fit_chunk_size",
    "default_halves",
    "FITTED_CHUNK_SIZES",
]


_TUNABLE = (
    "bv",
    "bk_prep",
    "warps_prep",
    "warps_walk",
    "stages_walk",
    "bk_grads",
    "bv_grads",
    "warps_grads",
    "store_bits",
    "dot_bits",
    "halves_fwd",
    "halves_bwd",
)


_TUNING: dict[str, int] = {}


@contextmanager
def tuning(**choices: int):
    """Override the backend's launch choices inside the block, for profiling: ``bv`` (value block of the
    kernels that walk a sequence), ``warps_walk`` and ``stages_walk`` (their warps and software-pipeline
    stages), ``bk_prep`` and ``warps_prep`` (chunk_prep), ``bk_grads``, ``bv_grads`` and ``warps_grads``
    (chunk_bwd_dqk). Blocks, warps and stages change only how the work is split and scheduled: results are
    the same function's, up to reassociated sums. Two precision choices, for bf16 and fp16 inputs, as
    fla's kernels do: ``store_bits=16`` stores the backward's intermediates (u, y = Tᵀdu, the chunk states
    and their gradients) in the input dtype, ``dot_bits=16`` rounds the operands of every product of the
    sequential and gradient kernels to it (the triangular solve is not affected); the module's
    docstring says where they are the default. ``dot_bits=22`` makes those products from two fp16 terms per
    operand, scaled per tile (:func:`kernels.triton_common.precise_dot`'s ``fp16x2``; any input dtype but
    float64), a candidate for fp16's speed, for measurement. ``halves_fwd=1`` runs the forward walk (chunk_fwd),
    ``halves_bwd=1`` the backward one (chunk_bwd_states), on two key tiles of bk/2 rows with value blocks of
    bv/2: twice the programs per sequence, and tiles of 64 rows at K = 128, where value blocks of 32 keep bf16's
    16-bit operands (a single tile of 128 rows with them is miscompiled by Triton 3.6); :func:`default_halves`
    says where they are the default."""
    unknown = set(choices) - set(_TUNABLE)
    if unknown:
        raise ValueError(f"tuning: expected some of {_TUNABLE}, got {sorted(unknown)}")
    bad = {name: value for name, value in choices.items() if not _allowed(name, value)}
    if bad:
        raise ValueError("tuning: expected powers of two (key and value blocks at least 16, store_bits 16 or 32), "
                         "dot_bits 16, 22 or 32, stages_walk 1 to 4, halves_fwd and halves_bwd 0 or 1, "
                         f"got {bad}")  # fmt: skip
    saved = dict(_TUNING)
    _TUNING.update(choices)
    try:
        yield
    finally:
        _TUNING.clear()
        _TUNING.update(saved)


def _allowed(name: str, value) -> bool:
    """A tuning choice's range: powers of two; blocks at least 16 (tl.dot's minimum); store_bits 16 or 32,
    dot_bits 16, 22 or 32; stages_walk 1 to 4; halves_fwd and halves_bwd 0 or 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    if name in ("halves_fwd", "halves_bwd"):
        return value in (0, 1)
    if name == "stages_walk":
        return 1 <= value <= 4
    if name == "dot_bits":
        return value in (16, 22, 32)
    if value < 1 or value & (value - 1):
        return False
    if name == "store_bits":
        return value in (16, 32)
    return value >= 16 or not name.startswith(("bk", "bv"))


def parse_tuning(spec: str) -> dict[str, int]:
    """``default`` (no overrides) or ``name=value+name=value…`` over :func:`tuning`'s choices."""
    if spec == "default":
        return {}
    try:
        return {name: int(value) for name, value in (item.split("=") for item in spec.split("+"))}
    except ValueError:
        raise ValueError(f"tuning spec: expected 'default' or name=value+name=value, got {spec!r}") from None


def _block(n: int) -> int:
    """Power-of-two block ≥ 16 covering n (tl.dot needs at least 16 along each dimension)."""
    return max(16, 1 << (n - 1).bit_length())


@dataclass(frozen=True)
class Launch:
    """Sizes, blocks and flags shared by every kernel launch of one call, and its chunk layout
    (:func:`chunk_layout`, formed on first use: the recurrent forward has none). ``scale`` is a one-element
    tensor in the accumulation dtype (a Python float argument would be rounded to float32)."""

    batch: int
    tokens: int
    heads: int
    kdim: int
    vdim: int
    n_h: int
    scale: torch.Tensor
    sequences: int
    chunk_size: int
    bk: int
    bv: int
    bk_prep: int
    warps_prep: int
    warps_walk: int
    stages_walk: int
    bk_grads: int
    bv_grads: int
    warps_grads: int
    store_bits: int
    dot_bits: int
    halves_fwd: int
    halves_bwd: int
    accurate: bool
    has_g: bool
    varlen: bool
    dtype: torch.dtype
    device: torch.device
    cu_seqlens: torch.Tensor | None

    @functools.cached_property
    def layout(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(offsets [N + 1], chunk_index [chunks, 2]) of a call with cu_seqlens (:func:`chunk_layout`); sequences
        of equal length need none (the kernels count their chunks: ``chunk_of``), and the scale tensor stands
        in for the unread pointers."""
        if self.cu_seqlens is None:
            return self.scale, self.scale
        return chunk_layout(self.n_h, self.cu_seqlens, self.chunk_size, self.device)

    @property
    def offsets(self) -> torch.Tensor:
        """[N + 1]: the index of each sequence's first chunk (int64, on the device), with cu_seqlens."""
        return self.layout[0]

    @property
    def chunk_index(self) -> torch.Tensor:
        """[chunks, 2]: (sequence, chunk within it) of every chunk, in order (int64, on the device), with
        cu_seqlens."""
        return self.layout[1]

    @property
    def acc(self) -> torch.dtype:
        return reference.state_dtype(self.dtype)

    @property
    def chunks(self) -> int:
        if self.cu_seqlens is None:
            return self.batch * -(-self.tokens * self.n_h // self.chunk_size)
        return self.chunk_index.shape[0]

    @property
    def state_grid(self) -> tuple[int, int]:
        """(value blocks, sequences × heads): the programs that walk a sequence."""
        return (-(-self.vdim // self.bv), self.sequences * self.heads)

    def walk_blocks(self, backward: bool) -> dict:
        """BK, BV and HALVES of the forward walk (chunk_fwd) or the backward one (chunk_bwd_states): the launch's
        blocks, or two key tiles of bk/2 rows and value blocks of bv/2 under ``halves_fwd`` / ``halves_bwd``."""
        if self.halves_bwd if backward else self.halves_fwd:
            return dict(BK=self.bk // 2, BV=self.bv // 2, HALVES=True)
        return dict(BK=self.bk, BV=self.bv, HALVES=False)

    def walk_grid(self, backward: bool) -> tuple[int, int]:
        """(value blocks, sequences × heads) of the forward or the backward walk."""
        return (-(-self.vdim // self.walk_blocks(backward)["BV"]), self.sequences * self.heads)

    @property
    def chunk_grid(self) -> tuple[int, int]:
        """(chunks, heads): one program per chunk."""
        return (self.chunks, self.heads)

    @property
    def shape(self) -> tuple:
        """The size arguments every kernel takes: T, H, K, V, n_h."""
        return (self.tokens, self.heads, self.kdim, self.vdim, self.n_h)

    @property
    def tl_acc(self):
        return tl.float64 if self.acc == torch.float64 else tl.float32

    def constants(self, **extra) -> dict:
        """The compile-time constants of the walkers and chunk_bwd_dqk, updated by ``extra``. One pipeline stage
        unless ``extra`` says otherwise: the loops' loads are large tiles (with fp32 operands, two stages of
        the walkers were slower on the H200; with 16-bit ones they are faster, and the walkers take
        ``stages_walk``)."""
        base = dict(C=self.chunk_size, BK=self.bk, BV=self.bv, HAS_G=self.has_g, VARLEN=self.varlen, ACC=self.tl_acc,
                    PRECISION=self.precision, DOT=self.tl_dot, num_stages=1)  # fmt: skip
        return {**base, **extra}

    def _sixteen(self, bits: int) -> bool:
        """Whether a ``*_bits`` choice of 16 applies: only to bf16 and fp16 inputs."""
        return bits == 16 and self.dtype in (torch.bfloat16, torch.float16)

    @property
    def tl_dot(self):
        """The operand dtype of the sequential and gradient kernels' products: the accumulation dtype, or
        the 16-bit input dtype if ``dot_bits`` is 16."""
        if self._sixteen(self.dot_bits):
            return tl.bfloat16 if self.dtype == torch.bfloat16 else tl.float16
        return self.tl_acc

    @property
    def precision(self) -> str:
        """Dot precision: ieee for float64, one-pass tf32 for bf16 unless ``accurate``, fp32-accurate tf32x3
        otherwise (fp16 included: kernels.triton_backend says why); two fp16 terms (``fp16x2``) under a
        ``dot_bits=22`` tuning."""
        if self.dot_bits == 22 and self.acc == torch.float32:
            return "fp16x2"
        if self.dtype == torch.bfloat16 and not self.accurate:
            return "tf32"
        return "ieee" if self.dtype == torch.float64 else "tf32x3"

    @property
    def inv_precision(self) -> str:
        """Dot precision of the triangular solve, as accurate as T's uses: every product that uses T rounds it
        to its operand format (bf16, or tf32 — :attr:`precision`), so bf16 calls invert in one-pass tf32, and
        fp16, fp32 and ``accurate`` calls in fp32-accurate tf32x3; ieee for float64."""
        if self.acc == torch.float64:
            return "ieee"
        return "tf32" if self.precision == "tf32" else "tf32x3"

    def empty(self, *shape) -> torch.Tensor:
        return torch.empty(shape, dtype=self.acc, device=self.device)

    def stored(self, *shape) -> torch.Tensor:
        """A buffer for the backward's intermediates (u, y = Tᵀ du, the chunk states and their gradients):
        in the accumulation dtype, or in the 16-bit input dtype if ``store_bits`` is 16."""
        dtype = self.dtype if self._sixteen(self.store_bits) else self.acc
        return torch.empty(shape, dtype=dtype, device=self.device)


def chunk_layout(n_h, cu_seqlens, chunk_size, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(offsets [N + 1], chunk_index [chunks, 2]) on ``device`` for packed sequences: each sequence's first
    chunk, and (sequence, chunk within it) of every chunk. The lengths are read on the host, as the number
    of chunks sizes the launch grid."""
    lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).to("cpu", torch.int64)
    per_sequence = (lengths * n_h + chunk_size - 1) // chunk_size
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), per_sequence.cumsum(0)])
    sequence = torch.repeat_interleave(torch.arange(lengths.numel()), per_sequence)
    index = torch.stack([sequence, torch.arange(int(offsets[-1])) - offsets[sequence]], dim=1)
    return offsets.to(device), index.contiguous().to(device)


def _blocks(kdim: int, vdim: int) -> tuple[int, int]:
    """(BK, BV) of the kernels that walk a sequence: the whole key dimension and a slice of the value
    columns (64 wide, 32 at K > 128 for registers)."""
    bk = _block(kdim)
    return bk, min(_block(vdim), 64 if bk <= 128 else 32)


def default_halves(bk: int, bv: int, bits: int, programs: int, sms: int) -> tuple[int, int]:
    """(halves_fwd, halves_bwd) of a launch by default. Halving the walks' tiles doubles their programs, which
    pays where a walk's programs (sequences × heads × value blocks) do not fill the GPU's ``sms``
    multiprocessors, and only on the 16-bit path (bf16, value blocks of 64: its halves keep 16-bit operands).
    The forward walk is halved there; the backward walk, which carries dS and more tiles, only at key blocks of
    128 or more (with K = 64 its 32×32 halves were slower: bench/results/speed/halved_walks/)."""
    if bits != 16 or min(bk, bv) < 32 or programs > sms:
        return 0, 0
    return 1, int(bk >= 128)


def _default_bits(dtype: torch.dtype, bv: int, accurate: bool) -> int:
    """16 (16-bit operands and storage, two pipeline stages in the walkers) for bf16 at a value block of 64
    unless ``accurate``; 32 otherwise, fp16 included (the module's docstring says why)."""
    return 16 if dtype == torch.bfloat16 and bv == 64 and not accurate else 32


def operand_format(dtype: torch.dtype, kdim: int, vdim: int, mode: str = "chunk") -> str | None:
    """The format to which a default forward rounds the operands of the products that carry the state (K S,
    T x, Q S, scores·u, Kᵀu), once per chunk: the input format where the 16-bit path applies, "tf32" for
    other bf16 chunk-mode calls (one-pass tf32), None where they are fp32-accurate (tf32x3 or ieee, and the
    recurrent mode's elementwise kernel). For error models (:func:`proofs_check.studies.kernels.kernel_models`)."""
    if dtype not in (torch.bfloat16, torch.float16, torch.float32, torch.float64):
        raise ValueError(f"dtype: expected bfloat16, float16, float32 or float64, got {dtype!r}")
    for name, d in (("kdim", kdim), ("vdim", vdim)):
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ValueError(f"{name}: expected a positive head dimension, got {d!r}")
    if mode not in ("chunk", "recurrent"):
        raise ValueError(f"mode: expected 'chunk' or 'recurrent', got {mode!r}")
    if mode == "recurrent":
        return None
    if _default_bits(dtype, _blocks(kdim, vdim)[1], accurate=False) == 16:
        return str(dtype).removeprefix("torch.")
    return "tf32" if dtype == torch.bfloat16 else None


@functools.lru_cache(maxsize=64)
def _scale_tensor(scale: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The output scale as a one-element tensor in the accumulation dtype, made once per (value, dtype,
    device): the kernels only read it, and a decoding step then launches no fill for it."""
    return torch.full((1,), scale, dtype=dtype, device=device)


def plan_launch(q, v, g, n_h, scale, cu_seqlens, chunk_size, accurate: bool) -> Launch:
    """Blocks: the whole key dimension (BK) and a slice of the value columns (BV) for the kernels that walk
    a sequence; the parallel kernels visit the key columns in blocks of at most 64 (``chunk_bwd_dqk`` runs
    one program per key block) and the value columns in narrower slices where their tiles need it.
    ``accurate`` (the recurrent mode, whose backward is chunked): fp32-accurate products and 32-bit storage
    for every input dtype, so that its gradients carry only the rounding of their own stores, as fla's
    fused recurrent backward's do. Without cu_seqlens a launch depends only on shapes, dtype, device and the
    choices, so it is made once per configuration (a decoding loop plans each step alike)."""
    if cu_seqlens is None:
        return _planned(tuple(q.shape), v.shape[-1], g is not None, n_h, scale, chunk_size, accurate, q.dtype,
                        q.device, tuple(sorted(_TUNING.items())))  # fmt: skip
    return _plan(tuple(q.shape), v.shape[-1], g is not None, n_h, scale, cu_seqlens, chunk_size, accurate, q.dtype,
                 q.device)  # fmt: skip


@functools.lru_cache(maxsize=256)
def _planned(shape, vdim, has_g, n_h, scale, chunk_size, accurate, dtype, device, choices) -> Launch:
    """:func:`_plan` without cu_seqlens, once per configuration (``choices``: the tuning in force)."""
    return _plan(shape, vdim, has_g, n_h, scale, None, chunk_size, accurate, dtype, device)


def _plan(shape, vdim, has_g, n_h, scale, cu_seqlens, chunk_size, accurate, dtype, device) -> Launch:
    """The launch of :func:`plan_launch` from q's shape, V and the rest (no tensor but cu_seqlens)."""
    batch, tokens, heads, kdim = shape
    sequences = batch if cu_seqlens is None else cu_seqlens.numel() - 1
    bk, bv = _blocks(kdim, vdim)
    # chunk_bwd_dqk: five C×64 or C×C accumulators; value slices of 32 (16 in float64, shared memory)
    bv_grads = min(_block(vdim), 16 if dtype == torch.float64 else 32)
    bits = _default_bits(dtype, bv, accurate)
    scale_t = _scale_tensor(scale, reference.state_dtype(dtype), device)
    sms = torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 0
    halves = default_halves(bk, bv, bits, sequences * heads * -(-vdim // bv), sms)
    launch = Launch(
        batch=batch, tokens=tokens, heads=heads, kdim=kdim, vdim=vdim, n_h=n_h, scale=scale_t,
        sequences=sequences, chunk_size=chunk_size, bk=bk, bv=bv,
        bk_prep=min(bk, 64), warps_prep=4, warps_walk=4, stages_walk=1 if bits == 32 else 2, bk_grads=min(bk, 64),
        bv_grads=bv_grads, warps_grads=4,
        store_bits=bits, dot_bits=bits, halves_fwd=halves[0], halves_bwd=halves[1], accurate=accurate, has_g=has_g,
        varlen=cu_seqlens is not None, dtype=dtype, device=device, cu_seqlens=cu_seqlens,
    )  # fmt: skip
    launch = replace(launch, **_TUNING) if _TUNING else launch
    if (launch.halves_fwd or launch.halves_bwd) and min(launch.bk, launch.bv) < 32:
        raise ValueError("tuning: halved walks (halves_fwd, halves_bwd) need key and value blocks of at least 32 "
                         f"(halves of at least 16, tl.dot's minimum), got bk={launch.bk}, bv={launch.bv}")  # fmt: skip
    if launch.tl_dot != launch.tl_acc and launch.bv < 64 and launch.bk >= 128:
        raise ValueError(
            f"tuning: dot_bits=16 with a value block bv={launch.bv} < 64 at a key block of {launch.bk} is refused: "
            "Triton 3.6.0 miscompiles it on the H200 (wrong results or an illegal memory access; "
            "bench/results/verify_kernels/tuning_check.json)"
        )
    return launch


FITTED_CHUNK_SIZES: dict[tuple, int] = {}


def fit_chunk_size(run, q, v, g, chunk_size: int, backward: bool):
    """``run(size)`` at the largest chunk size ≤ ``chunk_size`` whose kernels fit the GPU's shared memory.

    Results are the same function's for any chunk size (the forward's differ by rounding only), and which
    sizes fit depends on the dtype, the dot precision, K, V and the gate (on the H200, the gated float32
    backward at K = 128 needs 262,144 > 232,448 bytes at 64 rows). A size that does not compile is
    halved, down to 16 rows, and the size that fitted is remembered for the configuration."""
    key = (backward, q.dtype, q.shape[-1], v.shape[-1], g is not None, q.device)
    size = min(chunk_size, FITTED_CHUNK_SIZES.get(key, chunk_size))
    while True:
        try:
            return run(size)
        except triton.runtime.errors.OutOfResources:
            if size <= 16:
                raise
            size //= 2
            FITTED_CHUNK_SIZES[key] = size
