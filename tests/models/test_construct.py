"""models.from_program: compiled group and automaton programs (cascades included) as DeltaProductLM weights,
decoded through every backend and held against the exact interpreter, the task's labels and the program's own
factors."""

from __future__ import annotations

import functools
import types

import numpy as np
import pytest
import sympy as sp
import torch
from safetensors.torch import load_file, save_file

from models import DeltaProductLM, ModelConfig, construct, from_program, task
from models.construct import SATURATED_LOGIT
from theory.automata.analyse import sink_of
from theory.automata.dfa import language
from theory.programs import compile_group, compile_layers, run
from theory.programs.dfa_to_layers import compile_automaton

GROUPS = ["Z2", "Z5", "S3", "D4", "A5"]  # scalar, plane rotations, permutations, O(2), SO(3)


@functools.cache
def _words(group: str):
    """(program, tokens, the task's labels, the program's exact decoded outputs) for 6 words of 40 tokens."""
    program = compile_group(group)
    tokens, labels = task(group).batch((1, 2), 6, 40)
    return program, tokens, labels, run(program, tokens.numpy()).elements


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("dtype, backend", [(torch.float64, "reference"), (torch.float32, "reference"),
                                            (torch.float64, "triton"), (torch.float32, "triton")])  # fmt: skip
def test_the_model_decodes_as_the_program(group, dtype, backend):
    """Words of every length up to 40 (and the empty word): the argmax at every position is the running
    product (the task's label) and the program's exact decoded output (theory.programs.run)."""
    program, tokens, labels, elements = _words(group)
    model = from_program(program, dtype=dtype, backend=backend)
    with torch.no_grad():
        decoded = model(tokens).argmax(-1)
        empty = model(tokens[:, :0])
    assert decoded.shape == labels.shape and empty.shape == (6, 0, len(program.decoder))
    assert torch.equal(decoded, labels)
    assert np.array_equal(decoded.numpy(), elements)


@pytest.mark.parametrize("group", GROUPS)
def test_the_model_s_factors_are_the_program_s(group):
    """Through the model's own parameterisation (projections, silu, normalisation, 2σ): every symbol's
    transition is the program's factor product ρ(a) up to the keys' shortening by fla's normalisation eps,
    and the β the program puts at 0 and 2 (identities and reflections) come out exactly 0 and 2 in float64
    and float32 (σ saturates)."""
    program = compile_group(group)
    layer = program.layer
    symbols = torch.arange(layer.symbols)[None]
    for dtype in (torch.float64, torch.float32):
        model = from_program(program, dtype=dtype, backend="reference")
        x = model.layer_inputs(symbols)[0][:, 1:]  # after the start token
        beta = model.layers[0].attn.factors(x).beta[0, :, : layer.n_h, 0].double()
        exact = torch.tensor([[float(b) for b in row] for row in layer.betas], dtype=torch.float64)
        ends = (exact == 0) | (exact == 2)
        assert torch.equal(beta[ends], exact[ends])
        if dtype == torch.float64:
            a = model.layers[0].attn.transitions(x)[0, :, 0]
            rho = torch.stack([torch.tensor(np.array(layer.factor_product(s).evalf(30), dtype=np.float64))
                               for s in range(layer.symbols)])  # fmt: skip
            # a key comes out of x/√(‖x‖² + 10⁻⁶) with ‖x‖ ≥ 0.27 (construct._pre_silu): 1 − ‖k‖ ≤ δ =
            # 10⁻⁶/(2·0.27²); a factor I − βkkᵀ (β ≤ 2) then moves by ≤ 4δ, a product of n_h by ≤ 4 n_h δ
            delta = 1e-6 / (2 * 0.27**2)
            assert float((a - rho).abs().max()) <= 4 * layer.n_h * delta + 1e-13


def test_long_words_decode_despite_the_keys_shortening():
    """20,000 tokens of S3 in float32: no position decoded wrong (the keys' 3.4e-6 shortening contracts the
    state a little along each key; 200,000-token words of S3, A5, D4 and Z5 were also decoded without an
    error in float32 and float64 when this was written)."""
    model = from_program(compile_group("S3"), dtype=torch.float32, backend="reference")
    tokens, labels = task("S3").batch((5,), 2, 20_000)
    with torch.no_grad():
        assert torch.equal(model(tokens).argmax(-1), labels)


