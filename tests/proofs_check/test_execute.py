"""Program → kernel → decode: every program through the kernels, decoded from the kernel's outputs only."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import sympy as sp
import torch

import proofs_check.execute as execute
from proofs_check.execute import random_words, simulate
from theory.groups import parse_group
from theory.programs import compile_group, compile_layers


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


@pytest.mark.parametrize("spec", ["Z7", "D5"])
def test_long_words_through_the_float64_reference_kernel(spec):
    program = compile_layers(spec, layers=2)
    run = simulate(program, random_words(parse_group(spec).order, 1, 10_000, seed=2))
    assert run.accuracy == 1.0 and run.first_error is None
    # float64: 10⁴ steps of O(1) roundings each, far inside the margins (≥ 0.15)
    assert run.max_state_error < 1e-9


@pytest.mark.parametrize("spec", ["Z5", "D4"])
def test_every_layer_runs_through_the_triton_kernel(spec):
    program = compile_layers(spec, layers=2)
    run = simulate(program, random_words(parse_group(spec).order, 1, 500, seed=3), dtype=torch.float32,
                   backend="triton")  # fmt: skip
    assert run.accuracy == 1.0
    # fp32: 500 steps × a few roundings of u = 6e-8 on unit vectors
    assert run.max_state_error < 500 * 8 * 6e-8


def test_decoding_uses_the_kernel_outputs(monkeypatch):
    """Perturbing what the kernel returns must change the decode: nothing is recomputed beside it."""
    program = compile_layers("Z3", layers=2)
    words = random_words(3, 1, 50, seed=1)
    real = execute.kernel_states
    monkeypatch.setattr(execute, "kernel_states", lambda *a: -real(*a))
    run = simulate(program, words)
    assert run.accuracy < 1.0 and run.first_error is not None and np.isfinite(run.max_state_error)
    # per position: one word, so each entry is 0 or 1; the first wrong position is the first 0
    by_position = run.accuracy_by_position
    assert by_position.shape == (50,) and set(np.unique(by_position)) <= {0.0, 1.0}
    assert int(np.argmin(by_position)) == run.first_error and by_position.mean() == run.accuracy


def test_a_non_finite_upper_layer_shows_in_the_state_error(monkeypatch):
    """A layer whose kernel outputs turn NaN (a blown-up state) must not vanish from max_state_error
    behind the exact layers below it (Python's max(0.0, nan) is 0.0)."""
    program = compile_layers("D4", layers=2)
    words = random_words(8, 1, 40, seed=2)
    real = execute.kernel_states
    calls = []

    def second_layer_nan(*args):
        calls.append(1)
        states = real(*args)
        return np.full_like(states, np.nan) if len(calls) == 2 else states

    monkeypatch.setattr(execute, "kernel_states", second_layer_nan)
    assert np.isnan(simulate(program, words).max_state_error)


def test_cli_simulate_two_layers(tmp_path):
    from proofs_check.cli import main

    out = tmp_path / "z3.json"
    args = ["simulate", "--group", "Z3", "--nh", "1", "--layers", "2", "--length", "2000", "--json", str(out)]
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert result["layers"] == 2 and result["n_h"] == [1, 1] and result["state_dim"] == [1, 2]
    assert result["rep"] == "thm6" and "Theorem 6" in result["theorem"] and result["accuracy"] == 1.0


@pytest.mark.parametrize("spec, layers", [("S4", 3), ("S5", 4)])
def test_symmetric_programs_through_the_float64_reference(spec, layers):
    program = compile_layers(spec, layers=layers)
    run = simulate(program, random_words(parse_group(spec).order, 1, 3000, seed=4))
    assert run.accuracy == 1.0 and run.max_state_error < 1e-9


def test_symmetric_program_through_the_triton_kernel():
    program = compile_layers("S3", layers=3)
    run = simulate(program, random_words(6, 1, 200, seed=5), dtype=torch.float32, backend="triton")
    # fp32: integer buffer entries ≤ 6 and unit rotations, 200 steps of a few roundings of u = 6e-8
    assert run.accuracy == 1.0 and run.max_state_error < 200 * 8 * 6e-8 * 6


def test_cli_simulate_symmetric_reports_the_table_size(tmp_path):
    from proofs_check.cli import main

    out = tmp_path / "s4.json"
    assert main(["simulate", "--group", "S4", "--layers", "4", "--length", "500", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n_h"] == [1, 1, 1, 1] and result["state_dim"] == [1, 2, 8, 4] and result["accuracy"] == 1.0
    assert result["lookup_table_size"] == 8 * 24**8
    assert main(["simulate", "--group", "S4", "--layers", "3", "--nh", "1", "--length", "5"]) == 3


@pytest.mark.parametrize(
    "backend, dtype, length, rel",
    # triton: the same blocks and summation order at either width, so the same roundings (rel 1e-6 allows
    # only the print precision); reference: torch's CPU products choose their blocking by the matrix width,
    # so the fp32 sums round in another order (this machine's BLAS: 1.18e-4 against 1.11e-4 after 3000 steps)
    # and only the error's size is comparable
    [("reference", torch.float32, 3000, 0.25), ("triton", torch.float16, 64, 1e-6)],
)
def test_padding_the_state_width_changes_nothing(backend, dtype, length, rel):
    """Zero coordinates and heads added to reach a common width leave every read-out state as it was: the
    padded keys, queries and initial state are 0 there, so they only add exact zeros to the kernel's sums."""
    for spec, program in (("D4", compile_layers("D4", layers=2)), ("S3", compile_group("S3", rep="permutation"))):
        words = random_words(parse_group(spec).order, 2, length, seed=5)
        plain = simulate(program, words, dtype=dtype, backend=backend)
        wide = simulate(program, words, dtype=dtype, backend=backend, width=8)
        assert wide.first_error == plain.first_error and wide.accuracy == plain.accuracy
        assert wide.max_state_error == pytest.approx(plain.max_state_error, rel=rel, abs=1e-6)
    with pytest.raises(ValueError, match="width: expected a positive integer"):
        simulate(program, words, width=0)


INTEGRATION = [
    *[(spec, 1, rep) for spec, rep in [("Z2", "scalar"), ("S3", "permutation"), ("S4", "permutation"),
                                       ("S4", "orthogonal"), ("D4", "orthogonal"), ("Z5", "orthogonal"),
                                       ("Z7", "orthogonal"), ("A4", "orthogonal"), ("A5", "orthogonal")]],
    *[(spec, layers, None) for spec, layers in [("Z3", 2), ("Z6", 2), ("D3", 2), ("D4", 2), ("S3", 3), ("S3", 4),
                                                ("S4", 3)]],
]  # fmt: skip


@pytest.mark.parametrize("spec, layers, rep", INTEGRATION, ids=lambda v: str(v))
@pytest.mark.parametrize("length", [0, 1, 9])
def test_every_compiled_program_agrees_with_the_interpreter_through_the_kernel(spec, layers, rep, length):
    """tracr's integration test for our stages: each compiled program is interpreted exactly
    (theory.programs.interpret.run steps every layer's keys, betas and values in sympy or on angle labels)
    and run through the float64 reference kernel on the same words. The interpreter must decode the
    running product at every position (an independent group computation), the kernel must decode the
    same, and the kernel's states must equal the interpreter's exact states up to float64 rounding:
    ≤ 32 u per token (u = 2⁻⁵³ ≈ 1.1e-16; a few sub-steps, each a dot product of ≤ 8 terms, on states of
    norm ≤ 10), so 1e-12 over 9 tokens."""
    from theory.programs import run

    program = compile_group(spec, rep=rep) if layers == 1 else compile_layers(spec, layers=layers)
    group = parse_group(spec)
    words = random_words(group.order, 2, length, seed=length + 7)
    exact = run(program, words)
    for w in range(words.shape[0]):
        assert list(exact.elements[w]) == [group.product(words[w, : t + 1]) for t in range(length)]
    fast = execute.exact_run(program, words)  # one-layer programs: the orbit of the running product
    assert np.array_equal(fast.products, exact.elements)
    assert all(np.array_equal(a, b) for a, b in zip(fast.layer_states, exact.states, strict=True))
    interpreted = execute.Exact(products=exact.elements, layer_states=exact.states)
    result = simulate(program, words, exact=interpreted)
    assert result.accuracy == 1.0 and result.first_error is None
    assert result.max_state_error <= 1e-12
