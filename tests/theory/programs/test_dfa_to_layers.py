"""DFA → layers: every automaton compiles (one gated layer for the one-layer classes, a layer per holonomy
level otherwise), its exact proof holds, and its decisions through the kernel equal automata-lib's on
random words; deliberate bugs in a cascade (no archive, a wrong table entry, a wrong decoder) fail the proof."""

from __future__ import annotations

import dataclasses
import importlib
import json

import numpy as np
import pytest
import sympy as sp
import torch
from automata.fa.dfa import DFA
from hypothesis import given, settings
from hypothesis import strategies as st

from proofs_check.execute import exact_run, simulate
from theory.automata.analyse import analyse
from theory.automata.dfa import Automaton, from_json, language, normalise
from theory.programs import Program, prove, run, tensors
from theory.programs.dfa_to_layers import compile_automaton, roles
from theory.programs.interpret import block_slots

ONE_LAYER = ("tomita1", "tomita2", "tomita5", "tomita6", "parity", "cycle_navigation", "dyck1_1", "dyck1_4", "dyck2_2")
# the holonomy levels of notes/automata.md §4 (SgpDec's definitions): one layer each
CASCADE = {"tomita3": 4, "tomita4": 3, "tomita7": 5, "even_pairs": 2, "flip_flop": 2, "modular_arithmetic": 3}


def _lib(automaton: Automaton) -> DFA:
    d = automaton.to_dict()
    return DFA(states=set(d["states"]), input_symbols=set(d["input_symbols"]), transitions=d["transitions"],
               initial_state=d["initial_state"], final_states=set(d["final_states"]))  # fmt: skip


def _decisions_agree(automaton: Automaton, program: Program, words: np.ndarray, **options) -> None:
    """The accept bit decoded through the kernel after every prefix is automata-lib's for that prefix."""
    run = simulate(program, words, **options)
    lib = _lib(automaton)
    for w, word in enumerate(words):
        for t in range(words.shape[1]):
            prefix = [automaton.letters[a] for a in word[: t + 1]]
            assert (int(run.decoded[w, t]) in automaton.final) == lib.accepts_input(prefix)
    assert run.accuracy == 1.0


@pytest.mark.parametrize("name", ONE_LAYER)
def test_one_layer_languages_compile_prove_and_decide(name):
    automaton = language(name)
    program = compile_automaton(automaton)
    proof = prove(program)
    # the search covers every (readout, state) pair reached: here the readout is the state, so |Q| of them
    assert proof.holds and proof.states == len(automaton.states) and all(m > 0 for m in proof.margins)
    words = np.random.default_rng(1).integers(0, len(automaton.letters), size=(3, 11))
    _decisions_agree(automaton, program, words)
    assert Program.from_json(program.to_json()) == program


def test_n_h_follows_the_factorisation():
    """Swaps: n − c per permutation (a 5-cycle: 4); a reset: the gate and one write; a partial injection:
    its projections plus the swaps of its extension (Dyck₂ of depth 2: 9, as the construction predicts)."""
    assert compile_automaton(language("cycle_navigation")).n_h == 4
    tomita1 = compile_automaton(language("tomita1"))
    assert tomita1.n_h == 1 and tomita1.layer.resets == (1, 0)  # letter 0 resets to the sink's one-hot
    assert compile_automaton(language("dyck2_2")).n_h == 9 and compile_automaton(language("dyck2_2")).layer.resets == ()
    assert compile_automaton(language("dyck2_2"), n_h=12).n_h == 12
    cascade = compile_automaton(language("dyck2_2"), n_h=8)  # the one layer needs 9: its cascade's levels fit
    assert cascade.construction == "dfa:holonomy-cascade" and {layer.n_h for layer in cascade.layers} == {8}
    framed = compile_automaton(language("cycle_navigation"), n_h=2)  # the 5-cycle in a frame: F^f π F^(−q)
    assert roles(framed) == ("frame", "level") and {layer.n_h for layer in framed.layers} == {2}
    blocks = compile_automaton(language("cycle_navigation"), n_h=1)  # no frame makes a 5-cycle one swap
    assert roles(blocks) == ("parity", "counter", "counter", "counter", "buffer", "swaps", "level")
    assert {layer.n_h for layer in blocks.layers} == {1}
    with pytest.raises(ValueError, match="n_h: expected a positive integer"):
        compile_automaton(language("parity"), n_h=0)
    with pytest.raises(TypeError, match="automaton: expected a theory.automata.dfa.Automaton, got str"):
        compile_automaton("parity")
    with pytest.raises(TypeError, match="automaton: expected a theory.automata.dfa.Automaton, got str"):
        analyse("parity")