def test_a_construction_loads_like_a_trained_checkpoint(tmp_path):
    """The weights go through safetensors into a DeltaProductLM built from the config's dict (start token
    included) and decode the same."""
    program = compile_group("S3")
    model = from_program(program, backend="reference")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "model.safetensors")
    loaded = DeltaProductLM(ModelConfig.from_dict(model.config.to_dict()), backend="reference")
    loaded.load_state_dict(load_file(tmp_path / "model.safetensors"))
    tokens, _ = task("S3").batch((4,), 3, 30)
    with torch.no_grad():
        assert torch.equal(loaded(tokens), model(tokens))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
def test_step_sizes_reach_the_ends_exactly_and_the_middle_to_rounding(dtype):
    """2σ(z) at the logits from_program gives: exactly 0 and 2 at the ends in every format (the saturation a
    reflection or an identity sub-step needs), β in between to the format's rounding of z and σ."""
    betas = [0.0, 0.3, 1.0, 1.7, 2.0]
    z = torch.tensor([construct.step_size_logit(b) for b in betas], dtype=torch.float64).to(dtype)
    got = (2 * z.sigmoid()).double()
    assert got[0] == 0 and got[-1] == 2 and got[2] == 1
    unit = {torch.float64: 2.0**-53, torch.float32: 2.0**-24, torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}[dtype]
    # z rounded (relative u, |z| ≤ 1.5 so σ'·|z|·u ≤ 0.4u) and σ, ×2 rounded: a few units
    assert float((got - torch.tensor(betas, dtype=torch.float64)).abs().max()) <= 8 * unit


GROUP_CASCADES = ["Z2", "Z5", "S3", "D4"]  # thm6 (Z_m), dihedral_parity (D_m, S3 = D3)


