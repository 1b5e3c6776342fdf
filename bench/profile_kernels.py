"""Per-kernel GPU time of our chunked kernels (torch.profiler), forward+backward, as a user calls them.

    python bench/profile_kernels.py --out bench/results/profile_kernels.json

Shape as bench/speed.py (B=8, T=2048, H=16, D=128, bf16); n_h and gating from the command line. For each
configuration the CUDA time of every kernel is summed over ``--repeats`` calls and divided by it, so the
table says where one forward+backward spends its time. ``--variants`` profiles other launch choices,
each ``name=value+name=value…`` over :func:`kernels.triton_backend.tuning` (``bv``, ``bv_grads``,
``bv_wy``, ``warps_wy``, ``warps_walk``, ``warps_grads``); ``default`` is the backend's own choice.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch

from bench.speed import inputs
from kernels import delta_product, triton_backend


def profile(leaves, n_h, repeats, backward):
    q, k, v, beta, g = leaves
    do = torch.randn(*q.shape[:-1], v.shape[-1], device=q.device, dtype=q.dtype)

    def step():
        with torch.set_grad_enabled(backward):
            o, _ = delta_product(q, k, v, beta, g=g, num_householder=n_h, backend="triton")
        if backward:
            o.backward(do)

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    times = defaultdict(float)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(repeats):
            step()
        torch.cuda.synchronize()
    for event in prof.key_averages():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            times[event.key] += event.device_time_total / 1e3 / repeats
    return dict(sorted(times.items(), key=lambda kv: -kv[1]))


def variant(spec: str) -> dict:
    """``default`` or ``name=value+name=value…`` over :func:`kernels.triton_backend.tuning`'s choices."""
    if spec == "default":
        return {}
    return {name: int(value) for name, value in (item.split("=") for item in spec.split("+"))}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench/results/profile_kernels.json"))
    parser.add_argument("--n-h", default="2,3")
    parser.add_argument("--gated", default="0")
    parser.add_argument("--variants", default="default",
                        help="comma-separated: default, or name=value+name=value (triton_backend.tuning)")  # fmt: skip
    parser.add_argument("--passes", default="fwd+bwd", help="comma-separated: fwd, fwd+bwd")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    rows = []
    for spec in args.variants.split(","):
        with triton_backend.tuning(**variant(spec)):
            for n_h in [int(n) for n in args.n_h.split(",")]:
                for gated in [bool(int(x)) for x in args.gated.split(",")]:
                    leaves = inputs(8, 2048, 16, 128, n_h, gated, torch.bfloat16)
                    for pass_ in args.passes.split(","):
                        times = profile(leaves, n_h, args.repeats, backward=pass_ == "fwd+bwd")
                        rows.append(dict(n_h=n_h, gated=gated, variant=spec, pass_=pass_,
                                         total_ms=round(sum(times.values()), 3),
                                         kernels_ms={k: round(t, 3) for k, t in times.items()}))  # fmt: skip
                        print(json.dumps(rows[-1])[:300], flush=True)
                        args.out.parent.mkdir(parents=True, exist_ok=True)
                        meta = {"device": torch.cuda.get_device_name(), "rows": rows}
                        args.out.write_text(json.dumps(meta, indent=1))
    print("\n| n_h | gated | variant | pass | total (ms) | top kernels (ms) |\n|---|---|---|---|---|---|")
    for r in rows:
        top = ", ".join(f"{k[:24]} {t}" for k, t in list(r["kernels_ms"].items())[:5])
        print(f"| {r['n_h']} | {r['gated']} | {r['variant']} | {r['pass_']} | {r['total_ms']} | {top} |")


if __name__ == "__main__":
    main()
