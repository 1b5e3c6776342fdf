"""The longest word each compiled program tracks through each kernel backend and dtype (GPU).

    python bench/constructions.py --length 1000000 --out bench/results/constructions_h200/constructions.json

One row per program (one-layer: parity, S3/S4/A5/S5 permutations, S4/A5 in SO(3), D8/Z12 in O(2);
multi-layer: Z12 and D8 in two layers, S4 in three and four), one column per (backend, dtype): our Triton
kernel in bf16, fp16, fp32, float64 and fla in bf16/fp16. A cell is the first position (0-based) at which
the decoded running product is wrong — the longest tracked length — or "≥ L" when a word of L tokens is
tracked throughout; "n/a: ..." where a backend refuses. The exact reference of each word is computed once
per program (:func:`proofs_check.execute.exact_run`). Every layer's state is padded with zero coordinates
to ``--width`` (8), an exact change that gives all programs one kernel shape: fla autotunes once per dtype
(about a minute each on the H200) instead of once per program. Rows are written as they finish. On the CPU:

    python bench/constructions.py --device cpu --length 10000 --columns reference:float64
    python bench/constructions.py --device cpu --length 500 --columns triton:float32   # Triton interpreter
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from kernels.fla_backend import available as fla_available
from proofs_check.execute import exact_run, random_words, simulate
from theory.groups import parse_group
from theory.programs import compile_group, compile_layers

PROGRAMS = [  # (label, group, layers, rep, n_h)
    ("parity", "Z2", 1, "scalar", "auto"),
    ("S3 permutation n_h=2", "S3", 1, "permutation", "auto"),
    ("S4 permutation n_h=3", "S4", 1, "permutation", "auto"),
    ("S4 SO(3) n_h=2", "S4", 1, "orthogonal", "auto"),
    ("S4 3 layers n_h=2", "S4", 3, None, 2),
    ("S4 4 layers n_h=1", "S4", 4, None, 1),
    ("A5 permutation n_h=4", "A5", 1, "permutation", "auto"),
    ("A5 SO(3) n_h=2", "A5", 1, "orthogonal", "auto"),
    ("S5 permutation n_h=4", "S5", 1, "permutation", "auto"),
    ("D8 O(2) n_h=2", "D8", 1, "orthogonal", "auto"),
    ("D8 2 layers n_h=1", "D8", 2, None, 1),
    ("Z12 O(2) n_h=2", "Z12", 1, "orthogonal", "auto"),
    ("Z12 2 layers n_h=1", "Z12", 2, None, 1),
]
COLUMNS = [("triton", "bfloat16"), ("triton", "float16"), ("triton", "float32"), ("triton", "float64"),
           ("fla", "bfloat16"), ("fla", "float16")]  # fmt: skip


def compile_program(group, layers, rep, n_h):
    if layers == 1:
        return compile_group(group, rep=rep, n_h=n_h)
    return compile_layers(group, layers=layers, n_h=n_h)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--length", type=int, default=1_000_000)
    parser.add_argument("--words", type=int, default=1)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--only", default="", help="comma-separated program labels (default: all)")
    parser.add_argument("--columns", default="", help="comma-separated backend:dtype, e.g. reference:float64 "
                        "(default: the GPU table's columns)")  # fmt: skip
    parser.add_argument("--layered-length", type=int, default=None,
                        help="length for the S_n multi-layer programs (default: --length); their exact run and "
                        "between-layer map go token by token in Python, about 80 µs a token")  # fmt: skip
    parser.add_argument("--width", type=int, default=8, help="pad every layer's state to this many coordinates "
                        "(exact; one kernel shape for all programs); 0: no padding")  # fmt: skip
    parser.add_argument("--budget-s", type=float, default=1e9, help="start no new program after this many seconds")
    parser.add_argument("--out", type=Path, default=Path("bench/results/constructions_h200/constructions.json"))
    args = parser.parse_args()
    programs = [p for p in PROGRAMS if not args.only or p[0] in args.only.split(",")]
    columns = [tuple(c.split(":")) for c in args.columns.split(",")] if args.columns else COLUMNS
    rows, began = [], time.perf_counter()
    for label, spec, layers, rep, n_h in programs:
        if time.perf_counter() - began > args.budget_s:
            print(f"budget spent: stopping before {label}", flush=True)
            break
        program = compile_program(spec, layers, rep, n_h)
        length = args.layered_length if args.layered_length and spec.startswith("S") and layers > 1 else args.length
        words = random_words(parse_group(spec).order, args.words, length, seed=11)
        start = time.perf_counter()
        exact = exact_run(program, words)
        row = {"program": label, "length": length, "words": args.words,
               "exact_seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
        for backend, dtype in columns:
            key = f"{backend}:{dtype}"
            if backend == "fla" and not fla_available():
                row[key] = "n/a: fla-core is not installed"
                continue
            start = time.perf_counter()
            try:
                run = simulate(program, words, dtype=getattr(torch, dtype), backend=backend, device=args.device,
                               exact=exact, width=args.width or None)  # fmt: skip
            except Exception as err:  # noqa: BLE001  (a refusal or failure is a result to record)
                row[key] = f"n/a: {type(err).__name__}: {str(err).splitlines()[0][:120]}"
                continue
            row[key] = run.first_error if run.first_error is not None else f">= {length}"
            row[key + ":max_state_error"] = run.max_state_error
            row[key + ":seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        print(row, flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"device": str(args.device), "rows": rows}, indent=1))
    print("\n| program | " + " | ".join(f"{b} {d}" for b, d in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for r in rows:
        print(f"| {r['program']} | " + " | ".join(str(r.get(f"{b}:{d}"))[:40] for b, d in columns) + " |")


if __name__ == "__main__":
    main()
