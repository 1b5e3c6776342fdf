"""Spectra of GH products: eigenvalues, spectral norm, determinant, rank(I − A), the exact n_h = 2
criterion for non-real eigenvalues, and sampling of the reachable spectrum.

Exact inputs (sympy) give exact answers; numeric inputs (numpy, torch) are analysed in float64 from the
values as stored (the matrix's own rounding is what is studied, not that of the analysis); mpmath inputs
are analysed at the current ``mpmath.mp`` precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from theory.numbers import Exact, Mpmath, Torch, as_square, exact_number, unit_roundoff
from theory.sampling import gh_product_batch, random_betas, random_unit_keys

__all__ = [
    "eigenvalues",
    "spectral_norm",
    "determinant",
    "update_rank",
    "nh2_trace_det",
    "nh2_discriminant",
    "nh2_has_nonreal_eigenvalues",
    "ReachableSpectrum",
    "sample_reachable_spectrum",
]


def eigenvalues(a: Any) -> Any:
    """All eigenvalues of a square matrix, repeated by algebraic multiplicity.

    exact: a list of sympy numbers (radicals or ``CRootOf``), sorted by (real, imaginary) part;
    numpy: complex128 array; torch: complex128 tensor on the input's device; mpmath: object array of mpc.
    """
    system, m = as_square(a, name="matrix")
    if isinstance(system, Exact):
        values = [v for v, mult in m.eigenvals().items() for _ in range(mult)]
        return sorted(values, key=lambda v: (float(sp.re(v)), float(sp.im(v))))
    if isinstance(system, Mpmath):
        return np.array(mpmath.eig(mpmath.matrix(m.tolist()), left=False, right=False), dtype=object)
    if isinstance(system, Torch):
        import torch

        return torch.linalg.eigvals(m.to(torch.float64))
    return np.linalg.eigvals(system.to_float64(m))


def spectral_norm(a: Any) -> Any:
    """‖A‖₂, the largest singular value: exact sqrt(λ_max(AᵀA)) in sympy, float64 otherwise (mpf for mpmath)."""
    system, m = as_square(a, name="matrix")
    if isinstance(system, Exact):
        gram = sp.Matrix(m.T * m).applyfunc(sp.nsimplify)
        return sp.sqrt(max(gram.eigenvals(), key=lambda v: float(sp.re(sp.N(v, 30)))))
    if isinstance(system, Mpmath):
        return max(mpmath.svd_r(mpmath.matrix(m.tolist()), compute_uv=False))
    return float(np.linalg.norm(system.to_float64(m), 2))


def determinant(a: Any) -> Any:
    """det A: exact in sympy, float64 from the stored values otherwise (mpf for mpmath)."""
    system, m = as_square(a, name="matrix")
    if isinstance(system, Exact):
        return sp.simplify(m.det())
    if isinstance(system, Mpmath):
        return mpmath.det(mpmath.matrix(m.tolist()))
    return float(np.linalg.det(system.to_float64(m)))


def update_rank(a: Any, *, rtol: float | None = None) -> int:
    """rank(I − A), the rank of A's update from the identity.

    A product of n_h GH factors is I plus a sum of n_h rank-one terms, so rank(I − A) ≤ n_h: this is the
    least number of GH factors (any β) whose product can equal A. Exact in sympy; numerically, singular
    values of I − A above ``rtol``·max(1, σ_max) count, with ``rtol`` defaulting to 8·d·u for the input's
    unit roundoff u (float64 from the stored values; 2^-prec for mpmath).
    """
    system, m = as_square(a, name="matrix")
    d = system.shape(m)[0]
    if isinstance(system, Exact):
        return int((sp.eye(d) - m).rank(simplify=True))
    if rtol is None:
        u = 2.0**-mpmath.mp.prec if isinstance(system, Mpmath) else unit_roundoff(m.dtype)
        rtol = 8 * d * max(u, 2.0**-53)
    sigma = np.linalg.svd(np.eye(d) - system.to_float64(m), compute_uv=False)
    return int(np.sum(sigma > rtol * max(1.0, float(sigma.max(initial=0.0)))))


def _nh2_inputs(c: Any, beta1: Any, beta2: Any) -> tuple[Any, Any, Any]:
    values = []
    for name, x, lo, hi in (("c", c, -1, 1), ("beta1", beta1, 0, 2), ("beta2", beta2, 0, 2)):
        if isinstance(x, float) or isinstance(x, np.floating):
            if not lo <= x <= hi:
                raise ValueError(f"{name}: expected a real number in [{lo}, {hi}], got {x}")
            values.append(float(x))
        else:
            v = exact_number(x, name=name)
            if v.is_number and not (v.is_real and lo <= v <= hi):
                raise ValueError(f"{name}: expected a real number in [{lo}, {hi}], got {v}")
            values.append(v)
    return values[0], values[1], values[2]


def nh2_trace_det(c: Any, beta1: Any, beta2: Any) -> tuple[Any, Any]:
    """(τ, δ) of A = G(k₂, β₂) G(k₁, β₁) restricted to span{k₁, k₂}, with c = k₁ᵀk₂ (unit keys).

    τ = 2 − β₁ − β₂ + β₁β₂c² and δ = (1 − β₁)(1 − β₂): on the plane the characteristic polynomial is
    λ² − τλ + δ, and every other eigenvalue of A is 1 (our derivation: A = I on the complement of span{k₁, k₂}).
    Exact for sympy/int arguments, float for floats.
    """
    c, b1, b2 = _nh2_inputs(c, beta1, beta2)
    tau = 2 - b1 - b2 + b1 * b2 * c**2
    delta = (1 - b1) * (1 - b2)
    if isinstance(tau, sp.Basic):
        return sp.expand(tau), sp.expand(delta)
    return tau, delta


def nh2_discriminant(c: Any, beta1: Any, beta2: Any) -> Any:
    """τ² − 4δ of :func:`nh2_trace_det`, written without cancellation where the spectrum is real:

        τ² − 4δ = (β₁ − β₂)² + β₁β₂c² (4 − 2β₁ − 2β₂ + β₁β₂c²),

    every term of which is ≥ 0 when β₁, β₂ ≤ 1, so rounding cannot make it negative there (the naive
    τ² − 4δ does, e.g. at c = 0, β₁ = β₂ = 1e-5). Exact for exact arguments.
    """
    c, b1, b2 = _nh2_inputs(c, beta1, beta2)
    disc = (b1 - b2) ** 2 + b1 * b2 * c**2 * (4 - 2 * b1 - 2 * b2 + b1 * b2 * c**2)
    return sp.expand(disc) if isinstance(disc, sp.Basic) else disc


def nh2_has_nonreal_eigenvalues(c: Any, beta1: Any, beta2: Any) -> bool:
    """True iff the product of two GH factors with key overlap c = k₁ᵀk₂ has non-real eigenvalues:
    τ² − 4δ < 0 (:func:`nh2_discriminant`). This forces β₁, β₂ ∈ (1, 2] and 0 < |c| < 1.

    Decided exactly for exact arguments; for floats it is the sign of the cancellation-free form.
    """
    disc = nh2_discriminant(c, beta1, beta2)
    if isinstance(disc, sp.Basic):
        if not disc.is_number:
            raise ValueError("c, beta1, beta2: expected numbers, got symbols; use nh2_discriminant for symbols")
        return bool(sp.simplify(disc) < 0)
    return disc < 0


@dataclass(frozen=True)
class ReachableSpectrum:
    """Eigenvalues of ``samples`` random products of ``n_h`` GH factors in dimension ``dim``.

    ``eigenvalues`` has shape (samples, dim), complex128; ``betas`` (samples, n_h); ``keys``
    (samples, n_h, dim), unit rows; the generating ``seed``.
    """

    n_h: int
    dim: int
    beta_range: tuple[float, float]
    seed: int
    eigenvalues: np.ndarray
    betas: np.ndarray
    keys: np.ndarray

    @property
    def max_modulus(self) -> float:
        return float(np.abs(self.eigenvalues).max(initial=0.0))

    @property
    def max_imag(self) -> float:
        return float(np.abs(self.eigenvalues.imag).max(initial=0.0))


def sample_reachable_spectrum(
    n_h: int, dim: int, beta_range: tuple[float, float] = (0.0, 2.0), samples: int = 1000, seed: int = 0
) -> ReachableSpectrum:
    """Sample the spectrum reachable by products of ``n_h`` GH factors in R^dim, in float64.

    Keys are uniform on the unit sphere; betas uniform in ``beta_range`` ⊆ [0, 2] with a quarter of them
    set to whichever of 0, 1, 2 lie in the range (see :mod:`theory.sampling`).
    """
    for name, v in (("n_h", n_h), ("dim", dim), ("samples", samples)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    lo, hi = (float(x) for x in beta_range)
    if not 0.0 <= lo <= hi <= 2.0:
        raise ValueError(f"beta_range: expected 0 ≤ lo ≤ hi ≤ 2, got {beta_range}")
    rng = np.random.default_rng(seed)
    keys = random_unit_keys(rng, samples, n_h, dim)
    betas = random_betas(rng, samples, n_h, lo, hi)
    return ReachableSpectrum(n_h, dim, (lo, hi), seed, np.linalg.eigvals(gh_product_batch(keys, betas)), betas, keys)
