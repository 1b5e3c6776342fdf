"""The automata table: every built-in language and 200 random DFAs — minimal states, class, monoid, simple
divisors, whether one gated layer compiles them (n_h, width, exact proof size and time) — and, on a GPU,
the compiled programs through our Triton kernel (fp32, bf16) and fla's chunk op (bf16) on one word of
10⁵ tokens each, with the first wrong accept bit.

    python bench/regular_languages.py --out bench/results/automata/automata_cpu.json                 # the table (CPU)
    python bench/regular_languages.py --device cuda --languages built-in \
        --out bench/results/automata/automata_h200.json                                   # and the kernels

Random DFAs: seed s has 3 + s mod 6 states and 2 + s mod 2 letters (``random:<n>:<k>:<s>``, s = 0 … 199),
so every size from 3 to 8 states appears with both alphabets. Grazzi et al. 2025's bound for the layers of
a cascade is 2^|Q| (their Theorem 4); a one-layer program uses 1.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from proofs_check.execute import Exact, simulate
from theory.automata.analyse import analyse
from theory.automata.dfa import LANGUAGES, language
from theory.programs import prove, run
from theory.programs.dfa_to_layers import CascadeNeeded, compile_automaton

BUILT_IN = [*LANGUAGES, *(f"dyck1_{d}" for d in (1, 2, 4, 6))]
RANDOM = [f"random:{3 + s % 6}:{2 + s % 2}:{s}" for s in range(200)]


def table_row(name: str) -> tuple[dict, object]:
    automaton = language(name)
    start = time.perf_counter()
    analysis = analyse(automaton)
    row = {"language": name, "states": len(automaton.states), "letters": len(automaton.letters),
           "class": analysis.classification, "monoid": analysis.monoid_size,
           "simple_divisors": analysis.simple_divisors, "holonomy_levels": analysis.holonomy_levels,
           "grazzi_bound_layers": 2 ** len(automaton.states)}  # fmt: skip
    try:
        program = compile_automaton(automaton)
    except CascadeNeeded:
        return {**row, "compiled": False, "seconds": time.perf_counter() - start}, None
    proof = prove(program)
    row.update(compiled=True, layers=len(program.layers), n_h=program.n_h, width=program.dim,
               gated=bool(program.layer.resets), proved=proof.holds, proof_states=proof.states,
               proof_edges=proof.states * len(automaton.letters), seconds=time.perf_counter() - start)  # fmt: skip
    return row, program


def kernel_rows(name: str, program, tokens: int, device: str, fla: bool) -> list[dict]:
    """One word of ``tokens`` letters (seed 0) through each kernel; the first position whose accept bit is
    wrong (None: every position right)."""
    automaton = program.automaton
    words = np.random.default_rng(0).integers(0, len(automaton.letters), size=(1, tokens))
    interpreted = run(program, words)
    exact = Exact(interpreted.elements, interpreted.states)
    final = np.zeros(len(automaton.states), dtype=bool)
    final[list(automaton.final)] = True
    runs = [("triton", torch.float32), ("triton", torch.bfloat16)] + ([("fla", torch.bfloat16)] if fla else [])
    rows = []
    for backend, dtype in runs:
        start = time.perf_counter()
        try:
            result = simulate(program, words, dtype=dtype, backend=backend, device=device, exact=exact)
        except (ValueError, RuntimeError, TypeError) as err:
            rows.append({"language": name, "backend": backend, "dtype": str(dtype), "error": str(err)[:200]})
            continue
        wrong = np.nonzero(final[result.decoded[0]] != final[exact.products[0]])[0]
        rows.append({"language": name, "backend": backend, "dtype": str(dtype).removeprefix("torch."),
                     "tokens": tokens, "first_wrong_bit": int(wrong[0]) if wrong.size else None,
                     "bit_accuracy": float(1 - wrong.size / tokens), "max_state_error": result.max_state_error,
                     "seconds": time.perf_counter() - start})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/automata/automata_cpu.json"))
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--languages", default="all", help="all, built-in, or comma-separated names")
    parser.add_argument("--no-fla", action="store_true", help="skip fla's chunk op (its autotuning takes minutes)")
    args = parser.parse_args()
    rows, kernels = [], []
    fla = False
    if args.device == "cuda":
        from kernels.fla_backend import available

        fla = available() and not args.no_fla
    names = {"all": BUILT_IN + RANDOM, "built-in": BUILT_IN}.get(args.languages) or args.languages.split(",")
    for name in names:
        row, program = table_row(name)
        rows.append(row)
        print(json.dumps(row, default=str), flush=True)
        if program is not None and args.device == "cuda" and not name.startswith("random:"):
            for k in kernel_rows(name, program, args.tokens, args.device, fla):
                kernels.append(k)
                print(json.dumps(k), flush=True)
    random_rows = [r for r in rows if r["language"].startswith("random:")]
    summary = {"random": len(random_rows), "random_compiled": sum(r["compiled"] for r in random_rows),
               "random_classes": {c: sum(r["class"] == c for r in random_rows)
                                  for c in sorted({r["class"] for r in random_rows})}}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    document = {"device": device, "summary": summary, "rows": rows, "kernels": kernels}
    args.out.write_text(json.dumps(document, indent=1, default=str))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
