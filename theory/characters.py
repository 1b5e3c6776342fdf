"""Characters of finite groups and what they say about one-layer constructions: how many Householder factors
(n_h) an orthogonal representation needs.

A one-layer construction whose transition for the input g is ρ(g), ρ a faithful orthogonal representation,
needs n_h ≥ rank(I − ρ(g)) for every input g: a product of n_h generalized Householder matrices differs from
I by a matrix of rank ≤ n_h. Over every element (the word problem with all elements as inputs) that is
max_g rank(I − ρ(g)) = dim ρ − min_g dim Fix ρ(g), and for one element, by averaging ρ over the cyclic
group ⟨g⟩ (the projection onto the fixed space), dim Fix ρ(g) = (1/|g|) Σ_{j<|g|} χ(g^j). A real
representation is a sum of real irreducible ones, and both rank and faithfulness (the intersection of the
summands' kernels is trivial) are read off their characters: so the least n_h over all faithful orthogonal
representations of dimension ≤ n is a finite search over multisets of real irreducible characters.

The complex characters come from the class algebra (Burnside's method, as Dixon's algorithm starts): the
class sums C_j multiply as C_j C_k = Σ_l c_jkl C_l, and ω_k = |C_k| χ(g_k)/χ(1) is a common eigenvector of
the matrices (c_jkl)_kl, found as the eigenvectors of one random combination; χ(1)² = |G| / Σ_k |ω_k|²/|C_k|.
Computed in floating point, then **certified**: degrees and every fixed-space dimension and multiplicity must
be integers to 1e-9, the rows orthonormal, Σ χ(1)² = |G|, Frobenius–Schur indicators in {−1, 0, 1}; anything
else raises. Real irreducible characters: χ (indicator 1), χ + χ̄ (indicator 0, twice the degree), 2χ
(indicator −1, quaternionic). Written here rather than taken from a library because neither sympy nor
numpy/scipy computes character tables; the groups are small (order ≤ 120 in the claims).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp

from theory.groups import Group

__all__ = [
    "RealIrreducible",
    "CharacterTable",
    "character_table",
    "Bound",
    "least_householder_factors",
    "fixed_dimension",
]

_TOLERANCE = 1e-9


def _integer(x, what: str) -> np.ndarray:
    """Round values that must be integers, refusing any further than 1e-9 from one."""
    x = np.asarray(x)
    rounded = np.rint(x.real)
    if np.abs(x - rounded).max(initial=0.0) > _TOLERANCE:
        raise ArithmeticError(f"character table: {what} not integral (off by {np.abs(x - rounded).max():.2e})")
    return rounded.astype(np.int64)


@dataclass(frozen=True)
class RealIrreducible:
    """A real irreducible representation, through its character: ``dim``, ``kernel`` (element indices),
    ``moved[g]`` = rank(I − ρ(g)) = dim − dim Fix ρ(g), ``negated[g]`` = multiplicity of the eigenvalue −1
    (so det ρ(g) = (−1)^negated[g]), ``indicator`` (Frobenius–Schur) of the complex character it comes from."""

    name: str
    dim: int
    indicator: int
    character: np.ndarray
    kernel: frozenset[int]
    moved: np.ndarray
    negated: np.ndarray


@dataclass(frozen=True, eq=False)
class CharacterTable:
    """The complex irreducible characters of a group (rows; columns its conjugacy classes) and its real
    irreducible representations."""

    group: Group
    class_of: np.ndarray
    characters: np.ndarray

    @property
    def classes(self) -> int:
        return self.characters.shape[1]

    @cached_property
    def powers(self) -> list[list[int]]:
        """For each element g, the indices of g^0, g^1, …, g^(|g|−1)."""
        table, out = self.group.table, []
        for g in range(len(self.group.elements)):
            seq = [0]
            while (nxt := int(table[seq[-1], g])) != 0:
                seq.append(nxt)
            out.append(seq)
        return out

    def on_elements(self, character: np.ndarray) -> np.ndarray:
        """A class function's values on every element."""
        return character[self.class_of]

    @cached_property
    def real_irreducibles(self) -> list[RealIrreducible]:
        order, table = len(self.group.elements), self.group.table
        squares = self.class_of[table[np.arange(order), np.arange(order)]]
        out, done = [], set()
        for i, row in enumerate(self.characters):
            if i in done:
                continue
            indicator = int(_integer(row[squares].sum() / order, "a Frobenius–Schur indicator"))
            if indicator == 0:
                partner = int(np.argmin(np.abs(self.characters - row.conj()).sum(axis=1)))
                done.add(partner)
                real = 2 * row.real
            else:
                real = row.real * (2 if indicator < 0 else 1)
            out.append(self._real(f"ρ{len(out)}", real, indicator))
        return out

    def _real(self, name: str, character: np.ndarray, indicator: int) -> RealIrreducible:
        values = self.on_elements(character)
        dim = int(_integer(values[0], "a degree"))
        fixed = _integer([values[p].sum() / len(p) for p in self.powers], "a fixed-space dimension")
        signs = [np.array([(-1) ** j for j in range(len(p))]) for p in self.powers]
        negated = _integer([(values[p] * s).sum() / len(p) if len(p) % 2 == 0 else 0 for p, s in
                            zip(self.powers, signs)], "a −1 eigenspace dimension")  # fmt: skip
        kernel = frozenset(int(g) for g in np.flatnonzero(np.abs(values - dim) < 1e-6))
        return RealIrreducible(name, dim, indicator, character, kernel, dim - fixed, negated)


