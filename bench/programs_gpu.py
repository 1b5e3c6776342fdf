"""Every kind of compiled program through our Triton kernel on a GPU, fp32 and bf16: the check that the
redesign (one program IR, proofs_check.execute, the Triton code split by stage) left the GPU path intact.

    python bench/programs_gpu.py bench/results/programs_h200/programs_h200.json

Four random words of 4,096 tokens per program (seed 1), decoded from the kernel's outputs only
(:func:`proofs_check.execute.simulate`); one row per (program, dtype) with accuracy, first wrong position
and the largest state error against the exact states.
"""

import json
import sys
import time

import torch

from proofs_check.execute import random_words, simulate
from theory.groups import parse_group
from theory.programs import compile_group, compile_layers

rows = []
ONE_LAYER = [("Z2", "scalar"), ("S3", "permutation"), ("S4", "permutation"), ("S4", "orthogonal"), ("D8", "orthogonal"),
             ("Z9", "orthogonal"), ("A5", "orthogonal")]  # fmt: skip
cases = [(s, 1, r) for s, r in ONE_LAYER]
cases += [(s, L, None) for s, L in [("Z5", 2), ("D4", 2), ("S3", 3), ("S4", 3), ("S4", 4)]]
for spec, L, rep in cases:
    p = compile_group(spec, rep=rep) if L == 1 else compile_layers(spec, layers=L)
    w = random_words(parse_group(spec).order, 4, 4096, seed=1)
    for dtype in (torch.float32, torch.bfloat16):
        t = time.time()
        r = simulate(p, w, dtype=dtype, backend="triton", device="cuda")
        rows.append(dict(program=f"{spec}/{L}/{rep}", dtype=str(dtype), accuracy=r.accuracy,
                         first_error=r.first_error, max_state_error=r.max_state_error,
                         seconds=round(time.time() - t, 2)))  # fmt: skip
        print(rows[-1], flush=True)
json.dump(rows, open(sys.argv[1], "w"), indent=1)
