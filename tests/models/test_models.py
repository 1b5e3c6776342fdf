"""models: the Gated DeltaProduct layer against its own definition and fla's parameter layout, the backends
against each other, the transitions against the kernel's state update, and training with checkpoints."""

from __future__ import annotations

import json

import pytest
import torch

from models import (
    DeltaProductLM,
    GatedDeltaProduct,
    ModelConfig,
    TrainConfig,
    evaluate,
    learning_rate,
    load_run,
    read_metrics,
    task,
    train,
)
from theory import unit_roundoff


def _layer(n_h=2, gate=True, conv=True, neg=True, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    layer = GatedDeltaProduct(hidden_size=12, expand_v=1, head_dim=4, num_heads=3, num_householder=n_h,
                              use_forget_gate=gate, use_short_conv=conv, allow_neg_eigval=neg,
                              backend="reference")  # fmt: skip
    return layer.to(dtype)


def test_parameters_have_fla_s_names_and_shapes():
    """The state dict of fla's GatedDeltaProduct (fla/layers/gated_deltaproduct.py: hidden 12, 3 heads of 4,
    expand_v 2, n_h 2, gate, short convolutions of 4, output gate), so weights move between the two."""
    layer = GatedDeltaProduct(hidden_size=12, expand_v=2, head_dim=4, num_heads=3, num_householder=2)
    shapes = {name: tuple(p.shape) for name, p in layer.state_dict().items()}
    assert shapes == {
        "q_proj.weight": (12, 12), "k_proj.weight": (24, 12), "v_proj.weight": (48, 12), "b_proj.weight": (6, 12),
        "a_proj.weight": (3, 12), "A_log": (3,), "dt_bias": (3,), "q_conv1d.weight": (12, 1, 4),
        "k_conv1d.weight": (24, 1, 4), "v_conv1d.weight": (48, 1, 4), "g_proj.weight": (24, 12),
        "o_norm.weight": (8,), "o_proj.weight": (12, 24),
    }  # fmt: skip
    with pytest.raises(ValueError, match="num_householder: expected a positive integer, got 0"):
        GatedDeltaProduct(hidden_size=12, head_dim=4, num_heads=3, num_householder=0)
    with pytest.raises(ValueError, match="expand_v: expected head_dim·expand_v to be a positive integer"):
        GatedDeltaProduct(hidden_size=12, head_dim=4, num_heads=3, expand_v=0.3)


def test_the_output_gate_can_be_left_out(tmp_path):
    """``use_output_gate=False`` (fla's argument; the DeltaProduct paper's state-tracking models): no
    g_proj, and the layer's output is o_proj of the per-head RMSNorm of the recurrence's output,
    o / √(mean(o²) + 10⁻⁵) · weight (float64: equal to 1e-12 relative). The LM's config carries the choice
    through config.json; a config.json written before the field existed loads with the gate (its default),
    and a non-boolean is refused by name."""
    from kernels import delta_product

    torch.manual_seed(1)
    layer = GatedDeltaProduct(hidden_size=12, expand_v=1, head_dim=4, num_heads=3, num_householder=2,
                              use_output_gate=False, backend="reference").double()  # fmt: skip
    assert "g_proj.weight" not in layer.state_dict() and "o_norm.weight" in layer.state_dict()
    with torch.no_grad():
        layer.o_norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    f = layer.factors(x)
    o, _ = delta_product(f.q, f.k.reshape(2, 10, 3, 4), f.v.reshape(2, 10, 3, 4), f.beta.reshape(2, 10, 3), g=f.g,
                         num_householder=2, backend="reference")  # fmt: skip
    normed = o / (o.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt() * layer.o_norm.weight
    want = normed.reshape(2, 5, 12) @ layer.o_proj.weight.T
    assert float((layer(x)[0].detach() - want.detach()).norm() / want.norm()) <= 1e-12

    model_config, _, _ = _tiny(2, tmp_path / "run", use_output_gate=False)
    assert not any("g_proj" in name for name in load_run(tmp_path / "run")[0].state_dict())
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["use_output_gate"] is False
    del config["model"]["use_output_gate"]
    assert ModelConfig.from_dict(config["model"]).use_output_gate is True
    with pytest.raises(ValueError, match="model.use_output_gate: expected true or false, got 'no'"):
        ModelConfig.from_dict({**config["model"], "use_output_gate": "no"})


@pytest.mark.parametrize(
    "n_h, gate, conv, neg", [(1, True, True, True), (2, False, True, False), (3, True, False, True)]
)
def test_factors_follow_the_definition(n_h, gate, conv, neg):
    """Keys and queries of unit norm; β = σ(W_b x) (times 2 with allow_neg_eigval) in the interleaved order of
    fla's rearrange 't (n h) -> (t n) h'; g = −e^{A_log}·softplus(W_a x + dt_bias) ≤ 0; causal: a change at
    token 5 leaves the factors of tokens 0–4 alone."""
    layer = _layer(n_h, gate, conv, neg)
    x = torch.randn(2, 7, 12, dtype=torch.float64)
    f = layer.factors(x)
    for name, unit in (("k", f.k), ("q", f.q)):  # fla's in-kernel normalisation: x / √(Σx² + 10⁻⁶)
        proj = x @ getattr(layer, f"{name}_proj").weight.T
        raw = getattr(layer, f"{name}_conv1d")(proj) if conv else torch.nn.functional.silu(proj)
        raw = raw.view(unit.shape)
        assert torch.allclose(unit, raw / (raw.pow(2).sum(-1, keepdim=True) + 1e-6).sqrt(), rtol=1e-12, atol=0)
    beta = torch.sigmoid(x @ layer.b_proj.weight.T) * (2 if neg else 1)
    assert torch.equal(f.beta, beta.view(2, 7, n_h, 3))
    if gate:
        g = -layer.A_log.exp() * torch.nn.functional.softplus(x @ layer.a_proj.weight.T + layer.dt_bias)
        assert torch.allclose(f.g, g, rtol=1e-12) and (f.g <= 0).all()
    else:
        assert f.g is None
    y = x.clone()
    y[:, 5] += 1
    g = layer.factors(y)
    assert torch.equal(g.k[:, :5], f.k[:, :5]) and not torch.equal(g.k[:, 5], f.k[:, 5])


def test_transitions_are_the_kernel_s_state_update():
    """For one token, the final state from S0 minus the one from 0 is A_t S0 (the values' part cancels): the
    transitions (float64, A_t = (I − β_n k_n k_nᵀ) ⋯ (I − β_1 k_1 k_1ᵀ) e^{g_t}) against the kernel's update,
    to float64 rounding; and ‖A_t‖₂ ≤ 1 (unit keys, β ∈ [0, 2], g ≤ 0)."""
    layer = _layer(3)
    x = torch.randn(2, 1, 12, dtype=torch.float64)
    s0 = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    a = layer.transitions(x)[:, 0]
    f = layer.factors(x)
    rows = layer.num_householder
    args = (f.q, f.k.reshape(2, rows, 3, 4), f.v.reshape(2, rows, 3, 4), f.beta.reshape(2, rows, 3))
    from kernels import delta_product

    finals = [delta_product(*args, g=f.g, num_householder=rows, initial_state=s, output_final_state=True)[1]
              for s in (s0, torch.zeros_like(s0))]  # fmt: skip
    assert torch.allclose(finals[0] - finals[1], a @ s0, atol=1e-12)
    assert torch.linalg.matrix_norm(a, ord=2).max() <= 1 + 1e-12


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_backends_agree_on_the_cpu(dtype):
    """The layer and its gradients through the reference backend (PyTorch) and ours (Triton's interpreter)
    agree to 100 unit roundoffs of the dtype: two chunkings of the same recurrence over 22 sub-steps, then the
    projections' gradients (measured ≤ 17 u in both float32 and float64)."""
    layer = _layer(2, dtype=dtype)
    x = torch.randn(2, 11, 12, dtype=dtype, requires_grad=True)
    results = []
    for backend in ("reference", "triton"):
        layer.backend = backend
        layer.zero_grad()
        x.grad = None
        y, _ = layer(x)
        y.pow(2).sum().backward()
        results.append([y.detach(), x.grad.clone(), layer.k_proj.weight.grad.clone()])
    bound = 100 * unit_roundoff(str(dtype).removeprefix("torch."))
    for a, b in zip(*results):
        assert float((a - b).norm() / b.norm()) <= bound


def _tiny(steps, out, seed=0, eval_every=None, **overrides):
    model = ModelConfig(vocab_size=2, num_classes=2, num_heads=2, head_dim=8, num_householder=1, mlp_ratio=2,
                        **overrides)  # fmt: skip
    config = TrainConfig(task="Z2", steps=steps, batch=32, lr=1e-2, train_length=16, eval_lengths=(16, 64),
                         eval_every=eval_every or steps, eval_batch=64, seed=seed, backend="reference")  # fmt: skip
    return model, config, train(model, config, out)


def test_a_tiny_model_learns_parity_and_saves_a_checkpoint(tmp_path):
    """Parity (Z2), one layer, n_h = 1, β ∈ [0, 2], 150 steps on the CPU: accuracy ≥ 0.99 at the training
    length 16 (a reflection per 1 is what the task needs; measured 1.0 from step 100 on); the run directory
    holds the config, weights, optimizer moments, metrics and curves, and a loaded model evaluates the same."""
    model_config, config, rows = _tiny(150, tmp_path / "run", eval_every=75)
    assert [r["step"] for r in rows] == [75, 150] and set(rows[-1]["accuracy"]) == {"16", "64"}
    assert rows[-1]["accuracy"]["16"] >= 0.99
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert names == {"config.json", "model.safetensors", "optimizer.safetensors", "state.json", "metrics.jsonl",
                     "curves.png"}  # fmt: skip
    model, loaded_model, loaded_train, step = load_run(tmp_path / "run")
    assert (loaded_model, loaded_train, step) == (model_config, config, 150)
    again = evaluate(model, "Z2", (16, 64), 64, 0)
    assert again["accuracy"] == rows[-1]["accuracy"] and len(again["by_position"]["64"]) == 64


def test_resume_continues_exactly(tmp_path):
    """30 steps then a resume to 60 give the weights and metrics of 60 uninterrupted steps, bit for bit (data
    of step s from (seed, s); AdamW's moments saved); resuming with another setting is refused by name."""
    _, config, straight = _tiny(60, tmp_path / "a", eval_every=30)
    model_config, _, _ = _tiny(30, tmp_path / "b", eval_every=30)
    resumed = train(model_config, config, tmp_path / "b", resume=True)
    assert resumed == straight
    a, b = load_run(tmp_path / "a")[0], load_run(tmp_path / "b")[0]
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(ValueError, match="only --steps may change"):
        train(model_config, TrainConfig(**{**config.to_dict(), "eval_lengths": (16,), "lr": 1e-3}), tmp_path / "b",
              resume=True)  # fmt: skip
    with pytest.raises(ValueError, match="is not empty"):
        train(model_config, config, tmp_path / "b")


def test_cosine_schedule_warms_up_then_decays_to_a_hundredth():
    """schedule="cosine", 100 steps: lr·s/10 for s ≤ 10, lr at the end of the warm-up, lr(1 + 1/100)/2 half way
    through the decay (step 55), lr/100 at the last step, never increasing after the warm-up; "constant" is lr."""
    config = TrainConfig(task="Z2", steps=100, lr=2e-3, schedule="cosine")
    rates = [learning_rate(config, s) for s in range(1, 101)]
    assert rates[0] == pytest.approx(2e-4, rel=1e-12) and rates[9] == pytest.approx(2e-3, rel=1e-12)
    assert rates[54] == pytest.approx(2e-3 * 1.01 / 2, rel=1e-12) and rates[99] == pytest.approx(2e-5, rel=1e-12)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))
    assert learning_rate(TrainConfig(task="Z2", steps=100, lr=2e-3), 1) == 2e-3
    with pytest.raises(ValueError, match="schedule: expected 'constant' or 'cosine', got 'step'"):
        TrainConfig(task="Z2", steps=1, schedule="step")


