"""The ``simulate`` and ``export`` commands: group word problems through compiled programs, and data in the
Illusion-of-State format (Merrill et al. 2024) so trained models see the same words.

Data format: CSV with header ``seed,input,target``; ``input`` is a space-separated word of element indices
(identity = 0, our pinned order of :mod:`theory.groups`); ``target`` the space-separated running products
(acc ← x·acc, x_1 acting first), one per position.

Both commands check everything they can before the work starts (the group's size against ``--max-order``,
the device, the backend, the output paths, the memory a run needs) and fail with a
:class:`proofs_check.command.CommandError` naming the option.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from proofs_check.command import (
    CommandError,
    check_memory,
    check_output,
    json_text,
    resolve_backend,
    write_output,
)
from proofs_check.execute import DTYPES, simulate
from theory.documents import DocumentError
from theory.groups import Group, parse_group, running_products
from theory.programs import BudgetError, Program, compile_group, compile_layers, lookup_table_size, tensors
from theory.programs.codec import program_from_json

__all__ = [
    "run_simulate",
    "export_words",
    "run_export",
    "word_count",
    "DTYPES",
    "load_program",
    "save_program",
    "PROGRAM_SUFFIXES",
]

PROGRAM_SUFFIXES = (".json", ".safetensors")


def _words(group: Group, count: int, length: int, inputs: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if inputs == "generators":
        alphabet = np.array([group.index[g] for g in group.generators])
        return alphabet[rng.integers(0, len(alphabet), size=(count, length))]
    return rng.integers(0, group.order, size=(count, length))


def load_program(path: Path, max_order: int) -> Program:
    """A program file (``.json`` from ``to_json``, ``.safetensors`` from :func:`theory.programs.tensors.save`),
    validated and re-proved by the toolkit's loaders; a :class:`CommandError` naming ``--program`` otherwise."""
    if path.suffix.lower() not in PROGRAM_SUFFIXES:
        raise CommandError(f"--program: expected a .json or .safetensors program file, got {str(path)!r}")
    if not path.is_file():
        raise CommandError(f"--program: expected a program file, got {'a folder' if path.is_dir() else 'nothing'} "
                           f"at {str(path)!r}")  # fmt: skip
    try:
        if path.suffix.lower() == ".safetensors":
            return tensors.load(path, max_order=max_order)
        return program_from_json(path.read_bytes(), max_order=max_order)
    except DocumentError as err:
        raise CommandError(f"--program: {path}: {err}") from None
    except OSError as err:
        raise CommandError(f"--program: cannot read {str(path)!r}: {err.strerror or err}") from None


def save_program(program: Program, path: Path) -> None:
    """Write a program as JSON or safetensors, by the file's suffix."""
    if path.suffix.lower() == ".safetensors":
        tensors.save(program, path)
    else:
        path.write_text(program.to_json() + "\n")


def _compile(args) -> Program:
    fixed = (("--rep", args.rep, "auto"), ("--nh", args.nh, "auto"), ("--layers", args.layers, 1))
    for option, value, default in fixed:
        if args.program is not None and value != default:
            raise CommandError(f"{option}: the program file fixes it; leave {option} out with --program")
    if args.program is not None:
        return load_program(args.program, args.max_order)
    try:
        group = parse_group(args.group)
        work = "the one-layer compiler" if args.layers == 1 else f"the {args.layers}-layer compiler"
        group.check_order(args.max_order, work, "--max-order")
        if args.layers == 1:
            return compile_group(group, rep=args.rep, n_h=args.nh, max_order=args.max_order)
        return compile_layers(group, layers=args.layers, n_h=args.nh)
    except BudgetError as err:
        raise CommandError(f"--nh: refused: {str(err).removeprefix('n_h: ')}", code=3) from None
    except ValueError as err:
        message = str(err)
        for field, option in (("group: ", "--group"), ("rep: ", "--rep"), ("n_h: ", "--nh"), ("layers: ", "--layers")):
            if message.startswith(field):
                raise CommandError(f"{option}: {message.removeprefix(field)}") from None
        raise CommandError(f"--group {args.group}: {message}") from None


