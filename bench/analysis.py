"""What the trained models learned: :func:`models.analyze` over every run of bench/training.py that has weights.

    python bench/analysis.py --runs bench/results/training/runs --out bench/results/analysis [--plots S3-nh2-s2,…]

For each run directory holding ``model.safetensors`` (loaded on the CPU through the reference backend,
:func:`models.load_run`): the analysis on 64 words of the training length and the model's accuracy at 64, 256
and 1024 (128 words each, seed 1). Writes ``summary.json`` (a row per run: per head the non-real fraction, the
n_h = 2 criterion's fraction, orthogonality, |λ| quantiles, relation error, spectral match with the exact
construction, β quantiles over all symbols; per layer the probes; the model's accuracy and first error by
length — the mean transitions themselves are left out, ``deltaproof analyze RUN --json`` gives them),
``table.md`` (one line per run, the best head of its first layer by each measure) and, for the runs named in
``--plots``, ``<run>_spectra.png``, ``<run>_beta.png`` and ``<run>_probe.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

LENGTHS = (64, 256, 1024)


def summarise(report: dict) -> dict:
    """The report without its matrices and per-token eigenvalues."""
    layers = []
    for layer in report["layers"]:
        heads = []
        for head in layer["heads"]:
            betas = [b for entry in head["symbols"].values() for b in entry["beta"]]
            kept = {k: v for k, v in head.items() if k not in ("symbols", "token_eigenvalues")}
            spread = max(e["spread"] for e in head["symbols"].values())
            heads.append({**kept, "beta_max": max(betas), "spread": spread})
        probe = layer["probe_accuracy"]
        layers.append({"heads": heads, "probe_state": probe["accuracy"], "probe_output": probe["output"]["accuracy"],
                       "beta_histogram": layer["beta_histogram"]})  # fmt: skip
    model = report["model"]
    return {"layers": layers, "accuracy": model["accuracy"], "first_error": model["first_error"]}


def table(rows: list[dict]) -> str:
    def best(heads, key, pick):
        values = [h[key] for h in heads if h[key] is not None]
        return f"{pick(values):.3g}" if values else "—"

    lines = [
        "| run | task | n_h | β range | non-real λ (most) | ‖AᵀA − I‖ (least) | spread (least) | relation error "
        "(least) | spectral match (best) | β max | probe: state / o_t | "
        + " | ".join(f"T = {n}" for n in LENGTHS)
        + " | first error at 1024 |",  # fmt: skip
        "|" + "---|" * (11 + len(LENGTHS)),
    ]
    for row in rows:
        layer = row["summary"]["layers"][0]
        heads = layer["heads"]
        acc = row["summary"]["accuracy"]
        cells = [row["run"], row["task"], row["n_h"], row["beta_range"], best(heads, "nonreal_fraction", max),
                 best(heads, "orthogonality", min), best(heads, "spread", min), best(heads, "relation_error", min),
                 best(heads, "spectral_match", min), best(heads, "beta_max", max),
                 f"{layer['probe_state']:.3f} / {layer['probe_output']:.3f}",
                 *(f"{acc[str(n)]:.3f}" for n in LENGTHS),
                 row["summary"]["first_error"][str(LENGTHS[-1])] or "none"]  # fmt: skip
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("bench/results/training/runs"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/analysis"))
    parser.add_argument("--plots", default="", help="comma-separated run names to plot")
    parser.add_argument("--words", type=int, default=64)
    args = parser.parse_args()

    from models import analyze, load_run, plot_analysis

    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for folder in sorted(p.parent for p in args.runs.glob("*/model.safetensors")):
        began = time.perf_counter()
        model, model_config, config, step = load_run(folder, "reference")
        report = analyze(model.double(), config.task, words=args.words, length=config.train_length, lengths=LENGTHS,
                         seed=1)  # fmt: skip
        rows.append({"run": folder.name, "task": config.task, "n_h": model_config.num_householder,
                     "beta_range": "0,2" if model_config.allow_neg_eigval else "0,1",
                     "gate": model_config.use_forget_gate,
                     "layers": model_config.num_layers, "step": step, "summary": summarise(report)})  # fmt: skip
        if folder.name in args.plots.split(","):
            plot_analysis(report, args.out / folder.name)
        print(f"{folder.name}: {time.perf_counter() - began:.1f} s", flush=True)
    (args.out / "summary.json").write_text(json.dumps(rows, indent=1))
    (args.out / "table.md").write_text(table(rows))
    print(table(rows))


if __name__ == "__main__":
    main()
