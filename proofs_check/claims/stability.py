"""Claims about finite precision and state growth (the Stability issue)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp
import torch

from kernels import delta_product
from proofs_check.registry import Evidence, claim
from theory.formats import FORMATS, cast, cast_exact
from theory.sampling import gh_product_batch, random_betas, random_unit_keys


@claim(
    id="stability.state_growth",
    statement="‖A_t‖ ≤ 1 does not bound the state: ‖H_t‖ ≤ ‖H_0‖ + Σ_s ‖B_s‖, and the bound is attained — with "
    "d = 1, k = 1, β = 2 and values v_t = (−1)^t the state is h_t = (−1)^t·2t, growing linearly. With B = 0 "
    "(values 0) ‖H_t‖ never increases.",
    source="Stability issue (facts to get right); Grazzi et al. 2025, Prop. 1.1 (‖A‖ ≤ 1) [U]",
    method="kernel",
)
def state_growth() -> Evidence:
    t = sp.Symbol("t", integer=True, positive=True)
    h = (-1) ** t * 2 * t
    symbolic = sp.simplify(h - (-h.subs(t, t - 1) + 2 * (-1) ** t)) == 0  # h_t = −h_{t−1} + 2 v_t
    length = 4097  # odd, so the last value is −1
    v = torch.tensor([(-1.0) ** s for s in range(1, length + 1)], dtype=torch.float64).reshape(1, length, 1, 1)
    ones = torch.ones(1, length, 1, 1, dtype=torch.float64)
    o, final = delta_product(ones, ones, v, 2 * torch.ones(1, length, 1, dtype=torch.float64), scale=1.0,
                             output_final_state=True, backend="reference", mode="recurrent")  # fmt: skip
    through_kernel = o[0, :, 0, 0].numpy()
    expected = np.array([(-1.0) ** s * 2 * s for s in range(1, length + 1)])
    linear = bool(np.array_equal(through_kernel, expected)) and float(final.flatten()[0]) == -2 * length
    # B = 0: states under products of GH factors (β ∈ [0, 2], unit keys) never grow, up to rounding
    rng = np.random.default_rng(3)
    dim, steps, trials = 6, 200, 40
    states = rng.standard_normal((trials, dim))
    worst = -np.inf
    for _ in range(steps):
        a = gh_product_batch(random_unit_keys(rng, trials, 1, dim), random_betas(rng, trials, 1))
        new = np.einsum("bij,bj->bi", a, states)
        worst = max(worst, float((np.linalg.norm(new, axis=1) / np.linalg.norm(states, axis=1) - 1).max()))
        states = new
    u = 2.0**-53
    non_increasing = worst <= 4 * (dim + 2) * u  # one product of d-vectors per factor: O(d·u) relative
    holds = symbolic and linear and non_increasing
    summary = (
        f"h_t = (−1)^t·2t solves h_t = −h_{{t−1}} + 2v_t (sympy: {symbolic}); through the reference kernel "
        f"over {length} tokens the outputs are exactly ±2t and the final state {float(final.flatten()[0]):.0f} "
        f"(= −2T: the bound Σ‖B_s‖ = 2T is attained); with B = 0, {trials}×{steps} GH steps in R^{dim}: largest "
        f"relative growth of ‖H‖ per step {worst:.1e} (≤ {4 * (dim + 2) * u:.1e}, rounding only)"
    )
    return Evidence(holds, summary, {"linear": linear, "symbolic": symbolic, "max_growth_b0": worst})


@claim(
    id="stability.normalized_key_expansion",
    statement="A unit key rounded once to a format with unit roundoff u (from an exact or float64 unit vector) has "
    "|‖k̂‖² − 1| ≤ 2u + u², so the factor I − βk̂k̂ᵀ at β = 2 can expand: ‖I − 2k̂k̂ᵀ‖ − 1 = 2(‖k̂‖² − 1) ≤ "
    "4u + 2u². The bound does not cover keys normalised in the format's own arithmetic (torch's normalize on "
    "16- or 32-bit inputs), which round twice and measurably exceed it; their expansion is reported, not bounded.",
    source="the rounding model of theory.formats (Higham 2002, §2.2); bound and counterexample: this toolkit [✔]",
    method="numeric",
)
def normalized_key_expansion() -> Evidence:
    rng = np.random.default_rng(11)
    data, parts = {}, []
    within, beyond = True, {}
    for name in ("bfloat16", "float16", "tf32", "float32"):
        u = FORMATS[name].unit_roundoff
        bound = 4 * u + 2 * u * u
        row = {}
        for dim in (16, 64, 128, 256):
            keys = random_unit_keys(rng, 4000, 1, dim)[:, 0]
            rounded = cast(keys, name)
            sq = (rounded * rounded).sum(-1)  # exact enough: float64 sums of ≤ 256 values of ≤ 24 bits
            expansion = float(2 * (sq.max() - 1))
            within &= expansion <= bound and float(np.abs(sq - 1).max()) <= 2 * u + u * u
            row[dim] = {"rounded": expansion}
            if name in ("bfloat16", "float16", "float32"):
                dtype = getattr(torch, name)
                raw = torch.tensor(rng.standard_normal((4000, dim))).to(dtype)
                normed = torch.nn.functional.normalize(raw, dim=-1).double()
                row[dim]["normalized_in_format"] = float(2 * ((normed * normed).sum(-1).max() - 1))
        data[name] = {"u": u, "bound": bound, "by_dim": row}
        worst = max(r["rounded"] for r in row.values())
        in_format = [r["normalized_in_format"] for r in row.values() if "normalized_in_format" in r]
        if in_format:
            beyond[name] = max(in_format) > bound
        extra = (
            f"; normalised in {name} by torch {max(in_format):.2e} ({max(in_format) / bound:.2f}× it)"
            if in_format
            else ""
        )
        parts.append(
            f"{name}: largest expansion at β = 2 of rounded keys {worst:.2e} (bound 4u + 2u² = {bound:.2e}){extra}"
        )
    checks = {
        "rounded keys within 4u + 2u² in every format and dimension": within,
        "keys normalised in the format exceed the bound somewhere (the restriction is needed)": any(beyond.values()),
    }
    return Evidence.from_checks(checks, "; ".join(parts) + " (d = 16 … 256, 4000 keys each)", data)


def _system(rng: np.random.Generator, dim: int, negative: bool):
    """A random one-layer system h_k = A h_{k−1} + b with exact rational entries and real spectrum:
    A = P diag(λ) P⁻¹ for an integer P; λ from {0.1, …, 0.9} and an undriven eigenvalue 1 (its component
    of b is zero, so nothing grows), plus −1 (undriven too) when ``negative``."""
    while True:
        p = sp.Matrix(rng.integers(-3, 4, size=(dim, dim)).tolist())
        if p.det() != 0:
            break
    lams = [sp.Rational(int(rng.integers(1, 10)), 10) for _ in range(dim - 2)] + [sp.Integer(1)]
    lams.append(sp.Integer(-1) if negative else sp.Rational(int(rng.integers(0, 10)), 10))
    a = p * sp.diag(*lams) * p.inv()
    drive = [sp.Rational(int(rng.integers(-9, 10)), int(rng.integers(1, 5))) for _ in range(dim - 2)]
    b = p * sp.Matrix(drive + [0, sp.Rational(int(rng.integers(-9, 10)), 7) if not negative else 0])
    h0 = sp.Matrix([sp.Rational(int(rng.integers(-9, 10)), int(rng.integers(1, 5))) for _ in range(dim)])
    return a, b, h0


def _eventual(sequence: list, periods) -> tuple[int, int] | None:
    """(k̄, period) for the smallest period in ``periods`` with s_j = s_{j+period} for every j ≥ k̄ in the
    sequence (k̄ as small as possible, 1-based), or None."""
    for period in periods:
        k = len(sequence) - period
        while k > 0 and sequence[k - 1] == sequence[k - 1 + period]:
            k -= 1
        if k <= len(sequence) - 4 * period:  # the pattern repeats at least four times before the horizon
            return k + 1, period
    return None


@claim(
    id="grazzi.lemma1",
    statement="Under exact arithmetic followed by one cast per read-out, a one-layer system on the constant "
    "input (h_k = A h_{k−1} + b, A real-diagonalisable) has cast(h_k) eventually constant when A's eigenvalues "
    "are ≥ 0, and eventually of period 2 when they are real. Checked on random 3-D systems over a horizon of "
    "400 steps in bf16, fp16 and fp32 (k̄ reported), with a contrast run that rounds at every step.",
    source="Grazzi et al. 2025, Lemma 1 (App. B) and the proofs of Theorems 1–2 [U]",
    method="numeric",
)
def lemma1() -> Evidence:
    rng = np.random.default_rng(21)
    horizon, systems = 400, 6
    data = {}
    worst_k, contrast_periods = {}, {}
    for negative in (False, True):
        kind = "real" if negative else "nonnegative"
        allowed = (1, 2) if negative else (1,)
        for index in range(systems):
            a, b, h0 = _system(rng, 3, negative)
            af = [[Fraction(int(e.p), int(e.q)) for e in row] for row in a.tolist()]
            bf = [Fraction(int(e.p), int(e.q)) for e in b]
            exact = [Fraction(int(e.p), int(e.q)) for e in h0]
            rounded = {name: list(exact) for name in ("bfloat16", "float16", "float32")}
            paper = {name: [] for name in rounded}
            stepwise = {name: [] for name in rounded}
            a_cast = {name: [[Fraction(cast_exact(e, name)) for e in row] for row in af] for name in rounded}
            for _ in range(horizon):
                exact = [sum(r * h for r, h in zip(row, exact)) + c for row, c in zip(af, bf)]
                for name in rounded:
                    paper[name].append(tuple(cast_exact(e, name) for e in exact))
                    prev = rounded[name]
                    new = [cast_exact(sum(r * h for r, h in zip(row, prev)) + c, name) for row, c in
                           zip(a_cast[name], bf)]  # fmt: skip
                    rounded[name] = [Fraction(e) for e in new]
                    stepwise[name].append(tuple(new))
            for name in rounded:
                found = _eventual(paper[name], allowed)
                key = f"{kind}/{name}"
                worst_k[key] = max(worst_k.get(key, 0), found[0] if found else horizon)
                contrast = _eventual(stepwise[name], range(1, horizon // 8))
                contrast_periods.setdefault(key, []).append(contrast[1] if contrast else None)
                data[f"{kind}/{index}/{name}"] = {"paper_model": found, "every_step": contrast}
    # the model's cast against an independent one: torch's round-to-nearest-even casts of float64 values (exact
    # in float64, so one rounding each), normal and subnormal magnitudes, both signs
    values = rng.standard_normal(4000) * np.exp2(rng.integers(-140, 120, 4000))
    disagree = {
        name: int(
            sum(
                cast_exact(Fraction(float(x)), name) != y
                for x, y in zip(values, torch.tensor(values).to(getattr(torch, name)).double().tolist())
            )
        )  # fmt: skip
        for name in ("bfloat16", "float16", "float32")
    }
    missing = {k: v for k, v in worst_k.items() if v >= horizon}
    checks = {
        "every nonnegative-spectrum run eventually constant": not any(k.startswith("nonnegative") for k in missing),
        "every real-spectrum run eventually of period ≤ 2": not any(k.startswith("real") for k in missing),
        "cast_exact agrees with torch's casts": not any(disagree.values()),
    }
    summary = (
        f"{2 * systems} systems × 3 formats, horizon {horizon}, one cast of the exact state; largest onset k̄ "
        + ", ".join(f"{k} {v}" for k, v in sorted(worst_k.items()))
        + f" (≥ {horizon}: no eventual pattern found); theory.formats.cast_exact against torch on "
        f"{len(values)} float64 values per format: {disagree} disagreements; rounding at every step instead, "
        "eventual periods found "
        + ", ".join(f"{k} {sorted(set(map(str, v)))}" for k, v in sorted(contrast_periods.items()))
    )
    return Evidence.from_checks(checks, summary, data)


@claim(
    id="kernels.ut_conditioning",
    statement="In the chunked kernels' triangular system (I + A)T = I, A = strictly_lower(diag(β)KKᵀ): with unit "
    "keys and β ∈ [0, 2] every |T_ij| ≤ 2 whatever the chunk size, while the condition number of I + A grows "
    "with it; with keys of norm s > 1 (not normalised, or normalised badly) T grows geometrically with the "
    "chunk size (fla issues #537, #736). Measured for C = 16, 32, 64 in float64.",
    source="Siems et al. 2025 and fla's UT/WY kernels [DP-code]; the bound |T_ij| ≤ β_i of claim kernels.ut_bounds "
    "[RECON]",
    method="numeric",
)
def ut_conditioning() -> Evidence:
    rng = np.random.default_rng(17)
    dim, samples = 64, 200
    data, parts, holds = {}, [], True
    for chunk in (16, 32, 64):
        row = {}
        for scale in (1.0, 1.0 + 4 * 2.0**-8, 1.1, 1.5, 2.0):
            keys = rng.standard_normal((samples, chunk, dim))
            keys *= scale / np.linalg.norm(keys, axis=-1, keepdims=True)
            betas = np.where(rng.random((samples, chunk)) < 0.5, 2.0, rng.uniform(0, 2, (samples, chunk)))
            a = np.tril(betas[:, :, None] * keys @ keys.transpose(0, 2, 1), -1)
            system = np.eye(chunk) + a
            t = np.linalg.solve(system, np.broadcast_to(np.eye(chunk), system.shape))
            row[scale] = {"max_abs_T": float(np.abs(t).max()), "cond_max": float(np.linalg.cond(system).max()),
                          "cond_median": float(np.median(np.linalg.cond(system)))}  # fmt: skip
        holds &= row[1.0]["max_abs_T"] <= 2 * (1 + 1e-12)
        data[chunk] = row
        parts.append(
            f"C = {chunk}: unit keys max|T| {row[1.0]['max_abs_T']:.3f}, cond(I + A) up to {row[1.0]['cond_max']:.2e}; "
            f"‖k‖ = 1.016 (4u of bf16) max|T| {row[1.0 + 4 * 2.0**-8]['max_abs_T']:.3g}, ‖k‖ = 1.1 "
            f"{row[1.1]['max_abs_T']:.3g}, 1.5 {row[1.5]['max_abs_T']:.3g}, 2 {row[2.0]['max_abs_T']:.3g}"
        )
    return Evidence(holds, "; ".join(parts) + f" ({samples} chunks each, d = {dim}, half the β equal to 2)", data)
