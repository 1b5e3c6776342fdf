"""Run a compiled program through a kernel backend and decode every position.

The state is read **only through the kernel's outputs**: the program's state dimension d becomes d heads
that share the keys and betas, head i starting from h_0 (value dimension 1) with query e_i and scale 1,
so o_t[head i] = (H_t)_i. Exact states come from the group (the running product's orbit point
ρ(g_t) h_0), never from a float64 recurrence, so long words need no reference run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kernels import delta_product
from theory.constructions import Program
from theory.groups import parse_group

__all__ = ["Simulation", "simulate", "random_words"]


@dataclass(frozen=True)
class Simulation:
    """``accuracy``: fraction of all positions decoded correctly; ``first_error``: smallest 0-based position
    of a wrong decode over all words (None if none); ``max_state_error``: largest |read-out − exact| entry."""

    accuracy: float
    first_error: int | None
    max_state_error: float
    words: int
    length: int


def random_words(order: int, words: int, length: int, seed: int = 0) -> np.ndarray:
    """``words`` × ``length`` element indices, uniform over the group."""
    return np.random.default_rng(seed).integers(0, order, size=(words, length))


def _float(x) -> np.ndarray:
    return np.array([[float(e) for e in row] for row in x], dtype=np.float64)


def simulate(
    program: Program,
    words: np.ndarray,
    *,
    dtype: torch.dtype = torch.float64,
    backend: str = "reference",
    device: str = "cpu",
    mode: str = "chunk",
    chunk_size: int = 64,
) -> Simulation:
    """Feed ``words`` (element indices, shape [W, T]) through ``kernels.delta_product`` and decode."""
    words = np.asarray(words)
    if words.ndim != 2 or words.size and (words.min() < 0 or words.max() >= len(program.keys)):
        raise ValueError(f"words: expected [W, T] element indices in [0, {len(program.keys)}), got shape {words.shape}")
    group = parse_group(program.group)
    n_words, length = words.shape
    d, n_h = program.dim, program.n_h
    keys = np.stack([_float(k) for k in program.keys])  # [|G|, n_h, d]
    betas = np.array([[float(b) for b in bs] for bs in program.betas])  # [|G|, n_h]
    readouts = _float(program.readouts)  # [|G|, d]
    k = torch.tensor(keys[words].reshape(n_words, length * n_h, 1, d)).expand(-1, -1, d, -1)
    beta = torch.tensor(betas[words].reshape(n_words, length * n_h, 1)).expand(-1, -1, d)
    v = torch.zeros(n_words, length * n_h, d, 1, dtype=torch.float64)
    q = torch.eye(d, dtype=torch.float64).expand(n_words, length, d, d)
    h0 = torch.tensor(_float([program.initial_state])[0]).reshape(1, 1, d, 1).expand(n_words, d, d, 1)
    cast = dict(dtype=dtype, device=device)
    wide = dict(dtype=torch.float64 if dtype == torch.float64 else torch.float32, device=device)  # β, h_0
    o, _ = delta_product(
        q.to(**cast),
        k.to(**cast),
        v.to(**cast),
        beta.to(**wide),
        num_householder=n_h,
        scale=1.0,
        initial_state=h0.to(**wide),
        mode=mode,
        chunk_size=chunk_size,
        backend=backend,
    )
    states = o[..., 0].double().cpu().numpy()  # [W, T, d]
    exact_index = np.empty_like(words)
    for w in range(n_words):
        acc = group.elements[0]
        for t, x in enumerate(words[w]):
            acc = acc * group.elements[x]
            exact_index[w, t] = group.index[acc]
    exact_states = readouts[exact_index]
    distances = ((states[..., None, :] - readouts[None, None]) ** 2).sum(-1)
    decoded = distances.argmin(-1)
    wrong = decoded != exact_index
    positions = np.nonzero(wrong.any(0))[0]
    return Simulation(
        accuracy=float(1 - wrong.mean()) if wrong.size else 1.0,
        first_error=int(positions[0]) if positions.size else None,
        max_state_error=float(np.abs(states - exact_states).max()) if states.size else 0.0,
        words=n_words,
        length=length,
    )