@pytest.mark.parametrize("name", CASCADE)
def test_cascade_languages_compile_prove_and_decide(name):
    """One layer per level; a level with a reset above another level carries an archive (state 2w, its
    readouts (a, r): w(w + 1)); the last level never does."""
    automaton = language(name)
    program = compile_automaton(automaton)
    assert program.construction == "dfa:holonomy-cascade" and len(program.layers) == CASCADE[name]
    proof = prove(program)
    assert proof.holds and all(m > 0 for m in proof.margins)
    marks = [role == "archive" for role in roles(program)]
    assert not marks[-1]
    for layer, archived in zip(program.layers, marks):
        width = layer.dim // 2 if archived else layer.dim
        assert len(layer.readouts) == (width * (width + 1) if archived else width)
    words = np.random.default_rng(2).integers(0, len(automaton.letters), size=(3, 13))
    _decisions_agree(automaton, program, words)
    assert Program.from_json(program.to_json()) == program


def test_a_cascade_without_its_archive_or_with_a_wrong_table_fails_its_proof():
    """Deliberate bugs in tomita4's cascade: an archived reset replaced by the gate and one write (the
    previous coordinate is lost: the timing gap), one chain-table entry moved to another context, and the
    decoder naming another state — each must fail the exact proof."""
    program = compile_automaton(language("tomita4"))
    assert prove(program).holds
    top = program.layers[0]
    assert roles(program)[0] == "archive"
    w = top.dim // 2
    reset = next(s for s in range(top.symbols) if top.values[s][-1] == 1 and top.betas[s][-1] == 1)
    gated_rows = [list(zip(top.keys[s], top.betas[s], top.values[s])) for s in range(top.symbols)]
    gated_rows[reset] = [gated_rows[reset][-1]] + [(top.keys[reset][0], sp.Integer(0), sp.Integer(0))] * (top.n_h - 1)
    gated = dataclasses.replace(top, keys=tuple(tuple(k for k, _, _ in r) for r in gated_rows),
                                betas=tuple(tuple(b for _, b, _ in r) for r in gated_rows),
                                values=tuple(tuple(v for _, _, v in r) for r in gated_rows),
                                resets=tuple(int(s == reset) for s in range(top.symbols)))  # fmt: skip
    assert w == 2 and not prove(dataclasses.replace(program, layers=(gated, *program.layers[1:]))).holds
    second = program.layers[1]
    table = list(second.lookup)
    word = np.array([[0, 0, 1]])
    j = int(word[0, 2] + top.symbols * run(program, word).outputs[0][0, 2])  # the entry the third letter uses
    factors = [(second.keys[u], second.betas[u], second.values[u]) for u in range(second.symbols)]
    table[j] = next(u for u in range(second.symbols) if factors[u] != factors[table[j]])
    moved = dataclasses.replace(second, lookup=tuple(table))
    assert not prove(dataclasses.replace(program, layers=(top, moved, *program.layers[2:]))).holds
    decoder = list(program.decoder)
    j = next(i for i, v in enumerate(decoder) if v >= 0)
    decoder[j] = (decoder[j] + 1) % len(program.automaton.states)
    assert not prove(dataclasses.replace(program, decoder=tuple(decoder))).holds


def test_the_proof_catches_a_wrong_reset_and_a_wrong_swap():
    """Deliberate bugs: tomita1 without its gate (letter 0 then writes e_c on top of the state) and
    cycle_navigation with two letters' factors exchanged must both fail their proofs."""
    program = compile_automaton(language("tomita1"))
    ungated = dataclasses.replace(program, layers=(dataclasses.replace(program.layer, resets=()),))
    assert not prove(ungated).holds
    program = compile_automaton(language("cycle_navigation"))
    layer = program.layer
    swapped = dataclasses.replace(layer, keys=(layer.keys[2], layer.keys[1], layer.keys[0]))
    assert not prove(dataclasses.replace(program, layers=(swapped,))).holds
    broken = dataclasses.replace(layer, betas=((sp.Integer(1),) + layer.betas[0][1:], *layer.betas[1:]))
    assert not prove(dataclasses.replace(program, layers=(broken,))).holds


