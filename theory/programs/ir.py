"""The program IR: one frozen :class:`Program` of one or more :class:`Layer` objects plus its decoder.

A program tracks a group's word problem (running product acc ← acc·x in sympy's notation, x_1 acting
first, :mod:`theory.groups`). Each layer evolves a state h ∈ R^d (one value column) by its input symbol's
n_h sub-steps h ← h + β_j k_j (v_j − k_jᵀh), so A = G_{n_h}⋯G_1 and B = Σ_j G_{n_h}⋯G_{j+1} β_j k_j v_j;
its output is decoded to the index of the nearest of its ``readouts``. Layer l's symbol at position t is
a named map (:data:`theory.programs.interpret.SYMBOL_MAPS`) of the token and the decoded outputs of the
layers below; the program's decoder maps the decoded outputs to a group element.

A one-layer program is a program with one layer: symbol map ``element`` (the token itself), values zero,
readouts the orbit ρ(g) h_0 in element order and the identity lookup as decoder; its ``construction``
names the representation ρ (:data:`ONE_LAYER`). For these the legacy one-layer attributes (``keys``,
``betas``, ``n_h``, ``dim``, ``initial_state``, ``readouts``, ``representation``) read the only layer.

Exact entries are sympy numbers; :meth:`Program.to_json` writes them as text that
:mod:`theory.programs.codec` reads back without evaluating anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import sympy as sp

from theory.automata.dfa import Automaton
from theory.documents import exact_to_text
from theory.householder import gh_product

__all__ = [
    "Layer",
    "Program",
    "BudgetError",
    "ONE_LAYER",
    "FORMAT",
    "MAX_ORDER",
    "MAX_NH",
    "MAX_LAYERS",
    "MAX_DIM",
    "MAX_READOUTS",
    "is_zero",
    "exact_texts",
    "min_distance_squared",
]

FORMAT = "deltaproof.program/2"
MAX_ORDER = 1_000
MAX_NH = 64
MAX_LAYERS = 64
MAX_DIM = 256
MAX_READOUTS = 100_000

ONE_LAYER = ("scalar", "permutation", "orthogonal")


class BudgetError(ValueError):
    """A budget (n_h, layers) below what the theory supports for this group and representation."""


def is_zero(e: sp.Expr) -> bool:
    """Exact zero test of the numbers programs hold: expansion decides rationals and ℚ(√2), ℚ(√5) (a + b√d is
    canonical once expanded); sines and cosines of rational multiples of π, which simplification does not
    always reduce (−cos(3π/7) + sin(π/14) stays), are decided by the minimal polynomial of e over ℚ (it is x
    exactly when e = 0). Between expansion and simplification, a value that evaluates (30 significant digits,
    which sympy's evalf guarantees for a number that is not zero) to more than 1e-12 in magnitude is not zero: it
    decides the nonzero pivots of exact ranks without a simplification each."""
    if sp.expand(e) == 0:
        return True
    if isinstance(e, sp.Expr) and e.is_number:
        value = e.evalf(30)
        if value.is_finite and abs(complex(value)) > 1e-12:
            return False
    if sp.simplify(e) == 0:
        return True
    if not e.has(sp.sin, sp.cos):
        return False
    try:
        return sp.minimal_polynomial(e, _X) == _X
    except (NotImplementedError, sp.polys.polyerrors.NotAlgebraic):
        return False


_X = sp.Symbol("x")


def exact_texts(x):
    """Nested tuples of exact numbers → nested lists of their texts (:func:`theory.documents.exact_to_text`)."""
    return [exact_texts(v) for v in x] if isinstance(x, tuple) else exact_to_text(x)


def min_distance_squared(readouts: tuple) -> sp.Expr:
    """min over distinct readouts of ‖r − r'‖², exact (∞ for fewer than two): the decoder's margin is half
    its root. The minimising pairs are located in float64 (every pair within 1e-9 of the float minimum is a
    candidate); each candidate's value is expanded exactly, the least at 30 digits is taken (equal values
    are equal there too) and simplified where sines and cosines remain."""
    if len(readouts) < 2:
        return sp.oo
    approx = np.array([[float(e) for e in r] for r in readouts])
    d2 = ((approx[:, None, :] - approx[None, :, :]) ** 2).sum(-1)
    d2[np.diag_indices(len(readouts))] = np.inf
    floor = d2.min()
    candidates = [(i, j) for i, j in zip(*np.nonzero(d2 <= floor * (1 + 1e-9) + 1e-12)) if i < j]
    differences = [sp.Matrix(readouts[i]) - sp.Matrix(readouts[j]) for i, j in candidates]
    least = min((sp.expand(d.dot(d)) for d in differences), key=lambda e: sp.N(e, 30))
    return sp.simplify(least) if least.has(sp.sin, sp.cos) else least


@dataclass(frozen=True)
class Layer:
    """One layer. ``keys[s][j]``, ``betas[s][j]``, ``values[s][j]``: sub-step j of symbol s (applied j-th);
    ``readouts``: the exact states the decoder separates; ``symbol_map`` (see
    :data:`theory.programs.interpret.SYMBOL_MAPS`) with ``map_layers`` (the layers below it reads) and
    ``period``; ``kind`` "exact" (entries decided by sympy) or "planar" (2-D, angles multiples of
    π/``units``, decided on labels); ``decode`` "nearest" (the output is the index of the nearest readout) or
    "grid" (every coordinate is rounded to the nearest of the one-entry ``readouts``, the levels; the output
    is the tuple of level indices). ``resets[s]`` = 1 makes symbol s a gated reset: the state is zeroed (gate
    γ = 0, log-gate −inf) before its sub-steps; empty (the default) means no gate at any symbol. ``lookup``:
    the table of the ``chain`` symbol map (−1 where no word goes)."""

    kind: str
    n_h: int
    dim: int
    keys: tuple
    betas: tuple
    values: tuple
    initial_state: tuple
    readouts: tuple
    symbol_map: str
    map_layers: tuple = ()
    units: int = 0
    decode: str = "nearest"
    period: int = 0
    resets: tuple = ()
    lookup: tuple = ()

    @property
    def symbols(self) -> int:
        return len(self.keys)

    def log_gates(self) -> np.ndarray:
        """The log-gate of every symbol, float64 [symbols]: −inf at a reset (γ = 0), 0 elsewhere."""
        return np.where(np.asarray(self.resets or (0,) * self.symbols, dtype=bool), -np.inf, 0.0)

    def factor_product(self, symbol: int) -> sp.Matrix:
        """A(x) = G_{n_h} ⋯ G_1 of one input symbol, exactly."""
        return gh_product(sp.Matrix(self.keys[symbol]), list(self.betas[symbol]))

    def min_readout_distance_squared(self) -> sp.Expr:
        """:func:`min_distance_squared` of the readouts."""
        return min_distance_squared(self.readouts)


_EXACT_FIELDS = ("keys", "betas", "values", "initial_state", "readouts")


@dataclass(frozen=True)
class Program:
    """A compiled program. Decoder "lookup": ``decoder[r]`` is the element index the last layer's readout r
    means; "chain": ``decoder[s + S·r]`` is the one that the last layer's symbol s (of S) and readout r mean
    (−1 where no word goes); "block_product": the running product from the counter, buffer and swap layers
    named in ``decoder_layers`` (:func:`theory.programs.interpret.block_product`). A program tracks the word problem
    of ``group``, or, when ``automaton`` is set (``group`` is then empty), the state of that DFA: tokens are
    its letters and the decoder names the state reached."""

    group: str
    construction: str
    theorem: str
    layers: tuple
    decoder: tuple
    decoder_name: str = "lookup"
    decoder_layers: tuple = ()
    automaton: Automaton | None = None

    @property
    def layer(self) -> Layer:
        """The only layer of a one-layer program (a ValueError for a deeper one)."""
        if len(self.layers) != 1:
            raise ValueError(f"program: expected a one-layer program, got {len(self.layers)} layers")
        return self.layers[0]

    @property
    def representation(self) -> str:
        """The representation ρ of a one-layer group program (its construction)."""
        if self.construction not in ONE_LAYER:
            raise ValueError(f"program: {self.construction} is not a one-layer group program")
        return self.construction

    n_h = property(lambda self: self.layer.n_h, doc="n_h of the only layer.")
    dim = property(lambda self: self.layer.dim, doc="State dimension of the only layer.")
    keys = property(lambda self: self.layer.keys, doc="Keys of the only layer.")
    betas = property(lambda self: self.layer.betas, doc="β of the only layer.")
    initial_state = property(lambda self: self.layer.initial_state, doc="h_0 of the only layer.")
    readouts = property(lambda self: self.layer.readouts, doc="Readouts of the only layer.")

    def factor_product(self, symbol: int) -> sp.Matrix:
        """G_{n_h} ⋯ G_1 of one input symbol of the only layer, exactly."""
        return self.layer.factor_product(symbol)

    def min_readout_distance_squared(self) -> sp.Expr:
        """:func:`min_distance_squared` of the only layer's readouts."""
        return self.layer.min_readout_distance_squared()

    def to_json(self) -> str:
        """The document :meth:`from_json` reads (format :data:`FORMAT`; exact numbers as text)."""
        layers = []
        for layer in self.layers:
            entry = {k: getattr(layer, k) for k in ("kind", "n_h", "dim", "symbol_map", "units", "decode", "period")}
            entry["map_layers"] = list(layer.map_layers)
            entry.update({k: exact_texts(getattr(layer, k)) for k in _EXACT_FIELDS})
            if layer.resets:
                entry["resets"] = list(layer.resets)
            if layer.lookup:
                entry["lookup"] = list(layer.lookup)
            layers.append(entry)
        meta = {k: getattr(self, k) for k in ("group", "construction", "theorem", "decoder_name")}
        doc = {"format": FORMAT, **meta, "layers": layers, "decoder": list(self.decoder),
               "decoder_layers": list(self.decoder_layers)}
        if self.automaton is not None:
            doc["automaton"] = {"name": self.automaton.name, **self.automaton.to_dict()}
        return json.dumps(doc, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes, *, max_order: int = MAX_ORDER) -> Program:
        """A program from its document: this format or either format written before it
        (``deltaproof.program/1``, one layer; ``deltaproof.layered/1``), every field validated and the program
        re-proved exactly (:func:`theory.programs.codec.program_from_json`)."""
        from theory.programs.codec import program_from_json  # the codec proves, and the prover reads this IR

        return program_from_json(text, max_order=max_order)
