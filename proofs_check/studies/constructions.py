"""The constructions study (``deltaproof stability constructions``): compiled programs through the op-by-op
reference kernel in each format, their first wrong decode against the safe lengths that
:func:`theory.error_models.safe_lengths` predicts from each layer's exact margin."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from proofs_check.execute import DTYPES, exact_run, random_words, simulate
from proofs_check.studies.plots import panels, save_figure
from theory.error_models import margin_and_radius, safe_lengths
from theory.groups import parse_group
from theory.programs import compile_group, compile_layers, prove

__all__ = ["CONSTRUCTION_PROGRAMS", "CONSTRUCTION_LAYERED", "run_constructions", "plot_constructions"]

CONSTRUCTION_PROGRAMS = (  # (label, group, rep): one-layer programs, whose margin and state norm are direct
    ("parity", "Z2", "scalar"),
    ("S3 permutation", "S3", "permutation"),
    ("S4 SO(3)", "S4", "orthogonal"),
    ("A5 SO(3)", "A5", "orthogonal"),
    ("S5 permutation", "S5", "permutation"),
    ("D8 O(2)", "D8", "orthogonal"),
    ("Z12 O(2)", "Z12", "orthogonal"),
)


CONSTRUCTION_LAYERED = (  # (label, group, layers): multi-layer programs, each layer through the kernel
    ("Z5 2 layers", "Z5", 2),
    ("D4 2 layers", "D4", 2),
    ("S3 3 layers", "S3", 3),
    ("S4 4 layers", "S4", 4),
)


def _layer_scale(layer) -> float:
    """Norm of a layer's states plus its largest value: each sub-step x + βk(v − kᵀx) rounds terms of both
    sizes, so this stands for ‖h‖ of the one-layer model (whose values are 0). Grid layers: √d·max level."""
    levels = [float(sum(float(e) ** 2 for e in r) ** 0.5) for r in layer.readouts]
    norm = max(levels) * (layer.dim**0.5 if layer.decode == "grid" else 1.0)
    return norm + max((abs(float(v)) for row in layer.values for v in row), default=0.0)


def run_constructions(max_length: int = 20_000, *, formats=("bfloat16", "float16", "float32"), seed: int = 0,
                      progress=None) -> list[dict]:  # fmt: skip
    """The constructions study: for each program and format, the longest safe length predicted by each
    model — the decoder fails once the state error reaches the margin m (half the least distance between
    readouts), and the error after T tokens of n_h factors is ≈ T·n_h·c_w‖h‖ (worst case) or
    √(T·n_h)·c_p‖h‖ (probabilistic), so T_w = m/(n_h c_w ‖h‖) and T_p = (m/(c_p ‖h‖))²/n_h — against the
    first wrong decode measured through the op-by-op reference kernel in that format (a naive recurrence;
    None when the word of ``max_length`` tokens is tracked throughout).

    One-layer programs (:data:`CONSTRUCTION_PROGRAMS`) have values 0 and ‖h‖ the orbit's radius. Multi-layer
    programs (:data:`CONSTRUCTION_LAYERED`) run every layer through the kernel; each layer gets its own
    prediction, with ‖h‖ replaced by its states' norm plus its largest value (:func:`_layer_scale`) and m its
    exact margin from the program's proof, and the program's prediction is the least over its layers — an
    extension of the one-layer model, which ignores that layers with β = 1 overwrite (reset) the state and
    so do not accumulate error at all."""
    if max_length < 1:
        raise ValueError(f"max_length: expected a positive integer, got {max_length!r}")
    cases = []
    for label, spec, rep in CONSTRUCTION_PROGRAMS:
        program = compile_group(spec, rep=rep)
        cases.append((label, spec, program, 1, [(*margin_and_radius(program), program.n_h)]))
    for label, spec, layers in CONSTRUCTION_LAYERED:
        program = compile_layers(spec, layers=layers)
        proof = prove(program)
        per_layer = [(float(m), _layer_scale(layer), layer.n_h) for m, layer in zip(proof.margins, program.layers)]
        cases.append((label, spec, program, layers, per_layer))
    rows = []
    for label, spec, program, layers, per_layer in cases:
        words = random_words(parse_group(spec).order, 1, max_length, seed=seed)
        exact = exact_run(program, words)
        for name in formats:
            run = simulate(program, words, dtype=DTYPES[name], backend="reference", mode="recurrent", exact=exact)
            safe = [safe_lengths(name, m, norm, n_h) for m, norm, n_h in per_layer]
            limiting = min(range(len(safe)), key=lambda i: safe[i][0])
            margin, norm, n_h = per_layer[limiting]
            rows.append({"program": label, "format": name, "layers": layers, "n_h": n_h, "margin": margin,
                         "state_norm": norm, "predicted_worst": min(w for w, _ in safe),
                         "predicted_probabilistic": min(p for _, p in safe), "measured_first_error": run.first_error,
                         "length": max_length, "max_state_error": run.max_state_error})  # fmt: skip
            if progress is not None:
                progress(1)
    return rows


def plot_constructions(rows: list[dict], path: Path) -> None:
    """Predicted safe lengths (worst case, probabilistic) and the measured first error per program and
    format, on a log scale; a program tracked throughout is drawn at the tested length with an arrow."""
    formats = list(dict.fromkeys(r["format"] for r in rows))
    programs = list(dict.fromkeys(r["program"] for r in rows))
    fig, axes = panels(len(formats), sharey=True)
    for ax, name in zip(axes, formats):
        sel = {r["program"]: r for r in rows if r["format"] == name}
        y = np.arange(len(programs))
        ax.scatter([max(sel[p]["predicted_worst"], 0.1) for p in programs], y, marker="|", s=200, color="tab:red",
                   label="predicted safe length, worst case")  # fmt: skip
        ax.scatter([max(sel[p]["predicted_probabilistic"], 0.1) for p in programs], y, marker="x", color="tab:orange",
                   label="predicted, probabilistic")  # fmt: skip
        measured = [sel[p]["measured_first_error"] or sel[p]["length"] for p in programs]
        tracked = [sel[p]["measured_first_error"] is None for p in programs]
        ax.scatter(measured, y, marker="o", color="tab:blue", label="measured first error")
        for yi, m, full in zip(y, measured, tracked):
            if full:
                ax.annotate("", xy=(m * 3, yi), xytext=(m, yi), arrowprops=dict(arrowstyle="->", color="tab:blue"))
        ax.set_xscale("log")
        ax.set_xlim(right=max(max(measured) * 5, ax.get_xlim()[1]))  # room for the 'tracked throughout' arrows
        ax.set_yticks(y, programs)
        ax.set_title(f"programs in {name} (reference kernel)")
        ax.set_xlabel("tokens")
        ax.grid(True, axis="x", alpha=0.3)
    save_figure(fig, axes, path, columns=3, bottom=0.1)
