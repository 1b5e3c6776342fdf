"""Orbits of recurrences that round at every step: the finite dynamics behind the negative theorems of
Grazzi et al. 2025 (Theorem 1: parity needs an eigenvalue outside [0, ∞); Theorem 2: counting modulo m
needs non-real eigenvalues unless m is a power of two).

A one-layer LRNN on the constant input 1^k, in a format F, is the map h ↦ f(h) = cast(cast(A h) + b): each
product a_ij h_j rounded to F, then their sum with b_i rounded to F ("every product computed exactly and
then cast, the sum computed exactly and then cast", the simplification the paper's negative proofs use),
where cast rounds to nearest, ties to even, and **saturates**: the paper's cast picks the nearest element of
a finite set D, here D = F's finite values, so nothing overflows to infinity. The state set is then finite
and every orbit h_0, f(h_0), f(f(h_0)), … is eventually periodic: it has an onset k̄ and a period. This
module enumerates the state set of a format with at most 16 significand-and-exponent bits (float8_e5m2,
float16, bfloat16) and reads the onset and period of **every** orbit off the map's table: the search is
exhaustive over states, not a horizon.

Why the theorems hold in this model (scalar or diagonal A; the tables check it): for a ≥ 0 the map
h ↦ cast(cast(a h) + b) is non-decreasing (a product by a ≥ 0, a sum and a rounding are), and a
non-decreasing map of a finite chain has only fixed points as cycles — its orbits are monotone — so every
orbit is eventually constant. For a < 0 the map is non-increasing, its square non-decreasing, so every cycle
has length 1 or 2. Layer by layer: a layer fed an input of eventual period P applies, over one period, a
composition of monotone maps, monotone again, so its own period divides 2P; after L layers 2^L. A diagonal
A is a product of independent scalar systems (its period is the lcm of theirs). Exactness: every product of
two values of these formats is exact in float64, and so is the sum of a few float16 or float8 values; for
bfloat16 a sum of two values whose exponents differ too much for float64 rounds to the larger one, which is
also the correctly rounded bfloat16 result (the smaller is below half its ulp), so float64 arithmetic gives
the exact model's values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from theory.formats import Format, cast, format_of

__all__ = ["MAX_STATE_BITS", "Orbits", "values", "saturate", "scalar_maps", "planar_map", "orbits", "compose"]

MAX_STATE_BITS = 16
"""Formats with at most this many bits (sign, exponent and stored significand) are enumerated."""
_BATCH_ENTRIES = 2**22


@dataclass(frozen=True)
class Orbits:
    """What the orbits of one map do: ``onset`` k̄, the largest number of steps any state takes to reach its
    cycle (every orbit is periodic from k̄ on); ``lengths``, the lengths of its cycles (those ≤ the search's
    ``max_period``; ``complete`` says whether that was all of them); ``cycles``, how many states lie on
    cycles."""

    onset: int
    lengths: tuple[int, ...]
    complete: bool
    cycles: int

    @property
    def period(self) -> int | None:
        """The lcm of the cycle lengths — every orbit has h_{k+period} = h_k for k ≥ k̄ — or None when some
        cycle is longer than the search looked."""
        return math.lcm(*self.lengths) if self.complete else None


def _bits(f: Format) -> int:
    exponent_bits = (f.emax - f.emin + 2).bit_length()
    return 1 + exponent_bits + f.precision - 1


def values(fmt) -> np.ndarray:
    """Every finite value of a format, ascending, as float64 (−max … −min subnormal, 0, … max): 247 for
    float8_e5m2, 63 487 for float16, 65 279 for bfloat16. Refuses formats of more than
    :data:`MAX_STATE_BITS` bits, whose state sets this module does not enumerate."""
    f = format_of(fmt)
    if _bits(f) > MAX_STATE_BITS:
        raise ValueError(f"fmt: expected a format of at most {MAX_STATE_BITS} bits (float8_e5m2, float16, bfloat16), "
                         f"got {f.name} ({_bits(f)} bits)")  # fmt: skip
    top = 2 ** (f.precision - 1)
    subnormals = np.arange(1, top) * 2.0 ** (f.emin - f.precision + 1)
    normals = [np.arange(top, 2 * top) * 2.0 ** (e - f.precision + 1) for e in range(f.emin, f.emax + 1)]
    positive = np.concatenate([subnormals, *normals])
    return np.concatenate([-positive[::-1], [0.0], positive])


def saturate(x, fmt) -> np.ndarray:
    """Round to the nearest value of the format (ties to even) with no overflow: beyond the largest finite
    value, that value — the nearest element of the finite set D of Grazzi et al.'s cast."""
    f = format_of(fmt)
    return np.clip(cast(x, f), -f.max_finite, f.max_finite)


