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
bound that grows like T and a probabilistic estimate that grows like √T, each derived in its docstring;
:func:`chunked_error_estimate` adds what the chunked UT/WY form's intermediates contribute, and
:func:`chunked_error_bound` bounds the chunked form's error in the worst case from the chunks' keys.
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
    "mean_square_contraction",
    "effective_steps",
    "chunk_growth",
    "key_rounding_defects",
    "chunked_error_estimate",
    "chunked_error_bound",
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


def mean_square_contraction(betas, log_gates, kdim: int, n_h: int) -> float:
    """The factor c by which one sub-step shrinks, on average, the mean square of an error that is
    isotropic in the key space, for random unit keys in ``kdim`` dimensions. One GH factor maps x to
    x − βk(kᵀx), and E‖x − βk(kᵀx)‖² = (1 − β(2 − β)/K)·‖x‖² since E(kᵀx)² = ‖x‖²/K; a token's gate
    multiplies by e^{2g}, shared by its n_h sub-steps. Averaging over the run (independent steps):
    c = mean(1 − β(2 − β)/K) · mean(e^{2g})^{1/n_h}, with ``log_gates`` None for no gate (e^{−∞} = 0:
    a reset forgets the error). c = 1 for β ∈ {0, 2} and no gate: orthogonal steps forget nothing."""
    betas = np.asarray(betas, dtype=np.float64)
    if betas.size == 0 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in (kdim, n_h)):
        raise ValueError(
            f"betas, kdim, n_h: expected some β and integers kdim, n_h ≥ 1, got {betas.size} β, {kdim!r}, {n_h!r}"
        )
    c = float(np.mean(1.0 - betas * (2.0 - betas) / kdim))
    if log_gates is not None:
        c *= float(np.mean(np.exp(2.0 * np.asarray(log_gates, dtype=np.float64)))) ** (1.0 / n_h)
    return c


def effective_steps(steps: float, contraction: float = 1.0) -> float:
    """How many independent roundings an error of the last step still carries after ``steps`` steps that
    each shrink the mean square of the earlier ones by ``contraction`` c (:func:`mean_square_contraction`):
    Σ_{j<T} c^j = (1 − c^T)/(1 − c) — T when c = 1 (the √T growth of :func:`product_error_estimate`),
    at most 1/(1 − c) however long the run (the error of a forgetting recurrence stops growing)."""
    if not 0.0 <= contraction <= 1.0:
        raise ValueError(f"contraction: expected a mean-square factor in [0, 1], got {contraction!r}")
    if not steps >= 0:
        raise ValueError(f"steps: expected a count ≥ 0, got {steps!r}")
    if contraction == 1.0:
        return float(steps)
    return (1.0 - contraction**steps) / (1.0 - contraction)


def key_rounding_defects(keys, betas, fmt) -> tuple[np.ndarray, np.ndarray]:
    """What rounding the keys to ``fmt`` alone does to each symbol's transition, for a kernel that receives
    the keys in that format and computes in a wider one: keys [S, n_h, d] and betas [S, n_h] (float64, the
    program's exact factors); returns (‖M̂_x − M_x‖₂, ‖M̂_x‖₂) per symbol x, where
    M_x = H(k_{n_h}) ⋯ H(k_1), H(k) = I − βkkᵀ (sub-step 1 applied first) and M̂_x the same product with
    every key replaced by cast(k, fmt).

    With unit keys, H(k) is orthogonal for β ∈ {0, 2}. A rounded key has ‖k̂‖² = 1 + ε, so
    H(k̂) − H(k) = −β(k̂k̂ᵀ − kkᵀ) and the factor's eigenvalue 1 − β‖k̂‖² may leave [−1, 1]: ‖M̂_x‖ > 1 is
    an expansive transition (claim stability.normalized_key_expansion measures it per format)."""
    keys, betas = np.asarray(keys, dtype=np.float64), np.asarray(betas, dtype=np.float64)
    if keys.ndim != 3 or betas.shape != keys.shape[:2]:
        raise ValueError(f"keys, betas: expected shapes [S, n_h, d] and [S, n_h], got {keys.shape} and {betas.shape}")
    eye = np.eye(keys.shape[2])

    def products(k):
        factors = eye - betas[..., None, None] * k[..., :, None] * k[..., None, :]  # [S, n_h, d, d]
        m = np.broadcast_to(eye, (keys.shape[0], *eye.shape))
        for j in range(keys.shape[1]):
            m = factors[:, j] @ m
        return m

    exact, rounded = products(keys), products(cast(keys, fmt))
    return np.linalg.norm(rounded - exact, 2, axis=(1, 2)), np.linalg.norm(rounded, 2, axis=(1, 2))