@pytest.mark.parametrize("spec", ["lang:tomita3", "lang:random:7:3:2", "regex:ab:(ab)*b", "lang:cycle_navigation"])
def test_language_tasks_label_every_prefix_with_the_dfa_state(spec):
    """State tracking: tokens are letters, labels the automaton's state after every prefix (checked word by
    word against :meth:`Automaton.run`), or with ``:accept`` whether that state is final."""
    problem = task(spec)
    automaton = problem.automaton
    tokens, labels = problem.batch((3, 1), 8, 25)
    assert (problem.vocab_size, problem.num_classes) == (len(automaton.letters), len(automaton.states))
    assert int(tokens.max()) < problem.vocab_size and labels.shape == tokens.shape == (8, 25)
    for word, states in zip(tokens.tolist(), labels.tolist()):
        assert states == automaton.run(word)
    accept = task(spec + ":accept")
    tokens2, labels2 = accept.batch((3, 1), 8, 25)
    assert torch.equal(tokens2, tokens) and accept.num_classes == 2
    assert labels2.tolist() == [[int(q in automaton.final) for q in row] for row in labels.tolist()]


def test_a_language_whose_letters_and_states_differ_trains(tmp_path):
    """cycle_navigation: 3 letters, 5 states — the model's vocabulary and classes come from the task."""
    problem = task("lang:cycle_navigation")
    model_config = ModelConfig(vocab_size=problem.vocab_size, num_classes=problem.num_classes, num_heads=1,
                               head_dim=8, num_householder=2)  # fmt: skip
    config = TrainConfig(task="lang:cycle_navigation", steps=2, batch=8, train_length=8, eval_lengths=(8,),
                         eval_batch=8, backend="reference")  # fmt: skip
    rows = train(model_config, config, tmp_path / "run")
    assert [r["step"] for r in rows] == [2] and 0 <= rows[0]["accuracy"]["8"] <= 1
    with pytest.raises(ValueError, match="task: expected regex:ALPHABET:RE"):
        task("regex:ab")
    with pytest.raises(ValueError, match="language: expected one of tomita1"):
        task("lang:tomita9")


