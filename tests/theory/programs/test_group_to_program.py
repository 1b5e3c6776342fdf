"""Compiled one-layer programs: exactness, budgets and refusals, serialization, runs through the kernels."""

from __future__ import annotations

import pytest
import sympy as sp

from theory.groups import orthogonal_rep, parse_group, permutation_rep
from theory.programs import BudgetError, Program, compile_group, prove


@pytest.mark.parametrize(
    "spec, rep, n_h, dim",
    [("Z2", "scalar", 1, 1), ("S3", "permutation", 2, 3), ("S4", "permutation", 3, 4), ("S4", "orthogonal", 2, 3),
     ("A5", "orthogonal", 2, 3),
     ("D8", "orthogonal", 2, 2), ("Z12", "orthogonal", 2, 2), ("A4xZ3", "permutation", None, 7)],
)  # fmt: skip
def test_programs_are_exact(spec, rep, n_h, dim):
    program = compile_group(spec, rep=rep)
    group = parse_group(spec)
    assert program.dim == dim and (n_h is None or program.n_h == n_h)
    if rep == "scalar":
        assert [program.factor_product(i) for i in range(2)] == [sp.Matrix([[1]]), sp.Matrix([[-1]])]
        return
    rho = (permutation_rep if rep == "permutation" else orthogonal_rep)(group)
    for i in range(group.order):
        # keys in ℚ, ℚ(√2), ℚ(√5) (SO(3) via mirror normals): expansion decides; O(2) trig needs simplify
        assert all(sp.expand(e) == 0 or sp.simplify(e) == 0 for e in program.factor_product(i) - rho.matrices[i])
        assert all(b in (0, 2) for b in program.betas[i])
    assert program.min_readout_distance_squared() > 0


def test_auto_picks_the_smallest_budget():
    assert compile_group("S4").representation == "orthogonal"  # n_h = 2 in SO(3) beats 3 for permutations
    assert compile_group("S3").representation == "permutation"  # S3 has no built-in O(2) rep; D3 does
    assert compile_group("D3").representation == "orthogonal"
    assert compile_group("Z2").representation == "scalar"
    assert compile_group("S4", n_h=5).n_h == 5  # padded with β = 0 factors


@pytest.mark.parametrize(
    "spec, n_h, rep, match",
    [("Z3", 1, "auto", "Theorem 2"), ("Z3", 1, "permutation", "Theorem 2"), ("S4", 1, "auto", "rank"),
     ("S5", 3, "permutation", "needs n_h ≥ 4")],
)  # fmt: skip
def test_budgets_below_the_theory_are_refused_with_the_theorem(spec, n_h, rep, match):
    with pytest.raises(BudgetError, match=match):
        compile_group(spec, n_h=n_h, rep=rep)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(rep="qr"), "rep: expected one of"), (dict(n_h=0), "n_h: expected a positive integer"),
     (dict(rep="scalar"), "Z2 only")],
)  # fmt: skip
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compile_group("S3", **kwargs)


@pytest.mark.parametrize("spec", ["S3", "D8", "Z2"])
def test_json_round_trip_is_exact(spec):
    program = compile_group(spec)
    again = Program.from_json(program.to_json())
    assert again == program
    with pytest.raises(ValueError, match="deltaproof.program/2"):
        Program.from_json('{"format": "other"}')


def test_the_group_proof_is_exact_and_catches_a_wrong_factor():
    """prove (group method): exact products and a positive margin for compiled programs; a program with one
    factor's β changed (2 → 0), nonzero values or another decoder is refused, naming what is wrong."""
    import dataclasses

    for spec in ("Z2", "S3", "A4"):
        proof = prove(compile_group(spec))
        order = parse_group(spec).order
        assert proof.holds and proof.failure is None and proof.margin > 0 and proof.transitions == order
    program = compile_group("S3")
    betas = [list(b) for b in program.betas]
    betas[1][0] = sp.Integer(0)
    layer = dataclasses.replace(program.layer, betas=tuple(tuple(b) for b in betas))
    broken = prove(dataclasses.replace(program, layers=(layer,)))
    assert not broken.holds and broken.failure.startswith("symbol 1:")
    values = tuple((sp.Integer(1),) * program.n_h for _ in program.keys)
    moved = prove(dataclasses.replace(program, layers=(dataclasses.replace(program.layer, values=values),)))
    assert not moved.holds and "zero values" in moved.failure
    swapped = prove(dataclasses.replace(program, decoder=(1, 0, *program.decoder[2:])))
    assert not swapped.holds and "decodes readout g to element g" in swapped.failure
    with pytest.raises(TypeError, match="program: expected a compiled Program"):
        prove("S3")
    with pytest.raises(ValueError, match="method: expected one of"):
        prove(program, method="guess")


def test_the_group_proof_refuses_an_anti_homomorphism(monkeypatch):
    """With the permutation matrices transposed (P(π)ᵀ = P(π⁻¹), so ρ(π∘σ) = ρ(σ)ρ(π): an anti-homomorphism) the
    compiled program's factors still multiply to the library's ρ, so comparing them with ρ alone proves nothing;
    the proof first checks that ρ is a representation and fails there, naming it."""
    from theory import groups

    transposed = groups.permutation_matrix
    monkeypatch.setattr(groups, "permutation_matrix", lambda perm: transposed(perm).T)
    proof = prove(compile_group("S3", rep="permutation"))
    assert not proof.holds
    assert proof.failure.startswith("the representation is not one: permutation: not a homomorphism")


@pytest.mark.parametrize(
    "expr, zero",
    [
        (sp.sqrt(2) * sp.sqrt(3) - sp.sqrt(6), True),  # expansion decides it
        (-sp.cos(3 * sp.pi / 7) + sp.sin(sp.pi / 14), True),  # only the minimal polynomial decides it
        (sp.sqrt(5) - 2, False),  # evalf decides it: 0.236
        (sp.Rational(1, 10**15), False),  # below evalf's 1e-12: the exact way decides it
        (sp.sqrt(2) - sp.Rational(14142135623731, 10**13), False),  # 4.9e-14, irrational
        (1 - sp.sqrt(3) ** 2 / 3, True),
    ],
)
def test_is_zero_is_exact_near_zero_and_quick_away_from_it(expr, zero):
    """evalf decides only values above 1e-12 (with no threshold, tried, the cos/sin zero, which evalf leaves at
    a residue, is called nonzero)."""
    from theory.programs.ir import is_zero

    assert is_zero(expr) is zero