def chunk_growth(keys: np.ndarray, betas: np.ndarray, chunk_size: int) -> float:
    """Root mean square over chunks of g_c = ‖K_c‖₂·‖W_c‖₂, W_c = T_c diag(β_c) K_c, T_c = (I + A_c)⁻¹,
    A_c = strictly_lower(diag(β_c) K_c K_cᵀ): keys [rows, d] and betas [rows] of one head, cut into chunks
    of ``chunk_size`` rows. An error δ = K_c ε in the chunk's intermediate K_c S (the size and direction of
    K_c S itself) reaches the state as K_cᵀ T_c diag(β_c) δ = K_cᵀ W_c ε, of norm at most g_c‖ε‖: g_c is the
    amplification of the chunk's intermediate roundings; the product K_cᵀW_c = I − P_c itself has norm ≤ 2,
    but g_c grows with the chunk size and with β near 2 (bench/results/chunked_error/chunked_error_cpu.json: from 1.5 to
    13 for C = 16 – 64)."""
    keys, betas = np.asarray(keys, dtype=np.float64), np.asarray(betas, dtype=np.float64)
    if keys.ndim != 2 or betas.shape != keys.shape[:1]:
        raise ValueError(f"keys, betas: expected shapes [rows, d] and [rows], got {keys.shape} and {betas.shape}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size: expected a positive integer, got {chunk_size!r}")
    squares = []
    for start in range(0, len(keys), chunk_size):
        k, b = keys[start : start + chunk_size], betas[start : start + chunk_size]
        t = np.linalg.inv(np.eye(len(k)) + np.tril(b[:, None] * k @ k.T, -1))
        squares.append((np.linalg.norm(k, 2) * np.linalg.norm(t @ (b[:, None] * k), 2)) ** 2)
    return float(np.mean(squares) ** 0.5) if squares else 0.0


def chunked_error_estimate(fmt, steps: int, chunk_size: int, growth: float, beta_max: float = 2.0) -> float:
    """Probabilistic relative state error of the chunked UT/WY recurrence after ``steps`` sub-steps.

    Per chunk the state update is S' = S + Kᵀu with u = T diag(β)(V − K S) (= U − W S; the order of our
    kernel and of :func:`kernels.reference.chunked`). Besides the per-factor roundings of
    :func:`factor_error_estimate` (the keys, the final additions: C of them per chunk), two intermediates
    of the size of K S are rounded — the product K S and the difference V − K S — and their errors,
    independent with variance u²/3 per entry (Higham & Mary 2019), reach the state through Kᵀ T diag(β),
    amplified by about g = ‖K‖₂‖W‖₂ (:func:`chunk_growth`, RMS over chunks). Chunks add in quadrature like
    factors do:

        ε² ≈ steps·c_p²·u² + (steps / C)·(2/3)·g²·u²,   c_p = √((1 + 7β_max²)/3).

    The error of forming T = (I + A)⁻¹ itself, and of the product with it, are not modelled. Measured
    (bench/chunked_error.py, the op-by-op reference in the format, T = 256 tokens, n_h = 2, d = 16,
    C = 16 – 64, β up to 2): where the chunked form is less accurate than the sub-step loop, the second
    term is 0.65 – 6.1× its measured excess √(ε_chunked² − ε_loop²) in fp32 and 1.8 – 7.4× in bf16; with
    β ≤ 1 in bf16 (and at C = 16 with β ≤ 1 in fp32) the chunked form is as accurate as the loop and the
    term is an overestimate. (The former order, U − W S with W S rounded, gave chunked errors
    0.95 – 1.12× these.) For a guaranteed bound see :func:`chunked_error_bound`."""
    if chunk_size < 1 or steps < 0:
        raise ValueError(f"steps, chunk_size: expected steps ≥ 0 and chunk_size ≥ 1, got {steps}, {chunk_size}")
    u = format_of(fmt).unit_roundoff
    return (steps * factor_error_estimate(fmt, beta_max) ** 2 + steps / chunk_size * (2 / 3) * growth**2 * u**2) ** 0.5


