"""Formats and correctly rounded casts, bit for bit against torch's conversions."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from theory.precision import FORMATS, cast, cast_exact, format_of

TORCH = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


@pytest.mark.parametrize("name", ["bfloat16", "float16", "float32"])
def test_format_constants_match_torch(name):
    f, info = FORMATS[name], torch.finfo(TORCH[name])
    assert f.unit_roundoff == info.eps / 2
    assert f.max_finite == info.max and f.min_normal == info.tiny
    assert f.min_subnormal == info.smallest_normal * info.eps  # the spacing of the subnormals


def _special_float32(rng, count):
    """float32 values across every range: normals, subnormals of each half format, ties, near overflow."""
    bits = rng.integers(0, 2**32, size=count, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = x[np.isfinite(x)].astype(np.float64)
    edges = [
        65504.0,
        65519.99,
        65520.0,
        3.3895314e38,
        3.4e38,
        6e-8,
        2.98e-8,
        5.96e-8,
        1e-45,
        1.0 + 2**-8,
        1.0 + 3 * 2**-9,
    ]
    return np.concatenate([x, np.array(edges), -np.array(edges)]).astype(np.float32).astype(np.float64)


@pytest.mark.parametrize("name", ["bfloat16", "float16"])
def test_cast_agrees_with_torch_bit_for_bit_on_float32_inputs(name):
    x = _special_float32(np.random.default_rng(0), 200_000)
    ours = cast(x, name)
    theirs = torch.tensor(x, dtype=torch.float32).to(TORCH[name]).double().numpy()
    same = (ours == theirs) | (np.isnan(ours) & np.isnan(theirs))
    assert same.all(), x[~same][:5]


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=True, width=64))
def test_cast_to_float32_agrees_with_torch_for_any_double(x):
    ours = cast(np.array([x]), "float32")[0]
    theirs = torch.tensor([x], dtype=torch.float64).to(torch.float32).double().item()
    assert ours == theirs or (np.isnan(ours) and np.isnan(theirs))


def test_torch_rounds_float64_to_half_formats_twice_and_cast_once():
    x = np.array([1 + 2**-8 + 2**-30, 1 + 2**-11 + 2**-40])
    assert list(cast(x[:1], "bfloat16")) == [1 + 2**-7] and list(cast(x[1:], "float16")) == [1 + 2**-10]
    assert torch.tensor(x[:1]).to(torch.bfloat16).item() == 1.0  # via float32: 1 + 2^-8 is a tie, to even
    assert torch.tensor(x[1:]).to(torch.float16).item() == 1.0


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_cast_is_idempotent_and_within_half_an_ulp(name):
    f = FORMATS[name]
    rng = np.random.default_rng(1)
    x = rng.standard_normal(10_000) * 10.0 ** rng.integers(-3, 4, 10_000)
    x = x[(np.abs(x) >= f.min_normal) & (np.abs(x) <= f.max_finite)]  # the relative bound holds there
    y = cast(x, f)
    assert np.array_equal(cast(y, f), y)
    assert (np.abs(y - x) <= f.unit_roundoff * np.abs(x) * (1 + 1e-15)).all()  # normal range: |δ| ≤ u


def test_tf32_keeps_ten_fraction_bits_and_the_float32_range():
    assert cast(np.array([1 + 2**-10, 1 + 2**-11, 1 + 3 * 2**-11]), "tf32").tolist() == [1 + 2**-10, 1.0, 1 + 2**-9]
    big, small = cast(np.array([1e38, 1e-38]), "tf32")  # float16 would give inf and 0
    assert abs(big - 1e38) <= 2.0**-11 * 1e38  # normal: relative error ≤ u
    assert abs(small - 1e-38) <= 2.0 ** (-126 - 10) / 2  # subnormal: half the spacing 2^(emin − p + 1)
    assert cast(np.array([1e38, 1e-38]), "float16").tolist() == [np.inf, 0.0]


def test_overflow_subnormals_and_specials():
    f = FORMATS["float16"]
    assert cast(np.array([65519.99, 65520.0, -70000.0]), f).tolist() == [65504.0, np.inf, -np.inf]
    assert cast(np.array([f.min_subnormal / 2, f.min_subnormal * 0.51, 0.0]), f).tolist() == [0.0, f.min_subnormal, 0.0]
    assert np.isnan(cast(np.array([np.nan]), f)[0])


def test_bad_format_names_the_argument():
    with pytest.raises(TypeError, match="dtype: expected one of"):
        format_of("float8")


@settings(max_examples=200, deadline=None)
@given(st.fractions(min_value=-1000, max_value=1000, max_denominator=10**6), st.sampled_from(sorted(FORMATS)))
def test_cast_exact_rounds_rationals_once(x, name):
    """Against a brute-force search of the two neighbouring representable values (exact arithmetic)."""
    f = FORMATS[name]
    assume(abs(x) >= f.min_normal)  # the normal range; subnormals are covered by the float tests above
    y = cast_exact(x, f)
    e = abs(x).numerator.bit_length() - abs(x).denominator.bit_length()
    e += 1 if Fraction(2) ** (e + 1) <= abs(x) else -1 if Fraction(2) ** e > abs(x) else 0  # 2^e ≤ |x| < 2^(e+1)
    exponent = Fraction(2) ** (e - f.precision + 1)  # the quantum at |x|
    low = math.floor(x / exponent) * exponent
    candidates = [low, low + exponent]
    best = min(candidates, key=lambda c: (abs(c - x), (c / exponent) % 2))  # nearest, then even
    assert Fraction(y) == best


def test_chunk_growth_and_the_chunked_estimate():
    """g = ‖K‖‖W‖: 0 when every β is 0 (W = 0), β for a one-row chunk with a unit key; the chunked estimate
    is the product estimate when g = 0 and adds (steps/C)(2/3)g²u² in quadrature otherwise."""
    from theory.precision import chunk_growth, chunked_error_estimate, product_error_estimate

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
    from theory.precision import chunk_growth, chunked_error_estimate

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
    from theory.precision import chunked_error_bound

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
    from theory.precision import key_rounding_defects

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
    from proofs_check.stability import kernel_safe_lengths
    from theory.constructions import compile_group

    assert kernel_safe_lengths(compile_group("Z2", rep="scalar"), "bfloat16")["worst"] == math.inf
    program = compile_group("S3", rep="permutation")
    half, single = kernel_safe_lengths(program, "float16"), kernel_safe_lengths(program, "float32")
    margin = float(program.min_readout_distance_squared()) ** 0.5 / 2
    radius = max(float(sum(float(e) ** 2 for e in r) ** 0.5) for r in program.readouts)
    assert half["rho"] == pytest.approx(1.0) and half["worst"] == pytest.approx(margin / (half["defect"] * radius))
    assert half["worst"] < half["probabilistic"] and 1e3 < single["worst"] / half["worst"] < 1e5
    from theory.layered import compile_layers

    with pytest.raises(ValueError, match="program: expected a one-layer Program"):
        kernel_safe_lengths(compile_layers("Z4", layers=2), "float16")


def test_mean_square_contraction_matches_sampled_gh_factors_and_gates():
    """c = mean(1 − β(2 − β)/K) · mean(e^{2g})^{1/n_h} against a direct simulation: an isotropic error
    pushed through sampled factors I − βkkᵀ with random unit keys, and a token's gate every n_h sub-steps,
    shrinks its mean square by about c per sub-step (measured 1.0 % apart, mostly the mean against the
    geometric mean; bound 3 %, which a model with β for β(2 − β) — 6 % — or a gate per sub-step — 11 % —
    would fail). β ∈ {0, 2} without gates forgets nothing (c = 1); a reset (g = −inf) forgets everything."""
    from theory.precision import mean_square_contraction

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
    from theory.precision import effective_steps

    assert effective_steps(1000, 1.0) == 1000 and effective_steps(1000, 0.0) == 1.0
    assert math.isclose(effective_steps(3, 0.5), 1 + 0.5 + 0.25)
    for c in (0.5, 0.9, 0.999):
        cap = 1 / (1 - c)
        assert effective_steps(10**7, c) <= cap and effective_steps(math.ceil(5 * cap), c) >= 0.99 * cap
    with pytest.raises(ValueError, match="contraction: expected a mean-square factor in"):
        effective_steps(10, 1.5)
    with pytest.raises(ValueError, match="steps: expected a count"):
        effective_steps(-1, 0.5)