def test_reset_programs_round_trip_with_their_gates(tmp_path):
    program = compile_automaton(language("tomita1"))
    doc = json.loads(program.to_json())
    assert doc["layers"][0]["resets"] == [1, 0] and doc["group"] == "" and doc["automaton"]["name"] == "tomita1"
    path = tmp_path / "t1.safetensors"
    tensors.save(program, path)
    assert tensors.load(path) == program
    assert list(tensors.tensors(program)["layer0.log_gates"]) == [-np.inf, 0.0]
    doc["automaton"]["transitions"]["q0"]["1"] = "q1"  # a different language than the layer tracks
    with pytest.raises(ValueError, match="^program: the exact proof of the loaded program fails"):
        Program.from_json(json.dumps(doc))
    doc = json.loads(program.to_json())
    doc["layers"][0]["resets"] = [1]
    with pytest.raises(ValueError, match=r"^layers\[0\].resets: expected none or 2 entries"):
        Program.from_json(json.dumps(doc))


@st.composite
def one_layer_automata(draw):
    """Automata built in a one-layer class (before normalisation): letters that are permutations, constants
    (permutation-reset) or partial injections onto a sink (the last state)."""
    kind = draw(st.sampled_from(["group", "permutation-reset", "partial-injection-sink"]))
    n, k = draw(st.integers(1, 6)), draw(st.integers(1, 3))
    maps = []
    for _ in range(k):
        if kind == "partial-injection-sink" and draw(st.booleans()):  # a bijection fixing the sink
            maps.append((*draw(st.permutations(range(n - 1))), n - 1))
        elif kind == "group" or draw(st.booleans()):
            maps.append(tuple(draw(st.permutations(range(n)))))
        elif kind == "permutation-reset":
            maps.append((draw(st.integers(0, n - 1)),) * n)
        else:
            live = list(range(n - 1))
            kept = draw(st.lists(st.sampled_from(live), unique=True)) if live else []
            images = draw(st.permutations(live))[: len(kept)] if live else []
            target = dict(zip(kept, images))
            maps.append(tuple(target.get(q, n - 1) for q in range(n)))
    final = tuple(sorted(draw(st.sets(st.integers(0, n - 1)))))
    delta = tuple(tuple(f[q] for f in maps) for q in range(n))
    return Automaton("drawn", tuple(f"s{i}" for i in range(n)), tuple("abc"[:k]), delta, 0, final)


@settings(max_examples=40, deadline=None)
@given(raw=one_layer_automata(), seed=st.integers(0, 1000), length=st.sampled_from([0, 1, 7, 12]))
def test_random_one_layer_automata_compile_prove_and_decide(raw, seed, length):
    """Normalising can leave the class (a quotient of partial injections need not be injective): the
    program is then a cascade; either way it must prove and decide like automata-lib."""
    automaton = normalise(raw)
    kind = analyse(automaton).classification
    program = compile_automaton(automaton)
    assert (len(program.layers) == 1) == (kind in ("group", "permutation-reset", "partial-injection-sink"))
    assert prove(program).holds
    words = np.random.default_rng(seed).integers(0, len(automaton.letters), size=(2, length))
    _decisions_agree(automaton, program, words)


def test_a_bijection_beside_partial_injections_moves_the_live_states_only():
    """Found by bench/regular_languages.py (random:5:2:51 crashed the compiler): in the sink class a letter
    may be a bijection that fixes the sink, whose permutation acts on the live coordinates."""
    automaton = normalise(Automaton("t", ("a", "b", "z"), ("x", "y"), ((1, 2), (0, 1), (2, 2)), 0, (0,)))
    assert analyse(automaton).classification == "partial-injection-sink"
    program = compile_automaton(automaton)
    assert prove(program).holds
    _decisions_agree(automaton, program, np.random.default_rng(0).integers(0, 2, size=(3, 9)))


def test_the_triton_kernel_decides_with_gates():
    """tomita1's resets are the gate −inf through our Triton kernel (the interpreter on the CPU), fp32."""
    automaton = language("tomita1")
    words = np.random.default_rng(4).integers(0, 2, size=(2, 40))
    words[:, :10] = 1  # accept for a while, then the first 0 sends the state to the sink
    _decisions_agree(automaton, compile_automaton(automaton), words, dtype=torch.float32, backend="triton",
                     chunk_size=16)  # fmt: skip


@st.composite
def complete_automata(draw):
    """Any complete DFA of 1 – 6 states and 1 – 3 letters (uniform transition tables, any final set)."""
    n, k = draw(st.integers(1, 6)), draw(st.integers(1, 3))
    delta = tuple(tuple(draw(st.integers(0, n - 1)) for _ in range(k)) for _ in range(n))
    final = tuple(sorted(draw(st.sets(st.integers(0, n - 1)))))
    return Automaton("drawn", tuple(f"s{i}" for i in range(n)), tuple("abc"[:k]), delta, 0, final)


