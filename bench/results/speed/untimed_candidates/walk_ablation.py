"""The walk kernel's CUDA time with parts of its step removed (walk_ablation.diff applied; results wrong on purpose).

    git apply walk_ablation.diff && python walk_ablation.py OUT.json      # from a copy of the repository root

B·H 32 (B 2, H 16), T 16384, n_h 3, bf16, ungated, D 128 and 64; DP_ABLATE is chunk_fwd's mask (1: no state
snapshot stores, 2: no u store, 4: no T product, 16: no K S product, 32: no state update), read at each launch.
"""

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, os.getcwd())
from bench.profile_kernels import profile  # noqa: E402  (the repository copy the diff was applied to)
from bench.speed import inputs  # noqa: E402

MASKS = [0, 1, 2, 4, 16, 20, 32]  # 1 and 2 together leave nothing live: the compiler removes the whole step


def main(out: Path) -> None:
    rows = []
    for dim in (128, 64):
        leaves = inputs(2, 16384, 16, dim, 3, False, torch.bfloat16)
        for checks, masks in (("default", MASKS), ("off", [0, 20])):
            for mask in masks:
                os.environ["DP_ABLATE"] = str(mask)
                times = profile(leaves, 3, 10, False, 64, "ours", checks)
                walk = sum(t for name, t in times.items() if "chunk_fwd" in name)
                rows.append(dict(D=dim, ablate=mask, checks=checks, walk_ms=round(walk, 4),
                                 forward_ms=round(sum(times.values()), 4)))  # fmt: skip
                print(rows[-1], flush=True)
                out.write_text(json.dumps(rows, indent=1))
    print("| D | ablate | checks | walk (ms) | forward (ms) |")
    for r in rows:
        print(f"| {r['D']} | {r['ablate']} | {r['checks']} | {r['walk_ms']} | {r['forward_ms']} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
