"""Character tables and the least number of Householder factors of one-layer orthogonal constructions."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from theory.characters import character_table, fixed_dimension, least_householder_factors
from theory.groups import orthogonal_rep, parse_group, permutation_rep

Q8 = "Q8"


@pytest.mark.parametrize(
    "spec, degrees",
    [("S3", [1, 1, 2]), ("S4", [1, 1, 2, 3, 3]), ("A5", [1, 3, 3, 4, 5]), ("Z5", [1] * 5), (Q8, [1, 1, 1, 1, 2]),
     ("S5", [1, 1, 4, 4, 5, 5, 6])],
)  # fmt: skip
def test_degrees_are_the_textbook_ones(spec, degrees):
    table = character_table(parse_group(spec))
    assert sorted(np.rint(table.characters[:, table.class_of[0]].real).astype(int).tolist()) == degrees


def test_indicators_split_real_complex_and_quaternionic():
    assert sorted(r.indicator for r in character_table(parse_group(Q8)).real_irreducibles) == [-1, 1, 1, 1, 1]
    z3 = character_table(parse_group("Z3")).real_irreducibles
    assert sorted((r.dim, r.indicator) for r in z3) == [(1, 1), (2, 0)]  # the pair ω, ω̄ makes one rotation plane


@pytest.mark.parametrize("spec", ["S4", "A5", "D6"])
def test_moved_dimensions_match_exact_ranks_of_the_built_in_representation(spec):
    group = parse_group(spec)
    rep = orthogonal_rep(group)
    table = character_table(group)
    trace = [float(sp.N(sp.trace(m))) for m in rep.matrices]
    (irrep,) = [r for r in table.real_irreducibles if np.allclose(table.on_elements(r.character), trace)]
    assert [int(x) for x in irrep.moved] == [rep.dim - fixed_dimension(m) for m in rep.matrices]


def test_permutation_representation_moves_n_minus_cycles():
    group = parse_group("S4")
    rep = permutation_rep(group)
    assert [4 - fixed_dimension(m) for m in rep.matrices] == [4 - len(g.full_cyclic_form) for g in group.elements]


@pytest.mark.parametrize(
    "spec, n_h, dim",
    [("Z2", 1, 1), ("Z7", 2, 2), ("S3", 2, 2), ("S4", 2, 3), ("A5", 2, 3), ("S5", 4, 4), (Q8, 4, 4),
     ("Z2xZ2xZ2", 3, 3), ("Z3xZ3", 4, 4)],
)  # fmt: skip
def test_least_householder_factors(spec, n_h, dim):
    """Hand-derived: −I ∈ Z2³ ⊂ O(3) has rank 3; Q8's only faithful real irreducible is H (every ±i, ±j, ±k, −1
    fixes no quaternion); Z3 × Z3 needs two rotation planes and (1, 1) turns both."""
    bound = least_householder_factors(parse_group(spec))
    assert (bound.n_h, bound.dim) == (n_h, dim)


def test_bad_dimension_is_refused_by_name():
    with pytest.raises(ValueError, match="max_dim: expected a positive integer, got 0"):
        least_householder_factors(parse_group("S3"), max_dim=0)


def test_no_faithful_representation_in_the_dimension_is_refused():
    with pytest.raises(ValueError, match="no faithful orthogonal representation of dimension ≤ 3"):
        least_householder_factors(parse_group(Q8), max_dim=3)


def test_orthogonal_theorem_uses_so_of_odd_dimension():
    """A4 and S4 act on R³ by rotations (SO(3), n = 3 odd): the theorem gives n − 1 = 2; S4 × Z2 contains −I
    (det −1), so its 3-dimensional representation is in O(3) only: 3."""
    assert least_householder_factors(parse_group("S4")).orthogonal_theorem == 2
    assert least_householder_factors(parse_group("S4xZ2")).orthogonal_theorem == 3
