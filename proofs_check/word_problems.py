"""The ``simulate`` and ``export`` commands: group word problems through compiled programs, and data in the
Illusion-of-State format (Merrill et al. 2024; notes/peers.md §1) so trained models see the same words.

Data format: CSV with header ``seed,input,target``; ``input`` is a space-separated word of element indices
(identity = 0, our pinned order of :mod:`theory.groups`); ``target`` the space-separated running products
(acc ← x·acc, x_1 acting first), one per position.
"""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import torch

from proofs_check.simulate import simulate
from theory.constructions import BudgetError, Program, compile_group
from theory.groups import Group, parse_group
from theory.layered import LayeredProgram, compile_layers, lookup_table_size

__all__ = ["run_simulate", "export_words", "run_export"]

DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _words(group: Group, count: int, length: int, inputs: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if inputs == "generators":
        alphabet = np.array([group.index[g] for g in group.generators])
        return alphabet[rng.integers(0, len(alphabet), size=(count, length))]
    return rng.integers(0, group.order, size=(count, length))


def _layers(program: Program | LayeredProgram) -> tuple:
    return (program,) if isinstance(program, Program) else program.layers


def run_simulate(args, console) -> int:
    """``deltaproof simulate``: compile, run through a backend, print (and write) the result object."""
    try:
        if args.layers == 1:
            program = compile_group(args.group, rep=args.rep, n_h=args.nh)
        else:
            program = compile_layers(args.group, layers=args.layers, n_h=args.nh)
    except BudgetError as err:
        console.print(f"[red]refused:[/] {err}")
        return 3
    except ValueError as err:
        console.print(f"[red]--layers {args.layers}:[/] {err}")
        return 2
    group = parse_group(args.group)
    run = simulate(
        program,
        _words(group, args.words, args.length, args.inputs, args.seed),
        dtype=DTYPES[args.dtype],
        backend=args.backend,
        device=args.device,
    )
    result = {
        "group": group.name,
        "order": group.order,
        "rep": program.representation if args.layers == 1 else program.construction,
        "layers": args.layers,
        "n_h": [layer.n_h for layer in _layers(program)],
        "state_dim": [layer.dim for layer in _layers(program)],
        "theorem": program.theorem,
        "length": args.length,
        "words": args.words,
        "inputs": args.inputs,
        "dtype": args.dtype,
        "backend": args.backend,
        "accuracy": run.accuracy,
        "first_error": run.first_error,
        "max_state_error": run.max_state_error,
    }
    if args.layers in (3, 4):  # the size of the table the theorem's between-layer map stands for
        result["lookup_table_size"] = lookup_table_size(group.degree)
    console.print_json(json.dumps(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def export_words(group: Group, length: int, samples: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """``samples`` distinct random words of ``length`` (all |G|^length words, in order, when that is not
    more than ``samples``) with their running products."""
    total = group.order**length
    if total <= samples:
        words = [list(w) for w in itertools.product(range(group.order), repeat=length)]
    else:
        rng, seen, words = np.random.default_rng(seed), set(), []
        while len(words) < samples:
            w = tuple(int(x) for x in rng.integers(0, group.order, size=length))
            if w not in seen:
                seen.add(w)
                words.append(list(w))
    out = []
    for w in words:
        targets = [group.product(w[: t + 1]) for t in range(len(w))]
        out.append((w, targets))
    return out


def run_export(args, console) -> int:
    """``deltaproof export``: write word-problem data as CSV (seed,input,target)."""
    group = parse_group(args.group)
    rows = export_words(group, args.length, args.samples, args.seed)
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["seed", "input", "target"])
        for word, targets in rows:
            writer.writerow([args.seed, " ".join(map(str, word)), " ".join(map(str, targets))])
    console.print(f"wrote {len(rows)} words of length {args.length} over {group.name} (order {group.order}) to {path}")
    return 0
