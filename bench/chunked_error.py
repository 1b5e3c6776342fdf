"""How much the chunked UT/WY form adds to the rounding error of the sub-step recurrence (CPU, minutes).

    python bench/chunked_error.py --out bench/results/chunked_error_cpu.json

Both forms run op by op in the same format (the reference backend: recurrent and chunk modes) on the same
rounded inputs (unit keys, n_h = 2, H = 4, d = 16, T = 256 tokens) and are compared with the float64 sub-step
loop; per β range and chunk size C the final-state errors, their ratio, and the chunk statistics that the
chunked form's intermediates depend on: ‖K‖₂‖W‖₂ (W = T·diag(β)K, what the rounding errors of W·S are
multiplied by before they reach the state) and ‖T‖₂, T = (I + A)⁻¹, averaged over the chunks of one head.
This is the measurement a chunked error model has to explain (the Stability issue).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from kernels import delta_product


def chunk_statistics(keys: np.ndarray, betas: np.ndarray, chunk: int) -> tuple[float, float]:
    """Mean over chunks of (‖K‖₂‖T diag(β) K‖₂, ‖T‖₂) for keys [rows, d] and betas [rows]."""
    growth, t_norm = [], []
    for start in range(0, len(keys), chunk):
        k, b = keys[start : start + chunk], betas[start : start + chunk]
        t = np.linalg.inv(np.eye(len(k)) + np.tril(b[:, None] * k @ k.T, -1))
        growth.append(np.linalg.norm(k, 2) * np.linalg.norm(t @ (b[:, None] * k), 2))
        t_norm.append(np.linalg.norm(t, 2))
    return float(np.mean(growth)), float(np.mean(t_norm))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench/results/chunked_error_cpu.json"))
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
                growth, t_norm = chunk_statistics(low[1][0, :, 0].double().numpy(), beta[0, :, 0].numpy(), chunk)
                rows.append({"betas": [lo, hi], "chunk": chunk, "format": name, "recurrent": err_rec,
                             "chunked": err_chk, "ratio": err_chk / err_rec, "mean_K_W_norm": growth,
                             "mean_T_norm": t_norm})  # fmt: skip
                print(f"β ∈ [{lo}, {hi}] C = {chunk:2d} {name:8s} recurrent {err_rec:.2e} chunked {err_chk:.2e} "
                      f"ratio {err_chk / err_rec:4.1f}  ‖K‖‖W‖ {growth:5.1f}  ‖T‖ {t_norm:4.1f}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"tokens": args.tokens, "n_h": n_h, "heads": heads, "dim": dim, "rows": rows}
    args.out.write_text(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
