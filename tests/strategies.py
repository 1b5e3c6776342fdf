"""Hypothesis strategies shared by the tests: unit keys, betas in [0, 2] with 0, 1 and 2 themselves,
exact rational unit keys."""

from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import strategies as st

BOUNDARY_BETAS = (0.0, 1.0, 2.0)

betas = st.one_of(st.sampled_from(BOUNDARY_BETAS), st.floats(0.0, 2.0, allow_nan=False))
exact_betas = st.one_of(
    st.sampled_from([sp.Integer(0), sp.Integer(1), sp.Integer(2)]),
    st.fractions(0, 2, max_denominator=12).map(lambda f: sp.Rational(f.numerator, f.denominator)),
)
seeds = st.integers(0, 2**32 - 1)


@st.composite
def unit_keys(draw, max_n_h: int = 5, max_dim: int = 6, min_dim: int = 1):
    """(keys, betas) as float64 arrays: n_h × d unit rows and n_h betas."""
    n_h = draw(st.integers(1, max_n_h))
    d = draw(st.integers(min_dim, max_dim))
    rng = np.random.default_rng(draw(seeds))
    k = rng.standard_normal((n_h, d))
    k /= np.linalg.norm(k, axis=1, keepdims=True)
    return k, np.array(draw(st.lists(betas, min_size=n_h, max_size=n_h)))


def rational_unit_vector(a: sp.Rational, b: sp.Rational) -> list:
    """The inverse stereographic projection of (a, b): an exact rational point of the unit sphere in R³."""
    r = a**2 + b**2
    return [2 * a / (r + 1), 2 * b / (r + 1), (r - 1) / (r + 1)]


small_rationals = st.fractions(-3, 3, max_denominator=5).map(lambda f: sp.Rational(f.numerator, f.denominator))


@st.composite
def exact_unit_keys(draw, max_n_h: int = 3):
    """(keys, betas) exact: n_h rational unit keys in R³ and rational betas in [0, 2] (0, 1, 2 included)."""
    n_h = draw(st.integers(1, max_n_h))
    keys = sp.Matrix([rational_unit_vector(draw(small_rationals), draw(small_rationals)) for _ in range(n_h)])
    return keys, [draw(exact_betas) for _ in range(n_h)]