def _index(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Positions of values of the format in ``table`` (they are there exactly; −0 counts as 0)."""
    where = np.searchsorted(table, x + 0.0)
    assert np.array_equal(table[where], x + 0.0), "a value outside the format's table"
    return where.astype(np.int32)


def scalar_maps(a, b, fmt) -> np.ndarray:
    """The tables of h ↦ cast(cast(a h) + b) for each pair (a[i], b[i]) of values of the format: int32
    [pairs, states], entry [i, s] the index (in :func:`values`) of the image of state s."""
    table = values(fmt)
    a_values, a_at = np.unique(saturate(np.atleast_1d(np.asarray(a, dtype=np.float64)), fmt), return_inverse=True)
    b_values, b_at = np.unique(saturate(np.atleast_1d(np.asarray(b, dtype=np.float64)), fmt), return_inverse=True)
    if a_at.shape != b_at.shape:
        raise ValueError(f"a, b: expected as many values of a as of b, got {a_at.size} and {b_at.size}")
    products = _index(saturate(a_values[:, None] * table[None, :], fmt), table)  # [distinct a, states]
    sums = _index(saturate(table[:, None] + b_values[None, :], fmt), table)  # [states, distinct b]
    return sums[products[a_at.ravel()], b_at.ravel()[:, None]]


def planar_map(a, b, fmt) -> np.ndarray:
    """The table of the two-dimensional system h ↦ cast(cast(a h₁-products) summed + b) for a 2 × 2 matrix
    ``a`` and vector ``b`` of the format's values, on every pair of values: state (i, j) has index
    i·|F| + j; int64 [|F|²]. Each row's two products are rounded, then their sum with b_i (exact in
    float64)."""
    f = format_of(fmt)
    if f.name != "float8_e5m2":
        raise ValueError(f"fmt: planar maps enumerate |F|² states, float8_e5m2's 61 009 only; got {f.name}")
    table = values(f)
    a = saturate(np.asarray(a, dtype=np.float64), f)
    b = saturate(np.asarray(b, dtype=np.float64), f)
    if a.shape != (2, 2) or b.shape != (2,):
        raise ValueError(f"a, b: expected shapes (2, 2) and (2,), got {a.shape} and {b.shape}")
    h1, h2 = np.meshgrid(table, table, indexing="ij")
    rows = [saturate(saturate(a[i, 0] * h1, f) + saturate(a[i, 1] * h2, f) + b[i], f) for i in range(2)]
    return _index(rows[0].ravel(), table).astype(np.int64) * len(table) + _index(rows[1].ravel(), table)


def compose(*maps: np.ndarray) -> np.ndarray:
    """The table of the composition, the first map applied first: compose(f, g)[s] = g[f[s]] (batched over
    leading dimensions)."""
    out = maps[0]
    for m in maps[1:]:
        out = _gather(m, out)
    return out


def _gather(table: np.ndarray, at: np.ndarray) -> np.ndarray:
    """table[..., at[..., s]] per row (np.take_along_axis on the last axis, through one flat index)."""
    rows = np.arange(table.size // table.shape[-1], dtype=np.int64).reshape(table.shape[:-1] + (1,))
    return table.reshape(-1)[rows * table.shape[-1] + at]


def orbits(maps: np.ndarray, *, max_period: int = 64) -> list[Orbits]:
    """The onset and period of every orbit of each map (tables [..., states] as :func:`scalar_maps` makes;
    one table or a batch). Exhaustive: t^N with N ≥ |states| (by repeated squaring) lands every state on
    its cycle; each cycle state's return time p ≤ ``max_period`` (t^p fixes it) gives the cycle lengths;
    the onset is the longest tail, found by binary lifting over the squared tables."""
    maps = np.atleast_2d(maps)
    if maps.ndim != 2 or maps.shape[1] == 0 or not np.issubdtype(maps.dtype, np.integer) or (
        maps.min() < 0 or maps.max() >= maps.shape[1]
    ):
        raise ValueError(f"maps: expected integer tables [maps, states] with entries in 0 … states − 1, got dtype "
                         f"{maps.dtype} and shape {maps.shape}")  # fmt: skip
    if not isinstance(max_period, int) or isinstance(max_period, bool) or max_period < 1:
        raise ValueError(f"max_period: expected a positive integer, got {max_period!r}")
    rows = max(1, _BATCH_ENTRIES // maps.shape[1])
    if maps.shape[0] > rows:  # bounded memory: the squared tables of one batch at a time
        return [o for start in range(0, maps.shape[0], rows) for o in orbits(maps[start : start + rows],
                                                                             max_period=max_period)]  # fmt: skip
    batch, states = maps.shape
    levels = [maps]
    while 2 ** (len(levels) - 1) < states:
        levels.append(compose(levels[-1], levels[-1]))
    on_cycle = np.zeros_like(maps, dtype=bool)
    on_cycle.reshape(-1)[(np.arange(batch)[:, None] * states + levels[-1]).ravel()] = True
    power, returns = maps, np.where(on_cycle, 0, -1)
    for p in range(1, max_period + 1):
        returns = np.where((returns == 0) & (power == np.arange(states)[None, :]), p, returns)
        if not (returns == 0).any():
            break
        power = compose(power, maps)
    position = np.broadcast_to(np.arange(states), maps.shape).copy()
    tail = np.zeros_like(position)
    for level in range(len(levels) - 1, -1, -1):
        step = _gather(levels[level], position)
        move = ~_gather(on_cycle, step) & ~_gather(on_cycle, position)
        position = np.where(move, step, position)
        tail = tail + np.where(move, 2**level, 0)
    tail = np.where(on_cycle, 0, tail + 1)
    return [Orbits(int(t), tuple(int(x) for x in np.unique(r[r > 0])), not (r == 0).any(), int(c))
            for t, r, c in zip(tail.max(axis=1), returns, on_cycle.sum(axis=1))]  # fmt: skip
