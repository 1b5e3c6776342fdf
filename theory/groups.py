"""Finite groups and their faithful orthogonal representations, through ``sympy.combinatorics``.

Conventions (pinned; every construction and data export uses them):

* **Elements** are sympy ``Permutation``s of range(n). Their order is pinned: the identity first, then
  breadth-first over words in the generators, generators tried in their given order. Element index i is
  ``group.elements[i]``.
* **Action.** A word x_1 … x_t has running product g_t = x_1 * x_2 * ⋯ * x_t in sympy's notation, where
  (p * q)(i) = q(p(i)): x_1 acts first. In function notation g_t = x_t ∘ ⋯ ∘ x_1, i.e. the running
  product is updated as **acc ← x · acc** (new element composed on the left), and every representation
  ρ here is a homomorphism for ∘, so a column state h_t = ρ(x_t) h_{t−1} equals ρ(g_t) h_0.
* **Permutation matrices**: P(π) e_j = e_{π(j)}, a homomorphism for ∘.

Representations are exact (sympy matrices with entries in ℚ or ℚ(√5)); :meth:`Representation.check`
verifies exhaustively that they are homomorphisms and injective.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache

import numpy as np
import sympy as sp
from sympy.combinatorics import Permutation, PermutationGroup
from sympy.combinatorics.group_constructs import DirectProduct
from sympy.combinatorics.named_groups import AlternatingGroup, CyclicGroup, DihedralGroup, SymmetricGroup

__all__ = [
    "Group",
    "GroupSizeError",
    "running_products",
    "Representation",
    "parse_group",
    "permutation_matrix",
    "permutation_rep",
    "orthogonal_rep",
    "mirror_axes",
    "planar_label",
    "compose_planar",
    "planar_point",
    "planar_key",
    "planar_point_label",
    "planar_key_label",
    "planar_lemma",
]


def permutation_matrix(perm: Permutation) -> sp.Matrix:
    """P with P e_j = e_{π(j)} (so P(π ∘ σ) = P(π) P(σ))."""
    n = perm.size
    return sp.Matrix(n, n, lambda i, j: 1 if perm(j) == i else 0)


MAX_NAMED_DEGREE = 100_000
MAX_SYMMETRIC_DEGREE = 1_000
MAX_PERM_DEGREE = 32
MAX_SPEC = 1_000


class GroupSizeError(ValueError):
    """A group larger than a method handles; the message gives the limit and how to raise it."""


@dataclass(frozen=True, eq=False)
class Group:
    """A finite group given by permutation generators, with a pinned element order (see the module).
    ``known_order``: |G| where the spec gives it (named groups and their products), so that sizes are
    checked before anything enumerates the elements; otherwise sympy's Schreier–Sims computes it."""

    name: str
    generators: tuple[Permutation, ...]
    known_order: int | None = field(default=None, repr=False)

    @cached_property
    def elements(self) -> tuple[Permutation, ...]:
        identity = Permutation(self.degree - 1)
        seen, order, queue = {identity}, [identity], deque([identity])
        while queue:
            g = queue.popleft()
            for x in self.generators:
                h = g * x
                if h not in seen:
                    seen.add(h)
                    order.append(h)
                    queue.append(h)
        return tuple(order)

    @cached_property
    def index(self) -> dict[Permutation, int]:
        return {g: i for i, g in enumerate(self.elements)}

    @property
    def degree(self) -> int:
        return max(g.size for g in self.generators)

    @cached_property
    def order(self) -> int:
        """|G|, without enumerating the elements."""
        if self.known_order is not None:
            return self.known_order
        return int(PermutationGroup(*self.generators).order())

    def check_order(self, max_order: int, work: str, option: str = "max_order") -> None:
        """Refuse (:class:`GroupSizeError`) a group of more than ``max_order`` elements for ``work``, saying
        how to raise the limit (``option``: the keyword or command-line option that sets it)."""
        if self.order > max_order:
            raise GroupSizeError(
                f"group: {self.name} has {_count(self.order)} elements; {work} enumerates every element and takes "
                f"at most {max_order:,} " + (f"(raise the limit with {option}{'' if option.endswith('=') else ' '}"
                                             f"{self.order})" if self.order <= 10**9
                                             else "(and no limit can be raised that far)")
            )  # fmt: skip

    def product(self, word: list[int]) -> int:
        """Index of the running product of a word of element indices (x_1 acts first)."""
        acc = self.elements[0]
        for x in word:
            acc = acc * self.elements[x]
        return self.index[acc]

    @cached_property
    def table(self) -> np.ndarray:
        """The Cayley table as element indices: ``table[a, b]`` is the index of a·b (a acts first), int64
        [|G|, |G|]. Enumerates the group: check its order first (:meth:`check_order`)."""
        elements, index = self.elements, self.index
        return np.array([[index[a * b] for b in elements] for a in elements], dtype=np.int64)

    def element_orders(self) -> dict[int, int]:
        """How many elements have each order, e.g. {1: 1, 2: 9, 3: 8, 4: 6} for S_4."""
        counts: dict[int, int] = {}
        for g in self.elements:
            order = int(g.order())
            counts[order] = counts.get(order, 0) + 1
        return dict(sorted(counts.items()))


