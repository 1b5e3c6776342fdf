"""bench/fla_emulation.py: fla's chunked forward emulated with its bf16 roundings — exact without them, at
bf16's level with them, and its finding (a compiled cascade decodes through every rounding)."""

import numpy as np
import torch

from bench.fla_emulation import (
    GPU_WORDS,
    ROUNDINGS,
    decode,
    fla_against_emulation,
    fla_chunk,
    former_reset_gates,
    spurious_decays,
)
from kernels import reference
from models import from_program
from theory.automata.dfa import language
from theory.programs.dfa_to_layers import compile_automaton


def _inputs(dtype, tokens=150, n_h=3, dim=16, seed=0):
    """Gated inputs over several 64-row chunks (450 rows: the last chunk partial), one deep reset."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(2, tokens, 2, dim, generator=gen, dtype=torch.float64)
    k = torch.nn.functional.normalize(torch.randn(2, tokens * n_h, 2, dim, generator=gen, dtype=torch.float64), dim=-1)
    v = torch.randn(2, tokens * n_h, 2, dim, generator=gen, dtype=torch.float64)
    beta = 2 * torch.rand(2, tokens * n_h, 2, generator=gen, dtype=torch.float64)
    beta[0, :3, 0] = torch.tensor([0.0, 1.0, 2.0])
    g = -0.3 * torch.rand(2, tokens, 2, generator=gen, dtype=torch.float64)
    # a reset at token 100, every other gate of its 64-token chunk 0: fla's fp32 gate sums stay exact
    g[1, 64:, 1] = torch.where(torch.arange(64, tokens) == 100, -1e6, 0.0)
    return [x.to(dtype) for x in (q, k, v, beta)] + [g.float()]


def test_without_roundings_the_emulation_is_the_float64_recurrence():
    """No rounding: o and the state of the sub-step loop in float64, to 1e-5 relative (what stays in fp32 is
    the log-gates, given in fp32, and A, stored in fp32 as fla's kernel stores it: 2⁻²⁴ relative, grown by T's
    and the walk's amplification; a chunk-boundary or decay bug is O(1): the state left undecayed at chunk
    ends, or the output's snapshots taken one chunk late, fail here)."""
    q, k, v, beta, g = _inputs(torch.float64)
    o, state = fla_chunk(q, k, v, beta, g, num_householder=3, output_final_state=True, rounded=())
    want_o, want_state = reference.recurrent(q, k, v, beta, g.double(), num_householder=3, scale=16**-0.5,
                                             output_final_state=True)  # fmt: skip
    assert float((o - want_o).abs().max() / want_o.abs().max()) <= 1e-5
    assert float((state.double() - want_state).abs().max() / want_state.abs().max()) <= 1e-5


def test_fla_s_roundings_move_the_state_at_bf16_s_level():
    """bf16 inputs, every rounding on: the state is off by more than bf16's unit roundoff 2⁻⁹ times 1/8 (the
    roundings act) and by less than 8·2⁻⁹ (about fla's measured 0.5 % level, not a broken walk)."""
    q, k, v, beta, g = _inputs(torch.bfloat16)
    exact = reference.recurrent(*(x.double() for x in (q, k, v, beta, g)), num_householder=3, scale=16**-0.5,
                                output_final_state=True)[1]  # fmt: skip
    _, state = fla_chunk(q, k, v, beta, g, num_householder=3, output_final_state=True, rounded=ROUNDINGS)
    error = float((state.double() - exact).norm() / exact.norm())
    assert 2.0**-9 / 8 < error < 8 * 2.0**-9, error


def test_a_compiled_cascade_decodes_through_fla_s_roundings():
    """tomita3 (four layers, n_h 9), bf16, the first 256 letters of the GPU run's words: every position right
    with every rounding — where fla's kernel on the GPU was first wrong at position 51."""
    automaton = language("tomita3")
    model = from_program(compile_automaton(automaton, n_h="auto"), dtype=torch.bfloat16, backend="reference")
    words = np.random.default_rng(1).integers(0, len(automaton.letters), GPU_WORDS)[:, :256]
    expected = np.array([automaton.run(w) for w in words])
    assert decode(model, words, expected, ROUNDINGS) == {"accuracy": 1.0, "first_error": None}


def test_the_kernel_comparison_runs_each_layer_and_reads_the_decoding():
    """fla_against_emulation through the reference backend on the CPU (the code path ``--fla`` takes on the
    GPU): one comparison per layer call, every gap under bf16's level 8·2⁻⁹ (the reference walks in fp32
    from bf16 inputs; the emulation rounds as fla does), and the decoding scored like :func:`decode`'s."""
    automaton = language("parity")
    model = from_program(compile_automaton(automaton, n_h="auto"), dtype=torch.bfloat16, backend="reference")
    words = np.random.default_rng(2).integers(0, len(automaton.letters), (4, 40))
    expected = np.array([automaton.run(w) for w in words])
    result = fla_against_emulation(model, words, expected)
    assert (result["accuracy"], result["first_error"]) == (1.0, None)
    assert len(result["layers"]) == len(model.layers)
    assert all(layer["largest"] < 8 * 2.0**-9 and layer["first_position"] is None for layer in result["layers"])


def test_the_emulation_s_stages_are_in_fla_s_layouts():
    """``stages`` (compared with fla's own intermediates on the GPU): without roundings each chunk-start state
    h[:, c] is the recurrence's state after 64·c tokens (to 1e-5, as above; a snapshot one chunk late or in
    another layout fails), and A, w, u, v_new have fla's [B, rows, H, ·] shapes."""
    q, k, v, beta, g = _inputs(torch.float64)
    stages = {}
    fla_chunk(q, k, v, beta, g, num_householder=3, rounded=(), stages=stages)
    assert stages["h"].shape == (2, 3, 2, 16, 16)
    for c in range(3):
        _, want = reference.recurrent(q[:, : 64 * c], k[:, : 192 * c], v[:, : 192 * c], beta[:, : 192 * c],
                                      g[:, : 64 * c].double(), num_householder=3, scale=1.0,
                                      output_final_state=True)  # fmt: skip
        assert float((stages["h"][:, c] - want).abs().max()) <= 1e-5 * max(float(want.abs().max()), 1.0), c
    assert {name: tuple(x.shape) for name, x in stages.items() if name != "h"} == {
        "A": (2, 450, 2, 64), "w": (2, 450, 2, 16), "u": (2, 450, 2, 16), "v_new": (2, 450, 2, 16)
    }  # fmt: skip


def test_parallel_gate_sums_break_the_former_reset_gates_and_not_the_construction_s():
    """fla's decays are 2^(G_t − G_s) of float32 prefix sums taken in a parallel order (the ``G`` rounding):
    with the former reset log-gates −10⁶ (A_log = ln 1000, pre-activation 1000) their sums reach 10⁷, where
    the order moves them by units, and flip_flop (bf16, the GPU run's words, 256 letters) mis-decodes as fla's
    kernel did on the GPU — without ``G`` it decodes. The construction's −1024 gates sum exactly in any order:
    every position right with every rounding."""
    automaton = language("flip_flop")
    model = from_program(compile_automaton(automaton, n_h="auto"), dtype=torch.bfloat16, backend="reference")
    words = np.random.default_rng(1).integers(0, len(automaton.letters), GPU_WORDS)[:, :256]
    expected = np.array([automaton.run(w) for w in words])
    assert decode(model, words, expected, ROUNDINGS) == {"accuracy": 1.0, "first_error": None}
    former_reset_gates(model)
    assert decode(model, words, expected, [r for r in ROUNDINGS if r != "G"])["accuracy"] == 1.0
    assert decode(model, words, expected, ROUNDINGS)["accuracy"] < 0.99


def test_spurious_decays_are_one_for_integer_gates_and_not_for_the_former_ones():
    """Reset log-gates at a third of 150 tokens (n_h 3): −1024 sum exactly in any order, so every decay
    across positions with no gate between them is exactly 1 (tokens and sub-step rows); −10⁶·(1 + small)
    (the former gates as a bf16 model made them) sum to 10⁷ and the parallel order makes some > 1.01."""
    resets = torch.arange(150) % 3 == 0
    gates = {gate: torch.where(resets, gate, 0.0)[None, :, None].repeat(2, 1, 2) for gate in (-1024.0, -994501.8125)}
    exact = spurious_decays(gates[-1024.0], 3)
    assert set(exact) == {"parallel-order emulation, tokens", "parallel-order emulation, rows"}
    assert all(value == 1.0 for value in exact.values()), exact
    assert spurious_decays(gates[-994501.8125], 3)["parallel-order emulation, tokens"] > 1.01