def _check_memory(program, words: int, length: int, dtype: str) -> None:
    """Refuse a run whose kernel inputs alone would not fit the memory free now (an estimate: keys, values
    and queries of every layer as dense tensors in the run's dtype and in float64, three times over)."""
    size = max(words * length * max(1, layer.n_h) * max(layer.dim, 1) ** 2 for layer in program.layers)
    need = size * (torch.finfo(DTYPES[dtype]).bits // 8 + 8) * 3
    check_memory("--length", need, f"{words} words of {length} tokens", "use fewer --words or a shorter --length")


def run_simulate(args, console, note, progress) -> int:
    """``deltaproof simulate``: compile (or load), run through a backend, print (and write) the result object."""
    backend = resolve_backend(args.backend, args.device, args.dtype)
    if args.json is not None:
        check_output("--json", args.json)
    if args.save is not None:
        check_output("--save", args.save, PROGRAM_SUFFIXES)
    with progress("loading and re-proving the program" if args.program else f"compiling {args.group}", None):
        program = _compile(args)
    if program.automaton is not None:
        raise CommandError(f"--program: {args.program} tracks a DFA ({program.automaton.name}), not a group: "
                           "deltaproof automaton runs DFA programs")  # fmt: skip
    group = parse_group(program.group)
    _check_memory(program, args.words, args.length, args.dtype)
    try:
        with progress(f"{args.words} × {args.length} tokens through {backend} ({args.dtype})", None):
            run = simulate(
                program,
                _words(group, args.words, args.length, args.inputs, args.seed),
                dtype=DTYPES[args.dtype],
                backend=backend,
                device=args.device,
            )
    except torch.cuda.OutOfMemoryError:
        raise CommandError("--length: the GPU ran out of memory; use fewer --words or a shorter --length") from None
    result = {
        "group": group.name,
        "order": group.order,
        "rep": program.construction,
        "layers": len(program.layers),
        "n_h": [layer.n_h for layer in program.layers],
        "state_dim": [layer.dim for layer in program.layers],
        "theorem": program.theorem,
        "length": args.length,
        "words": args.words,
        "inputs": args.inputs,
        "dtype": args.dtype,
        "backend": backend,
        "device": args.device,
        "accuracy": run.accuracy,
        "first_error": run.first_error,
        "max_state_error": run.max_state_error,
    }
    if args.program is not None:
        result["program"] = str(args.program)
    if program.decoder_name == "block_product":
        result["lookup_table_size"] = lookup_table_size(group.degree)  # the table the theorem's map stands for
    text = json_text(result)
    if args.save is not None:
        write_output("--save", args.save, lambda path: save_program(program, path), note)
        note(f"wrote the program to {args.save}")
    if args.json is not None:
        write_output("--json", args.json, text, note)
        note(f"wrote {args.json}")
    console.print_json(text)
    return 0


def word_count(order: int, length: int, cap: int) -> int:
    """min(order^length, cap), without forming order^length when it is far larger than ``cap``."""
    if length * math.log2(order) > math.log2(cap) + 1:
        return cap
    return min(order**length, cap)


def export_words(group: Group, length: int, samples: int, seed: int) -> Iterator[tuple[list[int], list[int]]]:
    """``samples`` distinct random words of ``length`` (all |G|^length words, in order, when that is not
    more than ``samples``), each with its running products, one at a time."""
    if word_count(group.order, length, samples + 1) <= samples:
        words = (list(w) for w in itertools.product(range(group.order), repeat=length))
    else:
        words = _distinct_words(group.order, length, samples, seed)
    for w in words:
        yield w, running_products(group, np.array(w, dtype=np.int64)).tolist()


def _distinct_words(order: int, length: int, samples: int, seed: int) -> Iterator[list[int]]:
    rng, seen = np.random.default_rng(seed), set()
    while len(seen) < samples:
        w = tuple(int(x) for x in rng.integers(0, order, size=length))
        if w not in seen:
            seen.add(w)
            yield list(w)


def run_export(args, console, note, progress) -> int:
    """``deltaproof export``: write word-problem data as CSV (seed,input,target), streamed to the file."""
    check_output("--out", args.out)
    try:
        group = parse_group(args.group)
        group.check_order(args.max_order, "export", "--max-order")
    except ValueError as err:
        raise CommandError(f"--group: {str(err).removeprefix('group: ')}") from None
    count = word_count(group.order, args.length, args.samples)
    need = count * (120 + 16 * args.length)  # the set of distinct words and the rows in flight
    check_memory("--samples", need, f"{count} distinct words of {args.length} tokens", "use fewer --samples")

    def write(path: Path) -> None:
        with path.open("w", newline="") as f, progress("words", count) as advance:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["seed", "input", "target"])
            for done, (word, targets) in enumerate(export_words(group, args.length, args.samples, args.seed), 1):
                writer.writerow([args.seed, " ".join(map(str, word)), " ".join(map(str, targets))])
                if done % 1000 == 0 or done == count:
                    advance(done)

    write_output("--out", args.out, write, note)
    note(f"wrote {count} words of length {args.length} over {group.name} (order {group.order}) to {args.out}")
    return 0
