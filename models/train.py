"""Training and evaluation of :class:`models.DeltaProductLM` on a :mod:`models.tasks` task, with checkpoints.

A run directory holds ``config.json`` (the model and training configuration), ``model.safetensors`` (the
parameters), ``optimizer.safetensors`` and ``state.json`` (AdamW's moments and the step reached: what
``resume`` needs), ``metrics.jsonl`` (one object per evaluation: ``step``, ``loss``, ``accuracy`` mapping
each evaluation length, as a string, to its accuracy) and ``curves.png``. Nothing is pickled; every file is
validated on load, naming the bad field.

Data parallel: launched by ``torchrun --nproc_per_node=N``, every process draws the step's global batch
and trains on its share of ``batch / N`` sequences under DistributedDataParallel (gradients averaged: the
global batch's gradient); process 0 evaluates and writes.

Determinism: the model is initialised from ``torch.manual_seed(seed)``, the batch of step s is drawn from
(seed, s) and the evaluation words from (seed, length), so a run on the CPU is reproducible and a resumed
run continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import importlib
import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from models.lm import DeltaProductLM, ModelConfig, config_object
from models.tasks import task as make_task

__all__ = ["TrainConfig", "train", "evaluate", "learning_rate", "load_run", "read_metrics"]

_EVAL_SEED = 1_000_003  # evaluation words come from (seed, _EVAL_SEED, length): never a training step's


@dataclass(frozen=True)
class TrainConfig:
    task: str
    steps: int
    batch: int = 32
    lr: float = 3e-3
    train_length: int = 64
    eval_lengths: tuple[int, ...] = (64, 256, 1024)
    eval_every: int = 100
    eval_batch: int = 64
    seed: int = 0
    device: str = "cpu"
    backend: str = "auto"
    weight_decay: float = 0.0
    clip: float = 1.0
    schedule: str = "constant"  # "cosine": linear warm-up over the first 10 % of the steps, then cosine to lr/100
    autocast: str = "none"  # "bfloat16": forward passes under torch.autocast (fla's kernels take 16-bit inputs only)

    def __post_init__(self):
        for name in ("steps", "batch", "train_length", "eval_every", "eval_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: expected a non-negative integer, got {self.seed!r}")
        if not self.eval_lengths or any(
            isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.eval_lengths
        ):
            raise ValueError(f"eval_lengths: expected positive integers, got {self.eval_lengths!r}")
        for name in ("lr", "weight_decay", "clip"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not value >= 0
                or value == float("inf")
            ):
                raise ValueError(f"{name}: expected a finite number ≥ 0, got {value!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu' or 'cuda', got {self.device!r}")
        if self.backend not in ("auto", "reference", "triton", "fla"):
            raise ValueError(f"backend: expected auto, reference, triton or fla, got {self.backend!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule: expected 'constant' or 'cosine', got {self.schedule!r}")
        if self.autocast not in ("none", "bfloat16"):
            raise ValueError(f"autocast: expected 'none' or 'bfloat16', got {self.autocast!r}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["eval_lengths"] = list(self.eval_lengths)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """A config from ``config.json``'s ``train`` object: every field checked, unknown ones refused."""
        data = config_object(data, cls, "train")
        if "eval_lengths" in data:
            if not isinstance(data["eval_lengths"], list):
                raise ValueError(f"train.eval_lengths: expected a list, got {data['eval_lengths']!r}")
            data["eval_lengths"] = tuple(data["eval_lengths"])
        for name in ("task", "device", "backend", "schedule", "autocast"):
            if name in data and not isinstance(data[name], str):
                raise ValueError(f"train.{name}: expected a string, got {data[name]!r}")
        return cls(**data)


