"""Formats and correctly rounded casts, bit for bit against torch's conversions."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from theory.formats import FORMATS, cast, cast_exact, format_of

TORCH = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32,
         "float8_e5m2": torch.float8_e5m2}


@pytest.mark.parametrize("name", ["float8_e5m2", "bfloat16", "float16", "float32"])
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


@pytest.mark.parametrize("name", ["float8_e5m2", "bfloat16", "float16"])
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
