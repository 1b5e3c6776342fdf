"""Group → one-layer program: a group and a budget n_h → a frozen :class:`theory.programs.ir.Program` with one
layer.

The layer tracks the group's word problem with a state that evolves as H_t = A(x_t) H_{t−1}, B = 0 (values
zero, no gate), H_0 = h_0:

* every input symbol x (an element index) carries n_h GH factors (key, β ∈ {0, 2}) whose product
  G_{n_h} ⋯ G_1 equals ρ(x) exactly, for a faithful orthogonal representation ρ;
* so H_t = ρ(g_t) h_0, and the decoder maps a state to the element whose orbit point ρ(g) h_0 is nearest.

Representations (the program's ``construction``):

* ``scalar`` — parity, Z_2 on R¹: the non-identity symbol is the reflection β = 2 on key (1)
  (Grazzi et al. 2025 §4.1, App. C.3: Thm 3 with m = 2).
* ``permutation`` — any group on R^n through permutation matrices, each symbol as rank(I − P_x) swaps
  (e_i − e_j)/√2, β = 2, padded with β = 0; h_0 = (1, …, n) (Grazzi Thm 3; Siems et al. Thm 1(i)).
* ``orthogonal`` — Z_m, D_m in O(2) and A_4, S_4, A_5 in SO(3) with n_h = 2 (Siems et al. Thm 4:
  SO(n+1) with n even needs n_h = n; O(n) needs n_h = n).

Budgets below what the theory allows are refused with the theorem: a product of n_h GH factors A has
rank(I − A) ≤ n_h; and one layer with n_h = 1 cannot count modulo m unless m is a power of two (Grazzi
Thm 2: one GH factor has only real eigenvalues).
"""

from __future__ import annotations

import sympy as sp

from theory.factorize import GHFactors, cycle_count, orthogonal_reflections, permutation_swaps, rotation_reflections
from theory.groups import (
    Group,
    PlanarRepresentation,
    Representation,
    mirror_axes,
    orthogonal_rep,
    parse_group,
    permutation_rep,
    planar_key,
    planar_label,
)
from theory.programs.ir import MAX_ORDER, BudgetError, Layer, Program, is_zero

__all__ = ["compile_group", "representation", "REPRESENTATIONS", "THEOREMS"]

REPRESENTATIONS = ("auto", "scalar", "permutation", "orthogonal")

THEOREMS = {
    "scalar": "Grazzi et al. 2025, §4.1 / App. C.3 (Theorem 3 with m = 2): parity with one scalar reflection",
    "permutation": "Grazzi et al. 2025, Theorem 3; Siems et al. 2025, Theorem 1(i): one layer, permutation "
    "matrices as products of swap reflections",
    "orthogonal": "Siems et al. 2025, Theorem 4: subgroups of O(n) with n_h = n, of SO(n+1) (n even) with n_h = n",
}


def _budget_needed(rep: Representation) -> int:
    """max over symbols of rank(I − ρ(x)): n − c(π) for permutation matrices (c counts cycles with fixed
    points), 2 for a planar rotation ≠ I and 1 for a planar reflection; otherwise (SO(3), entries
    a + b√2 or a + b√5) sympy's rank with :func:`is_zero` deciding the pivots exactly."""
    if rep.name == "permutation":
        return max(len(g.array_form) - cycle_count(g.array_form) for g in rep.group.elements)
    if isinstance(rep, PlanarRepresentation):
        labels = [planar_label(g, rep.m) for g in rep.group.elements]
        return max(2 if label[0] == "R" else 1 for label in labels if label != ("R", 0))
    return max(int((sp.eye(rep.dim) - m).rank(iszerofunc=is_zero)) for m in rep.matrices)


def _mirror_pairs(axes: list[sp.Matrix]) -> dict[tuple, tuple[sp.Matrix, sp.Matrix]]:
    """Every product (I − 2aaᵀ)(I − 2bbᵀ) of two mirror reflections, keyed by its expanded entries."""
    reflections = [(a, (sp.eye(3) - 2 * a * a.T).applyfunc(sp.expand)) for a in axes]
    table = {}
    for a, ra in reflections:
        for b, rb in reflections:
            table.setdefault(tuple((ra * rb).applyfunc(sp.expand)), (b, a))  # b is applied first
    return table


def _planar_factors(label: tuple[str, int], m: int) -> GHFactors:
    """O(2) symbol ρ = R(2πj/m) = H(2πj/m)·H(0) (H(0) applied first) or H(2πj/m), as mirror reflections with
    keys :func:`theory.groups.planar_key` in units π/m (exact sines and cosines of rational multiples of π,
    proved on labels by :func:`theory.programs.prove.prove`)."""
    kind, j = label
    mirrors = [0, 2 * j] if kind == "R" else [2 * j]
    return GHFactors(sp.Matrix([list(planar_key(a, m)) for a in mirrors]), (sp.Integer(2),) * len(mirrors),
                     "O(2): mirror reflections")  # fmt: skip


def _factor(rep_name: str, matrix: sp.Matrix, mirrors: dict | None):
    """GH factors of one symbol's matrix: swaps for permutations; for SO(3) groups two mirror reflections
    of the solid (exact keys in ℚ(√2) / ℚ(√5), the hint of the Constructions issue); else Cartan–Dieudonné."""
    if rep_name == "permutation":
        return permutation_swaps(matrix)
    if mirrors is not None:
        key = tuple(matrix.applyfunc(sp.expand))
        if key not in mirrors:
            return rotation_reflections(matrix)
        b, a = mirrors[key]
        return GHFactors(sp.Matrix([list(b), list(a)]), (sp.Integer(2), sp.Integer(2)), "SO(3): two mirror reflections")
    return orthogonal_reflections(matrix)


