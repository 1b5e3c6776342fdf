"""bench/fla_emulation.py: fla's chunked forward emulated with its bf16 roundings — exact without them, at
bf16's level with them, and its finding (a compiled cascade decodes through every rounding)."""

import numpy as np
import torch

from bench.fla_emulation import GPU_WORDS, ROUNDINGS, decode, fla_against_emulation, fla_chunk
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
    """No rounding: o and the state of the sub-step loop in float64, to 1e-5 relative (fla's gate sums are
    fp32, 2⁻²⁴ relative, as emulated; a chunk-boundary or decay bug is O(1): the state left undecayed at
    chunk ends, or the output's snapshots taken one chunk late, fail here)."""
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
