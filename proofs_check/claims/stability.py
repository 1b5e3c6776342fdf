"""Claims about finite precision and state growth (the Stability issue)."""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

from kernels import delta_product
from proofs_check.registry import Evidence, claim
from theory.precision import FORMATS, cast
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
    statement="A unit key rounded to a format with unit roundoff u has |‖k̂‖² − 1| ≤ 2u + u², so the factor "
    "I − βk̂k̂ᵀ at β = 2 can expand: ‖I − 2k̂k̂ᵀ‖ − 1 = 2(‖k̂‖² − 1) ≤ 4u + 2u². Measured per format (and for "
    "keys normalised in the format's own arithmetic by torch).",
    source="Stability issue (facts to get right); the rounding model of theory.precision (Higham 2002, §2.2) [RECON]",
    method="numeric",
)
def normalized_key_expansion() -> Evidence:
    rng = np.random.default_rng(11)
    data, parts, holds = {}, [], True
    for name in ("bfloat16", "float16", "tf32", "float32"):
        u = FORMATS[name].unit_roundoff
        bound = 4 * u + 2 * u * u
        row = {}
        for dim in (16, 64, 128, 256):
            keys = random_unit_keys(rng, 4000, 1, dim)[:, 0]
            rounded = cast(keys, name)
            sq = (rounded * rounded).sum(-1)  # exact enough: float64 sums of ≤ 256 values of ≤ 24 bits
            expansion = float(2 * (sq.max() - 1))
            holds &= expansion <= bound and float(np.abs(sq - 1).max()) <= 2 * u + u * u
            row[dim] = {"rounded": expansion}
            if name in ("bfloat16", "float16", "float32"):
                dtype = getattr(torch, name)
                raw = torch.tensor(rng.standard_normal((4000, dim))).to(dtype)
                normed = torch.nn.functional.normalize(raw, dim=-1).double()
                row[dim]["normalized_in_format"] = float(2 * ((normed * normed).sum(-1).max() - 1))
        data[name] = {"u": u, "bound": bound, "by_dim": row}
        worst = max(r["rounded"] for r in row.values())
        in_format = [r["normalized_in_format"] for r in row.values() if "normalized_in_format" in r]
        extra = f", normalised in {name} by torch {max(in_format):.2e}" if in_format else ""
        parts.append(f"{name}: largest expansion at β = 2 {worst:.2e} (bound 4u + 2u² = {bound:.2e}){extra}")
    summary = "; ".join(parts) + " (d = 16 … 256, 4000 keys each)"
    return Evidence(holds, summary, data)
