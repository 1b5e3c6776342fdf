"""Our kernels against fla's on the GPU, each called as its own users call it, on a grid of shapes.

    python bench/speed.py --out grid.json [--only kind=grid,dtype_name=bfloat16,n_h=1|3] [--budget-s S]  # GPU
    python bench/speed.py --merge part1.json part2.json … --out bench/results/speed/grid.json \\
        --plot bench/results/speed/grid.png                                           # anywhere

Ours: ``kernels.delta_product(q, k, v, beta, g=g, num_householder=n_h)`` with its defaults (chunk mode, the
asynchronous value checks). fla: ``fla.ops.gated_delta_product.chunk_gated_delta_product(q, k, v, g, beta,
num_householder=n_h)`` called directly, nothing of ours around it. Same inputs (unit keys, β ∈ [0, 2],
log-gates logsigmoid(x + 3)), same process; per row ours then fla, each the median of
``triton.testing.do_bench`` after a warm-up call (compilation, fla's autotuning); gradients are reset between
repeats (``grad_to_none``) for both. Grid: B·H ∈ {32, 128, 512} (H = 16, B = 2, 8, 32), T ∈ {1024, 4096,
16384}, D = K = V ∈ {64, 128}, n_h ∈ {1, 2, 3}, bf16 and fp16, gated and not, forward and forward+backward.

Decoding (pass "decode", T = 1): a loop of 64 steps, one token per call with the state carried — ours
``delta_product(..., initial_state=S, output_final_state=True, mode="recurrent")``, fla's
``fused_recurrent_gated_delta_rule`` on the token's n_h interleaved rows (q zero but at the last, g zero but at
the first, as fla's GatedDeltaProduct layer decodes; those rows are built before the clock starts) — timed
by CUDA events around the loop; the two peers' loops alternate, DECODE_ROUNDS of each, and each reports the
median loop per step (a drift of the host between rounds falls on both); B ∈ {1, 16, 64, 256}, H = 16, D = 128.

Each row: B, T, H, D, n_h, gated, dtype, pass, ours_ms, fla_ms (or why fla did not run) and ratio = fla_ms /
ours_ms (> 1: ours faster), with the GPU and the torch, Triton and fla versions. The rows are written after
each one; a short table and the worst ratio per column are printed last. ``--merge`` joins the parts of runs
split over several GPU sessions and plots ratio against T, one line per B·H (the worst row over D, n_h and
gating), a panel per pass and dtype, with the decoding rows against B.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path

from proofs_check.arguments import filters, passes, seconds

GRID = dict(bh=(32, 128, 512), tokens=(1024, 4096, 16384), dim=(64, 128), n_h=(1, 2, 3))
HEADS = 16
DECODE_BATCHES = (1, 16, 64, 256)
DECODE_STEPS = 64
DECODE_ROUNDS = 11
DTYPES = ("bfloat16", "float16")


def inputs(batch, tokens, heads, dim, n_h, gated, dtype, grad=True):
    """(q, k, v, beta, g) on the GPU as leaves: unit keys, β ∈ [0, 2], log-gates logsigmoid(x + 3) or None."""
    import torch

    rows = tokens * n_h
    q = torch.randn(batch, tokens, heads, dim, device="cuda", dtype=dtype)
    k = torch.nn.functional.normalize(torch.randn(batch, rows, heads, dim, device="cuda"), dim=-1).to(dtype)
    v = torch.randn(batch, rows, heads, dim, device="cuda", dtype=dtype)
    beta = 2 * torch.rand(batch, rows, heads, device="cuda", dtype=dtype)
    g = torch.nn.functional.logsigmoid(torch.randn(batch, tokens, heads, device="cuda") + 3) if gated else None
    return [None if x is None else x.requires_grad_(grad) for x in (q, k, v, beta, g)]


def _environment() -> dict:
    import torch
    import triton

    try:
        from importlib.metadata import version

        fla = version("fla-core")
    except Exception:  # noqa: BLE001  (not installed: recorded as such)
        fla = "not installed"
    return dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, triton=triton.__version__, fla=fla)


def _bench(step, leaves) -> float:
    import triton

    step()  # compile, autotune
    return triton.testing.do_bench(step, warmup=10, rep=50, grad_to_none=leaves, return_mode="median")


def _timed(step, leaves):
    """Median milliseconds, or the refusal or failure as a string (a result to record)."""
    try:
        return round(_bench(step, leaves), 4)
    except Exception as err:  # noqa: BLE001
        return f"n/a: {type(err).__name__}: {str(err).splitlines()[0][:120]}"


def grid_rows(dtype_name: str, gated: bool, dim: int, n_h: int, bh: int, tokens: int) -> list[dict]:
    """The forward and forward+backward rows of one shape."""
    import torch
    from fla.ops.gated_delta_product import chunk_gated_delta_product

    from kernels import delta_product

    batch = bh // HEADS
    leaves = inputs(batch, tokens, HEADS, dim, n_h, gated, getattr(torch, dtype_name))
    grads = [x for x in leaves if x is not None]
    do = torch.randn_like(leaves[0])
    calls = {
        "ours": lambda q, k, v, beta, g: delta_product(q, k, v, beta, g=g, num_householder=n_h),
        "fla": lambda q, k, v, beta, g: chunk_gated_delta_product(q, k, v, g, beta, num_householder=n_h),
    }
    rows = []
    for backward in (False, True):
        times = {}
        for peer, call in calls.items():

            def step(call=call, backward=backward):
                o, _ = call(*leaves)
                if backward:
                    o.backward(do)

            for x in grads:  # the previous peer's gradients and cached blocks freed: each starts from the same memory
                x.grad = None
            torch.cuda.empty_cache()
            with torch.set_grad_enabled(backward):
                times[peer] = _timed(step, grads)
        pass_ = "fwd+bwd" if backward else "fwd"
        rows.append(_row(batch, tokens, dim, n_h, gated, dtype_name, pass_, times["ours"], times["fla"]))
    return rows


def decode_steps(batch: int, n_h: int, gated: bool, dtype, dim: int = 128) -> tuple[list, list]:
    """DECODE_STEPS one-token inputs (q, k, v, β, g) for ours, and the same for fla's fused recurrent kernel on
    the token's n_h interleaved rows (q at the last sub-step, the gate at the first), built before any clock."""
    import torch

    steps = [inputs(batch, 1, HEADS, dim, n_h, gated, dtype, grad=False) for _ in range(DECODE_STEPS)]
    interleaved = []
    for q, k, v, beta, g in steps:
        q_rows = torch.zeros(batch, n_h, HEADS, dim, device="cuda", dtype=dtype)
        q_rows[:, -1] = q[:, 0]
        g_rows = None
        if g is not None:
            g_rows = torch.zeros(batch, n_h, HEADS, device="cuda", dtype=g.dtype)
            g_rows[:, 0] = g[:, 0]
        interleaved.append((q_rows, k, v, beta, g_rows))
    return steps, interleaved


