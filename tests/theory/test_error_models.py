"""Error models of theory.error_models against measured errors and exact cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from theory.formats import FORMATS, cast


def test_chunk_growth_and_the_chunked_estimate():
    """g = ‖K‖‖W‖: 0 when every β is 0 (W = 0), β for a one-row chunk with a unit key; the chunked estimate
    is the product estimate when g = 0 and adds (steps/C)(2/3)g²u² in quadrature otherwise."""
    from theory.error_models import chunk_growth, chunked_error_estimate, product_error_estimate

    u = FORMATS["float32"].unit_roundoff
    rng = np.random.default_rng(0)
    keys = rng.standard_normal((40, 5))
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    assert chunk_growth(keys, np.zeros(40), 16) == 0.0
    assert chunk_growth(keys[:1], np.array([1.5]), 16) == pytest.approx(1.5, rel=1e-12)
    assert chunked_error_estimate("float32", 512, 64, 0.0) == pytest.approx(product_error_estimate("float32", 512))
    extra = chunked_error_estimate("float32", 512, 64, 13.0) ** 2 - product_error_estimate("float32", 512) ** 2
    assert extra == pytest.approx(512 / 64 * 2 / 3 * 13.0**2 * u**2, rel=1e-9)
    with pytest.raises(ValueError, match="keys, betas: expected shapes"):
        chunk_growth(keys, np.zeros(3), 16)


def test_chunked_estimate_matches_the_chunked_reference_in_order_of_magnitude():
    """The float32 UT/WY reference at C = 64 with β near 2 (g ≈ 13): its measured state error against float64
    lies within a factor 10 of chunked_error_estimate either way (the issue's 'order of magnitude')."""
    import torch

    from kernels import delta_product
    from theory.error_models import chunk_growth, chunked_error_estimate

    gen = torch.Generator().manual_seed(1)
    tokens, n_h, heads, dim = 128, 2, 2, 16
    f64 = dict(generator=gen, dtype=torch.float64)
    k = torch.nn.functional.normalize(torch.randn(1, tokens * n_h, heads, dim, **f64), dim=-1)
    q = torch.randn(1, tokens, heads, dim, generator=gen, dtype=torch.float64)
    v = torch.randn(1, tokens * n_h, heads, dim, generator=gen, dtype=torch.float64)
    beta = 1.9 + 0.1 * torch.rand(1, tokens * n_h, heads, generator=gen, dtype=torch.float64)
    low = [x.float() for x in (q, k, v)]
    kw = dict(num_householder=n_h, output_final_state=True, backend="reference")
    _, ref = delta_product(*[x.double() for x in low], beta, mode="recurrent", **kw)
    _, got = delta_product(*low, beta, mode="chunk", chunk_size=64, **kw)
    measured = float((got.double() - ref).norm() / ref.norm())
    growth = chunk_growth(low[1][0, :, 0].double().numpy(), beta[0, :, 0].numpy(), 64)
    estimate = chunked_error_estimate("float32", tokens * n_h, 64, growth)
    assert growth > 5 and estimate / 10 <= measured <= 10 * estimate


@pytest.mark.parametrize("name, chunk, betas", [("float32", 16, (1.9, 2.0)), ("float32", 64, (0.0, 2.0)),
                                                ("bfloat16", 64, (1.9, 2.0))])  # fmt: skip
def test_chunked_error_bound_holds_on_the_chunked_reference(name, chunk, betas):
    """The worst-case bound is never exceeded: the op-by-op chunked reference in the format, values 0 (the
    state-transition error), against the float64 sub-step loop on the same rounded keys; and with every β
    equal to 0 (the identity) only the final additions remain, √width·u per chunk."""
    from kernels import delta_product
    from theory.error_models import chunked_error_bound

    gen = torch.Generator().manual_seed(chunk)
    tokens, n_h, dim = 96, 2, 8
    f64 = dict(generator=gen, dtype=torch.float64)
    k = torch.nn.functional.normalize(torch.randn(1, tokens * n_h, 1, dim, **f64), dim=-1)
    beta = betas[0] + (betas[1] - betas[0]) * torch.rand(1, tokens * n_h, 1, **f64)
    h0 = torch.randn(1, 1, dim, dim, **f64)
    q, v = torch.randn(1, tokens, 1, dim, **f64), torch.zeros(1, tokens * n_h, 1, dim, dtype=torch.float64)
    dtype = getattr(torch, name)
    low = [x.to(dtype) for x in (q, k, v)]
    kw = dict(num_householder=n_h, output_final_state=True, backend="reference")
    _, ref = delta_product(*[x.double() for x in low], beta, initial_state=h0, mode="recurrent", **kw)
    _, got = delta_product(*low, beta, initial_state=h0.float(), mode="chunk", chunk_size=chunk, **kw)
    measured = float(torch.linalg.matrix_norm(got.double() - ref, ord=2).max() / torch.linalg.matrix_norm(h0, ord=2))
    keys = low[1][0, :, 0].double().numpy()
    assert 0 < measured <= chunked_error_bound(name, keys, beta[0, :, 0].numpy(), chunk, dim)
    zero = chunked_error_bound(name, keys, np.zeros(tokens * n_h), chunk, dim)
    assert zero == pytest.approx(-(-tokens * n_h // chunk) * dim**0.5 * FORMATS[name].unit_roundoff, rel=1e-12)


def test_key_rounding_defects_of_a_swap_and_of_a_rotation():
    """A swap key (e_0 − e_1)/√2 rounds to c(e_0 − e_1), c = cast(1/√2): H(k̂) − H(k) is
    −2(c² − ½)(e_0 − e_1)(e_0 − e_1)ᵀ, of norm 4|c² − ½|, and ‖k̂‖² = 2c² < 1 keeps it non-expansive; a
    reflection's norm is max(1, |1 − 2‖k̂‖²|), above 1 when the rounded key is longer than 1. Closed forms
    and dense float64 matrices, computed apart from the function."""
    from theory.error_models import key_rounding_defects

    for fmt in ("bfloat16", "float16"):
        c = float(cast(np.array([0.5**0.5]), fmt)[0])
        defects, norms = key_rounding_defects([[[0.5**0.5, -(0.5**0.5), 0.0]]], [[2.0]], fmt)
        assert defects[0] == pytest.approx(4 * abs(c * c - 0.5), rel=1e-12) and norms[0] == pytest.approx(1.0)
        angle = 3 * math.pi / 16
        key = np.array([math.cos(angle), math.sin(angle)])
        rounded = cast(key, fmt)
        defects, norms = key_rounding_defects([[key]], [[2.0]], fmt)
        assert norms[0] == pytest.approx(max(1.0, abs(1 - 2 * rounded @ rounded)), rel=1e-12)
        exact = np.eye(2) - 2 * np.outer(key, key)
        assert defects[0] == pytest.approx(np.linalg.norm(np.eye(2) - 2 * np.outer(rounded, rounded) - exact, 2))
    defects, _ = key_rounding_defects([[[1.0, 0.0]], [[0.0, 1.0]]], [[2.0], [0.0]], "bfloat16")
    assert not defects.any()  # exact keys: no defect
    with pytest.raises(ValueError, match="keys, betas: expected shapes"):
        key_rounding_defects([[1.0, 0.0]], [2.0], "bfloat16")


def test_kernel_safe_lengths_follow_the_defect():
    """Parity's keys are exact in every format (infinite safe length); a permutation program's worst-case
    length is m/(d·r), with its margin m and orbit radius r read from the program; the probabilistic length
    is longer; fp32 keys (u 2¹³× smaller than fp16's) are thousands of times safer."""
    from theory.error_models import kernel_safe_lengths
    from theory.programs import compile_group, compile_layers

    assert kernel_safe_lengths(compile_group("Z2", rep="scalar"), "bfloat16")["worst"] == math.inf
    program = compile_group("S3", rep="permutation")
    half, single = kernel_safe_lengths(program, "float16"), kernel_safe_lengths(program, "float32")
    margin = float(program.min_readout_distance_squared()) ** 0.5 / 2
    radius = max(float(sum(float(e) ** 2 for e in r) ** 0.5) for r in program.readouts)
    assert half["rho"] == pytest.approx(1.0) and half["worst"] == pytest.approx(margin / (half["defect"] * radius))
    assert half["worst"] < half["probabilistic"] and 1e3 < single["worst"] / half["worst"] < 1e5
    with pytest.raises(ValueError, match="program: expected a one-layer group program"):
        kernel_safe_lengths(compile_layers("Z4", layers=2), "float16")


def test_mean_square_contraction_matches_sampled_gh_factors_and_gates():
    """c = mean(1 − β(2 − β)/K) · mean(e^{2g})^{1/n_h} against a direct simulation: an isotropic error
    pushed through sampled factors I − βkkᵀ with random unit keys, and a token's gate every n_h sub-steps,
    shrinks its mean square by about c per sub-step (measured 1.0 % apart, mostly the mean against the
    geometric mean; bound 3 %, which a model with β for β(2 − β) — 6 % — or a gate per sub-step — 11 % —
    would fail). β ∈ {0, 2} without gates forgets nothing (c = 1); a reset (g = −inf) forgets everything."""
    from theory.error_models import mean_square_contraction

    rng = np.random.default_rng(0)
    kdim, n_h, tokens, trials = 8, 2, 6, 4000
    betas = rng.uniform(0.0, 2.0, tokens * n_h)
    gates = rng.uniform(-0.3, 0.0, tokens)
    x = rng.standard_normal((trials, kdim))
    start = np.mean(np.sum(x**2, axis=1))
    for step, beta in enumerate(betas):
        if step % n_h == 0:
            x = x * np.exp(gates[step // n_h])
        k = rng.standard_normal((trials, kdim))
        k /= np.linalg.norm(k, axis=1, keepdims=True)
        x = x - beta * k * np.sum(k * x, axis=1, keepdims=True)
    sampled = (np.mean(np.sum(x**2, axis=1)) / start) ** (1 / (tokens * n_h))
    c = mean_square_contraction(betas, gates, kdim, n_h)
    # c averages the per-step factors arithmetically (so that a reset forgets only the errors before it);
    # over this fixed run the error shrinks by their geometric mean, at most c (here 1 % below it)
    assert abs(sampled / c - 1) <= 0.03
    assert mean_square_contraction(np.array([0.0, 2.0, 2.0]), None, kdim, 1) == 1.0
    assert mean_square_contraction(np.array([1.0, 1.0]), np.array([float("-inf")]), kdim, 2) == 0.0
    with pytest.raises(ValueError, match="betas, kdim, n_h"):
        mean_square_contraction(np.array([]), None, kdim, 1)
    with pytest.raises(ValueError, match="betas, kdim, n_h"):
        mean_square_contraction(betas, None, "8", 1)


def test_effective_steps_grow_like_t_then_saturate():
    """Σ_{j<T} c^j: T itself at c = 1 (pure √T growth), 1 at c = 0, and at most 1/(1 − c) — reached
    within 1 % after T = 5/(1 − c) steps, since c^T ≤ e^{−5} < 0.01."""
    from theory.error_models import effective_steps

    assert effective_steps(1000, 1.0) == 1000 and effective_steps(1000, 0.0) == 1.0
    assert math.isclose(effective_steps(3, 0.5), 1 + 0.5 + 0.25)
    for c in (0.5, 0.9, 0.999):
        cap = 1 / (1 - c)
        assert effective_steps(10**7, c) <= cap and effective_steps(math.ceil(5 * cap), c) >= 0.99 * cap
    with pytest.raises(ValueError, match="contraction: expected a mean-square factor in"):
        effective_steps(10, 1.5)
    with pytest.raises(ValueError, match="steps: expected a count"):
        effective_steps(-1, 0.5)
