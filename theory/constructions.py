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

from theory.documents import DocumentError, Fields, exact_to_text, read_document
from theory.factorize import GHFactors, cycle_count, orthogonal_reflections, permutation_swaps, rotation_reflections
from theory.groups import (
    Group,
    PlanarRepresentation,
    Representation,
    compose_planar,
    mirror_axes,
    orthogonal_rep,
    parse_group,
    permutation_rep,
    planar_key,
    planar_key_label,
    planar_label,
    planar_lemma,
)
from theory.householder import gh_product

__all__ = [
    "Program",
    "ProgramProof",
    "compile_group",
    "prove_program",
    "BudgetError",
    "REPRESENTATIONS",
    "MAX_ORDER",
    "MAX_NH",
    "is_zero",
    "exact_texts",
    "read_group",
    "check_beta",
    "check_unit_keys",
    "read_program",
    "FORMAT",
]

MAX_ORDER = 1_000
MAX_NH = 64

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
    round-trip them exactly (as text in the grammar of :mod:`theory.documents`).

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
        exact = {k: exact_texts(getattr(self, k)) for k in ("keys", "betas", "initial_state", "readouts")}
        return json.dumps({"format": FORMAT, **meta, **exact}, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes, *, max_order: int = MAX_ORDER) -> Program:
        """Read a program written by :meth:`to_json`, validating every field (types, shapes against the group,
        n_h and the representation, β a rational in [0, 2], unit keys), then re-prove it exactly
        (:func:`prove_program`): a :class:`theory.documents.DocumentError` naming the field otherwise.
        Nothing in the text is evaluated; groups above ``max_order`` elements are refused."""
        _, doc = read_document(text, (FORMAT,))
        return read_program(doc, max_order)

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


FORMAT = "deltaproof.program/1"


def exact_texts(x):
    """Nested tuples of exact numbers → nested lists of their texts (:func:`theory.documents.exact_to_text`)."""
    return [exact_texts(v) for v in x] if isinstance(x, tuple) else exact_to_text(x)


def is_zero(e: sp.Expr) -> bool:
    """Exact zero test of the numbers programs hold: expansion decides rationals and ℚ(√2), ℚ(√5) (a + b√d is
    canonical once expanded), simplification the trigonometric entries."""
    return sp.expand(e) == 0 or sp.simplify(e) == 0


def read_group(doc: Fields, max_order: int) -> Group:
    """The ``group`` field, parsed and checked against ``max_order`` (errors name the field)."""
    spec = doc.text("group")
    try:
        group = parse_group(spec)
        group.check_order(max_order, "loading a program", "max_order=")
    except ValueError as err:
        raise DocumentError(doc.name("group"), str(err).removeprefix("group: ")) from None
    return group


def check_beta(beta: sp.Expr, field: str) -> None:
    """β of a program: a rational in [0, 2] (the GH factor I − βkkᵀ of a unit key has norm ≤ 1 there)."""
    if not (beta.is_Rational and 0 <= beta <= 2):
        raise DocumentError(field, f"expected β, a rational in [0, 2], got {beta}")


def check_unit_keys(keys: tuple, field: str) -> None:
    """Every key of ``keys[symbol][j]`` has ‖k‖ = 1 exactly (planar keys by their form, others by
    :func:`is_zero`)."""
    for s, row in enumerate(keys):
        for j, key in enumerate(row):
            if len(key) == 2 and _planar_form(key):
                continue
            if not is_zero(sum((e * e for e in key), sp.Integer(0)) - 1):
                norm2 = sp.nsimplify(sum(e * e for e in key))
                raise DocumentError(f"{field}[{s}][{j}]", f"expected a unit key, got ‖k‖² = {norm2}")


def _planar_form(key: tuple) -> bool:
    """True when ``key`` is exactly (−sin α, cos α) for a rational multiple α of π (a unit vector)."""
    x, y = key
    return isinstance(-x, sp.sin) and isinstance(y, sp.cos) and (-x).args == y.args


