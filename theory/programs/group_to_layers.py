"""Group → layers: the multi-layer constructions, each a frozen :class:`theory.programs.ir.Program` whose
layers read the token and the decoded outputs of the layers below.

* ``thm6`` — Z_m with two layers of single reflections (Grazzi et al. 2025, Theorem 6, App. D):
  layer 0 is the scalar h ← −h + 1 (key 1, β = 2, value ½; B ≠ 0), h_t = t mod 2; layer 1 applies
  H(θ(x_t, t mod 2)) with θ(i, 1) = (1 − 2i)π/m, θ(i, 0) = (1 + 2i)π/m to h_0 = d_0 and stays on
  d_i = (cos 2iπ/m, sin 2iπ/m) at even t and c_i = (cos (1−2i)π/m, sin (1−2i)π/m) at odd t, i = y_t.
* ``dihedral_parity`` — D_m with two layers (Siems et al. 2025, Theorem 3; our reconstruction of its proof):
  layer 0 is the scalar sign h ← −h at rotations (p_t = rotations so far mod 2); layer 1 applies
  A_t = F^{p_t} ρ(x_t) F^{p_{t−1}} (F = H(π/m), p_{t−1} = p_t xor [x_t a rotation]), a single reflection or
  the identity, so h_t = F^{p_t} ρ(g_t) h_0; readouts are the 4m points F^p ρ(g) h_0.
* ``symmetric_3`` / ``symmetric_4`` — S_n (n ≥ 3) with three layers at n_h = 2 or four at n_h = 1 (Siems
  et al. 2025, Theorem 1(ii)/(iii)): a counter t mod P (P = 2^m, m = ⌈log₂(n − 1)⌉ + 1; one
  rotation R(2π/P) as two reflections, or parity plus Theorem 6 on the constant input), a buffer of the
  last P tokens (key e_{t mod P}, β = 1, value x_t + 1: slot writes by projections), and a swap layer
  (one GH per token, β ∈ {0, 2}) that applies, at position i of each block of b = P/2 tokens, the i-th
  swap of the previous block's product. The between-layer map (``block_swaps``) and the decoder
  (``block_product``) are exact named functions of (t mod P, last P tokens[, swap state]) — the table of
  2^m·(n!)^(2^m) entries the theorem describes, computed instead of stored.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from theory.groups import (
    Group,
    compose_planar,
    parse_group,
    permutation_matrix,
    planar_key,
    planar_label,
    planar_point,
)
from theory.programs.interpret import swap_pairs
from theory.programs.ir import BudgetError, Layer, Program

__all__ = [
    "compile_layers",
    "block_period",
    "lookup_table_size",
    "dihedral_fine_labels",
    "DIHEDRAL_FLIP",
    "THEOREMS",
]

THEOREMS = {
    "thm6": "Grazzi et al. 2025, Theorem 6 (App. D): Z_m with two layers of single reflections",
    "dihedral_parity": "Siems et al. 2025, Theorem 3: D_m with two DeltaNet layers (rotation-count parity; our "
    "reconstruction of the proof)",
    "symmetric_3": "Siems et al. 2025, Theorem 1(ii): S_n with three layers, n_h = 2 (counter, buffer, swaps)",
    "symmetric_4": "Siems et al. 2025, Theorem 1(iii): S_n with four layers, n_h = 1 (parity and Theorem 6 "
    "counter, buffer, swaps)",
}


def _scalar_layer(betas: list, values: list, h0, readouts: list, symbol_map: str = "element") -> Layer:
    """A one-dimensional layer with key 1 and one sub-step per symbol."""
    one = (sp.Integer(1),)
    return Layer("exact", 1, 1, tuple((one,) for _ in betas), tuple((sp.Integer(b),) for b in betas),
                 tuple((v,) for v in values), (sp.Integer(h0),), tuple((sp.Integer(r),) for r in readouts),
                 symbol_map)  # fmt: skip


def _planar_layer(reflections: list, h0: int, readouts: list[int], units: int, map_layers: tuple) -> Layer:
    """A 2-D layer with one sub-step per symbol: the reflection H(aπ/N) for label a, or the identity (None)."""
    keys = tuple((planar_key(0 if a is None else a, units),) for a in reflections)
    betas = tuple((sp.Integer(0 if a is None else 2),) for a in reflections)
    values = tuple((sp.Integer(0),) for _ in reflections)
    return Layer("planar", 1, 2, keys, betas, values, planar_point(h0, units),
                 tuple(planar_point(b, units) for b in readouts), "element_with", map_layers, units)  # fmt: skip


def _cyclic_labels(group: Group) -> list[int] | None:
    """j(x) with x = c^j for a generator c of the m-gon rotations, if the group is Z_m on m points."""
    m = group.degree
    if group.order != m or m < 2:
        return None
    labels = [planar_label(g, m) for g in group.elements]
    if any(kind != "R" for kind, _ in labels) or len({j for _, j in labels}) != m:
        return None
    return [j for _, j in labels]


def _compile_thm6(group: Group) -> Program:
    labels = _cyclic_labels(group)
    if labels is None:
        raise ValueError(f"group: construction thm6 needs the cyclic group Z_m on m points, got {group.name}")
    m = group.order
    parity = _scalar_layer([2] * m, [sp.Rational(1, 2)] * m, 0, [0, 1])  # h ← −h + 1: h_t = t mod 2
    theta = [(1 + 2 * labels[x]) % (2 * m) for x in range(m)] + [(1 - 2 * labels[x]) % (2 * m) for x in range(m)]
    points = [2 * i for i in range(m)] + [(1 - 2 * i) % (2 * m) for i in range(m)]  # d_i, then c_i
    rotate = _planar_layer(theta, 0, points, m, (0,))
    element_of = {j: x for x, j in enumerate(labels)}
    decoder = tuple(element_of[r % m] for r in range(2 * m))
    return Program(group.name, "thm6", THEOREMS["thm6"], (parity, rotate), decoder)


def _dihedral(group: Group) -> list[tuple[str, int]] | None:
    """Planar labels ("R"/"H", j) of D_m on m points (m ≥ 3), or None for another group."""
    m = group.degree
    if group.order != 2 * m or m < 3:
        return None
    labels = [planar_label(g, m) for g in group.elements]
    return labels if len(set(labels)) == 2 * m else None


DIHEDRAL_FLIP = ("H", 4)  # F = H(π/m) in units of π/4m


def dihedral_fine_labels(group: Group) -> list[tuple[str, int]] | None:
    """ρ(g) of D_m (m ≥ 3) for every element, as planar labels in units of π/4m (labels mod 8m), the units in
    which the flip F = H(π/m) of the rotation-count-parity construction is :data:`DIHEDRAL_FLIP`; None for
    another group."""
    labels = _dihedral(group)
    m = group.degree
    return None if labels is None else [(kind, 8 * j % (8 * m)) for kind, j in labels]


def _compile_dihedral(group: Group) -> Program:
    rho = dihedral_fine_labels(group)
    if rho is None:
        raise ValueError(f"group: construction dihedral_parity needs D_m on m ≥ 3 points, got {group.name}")
    m, order = group.degree, group.order
    units = 4 * m  # angles in units of π/4m; labels mod 8m
    flip = DIHEDRAL_FLIP
    rotation = [kind == "R" for kind, _ in rho]
    parity = _scalar_layer([2 if r else 0 for r in rotation], [0] * order, 1, [1, -1])
    reflections = []
    for p in (0, 1):
        for x in range(order):
            before = p ^ rotation[x]
            a = rho[x]
            if before:
                a = compose_planar(a, flip, 8 * m)
            if p:
                a = compose_planar(flip, a, 8 * m)
            if a[0] == "R" and a[1] != 0:
                raise AssertionError(f"dihedral_parity: symbol ({x}, {p}) is a rotation {a}, not one reflection")
            reflections.append(None if a[0] == "R" else a[1])
    h0 = 1  # the point at angle π/4m: its orbit and F's image of it are 4m distinct points

    def image(a, b):  # label of ρ(a) applied to the point b
        return (a[1] + b if a[0] == "R" else a[1] - b) % (8 * m)

    readouts = [image(rho[x], h0) for x in range(order)] + [image(flip, image(rho[x], h0)) for x in range(order)]
    if len(set(readouts)) != 2 * order:
        raise AssertionError("dihedral_parity: readout points coincide")
    layer = _planar_layer(reflections, h0, readouts, units, (0,))
    decoder = tuple(r % order for r in range(2 * order))
    return Program(group.name, "dihedral_parity", THEOREMS["dihedral_parity"], (parity, layer), decoder)


def _symmetric_degree(group: Group) -> int | None:
    n = group.degree
    return n if n >= 3 and group.order == sp.factorial(n) else None


def block_period(n: int) -> int:
    """P = 2^m with m = ⌈log₂(n − 1)⌉ + 1: blocks of b = P/2 ≥ n − 1 tokens, a buffer of the last P."""
    return 2 ** (int(np.ceil(np.log2(n - 1))) + 1)


def lookup_table_size(n: int) -> int:
    """2^m · (n!)^(2^m): the entries of the table on (t mod P, last P tokens) that Siems et al. 2025,
    Theorem 1(ii)/(iii) implies for the between-layer map of S_n."""
    period = block_period(n)
    return period * int(sp.factorial(n)) ** period


def _compile_symmetric(group: Group, layers: int) -> Program:
    n, order = group.degree, group.order
    period = block_period(n)
    if layers == 3:  # the counter t mod P as one rotation R(2π/P) = H(2π/P) H(0) per token (n_h = 2)
        ones = [(0, 2)] * order
        counter = Layer("planar", 2, 2, tuple((planar_key(0, period), planar_key(2, period)) for _ in ones),
                        tuple((sp.Integer(2), sp.Integer(2)) for _ in ones), tuple((0, 0) for _ in ones),
                        planar_point(0, period), tuple(planar_point(2 * i, period) for i in range(period)), "element",
                        units=period)  # fmt: skip
        below = [counter]
    else:  # parity, then Theorem 6's reflections on the constant input 1 of Z_P (n_h = 1)
        parity = _scalar_layer([2] * order, [sp.Rational(1, 2)] * order, 0, [0, 1])
        mirrors = [3 % (2 * period)] * order + [(1 - 2) % (2 * period)] * order  # θ(1, 0), θ(1, 1)
        points = [2 * i for i in range(period)] + [(1 - 2 * i) % (2 * period) for i in range(period)]
        below = [parity, _planar_layer(mirrors, 0, points, period, (0,))]
    c = len(below) - 1  # the counter layer: its output mod P is t mod P
    radix = len(below[c].readouts)
    eye = sp.eye(period)
    buffer_keys, buffer_values = [], []
    for r in range(radix):
        for x in range(order):
            buffer_keys.append((tuple(eye.row(r % period)),))
            buffer_values.append((sp.Integer(x + 1),))
    buffer = Layer("exact", 1, period, tuple(buffer_keys), tuple((sp.Integer(1),) for _ in buffer_keys),
                   tuple(buffer_values), (sp.Integer(0),) * period, tuple((sp.Integer(v),) for v in range(order + 1)),
                   "element_with", (c,), decode="grid", period=period)  # fmt: skip
    pairs = swap_pairs(n)
    root = sp.sqrt(2) / 2
    swap_keys = [tuple(sp.Integer(1 if c_ == 0 else 0) for c_ in range(n))]
    swap_keys += [tuple(root if c_ == i else -root if c_ == j else sp.Integer(0) for c_ in range(n)) for i, j in pairs]
    h0 = sp.Matrix([sp.Integer(i + 1) for i in range(n)])
    readouts = tuple(tuple(permutation_matrix(g) * h0) for g in group.elements)
    swap = Layer("exact", 1, n, tuple((k,) for k in swap_keys),
                 tuple((sp.Integer(0 if s == 0 else 2),) for s in range(len(swap_keys))),
                 tuple((sp.Integer(0),) for _ in swap_keys), tuple(h0), readouts, "block_swaps",
                 (c, c + 1), period=period)  # fmt: skip
    name = "symmetric_3" if layers == 3 else "symmetric_4"
    return Program(group.name, name, THEOREMS[name], (*below, buffer, swap), (), "block_product",
                          (c, c + 1, c + 2))  # fmt: skip


def compile_layers(spec: str | Group, *, layers: int, n_h: int | str = "auto") -> Program:
    """The multi-layer construction for a group and a layer count: Z_m and D_m with two layers (n_h = 1);
    S_n (n ≥ 3) with three layers (n_h = 2) or four (n_h = 1). A budget below a construction's is a
    :class:`theory.programs.ir.BudgetError`; a group with no construction at this depth a ValueError."""
    group = parse_group(spec) if isinstance(spec, str) else spec
    if not (n_h == "auto" or (isinstance(n_h, int) and not isinstance(n_h, bool) and n_h >= 1)):
        raise ValueError(f"n_h: expected a positive integer or 'auto', got {n_h!r}")
    if layers == 2:
        if _cyclic_labels(group) is not None:
            return _compile_thm6(group)
        if _dihedral(group) is not None:
            return _compile_dihedral(group)
        raise ValueError(f"group: {group.name} has no two-layer construction (Z_m: Grazzi Thm 6; D_m: Siems Thm 3)")
    if layers in (3, 4):
        if _symmetric_degree(group) is None:
            raise ValueError(f"group: the {layers}-layer construction is for S_n (n ≥ 3), got {group.name}")
        if layers == 3 and n_h == 1:
            raise BudgetError(
                f"n_h: the three-layer S_n construction counts t mod {block_period(group.degree)} in one layer, "
                "which needs n_h ≥ 2: with n_h = 1 every transition has real eigenvalues and one layer's output "
                "on 1^t is eventually periodic with period ≤ 2 (Grazzi et al. 2025, Theorem 2). Use n_h ≥ 2 or "
                "four layers (Siems et al. 2025, Theorem 1(iii))"
            )
        return _compile_symmetric(group, layers)
    raise ValueError(f"layers: expected 2 (Z_m, D_m), 3 or 4 (S_n), got {layers}")
