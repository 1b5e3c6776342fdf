"""models.analysis on constructions loaded as models: the analysis must recover the construction's spectrum,
its factors' step sizes and its group relations (up to the keys' shortening by fla's normalisation eps)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from models import DeltaProductLM, ModelConfig, from_program
from models.analysis import relation_error, symbol_transitions
from theory.programs import compile_group

DELTA = 1e-6 / (2 * 0.27**2)  # a key's shortening by x/√(‖x‖² + 1e-6), ‖x‖ ≥ 0.27 (models.construct)


@functools.cache
def _construction(group: str):
    """(program, its model in float64 through the reference backend), built once per group."""
    program = compile_group(group)
    return program, from_program(program, dtype=torch.float64, backend="reference")


@pytest.mark.parametrize("group", ["S3", "A5", "Z5"])
def test_the_analysis_of_a_construction_recovers_it(group):
    """Every element's mean transition has the eigenvalues of ρ(a) (exact, from sympy) to 4·n_h·δ — a product
    of n_h factors each moved by ≤ 4δ, and the eigenvalues of these normal matrices move no more (Bauer–Fike);
    no spread over contexts beyond float64 rounding (no short convolution: A_t depends on the token alone);
    orthogonal and a representation to that order; the step sizes exactly the program's 0s and 2s."""
    program, model = _construction(group)
    layer = program.layer
    analysis = symbol_transitions(model, group, words=64, length=64)
    symbols = analysis["layers"][0]["heads"][0]["symbols"]
    assert len(symbols) == layer.symbols  # every element occurred
    bound = 4 * model.config.num_householder * DELTA
    for s, entry in symbols.items():
        exact = np.array(layer.factor_product(int(s)).evalf(30), dtype=np.float64)
        want = np.linalg.eigvals(exact)
        got = np.array([complex(re, im) for re, im in entry["eigenvalues"]])
        # each wanted eigenvalue has a found one within the bound, and the multisets have the same size
        assert len(got) == len(want) and max(np.abs(got[:, None] - want[None, :]).min(axis=0)) <= bound + 1e-12
        # the same token's transitions differ only by the rounding of batched float64 products (measured
        # ≤ 1.7e-14, about 70 u)
        assert entry["spread"] <= 1e-12 and entry["orthogonality_error"] <= 2 * bound
        assert set(entry["beta"]) <= {0.0, 2.0}
    assert relation_error(analysis) <= 3 * bound


def test_a_short_convolution_spreads_transitions_and_bad_requests_are_named():
    torch.manual_seed(0)
    model = DeltaProductLM(ModelConfig(vocab_size=6, num_classes=6, num_heads=1, head_dim=4), backend="reference")
    analysis = symbol_transitions(model.double(), "S3", words=8, length=16)
    assert all(e["spread"] > 0 for e in analysis["layers"][0]["heads"][0]["symbols"].values())
    with pytest.raises(ValueError, match="task: Z2 has 2 tokens and 2 classes, the model 6 and 6"):
        symbol_transitions(model, "Z2")
    with pytest.raises(ValueError, match="words: expected an integer ≥ 1, got 0"):
        symbol_transitions(model, "S3", words=0)
    with pytest.raises(ValueError, match="is not a group's word problem"):
        relation_error({**analysis, "task": "lang:parity"})


def test_layer_states_are_the_kernel_s_states():
    """layer_states after token t equals the final state of the layer run (reference kernel, float64) on the
    first t + 1 tokens: gates, short convolution and n_h = 3 included."""
    from models.analysis import layer_states

    torch.manual_seed(1)
    config = ModelConfig(vocab_size=6, num_classes=6, num_layers=2, num_heads=2, head_dim=4, num_householder=3)
    model = DeltaProductLM(config, backend="reference").double()
    tokens = torch.randint(0, 6, (3, 9))
    states = layer_states(model, tokens)
    inputs = model.layer_inputs(tokens)
    for layer, (block, x) in enumerate(zip(model.layers, inputs)):
        for t in (0, 4, 8):
            _, final = block.attn(x[:, : t + 1], output_final_state=True)
            # both float64, ≤ 27 sub-steps of O(1) operations: a few hundred u
            assert float((states[layer][:, t] - final).abs().max()) <= 1e-12, (layer, t)