def _initial_state(rep_name: str, dim: int) -> list:
    if rep_name == "permutation":
        return [sp.Integer(i + 1) for i in range(dim)]
    return [sp.Integer(v) for v in ((3, 1) if dim == 2 else (3, 5, 8, 13))[:dim]] if dim > 1 else [sp.Integer(1)]


def compile_group(
    spec: str | Group, *, rep: str = "auto", n_h: int | str = "auto", max_order: int = MAX_ORDER
) -> Program:
    """Compile a group's word problem into a one-layer program (see the module docstring).

    ``rep`` ∈ {"auto", "scalar", "permutation", "orthogonal"}: auto takes the representation needing the
    smallest n_h that fits the budget (ties to the smaller state). ``n_h``: an integer budget or "auto"
    (the least the representation needs: max over symbols of rank(I − ρ(x))). Groups of more than
    ``max_order`` elements are refused (:class:`theory.groups.GroupSizeError`): every element is factorized
    in exact arithmetic.
    """
    group = parse_group(spec) if isinstance(spec, str) else spec
    group.check_order(max_order, "the one-layer compiler", "max_order=")
    if rep not in REPRESENTATIONS:
        raise ValueError(f"rep: expected one of {REPRESENTATIONS}, got {rep!r}")
    if not (n_h == "auto" or (isinstance(n_h, int) and not isinstance(n_h, bool) and n_h >= 1)):
        raise ValueError(f"n_h: expected a positive integer or 'auto', got {n_h!r}")
    cyclic_order = _cyclic_order(group)
    if n_h == 1 and cyclic_order is not None and cyclic_order & (cyclic_order - 1):
        raise BudgetError(
            f"n_h: {group.name} needs counting modulo {cyclic_order}, which is not a power of two; one layer "
            "with n_h = 1 cannot do it (Grazzi et al. 2025, Theorem 2: a single GH factor has only real "
            "eigenvalues). Use n_h ≥ 2 or two layers."
        )
    candidates = []
    for name in ("scalar", "orthogonal", "permutation") if rep == "auto" else (rep,):
        rho = representation(group, name, explicit=rep != "auto")
        if rho is None:
            continue
        needed = _budget_needed(rho)
        candidates.append((needed, rho.dim, name, rho))
    if not candidates:
        raise ValueError(f"rep: no representation available for {group.name}")
    candidates.sort(key=lambda c: (c[0], c[1]))
    fitting = [c for c in candidates if n_h == "auto" or c[0] <= n_h]
    if not fitting:
        needed, _, name, _ = candidates[0]
        raise BudgetError(
            f"n_h: {group.name} in the {name} representation needs n_h ≥ {needed}, got {n_h}: some symbol x has "
            f"rank(I − ρ(x)) = {needed}, and a product of n_h GH factors A has rank(I − A) ≤ n_h "
            "(Grazzi et al. 2025, Theorem 3 / Proposition 1.2; Siems et al. 2025, Theorem 1(i))"
        )
    needed, dim, name, rho = fitting[0]
    budget = needed if n_h == "auto" else n_h
    mirrors = _mirror_pairs(mirror_axes(group)) if name == "orthogonal" and dim == 3 else None
    planar = isinstance(rho, PlanarRepresentation)
    keys, betas = [], []
    for g, m in zip(group.elements, rho.matrices):
        identity = g == group.elements[0]
        if planar:
            f = None if identity else _planar_factors(planar_label(g, rho.m), rho.m)
        else:
            f = None if identity else _factor(name, m, mirrors)
        rows = [list(f.keys.row(j)) for j in range(len(f))] if f is not None else []
        bs = list(f.betas) if f is not None else []
        pad = [sp.Integer(1)] + [sp.Integer(0)] * (dim - 1)
        while len(rows) < budget:  # identity factors: β = 0
            rows.append(pad)
            bs.append(sp.Integer(0))
        keys.append(tuple(tuple(r) for r in rows))
        betas.append(tuple(bs))
    h0 = sp.Matrix(_initial_state(name, dim))
    readouts = tuple(tuple(sp.expand(e) for e in m * h0) for m in rho.matrices)
    values = tuple((sp.Integer(0),) * budget for _ in keys)
    layer = Layer("exact", budget, dim, tuple(keys), tuple(betas), values, tuple(h0), readouts, "element")
    return Program(group.name, name, THEOREMS[name], (layer,), tuple(range(group.order)))


def _cyclic_order(group: Group) -> int | None:
    """m if the group is cyclic of order m (a counter modulo m), else None."""
    for g in group.elements:
        if int(g.order()) == group.order:
            return group.order
    return None


def representation(group: Group, name: str, explicit: bool) -> Representation | None:
    """The representation ``name`` (one of :data:`theory.programs.ir.ONE_LAYER`) of ``group``; when it does
    not exist, a ValueError if ``explicit`` (the caller named it), else None."""
    if name == "scalar":
        if group.order != 2:
            if explicit:
                raise ValueError(f"rep: 'scalar' is the parity program (Z2 only), got {group.name}")
            return None
        return Representation(group, "scalar", (sp.Matrix([[1]]), sp.Matrix([[-1]])))
    if name == "orthogonal":
        try:
            return orthogonal_rep(group)
        except ValueError:
            if explicit:
                raise
            return None
    return permutation_rep(group)
