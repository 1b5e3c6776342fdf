"""``deltaproof automaton``: a regular language → its minimal DFA, its algebra, a compiled program, the exact
proof, and random words (or the words of a file) decided position by position through a kernel.

The DFA comes from ``--language NAME`` (:data:`theory.automata.dfa.LANGUAGES`), ``--dfa FILE.json``
(automata-lib's field names) or ``--regex RE --alphabet SYMBOLS``; it is normalised, analysed
(:func:`theory.automata.analyse.analyse`), compiled (:func:`theory.programs.dfa_to_layers.compile_automaton`)
and proved (:func:`theory.programs.prove.prove`, a search over every reachable (readout, state) pair and
every letter). The run reads each layer's state through the kernel's outputs only; a position is right when
its accept bit (the decoded state is final) is the DFA's.
"""

from __future__ import annotations

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
from proofs_check.execute import DTYPES, exact_run, simulate
from proofs_check.word_problems import PROGRAM_SUFFIXES, save_program
from theory.automata.analyse import analyse
from theory.automata.dfa import Automaton, from_json, from_regex, language
from theory.documents import DocumentError
from theory.programs import prove
from theory.programs.dfa_to_layers import compile_automaton
from theory.programs.prove import block_levels

__all__ = ["run_automaton", "read_automaton", "read_words", "MAX_WORDS_FILE"]

MAX_WORDS_FILE = 16 * 2**20


def read_automaton(args) -> Automaton:
    """The DFA the options name, normalised; a :class:`CommandError` naming the option otherwise."""
    if args.alphabet is not None and args.regex is None:
        raise CommandError("--alphabet: goes with --regex")
    if args.language is not None:
        try:
            return language(args.language)
        except ValueError as err:
            raise CommandError(f"--language: {str(err).removeprefix('language: ')}") from None
    if args.regex is not None:
        if args.alphabet is None:
            raise CommandError("--regex: needs --alphabet SYMBOLS (the one-character symbols, e.g. 01)")
        try:
            return from_regex(args.regex, args.alphabet)
        except ValueError as err:
            option, _, message = str(err).partition(": ")
            raise CommandError(f"--{option}: {message}") from None
    path = args.dfa
    if not path.is_file():
        raise CommandError(f"--dfa: expected a JSON file, got {'a folder' if path.is_dir() else 'nothing'} at {path}")
    if path.stat().st_size > MAX_WORDS_FILE:
        raise CommandError(f"--dfa: expected a file of at most {MAX_WORDS_FILE} bytes, got {path.stat().st_size}")
    try:
        return from_json(path.read_bytes(), name=path.stem)
    except DocumentError as err:
        raise CommandError(f"--dfa: {path}: {err}") from None
    except OSError as err:
        raise CommandError(f"--dfa: cannot read {str(path)!r}: {err.strerror or err}") from None