@settings(max_examples=60, deadline=None)
@given(raw=complete_automata(), seed=st.integers(0, 1000), length=st.sampled_from([0, 1, 6, 15]))
def test_every_random_dfa_compiles_proves_and_decides(raw, seed, length):
    """The issue's property: every DFA of at most six states compiles, its exact proof holds, and its
    decisions through the kernel (float64 reference) equal automata-lib's on random words."""
    automaton = normalise(raw)
    program = compile_automaton(automaton)
    assert prove(program).holds
    words = np.random.default_rng(seed).integers(0, len(automaton.letters), size=(2, length))
    _decisions_agree(automaton, program, words)


def test_a_kernel_run_that_leaves_the_tables_reports_wrong_positions():
    """A kernel whose states reach a (symbol, output) pair no word reaches (here: tomita4's gated last
    level run without its gate) must report those positions wrong (decoded −1), not raise."""
    program = compile_automaton(language("tomita4"))
    assert roles(program) == ("archive", "archive", "level")
    assert roles(compile_automaton(language("dyck2_2"))) == ("level",)
    last = program.layers[-1]
    broken = dataclasses.replace(program, layers=(*program.layers[:-1], dataclasses.replace(last, resets=())))
    words = np.random.default_rng(0).integers(0, 2, size=(2, 50))
    result = simulate(broken, words, exact=exact_run(program, words))  # the reference of the right program
    assert result.accuracy < 1 and (result.decoded < 0).any() and result.first_error is not None


def test_the_triton_kernel_decides_a_cascade():
    """tomita3's four layers (archives, chain lookups, a gated last level) through our Triton kernel (the
    interpreter on the CPU), fp32."""
    automaton = language("tomita3")
    words = np.random.default_rng(5).integers(0, 2, size=(2, 24))
    _decisions_agree(automaton, compile_automaton(automaton), words, dtype=torch.float32, backend="triton",
                     chunk_size=16)  # fmt: skip


@pytest.mark.parametrize("n_h", [1, 2])
@settings(max_examples=15, deadline=None)
@given(raw=complete_automata(), seed=st.integers(0, 1000), length=st.sampled_from([0, 1, 7, 16]))
def test_every_budget_compiles_proves_and_decides(n_h, raw, seed, length):
    """DeltaProduct Theorem 2 at n_h = 1, 2: every DFA of at most six states compiles with every layer at the
    budget (delay layers where archives would not fit, a frame layer before each level whose permutations
    would not, block levels where no frame does), proves and decides like automata-lib."""
    automaton = normalise(raw)
    program = compile_automaton(automaton, n_h=n_h)
    kinds = roles(program)
    assert {layer.n_h for layer in program.layers} == {n_h} and "archive" not in kinds
    assert all(kinds[j + 1] == "level" for j, kind in enumerate(kinds) if kind == "frame")
    assert all(kinds[j : j + 3] == ("buffer", "swaps", "level") for j, kind in enumerate(kinds) if kind == "buffer")
    assert prove(program).holds
    words = np.random.default_rng(seed).integers(0, len(automaton.letters), size=(2, length))
    _decisions_agree(automaton, program, words)


def _symmetric(n: int) -> Automaton:
    """S_n acting on n states: letters s = (0 1) and c = (0 1 … n − 1), start and accept 0."""
    moves = {"s": lambda q: {0: 1, 1: 0}.get(q, q), "c": lambda q: (q + 1) % n}
    transitions = {str(q): {a: str(move(q)) for a, move in moves.items()} for q in range(n)}
    document = {"states": [str(q) for q in range(n)], "input_symbols": ["s", "c"], "transitions": transitions,
                "initial_state": "0", "final_states": ["0"]}  # fmt: skip
    return normalise(from_json(json.dumps(document), name=f"S{n}"))


@pytest.mark.parametrize("n, n_h", [(3, 1), (4, 2)])
def test_frames_bring_a_symmetric_level_within_the_budget(n, n_h):
    """The n-cycle needs n − 1 swaps; in a frame (F^f π F^(−q), the frame bit in a scalar layer) S_3 runs at
    n_h = 1 (its odd elements are transpositions) and S_4 at n_h = 2 (its even elements need two swaps)."""
    automaton = _symmetric(n)
    assert compile_automaton(automaton).n_h == n - 1
    program = compile_automaton(automaton, n_h=n_h)
    assert roles(program) == ("frame", "level") and {layer.n_h for layer in program.layers} == {n_h}
    assert prove(program).holds
    _decisions_agree(automaton, program, np.random.default_rng(n).integers(0, 2, size=(3, 40)))


