"""``deltaproof`` — the command line.

    deltaproof check [--full] [--only PATTERN] [--list] [--json PATH] [--report PATH.md|PATH.html]
    deltaproof simulate (--group SPEC | --program FILE) --length T [--rep R] [--nh N] [--layers L] [--words W]
                        [--dtype D] [--backend B] [--device D] [--save FILE] [--json PATH] [--max-order N] …
    deltaproof export --group SPEC --length K --samples N [--seed S] --out FILE.csv [--max-order N]
    deltaproof automaton (--language NAME | --dfa FILE.json | --regex RE --alphabet S) [--nh N] [--length T]
                         [--words W] [--dtype D] [--backend B] [--device D] [--run WORDS.txt --out FILE] …
    deltaproof stability products|kernels|constructions [--max-length T] [--json PATH] [--plot PATH.png] …
    deltaproof stability kernels --device cuda [--sections A,B,C,D] [--budget-s S] [--report PATH.md] …
    deltaproof train --task SPEC --out DIR [--layers L] [--nh N] [--heads H] [--head-dim D] [--beta-range 0,2] …
    deltaproof evaluate DIR [--lengths 64,256,1024] [--backend B] [--json PATH]
    deltaproof analyze DIR [--task SPEC] [--words W] [--json PATH] [--plot PREFIX] …
    deltaproof construct --task SPEC --out DIR [--nh auto|N] [--layers 1|2] [--check-words W] [--check-length T]

``check`` runs the registered claims (the fast tier by default, on the CPU) with a progress bar, prints a
table (id, source, method, status, evidence) and exits non-zero if any claim failed or errored.
``simulate`` and ``export`` are described in :mod:`proofs_check.word_problems`, ``automaton`` in
:mod:`proofs_check.automata`, ``stability`` in :mod:`proofs_check.studies`, ``train``, ``evaluate``, ``analyze``
and ``construct`` in :mod:`proofs_check.training`.

One error path: every failure the toolkit foresees (bad arguments, a group too large for a method, a
missing GPU or fla, an output that cannot be written — checked before the work starts) prints one line on
stderr, ``deltaproof COMMAND: error: OPTION: what was expected, what came``, and exits non-zero; an
unforeseen one prints one line too and asks for ``--debug``, which shows the traceback. Exit codes: 0 done,
1 a claim failed, 2 bad input, 3 a budget the theory refuses, 70 an internal error, 130 interrupted.
Results go to stdout, progress and notes (files written, folders created) to stderr. JSON output is valid
JSON: non-finite numbers are the strings "NaN", "Infinity", "-Infinity".
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from proofs_check.arguments import length_list, name_list, natural_int, positive_int, positive_number, seconds
from proofs_check.command import (
    CommandError,
    check_memory,
    check_output,
    json_text,
    one_line,
    require_device,
    write_output,
)
from proofs_check.registry import Result, run_claims, select

COMMANDS = ("check", "simulate", "export", "automaton", "stability", "train", "evaluate", "analyze", "construct")
_STYLE = {"passed": "green", "failed": "bold red", "error": "bold magenta", "skipped": "yellow"}
_COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
TASK_HELP = (
    "a group spec (S3, A5, Z2 for parity, D4, A4xZ3, …), lang:NAME (tomita1–7, parity, dyck1_<D>, "
    "random:<states>:<letters>:<seed>, …) or regex:ALPHABET:RE; a language's labels are its DFA's states, "
    "or acceptance with a trailing :accept"
)
MAX_ORDER_HELP = "refuse groups of more elements than this (every element is enumerated and compiled exactly)"


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one line (raised, printed by :func:`main`) instead of usage + message."""

    def error(self, message: str):
        raise CommandError(f"{message} (see {self.prog} --help)", prog=self.prog)