def test_autocast_runs_the_recurrence_in_bfloat16(tmp_path, monkeypatch):
    """TrainConfig(autocast="bfloat16"): every forward (training and evaluation) hands the kernel bfloat16 q,
    k, v and β (what fla's kernels require), while the parameters and their optimizer stay float32."""
    import models.layer

    seen = []

    def recording(q, k, v, beta, **kw):
        seen.append((q.dtype, k.dtype, v.dtype, beta.dtype))
        return kernel(q, k, v, beta, **kw)

    kernel = models.layer.delta_product
    monkeypatch.setattr(models.layer, "delta_product", recording)
    model_config = ModelConfig(vocab_size=2, num_classes=2, num_heads=1, head_dim=8, num_householder=1)
    config = TrainConfig(task="Z2", steps=2, batch=8, train_length=8, eval_lengths=(8,), eval_batch=8,
                         backend="reference", autocast="bfloat16")  # fmt: skip
    train(model_config, config, tmp_path / "run")
    assert len(seen) == 3 and set(seen) == {(torch.bfloat16,) * 4}  # two steps, one evaluation
    model = load_run(tmp_path / "run")[0]
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    with pytest.raises(ValueError, match="autocast: expected 'none' or 'bfloat16', got 'fp8'"):
        TrainConfig(task="Z2", steps=1, autocast="fp8")


