"""Binary floating-point formats and rounding to them, as the hardware does.

A format with p significand bits (the implicit leading bit included) and normal exponents emin … emax
represents 0, ±m·2^(e−p+1) for integers m < 2^p and emin ≤ e ≤ emax (normal: m ≥ 2^(p−1)), the
subnormals ±m·2^(emin−p+1) with m < 2^(p−1), and ±inf. Rounding to nearest, ties to even, gives
fl(x) = x(1 + δ), |δ| ≤ u = 2^-p, for |x| in the normal range (IEEE 754; Higham, *Accuracy and Stability
of Numerical Algorithms*, 2nd ed., §2.1–2.2); below it the error is absolute, at most half the
subnormal spacing; a value at or beyond max + ½ulp(max) overflows to inf.

| format | p | emin | emax | u |
|---|---|---|---|---|
| bfloat16 | 8 | −126 | 127 | 2^-8 ≈ 3.9e-3 |
| float16 | 11 | −14 | 15 | 2^-11 ≈ 4.9e-4 |
| tf32 (matrix units: inputs to tensor-core products) | 11 | −126 | 127 | 2^-11 |
| float32 | 24 | −126 | 127 | 2^-24 ≈ 6.0e-8 |
| float64 | 53 | −1022 | 1023 | 2^-53 ≈ 1.1e-16 |

:func:`cast` rounds float64 values to a format exactly once. torch's own conversion from float64 to
bfloat16 or float16 goes through float32 and so rounds twice: 1 + 2^-8 + 2^-30 becomes 1 in torch but
1 + 2^-7 correctly rounded (tested). From float32 inputs the two agree bit for bit.

Error models for GH products (:func:`factor_error_bound` … :func:`product_error_estimate`): a worst-case
bound that grows like T and a probabilistic estimate that grows like √T, each derived in its docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from mpmath.libmp import from_rational, round_nearest, to_float

__all__ = [
    "Format",
    "FORMATS",
    "format_of",
    "cast",
    "cast_exact",
    "factor_error_bound",
    "factor_error_estimate",
    "product_error_bound",
    "product_error_estimate",
]


@dataclass(frozen=True)
class Format:
    """A binary floating-point format: ``precision`` p significand bits, normal exponents emin … emax."""

    name: str
    precision: int
    emin: int
    emax: int

    @property
    def unit_roundoff(self) -> float:
        """u = 2^-p: the largest relative error of rounding to nearest in the normal range."""
        return 2.0**-self.precision

    @property
    def max_finite(self) -> float:
        return (2.0 - 2.0 ** (1 - self.precision)) * 2.0**self.emax

    @property
    def min_normal(self) -> float:
        return 2.0**self.emin

    @property
    def min_subnormal(self) -> float:
        return 2.0 ** (self.emin - self.precision + 1)


FORMATS = {
    f.name: f
    for f in (
        Format("bfloat16", 8, -126, 127),
        Format("float16", 11, -14, 15),
        Format("tf32", 11, -126, 127),
        Format("float32", 24, -126, 127),
        Format("float64", 53, -1022, 1023),
    )
}


def format_of(dtype) -> Format:
    """The format of a name ("bfloat16", "tf32", …), a numpy dtype or a torch dtype."""
    if isinstance(dtype, Format):
        return dtype
    if isinstance(dtype, type) and issubclass(dtype, np.generic):
        dtype = np.dtype(dtype)
    name = str(dtype).replace("torch.", "")
    if name not in FORMATS:
        raise TypeError(f"dtype: expected one of {sorted(FORMATS)} (or their numpy / torch dtypes), got {dtype!r}")
    return FORMATS[name]


def cast(x, fmt) -> np.ndarray:
    """Round float64 values to ``fmt`` (nearest, ties to even; subnormals; overflow to ±inf), returned as
    float64 holding exactly the format's values. NaN stays NaN; ±inf stays ±inf.

    Each value x = f·2^e (frexp, ½ ≤ |f| < 1) has quantum q = 2^(max(e − 1, emin) − p + 1); x/q is exact in
    float64 (a power-of-two scaling, and p ≤ 53), np.rint rounds it half to even, and the product by q is
    exact again."""
    f = format_of(fmt)
    x = np.asarray(x, dtype=np.float64)
    if f.name == "float64":
        return x.copy()
    finite = np.isfinite(x) & (x != 0)
    _, e = np.frexp(np.where(finite, x, 1.0))
    quantum = np.ldexp(1.0, np.maximum(e - 1, f.emin) - f.precision + 1)
    with np.errstate(over="ignore"):  # values beyond float64's range round to inf, as they should
        rounded = np.where(finite, np.rint(x / quantum) * quantum, x)
    return np.where(np.abs(rounded) > f.max_finite, np.copysign(np.inf, x), rounded)


def cast_exact(x: Fraction | int, fmt) -> float:
    """Round an exact rational to ``fmt`` once (nearest, ties to even), as the value of a float64: the
    model "exact arithmetic, then one cast" of Grazzi et al. 2025, Lemma 1. In the normal range mpmath
    rounds p/q to p significand bits directly; below it (and beyond max) :func:`cast` of the float64
    nearest value gives the subnormal or infinite result (there, float64 holds the exact quantum grid)."""
    f = format_of(fmt)
    x = Fraction(x)
    if x == 0:
        return 0.0
    value = to_float(from_rational(x.numerator, x.denominator, f.precision, round_nearest))
    if f.min_normal <= abs(value) <= f.max_finite:
        return value
    return float(cast(np.array([float(x)]), f)[0])


def factor_error_bound(fmt, beta_max: float = 2.0) -> float:
    """Worst-case relative error of applying one GH factor, y = x − k(β(kᵀx)), to a vector in ``fmt``, the
    unit key k itself rounded to the format (k̂ = k + e, ‖e‖ ≤ u).

    Model: every elementary operation is rounded once (reductions accumulated in a wider format and
    rounded once, as torch and fused kernels do): s₁ = k̂ᵀx(1 + δ₁), s₂ = βs₁(1 + δ₂), z = k̂ s₂(1 + δ₃),
    ŷ = (x − z)(1 + δ₄), |δ_i| ≤ u. Arithmetic: ‖ŷ − ỹ‖ ≤ u‖ỹ‖ + 3uβ‖x‖ + O(u²) for ỹ = (I − βk̂k̂ᵀ)x; the
    key: ‖β(k̂k̂ᵀ − kkᵀ)‖ ≤ 2β‖e‖ + O(u²) ≤ 2βu. With ‖y‖ ≤ ‖x‖ (β ∈ [0, 2]):
    ‖ŷ − y‖ ≤ (1 + 5β_max)·u·‖x‖ + O(u²)."""
    return (1 + 5 * beta_max) * format_of(fmt).unit_roundoff


def factor_error_estimate(fmt, beta_max: float = 2.0) -> float:
    """Probabilistic relative error of one GH factor: the δ_i and the key's rounding errors of
    :func:`factor_error_bound` as independent, mean zero, uniform on [−u, u] (variance u²/3), so the root
    mean square of the error is at most √((1 + 3β_max² + 4β_max²)/3)·u·‖x‖ (Higham & Mary 2019,
    probabilistic rounding error analysis)."""
    return ((1 + 7 * beta_max**2) / 3) ** 0.5 * format_of(fmt).unit_roundoff


def product_error_bound(fmt, steps: int, beta_max: float = 2.0) -> float:
    """Worst case after ``steps`` factors applied in sequence: each factor is non-expansive (‖G‖ ≤ 1,
    Grazzi Prop. 1.1), so the errors committed at every step add without amplification:
    ‖x̂_T − x_T‖ ≤ T·(1 + 5β_max)·u·‖x_0‖ + O(u²) — linear in T."""
    return steps * factor_error_bound(fmt, beta_max)


def product_error_estimate(fmt, steps: int, beta_max: float = 2.0) -> float:
    """Probabilistic estimate after ``steps`` factors: independent per-step errors carried by non-expansive
    maps add in quadrature, √T·√((1 + 7β_max²)/3)·u·‖x_0‖ — growing like √T."""
    return steps**0.5 * factor_error_estimate(fmt, beta_max)
