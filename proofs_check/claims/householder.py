"""Claims about single GH factors, the OGD step, the sub-step recurrence and the compact UT/WY form
(Grazzi et al. 2025 §3; Siems et al. 2025 §3; and the UT identity and bounds the chunked kernels rely on)."""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

from proofs_check.registry import Evidence, claim
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
from theory.sampling import batch_deviation, gh_product_batch, random_betas, random_unit_keys

U64 = 2.0**-53


def _zero(m: sp.MatrixBase) -> bool:
    return all(sp.expand(e) == 0 for e in m)


@claim(
    id="grazzi.gh.spectrum",
    statement="For unit k, I − βkkᵀ has eigenvalue 1 (multiplicity n−1, eigenvectors ⟂ k) and 1−β "
    "(eigenvector k); ‖·‖₂ = max(1, |1−β|) ≤ 1 iff β ∈ [0, 2]; det = 1−β; orthogonal iff β ∈ {0, 2}.",
    source="Grazzi et al. 2025, §3.1 and eq. (3) (GH matrices) [U]",
    method="symbolic",
)
def gh_spectrum() -> Evidence:
    beta = sp.Symbol("beta", real=True)
    k = sp.Matrix(sp.symbols("k1:4", real=True))
    s = (k.T * k)[0, 0]
    g = gh_factor(k.T, beta, check_unit=False)
    on_k = sp.expand(g * k - (1 - beta) * k - beta * (1 - s) * k)
    perp = [sp.Matrix([-k[1], k[0], 0]), sp.Matrix([-k[2], 0, k[0]])]
    fixed = [sp.expand(g * w - w) for w in perp]
    det = sp.expand(g.det() - (1 - beta * s))
    norm_set = sp.solve_univariate_inequality(sp.Abs(1 - beta) <= 1, beta, relational=False)
    gram = sp.expand(g.T * g - sp.eye(3) + (2 * beta - beta**2 * s) * k * k.T)
    orth = sp.solve(sp.Eq(2 * beta - beta**2, 0), beta)
    checks = {
        "Gk − (1−β)k = β(1−‖k‖²)k": _zero(on_k),
        "Gw = w for the two w ⟂ k": all(_zero(f) and _zero(w.T * k) for f, w in zip(fixed, perp)),
        "det G = 1 − β‖k‖²": det == 0,
        "|1−β| ≤ 1 ⟺ β ∈ [0, 2]": norm_set == sp.Interval(0, 2),
        "GᵀG = I − (2β − β²‖k‖²)kkᵀ": _zero(gram),
        "orthogonal ⟺ β ∈ {0, 2}": sorted(orth) == [0, 2],
    }
    return Evidence.from_checks(
        checks,
        "sympy, k ∈ R³ symbolic: " + "; ".join(name for name, ok in checks.items() if ok)
        + f"; computed: |1−β| ≤ 1 ⟺ β ∈ {norm_set}, orthogonal (‖k‖ = 1) ⟺ β ∈ {set(orth)}, "
        f"det G − (1 − β‖k‖²) = {det}",
        {"norm_interval": str(norm_set), "orthogonal_betas": [str(b) for b in orth]},
    )


@claim(
    id="deltanet.ogd_step",
    statement="One online-gradient step with step size β on L(H) = ½‖Hᵀk − v‖² is the delta rule (I − βkkᵀ)H + βkvᵀ.",
    source="Siems et al. 2025, §3 (DeltaNet as online gradient descent) [DP-sec]; Grazzi et al. 2025 Table 1 [U]",
    method="symbolic",
)
def ogd_identity() -> Evidence:
    beta = sp.Symbol("beta")
    h = sp.Matrix(3, 2, sp.symbols("h1:7"))
    k = sp.Matrix(sp.symbols("k1:4"))
    v = sp.Matrix(sp.symbols("v1:3"))
    residual = h.T * k - v
    loss = sp.Rational(1, 2) * (residual.T * residual)[0, 0]
    grad = h.applyfunc(lambda e: sp.diff(loss, e))
    step = h - beta * grad
    delta_rule = (sp.eye(3) - beta * k * k.T) * h + beta * k * v.T
    library = ogd_step(h, k.T, v.T, beta, check_unit=False)
    checks = {
        "H − β∂L/∂H ≡ (I − βkkᵀ)H + βkvᵀ (gradient by sympy.diff)": _zero(step - delta_rule),
        "theory.ogd_step ≡ H − β∂L/∂H": _zero(step - library),
    }
    return Evidence.from_checks(
        checks, "sympy, H ∈ R^{3×2}, k, v, β symbolic: " + "; ".join(name for name, ok in checks.items() if ok)
    )


