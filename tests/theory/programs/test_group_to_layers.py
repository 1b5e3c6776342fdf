"""Multi-layer programs: compile, prove exactly, round-trip, refuse, and run through the kernels."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.groups import parse_group, planar_lemma
from theory.programs import Program, block_period, compile_group, compile_layers, lookup_table_size, prove, prove_blocks


def test_the_planar_reflection_lemma_holds_symbolically():
    assert planar_lemma()


@settings(max_examples=8, deadline=None)
@given(st.sampled_from([f"Z{m}" for m in range(2, 10)] + [f"D{m}" for m in range(3, 9)]))
def test_every_two_layer_program_is_proved_for_all_words(spec):
    program = compile_layers(spec, layers=2)
    proof = prove(program)
    order = parse_group(spec).order
    assert proof.holds and proof.failure is None
    # reachable configurations: (parity, layer-2 point, product); the point determines the product
    assert proof.states == 2 * order
    assert all(m > 0 for m in proof.margins)
    assert [layer.n_h for layer in program.layers] == [1, 1] and [layer.dim for layer in program.layers] == [1, 2]
    assert all(b in (0, 2) for layer in program.layers for bs in layer.betas for b in bs)


def test_the_thm6_layers_are_the_papers():
    """Layer 1 is h ← −h + 1 (value ½ with β = 2, so B ≠ 0); layer 2's mirrors are θ(i, p) of Theorem 6."""
    program = compile_layers("Z5", layers=2)
    parity, rotate = program.layers
    assert parity.values[0] == (sp.Rational(1, 2),) and parity.initial_state == (0,)
    m = 5
    for p in (0, 1):
        for i in range(m):  # Z5's pinned order is not the label order: find the element with label i
            x = [j for j, g in enumerate(parse_group("Z5").elements) if g(0) == i][0]
            theta = (1 - 2 * i if p else 1 + 2 * i) * np.pi / m
            k = np.array([float(e) for e in rotate.keys[x + m * p][0]])
            mirror = np.eye(2) - 2 * np.outer(k, k)  # = H(θ) = [[cos θ, sin θ], [sin θ, −cos θ]]
            expected = np.array([[np.cos(theta), np.sin(theta)], [np.sin(theta), -np.cos(theta)]])
            assert np.abs(mirror - expected).max() < 1e-15 * 8


def test_the_prover_finds_broken_programs():
    program = compile_layers("Z5", layers=2)
    parity, rotate = program.layers
    wrong_key = rotate.keys[:3] + (rotate.keys[4],) + rotate.keys[4:]
    broken = dataclasses.replace(program, layers=(parity, dataclasses.replace(rotate, keys=wrong_key)))
    proof = prove(broken)
    assert not proof.holds and "decodes to" in proof.failure
    off = dataclasses.replace(parity, values=((sp.Integer(1),),) * 5)  # h ← −h + 2 leaves {0, 1}
    proof = prove(dataclasses.replace(program, layers=(off, rotate)))
    assert not proof.holds and "not one of the readouts" in proof.failure
    shifted = dataclasses.replace(program, decoder=program.decoder[1:] + program.decoder[:1])
    assert not prove(shifted).holds


@pytest.mark.parametrize("spec", ["Z12", "D7"])
def test_json_round_trip_is_exact(spec):
    program = compile_layers(spec, layers=2)
    text = program.to_json()
    assert json.loads(text)["format"] == "deltaproof.program/2"
    assert Program.from_json(text) == program
    with pytest.raises(ValueError, match="deltaproof.layered/1"):  # the formats it reads are listed
        Program.from_json(json.dumps({"format": "other"}))


def test_groups_and_depths_without_a_construction_are_refused():
    with pytest.raises(ValueError, match="no two-layer construction"):
        compile_layers("S4", layers=2)
    with pytest.raises(ValueError, match="n_h"):
        compile_layers("Z3", layers=2, n_h=0)


