"""``deltaproof train``, ``evaluate``, ``analyze`` and ``construct``: the command line of :mod:`models` (training a
Gated DeltaProduct model on a word problem or a regular language through our kernels, measuring and analysing a
saved run, and writing a compiled construction as a run directory that they load like a trained one).

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

__all__ = ["run_train", "run_evaluate", "run_analyze", "run_construct"]


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
                        use_forget_gate=args.gate, use_short_conv=args.short_conv,
                        use_output_gate=args.output_gate)  # fmt: skip
    try:
        train = TrainConfig(task=args.task, steps=args.steps, batch=args.batch, lr=args.lr,
                            train_length=args.train_length, eval_lengths=tuple(args.eval_lengths),
                            eval_every=args.eval_every, seed=args.seed, device=args.device,
                            backend=args.backend, schedule=args.schedule, autocast=args.autocast)  # fmt: skip
    except ValueError as err:
        raise CommandError(f"--{str(err).split(':')[0].replace('_', '-')}: {str(err).split(': ', 1)[1]}") from None
    return model, train


def _check_new_run(out, hint: str = "") -> None:
    """Refuse, before any work, an ``--out`` that is not a new or empty folder a run can be written to."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CommandError(f"--out: {out} exists and is not an empty folder{hint}")
    check_output("--out", out / "config.json")


def run_train(args, console, note, progress) -> int:
    from models import train

    model, config = _configs(args)
    if args.resume:
        if not (args.out / "config.json").exists():
            raise CommandError(f"--out: {args.out} holds no run to resume (no config.json)")
    else:
        _check_new_run(args.out, " (pass --resume to continue it)")
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


def _load(args):
    """(model on its device, train config, step) of ``args.run``: on the run's device where there is one, else
    on the CPU, where a run trained through our Triton kernels or fla's is evaluated through the reference
    backend unless ``--backend`` says otherwise (the interpreter takes no bfloat16)."""
    import torch

    from models import load_run

    try:
        model, _, config, step = load_run(args.run, args.backend)
    except (ValueError, OSError) as err:
        raise CommandError(f"run: {err}") from None
    device = config.device if config.device == "cpu" or torch.cuda.is_available() else "cpu"
    if device != config.device and args.backend is None:
        model, _, config, step = load_run(args.run, "reference")
    return model.to(device), config, step


def run_evaluate(args, console, note, progress) -> int:
    from models import evaluate

    if args.json is not None:
        check_output("--json", args.json, (".json",))
    model, config, step = _load(args)
    lengths = args.lengths or config.eval_lengths
    with progress(f"evaluating {args.run}", None):
        result = evaluate(model, config.task, lengths, args.batch, args.seed, config.autocast)
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


