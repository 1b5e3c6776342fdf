"""Claims about writing matrices as products of GH factors (Grazzi et al. 2025, Proposition 1.2 and Theorem 4)."""

from __future__ import annotations

import numpy as np
import sympy as sp
from scipy.stats import ortho_group
from sympy.combinatorics.named_groups import SymmetricGroup

from proofs_check.registry import Evidence, claim
from theory import (
    contraction_factors,
    diagonal_factors,
    gh_product,
    orthogonal_reflections,
    permutation_swaps,
    update_rank,
)

U64 = 2.0**-53


def _permutation_matrix(array_form: list[int]) -> sp.Matrix:
    """P with P e_j = e_{π(j)} for sympy's array form π."""
    n = len(array_form)
    return sp.Matrix(n, n, lambda i, j: 1 if array_form[j] == i else 0)


def _swaps_evidence(sizes: tuple[int, ...]) -> Evidence:
    """Every permutation of S_n, n in ``sizes``: exactly n − c swaps, = rank(I − P), product = P exactly."""
    report, bad = {}, []
    for n in sizes:
        most = 0
        for perm in SymmetricGroup(n).generate():
            p = _permutation_matrix(perm.array_form)
            factors = permutation_swaps(p)
            expected = n - perm.cycles  # sympy's cycle count includes fixed points
            rank = (sp.eye(n) - p).rank()
            ok = len(factors) == expected == rank == update_rank(p) and factors.product(n) == p
            if not ok:
                bad.append(str(perm.cyclic_form))
            most = max(most, len(factors))
        report[f"S{n}"] = {"elements": int(SymmetricGroup(n).order()), "max_swaps": most}
    return Evidence(
        not bad,
        "exact (sympy): "
        + ", ".join(f"all {v['elements']} of {k} (max {v['max_swaps']} swaps)" for k, v in report.items())
        + ": product of the n − c swaps = P exactly and n − c = rank(I − P)"
        + (f"; FAILED for {bad[:5]}" if bad else ""),
        report,
    )


_SWAPS_STATEMENT = (
    "Every permutation in S_n is a product of exactly n − c swap reflections I − 2vvᵀ, v = (e_i − e_j)/√2 "
    "(c counts cycles including fixed points); n − c = rank(I − P), the least number of GH factors of any β."
)
_SWAPS_SOURCE = (
    "Grazzi et al. 2025, Proposition 1.2 and App. C.2 (swap Householders) [U]; Siems et al. 2025 Thm 1(i) [DP-sec]"
)


@claim(
    id="grazzi.prop1.2.permutations",
    statement=_SWAPS_STATEMENT + " Checked for all of S_3, S_4, S_5.",
    source=_SWAPS_SOURCE,
    method="exhaustive",
)
def permutations_as_swaps() -> Evidence:
    return _swaps_evidence((3, 4, 5))


@claim(
    id="grazzi.prop1.2.permutations_s6_s7",
    statement=_SWAPS_STATEMENT + " Checked for all of S_6 and S_7.",
    source=_SWAPS_SOURCE,
    method="exhaustive",
    tier="full",
)
def permutations_as_swaps_large() -> Evidence:
    return _swaps_evidence((6, 7))


def _cayley_orthogonal(rng: np.random.Generator, n: int) -> sp.Matrix:
    """An exact rational orthogonal matrix: the Cayley transform (I − S)(I + S)⁻¹ of an integer skew S,
    with a random sign on the first row to reach det = −1 too."""
    s = sp.zeros(n, n)
    for i in range(n):
        for j in range(i + 1, n):
            s[i, j] = int(rng.integers(-2, 3))
            s[j, i] = -s[i, j]
    q = (sp.eye(n) - s) * (sp.eye(n) + s).inv()
    if rng.random() < 0.5:
        q[0, :] = -q[0, :]
    return q


@claim(
    id="grazzi.prop1.2.orthogonal",
    statement="Every orthogonal n×n matrix is a product of at most n reflections (Cartan–Dieudonné), with "
    "as many reflections mod 2 as det says; permutation matrices need at most n − 1.",
    source="Grazzi et al. 2025, Proposition 1.2 (orthogonal case, footnote 4) [U]",
    method="numeric",
)
def orthogonal_as_reflections() -> Evidence:
    rng = np.random.default_rng(14)
    exact_cases = 0
    for n in (2, 3, 4):
        for _ in range(4):
            q = _cayley_orthogonal(rng, n)
            f = orthogonal_reflections(q)
            parity_ok = (-1) ** len(f) == q.det()
            if not (len(f) <= n and parity_ok and (f.product(n) - q).applyfunc(sp.simplify) == sp.zeros(n)):
                return Evidence(False, f"exact orthogonal {q.tolist()} gave {len(f)} reflections or a wrong product")
            exact_cases += 1
    worst, most, count = 0.0, {}, 0
    for n in range(1, 9):
        for _ in range(40):
            q = ortho_group.rvs(n, random_state=rng) if n > 1 else np.array([[rng.choice([-1.0, 1.0])]])
            f = orthogonal_reflections(q)
            if len(f) > n or (-1) ** len(f) != round(np.linalg.det(q)):
                return Evidence(False, f"float64 orthogonal of size {n} gave {len(f)} reflections")
            worst = max(worst, float(np.abs(f.product(n) - q).max()))
            most[n] = max(most.get(n, 0), len(f))
            count += 1
    tol = 64 * 8 * U64  # ≤ n reflections, each O(n) roundings on entries of size ≤ 1, n ≤ 8
    return Evidence(
        worst <= tol,
        f"exact: {exact_cases} rational orthogonal matrices (Cayley transforms, n = 2…4, both determinants): "
        f"≤ n reflections, parity = det, product = Q exactly; float64: {count} Haar matrices (n = 1…8): "
        f"max reflections per n {most}, max |product − Q| = {worst:.1e} ≤ {tol:.1e}; permutations: "
        "grazzi.prop1.2.permutations (≤ n − 1)",
        {"exact_cases": exact_cases, "float_samples": count, "max_abs_error": worst},
    )


