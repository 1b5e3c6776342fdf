"""``deltaproof`` — the command line.

    deltaproof check [--full] [--only PATTERN] [--list] [--json PATH]
    deltaproof simulate --group SPEC --length T [--rep R] [--nh N] [--words W] [--dtype D] [--backend B] …
    deltaproof export --group SPEC --length K --samples N [--seed S] --out FILE.csv
    deltaproof stability products|kernels|constructions [--max-length T] [--json PATH] [--plot PATH.png] …
    deltaproof stability kernels --device cuda [--sections A,B,C,D] [--budget-s S] [--report PATH.md] …

``check`` runs the registered claims (the fast tier by default, on the CPU) with a progress bar, prints a
table (id, source, method, status, evidence) and exits non-zero if any claim failed or errored.
``simulate`` and ``export`` are described in :mod:`proofs_check.word_problems`, ``stability`` in
:mod:`proofs_check.stability`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from proofs_check.registry import Result, run_claim, select

_STYLE = {"passed": "green", "failed": "bold red", "error": "bold magenta", "skipped": "yellow"}


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _budget(text: str) -> int | str:
    return text if text == "auto" else _positive(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deltaproof", description="Verification toolkit for DeltaProduct-style linear RNNs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "check",
        help="check the papers' claims",
        description="Run the registered claims (fast tier on the CPU by default) and report the evidence.",
    )
    check.add_argument("--full", action="store_true", help="also run the expensive tier")
    check.add_argument("--only", metavar="PATTERN", help="glob on claim ids, e.g. 'grazzi.prop1.*'")
    check.add_argument("--list", action="store_true", help="list the selected claims without running them")
    check.add_argument("--json", metavar="PATH", type=Path, help="write the results as a JSON list to PATH")
    sim = sub.add_parser(
        "simulate",
        help="compile a group's word problem and run it through a kernel",
        description="Compile a group into a DeltaProduct program, run random words through a kernel backend, "
        "decode every position from the kernel's outputs and report accuracy against the exact products.",
    )
    sim.add_argument("--group", required=True, help="S5, A5, D7, Z12, A4xZ3, or perm:(0 1 2);(0 1)")
    sim.add_argument("--rep", default="auto", choices=("auto", "permutation", "orthogonal", "scalar"))
    sim.add_argument("--nh", type=_budget, default="auto", help="per-layer budget n_h (an integer) or auto")
    sim.add_argument(
        "--layers",
        type=_positive,
        default=1,
        help="1; 2 for Z_m (Grazzi Thm 6) and D_m (Siems Thm 3); 3 (n_h ≥ 2) or 4 for S_n (Siems Thm 1(ii)/(iii))",
    )
    sim.add_argument("--length", type=_positive, required=True)
    sim.add_argument("--words", type=_positive, default=1)
    sim.add_argument("--inputs", default="elements", choices=("elements", "generators"))
    sim.add_argument("--dtype", default="float64", choices=("float64", "float32", "float16", "bfloat16"))
    sim.add_argument("--backend", default="reference", choices=("reference", "triton", "fla"))
    sim.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--json", metavar="PATH", type=Path)
    export = sub.add_parser(
        "export",
        help="write word-problem data (Illusion-of-State CSV: seed,input,target)",
        description="Random words over a group with their running products, as CSV.",
    )
    export.add_argument("--group", required=True)
    export.add_argument("--length", type=_positive, required=True)
    export.add_argument("--samples", type=_positive, required=True)
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--out", required=True, type=Path)
    stab = sub.add_parser(
        "stability",
        help="measure rounding error against the error models",
        description="Measure the rounding error of GH products per format (products) and of every CPU kernel "
        "backend (kernels) against the worst-case (∝ T) and probabilistic (∝ √T) models of theory.precision, and "
        "the safe lengths they predict for compiled programs against the first measured error (constructions).",
    )
    stab.add_argument("study", choices=("products", "kernels", "constructions"))
    stab.add_argument("--max-length", type=_positive, default=10_000,
                      help="products: the largest number of factors; constructions: the word length")  # fmt: skip
    stab.add_argument("--dim", type=_positive, default=8)
    stab.add_argument("--batch", type=_positive, default=16)
    stab.add_argument("--formats", default="bfloat16,float16,float32")
    stab.add_argument("--seed", type=int, default=0)
    stab.add_argument("--json", metavar="PATH", type=Path)
    stab.add_argument("--plot", metavar="PATH.png", type=Path)
    stab.add_argument("--device", default="cpu",
                      help="kernels: cpu (every CPU backend, small) or cuda (the GPU verdict: ours and fla's at "
                      "T = 1024 – 8192, D = 128; proofs_check.kernel_verdict)")  # fmt: skip
    stab.add_argument("--sections", default="A,B,C,D", help="kernels on cuda: the verdict's sections to measure")
    stab.add_argument("--budget-s", type=float, default=float("inf"),
                      help="kernels on cuda: start no measurement after this many seconds")  # fmt: skip
    stab.add_argument("--report", metavar="PATH.md", type=Path, help="kernels on cuda: write the markdown report")
    return parser


def _list(console: Console, chosen) -> int:
    table = Table(title=f"{len(chosen)} claims", show_lines=False)
    for col in ("id", "tier", "method", "source"):
        table.add_column(col, overflow="fold")
    for c in chosen:
        table.add_row(Text(c.id), c.tier, c.method, Text(c.source))
    console.print(table)
    return 0


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


def check(args: argparse.Namespace, console: Console) -> int:
    chosen = select(full=args.full, only=args.only)
    if not chosen:
        console.print(f"[red]--only {args.only!r} matches no claim[/]; see deltaproof check --list --full")
        return 2
    if args.list:
        return _list(console, chosen)
    results: list[Result] = []
    start = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("checking", total=len(chosen))
        for c in chosen:
            progress.update(task, description=f"checking {c.id}")
            results.append(run_claim(c))
            progress.advance(task)
    elapsed = time.perf_counter() - start
    _report(console, results, elapsed)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([r.as_json() for r in results], indent=2, default=str) + "\n")
        console.print(f"wrote {args.json}")
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


def _products_table(rows: list[dict], args, study) -> Table:
    table = Table(title=f"GH products: error at T = {args.max_length} (relative to ‖X_0‖)")
    for name in ("setting", "format", "measured (max)", "bound ∝ T", "estimate ∝ √T", "growth T^a", "‖X̂ᵀX̂ − I‖"):
        table.add_column(name)
    for r in rows:
        if r["length"] == args.max_length:
            orth = "" if r["orthogonality"] is None else f"{r['orthogonality']:.2e}"
            table.add_row(r["setting"], r["format"], f"{r['error_max']:.2e}", f"{r['bound']:.2e}",
                          f"{r['estimate']:.2e}", _growth(rows, r), orth)  # fmt: skip
    return table


def _kernels_table(rows: list[dict], args, study) -> Table:
    table = Table(title="kernels vs float64 (worst over β ranges, gates, key normalisation, lengths)")
    for name in ("backend", "mode", "dtype", "worst o", "worst state", "worst / model", "suspect runs"):
        table.add_column(name)
    for backend, mode, dtype in study.KERNEL_RUNS:
        sel = [r for r in rows if (r["backend"], r["mode"], r["dtype"]) == (backend, mode, dtype)]
        worst_o, worst_s = _worst(r["o"] for r in sel), _worst(r["state"] for r in sel)
        ratio, suspects = _worst(r["over_model"] for r in sel), sum(r["suspect"] for r in sel)
        table.add_row(backend, mode, dtype, f"{worst_o:.2e}", f"{worst_s:.2e}", f"{ratio:.2f}", str(suspects))
    return table


def _worst(values) -> float:
    """The largest value, NaN if any is NaN (Python's max would hide it behind the values before it)."""
    return float(np.max(list(values)))


def _verdict_table(rows: list[dict], args, study) -> Table:
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


def _constructions_table(rows: list[dict], args, study) -> Table:
    table = Table(title=f"programs through the op-by-op reference, words of {args.max_length} tokens")
    for name in ("program", "format", "margin", "safe T (worst)", "T (probabilistic)", "first error", "max error"):
        table.add_column(name)
    for r in rows:
        first = "none" if r["measured_first_error"] is None else str(r["measured_first_error"])
        table.add_row(r["program"], r["format"], f"{r['margin']:.3f}", f"{r['predicted_worst']:.3g}",
                      f"{r['predicted_probabilistic']:.3g}", first, f"{r['max_state_error']:.2e}")  # fmt: skip
    return table


def stability(args, console) -> int:
    """``deltaproof stability``: run a study with a progress bar, print its summary table, write JSON / plot
    (and the markdown report of the GPU kernel verdict)."""
    from proofs_check import kernel_verdict
    from proofs_check import stability as study

    gpu_verdict = args.study == "kernels" and args.device != "cpu"
    if args.report is not None and not gpu_verdict:
        raise ValueError(f"--report: only the GPU kernel verdict (kernels --device cuda) writes one, got {args.study} "
                         f"on {args.device}")  # fmt: skip
    formats = tuple(args.formats.split(","))
    studies = {  # study → (progress label, total steps or None, run(progress), summary table, plot)
        "products": ("GH products", args.max_length * len(study.SETTINGS),
                     lambda progress: study.run_products(args.max_length, formats=formats, dim=args.dim,
                                                         batch=args.batch, seed=args.seed, progress=progress),
                     _products_table, study.plot_products),
        "kernels": ("kernels vs float64", None, lambda progress: study.run_kernels(seed=args.seed, progress=progress),
                    _kernels_table, study.plot_kernels),
        "constructions": ("constructions", (len(study.CONSTRUCTION_PROGRAMS) + len(study.CONSTRUCTION_LAYERED)) * 3,
                          lambda progress: study.run_constructions(args.max_length, seed=args.seed, progress=progress),
                          _constructions_table, study.plot_constructions),
    }  # fmt: skip
    if gpu_verdict:
        sections = tuple(args.sections.split(","))
        studies["kernels"] = ("kernel verdict", None,
                              lambda progress: kernel_verdict.run(args.device, sections=sections,
                                                                  budget_s=args.budget_s, on_row=lambda r: progress(1)),
                              _verdict_table, kernel_verdict.plot)  # fmt: skip
    label, total, run, summary, plot = studies[args.study]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        rows = run(lambda n: bar.advance(task, n))
    console.print(summary(rows, args, study))
    if args.json is not None:
        study.write_json(rows, args.json, "kernel_verdict" if gpu_verdict else args.study)
    if args.plot is not None:
        plot(rows, args.plot)
    if args.report is not None:
        args.report.write_text(kernel_verdict.report_markdown(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    if args.command == "check":
        return check(args, console)
    from proofs_check import word_problems

    try:
        if args.command == "simulate":
            return word_problems.run_simulate(args, console)
        if args.command == "stability":
            return stability(args, console)
        return word_problems.run_export(args, console)
    except ValueError as err:
        console.print(f"[red]error:[/] {err}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