class _Formatter(argparse.HelpFormatter):
    """Help that shows the default of every option that has one (not of flags, required or unset options)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not (action.default is None or action.default is False or action.default == argparse.SUPPRESS
                or action.required):  # fmt: skip
            text += " (default: %(default)s)"
        return text


def _auto_or_count(text: str) -> int | str:
    return text if text == "auto" else positive_int(text)


def _version() -> str:
    """The installed distribution's version, else (a source tree on the path) pyproject.toml's."""
    try:
        return metadata.version("deltaproof")
    except metadata.PackageNotFoundError:
        pass
    try:
        import tomllib

        project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
        return f"{project['version']} (source tree, not installed)"
    except (ImportError, OSError, KeyError, ValueError):
        return "unknown (not installed)"


def _run_options(command: argparse.ArgumentParser) -> None:
    """--dtype, --backend, --device and --seed of the commands that run words through a kernel."""
    command.add_argument("--dtype", default="float64", choices=("float64", "float32", "float16", "bfloat16"),
                         help="dtype of the kernel's inputs")  # fmt: skip
    command.add_argument("--backend", default="reference", choices=("auto", "reference", "triton", "fla"),
                         help="kernel backend (auto: triton on cuda, reference on cpu)")  # fmt: skip
    command.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the kernel runs")
    command.add_argument("--seed", type=natural_int, default=0, help="seed of the random words")


def _training_parsers(sub, kw) -> None:
    """``train``, ``evaluate``, ``analyze`` and ``construct`` (:mod:`proofs_check.training`)."""
    train = sub.add_parser(
        "train",
        help="train a Gated DeltaProduct model on a word problem or a regular language through our kernels",
        description="Train a DeltaProductLM (models) on a group's word problem (the running product at every "
        "position; Z2 is parity) or a regular language's state tracking (the DFA's state, or acceptance, at "
        "every position), evaluating at longer lengths; writes config.json, model.safetensors, "
        "metrics.jsonl and curves.png to --out, resumable with --resume.",
        **kw,
    )
    train.add_argument("--task", required=True, help=TASK_HELP)
    train.add_argument("--out", required=True, type=Path, help="the run directory (new, or the run to --resume)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.add_argument("--layers", type=positive_int, default=1, help="Gated DeltaProduct blocks")
    train.add_argument("--nh", type=positive_int, default=2, help="Householder factors per token (n_h)")
    train.add_argument("--heads", type=positive_int, default=2, help="heads per layer")
    train.add_argument("--head-dim", type=positive_int, default=16, help="key and value dimension per head")
    train.add_argument("--hidden", type=positive_int, help="model width (default heads × head-dim)")
    train.add_argument("--beta-range", choices=("0,1", "0,2"), default="0,2", help="β = σ(·) or 2σ(·)")
    train.add_argument("--gate", action=argparse.BooleanOptionalAction, default=True, help="the forget gate")
    train.add_argument("--short-conv", action=argparse.BooleanOptionalAction, default=True,
                       help="short convolutions on q, k, v")  # fmt: skip
    train.add_argument("--output-gate", action=argparse.BooleanOptionalAction, default=True,
                       help="the output norm's gate silu(W_g x)")  # fmt: skip
    train.add_argument("--steps", type=positive_int, required=True, help="optimizer steps (the total, with --resume)")
    train.add_argument("--batch", type=positive_int, default=32, help="sequences per step")
    train.add_argument("--lr", type=positive_number, default=3e-3, help="AdamW learning rate")
    train.add_argument("--schedule", choices=("constant", "cosine"), default="constant",
                       help="learning rate: constant, or 10 %% linear warm-up then cosine to lr/100")  # fmt: skip
    train.add_argument("--train-length", type=positive_int, default=64, help="tokens per training sequence")
    train.add_argument("--eval-lengths", type=length_list, default="64,256,1024", help="comma-separated lengths")
    train.add_argument("--eval-every", type=positive_int, default=100, help="steps between evaluations")
    train.add_argument("--seed", type=natural_int, default=0, help="seed of the initialisation and the data")
    train.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the model trains")
    train.add_argument("--backend", choices=("auto", "reference", "triton", "fla"), default="auto",
                       help="kernel backend (auto: triton on cuda, reference on cpu)")  # fmt: skip
    train.add_argument("--autocast", choices=("none", "bfloat16"), default="none",
                       help="forward passes under bfloat16 autocast (fla takes 16-bit inputs only)")  # fmt: skip
    evaluate = sub.add_parser(
        "evaluate",
        help="accuracy by length and position of a trained model",
        description="Load a run directory written by train (validated, no pickle) and measure its accuracy at "
        "each length and position on fresh words.",
        **kw,
    )
    evaluate.add_argument("run", type=Path, help="the run directory")
    evaluate.add_argument("--lengths", type=length_list, help="comma-separated lengths; the run's own if not given")
    evaluate.add_argument("--batch", type=positive_int, default=64, help="sequences per length")
    evaluate.add_argument("--seed", type=natural_int, default=1, help="seed of the evaluation words")
    evaluate.add_argument("--backend", choices=("auto", "reference", "triton", "fla"), help="override the run's")
    evaluate.add_argument("--json", metavar="PATH", type=Path, help="write accuracy by length and position")
    analyze = sub.add_parser(
        "analyze",
        help="what a trained model's transitions are, held against the theory",
        description="Load a run directory written by train and measure, per layer and head, its per-symbol mean "
        "transitions (spectra, spread over contexts, distance from orthogonal, β used), how many tokens' "
        "transitions have non-real eigenvalues, the group relations and the exact construction's spectrum "
        "(word problems), a linear probe from each layer's state, and the model's accuracy by length.",
        **kw,
    )
    analyze.add_argument("run", type=Path, help="the run directory")
    analyze.add_argument("--task", help="the task to analyse on; the run's own if not given")
    analyze.add_argument("--lengths", type=length_list,
                         help="comma-separated evaluation lengths; the run's if not given")  # fmt: skip
    analyze.add_argument("--words", type=positive_int, default=64, help="words drawn for the transitions and the probe")
    analyze.add_argument("--length", type=positive_int, help="their length; the run's training length if not given")
    analyze.add_argument("--seed", type=natural_int, default=1, help="seed of the words")
    analyze.add_argument("--backend", choices=("auto", "reference", "triton", "fla"), help="override the run's")
    analyze.add_argument("--json", metavar="PATH", type=Path, help="write the whole analysis")
    analyze.add_argument("--plot", metavar="PREFIX", type=Path,
                         help="write PREFIX_spectra.png, PREFIX_beta.png and PREFIX_probe.png")  # fmt: skip
    construct = sub.add_parser(
        "construct",
        help="write a compiled construction as a model run directory (evaluate and analyze load it)",
        description="Compile the task's program (a group's, or a language's at a budget of factors per token), "
        "turn it into DeltaProductLM weights (models.from_program), check that they decode random words as the "
        "task, and write config.json and model.safetensors to --out, as train does.",
        **kw,
    )
    construct.add_argument("--task", required=True, help="a group spec (S3, Z5, D4, …) or lang:NAME / "
                           "regex:ALPHABET:RE (the DFA's state)")  # fmt: skip
    construct.add_argument("--out", required=True, type=Path, help="the run directory to write (new or empty)")
    construct.add_argument("--nh", type=_auto_or_count, default="auto",
                           help="a language's budget of factors per token: auto (archive heads) or N")  # fmt: skip
    construct.add_argument("--layers", type=int, choices=(1, 2), default=1,
                           help="a group's layers: 1, or 2 for Z_m and D_m (Grazzi et al. Thm 6; Siems et al. "
                           "Thm 3)")  # fmt: skip
    construct.add_argument("--check-words", type=positive_int, default=8, help="random words decoded before writing")
    construct.add_argument("--check-length", type=positive_int, default=64, help="their length")
    construct.add_argument("--seed", type=natural_int, default=0, help="seed of those words")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (public for documentation and tests)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error instead of its one-line message")  # fmt: skip
    kw = dict(formatter_class=_Formatter, parents=[common])
    parser = _Parser(prog="deltaproof", description="Verification toolkit for DeltaProduct-style linear RNNs.", **kw)
    parser.add_argument("--version", action="version", version=f"deltaproof {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    check = sub.add_parser(
        "check",
        help="check the papers' claims",
        description="Run the registered claims (fast tier on the CPU by default) and report the evidence.",
        **kw,
    )
    check.add_argument("--full", action="store_true", help="also run the expensive tier")
    check.add_argument("--only", metavar="PATTERN", help="glob on claim ids, e.g. 'grazzi.prop1.*'")
    check.add_argument("--list", action="store_true", help="list the selected claims without running them")
    check.add_argument("--jobs", metavar="N", type=_auto_or_count, default="auto",
                       help="worker processes: N, or auto (a core each, at most one per 4 claims)")  # fmt: skip
    check.add_argument("--json", metavar="PATH", type=Path, help="write the results as a JSON list to PATH")
    check.add_argument("--report", metavar="PATH", type=Path,
                       help="write a report a reader can cite: PATH.md, or PATH.html (self-contained)")  # fmt: skip
    sim = sub.add_parser(
        "simulate",
        help="compile a group's word problem (or load a program) and run it through a kernel",
        description="Compile a group into a DeltaProduct program (or load a saved one, validated and re-proved), run "
        "random words through a kernel backend, decode every position from the kernel's outputs and report "
        "accuracy against the exact products.",
        **kw,
    )
    source = sim.add_mutually_exclusive_group(required=True)
    source.add_argument("--group", help="the group to compile: S5, A5, D7, Z12, A4xZ3, or perm:(0 1 2);(0 1)")
    source.add_argument("--program", metavar="FILE", type=Path,
                        help="run a saved program (.json or .safetensors, as --save writes)")  # fmt: skip
    sim.add_argument("--rep", default="auto", choices=("auto", "permutation", "orthogonal", "scalar"),
                     help="one-layer representation (auto: the one needing the least n_h)")  # fmt: skip
    sim.add_argument("--nh", type=_auto_or_count, default="auto", help="per-layer budget n_h (an integer) or auto")
    sim.add_argument("--layers", type=int, default=1, choices=(1, 2, 3, 4),
                     help="1: one layer; 2: Z_m (Grazzi Thm 6) and D_m (Siems Thm 3); 3 (n_h ≥ 2) or 4: S_n "
                     "(Siems Thm 1(ii)/(iii))")  # fmt: skip
    sim.add_argument("--length", type=natural_int, required=True, help="tokens per word")
    sim.add_argument("--words", type=positive_int, default=1, help="number of random words")
    sim.add_argument("--inputs", default="elements", choices=("elements", "generators"),
                     help="tokens drawn from all elements or from the generators")  # fmt: skip
    _run_options(sim)
    sim.add_argument("--max-order", type=positive_int, default=1000, help=MAX_ORDER_HELP)
    sim.add_argument("--save", metavar="FILE", type=Path,
                     help="also write the program (.json, or .safetensors with float64 tensors)")  # fmt: skip
    sim.add_argument("--json", metavar="PATH", type=Path, help="write the result object to PATH")
    auto = sub.add_parser(
        "automaton",
        help="compile a regular language into a program, prove it and decide words through a kernel",
        description="A regular language (built-in, a DFA file with automata-lib's fields, or a regex) → its "
        "minimal DFA, its algebra, a gated DeltaProduct program proved exact for all words, and random words "
        "decided position by position through a kernel backend.",
        **kw,
    )
    language_source = auto.add_mutually_exclusive_group(required=True)
    language_source.add_argument("--language", metavar="NAME",
                                 help="tomita1 … tomita7, parity, even_pairs, cycle_navigation, dyck1_<D>, dyck2_2, "
                                 "flip_flop, modular_arithmetic, random:<states>:<letters>:<seed>")  # fmt: skip
    language_source.add_argument("--dfa", metavar="FILE", type=Path,
                                 help="a DFA as JSON: states, input_symbols, transitions, initial_state, "
                                 "final_states (automata-lib's names; missing moves go to a sink)")  # fmt: skip
    language_source.add_argument("--regex", metavar="RE", help="a regular expression (automata-lib's syntax)")
    auto.add_argument("--alphabet", metavar="SYMBOLS", help="with --regex: the one-character symbols, e.g. 01")
    auto.add_argument("--nh", type=_auto_or_count, default="auto", help="per-layer budget n_h (an integer) or auto")
    auto.add_argument("--length", type=natural_int, default=1000, help="tokens per random word")
    auto.add_argument("--words", type=positive_int, default=4, help="number of random words")
    _run_options(auto)
    auto.add_argument("--run", metavar="WORDS.txt", type=Path,
                      help="also decide the words of a file (one per line, symbols separated by spaces)")  # fmt: skip
    auto.add_argument("--out", metavar="FILE", type=Path,
                      help="with --run: one line per word, the accept bit after each prefix as 0/1 (? where "
                      "the kernel's state matched no configuration of the program)")  # fmt: skip
    auto.add_argument("--save", metavar="FILE", type=Path,
                      help="also write the program (.json, or .safetensors with float64 tensors)")  # fmt: skip
    auto.add_argument("--json", metavar="PATH", type=Path, help="write the result object to PATH")
    export = sub.add_parser(
        "export",
        help="write word-problem data (Illusion-of-State CSV: seed,input,target)",
        description="Random distinct words over a group with their running products, as CSV.",
        **kw,
    )
    export.add_argument("--group", required=True, help="S5, A5, D7, Z12, A4xZ3, or perm:(0 1 2);(0 1)")
    export.add_argument("--length", type=natural_int, required=True, help="tokens per word")
    export.add_argument("--samples", type=positive_int, required=True,
                        help="number of distinct words (all words if there are fewer)")  # fmt: skip
    export.add_argument("--seed", type=natural_int, default=0, help="seed of the random words (written in each row)")
    export.add_argument("--max-order", type=positive_int, default=100_000, help=MAX_ORDER_HELP)
    export.add_argument("--out", required=True, type=Path, help="the CSV file to write (folders are created)")
    stab = sub.add_parser(
        "stability",
        help="measure rounding error against the error models",
        description="Measure the rounding error of GH products per format (products) and of every CPU kernel "
        "backend (kernels) against the worst-case (∝ T) and probabilistic (∝ √T) models of theory.error_models, and "
        "the safe lengths they predict for compiled programs against the first measured error (constructions).",
        **kw,
    )
    stab.add_argument("study", choices=("products", "kernels", "constructions"), help="what to measure")
    stab.add_argument("--max-length", type=positive_int, default=10_000,
                      help="products: the largest number of factors; constructions: the word length")  # fmt: skip
    stab.add_argument("--dim", type=positive_int, default=8, help="products: the matrix size")
    stab.add_argument("--batch", type=positive_int, default=16, help="products: independent products per setting")
    stab.add_argument("--formats", type=name_list(("bfloat16", "float16", "float32")),
                      default="bfloat16,float16,float32",
                      help="products and constructions: the formats, comma-separated")  # fmt: skip
    stab.add_argument("--seed", type=natural_int, default=0, help="random seed")
    stab.add_argument("--json", metavar="PATH", type=Path, help="write the rows as JSON")
    stab.add_argument("--plot", metavar="PATH.png", type=Path, help="write the plot (.png, .pdf or .svg)")
    stab.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                      help="kernels: cpu (every CPU backend, small) or cuda (the GPU verdict: ours and fla's at "
                      "T = 1024 – 8192, D = 128; proofs_check.studies.verdict)")  # fmt: skip
    stab.add_argument("--sections", type=name_list(("A", "B", "C", "D")), default="A,B,C,D",
                      help="kernels on cuda: the verdict's sections to measure")  # fmt: skip
    stab.add_argument("--budget-s", type=seconds, default=float("inf"),
                      help="kernels on cuda: start no measurement after this many seconds")  # fmt: skip
    stab.add_argument("--report", metavar="PATH.md", type=Path, help="kernels on cuda: write the markdown report")
    _training_parsers(sub, kw)
    return parser


def _list(console: Console, chosen) -> None:
    table = Table(title=f"{len(chosen)} claims", show_lines=False)
    for col in ("id", "tier", "method", "source"):
        table.add_column(col, overflow="fold")
    for c in chosen:
        table.add_row(Text(c.id), c.tier, c.method, Text(c.source))
    console.print(table)


def _report(console: Console, results: list[Result], seconds: float) -> None:
    table = Table(title="deltaproof check", show_lines=True)
    table.add_column("id", overflow="fold", min_width=18)
    table.add_column("source", overflow="fold", max_width=28)
    table.add_column("method")
    table.add_column("status")
    table.add_column("evidence", overflow="fold", ratio=1)
    for r in results:
        text = r.evidence if r.status != "skipped" else f"skipped: {r.reason}"
        status = Text(r.status, style=_STYLE[r.status])
        table.add_row(Text(r.claim.id), Text(r.claim.source), r.claim.method, status, Text(text))
    console.print(table)
    counts = {s: sum(r.status == s for r in results) for s in _STYLE}
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()) + f" in {seconds:.1f} s")


def check(args: argparse.Namespace, console: Console, note, progress) -> int:
    chosen = select(full=args.full, only=args.only)
    if not chosen:
        raise CommandError(f"--only: {args.only!r} matches no claim; see deltaproof check --list --full")
    if args.json is not None:
        check_output("--json", args.json)
    if args.report is not None:
        if args.list:
            raise CommandError("--report: a report needs the claims run; drop --list")
        check_output("--report", args.report, (".md", ".html"))
    if args.list:
        _list(console, chosen)
        if args.json is not None:
            listing = [{"id": c.id, "statement": c.statement, "source": c.source, "method": c.method, "tier": c.tier}
                       for c in chosen]  # fmt: skip
            write_output("--json", args.json, json_text(listing, indent=2), note)
            note(f"wrote {args.json}")
        return 0
    jobs = args.jobs if args.jobs != "auto" else max(1, min(len(os.sched_getaffinity(0)), len(chosen) // 4))
    start = time.perf_counter()
    with progress(f"checking in {jobs} process{'es' * (jobs > 1)}", len(chosen)) as advance:
        finished: list[Result] = []

        def done(result: Result) -> None:
            finished.append(result)
            advance(len(finished))

        results = run_claims(chosen, jobs=jobs, on_result=done)
    elapsed = time.perf_counter() - start
    _report(console, results, elapsed)
    if args.json is not None:
        write_output("--json", args.json, json_text([r.as_json() for r in results], indent=2), note)
        note(f"wrote {args.json}")
    if args.report is not None:
        from proofs_check.report import report_html, report_markdown

        command = "deltaproof check" + " --full" * args.full + (f" --only '{args.only}'" if args.only else "")
        write = report_html if args.report.suffix.lower() == ".html" else report_markdown
        write_output("--report", args.report, write(results, command, elapsed), note)
        note(f"wrote {args.report}")
    return 1 if any(r.status in ("failed", "error") for r in results) else 0


def _growth(rows: list[dict], last: dict) -> str:
    """The exponent a of error ∝ T^a over the last two decades of lengths (log–log slope)."""
    import math

    early = [r for r in rows if (r["setting"], r["format"]) == (last["setting"], last["format"])
             and r["length"] * 100 <= last["length"]]  # fmt: skip
    if not early or not 0 < early[-1]["error_max"] < math.inf or not 0 < last["error_max"] < math.inf:
        return ""
    first = early[-1]
    return f"{math.log(last['error_max'] / first['error_max']) / math.log(last['length'] / first['length']):.2f}"


def _products_table(rows: list[dict], args) -> Table:
    table = Table(title=f"GH products: error at T = {args.max_length} (relative to ‖X_0‖)")
    for name in ("setting", "format", "measured (max)", "bound ∝ T", "estimate ∝ √T", "growth T^a", "‖X̂ᵀX̂ − I‖"):
        table.add_column(name)
    for r in rows:
        if r["length"] == args.max_length:
            orth = "" if r["orthogonality"] is None else f"{r['orthogonality']:.2e}"
            table.add_row(r["setting"], r["format"], f"{r['error_max']:.2e}", f"{r['bound']:.2e}",
                          f"{r['estimate']:.2e}", _growth(rows, r), orth)  # fmt: skip
    return table


def _kernels_table(rows: list[dict], args) -> Table:
    from proofs_check.studies.kernels import KERNEL_RUNS

    table = Table(title="kernels vs float64 (worst over β ranges, gates, key normalisation, lengths)")
    for name in ("backend", "mode", "dtype", "worst o", "worst state", "worst / model", "suspect runs"):
        table.add_column(name)
    for backend, mode, dtype in KERNEL_RUNS:
        sel = [r for r in rows if (r["backend"], r["mode"], r["dtype"]) == (backend, mode, dtype)]
        worst_o, worst_s = _worst(r["o"] for r in sel), _worst(r["state"] for r in sel)
        ratio, suspects = _worst(r["over_model"] for r in sel), sum(r["suspect"] for r in sel)
        table.add_row(backend, mode, dtype, f"{worst_o:.2e}", f"{worst_s:.2e}", f"{ratio:.2f}", str(suspects))
    return table


def _worst(values) -> float:
    """The largest value, NaN if any is NaN (Python's max would hide it behind the values before it)."""
    return float(np.max(list(values)))


def _verdict_table(rows: list[dict], args) -> Table:
    table = Table(title="kernels vs float64 on the GPU (forward: state error; C: worst gradient)")
    for name in ("section", "backend", "dtype", "T", "β", "gates", "error", "× model", "suspect"):
        table.add_column(name)
    for r in rows:
        cells = [
            r["section"],
            r["backend"],
            r["dtype"],
            str(r.get("tokens", "")),
            r.get("betas", ""),
            r.get("gates", ""),
        ]
        if "error" in r:
            table.add_row(*cells, r["error"].splitlines()[0][:60], "", "")
        elif r["section"] == "C":
            table.add_row(*cells, f"{r['worst']:.2e}", "", "")
        else:
            table.add_row(*cells, f"{r['state']:.2e}", f"{r['over_model']:.2f}", str(r["suspect"]))
    return table


def _constructions_table(rows: list[dict], args) -> Table:
    table = Table(title=f"programs through the op-by-op reference, words of {args.max_length} tokens")
    for name in ("program", "format", "margin", "safe T (worst)", "T (probabilistic)", "first error", "max error"):
        table.add_column(name)
    for r in rows:
        first = "none" if r["measured_first_error"] is None else str(r["measured_first_error"])
        table.add_row(r["program"], r["format"], f"{r['margin']:.3f}", f"{r['predicted_worst']:.3g}",
                      f"{r['predicted_probabilistic']:.3g}", first, f"{r['max_state_error']:.2e}")  # fmt: skip
    return table


def stability(args, console, note, progress) -> int:
    """``deltaproof stability``: run a study with a progress bar, print its summary table, write JSON / plot
    (and the markdown report of the GPU kernel verdict)."""
    from proofs_check.studies import constructions, kernels, products, verdict

    gpu_verdict = args.study == "kernels" and args.device != "cpu"
    if args.report is not None and not gpu_verdict:
        raise CommandError(f"--report: only the GPU kernel verdict (kernels --device cuda) writes one, got "
                           f"{args.study} on {args.device}")  # fmt: skip
    require_device(args.device)
    plots = (".png", ".pdf", ".svg")
    outputs = (("--json", args.json, ()), ("--plot", args.plot, plots), ("--report", args.report, ()))
    for option, path, suffixes in outputs:
        if path is not None:
            check_output(option, path, suffixes)
    if args.study == "products":  # X̂ and X of every setting, in float64 and the format, a few copies in flight
        need = 8.0 * args.batch * args.dim**2 * len(products.SETTINGS) * 8
        check_memory("--dim", need, f"{args.batch} products of {args.dim}×{args.dim} matrices", "use a smaller "
                     "--dim or --batch")  # fmt: skip
    formats = args.formats
    programs = len(constructions.CONSTRUCTION_PROGRAMS) + len(constructions.CONSTRUCTION_LAYERED)
    studies = {  # study → (progress label, total steps or None, run(progress), summary table, plot)
        "products": ("GH products", args.max_length * len(products.SETTINGS),
                     lambda progress: products.run_products(args.max_length, formats=formats, dim=args.dim,
                                                         batch=args.batch, seed=args.seed, progress=progress),
                     _products_table, products.plot_products),
        "kernels": ("kernels vs float64", None, lambda progress: kernels.run_kernels(seed=args.seed, progress=progress),
                    _kernels_table, kernels.plot_kernels),
        "constructions": ("constructions", programs * len(formats),
                          lambda progress: constructions.run_constructions(args.max_length, formats=formats,
                                                                           seed=args.seed, progress=progress),
                          _constructions_table, constructions.plot_constructions),
    }  # fmt: skip
    if gpu_verdict:
        studies["kernels"] = ("kernel verdict", None,
                              lambda progress: verdict.run(args.device, sections=args.sections,
                                                                  budget_s=args.budget_s, on_row=lambda r: progress(1)),
                              _verdict_table, verdict.plot)  # fmt: skip
    label, total, run, summary, plot = studies[args.study]
    with progress(label, total) as advance:
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            advance(done[0])

        rows = run(step)
    console.print(summary(rows, args))
    if args.json is not None:
        write_output("--json", args.json, json_text({"study": "kernel_verdict" if gpu_verdict else args.study,
                                                     "rows": rows}), note)  # fmt: skip
        note(f"wrote {args.json}")
    if args.plot is not None:
        write_output("--plot", args.plot, lambda path: plot(rows, path), note)
        note(f"wrote {args.plot}")
    if args.report is not None:
        write_output("--report", args.report, verdict.report_markdown(rows), note)
        note(f"wrote {args.report}")
    return 0


def _progress_bar(console: Console):
    """``progress(label, total)``: a context manager giving ``advance(completed, label=None)`` over a rich
    progress bar on ``console`` (stderr), removed when done; nothing when stderr is not a terminal."""

    @contextlib.contextmanager
    def progress(label: str, total: int | None):
        with Progress(*_COLUMNS, console=console, transient=True, disable=not console.is_terminal) as bar:
            task = bar.add_task(label, total=total)

            def advance(completed: int, description: str | None = None) -> None:
                bar.update(task, completed=completed, **({} if description is None else {"description": description}))

            yield advance

    return progress


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (see the module docstring)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    errors = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
    console = Console(width=None if sys.stdout.isatty() else 160)
    notes: list[str] = []  # said on stderr when the command succeeds (a failure says one line only)

    def note(message: str) -> None:
        notes.append(message)

    try:
        code = _run(argv, console, errors, note)
        for message in notes:
            errors.print(Text(message))
        return code
    except CommandError as err:
        if debug:
            raise
        _fail(f"{err.prog or _prog(argv)}: error: {err}")
        return err.code
    except KeyboardInterrupt:
        _fail(f"{_prog(argv)}: interrupted")
        return 130
    except (ValueError, TypeError, RuntimeError, NotImplementedError, OSError, MemoryError) as err:
        if debug:
            raise
        _fail(f"{_prog(argv)}: error: {one_line(err) or type(err).__name__}")
        return 2
    except Exception as err:  # noqa: BLE001 — a bug: one line, the traceback with --debug
        if debug:
            raise
        _fail(f"{_prog(argv)}: internal error: {type(err).__name__}: {one_line(err)} (run with --debug for the "
              "traceback)")  # fmt: skip
        return 70


def _prog(argv: list[str]) -> str:
    """``deltaproof COMMAND`` for messages (the first argument that names a command)."""
    command = next((a for a in argv if a in COMMANDS), None)
    return "deltaproof" if command is None else f"deltaproof {command}"


def _run(argv: list[str], console: Console, errors: Console, note) -> int:
    args = build_parser().parse_args(argv)
    progress = _progress_bar(errors)
    if args.command == "check":
        return check(args, console, note, progress)
    if args.command == "stability":
        return stability(args, console, note, progress)
    if args.command in ("train", "evaluate", "analyze", "construct"):
        from proofs_check import training

        run = {"train": training.run_train, "evaluate": training.run_evaluate, "analyze": training.run_analyze,
               "construct": training.run_construct}  # fmt: skip
        return run[args.command](args, console, note, progress)
    from proofs_check import word_problems

    if args.command == "simulate":
        return word_problems.run_simulate(args, console, note, progress)
    if args.command == "automaton":
        from proofs_check.automata import run_automaton

        return run_automaton(args, console, note, progress)
    return word_problems.run_export(args, console, note, progress)


def _fail(message: str) -> None:
    """One line on stderr, as plain text."""
    sys.stderr.write(one_line(message) + "\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
