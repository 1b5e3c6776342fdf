"""Training runs on the toolkit's tasks: the papers' qualitative claims, each configuration with several seeds.

    python bench/training.py --out bench/results/training --device cuda --workers 8 [--only task=S3|A5]
    python bench/training.py --report bench/results/training       # results.json, table.md, accuracy.png again

The configurations (:data:`RUNS`; one layer unless stated, train length 64, evaluation at 64, 256 and 1024):
parity (Z2) with β ∈ [0, 1] and [0, 2] (Grazzi et al.: only negative eigenvalues extrapolate); S3 with
n_h = 1 and 2, S4 and A5 with n_h = 2, 3, 4, S5 with n_h = 4 (Siems et al.); Z5 with a forget gate, one and
two layers; S3 with n_h = 2 under bfloat16 autocast through our Triton kernels and through fla's (which takes
16-bit inputs only): both kernels train the same model; and S3, S4 and A5 at n_h = 2 without the short
convolution (``-noconv``). These are ``recipe=ours`` (the output gate, ``--heads`` heads); ``recipe=paper``
holds S3, S4 and A5 at n_h = 2 and S5 at n_h = 4 in the DeltaProduct paper's model (:data:`PAPER`), to be run
with its recipe:

    python bench/training.py --out OUT --only recipe=paper --train-length 128 --lengths 128,512 --lr 1e-3 ...

Every run is :func:`models.train` into ``OUT/runs/<name>-s<seed>`` (config, weights, metrics, curves),
``--workers`` runs at a time in spawned processes sharing the device. Runs already finished in ``OUT/runs`` are
kept, not run again, so the grid can be spread over several GPU sessions (``--budget-s`` starts no run after
that many seconds). The report: ``results.json`` (a row per run: its settings, seconds, the final accuracy at
every length), ``table.md`` (mean and minimum over seeds per configuration) and ``accuracy.png`` (accuracy
against the test length, a line per configuration).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from proofs_check.arguments import filters, length_list, passes, positive_int, positive_number, seconds

BASE = dict(layers=1, n_h=2, beta_range="0,2", gate=False, backend="auto", autocast="none", short_conv=True,
            output_gate=True, heads=None, recipe="ours")  # heads None: --heads
PAPER = dict(short_conv=False, output_gate=False, heads=8, recipe="paper")
"""The DeltaProduct paper's state-tracking model (github.com/automl/DeltaProduct, main.py and README): no short
convolution, no output gate, 8 heads of 32 (12 for S5); its recipe trains on length 128 with lr 1e-3 and tests at
512."""
RUNS = {
    "parity-beta01": dict(task="Z2", n_h=1, beta_range="0,1"),
    "parity-beta02": dict(task="Z2", n_h=1),
    "S3-nh1": dict(task="S3", n_h=1),
    "S3-nh2": dict(task="S3", n_h=2),
    **{f"S4-nh{n}": dict(task="S4", n_h=n) for n in (2, 3, 4)},
    **{f"A5-nh{n}": dict(task="A5", n_h=n) for n in (2, 3, 4)},
    "S5-nh4": dict(task="S5", n_h=4),
    "Z5-gated-1layer": dict(task="Z5", gate=True),
    "Z5-gated-2layers": dict(task="Z5", gate=True, layers=2),
    "S3-nh2-bf16": dict(task="S3", n_h=2, backend="triton", autocast="bfloat16"),
    "S3-nh2-fla": dict(task="S3", n_h=2, backend="fla", autocast="bfloat16"),
    **{f"{group}-nh2-noconv": dict(task=group, n_h=2, short_conv=False) for group in ("S3", "S4", "A5")},
    **{f"{group}-nh2-paper": dict(task=group, n_h=2, **PAPER) for group in ("S3", "S4", "A5")},
    "S5-nh4-paper": dict(task="S5", n_h=4, **{**PAPER, "heads": 12}),
}
LENGTHS = (64, 256, 1024)


def plan(only: dict, seeds: int) -> list[dict]:
    """Every run (configuration × seed) whose settings pass ``only`` (:func:`proofs_check.arguments.filters`)."""
    chosen = [{**BASE, **settings, "name": name} for name, settings in RUNS.items()]
    chosen = [run for run in chosen if passes(run, only)]
    return [{**run, "seed": seed} for seed in range(seeds) for run in chosen]  # seed-major: every configuration early


def train_one(run: dict, out: Path, hyper: dict) -> dict:
    """One run into ``out``; returns its report row (settings, seconds, final accuracy by length)."""
    import torch

    from models import ModelConfig, TrainConfig, task, train

    problem = task(run["task"])
    if hyper["device"] == "cpu":
        torch.set_num_threads(hyper["threads"])
    if hyper["device"] == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device here (use --device cpu)")
    model = ModelConfig(vocab_size=problem.vocab_size, num_classes=problem.num_classes, num_layers=run["layers"],
                        num_heads=run["heads"] or hyper["heads"], head_dim=hyper["head_dim"],
                        num_householder=run["n_h"], allow_neg_eigval=run["beta_range"] == "0,2",
                        use_forget_gate=run["gate"], use_short_conv=run["short_conv"],
                        use_output_gate=run["output_gate"])  # fmt: skip
    config = TrainConfig(task=run["task"], steps=hyper["steps"], batch=hyper["batch"], lr=hyper["lr"],
                         schedule=hyper["schedule"], train_length=hyper["train_length"],
                         eval_lengths=tuple(hyper["lengths"]),
                         eval_every=hyper["eval_every"], eval_batch=hyper["eval_batch"], seed=run["seed"],
                         device=hyper["device"], backend=run["backend"], autocast=run["autocast"])  # fmt: skip
    began = time.perf_counter()
    rows = train(model, config, out)
    return {**run, "seconds": round(time.perf_counter() - began, 1), "steps": hyper["steps"], "batch": hyper["batch"],
            "lr": hyper["lr"], "schedule": hyper["schedule"], "train_length": hyper["train_length"],
            "accuracy": rows[-1]["accuracy"], "loss": rows[-1]["loss"]}  # fmt: skip


def report(root: Path) -> list[dict]:
    """results.json, table.md and accuracy.png from every finished run's ``row.json`` under ``root/runs``; the
    model's short convolution, output gate and heads are read from the ``config.json`` beside it (a config written
    before the output gate was a choice has one)."""
    from models import ModelConfig

    rows = []
    for path in sorted((root / "runs").glob("*/row.json")):
        model = ModelConfig.from_dict(json.loads((path.parent / "config.json").read_text())["model"])
        rows.append({**json.loads(path.read_text()), "short_conv": model.use_short_conv,
                     "output_gate": model.use_output_gate, "heads": model.num_heads})  # fmt: skip
    (root / "results.json").write_text(json.dumps(rows, indent=1))
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["name"], []).append(row)
    lengths = sorted({int(n) for row in rows for n in row["accuracy"]})
    head = ("| configuration | task | n_h | β range | layers | gate | short conv | output gate | heads | backend | "
            "autocast | seeds | ") + " | ".join(f"T = {n}: mean (min)" for n in lengths) + " | seconds per run |"
    lines = [head, "|" + "---|" * (13 + len(lengths))]
    for name, runs in groups.items():
        r = runs[0]
        cells = [name, r["task"], r["n_h"], r["beta_range"], r["layers"], r["gate"], r["short_conv"],
                 r["output_gate"], r["heads"], r["backend"], r["autocast"], len(runs)]  # fmt: skip
        for n in lengths:
            accs = [x["accuracy"][str(n)] for x in runs if str(n) in x["accuracy"]]
            cells.append(f"{statistics.mean(accs):.3f} ({min(accs):.3f})" if accs else "—")
        cells.append(f"{statistics.mean(x['seconds'] for x in runs):.0f}")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    (root / "table.md").write_text("\n".join(lines) + "\n")
    _plot(groups, lengths, root / "accuracy.png")
    return rows


def _plot(groups: dict, lengths: list[int], path: Path) -> None:
    """One panel per task: mean accuracy over seeds against the test length, a line per configuration with
    the seeds' range shaded, and the task's chance level (1 / number of classes) dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from models import task

    tasks = list(dict.fromkeys(runs[0]["task"] for runs in groups.values()))
    cols = min(3, max(len(tasks), 1))
    rows = -(-max(len(tasks), 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, tasks):
        for config, runs in groups.items():
            if runs[0]["task"] != name:
                continue
            own = [n for n in lengths if all(str(n) in x["accuracy"] for x in runs)]
            accs = [[x["accuracy"][str(n)] for x in runs] for n in own]
            trained = f", train {runs[0]['train_length']}" if "train_length" in runs[0] else ""
            ax.plot(own, [statistics.mean(a) for a in accs], marker="o", label=f"{config} ({len(runs)}{trained})")
            ax.fill_between(own, [min(a) for a in accs], [max(a) for a in accs], alpha=0.15)
        ax.axhline(1 / task(name).num_classes, color="grey", linestyle="--", linewidth=0.8, label="chance")
        ax.set(xscale="log", title=name, xlabel="test length", ylabel="accuracy", ylim=(0, 1.02))
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _run_and_record(run: dict, out: Path, hyper: dict) -> dict:
    row = train_one(run, out, hyper)
    (out / "row.json").write_text(json.dumps(row, indent=1))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="the results folder (runs/ under it)")
    parser.add_argument("--report", type=Path, help="only rebuild the report of this results folder")
    parser.add_argument("--only", type=filters, default="",
                        help="comma-separated key=value|value filters over a run's settings")  # fmt: skip
    parser.add_argument("--seeds", type=positive_int, default=3)
    parser.add_argument("--workers", type=positive_int, default=1, help="runs at a time (processes sharing the device)")
    parser.add_argument("--budget-s", type=seconds, default=float("inf"), help="start no run after this many seconds")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--steps", type=positive_int, default=3000)
    parser.add_argument("--batch", type=positive_int, default=256)
    parser.add_argument("--lr", type=positive_number, default=1e-3)
    parser.add_argument("--schedule", default="cosine", choices=("constant", "cosine"))
    parser.add_argument("--heads", type=positive_int, default=4)
    parser.add_argument("--head-dim", type=positive_int, default=32)
    parser.add_argument("--train-length", type=positive_int, default=64)
    parser.add_argument("--lengths", type=length_list, default=",".join(map(str, LENGTHS)))
    parser.add_argument("--eval-every", type=positive_int, default=500)
    parser.add_argument("--eval-batch", type=positive_int, default=128)
    args = parser.parse_args()
    if args.report:
        rows = report(args.report)
        print((args.report / "table.md").read_text(), f"{len(rows)} runs", sep="\n")
        return
    if args.out is None:
        parser.error("--out or --report is required")
    hyper = dict(device=args.device, steps=args.steps, batch=args.batch, lr=args.lr, schedule=args.schedule,
                 heads=args.heads,
                 head_dim=args.head_dim, train_length=args.train_length,
                 lengths=list(args.lengths), eval_every=args.eval_every,
                 eval_batch=args.eval_batch, threads=max(1, (os.cpu_count() or 1) // args.workers))  # fmt: skip
    runs = plan(args.only, args.seeds)
    if not runs:
        keys = sorted({key for run in plan({}, 1) for key in run})
        parser.error(f"argument --only: no run passes these filters; a run's settings are {', '.join(keys)}")
    todo = [r for r in runs
            if not (args.out / "runs" / f"{r['name']}-s{r['seed']}" / "row.json").exists()]  # fmt: skip
    began = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn")) as pool:
        pending = {}
        for run in todo:
            folder = args.out / "runs" / f"{run['name']}-s{run['seed']}"
            if folder.exists():  # an unfinished run of an earlier session: started again
                for f in folder.iterdir():
                    f.unlink()
            pending[pool.submit(_run_and_record, run, folder, hyper)] = run
        for future in as_completed(pending):
            run = pending[future]
            try:
                row = future.result()
                print(f"{run['name']} seed {run['seed']}: {row['accuracy']} in {row['seconds']} s", flush=True)
            except Exception as err:  # noqa: BLE001  (a failed run is reported, the others go on)
                print(f"{run['name']} seed {run['seed']}: failed: {type(err).__name__}: {err}", flush=True)
            if time.perf_counter() - began > args.budget_s:
                print(f"budget of {args.budget_s} s spent: cancelling the runs not started", flush=True)
                for other in pending:
                    other.cancel()
    rows = report(args.out)
    print((args.out / "table.md").read_text(), f"{len(rows)} runs", sep="\n")


if __name__ == "__main__":
    main()