def read_program(doc: Fields, max_order: int) -> Program:
    """A one-layer program from a parsed document (its fields checked, then re-proved): see
    :meth:`Program.from_json`."""
    group = read_group(doc, max_order)
    name = doc.choice("representation", REPRESENTATIONS[1:])
    theorem = doc.text("theorem")
    n_h = doc.integer("n_h", 1, MAX_NH)
    try:
        rho = _representation(group, name, explicit=True)
    except ValueError as err:
        raise DocumentError(doc.name("representation"), str(err).removeprefix("rep: ")) from None
    dim = doc.integer("dim", rho.dim, rho.dim)
    order = group.order
    keys = doc.exact("keys", (order, n_h, dim))
    betas = doc.exact("betas", (order, n_h), check_beta)
    initial_state = doc.exact("initial_state", (dim,))
    readouts = doc.exact("readouts", (order, dim))
    doc.done()
    check_unit_keys(keys, "keys")
    program = Program(group.name, name, theorem, n_h, dim, keys, betas, initial_state, readouts)
    proof = prove_program(program)
    if not proof.holds:
        raise DocumentError("program", f"the exact proof of the loaded program fails: {proof.failure}")
    return program


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
    proved on labels by :func:`prove_program`)."""
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
    return [sp.Integer(v) for v in ((3, 1) if dim == 2 else (3, 5, 8))[:dim]] if dim > 1 else [sp.Integer(1)]


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
    planar = isinstance(representation, PlanarRepresentation)
    keys, betas = [], []
    for g, m in zip(group.elements, representation.matrices):
        identity = g == group.elements[0]
        if planar:
            f = None if identity else _planar_factors(planar_label(g, representation.m), representation.m)
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
    algebraic numbers; in O(2), factors of the form H(aπ/m) are composed on their labels through the
    proven 2-D identities, :func:`theory.groups.compose_planar` and :func:`theory.groups.planar_lemma`), so
    H_t = ρ(g_t) h_0 for every word; every readout is ρ(g) h_0 and they are pairwise distinct (margin
    m > 0), so nearest-readout decoding returns g_t exactly, and any state error below m cannot change it."""
    if not isinstance(program, Program):
        raise TypeError(f"program: expected a compiled one-layer Program, got {type(program).__name__}")
    group = parse_group(program.group)
    rho = _representation(group, program.representation, explicit=True)
    for x in range(group.order):
        if isinstance(rho, PlanarRepresentation) and _planar_product(program, x, rho.m) == planar_label(
            group.elements[x], rho.m
        ):
            continue
        diff = program.factor_product(x) - rho.matrices[x]
        if not all(is_zero(e) for e in diff):
            return ProgramProof(False, x + 1, sp.nan, f"symbol {x}: the factor product differs from ρ(x) by {diff}")
    h0 = sp.Matrix(program.initial_state)
    for x in range(group.order):
        if not all(is_zero(a - b) for a, b in zip(program.readouts[x], rho.matrices[x] * h0)):
            return ProgramProof(False, group.order, sp.nan, f"readout {x} is not ρ(g_{x}) h_0")
    margin = sp.sqrt(program.min_readout_distance_squared()) / 2
    failure = None if margin > 0 else "two group elements share a readout"
    return ProgramProof(failure is None, group.order, margin, failure)


def _planar_product(program: Program, symbol: int, m: int) -> tuple[str, int] | None:
    """The planar label (units 2π/m, as :func:`theory.groups.planar_label`) of the symbol's factor product
    when every factor is a mirror H(aπ/m) (β = 2, key :func:`theory.groups.planar_key`) or the identity
    (β = 0), composed exactly on labels mod 2m; None when a factor is of another form, or the product is
    not a multiple of 2π/m."""
    if not planar_lemma():
        return None
    acc = ("R", 0)
    for key, beta in zip(program.keys[symbol], program.betas[symbol]):
        if beta == 0:
            continue
        try:
            label = planar_key_label(key, m)
        except ValueError:
            return None
        if beta != 2:
            return None
        acc = compose_planar(("H", label), acc, 2 * m)
    kind, a = acc
    return (kind, a // 2) if a % 2 == 0 else None


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