def character_table(group: Group, *, seed: int = 0) -> CharacterTable:
    """The character table of a group (enumerated: check its order first), certified as the module says."""
    table = group.table
    order = len(table)
    inverse = np.argmax(table == 0, axis=1)
    class_of = np.full(order, -1)
    count = 0
    for x in range(order):
        if class_of[x] < 0:
            class_of[table[table[inverse, x], np.arange(order)]] = count  # every g⁻¹ x g
            count += 1
    sizes = np.bincount(class_of)
    products = np.zeros((count, count, count))
    x, y = np.meshgrid(np.arange(order), np.arange(order), indexing="ij")
    np.add.at(products, (class_of[x], class_of[y], class_of[table[x, y]]), 1)
    constants = products / sizes[None, None, :]  # c_jkl: pairs (x ∈ C_j, y ∈ C_k) with xy = a fixed z ∈ C_l
    weights = np.random.default_rng(seed).standard_normal(count)
    _, vectors = np.linalg.eig(np.einsum("j,jkl->kl", weights, constants))
    omega = vectors / vectors[class_of[0], :][None, :]  # ω at the identity's class is 1
    degrees = np.sqrt(order / (np.abs(omega) ** 2 / sizes[:, None]).sum(axis=0))
    characters = (degrees[None, :] * omega / sizes[:, None]).T
    characters = characters[np.argsort(_integer(degrees, "a degree"), kind="stable")]
    gram = (characters * sizes) @ characters.conj().T / order
    degrees = _integer(characters[:, class_of[0]], "a degree")
    if np.abs(gram - np.eye(count)).max() > _TOLERANCE or (degrees**2).sum() != order:
        raise ArithmeticError(f"character table of {group.name}: the rows are not orthonormal")
    return CharacterTable(group, class_of, characters)


@dataclass(frozen=True)
class Bound:
    """What the search over faithful orthogonal representations of dimension ≤ ``max_dim`` found: ``n_h``, the
    least max_g rank(I − ρ(g)), a representation reaching it (``summands``, names of real irreducibles with
    multiplicity) and its ``dim``; ``least_dim``, the smallest dimension of any faithful one; ``by_dim``, the
    least n_h in each dimension that has a faithful one; ``orthogonal_theorem``, the best n_h that the
    "subgroup of O(n)" theorem gives over these representations: n, or n − 1 where n is odd and ρ lies in
    SO(n) (Siems et al. 2025, Thm 4)."""

    n_h: int
    summands: tuple[str, ...]
    dim: int
    least_dim: int
    by_dim: dict[int, int]
    orthogonal_theorem: int


def least_householder_factors(group: Group, max_dim: int = 6) -> Bound:
    """The least max_g rank(I − ρ(g)) over faithful orthogonal representations ρ of dimension ≤ ``max_dim``
    without trivial summands (a trivial summand adds a dimension and no rank), by exhaustive search over
    multisets of real irreducible characters. Raises ValueError when there is none of that dimension."""
    if not isinstance(max_dim, int) or isinstance(max_dim, bool) or max_dim < 1:
        raise ValueError(f"max_dim: expected a positive integer, got {max_dim!r}")
    table = character_table(group)
    irreps = [r for r in table.real_irreducibles if len(r.kernel) < len(group.elements)]
    elements = range(len(group.elements))
    best: dict[int, tuple[int, tuple[str, ...]]] = {}
    theorem = None
    for size in range(1, max_dim + 1):
        for combo in itertools.combinations_with_replacement(irreps, size):
            dim = sum(r.dim for r in combo)
            if dim > max_dim or frozenset.intersection(*(r.kernel for r in combo)) != {0}:
                continue
            moved = int(max(sum(r.moved[g] for r in combo) for g in elements))
            in_so = all(sum(r.negated[g] for r in combo) % 2 == 0 for g in elements)
            theorem = min(theorem or dim, dim - 1 if dim % 2 and in_so else dim)
            if dim not in best or moved < best[dim][0]:
                best[dim] = (moved, tuple(r.name for r in combo))
    if not best:
        raise ValueError(f"group: {group.name} has no faithful orthogonal representation of dimension ≤ {max_dim}")
    n_h = min(v[0] for v in best.values())
    dim = min(d for d, v in best.items() if v[0] == n_h)
    return Bound(n_h, best[dim][1], dim, min(best), {d: v[0] for d, v in sorted(best.items())}, theorem)


def fixed_dimension(matrix) -> int:
    """dim Fix M = dim ker(I − M) of an exact (sympy) matrix: the independent check of the characters."""
    return matrix.rows - (sp.eye(matrix.rows) - matrix).rank(simplify=True)
