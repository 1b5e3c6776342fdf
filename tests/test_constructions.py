"""Compiled one-layer programs: exactness, budgets and refusals, serialization, runs through the kernels."""

from __future__ import annotations

import pytest
import sympy as sp
import torch

from proofs_check.simulate import random_words, simulate
from theory.constructions import BudgetError, Program, compile_group
from theory.groups import orthogonal_rep, parse_group, permutation_rep


@pytest.mark.parametrize(
    "spec, rep, n_h, dim",
    [("Z2", "scalar", 1, 1), ("S3", "permutation", 2, 3), ("S4", "permutation", 3, 4), ("S4", "orthogonal", 2, 3),
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
        assert all(sp.simplify(e) == 0 for e in program.factor_product(i) - rho.matrices[i])
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
    with pytest.raises(ValueError, match="deltaproof.program/1"):
        Program.from_json('{"format": "other"}')


@pytest.mark.parametrize("spec", ["Z2", "S3", "S4", "D8", "Z12"])
def test_reference_float64_tracks_ten_thousand_tokens(spec):
    program = compile_group(spec)
    run = simulate(program, random_words(len(program.keys), 1, 10_000, seed=0))
    assert run.accuracy == 1.0 and run.first_error is None
    assert run.max_state_error < 1e-9  # float64: 10⁴ products of orthogonal factors, error grows like √T·u


def test_triton_interpreter_float32_tracks_five_hundred_tokens():
    program = compile_group("S4")
    run = simulate(program, random_words(24, 1, 500, seed=1), dtype=torch.float32, backend="triton")
    assert run.accuracy == 1.0
    margin = float(sp.sqrt(program.min_readout_distance_squared())) / 2
    assert run.max_state_error < margin


def test_simulate_rejects_bad_words():
    program = compile_group("S3")
    with pytest.raises(ValueError, match="words: expected"):
        simulate(program, [[0, 6]])