def test_bad_configs_and_files_are_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="steps: expected a positive integer, got 0"):
        TrainConfig(task="Z2", steps=0)
    with pytest.raises(ValueError, match="backend: expected auto, reference, triton or fla"):
        TrainConfig(task="Z2", steps=1, backend="cuda")
    with pytest.raises(ValueError, match="num_householder: expected a positive integer"):
        ModelConfig(vocab_size=2, num_classes=2, num_householder=0)
    with pytest.raises(ValueError, match="group: expected"):
        train(ModelConfig(vocab_size=2, num_classes=2), TrainConfig(task="Q9", steps=1), tmp_path / "x")
    with pytest.raises(ValueError, match=r"model: S3 needs \(vocab_size, num_classes\) = \(6, 6\), got \(2, 2\)"):
        train(ModelConfig(vocab_size=2, num_classes=2), TrainConfig(task="S3", steps=1), tmp_path / "y")
    _tiny(2, tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    config["model"]["num_heads"] = "two"
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="num_heads: expected a positive integer, got 'two'"):
        load_run(tmp_path / "run")
    config["model"]["num_heads"], config["model"]["exec"] = 2, "x"
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"model: unknown fields \['exec'\]"):
        load_run(tmp_path / "run")
    with pytest.raises(ValueError, match=r"tokens: expected ids in \[0, 2\)"):
        DeltaProductLM(ModelConfig(vocab_size=2, num_classes=2))(torch.tensor([[0, 2]]))
    assert read_metrics(tmp_path / "nothing") == []
