"""Claims about the spectra of GH products (Grazzi et al. 2025, Proposition 1; Siems et al. 2025)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp

from proofs_check.registry import Evidence, claim
from theory import gh_factor, gh_product, nh2_discriminant, nh2_has_nonreal_eigenvalues, nh2_trace_det
from theory.sampling import batch_deviation, gh_product_batch, random_betas, random_unit_keys


@claim(
    id="grazzi.prop1.3.real",
    statement="For k ≤ 2 factors with β ∈ [0, 1] (eigenvalue range [0, 1]), every eigenvalue of the "
    "product is real and lies in [0, 1].",
    source="Grazzi et al. 2025, Proposition 1.3 (second part, corrected to k ≤ 2 in arXiv v2) [U]",
    method="symbolic",
)
def prop13_real() -> Evidence:
    s, t, c = sp.symbols("s t c", real=True)
    b1, b2 = 1 - s**2, 1 - t**2  # β ∈ [0, 1] ⟺ 1 − β = s² with s ∈ [0, 1]
    tau, delta = nh2_trace_det(c, b1, b2)
    identity = sp.expand(tau - 2 * s * t - ((s - t) ** 2 + b1 * b2 * c**2)) == 0
    rng = np.random.default_rng(3)
    worst_imag, lo, hi, count, deviation = 0.0, 1.0, 0.0, 0, 0.0
    for n in range(1, 7):
        for n_h in (1, 2):
            keys, bs = random_unit_keys(rng, 1000, n_h, n), random_betas(rng, 1000, n_h, 0.0, 1.0)
            products = gh_product_batch(keys, bs)
            deviation = max(deviation, batch_deviation(keys, bs, products))
            ev = np.linalg.eigvals(products)
            worst_imag = max(worst_imag, float(np.abs(ev.imag).max()))
            lo, hi = min(lo, float(ev.real.min())), max(hi, float(ev.real.max()))
            count += 1000
    tol = 1e-12  # float64 eigenvalues of well-conditioned products (normal matrices up to O(u) perturbation)
    checks = {
        "the sympy identity τ − 2st ≡ (s−t)² + β₁β₂c²": identity,
        "batched products equal theory.gh_product's": deviation <= tol,
        "every eigenvalue real": worst_imag <= tol,
        "every eigenvalue in [0, 1]": lo >= -tol and hi <= 1 + tol,
        "the range is attained (0 at β = 1, 1 at β = 0)": lo <= tol and hi >= 1 - tol,
    }
    return Evidence.from_checks(
        checks,
        ("sympy: with 1−β₁ = s², 1−β₂ = t², c = k₁ᵀk₂: τ − 2st ≡ (s−t)² + β₁β₂c² ≥ 0, so τ ≥ 2√δ ≥ 0, the "
           "discriminant τ² − 4δ ≥ 0 and both roots of λ² − τλ + δ are real and ≥ 0 (≤ 1 by Prop 1.1)"
           if identity else "sympy: the identity did not reduce to zero")
        + f"; float64 check over {count} products (n = 1…6, k = 1, 2; every 64th against theory.gh_product: max "
        f"difference {deviation:.1e}): max |Im λ| = {worst_imag:.1e}, min Re λ = {lo:.1e}, max Re λ − 1 = {hi - 1:.1e}",
        {"samples": count, "max_imag": worst_imag, "min_real": lo, "max_real": hi, "batch_deviation": deviation},
    )


def _stereographic(x: np.ndarray, limit: int) -> list[sp.Rational]:
    """A rational unit vector near the unit vector x (inverse stereographic projection of rationals)."""
    if x[2] > 0:
        return [-e for e in _stereographic(-x, limit)]
    a = Fraction(float(x[0] / (1 - x[2]))).limit_denominator(limit)
    b = Fraction(float(x[1] / (1 - x[2]))).limit_denominator(limit)
    a, b = sp.Rational(a.numerator, a.denominator), sp.Rational(b.numerator, b.denominator)
    r = a**2 + b**2
    return [2 * a / (r + 1), 2 * b / (r + 1), (r - 1) / (r + 1)]


@claim(
    id="grazzi.prop1.3.k3_counterexample",
    statement="For k = 3 factors with β ∈ [0, 1], non-real eigenvalues occur: the restriction k ≤ 2 in "
    "Proposition 1.3 cannot be dropped.",
    source="Grazzi et al. 2025, Proposition 1.3 (k ≤ 2 restriction) [U]; our counterexample [✔]",
    method="symbolic",
)
def prop13_k3_counterexample() -> Evidence:
    rng = np.random.default_rng(7)
    keys = random_unit_keys(rng, 20000, 3, 3)
    bs = random_betas(rng, 20000, 3, 0.0, 1.0, special=0.0)
    imag = np.abs(np.linalg.eigvals(gh_product_batch(keys, bs)).imag).max(axis=1)
    lam = sp.Symbol("lambda")
    for idx in np.argsort(-imag)[:20]:
        k_exact = sp.Matrix([_stereographic(k, 12) for k in keys[idx]])
        b_exact = [sp.Rational(Fraction(float(b)).limit_denominator(8)) for b in bs[idx]]
        a = gh_product(k_exact, b_exact)
        poly = a.charpoly(lam).as_expr()
        disc = sp.discriminant(poly, lam)
        if disc < 0:
            roots = [complex(r) for r in sp.Poly(poly, lam).nroots()]
            pair = max(roots, key=lambda z: abs(z.imag))
            return Evidence(
                True,
                f"exact counterexample in R³ (rational unit keys, found from {len(keys)} float64 draws): keys "
                f"{[list(k_exact.row(i)) for i in range(3)]}, β = {b_exact}: the characteristic polynomial "
                f"has discriminant {disc} < 0, so eigenvalues {pair.real:.4f} ± {abs(pair.imag):.4f}i",
                {
                    "keys": [[str(e) for e in k_exact.row(i)] for i in range(3)],
                    "betas": [str(b) for b in b_exact],
                    "discriminant": str(disc),
                    "max_imag_float64_search": float(imag.max()),
                },
            )
    return Evidence(False, f"no exact counterexample among the 20 best of {len(keys)} draws")


@claim(
    id="grazzi.prop1.3.modulus",
    statement="For β ∈ [0, 2) every eigenvalue of a product of GH factors is 1 or has modulus < 1.",
    source="Grazzi et al. 2025, Proposition 1.3 (first part) [U]",
    method="numeric",
)
def prop13_modulus() -> Evidence:
    rng = np.random.default_rng(8)
    count, worst_other, worst_all, deviation = 0, 0.0, 0.0, 0.0
    for n, n_h in ((2, 2), (3, 3), (4, 3), (5, 4), (6, 6)):
        bs = random_betas(rng, 4000, n_h, 0.0, 2.0)
        bs[bs >= 2.0] = 0.0  # β ∈ [0, 2): keep 0 and 1 forced, drop 2
        bs = np.minimum(bs, 1.999)
        keys = random_unit_keys(rng, 4000, n_h, n)
        products = gh_product_batch(keys, bs)
        deviation = max(deviation, batch_deviation(keys, bs, products))
        ev = np.linalg.eigvals(products)
        other = np.abs(ev)[np.abs(ev - 1) > 1e-6]
        worst_other = max(worst_other, float(other.max(initial=0.0)))
        worst_all = max(worst_all, float(np.abs(ev).max()))
        count += 4000
    tol = 1e-12
    checks = {
        "batched products equal theory.gh_product's": deviation <= tol,
        "every eigenvalue away from 1 has |λ| < 1": worst_other < 1,
        "no |λ| above 1 beyond rounding": worst_all <= 1 + tol,
    }
    return Evidence.from_checks(
        checks,
        f"{count} float64 products (n = 2…6, n_h up to 6, β ∈ [0, 1.999] with 0 and 1 forced; every 64th "
        f"against theory.gh_product: max difference {deviation:.1e}): every eigenvalue farther than 1e-6 from 1 "
        f"has |λ| ≤ 1 − {1 - worst_other:.2e}; max |λ| − 1 = {worst_all - 1:.1e}. "
        "Argument: |λ| = 1 forces each factor to preserve the running vector's norm, which with "
        "|1 − β_j| < 1 means it is ⟂ k_j (or β_j = 0), so Ax = x",
        {"samples": count, "max_modulus_away_from_1": worst_other, "max_modulus": worst_all,
         "batch_deviation": deviation},  # fmt: skip
    )


@claim(
    id="deltaproduct.nh2_nonreal",
    statement="For n_h = 2 with c = k₁ᵀk₂, τ = 2 − β₁ − β₂ + β₁β₂c², δ = (1−β₁)(1−β₂): A has non-real "
    "eigenvalues iff τ² < 4δ; this forces β₁, β₂ ∈ (1, 2] and 0 < |c| < 1.",
    source="Siems et al. 2025, spectral property of Householder products (P-spec (c)); exact criterion "
    "our derivation [RECON]",
    method="symbolic",
)
def nh2_criterion() -> Evidence:
    c, b1, b2, lam = sp.symbols("c beta1 beta2 lambda", real=True)
    s = sp.Symbol("s", real=True)  # k₂ = (c, s), s² = 1 − c²
    a = gh_product(sp.Matrix([[1, 0], [c, s]]), [b1, b2], check_unit=False)
    tau, delta = nh2_trace_det(c, b1, b2)
    coeffs = [sp.expand(e.subs(s**2, 1 - c**2)) for e in a.charpoly(lam).all_coeffs()]
    charpoly_ok = all(sp.expand(x - y) == 0 for x, y in zip(coeffs, [1, -tau, delta]))
    disc = sp.expand(tau**2 - 4 * delta)
    stable_form = sp.expand(disc - nh2_discriminant(c, b1, b2)) == 0
    c_zero = sp.factor(disc.subs(c, 0))  # (β₁ − β₂)² ≥ 0
    c_one = sp.factor(disc.subs(c, 1))  # (1 − δ)² ≥ 0 up to sign
    rng = np.random.default_rng(9)
    n = 50000
    keys = random_unit_keys(rng, n, 2, 3)
    bs = random_betas(rng, n, 2)
    ev = np.linalg.eigvals(gh_product_batch(keys, bs))
    numeric = np.abs(ev.imag).max(axis=1) > 1e-7
    cs = np.einsum("bd,bd->b", keys[:, 0], keys[:, 1]).clip(-1, 1)
    tau_n, delta_n = 2 - bs[:, 0] - bs[:, 1] + bs[:, 0] * bs[:, 1] * cs**2, (1 - bs[:, 0]) * (1 - bs[:, 1])
    clear = np.abs(tau_n**2 - 4 * delta_n) > 1e-9  # away from the boundary the float64 verdict is exact
    predicted = np.array([nh2_has_nonreal_eigenvalues(float(x), float(y), float(z)) for x, y, z in zip(cs, *bs.T)])
    mismatches = int(np.sum((predicted != numeric) & clear))
    outside = int(np.sum(predicted & ~((bs[:, 0] > 1) & (bs[:, 1] > 1) & (np.abs(cs) > 0) & (np.abs(cs) < 1))))
    checks = {
        "charpoly ≡ λ² − τλ + δ": charpoly_ok,
        "theory.nh2_discriminant ≡ τ² − 4δ": stable_form,
        "discriminant at c = 0 is (β₁ − β₂)²": sp.expand(c_zero - (b1 - b2) ** 2) == 0,
        "discriminant at |c| = 1 is (β₁β₂ − β₁ − β₂)²": sp.expand(c_one - (b1 * b2 - b1 - b2) ** 2) == 0,
        "criterion agrees with float64 eigenvalues": mismatches == 0,
        "non-real only for β > 1, 0 < |c| < 1": outside == 0,
        "some draw is non-real": int(predicted.sum()) > 0,
    }
    return Evidence.from_checks(
        checks,
        ("sympy: charpoly of G(k₂,β₂)G(k₁,β₁) on span{k₁,k₂} ≡ λ² − τλ + δ" if charpoly_ok
         else "sympy: the charpoly did not reduce to λ² − τλ + δ")
        + ("; τ² − 4δ ≡ (β₁−β₂)² + β₁β₂c²(4 − 2β₁ − 2β₂ + β₁β₂c²) (theory.nh2_discriminant)" if stable_form
           else "; theory.nh2_discriminant differs from τ² − 4δ by "
           f"{sp.factor(disc - nh2_discriminant(c, b1, b2))}")
        + "; at c = 0 the discriminant is "
        f"{c_zero}, at |c| = 1 it is {c_one} (both ≥ 0); if some β ≤ 1 then δ ≤ 0 or (both ≤ 1) τ ≥ 2√δ "
        f"(grazzi.prop1.3.real), so non-real needs β₁, β₂ > 1. float64: {n} draws, "
        f"{int(predicted.sum())} predicted non-real, {mismatches} mismatches with computed eigenvalues "
        f"({int(clear.sum())} draws away from the boundary), {outside} outside β > 1, 0 < |c| < 1",
        {"samples": n, "nonreal": int(predicted.sum()), "mismatches": mismatches},
    )


def _rotation(x: sp.Expr) -> sp.Matrix:
    return sp.Matrix([[sp.cos(x), -sp.sin(x)], [sp.sin(x), sp.cos(x)]])


def _reflection(x: sp.Expr) -> sp.Matrix:
    """H(α) = I − 2nnᵀ with n = (−sin(α/2), cos(α/2)), built as a GH factor."""
    return gh_factor(sp.Matrix([[-sp.sin(x / 2), sp.cos(x / 2)]]), 2)


def _trig_zero(m: sp.MatrixBase) -> bool:
    return all(sp.simplify(sp.expand_trig(sp.trigsimp(e))) == 0 for e in m)


@claim(
    id="grazzi.c2.two_reflections",
    statement="Two reflections make a rotation: (I − 2v₁v₁ᵀ)(I − 2v₂v₂ᵀ) = R(θ) with v₂ = (0, 1) and "
    "v₁ = (−sin θ/2, cos θ/2).",
    source="Grazzi et al. 2025, App. C.1/C.3 (Z_m with 2 Householders) [U]; Siems et al. 2025 Fig. 3 [DP-quote]",
    method="symbolic",
)
def two_reflections() -> Evidence:
    theta = sp.Symbol("theta", real=True)
    keys = sp.Matrix([[0, 1], [-sp.sin(theta / 2), sp.cos(theta / 2)]])  # v₂ applied first
    a = gh_product(keys, [2, 2])
    difference = (a - _rotation(theta)).applyfunc(lambda e: sp.simplify(sp.expand_trig(sp.trigsimp(e))))
    product = a.applyfunc(sp.trigsimp).tolist()
    return Evidence.from_checks(
        {"G(v₁,2)·G(v₂,2) = R(θ)": all(e == 0 for e in difference)},
        f"sympy trigsimp: G(v₁,2)·G(v₂,2) − R(θ) = {difference.tolist()}; product = {product}",
    )


@claim(
    id="grazzi.c1.2d_identities",
    statement="In 2-D, with H(α) = I − 2nnᵀ, n = (−sin α/2, cos α/2): H(α) = [[cos α, sin α], [sin α, −cos α]], "
    "H(α)H(γ) = R(α−γ), R(α)H(γ) = H(α+γ), H(γ)R(α) = H(γ−α), R(α)R(γ) = R(α+γ).",
    source="Grazzi et al. 2025, App. C.1 (identities used for Z_m) [U]",
    method="symbolic",
)
def identities_2d() -> Evidence:
    al, ga = sp.symbols("alpha gamma", real=True)
    checks = {
        "H(α) entries": _reflection(al) - sp.Matrix([[sp.cos(al), sp.sin(al)], [sp.sin(al), -sp.cos(al)]]),
        "H(α)H(γ) = R(α−γ)": _reflection(al) * _reflection(ga) - _rotation(al - ga),
        "R(α)H(γ) = H(α+γ)": _rotation(al) * _reflection(ga) - _reflection(al + ga),
        "H(γ)R(α) = H(γ−α)": _reflection(ga) * _rotation(al) - _reflection(ga - al),
        "R(α)R(γ) = R(α+γ)": _rotation(al) * _rotation(ga) - _rotation(al + ga),
    }
    failed = [name for name, m in checks.items() if not _trig_zero(m)]
    return Evidence(
        not failed,
        "sympy trigsimp, α and γ symbolic: "
        + "; ".join(f"{n} ≡ 0" for n in checks if n not in failed)
        + (f"; FAILED: {failed}" if failed else ""),
    )


_B = sp.symbols("beta1:4", real=True)


def _vanishes(matrix: sp.Matrix) -> bool:
    """Every entry is the zero rational function: brought over one denominator (sp.together), its numerator
    expands to the zero polynomial. Exact (the denominators are products of the entries' own, never zero), and
    without the polynomial gcds of cancelling every entry to lowest terms (sp.cancel)."""
    return all(sp.expand(sp.together(e).as_numer_denom()[0]) == 0 for e in matrix)


@claim(
    id="deltaproduct.pspec.identical_keys",
    statement="With one key repeated, ∏_j (I − β_j k kᵀ) = I − β* k kᵀ with 1 − β* = ∏_j (1 − β_j): n_h steps on "
    "the same key are one step, for every β and unit k.",
    source="Siems et al. 2025, the spectral proposition on GH products, part (a) [DP-sec]",
    method="symbolic",
)
def pspec_identical_keys() -> Evidence:
    s, u = sp.symbols("s u", real=True)
    norm = 1 + s**2 + u**2
    k = sp.Matrix([2 * s / norm, 2 * u / norm, (1 - s**2 - u**2) / norm])  # every rational unit vector but one
    checks = {"k is a unit vector": _vanishes(k.T * k - sp.eye(1))}
    for n_h in (2, 3):
        product = gh_product([list(k)] * n_h, list(_B[:n_h]), check_unit=False)
        star = 1 - sp.prod([1 - b for b in _B[:n_h]])
        checks[f"n_h = {n_h}: theory.gh_product equals I − β* kkᵀ"] = _vanishes(product - (sp.eye(3) - star * k * k.T))
    return Evidence.from_checks(
        checks,
        "exact (sympy, rational functions): k = (2s, 2u, 1 − s² − u²)/(1 + s² + u²) for symbols s, u and symbolic "
        "β₁, β₂, β₃: the products of 2 and 3 factors on k minus I − β* kkᵀ, β* = 1 − ∏(1 − β_j), cancel to 0 — "
        "the product's one non-unit eigenvalue is ∏(1 − β_j), real, so repeating a key adds no rotation",
    )


@claim(
    id="deltaproduct.pspec.orthonormal_keys",
    statement="With orthonormal keys the factors commute and ∏_j (I − β_j k_j k_jᵀ) = I − Σ_j β_j k_j k_jᵀ, "
    "symmetric, with real eigenvalues 1 − β_j (eigenvector k_j) and 1 (on the keys' complement): no rotation.",
    source="Siems et al. 2025, the spectral proposition on GH products, part (b) [DP-sec]",
    method="symbolic",
)
def pspec_orthonormal_keys() -> Evidence:
    a, b = sp.symbols("a b", real=True)
    skew = sp.Matrix([[0, -a, -b], [a, 0, 0], [b, 0, 0]])
    q = ((sp.eye(3) - skew) * (sp.eye(3) + skew).inv()).applyfunc(sp.cancel)  # Cayley: orthogonal for all a, b
    keys = [list(q[:, j]) for j in range(3)]
    factors = [gh_factor(keys[j], _B[j], check_unit=False) for j in range(3)]
    zero = sp.zeros(3, 3)
    summed = lambda n: sp.eye(3) - sum((_B[j] * q[:, j] * q[:, j].T for j in range(n)), zero)  # noqa: E731
    product, target = gh_product(keys, list(_B), check_unit=False), summed(3)
    pair, pair_target = gh_product(keys[:2], list(_B[:2]), check_unit=False), summed(2)
    eigen = [(1 - _B[0], q[:, 0]), (1 - _B[1], q[:, 1]), (1, q[:, 2])]
    checks = {
        "the keys are orthonormal": _vanishes(q.T * q - sp.eye(3)),
        "every pair of factors commutes": all(
            _vanishes(factors[i] * factors[j] - factors[j] * factors[i])
            for i in range(3)
            for j in range(i + 1, 3)
        ),  # fmt: skip
        "n_h = 3: theory.gh_product equals I − Σ β_j k_j k_jᵀ": _vanishes(product - target),
        "n_h = 2: the same, and symmetric": _vanishes(pair - pair_target)
        and pair_target == pair_target.T,
        "n_h = 2: eigenpairs (1 − β₁, k₁), (1 − β₂, k₂), (1, k₃)": all(
            _vanishes(pair_target * v - lam * v) for lam, v in eigen
        ),
    }
    return Evidence.from_checks(
        checks,
        "exact (sympy): keys the columns of the Cayley transform (I − S)(I + S)⁻¹ of a skew S with symbols a, b, "
        "symbolic β₁, β₂, β₃ — the factors commute pairwise, the products of 2 and 3 factors are I − Σ β_j k_j "
        "k_jᵀ, symmetric, with the eigenpairs (1 − β_j, k_j) and (1, complement)",
    )
