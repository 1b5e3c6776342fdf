"""Check our kernels and fla's against float64 on the GPU at realistic sizes.

    python bench/verify_kernels.py [--quick] --out bench/results/verify_kernels/verify_kernels.json

For every case (T, D = K = V, n_h, gate) and dtype it draws unit keys, β ∈ [0, 2] (with 0, 1 and 2
exactly), values, queries, an initial state and — for gated cases — log-gates with some −inf (resets),
rounds q, k, v to the dtype, and compares each backend's o, final state and every gradient (q, k, v, β, g,
h0) with the float64 chunked reference (kernels.reference.chunked, equal to the sub-step loop to 1e-12 in
the tests) on the *same rounded inputs*. Errors are relative: ‖x − ref‖ / ‖ref‖. "n/a: ..." marks what a
backend refuses. Imports only torch, numpy and the project's kernels; prints a short table last.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from kernels import delta_product, triton_launch
from kernels.fla_backend import available as fla_available

NAMES = ("q", "k", "v", "beta", "g", "h0")


def make_inputs(batch, tokens, heads, dim, n_h, gated, seed, device):
    gen = torch.Generator(device="cpu").manual_seed(seed)
    rows = tokens * n_h
    f64 = dict(dtype=torch.float64)
    q = torch.randn(batch, tokens, heads, dim, generator=gen, **f64)
    k = torch.nn.functional.normalize(torch.randn(batch, rows, heads, dim, generator=gen, **f64), dim=-1)
    v = torch.randn(batch, rows, heads, dim, generator=gen, **f64)
    beta = 2 * torch.rand(batch, rows, heads, generator=gen, **f64)
    special = torch.rand(beta.shape, generator=gen) < 0.1
    beta[special] = torch.tensor([0.0, 1.0, 2.0], **f64)[torch.randint(0, 3, (int(special.sum()),), generator=gen)]
    g = None
    if gated:
        g = torch.nn.functional.logsigmoid(torch.randn(batch, tokens, heads, generator=gen, **f64) + 3)
        g[torch.rand(g.shape, generator=gen) < 0.01] = float("-inf")
    h0 = torch.randn(batch, heads, dim, dim, generator=gen, **f64)
    return [None if x is None else x.to(device) for x in (q, k, v, beta, g, h0)]


def run(backend, mode, inputs, n_h, grad, cotangent_dtype):
    """Forward (and backward with fixed random cotangents rounded to ``cotangent_dtype``, so that a backend
    and the reference see the same ones) of one backend."""
    leaves = [None if x is None else x.detach().clone().requires_grad_(grad) for x in inputs]
    q, k, v, beta, g, h0 = leaves
    o, ht = delta_product(q, k, v, beta, g=g, num_householder=n_h, initial_state=h0, output_final_state=True,
                          mode=mode, backend=backend)  # fmt: skip
    grads = {}
    if grad:
        gen = torch.Generator(device="cpu").manual_seed(7)
        do = torch.randn(o.shape, generator=gen, dtype=torch.float64).to(cotangent_dtype).to(o.device, o.dtype)
        dht = torch.randn(ht.shape, generator=gen, dtype=torch.float64).to(ht.device, ht.dtype)
        torch.autograd.backward([o, ht], [do, dht])
        grads = {n: x.grad for n, x in zip(NAMES, leaves) if x is not None}
    return o.detach(), ht.detach(), grads


def rel(x, ref):
    return float((x.double() - ref.double()).norm() / ref.double().norm().clamp_min(1e-300))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="only the first two cases")
    parser.add_argument("--skip", type=int, default=0, help="skip the first SKIP cases")
    parser.add_argument("--dtypes", default="bfloat16,float16,float32,float64")
    parser.add_argument("--out", type=Path, default=Path("bench/results/verify_kernels/verify_kernels.json"))
    parser.add_argument("--budget-s", type=float, default=1e9, help="start no new case after this many seconds")
    parser.add_argument("--fla-dtypes", default="bfloat16", help="dtypes for fla's chunk op (its autotune is slow)")
    parser.add_argument("--backends", default="triton,fla", help="comma-separated; fla only if installed")
    parser.add_argument("--tuning", default="default", help="our launch choices (kernels.triton_launch.tuning)")
    args = parser.parse_args()
    with triton_launch.tuning(**triton_launch.parse_tuning(args.tuning)):
        check(args)


def check(args):
    """Every case of the table against float64, saved to ``args.out`` after each row; a short table last."""
    device = "cuda"
    cases = [  # (B, T, H, D, n_h, gated)
        (1, 1024, 4, 128, 1, False),
        (1, 1024, 4, 128, 2, True),
        (1, 8192, 2, 128, 2, True),
        (1, 4096, 2, 128, 4, True),
        (1, 1024, 2, 256, 2, False),
        (1, 2048, 4, 64, 3, True),
    ]
    if args.quick:
        cases = cases[:2]
    cases = cases[args.skip :]
    dtypes = [getattr(torch, name) for name in args.dtypes.split(",")]
    chosen = args.backends.split(",")
    backends = [(b, m) for b in ("triton", "fla") for m in ("chunk", "recurrent")
                if b in chosen and (b != "fla" or fla_available())]  # fmt: skip
    results = []
    began = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save():
        meta = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "results": results}
        args.out.write_text(json.dumps(meta, indent=1))

    for case_index, (batch, tokens, heads, dim, n_h, gated) in enumerate(cases, start=args.skip):
        if time.perf_counter() - began > args.budget_s:
            print(f"budget of {args.budget_s} s spent: stopping before case {case_index}", flush=True)
            break
        base = make_inputs(batch, tokens, heads, dim, n_h, gated, case_index, device)
        for dtype in dtypes:
            rounded = [x if i > 2 or x is None else x.to(dtype).double() for i, x in enumerate(base)]
            ref_o, ref_ht, ref_grads = run("reference", "chunk", rounded, n_h, True, dtype)
            for backend, mode in backends:
                if backend == "fla" and mode == "chunk" and str(dtype)[6:] not in args.fla_dtypes.split(","):
                    continue
                inputs = [x if i > 2 or x is None else x.to(dtype) for i, x in enumerate(rounded)]
                row = dict(T=tokens, B=batch, H=heads, D=dim, n_h=n_h, gated=gated, dtype=str(dtype)[6:],
                           backend=backend, mode=mode, tuning=args.tuning if backend == "triton" else "")  # fmt: skip
                grad = not (backend == "fla" and mode == "recurrent" and gated)
                start = time.perf_counter()
                try:
                    o, ht, grads = run(backend, mode, inputs, n_h, grad, dtype)
                except Exception as err:  # noqa: BLE001  (a backend's refusal or failure is a result to record)
                    row["error"] = f"n/a: {type(err).__name__}: {str(err).splitlines()[0][:160]}"
                    results.append(row)
                    save()
                    print(row, flush=True)
                    continue
                torch.cuda.synchronize()
                row["seconds"] = round(time.perf_counter() - start, 3)
                row["o"], row["final_state"] = rel(o, ref_o), rel(ht, ref_ht)
                for name, ref in ref_grads.items():
                    row["d" + name] = rel(grads[name], ref) if name in grads else "n/a: no backward"
                row["finite"] = bool(torch.isfinite(o).all()) and bool(torch.isfinite(ht).all())
                results.append(row)
                save()
                print({k: (f"{v:.2e}" if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    print("\n| T | D | n_h | gated | dtype | backend | mode | o | state | worst grad |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['T']} | {r['D']} | {r['n_h']} | {r['gated']} | {r['dtype']} | {r['backend']} | {r['mode']} | "
                  f"{r['error'][:40]} | | |")  # fmt: skip
            continue
        gs = [r[k] for k in r if k.startswith("d") and k != "dtype" and isinstance(r[k], float)]
        worst = f"{max(gs):.1e}" if gs else "n/a"
        print(f"| {r['T']} | {r['D']} | {r['n_h']} | {r['gated']} | {r['dtype']} | {r['backend']} | {r['mode']} | "
              f"{r['o']:.1e} | {r['final_state']:.1e} | {worst} |")  # fmt: skip


if __name__ == "__main__":
    main()