@pytest.mark.parametrize(
    "build", [lambda: compile_layers("D5", layers=2), lambda: compile_group("A4", rep="orthogonal")]
)
def test_safetensors_round_trip_is_exact_and_checked(tmp_path, build):
    from safetensors.numpy import load_file, save_file

    from theory.programs import tensors

    program = build()
    path = tmp_path / "program.safetensors"
    tensors.save(program, path)
    assert tensors.load(path) == program
    arrays = load_file(str(path))
    first = program.layers[0]
    assert arrays["layer0.keys"].dtype == np.float64
    assert arrays["layer0.keys"].shape == (len(first.keys), first.n_h, first.dim)
    assert np.array_equal(arrays["layer0.readouts"], np.array(first.readouts, dtype=object).astype(float))
    arrays["layer0.betas"][0, 0] += 1e-3  # an edited tensor is refused
    save_file(arrays, str(path), metadata={"program": program.to_json()})
    with pytest.raises(ValueError, match="not the float64 rounding"):
        tensors.load(path)
    save_file(arrays, str(path))
    with pytest.raises(ValueError, match="no 'program' metadata"):
        tensors.load(path)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_the_block_constants_follow_the_theorem(n):
    m = int(np.ceil(np.log2(n - 1))) + 1
    assert block_period(n) == 2**m and block_period(n) // 2 >= n - 1
    assert lookup_table_size(n) == 2**m * int(np.prod(range(1, n + 1))) ** (2**m)


@pytest.mark.parametrize("layers, n_h", [(3, [2, 1, 1]), (4, [1, 1, 1, 1])])
def test_symmetric_programs_have_the_theorems_shape(layers, n_h):
    program = compile_layers("S4", layers=layers)
    assert [layer.n_h for layer in program.layers] == n_h
    buffer, swap = program.layers[-2:]
    assert buffer.dim == block_period(4) == 8 and swap.dim == 4
    assert all(b == (1,) for b in buffer.betas)  # projections: eigenvalue 0 on the written slot
    assert all(b in ((0,), (2,)) for b in swap.betas)
    assert Program.from_json(program.to_json()) == program


def test_symmetric_refusals_cite_the_theorem():
    from theory.programs import BudgetError

    with pytest.raises(BudgetError, match="Theorem 2"):
        compile_layers("S4", layers=3, n_h=1)
    with pytest.raises(ValueError, match="S_n"):
        compile_layers("A4", layers=3)
    with pytest.raises(ValueError, match="expected 2"):
        compile_layers("S4", layers=5)


@pytest.mark.parametrize("layers", [3, 4])
def test_s3_programs_are_proved_and_a_broken_swap_layer_is_caught(layers):
    program = compile_layers("S3", layers=layers)
    proof = prove(program, method="search")
    assert proof.holds and proof.states > 1000  # buffers of the last 4 tokens × counters × products
    *below, swap = program.layers
    wrong = dataclasses.replace(swap, keys=(swap.keys[0], swap.keys[2], swap.keys[1], swap.keys[3]))
    broken = prove(dataclasses.replace(program, layers=(*below, wrong)), method="search")
    assert not broken.holds and "decodes to" in broken.failure


@pytest.mark.parametrize("spec", ["S3", "S4", "S5"])
@pytest.mark.parametrize("layers", [3, 4])
def test_block_programs_are_proved_by_composition(spec, layers):
    proof = prove_blocks(compile_layers(spec, layers=layers))
    assert proof.holds and proof.failure is None and all(m > 0 for m in proof.margins)


def test_the_block_proof_finds_broken_programs():
    program = compile_layers("S4", layers=3)
    counter, buffer, swap = program.layers
    late = dataclasses.replace(buffer, values=tuple((v[0] - 1,) for v in buffer.values))
    assert "buffer" in prove_blocks(dataclasses.replace(program, layers=(counter, late, swap))).failure
    keys = list(swap.keys)
    keys[1], keys[2] = keys[2], keys[1]
    crossed = dataclasses.replace(swap, keys=tuple(keys))
    assert "swap layer" in prove_blocks(dataclasses.replace(program, layers=(counter, buffer, crossed))).failure
    slow = dataclasses.replace(counter, keys=tuple((k[0], k[0]) for k in counter.keys))  # the identity: no count
    assert "counter" in prove_blocks(dataclasses.replace(program, layers=(slow, buffer, swap))).failure
    assert not prove_blocks(compile_layers("Z5", layers=2)).holds