def read_words(path: Path, automaton: Automaton) -> list[list[int]]:
    """One word per line, its symbols separated by spaces (an empty line is the empty word); a symbol outside
    the alphabet is an error naming the line."""
    if not path.is_file():
        raise CommandError(f"--run: expected a text file, got {'a folder' if path.is_dir() else 'nothing'} at {path}")
    if path.stat().st_size > MAX_WORDS_FILE:
        raise CommandError(f"--run: expected a file of at most {MAX_WORDS_FILE} bytes, got {path.stat().st_size}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise CommandError(f"--run: cannot read {str(path)!r} as UTF-8 text: {err}") from None
    index = {a: i for i, a in enumerate(automaton.letters)}
    words = []
    for number, line in enumerate(lines, 1):
        word = []
        for symbol in line.split():
            if symbol not in index:
                raise CommandError(f"--run: {path}:{number}: unknown symbol {symbol!r} (the alphabet: "
                                   f"{' '.join(automaton.letters)})")  # fmt: skip
            word.append(index[symbol])
        words.append(word)
    return words


def _decisions(program, automaton: Automaton, words: list[list[int]], options: dict) -> list[str]:
    """The accept bit after every prefix of every word, decoded through the kernel (words of equal length
    run as one batch); "?" where the kernel's outputs reached no configuration of the program."""
    final = np.zeros(len(automaton.states), dtype=bool)
    final[list(automaton.final)] = True
    out: list[str] = [""] * len(words)
    by_length: dict[int, list[int]] = {}
    for i, word in enumerate(words):
        by_length.setdefault(len(word), []).append(i)
    for length, members in by_length.items():
        if length == 0:
            continue
        batch = np.array([words[i] for i in members], dtype=np.int64)
        run = simulate(program, batch, **options)
        for row, i in enumerate(members):
            out[i] = "".join("?" if q < 0 else "1" if final[q] else "0" for q in run.decoded[row])
    return out


def run_automaton(args, console, note, progress) -> int:
    """``deltaproof automaton``: see the module docstring."""
    backend = resolve_backend(args.backend, args.device, args.dtype)
    if (args.out is None) != (args.run is None):
        raise CommandError("--out: goes with --run WORDS.txt" if args.run is None else "--run: needs --out FILE")
    for option, path, suffixes in (("--json", args.json, ()), ("--save", args.save, PROGRAM_SUFFIXES),
                                   ("--out", args.out, ())):  # fmt: skip
        if path is not None:
            check_output(option, path, suffixes)
    automaton = read_automaton(args)
    words_file = read_words(args.run, automaton) if args.run is not None else None
    with progress(f"analysing and compiling {automaton.name}", None):
        analysis = analyse(automaton)
        program = compile_automaton(automaton, n_h=args.nh)
    with progress("proving the program for all words", None):
        proof = prove(program)
    if not proof.holds:  # a compiler bug: the proof is the specification
        raise RuntimeError(f"the compiled program of {automaton.name} fails its proof: {proof.failure}")
    layer_sizes = [layer.dim for layer in program.layers]
    n_h = max(layer.n_h for layer in program.layers)
    check_memory("--length", args.words * args.length * max(layer_sizes) ** 2 * n_h * 48,
                 f"{args.words} words of {args.length} tokens", "use fewer --words or a shorter --length")  # fmt: skip
    options = dict(dtype=DTYPES[args.dtype], backend=backend, device=args.device)
    rng = np.random.default_rng(args.seed)
    words = rng.integers(0, len(automaton.letters), size=(args.words, args.length))
    try:
        with progress(f"{args.words} × {args.length} tokens through {backend} ({args.dtype})", None):
            exact = exact_run(program, words)
            run = simulate(program, words, exact=exact, **options)
            decisions = _decisions(program, automaton, words_file, options) if words_file is not None else None
    except torch.cuda.OutOfMemoryError:
        raise CommandError("--length: the GPU ran out of memory; use fewer --words or a shorter --length") from None
    final = np.zeros(len(automaton.states), dtype=bool)
    final[list(automaton.final)] = True
    wrong = (run.decoded < 0) | (final[run.decoded] != final[exact.products])
    positions = np.nonzero(wrong.any(0))[0]
    result = {
        "language": automaton.name,
        "states": len(automaton.states),
        "input_symbols": list(automaton.letters),
        "classification": analysis.classification,
        "monoid_size": analysis.monoid_size,
        "simple_divisors": list(analysis.simple_divisors) if analysis.simple_divisors is not None else None,
        "holonomy_levels": analysis.holonomy_levels,
        "layers": len(program.layers),
        "n_h": [layer.n_h for layer in program.layers],
        "state_dim": layer_sizes,
        "gated": [bool(layer.resets) for layer in program.layers],
        "construction": program.construction,
        "theorem": program.theorem,
        "proof": {"method": "search with block levels ideal" if block_levels(program) else "search",
                  "reachable_states": proof.states,
                  "edges_checked": proof.states * len(automaton.letters), "holds": proof.holds,
                  "margins": [float(m) for m in proof.margins]},  # fmt: skip
        "length": args.length,
        "words": args.words,
        "dtype": args.dtype,
        "backend": backend,
        "device": args.device,
        "accuracy": float(1 - wrong.mean()) if wrong.size else 1.0,
        "state_accuracy": run.accuracy,
        "first_error": int(positions[0]) if positions.size else None,
        "max_state_error": run.max_state_error,
    }
    text = json_text(result)
    if args.save is not None:
        write_output("--save", args.save, lambda path: save_program(program, path), note)
        note(f"wrote the program to {args.save}")
    if decisions is not None:
        write_output("--out", args.out, "\n".join(decisions) + ("\n" if decisions else ""), note)
        note(f"wrote {len(decisions)} decisions to {args.out}")
    if args.json is not None:
        write_output("--json", args.json, text, note)
        note(f"wrote {args.json}")
    console.print_json(text)
    return 0