def _gamma(n: int, u: float) -> float:
    """γ_n = nu / (1 − nu): the bound on accumulated rounding in an n-term sum (Higham, Lemma 3.1)."""
    return n * u / (1 - n * u)


def chunked_error_bound(fmt, keys: np.ndarray, betas: np.ndarray, chunk_size: int, width: int) -> float:
    """Worst-case relative state error ‖Ŝ − S‖₂/‖S₀‖₂, to first order in u, of the ungated chunked UT/WY
    recurrence S ← S + Kᵀ(T B (0 − K S)), B = diag(β), T = (I + A)⁻¹, A = strictly_lower(B K Kᵀ) (the order
    of our kernel and of :func:`kernels.reference.chunked`), run in ``fmt`` with values 0 (the
    state-transition error), on one head's ``keys`` [rows, d] and ``betas`` [rows] cut into chunks;
    ``width`` = min(d, d_v) converts ‖|S|‖₂ ≤ √width·‖S‖₂.

    Model: every product, sum and matrix-product entry rounded (an n-term inner product within γ_n of the
    exact one, Higham Lemma 3.1 and §3.5), keys and β rounded to the format. Per chunk, with |·| entrywise,
    M = |K|ᵀ|T||B||K|:
    Â = A + ΔA, |ΔA| ≤ (γ_d + u)|B||K||K|ᵀ; T̂ from forward substitution, |T̂ − T| ≤ γ_C|T||I + A||T| +
    |T||ΔA||T| (each column solved by substitution: |(I + A)T̂ − I| ≤ γ_C|I + A||T̂|, Higham §8.1, §14.2);
    fl(K S) within γ_d|K||S|; the difference from the zero values exact; the scaling by B within u; fl(T̂ ·)
    within γ_C|T||B||K||S| plus |T̂ − T||B||K||S|; fl(Kᵀ ·) within γ_C M|S|; the final addition within u|S|.
    Collecting (the bound keeps a second u for the difference, which nonzero values would round), the chunk
    commits at most

        ε_c = 3β_max·C·u + √width·[u + (2u + 2γ_C + γ_d)‖M‖ + γ_C‖|K|ᵀ|T||I + A||T||B||K|‖ + (γ_d + u)‖M²‖]

    relative to the state entering it (3β_max·C·u: the rounded keys, ‖k̂ − k‖ ≤ u, and β, which move each
    factor by at most 2βu and βu; √width·u: the final addition). Every chunk map is non-expansive in exact
    arithmetic (a product of GH factors) and, with values 0, the state's norm never grows, so the chunks'
    errors add: the bound is Σ_c ε_c, linear in the number of chunks. The norms are of entrywise-absolute
    matrices and grow like powers of C, so the bound is 10⁶–10¹¹× the measured errors and exceeds 1 in
    fp32 for β near 2 at 256 tokens: the chunked form has no useful a-priori worst-case guarantee, unlike
    the sub-step loop (:func:`product_error_bound`); :func:`chunked_error_estimate` is the practical model."""
    keys, betas = np.asarray(keys, dtype=np.float64), np.asarray(betas, dtype=np.float64)
    if keys.ndim != 2 or betas.shape != keys.shape[:1]:
        raise ValueError(f"keys, betas: expected shapes [rows, d] and [rows], got {keys.shape} and {betas.shape}")
    if chunk_size < 1 or width < 1:
        raise ValueError(f"chunk_size, width: expected positive integers, got {chunk_size!r}, {width!r}")
    u, d = format_of(fmt).unit_roundoff, keys.shape[1]
    total = 0.0
    for start in range(0, len(keys), chunk_size):
        k, b = keys[start : start + chunk_size], betas[start : start + chunk_size]
        c = len(k)
        system = np.eye(c) + np.tril(b[:, None] * k @ k.T, -1)
        t = np.abs(np.linalg.inv(system))
        bk = np.abs(b)[:, None] * np.abs(k)
        m = np.abs(k).T @ t @ bk
        g_solve = np.linalg.norm(np.abs(k).T @ t @ np.abs(system) @ t @ bk, 2)
        g_c, g_d = _gamma(c, u), _gamma(d, u)
        total += 3 * float(np.abs(b).max(initial=0.0)) * c * u + width**0.5 * (
            u + (2 * u + 2 * g_c + g_d) * np.linalg.norm(m, 2) + g_c * g_solve + (g_d + u) * np.linalg.norm(m @ m, 2)
        )
    return float(total)