@claim(
    id="deltaproduct.substeps",
    statement="Running n_h delta-rule sub-steps (after the gate γ) equals H ↦ AH + B with "
    "A = γ G_{n_h}⋯G_1 and B = Σ_j (G_{n_h}⋯G_{j+1}) β_j k_j v_jᵀ.",
    source="Siems et al. 2025, §3, recurrence of DeltaProduct and Gated DeltaProduct [DP-sec, DP-code]",
    method="symbolic",
)
def substeps_equal_token_map() -> Evidence:
    n_h, d, dv = 3, 2, 2
    gamma = sp.Symbol("gamma")
    keys = sp.Matrix(n_h, d, sp.symbols(f"k1:{n_h * d + 1}"))
    values = sp.Matrix(n_h, dv, sp.symbols(f"v1:{n_h * dv + 1}"))
    betas = sp.symbols(f"b1:{n_h + 1}")
    h = sp.Matrix(d, dv, sp.symbols(f"h1:{d * dv + 1}"))
    g = [sp.eye(d) - betas[j] * keys[j, :].T * keys[j, :] for j in range(n_h)]

    def left(j: int) -> sp.Matrix:  # G_{n_h} ⋯ G_{j+1}
        out = sp.eye(d)
        for m in range(j + 1, n_h):
            out = g[m] * out
        return out

    a = gamma * left(-1)
    b = sp.zeros(d, dv)
    for j in range(n_h):
        b += left(j) * betas[j] * keys[j, :].T * values[j, :]
    run = substep_recurrence(h, keys, values, betas, gamma, check_unit=False)
    lib_a, lib_b = token_map(keys, values, betas, gamma, check_unit=False)
    checks = {
        "the sub-step loop (theory.substep_recurrence) ≡ A H + B of the closed forms": _zero(run - (a * h + b)),
        "theory.token_map's A ≡ γ G_{n_h}⋯G_1": _zero(lib_a - a),
        "theory.token_map's B ≡ Σ_j (G_{n_h}⋯G_{j+1}) β_j k_j v_jᵀ": _zero(lib_b - b),
    }
    return Evidence.from_checks(
        checks,
        f"sympy, n_h = {n_h}, d = {d}, d_v = {dv}, keys, values, β, γ, H symbolic: "
        + "; ".join(name for name, ok in checks.items() if ok),
    )


@claim(
    id="grazzi.prop1.1",
    statement="Every product of GH factors with unit keys and β ∈ [0, 2] has spectral norm ≤ 1.",
    source="Grazzi et al. 2025, Proposition 1.1 [U]; DeltaProduct stability property (P-stab) [DP-sec]",
    method="numeric",
)
def product_norm_bound() -> Evidence:
    rng = np.random.default_rng(11)
    worst, count, worst_at, deviation = 0.0, 0, None, 0.0
    for n in range(1, 9):
        for n_h in range(1, 7):
            keys = random_unit_keys(rng, 400, n_h, n)
            bs = random_betas(rng, 400, n_h)
            products = gh_product_batch(keys, bs)
            deviation = max(deviation, batch_deviation(keys, bs, products))
            norms = np.linalg.norm(products, 2, axis=(1, 2))
            count += norms.size
            if norms.max() - 1 > worst:
                worst, worst_at = float(norms.max() - 1), (n, n_h)
    # each of ≤ 6 factors is applied with O(n) roundings of size u; ‖A‖ − 1 must stay within 16·n·n_h·u, and
    # the batched products within the same of gh_product's (another association of the same sums)
    tol = 16 * 8 * 6 * U64
    return Evidence.from_checks(
        {
            "batched products equal theory.gh_product's": deviation <= tol,
            "no norm above 1 beyond rounding": worst <= tol,
        },
        f"{count} float64 products (n = 1…8, n_h = 1…6, β ∈ [0, 2] with 0, 1, 2 forced; every 64th checked "
        f"against theory.gh_product: max difference {deviation:.1e}): max ‖A‖₂ − 1 = {worst:.2e} (at n, n_h = "
        f"{worst_at}), rounding tolerance {tol:.1e}; exact argument: ‖G_j‖ = max(1, |1−β_j|) ≤ 1 "
        "(grazzi.gh.spectrum) and ‖·‖₂ is submultiplicative",
        {"samples": count, "max_norm_minus_1": worst, "tolerance": tol, "batch_deviation": deviation},
    )