def in_turn(loops: dict, clock, rounds: int, steps: int) -> dict:
    """Milliseconds per step of each loop: each run once (compilation, autotuning), then timed by ``clock(loop)``
    (milliseconds) in turn, ``rounds`` times — ours, fla, ours, fla, … — and the median loop divided by
    ``steps``. A loop that raises is reported as the error (a result to record) and left out of the rounds."""
    results, timed = {}, {}
    for name, loop in loops.items():
        try:
            loop()
            timed[name] = []
        except Exception as err:  # noqa: BLE001
            results[name] = f"n/a: {type(err).__name__}: {str(err).splitlines()[0][:120]}"
    for _ in range(rounds):
        for name, times in timed.items():
            times.append(clock(loops[name]))
    return results | {name: round(statistics.median(times) / steps, 4) for name, times in timed.items()}


def decode_row(dtype_name: str, gated: bool, n_h: int, batch: int, dim: int = 128) -> dict:
    """One decoding row: per-step time of a loop of DECODE_STEPS tokens with the state carried."""
    import torch
    from fla.ops.gated_delta_rule import fused_recurrent_gated_delta_rule

    from kernels import delta_product

    dtype = getattr(torch, dtype_name)
    steps, interleaved = decode_steps(batch, n_h, gated, dtype, dim)
    state0 = torch.zeros(batch, HEADS, dim, dim, device="cuda", dtype=torch.float32)

    def ours():
        state = state0
        for q, k, v, beta, g in steps:
            o, state = delta_product(q, k, v, beta, g=g, num_householder=n_h, initial_state=state,
                                     output_final_state=True, mode="recurrent")  # fmt: skip
        return o, state

    def fla():
        state = state0
        for q, k, v, beta, g in interleaved:
            o, state = fused_recurrent_gated_delta_rule(q, k, v, g=g, beta=beta, initial_state=state,
                                                        output_final_state=True)  # fmt: skip
        return o[:, -1:], state

    def cuda_ms(loop) -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        loop()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)

    with torch.no_grad():
        per_step = in_turn({"ours": ours, "fla": fla}, cuda_ms, DECODE_ROUNDS, DECODE_STEPS)
        ours_ms, fla_ms = per_step["ours"], per_step["fla"]
        row = _row(batch, 1, dim, n_h, gated, dtype_name, "decode", ours_ms, fla_ms)
        if isinstance(fla_ms, float):  # the two agree (same inputs, same recurrence)
            (o1, s1), (o2, s2) = ours(), fla()
            row["state_rel_diff"] = float((s1 - s2).norm() / s2.norm())
            row["o_rel_diff"] = float((o1.float() - o2.float()).norm() / o2.float().norm())
    return row


