"""GH factors, products, the token map and the compact form: exact vs float64 vs low precision."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import exact_unit_keys, seeds, unit_keys

from theory import (
    compact_product,
    gh_factor,
    gh_product,
    ogd_step,
    substep_recurrence,
    token_map,
    unit_roundoff,
    ut_transform,
)

U64 = unit_roundoff("float64")


def _float(m) -> np.ndarray:
    return np.array(sp.Matrix(m).evalf(30).tolist(), dtype=np.float64)


def _rel(x, ref) -> float:
    ref = np.asarray(ref, dtype=np.float64)
    return float(np.linalg.norm(np.asarray(x, dtype=np.float64) - ref) / max(np.linalg.norm(ref), 1e-300))


def _naive_product(keys: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """Independent reference: explicit matrices multiplied left to right as G_{n_h} ⋯ G_1."""
    d = keys.shape[1]
    a = np.eye(d)
    for k, b in zip(keys[::-1], betas[::-1]):
        a = a @ (np.eye(d) - b * np.outer(k, k))
    return a


def test_nh_th_factor_is_leftmost():
    """Pinned convention: k_1 (row 0) is applied first, so gh_product = G(k_2) G(k_1) ≠ G(k_1) G(k_2)."""
    k1, k2 = np.array([1.0, 0.0]), np.array([0.6, 0.8])
    g1, g2 = np.eye(2) - 2 * np.outer(k1, k1), np.eye(2) - 1.5 * np.outer(k2, k2)
    a = gh_product(np.stack([k1, k2]), [2.0, 1.5])
    np.testing.assert_allclose(a, g2 @ g1, atol=4 * U64)
    assert np.abs(a - g1 @ g2).max() > 0.1


@given(exact_unit_keys())
def test_exact_product_matches_float64(case):
    keys, betas = case
    exact = gh_product(keys, betas)
    numeric = gh_product(_float(keys), [float(b) for b in betas])
    # float64 keys carry one rounding each (≤ u); n_h ≤ 3 factors in R³ add O(n_h·d) roundings of entries ≤ 2
    assert np.abs(numeric - _float(exact)).max() <= 64 * U64
    assert all(e.is_Rational for e in exact), "rational keys and betas must give a rational product"


@given(exact_unit_keys())
def test_mpmath_matches_exact(case):
    keys, betas = case
    with mpmath.workdps(50):
        mp_keys = np.array(
            [[mpmath.mpf(sp.Rational(e).p) / sp.Rational(e).q for e in keys.row(i)] for i in range(keys.rows)],
            dtype=object,
        )
        a = gh_product(mp_keys, [mpmath.mpf(sp.Rational(b).p) / sp.Rational(b).q for b in betas])
        exact = gh_product(keys, betas)
        worst = max(
            abs(a[i, j] - mpmath.mpf(sp.Rational(exact[i, j]).p) / sp.Rational(exact[i, j]).q)
            for i in range(3)
            for j in range(3)
        )
        # 50 decimal digits ≈ 2^-166: a few dozen roundings stay far below 1e-45
        assert worst < mpmath.mpf("1e-45")


@given(unit_keys())
def test_product_matches_naive_reference(case):
    keys, betas = case
    a = gh_product(keys, betas)
    ref = _naive_product(keys, betas)
    # both are float64 products of n_h ≤ 5 factors with entries ≤ 2: error ≤ c·n_h·d·u
    assert np.abs(a - ref).max() <= 16 * keys.size * U64


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@given(case=unit_keys(max_n_h=4, max_dim=8))
def test_low_precision_product_error_is_bounded_by_unit_roundoff(dtype, case):
    keys, betas = case
    k_low = torch.tensor(keys, dtype=dtype)
    k_low = k_low / torch.linalg.vector_norm(k_low.float(), dim=1, keepdim=True).to(dtype)
    a = gh_product(k_low, betas.tolist())
    assert a.dtype == dtype
    ref = _naive_product(k_low.double().numpy(), torch.tensor(betas, dtype=dtype).double().numpy())
    n_h, d = keys.shape
    # each factor application rounds O(d) times in the dtype on entries of size ≤ 2·‖A‖ ≤ 2;
    # with n_h factors the first-order bound is 4·n_h·(d + 2)·u
    assert np.abs(a.double().numpy() - ref).max() <= 4 * n_h * (d + 2) * unit_roundoff(dtype)


@given(unit_keys(), st.sampled_from([None, 0.0, 1.0, 0.37]), seeds)
def test_token_map_equals_substep_recurrence(case, gate, seed):
    keys, betas = case
    rng = np.random.default_rng(seed)
    n_h, d = keys.shape
    values = rng.standard_normal((n_h, 3))
    h = rng.standard_normal((d, 3))
    a, b = token_map(keys, values, betas, gate)
    run = substep_recurrence(h, keys, values, betas, gate)
    # both float64; the loop and the closed form round differently by O(n_h·d·u) relative to ‖H‖ + ‖B‖
    scale = np.abs(h).max() + np.abs(b).max() + np.abs(values).max()
    assert np.abs(run - (a @ h + b)).max() <= 32 * n_h * d * U64 * scale
    if gate == 0.0:
        assert np.abs(a).max() == 0.0


@given(exact_unit_keys(), st.sampled_from([None, sp.Integer(0), sp.Rational(1, 3)]))
def test_token_map_equals_substep_recurrence_exactly(case, gate):
    keys, betas = case
    values = sp.Matrix(keys.rows, 2, lambda i, j: sp.Rational(i + 2 * j + 1, 3))
    h = sp.Matrix(3, 2, lambda i, j: sp.Rational(i - j, 2))
    a, b = token_map(keys, values, betas, gate)
    assert substep_recurrence(h, keys, values, betas, gate) == a * h + b


@given(unit_keys(), seeds)
def test_ogd_step_is_a_gradient_step(case, seed):
    keys, betas = case
    rng = np.random.default_rng(seed)
    k, beta = keys[0], float(betas[0])
    v, h = rng.standard_normal(2), rng.standard_normal((keys.shape[1], 2))
    grad = np.outer(k, h.T @ k - v)  # ∇_H ½‖Hᵀk − v‖²
    np.testing.assert_allclose(ogd_step(h, k, v, beta), h - beta * grad, atol=16 * U64 * (1 + np.abs(h).max()))


@given(unit_keys(max_n_h=8))
def test_compact_form_equals_product(case):
    keys, betas = case
    direct = gh_product(keys, betas)
    compact = compact_product(keys, betas)
    # T has entries ≤ 2 (kernels.ut_bounds), so the compact form adds O(n_h²·d·u) on entries ≤ 4·n_h
    assert np.abs(direct - compact).max() <= 64 * keys.shape[0] ** 2 * keys.shape[1] * U64


@given(unit_keys(max_n_h=8))
def test_ut_transform_inverts_i_plus_l(case):
    keys, betas = case
    t = ut_transform(keys, betas)
    lower = np.tril(betas[:, None] * (keys @ keys.T), -1)
    assert np.allclose(np.triu(t, 1), 0) and np.allclose(np.diag(t), 1)
    assert np.abs(t @ (np.eye(len(betas)) + lower) - np.eye(len(betas))).max() <= 64 * len(betas) ** 2 * U64
    below = np.abs(np.tril(t, -1))
    assert np.all(below <= betas[:, None] * (1 + 1e-12) + 1e-15), "|T_ij| ≤ β_i for unit keys"


def test_compact_form_exact_symbolic():
    keys = sp.Matrix(3, 2, sp.symbols("k1:7"))
    betas = sp.symbols("b1:4")
    diff = gh_product(keys, betas, check_unit=False) - compact_product(keys, betas)
    assert all(sp.expand(e) == 0 for e in diff)


def test_special_betas():
    k = np.array([[0.6, 0.8]])
    np.testing.assert_array_equal(gh_factor(k, 0.0), np.eye(2))
    p = gh_factor(k, 1.0)
    np.testing.assert_allclose(p @ k[0], 0, atol=4 * U64)  # projection onto k⊥
    r = gh_factor(k, 2.0)
    np.testing.assert_allclose(r @ r, np.eye(2), atol=8 * U64)  # reflection
    np.testing.assert_allclose(r @ k[0], -k[0], atol=4 * U64)


def test_exact_gh_factor_with_surds():
    s = sp.sqrt(2) / 2
    swap = gh_factor([s, -s, 0], 2)
    assert swap == sp.Matrix([[0, 1, 0], [1, 0, 0], [0, 0, 1]])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: gh_product(np.array([[1.0, 1.0]]), [1.0]), r"keys\[0\]: expected a unit-norm key"),
        (lambda: gh_product(np.array([[1.0, 0.0]]), [2.5]), r"betas\[0\]: expected a real number in \[0, 2\]"),
        (lambda: gh_product(np.array([[1.0, 0.0]]), [-0.1]), r"betas\[0\]"),
        (lambda: gh_product(np.array([[1.0, 0.0]]), [float("nan")]), r"betas\[0\]"),
        (lambda: gh_product(np.array([[np.nan, 0.0]]), [1.0]), r"keys: expected finite numbers"),
        (lambda: gh_product(np.array([[1.0, 0.0]]), [1.0, 1.0]), r"betas: expected 1 values"),
        (lambda: gh_product(np.zeros((0, 3)), []), r"keys: expected a non-empty matrix"),
        (lambda: gh_product([], []), r"keys: expected at least one row"),
        (lambda: gh_product(np.zeros((2, 2, 2)), [1, 1]), r"keys: expected a 1-D or 2-D array"),
        (lambda: gh_product(sp.Matrix([[1, 1]]), [1]), r"keys\[0\]: expected a unit-norm key"),
        (lambda: gh_product(sp.Matrix([[1, 0]]), [0.5]), r"betas\[0\]: exact arithmetic needs exact numbers"),
        (lambda: gh_product(sp.Matrix([[1, 0]]), [sp.I]), r"betas\[0\]: expected a real number"),
        (lambda: token_map([[1.0, 0.0]], [[1.0], [2.0]], [1.0]), r"values: expected 1 rows"),
        (lambda: token_map([[1.0, 0.0]], [[1.0]], [1.0], 1.5), r"gate: expected a real number in \[0, 1\]"),
        (lambda: substep_recurrence(np.zeros((3, 1)), [[1.0, 0.0]], [[1.0]], [1.0]), r"state: expected shape \(2, 1\)"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_unit_check_can_be_skipped_and_unit_tolerance_scales_with_dtype():
    k = np.array([[1.0, 1.0]])
    np.testing.assert_allclose(gh_product(k, [1.0], check_unit=False), np.eye(2) - np.ones((2, 2)))
    # a key normalised in bfloat16 is off by up to ~2^-8 in norm: accepted as bfloat16, refused as float64
    x = torch.tensor([[0.3, 0.7, 0.2, 0.9]])
    kb = (x / x.norm()).to(torch.bfloat16)
    gh_product(kb, [2.0])
    with pytest.raises(ValueError, match="unit-norm"):
        gh_product(kb.double() * (1 + 1e-6), [2.0])