@claim(
    id="grazzi.prop1.2.contraction",
    statement="Every M with ‖M‖₂ ≤ 1 is a product of at most 3n GH factors with β ∈ [0, 2] "
    "(SVD: U and Vᵀ by reflections, Σ by n factors with β = 1 − σ_i).",
    source="Grazzi et al. 2025, Proposition 1.2 [U]",
    method="numeric",
)
def contractions() -> Evidence:
    rng = np.random.default_rng(13)
    worst, count, longest = 0.0, 0, 0.0
    for n in range(1, 9):
        for trial in range(60):
            m = rng.standard_normal((n, n))
            if trial % 3 == 1:  # rank-deficient
                m[:, 0] = 0.0
            m /= max(np.linalg.norm(m, 2), 1e-300)
            if trial % 3 == 2:
                m *= rng.uniform(0, 1)
            f = contraction_factors(m)
            betas = np.array([float(b) for b in f.betas])
            if len(f) > 3 * n or betas.min(initial=0) < 0 or betas.max(initial=0) > 2:
                return Evidence(False, f"size {n}: {len(f)} factors, β range [{betas.min()}, {betas.max()}]")
            worst = max(worst, float(np.abs(f.product(n) - m).max()))
            longest = max(longest, len(f) / n)
            count += 1
    tol = 3 * 8 * 8 * 16 * U64  # ≤ 3n factors of O(n) roundings each, SVD backward error O(n u), n ≤ 8
    return Evidence(
        worst <= tol,
        f"{count} float64 contractions (n = 1…8, a third rank-deficient, a third with ‖M‖ = 1): at most "
        f"{longest:.2f}·n factors, all β ∈ [0, 2], max |product − M| = {worst:.1e} ≤ {tol:.1e}",
        {"samples": count, "max_abs_error": worst, "max_factors_over_n": longest},
    )


@claim(
    id="grazzi.thm4.zero_matrix",
    statement="The zero matrix is the product of the n projections I − e_i e_iᵀ (GH factors with β = 1).",
    source="Grazzi et al. 2025, Theorem 4 proof (resets as ∏(I − e_i e_iᵀ)) [U]",
    method="exhaustive",
)
def zero_matrix() -> Evidence:
    """For every n ≤ 6: theory.diagonal_factors of the zero matrix gives n factors whose keys are e_1 … e_n
    (each once) with β = 1; multiplied by theory.gh_product (not the factorisation's own product) the partial
    products G_j ⋯ G_1 have rank n − j exactly — each projection removes one dimension, which a β ≠ 1 (a factor
    with eigenvalue 1 − β ≠ 0) would not — and the whole product is the zero matrix."""
    bad = {}
    for n in range(1, 7):
        f = diagonal_factors(sp.zeros(n, n))
        keys = [tuple(f.keys.row(j)) for j in range(len(f))] if len(f) else []
        units = sorted(tuple(sp.eye(n).row(i)) for i in range(n))
        ranks = [gh_product(f.keys[: j + 1, :], list(f.betas[: j + 1]), check_unit=False).rank() for j in range(n)]
        checks = {
            "n factors": len(f) == n,
            "keys e_1 … e_n": sorted(keys) == units,
            "β = 1 each": all(b == 1 for b in f.betas),
            "ranks n − 1, …, 0": ranks == list(range(n - 1, -1, -1)),
        }
        bad.update({f"n = {n}: {name}": False for name, ok in checks.items() if not ok})
    last = {"factors": len(f), "betas": [str(b) for b in f.betas], "ranks": ranks}  # n = 6, the loop's last
    return Evidence.from_checks(
        bad,
        "exact, n = 1…6: theory.diagonal_factors(0) gives the n projections I − e_i e_iᵀ (β = 1, keys e_1 … e_n); "
        f"the partial products by theory.gh_product have ranks n − 1, …, 0 (n = 6: {last['ranks']}), so the "
        "product is the zero matrix and each factor is needed",
        last,
    )