def test_a_frame_that_never_flips_or_is_read_unframed_fails_its_proof():
    """Deliberate bugs in S_4 at n_h = 2: a frame layer that keeps its bit at every symbol, and a decoder that
    reads the level's output at frame bit 1 as if it were at 0 — each must fail the exact proof."""
    program = compile_automaton(_symmetric(4), n_h=2)
    frame, level = program.layers
    stuck = dataclasses.replace(frame, betas=tuple((sp.Integer(0),) for _ in frame.betas))
    assert not prove(dataclasses.replace(program, layers=(stuck, level))).holds
    unframed = [program.decoder[j - 1] if j % level.symbols % 2 else entry for j, entry in enumerate(program.decoder)]
    assert not prove(dataclasses.replace(program, decoder=tuple(unframed))).holds


def test_the_triton_kernel_decides_a_framed_program():
    """S_4 at n_h = 2 (a frame layer, then the level in its frame) through our Triton kernel (the interpreter
    on the CPU), fp32."""
    words = np.random.default_rng(7).integers(0, 2, size=(2, 21))
    _decisions_agree(_symmetric(4), compile_automaton(_symmetric(4), n_h=2), words, dtype=torch.float32,
                     backend="triton", chunk_size=16)  # fmt: skip


def test_delay_layers_replace_archives_under_a_budget(tmp_path):
    """tomita4 at n_h = 1: a parity layer, then each archived level followed by a two-slot delay layer (one
    factor: key e_p, β = 1, value o + 1); the program round-trips through JSON and safetensors and re-proves."""
    program = compile_automaton(language("tomita4"), n_h=1)
    assert roles(program) == ("parity", "level", "delay", "level", "delay", "level")
    assert prove(program).holds
    delay = program.layers[2]
    assert delay.dim == 2 and len(delay.readouts) == 4 and delay.initial_state == (1, 1)
    assert {(k[0], b[0]) for k, b in zip(delay.keys, delay.betas)} == {((1, 0), 1), ((0, 1), 1)}
    assert Program.from_json(program.to_json()) == program
    tensors.save(program, tmp_path / "t4.safetensors")
    assert tensors.load(tmp_path / "t4.safetensors") == program


