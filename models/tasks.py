"""Sequence-to-sequence tasks from the toolkit's own generators: the word problem of a group (the running
product at every position, :func:`theory.groups.running_products`, the labels ``deltaproof export`` writes).
Parity is ``Z2``. Batches are drawn from a numpy generator seeded by (seed, step), so any step's data can be
drawn again (a resumed run sees the data an uninterrupted one would)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from theory.groups import Group, parse_group, running_products

__all__ = ["WordProblem", "task"]

MAX_TASK_ORDER = 10_000


@dataclass(frozen=True)
class WordProblem:
    """Tokens are element indices of ``group`` (uniform), labels the running products."""

    spec: str
    group: Group

    @property
    def vocab_size(self) -> int:
        return self.group.order

    @property
    def num_classes(self) -> int:
        return self.group.order

    def batch(self, seed: tuple[int, ...], batch: int, length: int, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens, labels), int64 [batch, length] each, from ``np.random.default_rng(seed)``."""
        words = np.random.default_rng(seed).integers(0, self.group.order, size=(batch, length))
        labels = running_products(self.group, words)
        return torch.from_numpy(words).to(device), torch.from_numpy(labels).to(device)


def task(spec: str) -> WordProblem:
    """The task of a spec: a group spec (``S3``, ``A5``, ``Z2`` for parity, ``D4``, ``A4xZ3``, …) of at most
    MAX_TASK_ORDER elements."""
    if not isinstance(spec, str):
        raise ValueError(f"task: expected a group spec such as S3, A5 or Z2, got {spec!r}")
    group = parse_group(spec)
    group.check_order(MAX_TASK_ORDER, "a word-problem task", "a smaller group")
    return WordProblem(spec, group)