def _row(batch, tokens, dim, n_h, gated, dtype, pass_, ours_ms, fla_ms) -> dict:
    both = isinstance(ours_ms, float) and isinstance(fla_ms, float)
    row = dict(B=batch, T=tokens, H=HEADS, D=dim, n_h=n_h, gated=gated, dtype=dtype, **{"pass": pass_},
               ours_ms=ours_ms, fla_ms=fla_ms, ratio=round(fla_ms / ours_ms, 3) if both else None)  # fmt: skip
    return row


def plan(only: dict) -> list[tuple]:
    """Every (kind, arguments) of the grid and the decoding rows, compile-time configurations outermost."""
    jobs = []
    for dtype, gated, dim, n_h in itertools.product(DTYPES, (False, True), GRID["dim"], GRID["n_h"]):
        for bh, tokens in itertools.product(GRID["bh"], GRID["tokens"]):
            jobs.append(("grid", dict(dtype_name=dtype, gated=gated, dim=dim, n_h=n_h, bh=bh, tokens=tokens)))
    for dtype, gated, n_h, batch in itertools.product(DTYPES, (False, True), GRID["n_h"], DECODE_BATCHES):
        jobs.append(("decode", dict(dtype_name=dtype, gated=gated, n_h=n_h, batch=batch)))
    return [(kind, a) for kind, a in jobs if passes({**a, "kind": kind}, only)]


