"""The compiler: a group and a budget → a frozen, serializable one-layer DeltaProduct program.

A program tracks the group's word problem (running product acc ← x·acc, :mod:`theory.groups`) with a
state that evolves as H_t = A(x_t) H_{t−1}, B = 0 (values zero, no gate), H_0 = h_0:

* every input symbol x (an element index) carries n_h GH factors (key, β ∈ {0, 2}) whose product
  G_{n_h} ⋯ G_1 equals ρ(x) exactly, for a faithful orthogonal representation ρ;
* so H_t = ρ(g_t) h_0, and the decoder maps a state to the element whose orbit point ρ(g) h_0 is nearest.

Constructions (multi-layer ones are the next step of the Constructions issue):

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

import json
from dataclasses import dataclass

import numpy as np
import sympy as sp

from theory.factorize import GHFactors, orthogonal_reflections, permutation_swaps, rotation_reflections
from theory.groups import Group, Representation, mirror_axes, orthogonal_rep, parse_group, permutation_rep
from theory.householder import gh_product

__all__ = ["Program", "ProgramProof", "compile_group", "prove_program", "BudgetError", "REPRESENTATIONS"]

REPRESENTATIONS = ("auto", "scalar", "permutation", "orthogonal")

_THEOREMS = {
    "scalar": "Grazzi et al. 2025, §4.1 / App. C.3 (Theorem 3 with m = 2): parity with one scalar reflection",
    "permutation": "Grazzi et al. 2025, Theorem 3; Siems et al. 2025, Theorem 1(i): one layer, permutation "
    "matrices as products of swap reflections",
    "orthogonal": "Siems et al. 2025, Theorem 4: subgroups of O(n) with n_h = n, of SO(n+1) (n even) with n_h = n",
}


class BudgetError(ValueError):
    """A budget (n_h, layers) below what the theory supports for this group and representation."""


@dataclass(frozen=True)
class Program:
    """A compiled one-layer program. Exact entries are sympy expressions; :meth:`to_json` / :meth:`from_json`
    round-trip them exactly (as strings sympy parses back).

    ``keys[x][j]`` and ``betas[x][j]``: factor j (applied j-th) of input symbol x (an element index of
    ``group``); ``initial_state``: h_0 (length dim); ``readouts[g]`` = ρ(g) h_0, the decoder's orbit.
    """

    group: str
    representation: str
    theorem: str
    n_h: int
    dim: int
    keys: tuple
    betas: tuple
    initial_state: tuple
    readouts: tuple

    def to_json(self) -> str:
        meta = {k: getattr(self, k) for k in ("group", "representation", "theorem", "n_h", "dim")}
        exact = {k: _to_str(getattr(self, k)) for k in _EXACT_FIELDS}
        return json.dumps({"format": "deltaproof.program/1", **meta, **exact}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Program:
        data = json.loads(text)
        if data.pop("format", None) != "deltaproof.program/1":
            raise ValueError("text: expected a deltaproof.program/1 document")
        return cls(**{k: (_from_str(v) if k in _EXACT_FIELDS else v) for k, v in data.items()})

    def factor_product(self, symbol: int) -> sp.Matrix:
        """G_{n_h} ⋯ G_1 of one input symbol, exactly."""
        return gh_product(sp.Matrix(self.keys[symbol]), list(self.betas[symbol]))

    def min_readout_distance_squared(self) -> sp.Expr:
        """min over distinct elements of ‖ρ(g)h_0 − ρ(g')h_0‖², exact: the decoder's margin is half its root.

        The minimising pairs are located in float64 (every pair within 1e-9 of the float minimum is a
        candidate) and the minimum is then taken exactly among the candidates."""
        pts = [sp.Matrix(r) for r in self.readouts]
        if len(pts) < 2:
            return sp.oo
        approx = np.array([[float(e) for e in r] for r in self.readouts])
        d2 = ((approx[:, None, :] - approx[None, :, :]) ** 2).sum(-1)
        d2[np.diag_indices(len(pts))] = np.inf
        floor = d2.min()
        candidates = [(i, j) for i, j in zip(*np.nonzero(d2 <= floor * (1 + 1e-9) + 1e-12)) if i < j]
        exact = [sp.nsimplify(sp.expand((pts[i] - pts[j]).dot(pts[i] - pts[j]))) for i, j in candidates]
        return min(exact, key=lambda e: sp.N(e, 30))


_EXACT_FIELDS = ("keys", "betas", "initial_state", "readouts")


def _to_str(x):
    """Nested tuples of sympy numbers → nested lists of strings that sympify parses back exactly."""
    return [_to_str(v) for v in x] if isinstance(x, tuple) else str(x)


def _from_str(x):
    return tuple(_from_str(v) for v in x) if isinstance(x, list) else sp.sympify(x)


def _budget_needed(rep: Representation) -> int:
    """max over symbols of rank(I − ρ(x)); entries are a + b√2 or a + b√5 (or trigonometric in O(2)), so
    a zero test by expansion first, then simplification, decides the pivots exactly."""

    def is_zero(e):
        return sp.expand(e) == 0 or sp.simplify(e) == 0

    return max(int((sp.eye(rep.dim) - m).rank(iszerofunc=is_zero)) for m in rep.matrices)


def _mirror_pairs(axes: list[sp.Matrix]) -> dict[tuple, tuple[sp.Matrix, sp.Matrix]]:
    """Every product (I − 2aaᵀ)(I − 2bbᵀ) of two mirror reflections, keyed by its expanded entries."""
    reflections = [(a, (sp.eye(3) - 2 * a * a.T).applyfunc(sp.expand)) for a in axes]
    table = {}
    for a, ra in reflections:
        for b, rb in reflections:
            table.setdefault(tuple((ra * rb).applyfunc(sp.expand)), (b, a))  # b is applied first
    return table


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
    return [sp.Integer(v) for v in ((3, 1) if dim == 2 else (3, 5, 8))[:dim]] if dim > 1 else [sp.Integer(1)]


def compile_group(spec: str | Group, *, rep: str = "auto", n_h: int | str = "auto") -> Program:
    """Compile a group's word problem into a one-layer program (see the module docstring).

    ``rep`` ∈ {"auto", "scalar", "permutation", "orthogonal"}: auto takes the representation needing the
    smallest n_h that fits the budget (ties to the smaller state). ``n_h``: an integer budget or "auto"
    (the least the representation needs: max over symbols of rank(I − ρ(x))).
    """
    group = parse_group(spec) if isinstance(spec, str) else spec
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
        representation = _representation(group, name, explicit=rep != "auto")
        if representation is None:
            continue
        needed = _budget_needed(representation)
        candidates.append((needed, representation.dim, name, representation))
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
    needed, dim, name, representation = fitting[0]
    budget = needed if n_h == "auto" else n_h
    mirrors = _mirror_pairs(mirror_axes(group)) if name == "orthogonal" and dim == 3 else None
    keys, betas = [], []
    for m in representation.matrices:
        f = _factor(name, m, mirrors) if m != sp.eye(dim) else None
        rows = [list(f.keys.row(j)) for j in range(len(f))] if f is not None else []
        bs = list(f.betas) if f is not None else []
        pad = [sp.Integer(1)] + [sp.Integer(0)] * (dim - 1)
        while len(rows) < budget:  # identity factors: β = 0
            rows.append(pad)
            bs.append(sp.Integer(0))
        keys.append(tuple(tuple(r) for r in rows))
        betas.append(tuple(bs))
    h0 = sp.Matrix(_initial_state(name, dim))
    readouts = tuple(tuple(sp.expand(e) for e in m * h0) for m in representation.matrices)
    return Program(group.name, name, _THEOREMS[name], budget, dim, tuple(keys), tuple(betas), tuple(h0), readouts)


@dataclass(frozen=True)
class ProgramProof:
    """Outcome of :func:`prove_program`: ``holds`` when every symbol's factor product equals ρ(x) exactly and
    the decoder's margin is positive; ``symbols``: symbols checked; ``margin``: half the least distance
    between distinct readouts (exact); ``failure``: the first symbol whose product differs, if any."""

    holds: bool
    symbols: int
    margin: sp.Expr
    failure: str | None


def prove_program(program: Program) -> ProgramProof:
    """Exact proof that a one-layer program tracks its word problem at every length.

    For every symbol x, G_{n_h}(x) ⋯ G_1(x) = ρ(x) in exact arithmetic (sympy; entries are rationals or
    algebraic numbers), so H_t = ρ(g_t) h_0 for every word; the readouts ρ(g) h_0 are pairwise distinct
    (margin m > 0), so nearest-readout decoding returns g_t exactly, and any state error below m cannot
    change it."""
    if not isinstance(program, Program):
        raise TypeError(f"program: expected a compiled one-layer Program, got {type(program).__name__}")
    group = parse_group(program.group)
    rho = _representation(group, program.representation, explicit=True)
    for x in range(group.order):
        diff = program.factor_product(x) - rho.matrices[x]
        if not all(sp.expand(e) == 0 or sp.simplify(e) == 0 for e in diff):
            return ProgramProof(False, x + 1, sp.nan, f"symbol {x}: the factor product differs from ρ(x) by {diff}")
    margin = sp.sqrt(program.min_readout_distance_squared()) / 2
    failure = None if margin > 0 else "two group elements share a readout"
    return ProgramProof(failure is None, group.order, margin, failure)


def _cyclic_order(group: Group) -> int | None:
    """m if the group is cyclic of order m (a counter modulo m), else None."""
    for g in group.elements:
        if int(g.order()) == group.order:
            return group.order
    return None


def _representation(group: Group, name: str, explicit: bool) -> Representation | None:
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
