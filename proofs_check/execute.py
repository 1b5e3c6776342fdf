"""Program → kernel → decode: run a compiled program through a kernel backend and decode every position.

The state is read **only through the kernel's outputs**: a layer's state dimension d becomes d heads that
share the keys, betas and values, head i starting from h_0 (value dimension 1) with query e_i and scale 1,
so o_t[head i] = (H_t)_i. Every layer runs through the kernel; its input symbols come from the tokens and
the *decoded kernel outputs* of the layers below. Exact states never come from a float64 recurrence: for
one-layer group programs they are the orbit points ρ(g_t) h_0 of the running product (what the group proof
of :func:`theory.programs.prove` establishes); for the others they are the exact interpreter's
(:func:`theory.programs.interpret.run`: transition tables looked up after the first visit of each
(symbol, state) pair).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kernels import delta_product
from theory.programs.interpret import Context, check_words, run
from theory.programs.ir import ONE_LAYER, Layer, Program

__all__ = ["Simulation", "Exact", "simulate", "exact_run", "random_words", "exact_floats", "kernel_states", "DTYPES"]

DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Simulation:
    """``accuracy``: fraction of all positions decoded correctly; ``first_error``: smallest 0-based position
    of a wrong decode over all words (None if none); ``max_state_error``: largest |read-out − exact| entry
    over positions, words and layers; ``accuracy_by_position`` [T]: fraction of the words decoded correctly
    at each position; ``decoded`` [W, T]: what was decoded (an element index, or a DFA program's state; −1
    where the kernel's outputs reach a (symbol, output) pair of a chain table that no word reaches)."""

    accuracy: float
    first_error: int | None
    max_state_error: float
    words: int
    length: int
    accuracy_by_position: np.ndarray
    decoded: np.ndarray


def random_words(order: int, words: int, length: int, seed: int = 0) -> np.ndarray:
    """``words`` × ``length`` element indices, uniform over the group."""
    return np.random.default_rng(seed).integers(0, order, size=(words, length))


def exact_floats(x) -> np.ndarray:
    """Rows of exact numbers (nested tuples) → a float64 array, each entry rounded once."""
    return np.array([[float(e) for e in row] for row in x], dtype=np.float64)


def kernel_states(layer: Layer, symbols: np.ndarray, values, options: dict) -> np.ndarray:
    """States [W, T, d] of one layer on input symbols [W, T], read through the kernel's outputs: one head per
    state coordinate i, each holding the whole state as its [K, 1] matrix and reading h_i with q = e_i
    (scale 1). With ``options["width"]`` = n > d the state is padded with n − d zero coordinates and heads
    (keys, queries and h_0 zero there, so those coordinates stay exactly 0 and add exact zeros to every sum).
    A layer with resets passes the log-gate −inf at its reset symbols and 0 elsewhere."""
    n_words, length = symbols.shape
    d, n_h = layer.dim, layer.n_h
    n = max(d, options["width"] or d)
    keys = np.zeros((len(layer.keys), n_h, n))
    keys[..., :d] = np.stack([exact_floats(k) for k in layer.keys])  # [S, n_h, n]
    betas = exact_floats(layer.betas)  # [S, n_h]
    k = torch.tensor(keys[symbols].reshape(n_words, length * n_h, 1, n)).expand(-1, -1, n, -1)
    beta = torch.tensor(betas[symbols].reshape(n_words, length * n_h, 1)).expand(-1, -1, n)
    v = torch.tensor(values[symbols].reshape(n_words, length * n_h, 1, 1)).expand(-1, -1, n, -1)
    q = torch.eye(n, dtype=torch.float64).expand(n_words, length, n, n)
    h0 = torch.zeros(n, dtype=torch.float64)
    h0[:d] = torch.tensor(exact_floats([layer.initial_state])[0])
    h0 = h0.reshape(1, 1, n, 1).expand(n_words, n, n, 1)
    dtype, device = options["dtype"], options["device"]
    cast = dict(dtype=dtype, device=device)
    wide = dict(dtype=torch.float64 if dtype == torch.float64 else torch.float32, device=device)  # β, g, h_0
    g = None
    if layer.resets:
        g = torch.tensor(layer.log_gates()[symbols])[..., None].expand(-1, -1, n).to(**wide)  # [W, T, n]
    o, _ = delta_product(q.to(**cast), k.to(**cast), v.to(**cast), beta.to(**wide), g=g, num_householder=n_h,
                         scale=1.0, initial_state=h0.to(**wide), mode=options["mode"],
                         chunk_size=options["chunk_size"], backend=options["backend"])  # fmt: skip
    return o[..., :d, 0].double().cpu().numpy()


def _decode(states: np.ndarray, readouts: np.ndarray, block: int = 1 << 14) -> np.ndarray:
    """Index of the nearest readout at every position (in blocks of positions: the distance table of a
    million positions to 120 readouts would not fit in memory)."""
    out = np.empty(states.shape[:-1], dtype=np.int64)
    flat, result = states.reshape(-1, states.shape[-1]), out.reshape(-1)
    for start in range(0, flat.shape[0], block):
        part = flat[start : start + block]
        result[start : start + block] = ((part[:, None, :] - readouts[None]) ** 2).sum(-1).argmin(-1)
    return out


def _tracked_states(context: Context, words: np.ndarray) -> np.ndarray:
    """The running product (a DFA program: the DFA's state) after every prefix [W, T]."""
    exact = np.empty_like(words)
    for w in range(words.shape[0]):
        acc = context.start
        for t, x in enumerate(words[w]):
            acc = exact[w, t] = context.step(acc, int(x))
    return exact


@dataclass(frozen=True)
class Exact:
    """The exact reference of a batch of words, computed once for any number of kernel runs: the running
    products [W, T] and every layer's exact states [W, T, d]."""

    products: np.ndarray
    layer_states: tuple


def exact_run(program: Program, words: np.ndarray) -> Exact:
    """Exact products and layer states of ``words`` (element indices [W, T]) under ``program``."""
    context = Context(program)
    words = check_words(words, context.tokens)
    products = _tracked_states(context, words)
    if program.construction in ONE_LAYER:
        return Exact(products, (exact_floats(program.layer.readouts)[products],))
    return Exact(products, run(program, words).states)


def _at(outputs: np.ndarray, w: int, t: int):
    """One position's decoded output: an index, or a tuple of level indices for grid layers."""
    return int(outputs[w, t]) if outputs.ndim == 2 else tuple(int(v) for v in outputs[w, t])


PER_POSITION = ("block_swaps", "level_swaps", "level_block")  # symbol maps computed position by position


def _layers(program: Program, words: np.ndarray, exact: tuple, options: dict) -> tuple[np.ndarray, float]:
    """Decoded elements [W, T] and the largest state error of a program, layer by layer through the kernel;
    each layer's symbols come from the tokens and the decoded kernel outputs below it."""
    context = Context(program)
    context.unreached = np.zeros(words.shape, dtype=bool)
    one = Context(program)  # position by position, every symbol recomputed from ints (none fixed)
    below: list[np.ndarray] = []
    state_error = 0.0
    positions = [(w, t) for w in range(words.shape[0]) for t in range(words.shape[1])]
    for index, (layer, exact_states) in enumerate(zip(program.layers, exact)):
        if layer.symbol_map in PER_POSITION:
            symbols = np.zeros_like(words)
            for w, t in positions:
                try:
                    symbols[w, t] = one.symbol(layer, int(words[w, t]), [_at(b, w, t) for b in below])
                except ValueError:  # a pair that no word reaches, met through a wrong kernel output: a wrong position
                    context.unreached[w, t] = True
            context.fixed[index] = symbols  # the chain maps above read these, not a recomputation on arrays
        else:
            symbols = context.symbol(layer, words, below)
        states = kernel_states(layer, symbols, exact_floats(layer.values), options)
        levels = exact_floats(layer.readouts)
        if layer.decode == "grid":
            below.append(np.abs(states[..., None] - levels[:, 0]).argmin(-1))
        else:
            below.append(_decode(states, levels))
        if states.size:
            state_error = float(np.maximum(state_error, np.abs(states - exact_states).max()))  # NaN propagates
    if program.decoder_name == "lookup":
        return np.asarray(program.decoder)[below[-1]], state_error
    if program.decoder_name == "chain":
        decoded = context.element(words, below)
        decoded[context.unreached] = -1
        return decoded, state_error
    decoded = np.zeros_like(words)
    for w, t in positions:
        decoded[w, t] = one.element(int(words[w, t]), [_at(b, w, t) for b in below])
    return decoded, state_error


def simulate(
    program: Program,
    words: np.ndarray,
    *,
    dtype: torch.dtype = torch.float64,
    backend: str = "reference",
    device: str = "cpu",
    mode: str = "chunk",
    chunk_size: int = 64,
    exact: Exact | None = None,
    width: int | None = None,
) -> Simulation:
    """Feed ``words`` (element indices, shape [W, T]) through ``kernels.delta_product`` and decode; ``exact``
    (from :func:`exact_run` on the same program and words) saves recomputing the reference. ``width`` pads
    every narrower layer's state with zero coordinates up to that size (exact: see :func:`kernel_states`), so that
    programs of different dimensions share one kernel shape — one compilation of ours and one autotuning
    of fla's per dtype instead of one per dimension."""
    words = check_words(words, Context(program).tokens)
    if width is not None and (not isinstance(width, int) or width < 1):
        raise ValueError(f"width: expected a positive integer or None, got {width!r}")
    exact = exact_run(program, words) if exact is None else exact
    options = dict(dtype=dtype, backend=backend, device=device, mode=mode, chunk_size=chunk_size, width=width)
    decoded, state_error = _layers(program, words, exact.layer_states, options)
    wrong = decoded != exact.products
    positions = np.nonzero(wrong.any(0))[0]
    return Simulation(
        accuracy=float(1 - wrong.mean()) if wrong.size else 1.0,
        first_error=int(positions[0]) if positions.size else None,
        max_state_error=state_error,
        words=words.shape[0],
        length=words.shape[1],
        accuracy_by_position=1 - wrong.mean(0) if words.shape[0] else np.ones(words.shape[1]),
        decoded=decoded,
    )