@pytest.mark.parametrize("group", GROUP_CASCADES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_two_layer_group_programs_decode_as_the_program(group, dtype):
    """Grazzi et al.'s Theorem 6 (Z_m) and Siems et al.'s Theorem 3 (D_m), two layers of single reflections:
    layer 0's parity (0/1, or ±1: tested through one norm) and the token become layer 1's symbol through the MLP's
    units, layer 1's states are points of a circle, tested against each readout with the margin of the nearest
    other one (models.construct.readout_tests). At every position of 6 words of 300 tokens the argmax is the
    running product (the task's label) and the exact interpreter's decoded output."""
    program = compile_layers(group, layers=2)
    model = from_program(program, dtype=dtype, backend="reference")
    assert model.config.num_layers == 2 and model.config.num_classes == task(group).group.order
    tokens, labels = task(group).batch((1, 2), 6, 300)
    with torch.no_grad():
        decoded = model(tokens).argmax(-1)
    assert torch.equal(decoded, labels)
    assert np.array_equal(decoded.numpy(), run(program, tokens.numpy()).elements)


def test_readout_tests_separate_every_readout_by_half():
    """σ_R is ½ at R and ≤ −½ at every other readout, for 0/1 readouts, a delay layer's 2×2 grid (by linear
    programming) and points of a circle (the margin of the nearest one, ±½ exactly there); a readout inside the
    others' hull (a 3×3 grid's edge and centre points) gets an interval test instead: ½ at R, ≤ −½ below and
    ≥ 3/2 above along one projection, so that σ_R and σ_R − 1 tell it apart; duplicates are refused."""
    layers = compile_layers("D4", layers=2).layers + compile_automaton(language("tomita3")).layers
    for layer in layers + compile_automaton(language("tomita2"), n_h=1).layers:
        w, b, interval = construct.readout_tests(layer)
        assert not interval.any()
        scores = np.array([[float(sp.N(e)) for e in r] for r in layer.readouts]) @ w.T + b  # [h = R', test R]
        assert np.allclose(np.diag(scores), 0.5)
        off = scores[~np.eye(len(scores), dtype=bool)]
        assert off.max() <= -0.5 + 1e-6  # LP solutions meet their constraints to ~1e-7 (HiGHS tolerance)
    circle = compile_layers("D4", layers=2).layers[1]
    w, b, _ = construct.readout_tests(circle)
    points = np.array([[float(sp.N(e)) for e in r] for r in circle.readouts])
    assert np.isclose((points @ w.T + b)[~np.eye(len(points), dtype=bool)].max(), -0.5)  # the nearest: −½ exactly
    for grid in (compile_automaton(language("flip_flop"), n_h=1).layers[2],  # 3×3
                 compile_automaton(language("modular_arithmetic"), n_h=2).layers[5]):  # 5×5  # fmt: skip
        w, b, interval = construct.readout_tests(grid)
        points = np.array([[float(sp.N(e)) for e in r] for r in grid.readouts])
        side = int(round(len(points) ** 0.5))
        on_hull = (points == 1).any(axis=1) | (points == side).any(axis=1)
        corners = ((points == 1) | (points == side)).all(axis=1)
        assert np.array_equal(~interval, corners) and on_hull[interval].sum() == 4 * (side - 2)
        scores = points @ w.T + b
        for o in np.flatnonzero(interval):  # one test and the same shifted down: their difference is 1 at R only
            assert np.isclose(scores[o, o], 0.5)
            others = np.delete(scores[:, o], o)
            assert ((others <= -0.5 + 1e-9) | (others >= 1.5 - 1e-9)).all()
            assert np.array_equal((scores[:, o] >= 0.5 - 1e-9).astype(int) - (scores[:, o] - 1 >= 0.5 - 1e-9),
                                  np.eye(len(points), dtype=int)[o])  # fmt: skip
    twice = types.SimpleNamespace(readouts=[[1, 2], [2, 2], [3, 2], [2, 2]], initial_state=[1, 2])
    with pytest.raises(ValueError, match=r"readouts: two readouts share the projection"):
        construct.readout_tests(twice)


def test_what_the_construction_does_not_cover_is_refused_by_name():
    with pytest.raises(ValueError, match="dtype: expected torch.float64, float32, bfloat16 or float16, got 'half'"):
        from_program(compile_group("Z2"), dtype="half")
    with pytest.raises(ValueError, match="program: expected a theory.programs.Program, got str"):
        from_program("S3")
    with pytest.raises(ValueError, match=r"program: expected .* got a group program of 3 layers \(symmetric_3\)"):
        from_program(compile_layers("S3", layers=3))
    with pytest.raises(
        ValueError,
        match=r"program: layer 2 \(a counter layer\) reads 'element_with' of layers "
        r"\[0, 1\]",
    ):
        from_program(compile_automaton(language("cycle_navigation"), n_h=1))
    assert SATURATED_LOGIT >= 750  # σ(−z) = 1/(1 + e^z) underflows to 0 in float64 only for z ≳ 745


def _decodes_as_the_dfa(automaton, model, seed: int, words: int, length: int) -> np.ndarray:
    """The model's argmax at every position of random words, asserted equal to the DFA's states; returns it."""
    letters = np.random.default_rng(seed).integers(0, len(automaton.letters), (words, length))
    with torch.no_grad():
        decoded = model(torch.from_numpy(letters)).argmax(-1).numpy()
    assert np.array_equal(decoded, np.array([automaton.run(w) for w in letters]))
    return decoded


ONE_LAYER = ["parity", "tomita1", "tomita2", "tomita5", "cycle_navigation", "dyck1_3", "dyck2_2"]
CASCADES = ["tomita3", "tomita4", "tomita7", "even_pairs", "flip_flop", "modular_arithmetic"]  # archive heads
FRAMED = [("tomita5", 1), ("cycle_navigation", 2)]  # a frame layer below the level
DELAYED = [("tomita2", 1), ("dyck1_3", 1), ("tomita7", 2)]  # delay layers (2×2 grids of states) under a budget
GRIDS = [("flip_flop", 1), ("even_pairs", 1), ("dyck2_2", 1), ("tomita3", 1), ("modular_arithmetic", 2)]  # 3×3 – 5×5


@pytest.mark.parametrize("name, n_h", [(n, "auto") for n in ONE_LAYER + CASCADES] + FRAMED + DELAYED + GRIDS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_automaton_programs_decode_as_the_automaton(name, n_h, dtype):
    """One-layer programs — group automata (permutations), permutation-reset ones (tomita1: resets through a gate
    of exactly 0), partial injections onto a sink (the zero state) — and cascades (archive heads; a frame layer
    under a budget), whose layers' symbols are the MLPs' lookups: at every position of random words, and the
    empty word, the argmax is the state the DFA reaches (theory.automata.Automaton.run), the sink included,
    through the model's own parameterisation and the reference kernel. tomita7's five layers fail without the
    units' clamp (the drift of each layer's output then grows up the cascade: 9 % of positions right). Under
    budgets below the archive heads', delay layers hold grid points, tested by linear programming where a point is
    a vertex of the grid (models.construct.readout_tests): tomita2 (4 layers), dyck1_3 (8) and tomita7 (10) decode
    as well; and by intervals of one projection where it is not (3×3 grids: flip_flop, even_pairs, dyck2_2; up to
    4×4 in tomita3's and 5×5 in modular_arithmetic's)."""
    automaton = language(name)
    program = compile_automaton(automaton, n_h=n_h)
    model = from_program(program, dtype=dtype, backend="reference")
    assert model.config.num_layers == len(program.layers)
    decoded = _decodes_as_the_dfa(automaton, model, 4, 5, 60)
    with torch.no_grad():
        assert model(torch.zeros(5, 0, dtype=torch.int64)).shape == (5, 0, len(automaton.states))
    sink = sink_of(automaton)
    if program.construction == "dfa:partial-injection-sink":  # the zero state is reached and decoded as the sink
        assert (decoded == sink).any()


@pytest.mark.parametrize("name", CASCADES)
def test_cascades_decode_in_bfloat16(name):
    """bf16 parameters and activations through the reference kernel: every position of random words decodes as
    the DFA. With the state's 1s at c = 1/4 (a 10× magnification of rounding residues by o_norm,
    models.construct.automaton_level) tomita3 decoded 32 % of positions right."""
    automaton = language(name)
    model = from_program(compile_automaton(automaton), dtype=torch.bfloat16, backend="reference")
    _decodes_as_the_dfa(automaton, model, 8, 4, 60)


@pytest.mark.parametrize("name", ["tomita7", "modular_arithmetic"])
def test_every_layer_of_a_cascade_holds_the_program_s_state(name):
    """Layer by layer, against the exact interpreter (theory.programs.run): the hidden dimensions a layer writes
    hold its program state h_t (0/1 entries) at every position, within the drift of fla's key normalisation
    (≤ 3.4e-6 per reflection on an entry: 60 tokens of at most 5 factors stay below 1e-3), and the next layer's
    symbol dimensions hold a one-hot to within the RMSNorm's n/(2Z²) (module docstring: below 1e-7)."""
    automaton = language(name)
    program = compile_automaton(automaton)
    model = from_program(program, dtype=torch.float64, backend="reference")
    where = construct.Layout(program)
    words = np.random.default_rng(6).integers(0, len(automaton.letters), (4, 60))
    exact = run(program, words)
    hidden = []
    hooks = [block.register_forward_hook(lambda module, args, out: hidden.append(out[:, 1:].detach().numpy()))
             for block in model.layers]  # fmt: skip
    with torch.no_grad():
        model(torch.from_numpy(words))
    for hook in hooks:
        hook.remove()
    for index, x in enumerate(hidden):
        assert np.abs(x[..., where.outputs[index]] - exact.states[index]).max() < 1e-3
        if index + 1 < len(program.layers):
            symbols = x[..., where.symbols[index + 1]]
            assert np.abs(symbols.sum(-1) - 1).max() < 1e-7 and np.abs(symbols).max() < 1 + 1e-7
            assert (np.sort(symbols, -1)[..., -2] < 1e-7).all()


@pytest.mark.parametrize("name", ["tomita5", "tomita1", "flip_flop"])
def test_an_automaton_model_runs_through_the_triton_interpreter(name):
    automaton = language(name)
    model = from_program(compile_automaton(automaton), dtype=torch.float32, backend="triton")
    _decodes_as_the_dfa(automaton, model, 5, 2, 20)
    if name == "tomita1":  # a reset letter is read: its gate is exactly 0
        words = torch.from_numpy(np.random.default_rng(5).integers(0, len(automaton.letters), (2, 20)))
        gate = model.layers[0].attn.factors(model.layer_inputs(words)[0]).g.exp()
        assert set(gate.unique().tolist()) == {0.0, 1.0}
