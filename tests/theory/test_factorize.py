"""Factorizations into GH factors: counts, exactness, accuracy, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import ortho_group
from strategies import seeds

from theory import (
    contraction_factors,
    diagonal_factors,
    gh_factorize,
    gh_product,
    orthogonal_reflections,
    permutation_swaps,
    rotation_reflections,
    unit_roundoff,
    update_rank,
)
from theory.factorize import cycle_count

U64 = unit_roundoff("float64")


def _perm_matrix(perm: list[int]) -> sp.Matrix:
    n = len(perm)
    return sp.Matrix(n, n, lambda i, j: 1 if perm[j] == i else 0)


@given(st.permutations(list(range(6))).flatmap(lambda p: st.just(p)))
def test_permutation_swaps_exact(perm):
    p = _perm_matrix(perm)
    f = permutation_swaps(p)
    n = len(perm)
    assert len(f) == n - cycle_count(perm) == (sp.eye(n) - p).rank() == update_rank(p)
    assert f.product(n) == p
    assert all(b == 2 for b in f.betas)


@given(st.permutations(list(range(7))))
def test_permutation_swaps_float_and_torch(perm):
    p = np.array(_perm_matrix(perm).tolist(), dtype=np.float64)
    f = permutation_swaps(p)
    # a swap reflection with keys (e_i − e_j)/√2 rounds 1/√2 once: entries off by ≤ 4u per factor
    assert np.abs(f.product(7) - p).max() <= 8 * max(len(f), 1) * U64
    ft = permutation_swaps(torch.tensor(p, dtype=torch.float32))
    assert len(ft) == len(f) and ft.keys.dtype == torch.float32


def test_cycle_convention():
    """P e_j = e_{π(j)}: the 3-cycle 0→1→2→0 maps e_0 to e_1."""
    p = _perm_matrix([1, 2, 0])
    assert p * sp.Matrix([1, 0, 0]) == sp.Matrix([0, 1, 0])
    assert permutation_swaps(p).product(3) == p


@given(st.integers(1, 7), seeds)
def test_orthogonal_reflections_float(n, seed):
    rng = np.random.default_rng(seed)
    q = ortho_group.rvs(n, random_state=rng) if n > 1 else np.array([[rng.choice([-1.0, 1.0])]])
    if n > 1 and rng.random() < 0.5:
        q[0] = -q[0]
    f = orthogonal_reflections(q)
    assert len(f) <= n
    assert (-1) ** len(f) == round(np.linalg.det(q))
    # Schur route: keys from orthonormal Schur vectors; error O(n²·u)
    assert np.abs(f.product(n) - q).max() <= 16 * n * n * U64


def test_orthogonal_near_identity_columns_stay_accurate():
    """A column within 1e-3 of e_i is where a column-by-column sweep loses accuracy."""
    theta = 1e-3
    q = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    q = np.diag([1.0, -1.0]) @ q
    f = orthogonal_reflections(q)
    assert len(f) == 1
    assert np.abs(f.product(2) - q).max() <= 16 * U64


def _cayley(entries: list[int], n: int, flip: bool) -> sp.Matrix:
    s = sp.zeros(n, n)
    it = iter(entries)
    for i in range(n):
        for j in range(i + 1, n):
            s[i, j] = next(it)
            s[j, i] = -s[i, j]
    q = (sp.eye(n) - s) * (sp.eye(n) + s).inv()
    if flip:
        q[0, :] = -q[0, :]
    return q


@given(
    st.integers(2, 3).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.integers(-3, 3), min_size=n * (n - 1) // 2, max_size=n * (n - 1) // 2),
            st.booleans(),
        )
    )
)
def test_orthogonal_reflections_exact(case):
    n, entries, flip = case
    q = _cayley(entries, n, flip)
    f = orthogonal_reflections(q)
    assert len(f) <= n and (-1) ** len(f) == q.det()
    assert (f.product(n) - q).applyfunc(sp.simplify) == sp.zeros(n)


def test_rotation_reflections_exactly_two():
    q = _cayley([1, 2, -1], 3, flip=False)
    f = rotation_reflections(q)
    assert len(f) == 2 and all(b == 2 for b in f.betas)
    assert (f.product() - q).applyfunc(sp.simplify) == sp.zeros(3)
    ident = rotation_reflections(sp.eye(3))
    assert len(ident) == 2 and ident.product() == sp.eye(3)
    rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    fz = rotation_reflections(rz)
    assert len(fz) == 2 and np.abs(fz.product() - rz).max() <= 16 * U64
    with pytest.raises(ValueError, match="r: expected det R = \\+1"):
        rotation_reflections(_cayley([1, 2, -1], 3, flip=True))
    with pytest.raises(ValueError, match="r: expected a 3×3 rotation"):
        rotation_reflections(np.eye(2))


@given(st.integers(1, 8), seeds, st.sampled_from(["full", "singular", "scaled", "zero"]))
def test_contraction_factors(n, seed, kind):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, n))
    if kind == "singular":
        m[:, 0] = 0.0
    if kind == "zero":
        m[:] = 0.0
    else:
        m /= max(np.linalg.norm(m, 2), 1e-300)
    if kind == "scaled":
        m *= rng.uniform(0, 1)
    f = contraction_factors(m)
    betas = np.array([float(b) for b in f.betas])
    assert len(f) <= 3 * n
    assert np.all((betas >= 0) & (betas <= 2))
    # ≤ 3n factors of O(n) roundings each plus the SVD's backward error O(n·u): bound 64·n²·u
    assert np.abs(f.product(n) - m).max() <= 64 * n * n * U64


def test_zero_matrix_is_n_projections():
    for n in range(1, 6):
        f = gh_factorize(sp.zeros(n, n))
        assert len(f) == n and all(b == 1 for b in f.betas) and f.product(n) == sp.zeros(n, n)
        keys = np.eye(n)
        assert np.array_equal(gh_product(keys, [1.0] * n), np.zeros((n, n)))


def test_diagonal_factors_exact_with_negative_entries():
    d = sp.diag(sp.Rational(1, 2), -1, 1, 0)
    f = diagonal_factors(d)
    assert len(f) == 3 and sorted(f.betas) == [sp.Rational(1, 2), 1, 2]
    assert f.product(4) == d


def test_gh_factorize_routes():
    assert gh_factorize(_perm_matrix([1, 0, 2])).route.startswith("permutation")
    assert gh_factorize(np.diag([0.5, 1.0])).route.startswith("diagonal")
    assert gh_factorize(ortho_group.rvs(4, random_state=0)).route.startswith("orthogonal")
    assert gh_factorize(_cayley([1, 2, 3], 3, False)).route.startswith("orthogonal")
    m = np.array([[0.5, 0.2], [0.1, 0.3]])
    assert gh_factorize(m).route.startswith("contraction")


def test_identity_needs_no_factors():
    f = gh_factorize(sp.eye(3))
    assert len(f) == 0 and f.product(3) == sp.eye(3)
    with pytest.raises(ValueError, match="dim: an empty factor list"):
        f.product()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: permutation_swaps(np.array([[1.0, 1.0], [0.0, 1.0]])), "p: expected a permutation matrix"),
        (lambda: orthogonal_reflections(np.array([[1.0, 0.1], [0.0, 1.0]])), "q: expected an orthogonal matrix"),
        (lambda: orthogonal_reflections(sp.Matrix([[1, 1], [0, 1]])), "q: expected an orthogonal matrix"),
        (lambda: contraction_factors(np.array([[2.0, 0.0], [0.0, 0.5]])), r"m: expected a contraction"),
        (lambda: contraction_factors(sp.Matrix([[sp.Rational(1, 2), sp.Rational(1, 3)], [0, 0]])), "exact SVD"),
        (lambda: contraction_factors(np.ones((2, 3))), "m: expected a non-empty square matrix"),
        (lambda: contraction_factors(np.array([[np.nan]])), "m: expected finite numbers"),
        (lambda: diagonal_factors(np.diag([1.5, 0.0])), r"d: expected diagonal entries in \[−1, 1\]"),
        (lambda: diagonal_factors(np.ones((2, 2))), "d: expected a diagonal matrix"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@given(seeds)
def test_rotation_reflections_random_so3(seed):
    rng = np.random.default_rng(seed)
    r = ortho_group.rvs(3, random_state=rng)
    if np.linalg.det(r) < 0:
        r = -r
    f = rotation_reflections(r)
    assert len(f) == 2 and [float(b) for b in f.betas] == [2.0, 2.0]
    assert np.abs(f.product() - r).max() <= 16 * 9 * U64


@given(st.lists(st.one_of(st.sampled_from([-1.0, 0.0, 1.0]), st.floats(-1, 1)), min_size=1, max_size=7))
def test_diagonal_factors_float(entries):
    d = np.diag(entries)
    f = diagonal_factors(d)
    assert len(f) == sum(e != 1.0 for e in entries)
    assert all(0 <= float(b) <= 2 for b in f.betas)
    # one rounding of β = 1 − d per factor, orthonormal keys: exact up to u per entry
    assert np.abs(f.product(len(entries)) - d).max() <= 2 * U64
