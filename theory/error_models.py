"""Error models: how rounding to a floating-point format (:mod:`theory.formats`) grows through GH products,
recurrences, chunked kernels and compiled programs.

Products (:func:`factor_error_bound` … :func:`product_error_estimate`): a worst-case bound that grows like T
and a probabilistic estimate that grows like √T, each derived in its docstring; :func:`mean_square_contraction`
and :func:`effective_steps` shorten the memory of a contracting recurrence; :func:`chunked_error_estimate`
adds what the chunked UT/WY form's intermediates contribute, and :func:`chunked_error_bound` bounds the
chunked form's error in the worst case from the chunks' keys. Programs: :func:`safe_lengths` (a layer's
decoder survives while the state error stays below its margin) and :func:`kernel_safe_lengths` (a kernel
that keeps its state wide but receives keys rounded to the format, from :func:`key_rounding_defects`).
"""

from __future__ import annotations

import math

import numpy as np

from theory.formats import cast, format_of
from theory.programs.ir import ONE_LAYER

__all__ = [
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
    "safe_lengths",
    "margin_and_radius",
    "kernel_safe_lengths",
]


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


def safe_lengths(name: str, margin: float, norm: float, n_h: int) -> tuple[float, float]:
    """(worst-case, probabilistic) token counts before the state error can reach ``margin``: the error after
    T tokens of n_h factors on states of norm ``norm`` is ≤ T·n_h·c_w·norm (worst case) or ≈ √(T·n_h)·c_p·norm
    (probabilistic), c_w and c_p the per-factor constants of :func:`factor_error_bound` and
    :func:`factor_error_estimate`."""
    worst = margin / (n_h * factor_error_bound(name) * norm)
    typical = (margin / (factor_error_estimate(name) * norm)) ** 2 / n_h
    return worst, typical


def margin_and_radius(program) -> tuple[float, float]:
    """A one-layer program's decode margin (half the least distance between readouts) and the largest
    readout norm (the orbit's radius)."""
    margin = float(program.min_readout_distance_squared()) ** 0.5 / 2
    return margin, max(float(sum(float(e) ** 2 for e in r) ** 0.5) for r in program.readouts)


def kernel_safe_lengths(program, fmt: str) -> dict:
    """Predicted first wrong decode of a one-layer program (values 0, uniform random words) through a kernel
    that keeps its state in fp32 or wider but receives the keys rounded to ``fmt`` — the failure mode of our
    Triton kernel on the H200 (bench/results/constructions_h200/), where nothing rounds the state back onto
    the orbit, unlike the op-by-op reference of :func:`run_constructions`.

    Per token the exact state h (norm r: the orbit's radius) meets M̂_x = M_x + Δ_x
    (:func:`key_rounding_defects`), so the error e obeys e_{t+1} ≤ ρ·e_t + d·r with
    d = max‖Δ_x‖, ρ = max(1, max‖M̂_x‖). Worst case: e_T ≤ d·r·T (ρ = 1) or d·r·(ρ^T − 1)/(ρ − 1), so the
    decoder (margin m) is safe for T_w = m/(d·r) or log(1 + m(ρ − 1)/(d·r))/log ρ tokens. Probabilistic:
    the symbols' defects, carried by (nearly) orthogonal products, add in quadrature, e_T ≈ √T·d_rms·r with
    d_rms the root mean square over symbols, so T_p = (m/(d_rms·r))² — which ignores expansion. Both are
    infinite when the keys are exact in ``fmt`` (d = 0)."""
    if program.construction not in ONE_LAYER:
        message = f"expected a one-layer group program (theory.compile_group), got {program.construction}"
        raise ValueError(f"program: {message}")
    keys = np.array(program.keys, dtype=object).astype(np.float64)  # each entry rounded once
    defects, norms = key_rounding_defects(keys, np.array(program.betas, dtype=object).astype(np.float64), fmt)
    margin, radius = margin_and_radius(program)
    worst_defect, rms_defect, rho = float(defects.max()), float(np.sqrt(np.mean(defects**2))), float(norms.max())
    if worst_defect == 0:
        return {"defect": 0.0, "rho": rho, "worst": math.inf, "probabilistic": math.inf}
    ratio = margin / (worst_defect * radius)
    worst = ratio if rho <= 1 + 1e-12 else math.log1p(ratio * (rho - 1)) / math.log(rho)
    return {"defect": worst_defect, "rho": rho, "worst": worst, "probabilistic": (margin / (rms_defect * radius)) ** 2}