def test_a_linear_probe_reads_a_construction_s_state():
    """The nearest-class-mean probe on the state of a construction's layer decodes every position, as the
    model does; an untrained model's state and output are near chance (1/6 for S3)."""
    from models.analysis import probe_accuracy

    for group in ("S3", "A5"):
        model = _construction(group)[1]
        result = probe_accuracy(model, group, words=64, length=32)
        assert result["layers"][0]["accuracy"] == 1.0 and result["model"]["accuracy"] == 1.0
        assert result["layers"][0]["output"]["accuracy"] == 1.0
        assert len(result["layers"][0]["by_position"]) == 32
    torch.manual_seed(0)
    untrained = DeltaProductLM(ModelConfig(vocab_size=6, num_classes=6, num_heads=1, head_dim=4), backend="reference")
    result = probe_accuracy(untrained.double(), "S3", words=64, length=32)
    assert result["layers"][0]["accuracy"] < 0.5 and result["model"]["accuracy"] < 0.5
    with pytest.raises(ValueError, match="words: expected an integer ≥ 2, got 1"):
        probe_accuracy(untrained, "S3", words=1)
    with pytest.raises(ValueError, match="words: expected an integer ≥ 2, got 'many'"):
        probe_accuracy(untrained, "S3", words="many")
    with pytest.raises(ValueError, match="task: Z2 has 2 tokens and 2 classes, the model 6 and 6"):
        probe_accuracy(untrained, "Z2")


def test_the_whole_analysis_of_a_construction_finds_its_spectrum_and_rotations():
    """models.analyze on S3's construction (permutation representation, 3 states, n_h = 3 with identity
    sub-steps): every mean transition's spectrum contains the construction's to the keys' shortening
    (spectral match ≤ 4·n_h·δ), the tokens with non-real eigenvalues are exactly the 3-cycles among the drawn
    words (elements of order 3: e^{±2πi/3}), every |λ| is 1 to that order, the state and output probes and
    the model are exact, the β histogram holds only 0s and 2s, and the report is JSON."""
    import json

    from models import analyze, task

    program, model = _construction("S3")
    report = analyze(model, "S3", words=16, length=32, lengths=(32, 64), seed=3)
    head, layer = report["layers"][0]["heads"][0], report["layers"][0]
    bound = 4 * model.config.num_householder * DELTA
    assert head["spectral_match"] <= bound and head["relation_error"] <= 3 * bound
    tokens, _ = task("S3").batch((3, 7_777), 16, 32)
    elements = task("S3").group.elements
    cycles = np.mean([elements[int(t)].order() == 3 for t in tokens.ravel()])
    assert head["nonreal_fraction"] == pytest.approx(cycles, abs=0) and 0.2 < cycles < 0.5
    assert head["nh2_criterion_fraction"] is None  # n_h = 3 here
    assert abs(head["modulus"][0] - 1) <= bound and abs(head["modulus"][-1] - 1) <= bound
    assert head["orthogonality"] <= 2 * bound
    assert len(head["lyapunov"]) == model.config.head_dim and max(map(abs, head["lyapunov"])) <= bound
    hist = layer["beta_histogram"]
    assert hist[0] + hist[-1] == sum(hist) and hist[-1] > 0  # β = 0 or β = 2 only
    assert layer["probe_accuracy"]["accuracy"] == 1.0 and layer["probe_accuracy"]["output"]["accuracy"] == 1.0
    assert report["model"]["accuracy"] == {"32": 1.0, "64": 1.0} and report["model"]["first_error"]["64"] is None
    assert report["construction"]["construction"] == program.construction
    json.dumps(report)