def summary(rows: list[dict]) -> str:
    """The rows as a table, then the worst ratio per (pass, dtype, gated) column and overall."""
    lines = ["| pass | dtype | gated | B | T | D | n_h | ours (ms) | fla (ms) | ratio |", "|" + "---|" * 10]
    for r in rows:
        fla = r["fla_ms"] if isinstance(r["fla_ms"], float) else str(r["fla_ms"])[:40]
        cells = (r["pass"], r["dtype"], r["gated"], r["B"], r["T"], r["D"], r["n_h"], r["ours_ms"], fla, r["ratio"])
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    lines += ["", "| pass | dtype | gated | rows | worst ratio (row) | best ratio |", "|" + "---|" * 6]
    columns = sorted({(r["pass"], r["dtype"], r["gated"]) for r in rows})
    for column in columns:
        timed = [r for r in rows if (r["pass"], r["dtype"], r["gated"]) == column and r["ratio"] is not None]
        if not timed:
            lines.append(f"| {' | '.join(map(str, column))} | 0 | fla did not run | |")
            continue
        worst, best = min(timed, key=lambda r: r["ratio"]), max(timed, key=lambda r: r["ratio"])
        where = f"B{worst['B']} T{worst['T']} D{worst['D']} n_h{worst['n_h']}"
        lines.append(
            f"| {' | '.join(map(str, column))} | {len(timed)} | {worst['ratio']} ({where}) | {best['ratio']} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Ratio against T, one line per B·H and gating (the worst row over D and n_h), a panel per pass and dtype
    that has rows; decoding against B."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(p, d) for p in ("fwd", "fwd+bwd") for d in DTYPES
              if any(r["pass"] == p and r["dtype"] == d and r["ratio"] is not None for r in rows)]  # fmt: skip
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(4.6 * (len(panels) + 1), 4.2), squeeze=False)
    for ax, (pass_, dtype) in zip(axes[0], panels):
        for (bh, gated), color in zip(itertools.product(GRID["bh"], (False, True)), "C0 C0 C1 C1 C2 C2".split()):
            points = []
            for tokens in GRID["tokens"]:
                ratios = [r["ratio"] for r in rows if r["pass"] == pass_ and r["dtype"] == dtype and r["gated"] == gated
                          and r["B"] * r["H"] == bh and r["T"] == tokens and r["ratio"] is not None]  # fmt: skip
                if ratios:
                    points.append((tokens, min(ratios)))
            if points:
                label = f"B·H = {bh}" + (", gated" if gated else "")
                ax.plot(*zip(*points), marker="o", color=color, ls="--" if gated else "-", label=label)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.axhline(1.2 if pass_ == "fwd" else 1.5, color="red", lw=0.8, ls=":", label="target")
        ax.set(xscale="log", xlabel="T (tokens)", title=f"{pass_}, {dtype}", ylabel="fla time / our time (worst)")
        ax.legend(fontsize=7)
    ax = axes[0][-1]
    for dtype in DTYPES:
        points = []
        for batch in DECODE_BATCHES:
            ratios = [r["ratio"] for r in rows if r["pass"] == "decode" and r["dtype"] == dtype and r["B"] == batch
                      and r["ratio"] is not None]  # fmt: skip
            if ratios:
                points.append((batch, min(ratios)))
        if points:
            ax.plot(*zip(*points), marker="o", label=dtype)
    ax.axhline(1.0, color="red", lw=0.8, ls=":", label="target")
    ax.set(xscale="log", xlabel="B (H = 16, D = 128)", title="decode, one token per call (worst)", ylabel="fla / ours")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--only", type=filters, default="", help="comma-separated key=value|value filters, e.g. kind=decode,n_h=1|3"
    )
    parser.add_argument("--budget-s", type=seconds, default=float("inf"), help="start no row after this many seconds")
    parser.add_argument(
        "--merge", type=Path, nargs="*", help="join these parts' rows into --out (a later part's row wins)"
    )
    parser.add_argument("--plot", type=Path, help="with --merge: the plot's path")
    args = parser.parse_args()
    if args.merge is not None:  # a row measured again in a later part replaces the earlier one
        keyed = {}
        for part in args.merge:
            for r in json.loads(part.read_text()):
                keyed[tuple(r[name] for name in ("pass", "dtype", "gated", "B", "T", "H", "D", "n_h"))] = r
        rows = list(keyed.values())
        args.out.write_text(json.dumps(rows, indent=1))
        if args.plot:
            plot(rows, args.plot)
        print(summary(rows))
        return
    jobs = plan(args.only)
    if not jobs:
        keys = sorted({key for kind, a in plan({}) for key in {**a, "kind": kind}})
        parser.error(f"argument --only: no row passes these filters; a row's settings are {', '.join(keys)}")
    environment, rows, began = _environment(), [], time.perf_counter()
    for kind, arguments in jobs:
        if time.perf_counter() - began > args.budget_s:
            print(f"budget of {args.budget_s} s spent: stopping before {kind} {arguments}", flush=True)
            break
        new = grid_rows(**arguments) if kind == "grid" else [decode_row(**arguments)]
        for row in new:
            rows.append({**row, **environment})
            print(json.dumps(row), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))
    print(summary(rows))


if __name__ == "__main__":
    main()
