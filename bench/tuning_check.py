"""Check launch choices against float64 on the GPU, each configuration in a fresh process.

    python bench/tuning_check.py --out bench/results/verify_kernels/tuning_check.json \
        "default 128 128 bfloat16 1" "dot_bits=32+store_bits=32 256 256 float16 0" …

Each configuration is "TUNING K V DTYPE GATED" (TUNING as :func:`kernels.triton_launch.parse_tuning`).
It runs one forward+backward of backend "triton" (B=2, T=256, H=4, n_h=2, unit keys, β ∈ [0, 2]) on
inputs rounded to DTYPE and compares o, the final state and every gradient with the float64 chunked
reference on the same rounded inputs (relative errors ‖x − ref‖ / ‖ref‖). A fresh process with
CUDA_LAUNCH_BLOCKING=1 per configuration, because a kernel that faults leaves the CUDA context unusable;
a failure is recorded with the last lines of its traceback. Imports only torch and the project's kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

NAMES = ("o", "final_state", "dq", "dk", "dv", "dbeta", "dg")


def errors(spec: str, kdim: int, vdim: int, dtype: torch.dtype, gated: bool, n_h: int = 2) -> dict[str, float]:
    from kernels import delta_product, triton_launch
    from kernels.reference import chunked

    gen = torch.Generator(device="cpu").manual_seed(0)
    batch, tokens, heads = 2, 256, 4
    f64 = dict(dtype=torch.float64, generator=gen)
    q = torch.randn(batch, tokens, heads, kdim, **f64)
    k = torch.nn.functional.normalize(torch.randn(batch, tokens * n_h, heads, kdim, **f64), dim=-1)
    v = torch.randn(batch, tokens * n_h, heads, vdim, **f64)
    beta = 2 * torch.rand(batch, tokens * n_h, heads, **f64)
    g = torch.nn.functional.logsigmoid(torch.randn(batch, tokens, heads, **f64) + 3) if gated else None
    do = torch.randn(batch, tokens, heads, vdim, **f64).to(dtype).double().cuda()
    rounded = [x.to(dtype).double().cuda() for x in (q, k, v)] + [x.cuda() for x in (beta, g) if x is not None]

    def gradients(run, cast):
        leaves = [cast(x).requires_grad_(True) if i < 3 else x.clone().requires_grad_(True)
                  for i, x in enumerate(rounded)]  # fmt: skip
        o, state = run(*leaves)
        (o.double() * do).sum().backward()
        return [o, state] + [x.grad for x in leaves]

    def ours(q, k, v, beta, g=None):
        with triton_launch.tuning(**triton_launch.parse_tuning(spec)):
            return delta_product(q, k, v, beta, g=g, num_householder=n_h, output_final_state=True, backend="triton")

    def reference(q, k, v, beta, g=None):
        return chunked(q, k, v, beta, g, num_householder=n_h, scale=kdim**-0.5, initial_state=None,
                       output_final_state=True, cu_seqlens=None, chunk_size=64)  # fmt: skip

    got = gradients(ours, lambda x: x.to(dtype))
    torch.cuda.synchronize()
    ref = gradients(reference, lambda x: x.clone())
    return {name: float((a.detach().double() - b).norm() / b.norm()) for name, a, b in zip(NAMES, got, ref)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("configs", nargs="+", help='"TUNING K V DTYPE GATED", e.g. "default 128 128 bfloat16 1"')
    parser.add_argument("--out", type=Path, default=Path("bench/results/verify_kernels/tuning_check.json"))
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    for config in args.configs:
        if len(config.split()) != 5:
            parser.error(f'configs: expected "TUNING K V DTYPE GATED" (five fields), got {config!r}')
    if args.one:
        spec, kdim, vdim, dtype, gated = args.configs[0].split()
        print(json.dumps(errors(spec, int(kdim), int(vdim), getattr(torch, dtype), bool(int(gated)))))
        return
    rows = []
    for config in args.configs:
        env = dict(os.environ, CUDA_LAUNCH_BLOCKING="1")
        child = subprocess.run([sys.executable, __file__, "--one", config], env=env, capture_output=True, text=True)
        spec, kdim, vdim, dtype, gated = config.split()
        row = dict(tuning=spec, K=int(kdim), V=int(vdim), dtype=dtype, gated=bool(int(gated)))
        if child.returncode == 0:
            row.update(json.loads(child.stdout.strip().splitlines()[-1]))
        else:
            lines = [line.strip() for line in child.stderr.splitlines() if line.strip()]
            row["failure"] = " | ".join(lines[-3:])[-400:]
        rows.append(row)
        print(row, flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"device": torch.cuda.get_device_name(), "rows": rows}, indent=1))
    print("\n| tuning | K | V | dtype | gated | o | worst of the rest |\n|---|---|---|---|---|---|---|")
    for r in rows:
        rest = [r[n] for n in NAMES[1:] if n in r]
        cells = (r["tuning"], r["K"], r["V"], r["dtype"], r["gated"], f"{r['o']:.1e}" if "o" in r else
                 r["failure"][-60:], f"{max(rest):.1e}" if rest else "")  # fmt: skip
        print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()
