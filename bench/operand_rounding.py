"""Which operands of the chunked walk can be 16-bit: the UT/WY forward emulated with chosen operand roundings.

    python bench/operand_rounding.py --out bench/results/operand_rounding/rows.json

Issue 19 asks fp16 to run as fast as bf16 and still pass the GPU verdict's section D (β = 2 reflections on one
key, values ±20 alternating: the state grows to 6.5·10⁵, past fp16's 65 504). This runs the ungated chunked
forward (:func:`kernels.reference.chunked`'s algorithm, C = 64) in float64 on the CPU with the operands of
each product that carries the state rounded as a kernel would round them, and measures o and the final state
against the exact float64 walk on the same fp16 inputs (:func:`proofs_check.studies.kernels.kernel_errors`),
judged by the model of a kernel with those operands (:func:`proofs_check.studies.kernels.kernel_models`; the
verdict calls a row suspect above 10× it). The products: K S, T x (x = β ⊙ (V − K S)), Kᵀu, Q S and
(QKᵀ ⊙ mask) u. Operand roundings:

* ``exact``: float64 (fp32-accurate tf32x3 is within 2⁻²² of it);
* ``tf32``: fp32, then the 13 low mantissa bits cleared — what a one-pass tf32 tensor-core product reads;
* ``fp16``: round to nearest fp16 after dividing each column by a power of two that brings its largest
  entry below 2¹⁵ (the range fix a 16-bit path needs; without it D's state overflows to inf);
* ``fp16x2``: that fp16 head plus the fp16 rounding of the rest (two 16-bit products: 22 bits);
* ``fp16x2_fixed``: the same two terms with one fixed scale 2¹⁶ for the head instead of a column's (no
  reduction in a kernel: the head is fp16(x/2¹⁶)·2¹⁶, the rest fp16(x − head), 22 bits for |x| from
  about 2⁻⁸ up to 2.7·10⁸, where the rest would overflow; smaller entries keep 2⁻²⁴ absolute);
* ``fp16x2_tile``: two fp16 terms scaled by one power of two per tile — per head and block of 64 columns, as
  a kernel's program holds it — that brings the tile's largest entry to [2¹⁴, 2¹⁵) (one max-reduction per
  tile, the same rule for every operand: no knowledge of which operands are bounded);
* ``bf16``: round to nearest bf16 (fp32's range: no scaling needed).

Inputs q, k, v are fp16 (keys exact: e₀ in D, unit keys rounded in A), so K and Q are never rounded again;
T and the scores are, as ``T``. Gates are not emulated (sections A's ungated rows and D are ungated).
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import numpy as np
import torch

from proofs_check.studies import growing_inputs, kernel_inputs
from proofs_check.studies import kernels as study

ROUNDINGS = ("exact", "tf32", "fp16", "fp16x2", "fp16x2_fixed", "fp16x2_tile", "bf16")
TILE_COLUMNS = 64  # fp16x2_tile's column block: a program's value block
FIXED_SCALE = 2.0**16  # fp16x2_fixed's head is fp16(x / 2¹⁶)·2¹⁶: no reduction, |x| up to 2.7·10⁸
FP16_HEADROOM = 2.0**15  # columns are scaled below this: K S, T x and Kᵀu may add a few times it before 65 504

# (name, what it is) → the rounding of S, x, u and T (T also stands for the scores QKᵀ ⊙ mask)
VARIANTS = {
    "fp32-accurate (our fp16 path today)": dict(S="exact", x="exact", u="exact", T="exact"),
    "one-pass tf32, S fp32-accurate (rejected GPU variant 1)": dict(S="exact", x="tf32", u="tf32", T="tf32"),
    "one-pass tf32 for u only (rejected GPU variant 2)": dict(S="exact", x="exact", u="tf32", T="exact"),
    "fp16 operands, scaled (a 16-bit path with the range fixed)": dict(S="fp16", x="fp16", u="fp16", T="fp16"),
    "fp16x2 for x only": dict(S="fp16", x="fp16x2", u="fp16", T="fp16"),
    "fp16x2 for u only": dict(S="fp16", x="fp16", u="fp16x2", T="fp16"),
    "fp16x2 for x and u": dict(S="fp16", x="fp16x2", u="fp16x2", T="fp16"),
    "fp16x2 for S, x, u and T": dict(S="fp16x2", x="fp16x2", u="fp16x2", T="fp16x2"),
    "fp16x2 with a fixed scale for S, x and u, T fp16": dict(
        S="fp16x2_fixed", x="fp16x2_fixed", u="fp16x2_fixed", T="fp16"
    ),
    "fp16x2 with a fixed scale for S, x and u, T fp16x2": dict(
        S="fp16x2_fixed", x="fp16x2_fixed", u="fp16x2_fixed", T="fp16x2"
    ),
    "fp16x2 with one scale per tile for every operand": dict(
        S="fp16x2_tile", x="fp16x2_tile", u="fp16x2_tile", T="fp16x2_tile"
    ),
    "walk fp32-accurate, output operands one fp16 term (scaled)": dict(
        S="exact", x="exact", u="exact", T="exact", out="fp16"
    ),
    "walk fp32-accurate, output operands bf16": dict(S="exact", x="exact", u="exact", T="exact", out="bf16"),
    "bf16 operands (our bf16 path)": dict(S="bf16", x="bf16", u="bf16", T="bf16"),
}


def _column_scale(x: torch.Tensor) -> torch.Tensor:
    """Per column (the last but one axis is the rows), the power of two 2^e ≥ 1 that brings the column's
    largest magnitude below :data:`FP16_HEADROOM`."""
    peak = x.abs().amax(dim=-2, keepdim=True)
    exponent = torch.ceil(torch.log2(torch.clamp(peak, min=1.0) / FP16_HEADROOM)).clamp(min=0)
    return torch.exp2(exponent)


def _tile_scale(x: torch.Tensor) -> torch.Tensor:
    """Per tile (the last two axes, columns in blocks of :data:`TILE_COLUMNS`), the power of two that brings
    the tile's largest magnitude into [2¹⁴, 2¹⁵); 1 for an all-zero tile."""
    cols = x.shape[-1]
    blocks = -(-cols // TILE_COLUMNS)
    padded = torch.nn.functional.pad(x.abs(), (0, blocks * TILE_COLUMNS - cols))
    peak = padded.unflatten(-1, (blocks, TILE_COLUMNS)).amax(dim=(-3, -1), keepdim=True)
    exponent = torch.floor(torch.log2(torch.where(peak > 0, peak, 2.0**14))) - 14
    scale = torch.exp2(exponent).expand(*peak.shape[:-3], 1, blocks, TILE_COLUMNS)
    return scale.flatten(-2)[..., :cols]


def rounded(x: torch.Tensor, how: str) -> torch.Tensor:
    """x (float64) as the product reads it under rounding ``how`` (:data:`ROUNDINGS`), back in float64."""
    if how == "exact":
        return x
    if how == "tf32":
        bits = x.to(torch.float32).view(torch.int32) & -8192
        return bits.view(torch.float32).double()
    if how == "bf16":
        return x.to(torch.bfloat16).double()
    if how == "fp16x2_fixed":
        head = (x / FIXED_SCALE).to(torch.float16).double() * FIXED_SCALE
        return head + (x - head).to(torch.float16).double()
    if how in ("fp16", "fp16x2", "fp16x2_tile"):
        scale = _tile_scale(x) if how == "fp16x2_tile" else _column_scale(x)
        head = (x / scale).to(torch.float16).double() * scale
        if how == "fp16":
            return head
        return head + ((x - head) / scale).to(torch.float16).double() * scale
    raise ValueError(f"rounding: expected one of {ROUNDINGS}, got {how!r}")


def emulated(q, k, v, beta, g=None, *, num_householder, output_final_state=True, roundings, chunk_size=64):
    """(o, final state) of the ungated chunked forward with the operands of the state-carrying products
    rounded per ``roundings`` (S, x, u, T → :data:`ROUNDINGS`; the output's products Q S and scores·u take
    ``out`` for all their operands where given, else S's, u's and T's); every product and sum otherwise in float64.
    The signature of :func:`kernels.delta_product` that :func:`proofs_check.studies.kernels.kernel_errors` calls."""
    if g is not None:
        raise ValueError("g: the emulation has no gates (sections A's ungated rows and D need none)")
    n_h, r = num_householder, roundings
    q, k, v, beta = (x.double()[0].transpose(0, 1) for x in (q, k, v, beta))  # [H, rows, ·]
    heads, tokens, kdim = q.shape
    rows = tokens * n_h
    qq = torch.zeros(heads, rows, kdim, dtype=torch.float64)
    qq[:, n_h - 1 :: n_h] = q
    s = torch.zeros(heads, kdim, v.shape[-1], dtype=torch.float64)
    outs = []
    for c in range(0, rows, chunk_size):
        sl = slice(c, min(c + chunk_size, rows))
        kc, vc, bc, qc = k[:, sl], v[:, sl], beta[:, sl], qq[:, sl]
        size = kc.shape[1]
        eye = torch.eye(size, dtype=torch.float64)
        t_inv = torch.linalg.inv(eye + torch.tril(bc[:, :, None] * (kc @ kc.transpose(1, 2)), diagonal=-1))
        s_op = rounded(s, r["S"])
        x = bc[:, :, None] * (vc - kc @ s_op)
        u = rounded(t_inv, r["T"]) @ rounded(x, r["x"])
        u_op = rounded(u, r["u"])
        scores = torch.tril(qc @ kc.transpose(1, 2))
        if "out" in r:  # the output does not feed the recurrence: its products may round differently
            outs.append(qc @ rounded(s, r["out"]) + rounded(scores, r["out"]) @ rounded(u, r["out"]))
        else:
            outs.append(qc @ s_op + rounded(scores, r["T"]) @ u_op)
        s = s + kc.transpose(1, 2) @ u_op
    scale = kdim**-0.5
    o = (scale * torch.cat(outs, dim=1)[:, n_h - 1 :: n_h]).transpose(0, 1)[None]
    return o.to(torch.float16), s[None].float()


def measure(section: str, inputs, n_h: int) -> list[dict]:
    """One row per variant: errors of o and the final state, the model of a kernel with those operands, and
    the verdict's ratio and suspicion."""
    steps = inputs[0].shape[1] * n_h
    contraction = study.run_contraction(inputs, n_h)
    out = []
    for name, roundings in VARIANTS.items():
        kernel = functools.partial(emulated, roundings=roundings)
        err_o, err_s = study.kernel_errors(kernel, inputs, dtype="float16", n_h=n_h, reference_mode="chunk")
        walk = {key: value for key, value in roundings.items() if key != "out"}  # the model counts the walk's roundings
        coarsest = next((f for f in ("bf16", "fp16", "tf32") if any(x.startswith(f) for x in walk.values())), None)
        operands = {"bf16": "bfloat16", "fp16": "float16", "tf32": "tf32"}.get(coarsest)
        model_s, model_o = study.kernel_models("triton", "float16", steps, 64, operands, contraction)
        row = dict(section=section, variant=name, **roundings, tokens=inputs[0].shape[1], n_h=n_h, o=err_o,
                   state=err_s, model_o=model_o, model_state=model_s, operands_in_model=operands)  # fmt: skip
        out.append(row | study.verdict(err_o, err_s, model_o, model_s))
        print(f"{section}  {name:62s} o {err_o:9.3g}  state {err_s:9.3g}  × model {out[-1]['over_model']:8.3g}")
    return out


def two_key_growth(tokens: int, n_h: int, dim: int, seed: int = 0) -> list:
    """Section D's growth with every other key (at random) a second unit key 0.3 off the first: β = 2 still
    reflects, the state still grows (to 5.4·10³ at 4096 tokens), and T = (I + A)⁻¹ is no longer integer."""
    inputs = growing_inputs(tokens, n_h, 1, dim, 19.7)
    gen = torch.Generator().manual_seed(seed)
    first = torch.zeros(dim, dtype=torch.float64)
    first[0] = 1.0
    second = torch.nn.functional.normalize(first + 0.3 * torch.randn(dim, generator=gen, dtype=torch.float64), dim=0)
    keys = inputs[1]
    keys[0, torch.rand(tokens * n_h, generator=gen) < 0.5, 0] = second.to(torch.float16).double()
    inputs[1] = keys
    return inputs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench/results/operand_rounding/rows.json"))
    parser.add_argument("--tokens-d", type=int, default=8192, help="section D's length (the verdict's: 8192)")
    parser.add_argument("--tokens-a", type=int, default=1024, help="section A's length")
    args = parser.parse_args()
    n_h = 2
    rows = measure("D", growing_inputs(args.tokens_d, n_h, 1, 128, 20.0), n_h)
    rows += measure("D, values ±19.7", growing_inputs(args.tokens_d, n_h, 1, 128, 19.7), n_h)
    rows += measure("D, two keys", two_key_growth(args.tokens_d // 2, n_h, 16), n_h)
    a = kernel_inputs(np.random.default_rng(0), args.tokens_a, n_h, 4, 128, "[0, 2]", "none", "float64")
    rows += measure("A", a, n_h)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
