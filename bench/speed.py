"""Time our kernels and fla's side by side on the GPU (the public call, validation included).

    python bench/speed.py --out bench/results/speed/speed.json

Shape B=8, T=2048, H=16, D=128, bf16; n_h = 2, 3, 1, gated and not; forward and forward+backward;
median of triton.testing.do_bench. Prints fla_time / our_time where fla runs (> 1 means ours is faster).
``--cases 2:0,3:0`` limits the (n_h, gated) cases; ``--tunings default,dot_bits=16+keep_states=1`` times
ours under each of :func:`kernels.triton_launch.tuning`'s choices (the ratio is taken for each).
Imports only torch, triton, numpy and the project's kernels.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import triton

from kernels import delta_product, triton_launch
from kernels.fla_backend import available as fla_available


def inputs(batch, tokens, heads, dim, n_h, gated, dtype):
    rows = tokens * n_h
    q = torch.randn(batch, tokens, heads, dim, device="cuda", dtype=dtype, requires_grad=True)
    k = torch.nn.functional.normalize(torch.randn(batch, rows, heads, dim, device="cuda"), dim=-1).to(dtype)
    v = torch.randn(batch, rows, heads, dim, device="cuda", dtype=dtype)
    beta = 2 * torch.rand(batch, rows, heads, device="cuda", dtype=dtype)
    g = torch.nn.functional.logsigmoid(torch.randn(batch, tokens, heads, device="cuda") + 3) if gated else None
    leaves = [x.detach().requires_grad_(True) if x is not None else None for x in (q, k, v, beta, g)]
    return leaves


def timer(backend, leaves, n_h, backward):
    q, k, v, beta, g = leaves
    do = torch.randn_like(q[..., :1].expand(*q.shape[:-1], v.shape[-1]))

    def step():
        o, _ = delta_product(q, k, v, beta, g=g, num_householder=n_h, backend=backend)
        if backward:
            o.backward(do)

    return triton.testing.do_bench(step, warmup=50, rep=200, return_mode="median")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench/results/speed/speed.json"))
    parser.add_argument("--budget-s", type=float, default=1e9)
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--backends", default="triton,fla", help="comma-separated; fla only if installed")
    parser.add_argument("--cases", default="2:0,3:0,1:0,2:1,3:1,1:1", help="comma-separated n_h:gated")
    parser.add_argument("--tunings", default="default", help="comma-separated tuning specs for ours")
    args = parser.parse_args()
    cases = [(int(n), bool(int(gated))) for n, gated in (case.split(":") for case in args.cases.split(","))]
    tunings = args.tunings.split(",")
    batch, heads, dim, dtype = 8, 16, 128, torch.bfloat16
    backends = [b for b in args.backends.split(",") if b != "fla" or fla_available()]
    rows, began = [], time.perf_counter()
    for n_h, gated in cases:
        if time.perf_counter() - began > args.budget_s:
            print(f"budget spent: stopping before n_h={n_h} gated={gated}", flush=True)
            break
        leaves = inputs(batch, args.tokens, heads, dim, n_h, gated, dtype)
        for backward in (False, True):
            row = dict(
                B=batch, T=args.tokens, H=heads, D=dim, n_h=n_h, gated=gated, pass_="fwd+bwd" if backward else "fwd"
            )
            fla_ms = timed("fla", leaves, n_h, backward) if "fla" in backends else None
            for spec in tunings if "triton" in backends else [None]:
                result = dict(row, tuning=spec)
                if spec is not None:
                    with triton_launch.tuning(**triton_launch.parse_tuning(spec)):
                        result["triton_ms"] = timed("triton", leaves, n_h, backward)
                if fla_ms is not None:
                    result["fla_ms"] = fla_ms
                if isinstance(fla_ms, float) and isinstance(result.get("triton_ms"), float):
                    result["fla_over_ours"] = round(fla_ms / result["triton_ms"], 3)
                rows.append(result)
                print(result, flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"device": torch.cuda.get_device_name(), "rows": rows}, indent=1))
    print("\n| n_h | gated | pass | tuning | ours (ms) | fla (ms) | fla / ours |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['n_h']} | {r['gated']} | {r['pass_']} | {r['tuning']} | {r.get('triton_ms', 'n/a')} | "
            f"{r.get('fla_ms', 'n/a')} | {r.get('fla_over_ours', '')} |"
        )


def timed(backend, leaves, n_h, backward):
    """Median milliseconds, or the refusal or failure as a string (a result to record)."""
    try:
        return round(timer(backend, leaves, n_h, backward), 4)
    except Exception as err:  # noqa: BLE001
        return f"n/a: {type(err).__name__}: {str(err).splitlines()[0][:100]}"


if __name__ == "__main__":
    main()