def _count(n: int) -> str:
    """A group order for messages: digits with separators, or its size in digits when it is huge."""
    return f"{n:,}" if n < 10**15 else f"about 10^{int((n.bit_length() - 1) * math.log10(2))}"


_SPEC_HELP = "a spec like 'S5', 'D7', 'Q8', 'A4xZ3' or 'perm:(0 1 2);(0 1)'"


def _named(letter: str, n: int) -> Group:
    if n < 1:
        raise ValueError(f"group: expected a positive size, got {letter}{n}")
    if n < 2:
        raise ValueError(f"group: {letter}{n} is the trivial group (one element), whose word problem has nothing to "
                         f"track; expected {letter}n with n ≥ {3 if letter in 'AD' else 2}")  # fmt: skip
    if n > MAX_NAMED_DEGREE:
        raise GroupSizeError(f"group: {letter}{n} acts on {n:,} points; the toolkit builds groups on at most "
                             f"{MAX_NAMED_DEGREE:,}")  # fmt: skip
    if letter in "SA" and n > MAX_SYMMETRIC_DEGREE:
        raise GroupSizeError(f"group: {letter}{n} has about 10^{int(math.lgamma(n + 1) / math.log(10))} elements; the "
                             f"toolkit builds S_n and A_n for n ≤ {MAX_SYMMETRIC_DEGREE:,}")  # fmt: skip
    builders = {"S": SymmetricGroup, "A": AlternatingGroup, "D": DihedralGroup, "Z": CyclicGroup}
    if letter == "D" and n < 3:
        raise ValueError(f"group: expected D_m with m ≥ 3 (sympy's dihedral group of the m-gon), got D{n}")
    if letter == "A" and n < 3:
        raise ValueError(f"group: expected A_n with n ≥ 3, got A{n}")
    orders = {"S": math.factorial(n), "A": math.factorial(n) // 2, "D": 2 * n, "Z": n}
    gens = PermutationGroup(*builders[letter](n).generators).generators
    return Group(f"{letter}{n}", tuple(gens), orders[letter])


def _from_cycles(text: str) -> Group:
    gens = []
    for part in text.split(";"):
        cycles = re.findall(r"\(([^()]*)\)", part)
        if not cycles or re.sub(r"\([^()]*\)|\s", "", part):
            raise ValueError(f"group: expected generators like 'perm:(0 1 2);(0 1)', got the generator {part!r}")
        perm = Permutation()
        for cycle in cycles:
            points = cycle.replace(",", " ").split()
            if not all(p.isdigit() and len(p) <= 3 for p in points) or len({int(p) for p in points}) != len(points):
                raise ValueError(f"group: expected a cycle of distinct points 0, 1, 2, … like (0 1 2), got ({cycle})")
            if any(int(p) >= MAX_PERM_DEGREE for p in points):
                raise GroupSizeError(f"group: perm: groups act on at most {MAX_PERM_DEGREE} points (0 … "
                                     f"{MAX_PERM_DEGREE - 1}), got ({cycle})")  # fmt: skip
            perm = perm * Permutation([[int(p) for p in points]]) if len(points) > 1 else perm
        gens.append(perm)
    size = max(2, max(g.size for g in gens))
    group = Group(f"perm:{text}", tuple(Permutation(g.array_form + list(range(g.size, size))) for g in gens))
    if group.order < 2:
        raise ValueError(f"group: perm:{text} generates the trivial group (one element); expected a group of order ≥ 2")
    return group


_QUATERNIONS = (1, "i", -1, "-i", "j", "k", "-j", "-k")
"""The point p of Q8's permutation generators is the quaternion _QUATERNIONS[p]; the generators are left
multiplication by i and by j (so the element π is left multiplication by the quaternion at π(0))."""
_QUATERNION_GENERATORS = (Permutation([[0, 1, 2, 3], [4, 5, 6, 7]]), Permutation([[0, 4, 2, 6], [1, 7, 3, 5]]))


def parse_group(spec: str) -> Group:
    """A group from its spec: ``S5``, ``A5``, ``D7`` (the 14 symmetries of the 7-gon), ``Z12``, ``Q8`` (the
    quaternions ±1, ±i, ±j, ±k), direct
    products ``A4xZ3`` (or ``A4_x_Z3``), or ``perm:(0 1 2 3);(0 1)`` (generators in cycle notation).
    Named groups act on at most :data:`MAX_NAMED_DEGREE` points (S_n, A_n on :data:`MAX_SYMMETRIC_DEGREE`),
    ``perm:`` groups on at most :data:`MAX_PERM_DEGREE`; trivial groups are refused (their word problem is
    empty). Building a group does not enumerate it: see :meth:`Group.check_order`."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"group: expected {_SPEC_HELP}, got {spec!r}")
    if len(spec) > MAX_SPEC:
        raise ValueError(f"group: expected {_SPEC_HELP} of at most {MAX_SPEC} characters, got {len(spec)}")
    spec = spec.strip()
    if spec.startswith("perm:") and "x" not in spec.split(")")[-1]:
        return _from_cycles(spec[5:])
    factors = re.split(r"_x_|x(?=[SADZp])", spec)
    if len(factors) > 1:
        groups = [parse_group(f) for f in factors]
        if sum(g.degree for g in groups) > MAX_NAMED_DEGREE:
            raise GroupSizeError(f"group: {spec} acts on more than {MAX_NAMED_DEGREE:,} points")
        product = DirectProduct(*[PermutationGroup(*g.generators) for g in groups])
        return Group("x".join(g.name for g in groups), tuple(product.generators), math.prod(g.order for g in groups))
    if spec == "Q8":
        return Group("Q8", _QUATERNION_GENERATORS, 8)
    match = re.fullmatch(r"([SADZ])(\d+)", spec)
    if not match or len(match.group(2)) > 7:
        raise ValueError(f"group: expected {_SPEC_HELP}, got {spec!r}")
    return _named(match.group(1), int(match.group(2)))


@dataclass(frozen=True, eq=False)
class Representation:
    """An exact orthogonal representation: ``matrices[i]`` = ρ(group.elements[i]) (sympy, dim × dim)."""

    group: Group
    name: str
    matrices: tuple[sp.Matrix, ...] = field(repr=False)

    @property
    def dim(self) -> int:
        return self.matrices[0].rows

    def check(self) -> dict:
        """Exhaustive proof that ρ is a faithful orthogonal representation: ρ(x ∘ g) = ρ(x) ρ(g) for every
        generator x and element g (which, with ρ(e) = I, makes ρ a homomorphism on the whole group), ρ(g)
        orthogonal, and ρ injective. Returns what was checked; raises ValueError on a failure."""
        g, mats = self.group, self.matrices
        if mats[0] != sp.eye(self.dim):
            raise ValueError(f"{self.name}: ρ(identity) is not the identity")
        for x in g.generators:
            rx = mats[g.index[x]]
            for i, el in enumerate(g.elements):
                if any(sp.expand(e) != 0 for e in mats[g.index[el * x]] - rx * mats[i]):
                    raise ValueError(f"{self.name}: not a homomorphism at generator {x} and element {el}")
        for m in mats:
            if any(sp.expand(e) != 0 for e in m.T * m - sp.eye(self.dim)):
                raise ValueError(f"{self.name}: a matrix is not orthogonal")
        keys = {tuple(sp.expand(e) for e in m) for m in mats}
        if len(keys) != g.order:
            raise ValueError(f"{self.name}: not injective ({len(keys)} distinct matrices for {g.order} elements)")
        return {"elements": g.order, "generators": len(g.generators), "dim": self.dim}


def permutation_rep(group: Group) -> Representation:
    """ρ(π) = P(π) on R^n, n the degree."""
    return Representation(group, "permutation", tuple(permutation_matrix(g) for g in group.elements))


def _rotation2(angle: sp.Expr) -> sp.Matrix:
    return sp.Matrix([[sp.cos(angle), -sp.sin(angle)], [sp.sin(angle), sp.cos(angle)]])


def _reflection2(angle: sp.Expr) -> sp.Matrix:
    """Reflection across the line at angle/2: [[cos a, sin a], [sin a, −cos a]]."""
    return sp.Matrix([[sp.cos(angle), sp.sin(angle)], [sp.sin(angle), -sp.cos(angle)]])


def planar_label(g: Permutation, m: int) -> tuple[str, int]:
    """("R", j) or ("H", j) for a symmetry of the regular m-gon with vertices k at angles 2πk/m: the
    rotation R(2πj/m) or the reflection H(2πj/m) (θ ↦ 2πj/m − θ) that maps vertex 0 to vertex j."""
    j = g(0)
    return ("R" if g(1 % m) == (j + 1) % m else "H", j)


def compose_planar(a: tuple[str, int], b: tuple[str, int], m: int) -> tuple[str, int]:
    """Label of ρ(a) ρ(b) by the 2-D identities R(α)R(γ) = R(α+γ), R(α)H(γ) = H(α+γ), H(α)R(γ) = H(α−γ),
    H(α)H(γ) = R(α−γ) (claim grazzi.c1.2d_identities proves them symbolically)."""
    (ka, ja), (kb, jb) = a, b
    sign = 1 if ka == "R" else -1
    kind = "R" if ka == kb else "H"
    return kind, (ja + sign * jb) % m


def planar_point(label: int, units: int) -> tuple:
    """(cos bπ/N, sin bπ/N) for label b, N = units, expanded (sympy writes some of these sines and cosines
    as radicals; the expanded form is the one a program file reads back unchanged)."""
    angle = sp.Integer(label) * sp.pi / units
    return (sp.expand(sp.cos(angle)), sp.expand(sp.sin(angle)))


def planar_key(label: int, units: int) -> tuple:
    """The unit normal (−sin aπ/2N, cos aπ/2N) of the mirror of H(aπ/N): I − 2kkᵀ = H(aπ/N)
    (:func:`planar_lemma`), expanded as in :func:`planar_point`."""
    half = sp.Integer(label) * sp.pi / (2 * units)
    return (sp.expand(-sp.sin(half)), sp.expand(sp.cos(half)))


def planar_point_label(vector: tuple, units: int) -> int:
    """The label b (mod 2N) with ``planar_point(b, units) == vector``, located in float64 and confirmed by exact
    (structural) equality; ValueError if there is none."""
    return _planar_label(tuple(vector), units, "point")


def planar_key_label(vector: tuple, units: int) -> int:
    """The label a (mod 2N) with ``planar_key(a, units) == ±vector`` (k and −k give the same reflection),
    located in float64 and confirmed by exact equality; ValueError if there is none."""
    return _planar_label(tuple(vector), units, "key")


@lru_cache(maxsize=1 << 14)
def _planar_label(vector: tuple, units: int, kind: str) -> int:
    """Memoized (the provers ask for the same few labels many times; each costs sympy's evalf and a comparison)."""
    x, y = (float(e) for e in vector)
    if kind == "point":
        maker, label = planar_point, int(round(np.arctan2(y, x) / np.pi * units)) % (2 * units)
    else:
        maker, label = planar_key, int(round(np.arctan2(-x, y) / np.pi * 2 * units)) % (4 * units)
    if tuple(maker(label, units)) != vector:
        raise ValueError(f"planar layer: {vector} is not {maker.__name__}({label}, {units})")
    return label % (2 * units)


@cache
def planar_lemma() -> bool:
    """H(α)(cos φ, sin φ) = (cos(α − φ), sin(α − φ)) with H(α) = I − 2kkᵀ, k = (−sin α/2, cos α/2), for all
    real α, φ — proved by sympy on symbols (every proof on planar labels rests on it)."""
    alpha, phi = sp.symbols("alpha phi", real=True)
    k = sp.Matrix([-sp.sin(alpha / 2), sp.cos(alpha / 2)])
    image = (sp.eye(2) - 2 * k * k.T) * sp.Matrix([sp.cos(phi), sp.sin(phi)])
    target = sp.Matrix([sp.cos(alpha - phi), sp.sin(alpha - phi)])
    return all(sp.simplify(sp.expand_trig(e)) == 0 for e in image - target)


@dataclass(frozen=True, eq=False)
class PlanarRepresentation(Representation):
    """ρ: Z_m, D_m → O(2), ρ(g) = R(2πj/m) or H(2πj/m) by :func:`planar_label`. Its check is exact on the
    labels (integer arithmetic mod m through the proven 2-D identities), which avoids simplifying
    trigonometric numbers."""

    m: int = 0

    def check(self) -> dict:
        g, m = self.group, self.m
        labels = [planar_label(el, m) for el in g.elements]
        if labels[0] != ("R", 0):
            raise ValueError(f"{self.name}: ρ(identity) is not the identity")
        for x in g.generators:
            for i, el in enumerate(g.elements):
                if labels[g.index[el * x]] != compose_planar(planar_label(x, m), labels[i], m):
                    raise ValueError(f"{self.name}: not a homomorphism at generator {x} and element {el}")
        if len(set(labels)) != g.order:
            raise ValueError(f"{self.name}: not injective")
        return {"elements": g.order, "generators": len(g.generators), "dim": 2, "proof": "labels mod m"}


def _planar_rep(group: Group) -> PlanarRepresentation:
    m = group.degree
    mats = []
    for el in group.elements:
        kind, j = planar_label(el, m)
        mats.append((_rotation2 if kind == "R" else _reflection2)(2 * sp.pi * j / m))
    return PlanarRepresentation(group, "O(2)", tuple(mats), m)


def _from_action(group: Group, rotations: list[sp.Matrix], points: list[sp.Matrix], name: str) -> Representation:
    """Identify a rotation group with ``group`` through its action on ``points`` (lines through the origin,
    compared up to sign): each rotation induces a permutation of the points; ρ(π) is the rotation that
    induces π."""

    def induced(r: sp.Matrix) -> Permutation:
        image = []
        for p in points:
            q = r * p
            image.append(next(j for j, s in enumerate(points) if q == s or q == -s))
        return Permutation(image)

    by_perm = {induced(r): r for r in rotations}
    missing = [g for g in group.elements if g not in by_perm]
    if missing:
        raise ValueError(f"{name}: the rotations do not realise {group.name} (e.g. {missing[0]})")
    return Representation(group, name, tuple(by_perm[g] for g in group.elements))


def _closure(generators: list[sp.Matrix]) -> list[sp.Matrix]:
    found, queue = [sp.eye(3)], deque([sp.eye(3)])
    seen = {tuple(sp.eye(3))}
    while queue:
        m = queue.popleft()
        for x in generators:
            h = (x * m).applyfunc(sp.expand)  # entries in ℚ(√5) written a + b√5: expand is canonical
            key = tuple(h)
            if key not in seen:
                seen.add(key)
                found.append(h)
                queue.append(h)
    return found


def _cube_rotations() -> list[sp.Matrix]:
    rz = sp.Matrix([[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    rx = sp.Matrix([[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    return _closure([rz, rx])


def _icosahedral_axes() -> list[sp.Matrix]:
    """The 15 two-fold axes of the icosahedron, unit vectors with entries in ℚ(√5) written a + b√5."""
    phi = (1 + sp.sqrt(5)) / 2
    inv_phi = phi - 1  # 1/φ, written without a denominator so that entries stay a + b√5
    axes = [sp.Matrix(v) for v in ((1, 0, 0), (0, 1, 0), (0, 0, 1))]
    for a, b, c in ((phi, inv_phi, 1), (inv_phi, 1, phi), (1, phi, inv_phi)):
        for s1 in (1, -1):
            for s2 in (1, -1):
                axes.append((sp.Matrix([a, s1 * b, s2 * c]) / 2).applyfunc(sp.expand))
    return axes


def _cube_axes() -> list[sp.Matrix]:
    """Normals of the cube's 9 mirror planes: e_i and (e_i ± e_j)/√2 (the 2-fold axes of its rotations)."""
    axes = [sp.Matrix(v) for v in ((1, 0, 0), (0, 1, 0), (0, 0, 1))]
    for i, j in ((0, 1), (0, 2), (1, 2)):
        for sign in (1, -1):
            v = sp.zeros(3, 1)
            v[i], v[j] = 1 / sp.sqrt(2), sign / sp.sqrt(2)
            axes.append(v)
    return axes


def mirror_axes(group: Group) -> list[sp.Matrix]:
    """Unit normals of mirror planes of the solid whose rotations realise ``group`` in SO(3) (cube for A4
    and S4, icosahedron for A5): every rotation of the group is the product of the reflections across two
    of these planes, so its GH keys stay in ℚ(√2) or ℚ(√5) (no nested radicals)."""
    if group.name in ("S4", "A4"):
        return _cube_axes()
    if group.name == "A5":
        return _icosahedral_axes()
    raise ValueError(f"group: no SO(3) mirror axes for {group.name}")


def _icosahedral_rotations() -> tuple[list[sp.Matrix], list[list[sp.Matrix]]]:
    """The 60 rotations of the icosahedron, generated by products of reflections across planes ⟂ its
    2-fold axes (normals with entries in ℚ(√5)), and the 5 triples of mutually orthogonal 2-fold axes."""
    axes = _icosahedral_axes()
    reflect = [(sp.eye(3) - 2 * n * n.T).applyfunc(sp.expand) for n in axes]
    rotations = _closure([(reflect[0] * r).applyfunc(sp.expand) for r in reflect[1:]])
    triples = []
    for i, a in enumerate(axes):
        for j in range(i + 1, len(axes)):
            for k in range(j + 1, len(axes)):
                b, c = axes[j], axes[k]
                if all(sp.expand(x.dot(y)) == 0 for x, y in ((a, b), (a, c), (b, c))):
                    triples.append([a, b, c])
    return rotations, triples


def orthogonal_rep(group: Group) -> Representation:
    """A faithful exact orthogonal representation of small dimension where one is built in:

    * Z_m, D_m (m ≥ 3) → O(2): the symmetry of the m-gon mapping vertex 0 to vertex j is R(2πj/m) or
      H(2πj/m) (:func:`planar_label`);
    * S_4 → SO(3), the cube's rotations acting on its 4 body diagonals; A_4 → SO(3), the rotations that
      act evenly on them (the tetrahedral group);
    * A_5 → SO(3), the icosahedron's rotations acting on its 5 triples of orthogonal 2-fold axes;
    * Q_8 → SO(4), left multiplication of the quaternions (basis 1, i, j, k) by ±1, ±i, ±j, ±k.

    Other groups are refused (use :func:`permutation_rep`).
    """
    name = group.name
    if re.fullmatch(r"[ZD]\d+", name) and group.degree >= 3:
        return _planar_rep(group)
    if name in ("S4", "A4"):
        rotations = _cube_rotations()
        diagonals = [sp.Matrix(v) for v in ((1, 1, 1), (1, 1, -1), (1, -1, 1), (-1, 1, 1))]
        return _from_action(group, rotations, diagonals, "SO(3)")
    if name == "A5":
        rotations, triples = _icosahedral_rotations()
        return _from_triples(group, rotations, triples)
    if name == "Q8":
        return Representation(group, "SO(4)", tuple(_quaternion_left(g(0)) for g in group.elements))
    raise ValueError(f"group: no built-in orthogonal representation for {name}; use the permutation representation")


def _quaternion_left(point: int) -> sp.Matrix:
    """Left multiplication by the quaternion q = a + bi + cj + dk at ``point`` of _QUATERNIONS, on R⁴ with
    basis 1, i, j, k."""
    name = _QUATERNIONS[point]
    sign, unit = (-1, str(name)[1:]) if str(name).startswith("-") else (1, str(name))
    a, b, c, d = (sign * int(unit == u) for u in ("1", "i", "j", "k"))
    return sp.Matrix([[a, -b, -c, -d], [b, a, -d, c], [c, d, a, -b], [d, -c, b, a]])


def _from_triples(group: Group, rotations: list[sp.Matrix], triples: list[list[sp.Matrix]]) -> Representation:
    def same_line(p: sp.Matrix, q: sp.Matrix) -> bool:
        return all(sp.expand(e) == 0 for e in p - q) or all(sp.expand(e) == 0 for e in p + q)

    def induced(r: sp.Matrix) -> Permutation:
        image = []
        for t in triples:
            moved = [r * a for a in t]
            image.append(next(j for j, u in enumerate(triples) if all(any(same_line(x, y) for y in u) for x in moved)))
        return Permutation(image)

    by_perm = {induced(r): r for r in rotations}
    if any(g not in by_perm for g in group.elements):
        raise ValueError("SO(3): the icosahedral rotations do not realise A5")
    return Representation(group, "SO(3)", tuple(by_perm[g] for g in group.elements))


def running_products(group: Group, words: np.ndarray) -> np.ndarray:
    """The running products of words of element indices, x_1 acting first: ``out[..., t]`` is the index of
    x_1 ⋯ x_t, for an integer array of any shape whose last axis is the position (the labels of the word
    problem, as ``deltaproof export`` writes them)."""
    words = np.asarray(words)
    if words.dtype.kind not in "iu" or (words.size and not (0 <= words.min() and words.max() < group.order)):
        raise ValueError(f"words: expected integer element indices in [0, {group.order}), got {words.dtype} values")
    table, out = group.table, np.empty(words.shape, dtype=np.int64)
    acc = np.zeros(words.shape[:-1], dtype=np.int64)  # the identity is element 0
    for t in range(words.shape[-1]):
        acc = table[acc, words[..., t]]
        out[..., t] = acc
    return out