def _autocast(device: torch.device, autocast: str):
    """torch.autocast to bfloat16 where asked (parameters and optimizer stay float32), else nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast == "bfloat16")


def evaluate(model: DeltaProductLM, task_spec: str, lengths, batch: int, seed: int, autocast: str = "none") -> dict:
    """Accuracy of the argmax at every position, per length: {"accuracy": {length: mean}, "by_position":
    {length: [accuracy at position 1 … length]}, "loss": mean cross-entropy at the first length}; the forward
    passes under bfloat16 autocast if ``autocast`` is "bfloat16" (as the run was trained)."""
    task = make_task(task_spec)
    device = next(model.parameters()).device
    result = {"accuracy": {}, "by_position": {}}
    was_training = model.training
    model.eval()
    with torch.no_grad(), _autocast(device, autocast):
        for length in lengths:
            tokens, labels = task.batch((seed, _EVAL_SEED, length), batch, length, device)
            logits = model(tokens, check_ids=False)  # the task's own words
            right = (logits.argmax(-1) == labels).double()
            result["accuracy"][str(length)] = float(right.mean())
            result["by_position"][str(length)] = [round(float(a), 6) for a in right.mean(0)]
            if "loss" not in result:
                result["loss"] = float(F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten()))
    model.train(was_training)
    return result


def _save(out: Path, model, optimizer, step: int) -> None:
    save_file(
        {name: p.detach().contiguous().cpu() for name, p in model.state_dict().items()}, out / "model.safetensors"
    )
    moments = {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            moments[f"{index}.{key}"] = torch.as_tensor(value).detach().contiguous().cpu()
    save_file(moments, out / "optimizer.safetensors")
    (out / "state.json").write_text(json.dumps({"step": step}))


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: expected the run's {what} as JSON ({err})") from None


def load_run(out: Path, backend: str | None = None) -> tuple[DeltaProductLM, ModelConfig, TrainConfig, int]:
    """(model with the saved parameters, its config, the training config, the step reached) of a run directory;
    ``backend`` overrides the saved one. Every file is checked, naming the bad field."""
    out = Path(out)
    config = _read_json(out / "config.json", "configuration")
    if not isinstance(config, dict) or set(config) != {"model", "train"}:
        raise ValueError(f"{out / 'config.json'}: expected an object with 'model' and 'train'")
    model_config, train_config = ModelConfig.from_dict(config["model"]), TrainConfig.from_dict(config["train"])
    model = DeltaProductLM(model_config, backend or train_config.backend)
    try:
        weights = load_file(out / "model.safetensors")
    except (OSError, ValueError) as err:
        raise ValueError(f"{out / 'model.safetensors'}: cannot be read as safetensors ({err})") from None
    expected = model.state_dict()
    for name, tensor in weights.items():
        if name not in expected:
            raise ValueError(f"{out / 'model.safetensors'}: unexpected tensor {name!r}")
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ValueError(f"{out / 'model.safetensors'}: {name}: expected shape {tuple(expected[name].shape)}, "
                             f"got {tuple(tensor.shape)}")  # fmt: skip
    missing = set(expected) - set(weights)
    if missing:
        raise ValueError(f"{out / 'model.safetensors'}: missing tensors {sorted(missing)[:4]}")
    model.load_state_dict(weights)
    state = _read_json(out / "state.json", "state") if (out / "state.json").exists() else {"step": 0}
    step = state.get("step") if isinstance(state, dict) else None
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"{out / 'state.json'}: step: expected a non-negative integer, got {step!r}")
    return model, model_config, train_config, step


def read_metrics(out: Path) -> list[dict]:
    path = Path(out) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _optimizer(model, config: TrainConfig):
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate of step ``step`` (1-based): ``lr`` throughout, or with ``schedule="cosine"`` a linear
    warm-up lr·s/w over the first w = ⌈steps/10⌉ steps, then lr/100 + (lr − lr/100)·(1 + cos(π p))/2 with
    p = (s − w)/(steps − w). A function of the step alone, so a resumed run follows the same schedule."""
    if config.schedule == "constant":
        return config.lr
    warm = -(-config.steps // 10)
    if step <= warm:
        return config.lr * step / warm
    progress = (step - warm) / max(config.steps - warm, 1)
    floor = config.lr / 100
    return floor + (config.lr - floor) * (1 + math.cos(math.pi * progress)) / 2


def train(
    model_config: ModelConfig,
    config: TrainConfig,
    out: Path,
    resume: bool = False,
    on_step: Callable[[int, float], None] | None = None,
    on_eval: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train to ``config.steps`` steps (from the last checkpoint in ``out`` if ``resume``), evaluating every
    ``eval_every`` steps and at the end; returns every metrics row of the run directory."""
    out = Path(out)
    task = make_task(config.task)
    if (task.vocab_size, task.num_classes) != (model_config.vocab_size, model_config.num_classes):
        need, got = (task.vocab_size, task.num_classes), (model_config.vocab_size, model_config.num_classes)
        raise ValueError(f"model: {config.task} needs (vocab_size, num_classes) = {need}, got {got}")
    if config.device == "cuda" and not torch.cuda.is_available():  # checked here, not in TrainConfig: a run
        # trained on a GPU still loads and evaluates on a machine without one
        raise ValueError("device: 'cuda' requested but torch sees no CUDA GPU")
    with _process_group(config) as (rank, world, device):
        if config.batch % world:
            raise ValueError(f"batch: the global batch {config.batch} must divide over the {world} processes")
        start = 0
        if resume:
            model, saved_model, saved_train, start = load_run(out)
            if saved_model != model_config:
                raise ValueError(f"resume: {out} holds a different model ({saved_model}); start a new directory")
            if {k: v for k, v in saved_train.to_dict().items() if k != "steps"} != {
                k: v for k, v in config.to_dict().items() if k != "steps"}:  # fmt: skip
                raise ValueError(f"resume: {out} was trained with other settings; only --steps may change")
            model.to(device)
            optimizer = _optimizer(model, config)
            moments = load_file(out / "optimizer.safetensors", device=str(device))
            state = {}
            for key, value in moments.items():
                index, name = key.split(".", 1)
                state.setdefault(int(index), {})[name] = value.cpu() if name == "step" else value
            optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})
        else:
            if out.exists() and any(out.iterdir()):
                raise ValueError(f"out: {out} is not empty (pass resume to continue its run)")
            _barrier(world)  # every process has checked before the first writes
            torch.manual_seed(config.seed)
            model = DeltaProductLM(model_config, config.backend).to(device)
            optimizer = _optimizer(model, config)
            if rank == 0:
                out.mkdir(parents=True, exist_ok=True)
                (out / "config.json").write_text(
                    json.dumps({"model": model_config.to_dict(), "train": config.to_dict()}, indent=1)
                )
        net = model
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model)
        model.train()
        share = config.batch // world
        for step in range(start + 1, config.steps + 1):
            tokens, labels = task.batch((config.seed, step), config.batch, config.train_length, device)
            tokens, labels = tokens[rank * share : (rank + 1) * share], labels[rank * share : (rank + 1) * share]
            with _autocast(device, config.autocast):
                loss = F.cross_entropy(net(tokens, check_ids=False).flatten(0, 1).float(), labels.flatten())
            optimizer.zero_grad(set_to_none=True)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step)
            loss.backward()  # under DDP the gradients arrive averaged over the processes: the global batch's
            if config.clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            loss = _mean_over_processes(loss.detach(), world)
            if on_step and rank == 0:
                on_step(step, float(loss))
            if step % config.eval_every == 0 or step == config.steps:
                if rank == 0:
                    result = evaluate(model, config.task, config.eval_lengths, config.eval_batch, config.seed,
                                      config.autocast)  # fmt: skip
                    row = {"step": step, "train_loss": float(loss), "loss": result["loss"],
                           "accuracy": result["accuracy"]}  # fmt: skip
                    with open(out / "metrics.jsonl", "a") as f:
                        f.write(json.dumps(row) + "\n")
                    _save(out, model, optimizer, step)
                    if on_eval:
                        on_eval(row)
                _barrier(world)
        del net  # DDP holds the process group: let it go before the group is destroyed
        rows = read_metrics(out)
        if rank == 0:
            _plot(rows, out / "curves.png")
        return rows


@contextmanager
def _process_group(config: TrainConfig) -> Iterator[tuple[int, int, torch.device]]:
    """(rank, world size, this process's device) for the body of the ``with``. Under torchrun (WORLD_SIZE > 1)
    the default process group is started if it is not yet — NCCL on CUDA, gloo on the CPU — and each process
    takes the GPU of its LOCAL_RANK; otherwise one process.

    A group started here is destroyed on leaving, which joins gloo's worker threads: a thread left running
    can release a finished collective's tensors while the interpreter finalises and abort the process
    ("terminate called without an active exception"; torchrun then reports the run failed). Destroying is not
    enough alone: with torch 2.13, importing ``torch._dynamo`` while a group exists (AdamW and DDP import it
    lazily) keeps that group alive in C++ past ``destroy_process_group``, its threads running; imported
    before the group starts, it does not."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield 0, 1, torch.device(config.device)
        return
    import torch.distributed as dist

    device = torch.device("cpu")
    if config.device == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    started = not dist.is_initialized()
    if started:
        importlib.import_module("torch._dynamo")  # before the group: see the docstring

        dist.init_process_group("nccl" if config.device == "cuda" else "gloo")
    try:
        yield dist.get_rank(), dist.get_world_size(), device
    finally:
        if started:
            dist.destroy_process_group()


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


def _mean_over_processes(x: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(x)
        x = x / world
    return x


def _plot(rows: list[dict], path: Path) -> None:
    """Loss and accuracy at each evaluation length against the step."""
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    steps = [r["step"] for r in rows]
    left.plot(steps, [r["loss"] for r in rows], label="eval loss")
    left.plot(steps, [r["train_loss"] for r in rows], label="train loss")
    left.set(xlabel="step", yscale="log", title="loss")
    left.legend(fontsize=8)
    for length in rows[-1]["accuracy"]:
        right.plot(steps, [r["accuracy"][length] for r in rows], label=f"T = {length}")
    right.set(xlabel="step", ylim=(0, 1.02), title="accuracy by length")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
