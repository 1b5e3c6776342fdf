"""Every built-in regular language's compiled program as a model (models.from_program) through the kernels.

    python bench/automaton_models.py --device cuda --out bench/results/automaton_models/automaton_models.json

For each language of :data:`theory.automata.dfa.LANGUAGES`, compiled at each budget of ``--n-h`` (default
"auto": one layer, or a cascade of archive heads; a number: delay, frame and block layers under that many
factors, where from_program refuses block programs — recorded as a row with ``refused``), the model decodes
``--batch`` random words (seed 1) of each length in ``--lengths``; a position is right when the argmax is the
state the DFA reaches (:meth:`Automaton.run`). One row per (language, budget, backend, dtype, length): accuracy,
the first wrong position (None: none) and the forward's wall time (after a warm-up call on the same shape, so
compilation is not counted). Backends: our Triton kernels in
float32 and bfloat16 and, where fla is installed on a GPU, fla's chunk kernel in bfloat16 (its chunk mode takes
16-bit inputs only); on a CPU the reference backend. Rows are written as they come; ``--budget-s`` starts no
row after that many seconds. Prints a short table last.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from kernels.fla_backend import available as fla_available
from models import from_program
from theory.automata.dfa import LANGUAGES, language
from theory.programs.dfa_to_layers import compile_automaton


def configurations(device: str) -> list[tuple[str, torch.dtype]]:
    if device == "cpu":
        return [("reference", torch.float32)]
    fla = [("fla", torch.bfloat16)] if fla_available() else []
    return [("triton", torch.float32), ("triton", torch.bfloat16), *fla]


def measure(model, words: np.ndarray, expected: np.ndarray, device: str) -> dict:
    tokens = torch.from_numpy(words).to(device)
    with torch.no_grad():
        model(tokens[:, :16])  # compile and autotune outside the clock
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        decoded = model(tokens).argmax(-1)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    wrong = decoded.cpu().numpy() != expected
    columns = np.flatnonzero(wrong.any(axis=0))
    return {"accuracy": float(1 - wrong.mean()), "first_error": int(columns[0]) if columns.size else None,
            "forward_s": round(seconds, 4)}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--lengths", default="1024,8192", help="comma-separated word lengths")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument("--n-h", default="auto", help="comma-separated budgets: auto or positive integers")
    parser.add_argument("--budget-s", type=float, default=float("inf"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU here")
    try:
        lengths = [int(x) for x in args.lengths.split(",")]
    except ValueError:
        parser.error(f"--lengths: expected comma-separated positive integers, got {args.lengths!r}")
    if min(lengths) < 1 or args.batch < 1:
        parser.error(f"--lengths and --batch: expected positive integers, got {args.lengths!r} and {args.batch}")
    budgets = [b if b == "auto" else int(b) if b.isdigit() and int(b) > 0 else None for b in args.n_h.split(",")]
    if None in budgets:
        parser.error(f"--n-h: expected comma-separated budgets, 'auto' or positive integers, got {args.n_h!r}")
    unknown = sorted(set(args.languages.split(",")) - set(LANGUAGES))
    if unknown:
        parser.error(f"--languages: expected some of {', '.join(LANGUAGES)}, got {', '.join(unknown)}")
    rows, began = [], time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    for name, budget in ((n, b) for n in args.languages.split(",") for b in budgets):
        automaton = language(name)
        program = compile_automaton(automaton, n_h=budget)
        base = {"language": name, "budget": budget, "layers": len(program.layers)}
        for backend, dtype in configurations(args.device):
            if time.perf_counter() - began > args.budget_s:
                break
            try:
                model = from_program(program, dtype=dtype, backend=backend).to(args.device)
            except ValueError as error:  # block programs
                rows.append({**base, "backend": backend, "refused": str(error)})
                print(json.dumps(rows[-1]), flush=True)
                break
            for length in lengths:
                words = np.random.default_rng(1).integers(0, len(automaton.letters), (args.batch, length))
                expected = np.array([automaton.run(w) for w in words])
                row = {**base, "hidden": model.config.hidden, "heads": model.config.num_heads,
                       "n_h": model.config.num_householder, "backend": backend,
                       "dtype": str(dtype).removeprefix("torch."), "length": length, "batch": args.batch,
                       **measure(model, words, expected, args.device)}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
        args.out.write_text(json.dumps({"device": device, "torch": torch.__version__, "rows": rows}, indent=1))
    print("\n| language | n_h | layers | backend | dtype | T | accuracy | first error | forward (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "refused" in r:
            print(f"| {r['language']} | {r['budget']} | {r['layers']} | {r['backend']} | refused: block program |||||")
            continue
        print(f"| {r['language']} | {r['budget']} | {r['layers']} | {r['backend']} | {r['dtype']} | {r['length']} | "
              f"{r['accuracy']:.4f} | {r['first_error']} | {r['forward_s']} |")  # fmt: skip


if __name__ == "__main__":
    main()
