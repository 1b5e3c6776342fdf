"""Binary floating-point formats and rounding to them, as the hardware does.

A format with p significand bits (the implicit leading bit included) and normal exponents emin … emax
represents 0, ±m·2^(e−p+1) for integers m < 2^p and emin ≤ e ≤ emax (normal: m ≥ 2^(p−1)), the
subnormals ±m·2^(emin−p+1) with m < 2^(p−1), and ±inf. Rounding to nearest, ties to even, gives
fl(x) = x(1 + δ), |δ| ≤ u = 2^-p, for |x| in the normal range (IEEE 754; Higham, *Accuracy and Stability
of Numerical Algorithms*, 2nd ed., §2.1–2.2); below it the error is absolute, at most half the
subnormal spacing; a value at or beyond max + ½ulp(max) overflows to inf.

| format | p | emin | emax | u |
|---|---|---|---|---|
| float8_e5m2 | 3 | −14 | 15 | 2^-3 = 0.125 |
| bfloat16 | 8 | −126 | 127 | 2^-8 ≈ 3.9e-3 |
| float16 | 11 | −14 | 15 | 2^-11 ≈ 4.9e-4 |
| tf32 (matrix units: inputs to tensor-core products) | 11 | −126 | 127 | 2^-11 |
| float32 | 24 | −126 | 127 | 2^-24 ≈ 6.0e-8 |
| float64 | 53 | −1022 | 1023 | 2^-53 ≈ 1.1e-16 |

float8_e4m3fn is not listed: it breaks the pattern (no infinities, largest value 448 instead of 480).

:func:`cast` rounds float64 values to a format exactly once. torch's own conversion from float64 to
bfloat16 or float16 goes through float32 and so rounds twice: 1 + 2^-8 + 2^-30 becomes 1 in torch but
1 + 2^-7 correctly rounded (tested). From float32 inputs the two agree bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from mpmath.libmp import from_rational, round_nearest, to_float

__all__ = ["Format", "FORMATS", "format_of", "unit_roundoff", "cast", "cast_exact"]


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
        Format("float8_e5m2", 3, -14, 15),
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


def unit_roundoff(dtype) -> float:
    """Unit roundoff u = 2^-p of a binary floating-point format with p significand bits (a name, a numpy or
    torch dtype, or a :class:`Format`): float64 2^-53, float32 2^-24, float16 and tf32 2^-11, bfloat16 2^-8.
    Round-to-nearest gives fl(x) = x(1 + δ) with |δ| ≤ u in the normal range."""
    return format_of(dtype).unit_roundoff


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