def test_lyapunov_exponents_of_known_products():
    """Exact cases: a fixed diag(1/2, 2) has exponents log 2 and −log 2 (the products' singular values are 2^T
    and 2^−T), in a rotated basis too, up to the start's transient; rotations by any angles have 0, 0 to
    rounding; a projection onto e_1 alternating with a rotation by 90° deletes everything (−inf twice: the
    product is 0 after two steps); the order is largest first and the average is over words."""
    from models.analysis import lyapunov_exponents

    c, s = np.cos(0.3), np.sin(0.3)
    turn = np.array([[c, -s], [s, c]])
    stretch = turn @ np.diag([2.0, 0.5]) @ turn.T
    exact = lyapunov_exponents(np.broadcast_to(np.diag([0.5, 2.0]), (3, 40, 2, 2)))
    assert exact == pytest.approx([np.log(2), -np.log(2)], rel=1e-12)
    # in a rotated basis the first QR direction starts off the stretching one: an O(1/T) transient
    assert lyapunov_exponents(np.broadcast_to(stretch, (3, 400, 2, 2))) == pytest.approx(exact, abs=1 / 400)
    angles = np.random.default_rng(0).uniform(0, 2 * np.pi, (2, 50))
    rotations = np.stack(
        [np.stack([np.cos(angles), -np.sin(angles)], -1), np.stack([np.sin(angles), np.cos(angles)], -1)], -2
    )
    assert np.abs(lyapunov_exponents(rotations)).max() < 1e-15
    quarter = np.array([[0.0, -1.0], [1.0, 0.0]])
    deleting = np.stack([np.diag([1.0, 0.0]), quarter] * 3)[None]
    assert np.all(lyapunov_exponents(deleting) == -np.inf)
    with pytest.raises(ValueError, match=r"transitions: expected a \[words, T ≥ 1, K, K\] array, got shape \(2, 3\)"):
        lyapunov_exponents(np.zeros((2, 3)))


def test_the_rotation_criterion_agrees_with_the_eigenvalues_of_a_trained_n_h_2_model():
    """On an n_h = 2 model (random weights, β ∈ [0, 2], no gate: some tokens rotate), the fraction of tokens
    whose learned factors satisfy theory.nh2_has_nonreal_eigenvalues equals the fraction whose A_t has
    non-real eigenvalues (two independent computations of one fact), and is strictly between 0 and 1."""
    from models import analyze

    torch.manual_seed(4)
    config = ModelConfig(vocab_size=6, num_classes=6, num_heads=2, head_dim=4, num_householder=2,
                         use_forget_gate=False)  # fmt: skip
    model = DeltaProductLM(config, backend="reference").double()
    with torch.no_grad():  # step sizes spread over (0, 2): σ of logits of a few units
        model.layers[0].attn.b_proj.weight.mul_(40.0)
    report = analyze(model, "S3", words=8, length=32, lengths=(32,))
    for head in report["layers"][0]["heads"]:
        assert head["nh2_criterion_fraction"] == head["nonreal_fraction"]
    assert any(0 < head["nonreal_fraction"] < 1 for head in report["layers"][0]["heads"])


def test_safe_length_measures_the_first_failing_position_and_predicts_it_from_the_window():
    """On the committed S3 model (n_h = 2, trained at 64): ``measured`` is the first position where the model's own
    argmax is right on fewer than 99 % of the words, computed here independently; the two predictions from the
    window [16, 64] lie beyond it (the margin barely drifts there) and, on this model, beyond the measured
    position too (the spread grows faster than √T past the training length: the predictions are optimistic);
    the exact construction never fails and is predicted never to."""
    from models import load_run, task
    from models.analysis import safe_length
    from proofs_check.claims.trained import CHECKPOINTS

    model = load_run(CHECKPOINTS / "S3-nh2-s0", "reference")[0].double()
    result = safe_length(model, "S3", train_length=64, test_length=256, words=32, seed=2)
    tokens, labels = task("S3").batch((2, 4_242), 32, 256)
    with torch.no_grad():
        accuracy = (model(tokens).argmax(-1) == labels).double().mean(0)
    assert result["measured"] == int(torch.nonzero(accuracy < 0.99)[0, 0]) + 1
    assert 64 < result["measured"] < result["worst"] and result["measured"] < result["probabilistic"]
    assert len(result["mean"]) == len(result["std"]) == len(result["q01"]) == 256
    _, construction = _construction("S3")
    exact = safe_length(construction, "S3", train_length=16, test_length=64, words=8)
    assert exact["measured"] is None and exact["probabilistic"] is None and exact["worst"] is None
    with pytest.raises(ValueError, match=r"train_length: expected 4 ≤ train_length ≤ test_length \(64\), got 2"):
        safe_length(construction, "S3", train_length=2, test_length=64, words=8)
