"""Compiled one-layer programs: exactness, budgets and refusals, serialization, runs through the kernels."""

from __future__ import annotations

import csv
import json

import pytest
import sympy as sp
import torch

from proofs_check.simulate import random_words, simulate
from theory.constructions import BudgetError, Program, compile_group
from theory.groups import orthogonal_rep, parse_group, permutation_rep


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


def test_cli_simulate_writes_the_result_object(tmp_path):
    from proofs_check.cli import main

    out = tmp_path / "sim.json"
    assert main(["simulate", "--group", "D8", "--length", "3000", "--words", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    expected = {"group", "order", "rep", "layers", "n_h", "state_dim", "theorem", "length", "words", "dtype",
                "backend", "accuracy", "first_error", "max_state_error"}  # fmt: skip
    assert expected <= set(result)
    assert (
        result["order"] == 16 and result["n_h"] == [2] and result["accuracy"] == 1.0 and result["first_error"] is None
    )


def test_cli_simulate_refuses_with_the_theorem(capsys):
    from proofs_check.cli import main

    assert main(["simulate", "--group", "Z3", "--nh", "1", "--length", "5"]) == 3
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("deltaproof simulate: error: --nh: refused:") and "Theorem 2" in err
    assert err.count("\n") == 1  # one line on stderr
    assert main(["simulate", "--group", "S4", "--length", "5", "--layers", "2"]) == 2
    assert capsys.readouterr().err.startswith("deltaproof simulate: error: --group: S4 has no two-layer construction")


def test_export_matches_the_group_and_the_format(tmp_path):
    from proofs_check.cli import main

    out = tmp_path / "s3.csv"
    assert (
        main(["export", "--group", "S3", "--length", "3", "--samples", "1000", "--seed", "4", "--out", str(out)]) == 0
    )
    rows = list(csv.DictReader(out.open()))
    group = parse_group("S3")
    assert len(rows) == 6**3  # fewer words exist than samples asked: all of them
    for row in rows[:50]:
        word = [int(x) for x in row["input"].split()]
        targets = [int(x) for x in row["target"].split()]
        assert targets == [group.product(word[: t + 1]) for t in range(3)] and row["seed"] == "4"
    assert main(["export", "--group", "A5", "--length", "6", "--samples", "40", "--out", str(out)]) == 0
    words = [r["input"] for r in csv.DictReader(out.open())]
    assert len(words) == len(set(words)) == 40


def test_prove_program_is_exact_and_catches_a_wrong_factor():
    """prove_program: exact products and a positive margin for compiled programs; a program with one
    factor's β changed (2 → 0) is refused, naming the symbol."""
    import dataclasses

    from theory.constructions import prove_program

    for spec in ("Z2", "S3", "A4"):
        proof = prove_program(compile_group(spec))
        assert proof.holds and proof.failure is None and proof.margin > 0 and proof.symbols == parse_group(spec).order
    program = compile_group("S3")
    betas = [list(b) for b in program.betas]
    betas[1][0] = sp.Integer(0)
    broken = prove_program(dataclasses.replace(program, betas=tuple(tuple(b) for b in betas)))
    assert not broken.holds and broken.failure.startswith("symbol 1:")
    with pytest.raises(TypeError, match="program: expected a compiled one-layer Program"):
        prove_program("S3")
