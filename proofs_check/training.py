"""``deltaproof train`` and ``deltaproof evaluate``: the command line of :mod:`models` (training a Gated
DeltaProduct model on a word problem or a regular language through our kernels, and measuring a saved run by
length and position).

Every argument is checked before any work (the task's group and size, the output folder, CUDA, fla); a bad run
directory is refused naming the file and field. ``train`` prints a table of the evaluations and shows a
progress bar with the loss; under ``torchrun --nproc_per_node=N --no-python deltaproof train …`` it trains
data-parallel (:mod:`models.train`) and process 0 reports; ``evaluate`` prints accuracy by length and writes,
with ``--json``, the accuracy at every position too.
"""

from __future__ import annotations

import os

from rich.table import Table

from proofs_check.command import CommandError, check_output, json_text, write_output

__all__ = ["run_train", "run_evaluate"]


def _configs(args):
    from models import ModelConfig, TrainConfig, task

    try:
        problem = task(args.task)
    except ValueError as err:
        raise CommandError(f"--task: {err}") from None
    if args.backend == "fla":
        from kernels.fla_backend import available

        if not available():
            raise CommandError("--backend: fla is not installed (pip install fla-core), or use auto/triton/reference")
        if args.autocast != "bfloat16":
            raise CommandError("--backend: fla takes bfloat16 or float16 inputs only: add --autocast bfloat16")
    model = ModelConfig(vocab_size=problem.vocab_size, num_classes=problem.num_classes, num_layers=args.layers,
                        num_heads=args.heads, head_dim=args.head_dim, hidden_size=args.hidden,
                        num_householder=args.nh, allow_neg_eigval=args.beta_range == "0,2",
                        use_forget_gate=args.gate, use_short_conv=args.short_conv)  # fmt: skip
    try:
        train = TrainConfig(task=args.task, steps=args.steps, batch=args.batch, lr=args.lr,
                            train_length=args.train_length, eval_lengths=tuple(args.eval_lengths),
                            eval_every=args.eval_every, seed=args.seed, device=args.device,
                            backend=args.backend, schedule=args.schedule, autocast=args.autocast)  # fmt: skip
    except ValueError as err:
        raise CommandError(f"--{str(err).split(':')[0].replace('_', '-')}: {str(err).split(': ', 1)[1]}") from None
    return model, train


def run_train(args, console, note, progress) -> int:
    from models import train

    model, config = _configs(args)
    if args.resume:
        if not (args.out / "config.json").exists():
            raise CommandError(f"--out: {args.out} holds no run to resume (no config.json)")
    else:
        if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
            raise CommandError(f"--out: {args.out} exists and is not an empty folder (pass --resume to continue it)")
        check_output("--out", args.out / "config.json")
    table = Table("step", "train loss", "eval loss", *(f"acc T={n}" for n in config.eval_lengths))
    with progress(f"training on {args.task}", config.steps) as advance:

        def on_step(step, loss):
            advance(step, f"training on {args.task} (loss {loss:.3g})")

        rows = train(model, config, args.out, resume=args.resume, on_step=on_step)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun process 0 reports
        return 0
    for row in rows:
        table.add_row(str(row["step"]), f"{row['train_loss']:.3g}", f"{row['loss']:.3g}",
                      *(f"{row['accuracy'][str(n)]:.3f}" for n in config.eval_lengths))  # fmt: skip
    console.print(table)
    note(f"wrote {args.out} (config.json, model.safetensors, metrics.jsonl, curves.png)")
    return 0


def run_evaluate(args, console, note, progress) -> int:
    from models import evaluate, load_run

    if args.json is not None:
        check_output("--json", args.json, (".json",))
    try:
        model, _, config, step = load_run(args.run, args.backend)
    except (ValueError, OSError) as err:
        raise CommandError(f"run: {err}") from None
    lengths = args.lengths or config.eval_lengths
    with progress(f"evaluating {args.run}", None):
        result = evaluate(model.to(config.device), config.task, lengths, args.batch, args.seed, config.autocast)
    table = Table("length", "accuracy", "first position below 0.99")
    for n in lengths:
        positions = result["by_position"][str(n)]
        first = next((i + 1 for i, a in enumerate(positions) if a < 0.99), None)
        table.add_row(str(n), f"{result['accuracy'][str(n)]:.4f}", "none" if first is None else str(first))
    console.print(table)
    if args.json is not None:
        write_output("--json", args.json, json_text({"run": str(args.run), "task": config.task, "step": step,
                                                     "lengths": list(lengths), **result}), note)  # fmt: skip
        note(f"wrote {args.json}")
    return 0
