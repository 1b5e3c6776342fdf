"""Sequence-to-sequence tasks from the toolkit's own generators: the word problem of a group (the running
product at every position, :func:`theory.groups.running_products`, the labels ``deltaproof export`` writes;
parity is ``Z2``) and the state tracking of a regular language (the DFA's state after every prefix, or whether
the prefix is accepted, :mod:`theory.automata.dfa` — the automata ``deltaproof automaton`` compiles). Letters
are uniform: for a language with a sink (Tomita 1, the Dyck languages) most long words end in it. Batches are
drawn from a numpy generator seeded by (seed, step), so any step's data can be drawn again (a resumed run sees
the data an uninterrupted one would)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from theory.automata.dfa import Automaton, from_regex, language
from theory.groups import Group, parse_group, running_products

__all__ = ["WordProblem", "StateTracking", "task"]

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


@dataclass(frozen=True)
class StateTracking:
    """Tokens are letter indices of ``automaton`` (uniform); labels its state after every prefix, or with
    ``accept`` 1 where the prefix is accepted and 0 where not."""

    spec: str
    automaton: Automaton
    accept: bool = False

    @property
    def vocab_size(self) -> int:
        return len(self.automaton.letters)

    @property
    def num_classes(self) -> int:
        return 2 if self.accept else len(self.automaton.states)

    def batch(self, seed: tuple[int, ...], batch: int, length: int, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens, labels), int64 [batch, length] each, from ``np.random.default_rng(seed)``."""
        words = np.random.default_rng(seed).integers(0, self.vocab_size, size=(batch, length))
        delta = np.asarray(self.automaton.delta, dtype=np.int64)
        states = np.empty_like(words)
        q = np.full(batch, self.automaton.initial, dtype=np.int64)
        for t in range(length):
            q = delta[q, words[:, t]]
            states[:, t] = q
        if self.accept:
            states = np.isin(states, self.automaton.final).astype(np.int64)
        return torch.from_numpy(words).to(device), torch.from_numpy(states).to(device)


def task(spec: str) -> WordProblem | StateTracking:
    """The task of a spec: a group of at most MAX_TASK_ORDER elements, ``lang:NAME`` for
    a built-in language (:func:`theory.automata.dfa.language`) or ``regex:ALPHABET:RE`` for a regular
    expression over one-character symbols; a language spec ending in ``:accept`` labels acceptance instead
    of the state."""
    if not isinstance(spec, str):
        raise ValueError(f"task: expected a group spec, lang:NAME or regex:ALPHABET:RE, got {spec!r}")
    if spec.startswith(("lang:", "regex:")):
        body, accept = (spec[: -len(":accept")], True) if spec.endswith(":accept") else (spec, False)
        if body.startswith("lang:"):
            automaton = language(body[len("lang:") :])
        else:
            alphabet, sep, regex = body[len("regex:") :].partition(":")
            if not sep:
                raise ValueError(f"task: expected regex:ALPHABET:RE, got {spec!r}")
            automaton = from_regex(regex, alphabet)
        return StateTracking(spec, automaton, accept)
    group = parse_group(spec)
    group.check_order(MAX_TASK_ORDER, "a word-problem task", "a smaller group")
    return WordProblem(spec, group)