def run_analyze(args, console, note, progress) -> int:
    """``deltaproof analyze``: :func:`models.analyze` of a run directory, a summary table, the JSON and the
    plots (:func:`models.plot_analysis`)."""
    from models import analyze, plot_analysis, task

    if args.json is not None:
        check_output("--json", args.json, (".json",))
    if args.plot is not None:
        check_output("--plot", args.plot.with_name(args.plot.name + "_spectra.png"), (".png",))
    model, config, step = _load(args)
    spec = args.task or config.task
    try:
        task(spec)
    except ValueError as err:
        raise CommandError(f"--task: {err}") from None
    lengths = args.lengths or config.eval_lengths
    with progress(f"analysing {args.run} on {spec}", None):
        try:
            report = analyze(model, spec, words=args.words, length=args.length or config.train_length,
                             lengths=lengths, seed=args.seed)  # fmt: skip
        except ValueError as err:
            raise CommandError(f"--task: {err}") from None
    report = {"run": str(args.run), "step": step, **report}
    table = Table("layer", "head", "non-real λ", "n_h 2 criterion", "‖AᵀA − I‖", "|λ| max", "μ₁ per token",
                  "relation error", "spectral match", "β median (max)", "probe: state", "probe: o_t")  # fmt: skip
    for index, layer in enumerate(report["layers"]):
        for h, head in enumerate(layer["heads"]):
            betas = [e["beta"] for e in head["symbols"].values()]
            median = sorted(b[2] for b in betas)[len(betas) // 2]
            table.add_row(str(index), str(h), f"{head['nonreal_fraction']:.3f}",
                          "—" if head["nh2_criterion_fraction"] is None else f"{head['nh2_criterion_fraction']:.3f}",
                          f"{head['orthogonality']:.3g}", f"{head['modulus'][-1]:.4f}", f"{head['lyapunov'][0]:.2g}",
                          "—" if head["relation_error"] is None else f"{head['relation_error']:.3g}",
                          "—" if head["spectral_match"] is None else f"{head['spectral_match']:.3g}",
                          f"{median:.3f} ({max(b[-1] for b in betas):.3f})",
                          f"{layer['probe_accuracy']['accuracy']:.3f}",
                          f"{layer['probe_accuracy']['output']['accuracy']:.3f}")  # fmt: skip
    console.print(table)
    accuracy = report["model"]["accuracy"]
    console.print("model accuracy: " + ", ".join(
        f"T = {n}: {accuracy[n]:.3f} (first position below 0.99: {report['model']['first_error'][n] or 'none'})"
        for n in accuracy))  # fmt: skip
    safe = report["model"]["safe_length"]
    console.print(f"decisions (1 % of words wrong) at T = {safe['test_length']}: measured from position "
                  f"{safe['measured'] or 'none'}; predicted from positions ≤ {safe['train_length']}: "
                  f"{safe['probabilistic'] or 'never'} (margin drifting, √T spread), "
                  f"{safe['worst'] or 'never'} (1 % quantile drifting)")  # fmt: skip
    if args.json is not None:
        write_output("--json", args.json, json_text(report), note)
        note(f"wrote {args.json}")
    if args.plot is not None:
        for path in plot_analysis(report, args.plot):
            note(f"wrote {path}")
    return 0


def _construction(spec: str, layers: int, budget):
    """The compiled program of a task spec: a group's (``layers`` 1: compile_group; 2: compile_layers, Z_m and D_m)
    or a language's (compile_automaton at the budget); errors name the option."""
    from models import task
    from models.tasks import StateTracking
    from theory.programs import compile_group, compile_layers
    from theory.programs.dfa_to_layers import compile_automaton

    try:
        problem = task(spec)
    except ValueError as err:
        raise CommandError(f"--task: {err}") from None
    if isinstance(problem, StateTracking):
        if problem.accept:
            raise CommandError(f"--task: a construction decodes the DFA's state, not acceptance: drop ':accept' "
                               f"from {spec!r}")  # fmt: skip
        if layers != 1:
            raise CommandError(f"--layers: a language's layers come from its automaton (--nh sets the budget), "
                               f"got --layers {layers}")  # fmt: skip
        return problem, compile_automaton(problem.automaton, n_h=budget)
    if budget != "auto":
        raise CommandError(f"--nh: a group program's factors come from its construction, got --nh {budget}")
    return problem, compile_group(spec) if layers == 1 else compile_layers(spec, layers=layers)


def run_construct(args, console, note, progress) -> int:
    """``deltaproof construct``: :func:`models.from_program` of the task's compiled program, written as a run
    directory (config.json, model.safetensors; no optimizer, step 0) that evaluate and analyze load, after
    checking that the model decodes ``--check-words`` random words as the task's labels."""
    import torch
    from safetensors.torch import save_file

    from models import TrainConfig, from_program

    _check_new_run(args.out)
    problem, program = _construction(args.task, args.layers, args.nh)
    try:
        model = from_program(program, dtype=torch.float32, backend="reference")
    except ValueError as err:
        raise CommandError(f"--task: {err}") from None
    tokens, labels = problem.batch((args.seed,), args.check_words, args.check_length)
    with torch.no_grad():
        right = float((model(tokens).argmax(-1) == labels).double().mean())
    if right < 1:
        raise CommandError(f"--task: the model of {args.task!r} decodes only {right:.1%} of {args.check_words} "
                           f"words × {args.check_length} as the task (a bug: please report it)")  # fmt: skip
    config = TrainConfig(task=args.task, steps=1, train_length=args.check_length)
    table = Table("task", "construction", "layers", "heads × dim", "n_h", "hidden", "decoded")
    table.add_row(args.task, program.construction, str(model.config.num_layers),
                  f"{model.config.num_heads} × {model.config.head_dim}", str(model.config.num_householder),
                  str(model.config.hidden), f"{args.check_words} × {args.check_length}: all")  # fmt: skip
    write_output("--out", args.out / "config.json",
                 json_text({"model": model.config.to_dict(), "train": config.to_dict()}), note)  # fmt: skip
    weights = {name: value.contiguous() for name, value in model.state_dict().items()}
    write_output("--out", args.out / "model.safetensors", lambda path: save_file(weights, str(path)))
    console.print(table)
    note(f"wrote {args.out} (config.json, model.safetensors): deltaproof evaluate / analyze load it")
    return 0