@claim(
    id="kernels.ut_identity",
    statement="With keys as rows of K, L = strictly_lower(diag(β)KKᵀ) and T = (I + L)⁻¹: "
    "G_{n_h}⋯G_1 = I − Kᵀ T diag(β) K (the UT/WY form of chunked kernels).",
    source="UT transform / WY representation of chunked DeltaNet kernels (Yang et al. 2024; fla "
    "solve_tril) [RECON]",
    method="symbolic",
)
def ut_identity() -> Evidence:
    proved = []
    for n_h, d in ((2, 3), (3, 2), (3, 3)):
        keys = sp.Matrix(n_h, d, sp.symbols(f"k1:{n_h * d + 1}"))
        betas = sp.symbols(f"b1:{n_h + 1}")
        direct = gh_product(keys, betas, check_unit=False)
        compact = compact_product(keys, betas)
        if not _zero(direct - compact):
            return Evidence(False, f"identity fails for n_h = {n_h}, d = {d}")
        proved.append(f"(n_h={n_h}, d={d})")
    errors = _ut_rounding_errors()
    # first-order bound of either form: O(n_h·d) roundings on entries ≤ 4·n_h (|T·diag β| ≤ 4)
    holds = all(e["compact"] <= 64 * e["n_h"] ** 2 * e["d"] and e["direct"] <= 64 * e["n_h"] * e["d"] for e in errors)
    worst = {}
    for e in errors:
        w = worst.setdefault(e["dtype"], [0.0, 0.0])
        w[0], w[1] = max(w[0], e["direct"]), max(w[1], e["compact"])
    return Evidence(
        holds,
        "sympy, keys (not normalised) and β symbolic: G_{n_h}⋯G_1 − (I − Kᵀ T diag(β) K) ≡ 0 for "
        + ", ".join(proved)
        + "; rounding (max relative Frobenius error vs float64 on the same rounded inputs, in units of u, "
        "direct / compact, n_h ∈ {2, 4, 8}, d = 16; torch's CPU matmuls accumulate half formats in float32): "
        + ", ".join(f"{k} {v[0]:.1f}u / {v[1]:.1f}u" for k, v in worst.items()),
        {"cases": proved, "rounding": errors},
    )


def _ut_rounding_errors(samples: int = 30) -> list[dict]:
    """Relative error of the direct product and of the compact form computed in each torch dtype against
    float64 on the same (rounded) keys and betas, in units of the dtype's unit roundoff."""
    rng = np.random.default_rng(21)
    out = []
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        u = unit_roundoff(dtype)
        for n_h in (2, 4, 8):
            worst_direct = worst_compact = 0.0
            keys = random_unit_keys(rng, samples, n_h, 16)
            bs = random_betas(rng, samples, n_h)
            for k, b in zip(keys, bs):
                k_low, b_low = torch.tensor(k).to(dtype), torch.tensor(b).to(dtype)
                ref = gh_product_batch(k_low.double().numpy()[None], b_low.double().numpy()[None])[0]
                for name, fn in (("direct", gh_product), ("compact", compact_product)):
                    got = fn(k_low, b_low.tolist()).double().numpy()
                    err = float(np.linalg.norm(got - ref) / np.linalg.norm(ref)) / u
                    if name == "direct":
                        worst_direct = max(worst_direct, err)
                    else:
                        worst_compact = max(worst_compact, err)
            out.append(
                {
                    "dtype": str(dtype).replace("torch.", ""),
                    "n_h": n_h,
                    "d": 16,
                    "direct": worst_direct,
                    "compact": worst_compact,
                    "samples": samples,
                }
            )
    return out