def test_a_delay_layer_that_writes_the_wrong_slot_or_is_read_wrong_fails_its_proof():
    """Deliberate bugs in tomita3 at n_h = 1: a delay layer writing the slot it should keep (key e_{1−p}),
    and the level below it reading the slot just written (the table entry of the other slot) — each must fail
    the exact proof."""
    program = compile_automaton(language("tomita3"), n_h=1)
    index = roles(program).index("delay")
    delay = program.layers[index]
    flipped = dataclasses.replace(delay, keys=tuple(((k[0][1], k[0][0]),) for k in delay.keys))
    layers = list(program.layers)
    layers[index] = flipped
    assert not prove(dataclasses.replace(program, layers=tuple(layers))).holds
    above = program.layers[index + 1]
    w = int(np.sqrt(len(delay.readouts)))
    table = list(above.lookup)
    for j, entry in enumerate(above.lookup):  # read slot p (just written) where slot 1 − p was read
        x, y = divmod(j // delay.symbols, w)[::-1]
        if entry >= 0 and x != y:
            swapped = j % delay.symbols + delay.symbols * (y + w * x)
            table[j], table[swapped] = above.lookup[swapped], entry
    layers = list(program.layers)
    layers[index + 1] = dataclasses.replace(above, lookup=tuple(table))
    assert not prove(dataclasses.replace(program, layers=tuple(layers))).holds


def test_the_triton_kernel_decides_a_program_with_delay_layers():
    """tomita4 at n_h = 1 (six layers: parity, levels and delay slots holding o + 1) through our Triton kernel
    (the interpreter on the CPU), fp32."""
    automaton = language("tomita4")
    words = np.random.default_rng(6).integers(0, 2, size=(2, 21))
    _decisions_agree(automaton, compile_automaton(automaton, n_h=1), words, dtype=torch.float32, backend="triton",
                     chunk_size=16)  # fmt: skip


def _block_program() -> tuple[Program, int]:
    """S_5 (a 5-cycle and a transposition on five states) at n_h = 1: no frame brings the 5-cycle to one swap,
    so its one level is a block level; returns the program and its level layer's index."""
    program = compile_automaton(_symmetric(5), n_h=1)
    assert roles(program) == ("parity", "counter", "counter", "counter", "buffer", "swaps", "level")
    return program, 6


def test_a_block_level_spreads_a_permutation_over_a_block(tmp_path):
    """S_5 at n_h = 1 (Siems et al. 2025, Theorem 1(iii) as a cascade level): a counter of period P = 8 (three
    bits and a one-hot layer written at every token), a buffer of 8 slots, a swap layer of one GH per token
    (10 swaps, 5 gated resets) and a level layer whose symbol carries the coordinate before the step; it
    proves for every word, decides like automata-lib, and round-trips through JSON and safetensors,
    re-proved on loading."""
    program, _ = _block_program()
    buffer, swap, level = program.layers[4:]
    count = program.layers[3]
    assert count.dim == 8 and count.resets == (1,) * count.symbols  # re-written at every token: no drift
    assert buffer.period == swap.period == 8 and buffer.dim == 8 and buffer.decode == "grid"
    assert swap.symbols == 1 + 10 + 5 and level.symbols == buffer.symbols // 8 * 5
    proof = prove(program)
    assert proof.holds and proof.states > 0
    automaton = _symmetric(5)
    _decisions_agree(automaton, program, np.random.default_rng(3).integers(0, 2, size=(3, 70)))
    assert Program.from_json(program.to_json()) == program
    tensors.save(program, tmp_path / "s5.safetensors")
    assert tensors.load(tmp_path / "s5.safetensors") == program


def _replaced(program: Program, index: int, layer) -> Program:
    layers = list(program.layers)
    layers[index] = layer
    return dataclasses.replace(program, layers=tuple(layers))


def test_deliberate_bugs_in_a_block_level_fail_its_proof(monkeypatch):
    """Each of these bugs in the S_5 block level must fail the exact proof, naming the part: swap keys
    (e_i + e_j)/√2 instead of (e_i − e_j)/√2 (reflections that are no swaps), a buffer value one action off, the
    counter's parity frozen, and a decoder that forgets the previous block's remaining swaps."""
    program, _ = _block_program()
    parity, _, _, _, buffer, swap, level = program.layers
    bent = [((*map(abs, key[0]),),) if 0 < s <= 10 else key for s, key in enumerate(swap.keys)]  # (e_i + e_j)/√2
    proof = prove(_replaced(program, 5, dataclasses.replace(swap, keys=tuple(bent))))
    assert not proof.holds and "swap" in proof.failure
    shifted = [(v[0] % (len(buffer.readouts) - 1) + 1,) for v in buffer.values]
    proof = prove(_replaced(program, 4, dataclasses.replace(buffer, values=tuple(shifted))))
    assert not proof.holds and "action" in proof.failure
    frozen = dataclasses.replace(parity, betas=tuple((sp.Integer(0),) for _ in parity.betas))
    proof = prove(_replaced(program, 0, frozen))
    assert not proof.holds and "counter" in proof.failure

    def forgetful(actions, count, buffer, state, period, memo=None):  # the swap state, then the current actions
        for a in block_slots(count, buffer, period)[2][:-1]:
            state = actions[a][state]
        return state

    monkeypatch.setattr(importlib.import_module("theory.programs.prove"), "level_before", forgetful)
    proof = prove(program)
    assert not proof.holds and "decoder" in proof.failure


def test_the_triton_kernel_decides_a_block_program():
    """S_5 at n_h = 1 (counter, buffer, swaps, level) through our Triton kernel (the interpreter on the CPU),
    fp32, over two blocks and more."""
    program, _ = _block_program()
    words = np.random.default_rng(9).integers(0, 2, size=(2, 21))
    _decisions_agree(_symmetric(5), program, words, dtype=torch.float32, backend="triton", chunk_size=16)


def test_a_block_document_with_a_miswired_swap_layer_is_refused_by_field():
    """A block program's JSON whose swap layer reads the wrong buffer is refused naming map_layers."""
    program, _ = _block_program()
    doc = json.loads(program.to_json())
    doc["layers"][5]["map_layers"] = [3, 3]
    with pytest.raises(ValueError, match=r"layers\[5\]\.map_layers: level_swaps expects \(counter, buffer\)"):
        Program.from_json(json.dumps(doc))
