"""Host time of one decoding step: ours (``delta_product(mode="recurrent")``, with and without the default
asynchronous value checks) and fla's fused recurrent kernel, per step and cProfile'd. Needs a GPU and fla.

    python bench/decode_host.py B N_H GATED DTYPE > decode_B_N_H_GATED_DTYPE.txt     # e.g. 64 3 1 float16

DECODE_STEPS (64) steps of one token with the state carried (bench/speed.py's decode rows and inputs);
"wall/step" is the loop's time with a synchronisation at its end, median of five; "host issue/step" the time to
issue the calls. Then the 25 functions with the most own time, for 20 loops of each.
"""

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/<script>.py`: bench.speed lies under the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from fla.ops.gated_delta_rule import fused_recurrent_gated_delta_rule

from bench.speed import DECODE_STEPS, HEADS, decode_steps
from kernels import delta_product


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("batch", type=int)
    parser.add_argument("n_h", type=int)
    parser.add_argument("gated", type=int, choices=(0, 1))
    parser.add_argument("dtype", choices=("bfloat16", "float16"))
    args = parser.parse_args()
    if args.batch < 1 or args.n_h < 1:
        parser.error(f"batch and n_h: expected positive integers, got {args.batch} and {args.n_h}")
    batch, n_h, gated, dtype = args.batch, args.n_h, bool(args.gated), getattr(torch, args.dtype)
    steps, interleaved = decode_steps(batch, n_h, gated, dtype)
    state0 = torch.zeros(batch, HEADS, 128, 128, device="cuda")

    def ours(**options):
        state = state0
        for q, k, v, beta, g in steps:
            _, state = delta_product(q, k, v, beta, g=g, num_householder=n_h, initial_state=state,
                                     output_final_state=True, mode="recurrent", **options)  # fmt: skip

    def fla():
        state = state0
        for q, k, v, beta, g in interleaved:
            _, state = fused_recurrent_gated_delta_rule(q, k, v, g=g, beta=beta, initial_state=state,
                                                        output_final_state=True)  # fmt: skip

    label = f"B{batch} nh{n_h} g{args.gated} {args.dtype}"
    with torch.no_grad():
        for name, loop in (("ours", ours), ("ours_nocheck", lambda: ours(check_values=False)), ("fla", fla)):
            loop()
            torch.cuda.synchronize()
            walls = []
            for _ in range(5):
                start = time.perf_counter()
                loop()
                torch.cuda.synchronize()
                walls.append((time.perf_counter() - start) / DECODE_STEPS * 1e3)
            start = time.perf_counter()
            loop()
            host = (time.perf_counter() - start) / DECODE_STEPS * 1e3
            torch.cuda.synchronize()
            print(f"{name:13s} {label}: wall/step {sorted(walls)[2]:.4f} ms, host issue/step {host:.4f} ms")
        for loop, rows in ((ours, 25), (fla, 15)):
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(20):
                loop()
            profile.disable()
            torch.cuda.synchronize()
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(rows)
            print(text.getvalue()[:5000])


if __name__ == "__main__":
    main()
