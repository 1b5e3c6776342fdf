"""Spectra: exact vs float64, the n_h = 2 criterion, reachable-spectrum sampling."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import betas, exact_unit_keys, unit_keys

from theory import (
    determinant,
    eigenvalues,
    gh_factor,
    gh_product,
    nh2_discriminant,
    nh2_has_nonreal_eigenvalues,
    nh2_trace_det,
    sample_reachable_spectrum,
    spectral_norm,
    unit_roundoff,
    update_rank,
)

U64 = unit_roundoff("float64")


def _by_position(values) -> list[complex]:
    return sorted((complex(v) for v in values), key=lambda z: (round(z.real, 6), round(z.imag, 6)))


@given(exact_unit_keys(max_n_h=2))
def test_exact_and_float_spectra_agree(case):
    keys, bs = case
    a = gh_product(keys, bs)
    exact = _by_position(sp.N(v, 30) for v in eigenvalues(a))
    numeric = _by_position(eigenvalues(np.array(a.evalf(30).tolist(), dtype=np.float64)))
    # eigenvalues of a normal-ish 3×3 matrix move by O(u·‖A‖); a defective one (e.g. two equal keys)
    # can move by O(√u) ≈ 1.5e-8, so the bound is 1e-7
    assert max(abs(x - y) for x, y in zip(exact, numeric)) <= 1e-7
    assert sp.simplify(determinant(a) - sp.prod([1 - b for b in bs])) == 0


@given(unit_keys())
def test_norm_and_determinant_float(case):
    keys, bs = case
    a = gh_product(keys, bs)
    assert spectral_norm(a) <= 1 + 32 * keys.size * U64  # Prop 1.1 up to rounding of the product
    assert abs(determinant(a) - np.prod(1 - bs)) <= 32 * keys.size * U64
    assert update_rank(a) <= len(bs)


def test_gh_factor_spectrum_exact():
    beta = sp.Rational(3, 2)
    g = gh_factor(sp.Matrix([[sp.Rational(3, 5), sp.Rational(4, 5), 0]]), beta)
    assert eigenvalues(g) == [-sp.Rational(1, 2), 1, 1]
    assert spectral_norm(g) == 1
    assert determinant(g) == -sp.Rational(1, 2)
    assert update_rank(g) == 1
    assert spectral_norm(gh_factor(sp.Matrix([[1, 0]]), 2)) == 1


def test_all_number_systems_answer_in_their_own_type():
    k = [[0.6, 0.8]]
    a = gh_factor(np.array(k), 1.5)
    assert isinstance(eigenvalues(a), np.ndarray)
    at = gh_factor(torch.tensor(k), 1.5)
    assert isinstance(eigenvalues(at), torch.Tensor) and eigenvalues(at).dtype == torch.complex128
    with mpmath.workdps(40):
        am = gh_factor(np.array([[mpmath.mpf(3) / 5, mpmath.mpf(4) / 5]], dtype=object), mpmath.mpf(3) / 2)
        ev = sorted(eigenvalues(am), key=lambda z: float(mpmath.re(z)))
        assert abs(ev[0] + mpmath.mpf(1) / 2) < mpmath.mpf("1e-35") and abs(ev[1] - 1) < mpmath.mpf("1e-35")
        assert abs(determinant(am) + mpmath.mpf(1) / 2) < mpmath.mpf("1e-35")
        assert abs(spectral_norm(am) - 1) < mpmath.mpf("1e-35")


def test_update_rank_counts_the_factors_of_independent_keys():
    rng = np.random.default_rng(0)
    for n_h in range(1, 5):
        k = rng.standard_normal((n_h, 6))
        k /= np.linalg.norm(k, axis=1, keepdims=True)
        assert update_rank(gh_product(k, [1.5] * n_h)) == n_h
        assert update_rank(gh_product(k, [0.0] * n_h)) == 0


@given(st.floats(-1, 1), betas, betas)
def test_nh2_criterion_matches_eigenvalues(c, b1, b2):
    s = np.sqrt(max(0.0, 1 - c * c))
    keys = np.array([[1.0, 0.0, 0.0], [c, s, 0.0]])
    keys[1] /= np.linalg.norm(keys[1])
    c = float(keys[0] @ keys[1])
    tau, delta = nh2_trace_det(c, b1, b2)
    ev = np.linalg.eigvals(gh_product(keys, [b1, b2]))
    if abs(tau**2 - 4 * delta) > 1e-9:  # away from the boundary the float64 sign is reliable
        assert nh2_has_nonreal_eigenvalues(c, b1, b2) == bool(np.abs(ev.imag).max() > 1e-8)
    if nh2_has_nonreal_eigenvalues(c, b1, b2):
        assert b1 > 1 and b2 > 1 and 0 < abs(c) < 1


def test_nh2_float_verdict_is_reliable_where_the_spectrum_is_real():
    """Naively τ² − 4δ rounds below 0 at c = 0, β₁ = β₂ = 1e-5 (a real spectrum); the stable form does not."""
    assert not nh2_has_nonreal_eigenvalues(0.0, 1e-5, 1e-5)
    assert nh2_discriminant(0.0, 1e-5, 1e-5) == 0.0


@given(c=st.fractions(-1, 1, max_denominator=50), b1=st.fractions(0, 2, max_denominator=50),
       b2=st.fractions(0, 2, max_denominator=50))  # fmt: skip
def test_nh2_discriminant_is_tau_squared_minus_four_delta_exactly(c, b1, b2):
    """The cancellation-free form equals τ² − 4δ of nh2_trace_det exactly (rationals, β including 0, 1, 2), and
    τ, δ are the trace and determinant of the product on span{k₁, k₂}: a wrong term in either is caught here."""
    c, b1, b2 = sp.Rational(c), sp.Rational(b1), sp.Rational(b2)
    tau, delta = nh2_trace_det(c, b1, b2)
    assert nh2_discriminant(c, b1, b2) == sp.expand(tau**2 - 4 * delta)
    s = sp.sqrt(1 - c**2)
    product = gh_product(sp.Matrix([[1, 0], [c, s]]), [b1, b2], check_unit=False)
    assert sp.simplify(product.trace() - tau) == 0 and sp.simplify(product.det() - delta) == 0


def test_nh2_exact():
    assert nh2_has_nonreal_eigenvalues(sp.Rational(1, 2), 2, 2)  # rotation by 2·60°
    assert not nh2_has_nonreal_eigenvalues(0, 2, 2)  # orthogonal keys commute
    assert not nh2_has_nonreal_eigenvalues(sp.Rational(1, 2), 1, 2)
    tau, delta = nh2_trace_det(sp.Symbol("c"), 2, 2)
    assert sp.expand(tau - (4 * sp.Symbol("c") ** 2 - 2)) == 0 and delta == 1
    with pytest.raises(ValueError, match="beta1: expected a real number in"):
        nh2_trace_det(0.5, 2.5, 1.0)
    with pytest.raises(ValueError, match="c: expected a real number in"):
        nh2_trace_det(1.5, 1, 1)
    with pytest.raises(ValueError, match="expected numbers, got symbols"):
        nh2_has_nonreal_eigenvalues(sp.Symbol("c"), 2, 2)


@pytest.mark.parametrize("n_h, lo, hi", [(1, 0.0, 2.0), (2, 0.0, 1.0), (2, 0.0, 2.0), (3, 1.0, 2.0)])
def test_reachable_spectrum(n_h, lo, hi):
    s = sample_reachable_spectrum(n_h, 4, (lo, hi), samples=500, seed=1)
    assert s.eigenvalues.shape == (500, 4) and s.betas.shape == (500, n_h) and s.keys.shape == (500, n_h, 4)
    assert s.betas.min() >= lo and s.betas.max() <= hi
    assert {b for b in (lo, 1.0, hi) if lo <= b <= hi} <= set(np.unique(s.betas))
    assert s.max_modulus <= 1 + 1e-12
    if n_h == 1 or (n_h == 2 and hi <= 1):
        # one GH factor is symmetric; two with β ≤ 1 have a real spectrum (Prop 1.3): Im λ is rounding only
        assert s.max_imag <= 1e-12


def test_reachable_spectrum_needs_two_reflection_like_factors_for_rotations():
    assert sample_reachable_spectrum(2, 3, (0.0, 2.0), samples=2000, seed=0).max_imag > 0.5
    assert sample_reachable_spectrum(2, 3, (0.0, 1.0), samples=2000, seed=0).max_imag < 1e-12


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: sample_reachable_spectrum(0, 3), "n_h: expected a positive integer"),
        (lambda: sample_reachable_spectrum(2, 3, (0.0, 2.5)), "beta_range"),
        (lambda: eigenvalues(np.ones((2, 3))), "matrix: expected a non-empty square matrix"),
        (lambda: determinant(np.array([[np.inf]])), "matrix: expected finite numbers"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
