"""How much the chunked UT/WY form adds to the rounding error of the sub-step recurrence (CPU, minutes).

    python bench/chunked_error.py --out bench/results/chunked_error/chunked_error_cpu.json

Both forms run op by op in the same format (the reference backend: recurrent and chunk modes) on the same
rounded inputs (unit keys, n_h = 2, H = 4, d = 16, T = 256 tokens) and are compared with the float64 sub-step
loop; per β range and chunk size C the final-state errors, their ratio, the chunk growth g = ‖K‖₂‖W‖₂
(theory.error_models.chunk_growth, RMS over the chunks of one head) and the chunked form's error beyond the
sub-step loop's, √(chunked² − recurrent²), against the term theory.error_models.chunked_error_estimate adds
for it, √(steps/C · 2/3)·g·u.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from kernels import delta_product
from theory.error_models import chunk_growth
from theory.formats import FORMATS


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench/results/chunked_error/chunked_error_cpu.json"))
    parser.add_argument("--tokens", type=int, default=256)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n_h, heads, dim, rows = 2, 4, 16, []
    for lo, hi in ((0.0, 1.0), (0.0, 2.0), (1.9, 2.0)):
        for chunk in (16, 32, 64):
            for name in ("bfloat16", "float32"):
                q = torch.from_numpy(rng.standard_normal((1, args.tokens, heads, dim)))
                raw = torch.from_numpy(rng.standard_normal((1, args.tokens * n_h, heads, dim)))
                k = torch.nn.functional.normalize(raw, dim=-1)
                v = torch.from_numpy(rng.standard_normal((1, args.tokens * n_h, heads, dim)))
                beta = torch.from_numpy(rng.uniform(lo, hi, (1, args.tokens * n_h, heads)))
                low = [x.to(getattr(torch, name)) for x in (q, k, v)]
                kw = dict(num_householder=n_h, output_final_state=True, backend="reference")
                _, ref = delta_product(*[x.double() for x in low], beta, mode="recurrent", **kw)
                _, rec = delta_product(*low, beta, mode="recurrent", **kw)
                _, chk = delta_product(*low, beta, mode="chunk", chunk_size=chunk, **kw)
                err_rec = float((rec.double() - ref).norm() / ref.norm())
                err_chk = float((chk.double() - ref).norm() / ref.norm())
                growth = chunk_growth(low[1][0, :, 0].double().numpy(), beta[0, :, 0].numpy(), chunk)
                steps = args.tokens * n_h
                extra = (max(err_chk**2 - err_rec**2, 0.0)) ** 0.5
                model = (steps / chunk * 2 / 3) ** 0.5 * growth * FORMATS[name].unit_roundoff
                rows.append({"betas": [lo, hi], "chunk": chunk, "format": name, "recurrent": err_rec,
                             "chunked": err_chk, "ratio": err_chk / err_rec, "growth": growth,
                             "extra_measured": extra, "extra_model": model})  # fmt: skip
                print(f"β ∈ [{lo}, {hi}] C = {chunk:2d} {name:8s} recurrent {err_rec:.2e} chunked {err_chk:.2e} "
                      f"ratio {err_chk / err_rec:4.1f}  g {growth:5.1f}  extra {extra:.2e} "
                      f"model {model:.2e}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"tokens": args.tokens, "n_h": n_h, "heads": heads, "dim": dim, "rows": rows}
    args.out.write_text(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
