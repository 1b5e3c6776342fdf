"""Per-kernel GPU time of our chunked kernels (torch.profiler), forward+backward, as a user calls them.

    python bench/profile_kernels.py --out bench/results/speed/profile_kernels.json

Shape B=8, T=2048, H=16, D=128 and bf16 unless ``--shape B,T,H,D`` and ``--dtype`` say otherwise; n_h and
gating from the command line. For each
configuration the CUDA time of every kernel is summed over ``--repeats`` calls and divided by it, so the
table says where one forward+backward spends its time (the gradients are reset before each backward, as a
training step's are). ``--variants`` profiles other launch choices,
each ``name=value+name=value…`` over :func:`kernels.triton_launch.tuning` (``bv``, ``warps_walk``,
``stages_walk``, ``bk_prep``, ``warps_prep``, ``bk_grads``, ``bv_grads``, ``warps_grads``, ``store_bits``,
``dot_bits``, ``halves_fwd``, ``halves_bwd``); ``default`` is the backend's own choice.
``--chunk-sizes`` profiles other chunk sizes; ``--value-checks default,off`` ours with its default value checks
(asynchronous, on the kernels' loads) and with ``check_values=False``. ``--peer fla`` profiles fla's
``chunk_gated_delta_product(q, k, v, g, beta, num_householder=n_h)`` instead, called as its users call it, on the
same inputs (its kernels' names say where its time goes; variants, chunk sizes and value checks do not apply
to it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/<script>.py`: bench.speed lies under the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench.speed import inputs
from kernels import delta_product, triton_launch


def call(peer, n_h, chunk_size, checks="default"):
    """The function timed: ours through :func:`kernels.delta_product` (``checks`` "off": ``check_values=False``),
    or fla's own entry point."""
    if peer == "fla":
        from fla.ops.gated_delta_product import chunk_gated_delta_product

        return lambda q, k, v, beta, g: chunk_gated_delta_product(q, k, v, g, beta, num_householder=n_h)
    if peer != "ours":
        raise ValueError(f"--peer: expected ours or fla, got {peer!r}")
    if checks not in ("default", "off"):
        raise ValueError(f"--value-checks: expected default or off, got {checks!r}")
    check_values = None if checks == "default" else False
    return lambda q, k, v, beta, g: delta_product(
        q, k, v, beta, g=g, num_householder=n_h, chunk_size=chunk_size, backend="triton", check_values=check_values
    )


def profile(leaves, n_h, repeats, backward, chunk_size=64, peer="ours", checks="default"):
    q, k, v, beta, g = leaves
    do = torch.randn(*q.shape[:-1], v.shape[-1], device=q.device, dtype=q.dtype)
    forward = call(peer, n_h, chunk_size, checks)

    def step():
        with torch.set_grad_enabled(backward):
            o, _ = forward(q, k, v, beta, g)
        if backward:
            for x in leaves:  # no accumulation into earlier steps' gradients: an add kernel no user step has
                if x is not None:
                    x.grad = None
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench/results/speed/profile_kernels.json"))
    parser.add_argument("--n-h", default="2,3")
    parser.add_argument("--gated", default="0")
    parser.add_argument("--variants", default="default",
                        help="comma-separated: default, or name=value+name=value (triton_launch.tuning)")  # fmt: skip
    parser.add_argument("--passes", default="fwd+bwd", help="comma-separated: fwd, fwd+bwd")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--chunk-sizes", default="64", help="comma-separated chunk sizes (sub-step rows)")
    parser.add_argument("--shape", default="8,2048,16,128", help="B,T,H,D")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--peer", default="ours", choices=("ours", "fla"), help="whose kernels to profile")
    parser.add_argument(
        "--value-checks",
        default="default",
        help="comma-separated: default (asynchronous checks), off (check_values=False); ours only",
    )
    args = parser.parse_args()
    rows = []
    for spec in args.variants.split(","):
        with triton_launch.tuning(**triton_launch.parse_tuning(spec)):
            for n_h in [int(n) for n in args.n_h.split(",")]:
                for gated in [bool(int(x)) for x in args.gated.split(",")]:
                    leaves = inputs(*map(int, args.shape.split(",")), n_h, gated, getattr(torch, args.dtype))
                    checks = args.value_checks.split(",") if args.peer == "ours" else ["default"]
                    for pass_, size, check in itertools.product(
                        args.passes.split(","), map(int, args.chunk_sizes.split(",")), checks
                    ):
                        times = profile(leaves, n_h, args.repeats, pass_ == "fwd+bwd", size, args.peer, check)
                        rows.append(dict(peer=args.peer, shape=args.shape, dtype=args.dtype, n_h=n_h, gated=gated,
                                         variant=spec, pass_=pass_, chunk_size=size, value_checks=check,
                                         total_ms=round(sum(times.values()), 3),
                                         kernels_ms={k: round(t, 3) for k, t in times.items()}))  # fmt: skip
                        print(json.dumps(rows[-1])[:300], flush=True)
                        args.out.parent.mkdir(parents=True, exist_ok=True)
                        meta = {"device": torch.cuda.get_device_name(), "rows": rows}
                        args.out.write_text(json.dumps(meta, indent=1))
    print("\n| n_h | gated | variant | checks | pass | chunk | total (ms) | top kernels (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        top = ", ".join(f"{k[:24]} {t}" for k, t in list(r["kernels_ms"].items())[:5])
        cells = (r["n_h"], r["gated"], r["variant"], r["value_checks"], r["pass_"], r["chunk_size"], r["total_ms"], top)
        print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()