@claim(
    id="kernels.ut_bounds",
    statement="For unit keys and β ∈ [0, 2], below the diagonal T_ij = −β_i k_iᵀ G_{i−1}⋯G_{j+1} k_j, so "
    "|T_ij| ≤ β_i ≤ 2 and |(T diag β)_ij| ≤ 4; both bounds are attained (k_1 = k_2, β = 2).",
    source="Bound on the UT-transform entries behind chunked kernels' stability [RECON]",
    method="numeric",
)
def ut_bounds() -> Evidence:
    n_h, d = 4, 2
    keys = sp.Matrix(n_h, d, sp.symbols(f"k1:{n_h * d + 1}"))
    betas = sp.symbols(f"b1:{n_h + 1}")
    t = ut_transform(keys, betas)
    g = [sp.eye(d) - betas[j] * keys[j, :].T * keys[j, :] for j in range(n_h)]
    formula_ok = True
    for i in range(n_h):
        for j in range(i):
            middle = sp.eye(d)
            for m in range(j + 1, i):
                middle = g[m] * middle
            formula_ok &= sp.expand(t[i, j] + betas[i] * (keys[i, :] * middle * keys[j, :].T)[0, 0]) == 0
    rng = np.random.default_rng(5)
    worst_t, worst_tb, count = 0.0, 0.0, 0
    for size in (2, 4, 8, 16):
        for dim in (2, 4, 8):
            k = random_unit_keys(rng, 200, size, dim)
            b = random_betas(rng, 200, size)
            t_num = np.stack([ut_transform(k[i], b[i]) for i in range(len(k))])  # the library's substitution
            ratio = np.abs(np.tril(t_num, -1)) / np.maximum(b[:, :, None], 1e-300)
            ratio[np.broadcast_to(b[:, :, None] == 0, ratio.shape)] = 0.0
            worst_t = max(worst_t, float(ratio.max()))
            worst_tb = max(worst_tb, float(np.abs(np.tril(t_num * b[:, None, :], -1)).max()))
            count += 200
    attained = ut_transform(sp.Matrix([[1, 0], [1, 0]]), [2, 2], check_unit=True)
    tb21 = attained[1, 0] * 2
    # inversion of a unit lower triangular system of size ≤ 16 in float64: relative error ≤ 16·size·u·cond
    tol = 1e-10
    checks = {
        "T_ij + β_i k_iᵀG_{i−1}⋯G_{j+1}k_j ≡ 0 (sympy)": formula_ok,
        "|T_ij| ≤ β_i": worst_t <= 1 + tol,
        "|(T diag β)_ij| ≤ 4": worst_tb <= 4 + 4 * tol,
        "attained: T_21 = −2, (T diag β)_21 = −4": attained[1, 0] == -2 and tb21 == -4,
    }
    return Evidence.from_checks(
        checks,
        f"sympy (n_h = {n_h}, symbolic keys and β): the formula for T_ij "
        + ("≡ 0 for all i > j" if formula_ok else "does NOT reduce to zero")
        + "; theory.ut_transform on "
        f"{count} float64 systems (sizes 2–16, dims 2–8, unit keys, β ∈ [0, 2] with 0, 1, 2 forced): "
        f"max |T_ij|/β_i = 1 − {1 - worst_t:.1e}, max |(T diag β)_ij| = 4 − {4 - worst_tb:.1e}; exact: "
        f"k_1 = k_2 = e_1, β = (2, 2) gives T_21 = {attained[1, 0]}, (T diag β)_21 = {tb21}",
        {"samples": count, "max_T_over_beta": worst_t, "max_T_diag_beta": worst_tb},
    )
