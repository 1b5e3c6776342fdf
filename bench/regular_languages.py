"""The automata table: every built-in language and 200 random DFAs — minimal states, class, monoid, simple
divisors, holonomy levels, the compiled program (layers against Grazzi et al.'s 2^|Q| bound, state width and
n_h per layer, archive heads), the exact proof (configurations, edges, seconds) and a float64 reference run
— and, on a GPU, every compiled program through our Triton kernel (fp32, bf16) and fla's chunk op (bf16).

    python bench/regular_languages.py --out bench/results/automata/automata_cpu.json                 # the table (CPU)
    python bench/regular_languages.py --device cuda --out bench/results/automata/automata_h200.json  # and the kernels
    python bench/regular_languages.py --nh 1 --out bench/results/automata/budget_nh1_cpu.json        # a budget n_h

Random DFAs: seed s has 3 + s mod 6 states and 2 + s mod 2 letters (``random:<n>:<k>:<s>``, s = 0 … 199),
so every size from 3 to 8 states appears with both alphabets. On the GPU, built-in languages run one word
of ``--tokens`` letters (10⁵), random DFAs one of ``--random-tokens`` (10⁴; the exact reference is a
Python interpreter); the GPU run compiles without analysing or proving (the CPU table does both).
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
from theory.programs.dfa_to_layers import compile_automaton, roles

BUILT_IN = [*LANGUAGES, *(f"dyck1_{d}" for d in (1, 2, 4, 6))]
RANDOM = [f"random:{3 + s % 6}:{2 + s % 2}:{s}" for s in range(200)]


def table_row(name: str) -> tuple[dict, object]:
    """Analysis, compilation, exact proof and a float64 reference run (4 words of 500 letters, seed 0) of
    one language."""
    automaton = language(name)
    start = time.perf_counter()
    analysis = analyse(automaton)
    row = {"language": name, "states": len(automaton.states), "letters": len(automaton.letters),
           "class": analysis.classification, "monoid": analysis.monoid_size,
           "simple_divisors": analysis.simple_divisors, "holonomy_levels": analysis.holonomy_levels,
           "grazzi_bound_layers": 2 ** len(automaton.states),
           "analysis_seconds": time.perf_counter() - start}  # fmt: skip
    start = time.perf_counter()
    program = compile_automaton(automaton)
    compiled = time.perf_counter()
    proof = prove(program)
    proved = time.perf_counter()
    words = np.random.default_rng(0).integers(0, len(automaton.letters), size=(4, 500))
    reference = simulate(program, words)
    row.update(construction=program.construction, layers=len(program.layers),
               n_h=[layer.n_h for layer in program.layers], width=[layer.dim for layer in program.layers],
               archives=roles(program).count("archive"), gated=sum(bool(layer.resets) for layer in program.layers),
               proved=proof.holds, proof_states=proof.states, proof_edges=proof.states * len(automaton.letters),
               compile_seconds=compiled - start, proof_seconds=proved - compiled,
               reference_accuracy=reference.accuracy, reference_state_error=reference.max_state_error)  # fmt: skip
    return row, program


def budget_row(name: str, n_h: int) -> tuple[dict, object]:
    """One language compiled under the budget ``n_h`` (delay layers where archives do not fit, frames where
    permutations do not, block levels where no frame does): the layers by role, the exact proof and a
    float64 reference run (4 words of 500 letters, seed 0)."""
    automaton = language(name)
    start = time.perf_counter()
    program = compile_automaton(automaton, n_h=n_h)
    compiled = time.perf_counter()
    proof = prove(program)
    proved = time.perf_counter()
    words = np.random.default_rng(0).integers(0, len(automaton.letters), size=(4, 500))
    reference = simulate(program, words)
    kinds = roles(program)
    row = {"language": name, "n_h": n_h, "states": len(automaton.states), "construction": program.construction,
           "layers": len(program.layers), "levels": kinds.count("level") + kinds.count("archive"),
           "delays": kinds.count("delay"), "frames": kinds.count("frame"), "archives": kinds.count("archive"),
           "parity": kinds.count("parity"), "blocks": kinds.count("buffer"), "counter": kinds.count("counter"),
           "width": [layer.dim for layer in program.layers], "proved": proof.holds, "proof_states": proof.states,
           "compile_seconds": compiled - start, "proof_seconds": proved - compiled,
           "reference_accuracy": reference.accuracy}  # fmt: skip
    return row, program


def kernel_rows(name: str, program, tokens: int, device: str, fla: bool, width: int | None = None) -> list[dict]:
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
            result = simulate(program, words, dtype=dtype, backend=backend, device=device, exact=exact, width=width)
        except (ValueError, RuntimeError, TypeError) as err:
            rows.append({"language": name, "backend": backend, "dtype": str(dtype), "error": str(err)[:200]})
            continue
        decoded = result.decoded[0]
        wrong = np.nonzero((decoded < 0) | (final[decoded] != final[exact.products[0]]))[0]
        rows.append({"language": name, "backend": backend, "dtype": str(dtype).removeprefix("torch."),
                     "tokens": tokens, "width": width, "first_wrong_bit": int(wrong[0]) if wrong.size else None,
                     "bit_accuracy": float(1 - wrong.size / tokens), "max_state_error": result.max_state_error,
                     "seconds": time.perf_counter() - start})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/automata/automata_cpu.json"))
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--random-tokens", type=int, default=10_000)
    parser.add_argument("--languages", default="all", help="all, built-in, or comma-separated names")
    parser.add_argument("--no-fla", action="store_true", help="skip fla's chunk op (its autotuning takes minutes)")
    parser.add_argument("--skip", type=int, default=0, help="start at this row (to resume a cut run)")
    parser.add_argument("--count", type=int, default=None, help="run this many rows from --skip")
    parser.add_argument("--nh", type=int, default=None, help="compile under this budget n_h (default: auto)")
    parser.add_argument("--width", type=int, default=None,
                        help="pad every state to this width with exact zeros (fewer kernel compilations)")  # fmt: skip
    args = parser.parse_args()
    rows, kernels = [], []
    fla = False
    if args.device == "cuda":
        from kernels.fla_backend import available

        fla = available() and not args.no_fla
    names = {"all": BUILT_IN + RANDOM, "built-in": BUILT_IN}.get(args.languages) or args.languages.split(",")
    for name in names[args.skip :][: args.count]:
        if args.device == "cpu":
            row, program = table_row(name) if args.nh is None else budget_row(name, args.nh)
            rows.append(row)
            print(json.dumps(row, default=str), flush=True)
            continue
        program = compile_automaton(language(name), n_h=args.nh or "auto")  # the CPU table proves it
        random = name.startswith("random:")
        tokens = args.random_tokens if random else args.tokens
        for k in kernel_rows(name, program, tokens, args.device, fla and not random, args.width):
            kernels.append(k)
            print(json.dumps(k), flush=True)
    random_rows = [r for r in rows if r["language"].startswith("random:")]
    summary = {"n_h": args.nh or "auto", "proved": sum(bool(r.get("proved")) for r in rows),
               "with_blocks": sum(bool(r.get("blocks")) for r in rows),
               "kernel_rows": len(kernels), "kernel_rows_all_right": sum(k.get("first_wrong_bit", 0) is None
                                                                        for k in kernels),
               "random": len(random_rows), "random_proved": sum(r["proved"] for r in random_rows),
               "random_one_layer": sum(r["layers"] == 1 for r in random_rows),
               "random_classes": {c: sum(r["class"] == c for r in random_rows)
                                  for c in sorted({r.get("class") for r in random_rows} - {None})}}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    document = {"device": device, "summary": summary, "rows": rows, "kernels": kernels}
    args.out.write_text(json.dumps(document, indent=1, default=str))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
