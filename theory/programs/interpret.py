"""The exact interpreter of programs: symbol maps, decoders and layer transitions on exact readouts.

:class:`Transitions` steps one layer exactly — in sympy for ``exact`` layers (in rational arithmetic where
every readout and every factor's β k kᵀ and β v k are rational), on angle labels for
``planar`` layers (points (cos bπ/N, sin bπ/N), keys (−sin aπ/2N, cos aπ/2N), and the identity
H(α)(cos φ, sin φ) = (cos(α − φ), sin(α − φ)) of :func:`theory.groups.planar_lemma`) — and names the
readout it lands on. :class:`Context` holds the semantics between layers: each symbol map and the
program's decoder. :func:`run` interprets a batch of words; the provers (:mod:`theory.programs.prove`)
and the kernel runs of :mod:`proofs_check.execute` share these definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp
from sympy.combinatorics import Permutation
from sympy.external.gmpy import MPQ

from theory.factorize import permutation_swaps
from theory.groups import parse_group, permutation_matrix, planar_key_label, planar_point_label
from theory.programs.ir import Layer, Program, is_zero

__all__ = [
    "SYMBOL_MAPS",
    "Context",
    "Transitions",
    "rationals",
    "rational_factor",
    "Run",
    "run",
    "check_words",
    "block_slots",
    "block_product",
    "swap_pairs",
    "compose_actions",
    "position_swaps",
    "level_swap_symbol",
    "level_before",
]

SYMBOL_MAPS = {
    "element": "the token's element index x",
    "element_with": "x + |G|·(mixed-radix number of the decoded outputs of the listed layers below, the first "
    "listed least significant, each in base its number of readouts)",
    "block_swaps": "from (counter, buffer) layers: at position i of a block of P/2 tokens, the i-th swap of the "
    "previous block's product (0 = none)",
    "chain": "lookup[s + S·o], s the symbol (of S) and o the decoded output of the layer below: a table of the token "
    "and every decoded output below, held one layer at a time",
    "chain_count": "j + J·(c mod P): j = lookup[s + S·o] as for chain (one of J = symbols / P), c the decoded output "
    "of the counter layer (map_layers: the layer below, the counter): a block level's buffer symbol",
    "level_swaps": "from (counter, buffer) layers and the level's actions (lookup: A maps of dim positions, "
    "flattened): at position i of a block of P/2 tokens, the i-th swap of the previous block's composite, or at "
    "i = 0 the reset to c when that composite is the constant c (symbol 1 + pairs + c); 0 = none",
    "level_block": "from (counter, buffer, swap) layers: j + J·q, j the buffer's chain symbol (of J) and q the "
    "level's coordinate before the step: the swap state, the rest of the previous block's swaps, then the "
    "current block's actions before this one",
}


def swap_pairs(n: int) -> list[tuple[int, int]]:
    """The transpositions (i < j) of n points in lexicographic order: swap symbol s ≥ 1 is pair s − 1."""
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


class Context:
    """What the between-layer maps and the decoder of one program need: the tracked task (a group's word
    problem or a DFA: ``tokens`` letters, :meth:`step`, ``start``), each layer's number of readouts (the
    radix of its output) and the swap tables of block programs."""

    def __init__(self, program: Program):
        self.program = program
        self.automaton = program.automaton
        self.group = None if self.automaton is not None else parse_group(program.group)
        self.tokens = len(self.automaton.letters) if self.automaton is not None else self.group.order
        self.start = self.automaton.initial if self.automaton is not None else 0
        self.radices = [len(layer.readouts) for layer in program.layers]
        self._swaps: dict[int, list[int]] = {}
        self._transpositions: dict[int, int] = {}
        self._products: dict[tuple[int, int], int] = {}
        self._tables: dict[int, np.ndarray] = {}
        self._actions: dict[int, tuple] = {}
        self.composites: dict[tuple, tuple] = {}  # (actions, sequence) → (composite map, its position swaps)
        self.unreached: np.ndarray | None = None  # set to a mask: chain lookups on arrays mark, not raise
        self.fixed: dict = {}  # layer → its symbols, where a caller fixed them (a prover's ideal levels, a kernel run)

    def symbol(self, layer: Layer, x, decoded: list):
        """Layer's input symbol from the token x and the decoded outputs of the layers below (numpy arrays
        or ints alike for the arithmetic maps; ints and tuples for block_swaps)."""
        if layer.symbol_map == "element":
            return x
        if layer.symbol_map == "element_with":
            symbol, weight = x, self.tokens
            for index in layer.map_layers:
                symbol = symbol + weight * decoded[index]
                weight *= self.radices[index]
            return symbol
        if layer.symbol_map == "block_swaps":
            counter, buffer = layer.map_layers
            count = decoded[counter] % layer.period
            step, previous, _ = block_slots(count, decoded[buffer], layer.period)
            swaps = self.swaps(self.product(previous)) if previous else []
            return swaps[step] if step < len(swaps) else 0
        if layer.symbol_map == "chain":
            return self._chained(layer.lookup, layer.map_layers[0], x, decoded, "symbol")
        if layer.symbol_map == "chain_count":
            below, counter = layer.map_layers
            chained = self._chained(layer.lookup, below, x, decoded, "symbol")
            return chained + (layer.symbols // layer.period) * (decoded[counter] % layer.period)
        if layer.symbol_map == "level_swaps":
            counter, buffer = layer.map_layers
            actions = self.actions(layer)
            return level_swap_symbol(actions, decoded[counter] % layer.period, decoded[buffer], layer.period,
                                     self.composites)  # fmt: skip
        if layer.symbol_map == "level_block":
            counter, buffer, swap = layer.map_layers
            source = self.program.layers[buffer]
            chained = self.symbol(source, x, decoded) % (source.symbols // source.period)
            before = level_before(self.actions(self.program.layers[swap]), decoded[counter] % source.period,
                                  decoded[buffer], decoded[swap], source.period, self.composites)  # fmt: skip
            return chained + (source.symbols // source.period) * before
        raise ValueError(f"symbol_map: expected one of {sorted(SYMBOL_MAPS)}, got {layer.symbol_map!r}")

    def step(self, state: int, x: int) -> int:
        """The tracked state after token x: the running product el[state]·el[x], or the DFA's state·x."""
        return self.automaton.delta[state][x] if self.automaton is not None else self.times(state, x)

    def times(self, a: int, b: int) -> int:
        """Index of el[a]·el[b] (sympy's product, :mod:`theory.groups`), memoized."""
        if (a, b) not in self._products:
            self._products[(a, b)] = self.group.index[self.group.elements[a] * self.group.elements[b]]
        return self._products[(a, b)]

    def product(self, tokens, start: int = 0) -> int:
        """Index of the running product of element indices from ``start`` (acc ← acc·x)."""
        acc = start
        for x in tokens:
            acc = self.times(acc, x)
        return acc

    def swaps(self, element: int) -> list[int]:
        """Swap-layer symbols (1 + index in :func:`swap_pairs`) of the element's permutation matrix as n − c
        swaps, first applied first (:func:`theory.factorize.permutation_swaps`)."""
        if element not in self._swaps:
            n = self.group.degree
            pairs = swap_pairs(n)
            factors = permutation_swaps(permutation_matrix(self.group.elements[element]))
            symbols = []
            for row in range(len(factors)):
                i, j = sorted(c for c in range(n) if factors.keys[row, c] != 0)
                symbols.append(1 + pairs.index((i, j)))
            self._swaps[element] = symbols
        return self._swaps[element]

    def transposition(self, symbol: int) -> int:
        """Index of the transposition a swap-layer symbol stands for (1 + its index in :func:`swap_pairs`)."""
        if symbol not in self._transpositions:
            i, j = swap_pairs(self.group.degree)[symbol - 1]
            self._transpositions[symbol] = self.group.index[Permutation(i, j, size=self.group.degree)]
        return self._transpositions[symbol]

    def actions(self, layer: Layer) -> tuple:
        """A ``level_swaps`` layer's actions: its lookup cut into maps of ``dim`` positions."""
        if id(layer) not in self._actions:
            self._actions[id(layer)] = tuple(tuple(layer.lookup[i : i + layer.dim])
                                             for i in range(0, len(layer.lookup), layer.dim))  # fmt: skip
        return self._actions[id(layer)]

    def element(self, x: int, decoded: list) -> int:
        """The program's decoder: the element index the decoded outputs mean."""
        if self.program.decoder_name == "lookup":
            return self.program.decoder[decoded[-1]]
        if self.program.decoder_name == "block_product":
            return block_product(self, decoded)
        if self.program.decoder_name == "chain":
            return self._chained(self.program.decoder, len(self.program.layers) - 1, x, decoded, "state")
        raise ValueError(f"decoder_name: expected 'lookup', 'chain' or 'block_product', got "
                         f"{self.program.decoder_name!r}")  # fmt: skip

    def _chained(self, table: tuple, below: int, x, decoded: list, what: str):
        """table[s + S·o] for layer ``below``'s symbol s (of S) and decoded output o (ints or arrays); a
        ValueError where the table has no entry (−1: a pair that no word reaches) — for arrays, when
        ``unreached`` is a mask, those positions are marked in it instead and read entry 0."""
        layer = self.program.layers[below]
        symbol = self.fixed[below] if below in self.fixed else self.symbol(layer, x, decoded)
        index = symbol + layer.symbols * decoded[below]
        if isinstance(index, (int, np.integer)):
            out = table[index]
            missing = out < 0
        else:
            if id(table) not in self._tables:
                self._tables[id(table)] = np.asarray(table, dtype=np.int64)
            out = self._tables[id(table)][index]
            if self.unreached is not None:  # a kernel run: a pair no word reaches is a wrong position
                self.unreached |= out < 0
                return np.where(out < 0, 0, out)
            missing = (out < 0).any()
        if missing:
            raise ValueError(f"chain: layer {below}'s (symbol, output) pair has no {what} in the table")
        return out


def block_slots(count: int, buffer: tuple, period: int) -> tuple[int, list[int], list[int]]:
    """At a position t with t mod P = count and the buffer of the last P tokens (slot s mod P holds token s
    as its element index + 1; 0 = before the word): (i = the position's index in its block of b = P/2,
    the tokens of the previous block — empty in block 0 —, the tokens of the current block up to t)."""
    b = period // 2
    step = (count - 1) % b
    previous = [buffer[(count - step - b + j) % period] for j in range(b)]
    current = [buffer[(count - step + j) % period] for j in range(step + 1)]
    return step, ([v - 1 for v in previous] if all(previous) else []), [v - 1 for v in current]


def block_product(context: Context, decoded: list) -> int:
    """The block programs' decoder: the running product at t from the swap layer's permutation σ (the
    product up to the block before last, with the first i + 1 swaps of the last block's product applied),
    the remaining swaps of that product and the current block's tokens so far."""
    counter, buffer, swap = context.program.decoder_layers
    period = context.program.layers[swap].period
    step, previous, current = block_slots(decoded[counter] % period, decoded[buffer], period)
    acc = decoded[swap]
    if previous:
        for symbol in context.swaps(context.product(previous))[step + 1 :]:
            acc = context.times(acc, context.transposition(symbol))
    return context.product(current, acc)


def compose_actions(actions: tuple, sequence, memo: dict | None = None) -> tuple:
    """(Π, swaps) for a sequence of action indices applied in order: Π the composite map of positions
    (Π(p) = α_last(⋯ α_first(p))) and, when Π is a bijection, its :func:`position_swaps` (None for a
    constant, which every composite of a permutation-reset level that is not a bijection is)."""
    key = (id(actions), tuple(sequence))  # one memo serves every level of a program: keyed by its actions too
    if memo is not None and key in memo:
        return memo[key]
    mapping = tuple(range(len(actions[0])))
    for a in key[1]:
        mapping = tuple(actions[a][p] for p in mapping)
    out = (mapping, position_swaps(mapping) if len(set(mapping)) == len(mapping) else None)
    if memo is not None:
        memo[key] = out
    return out


def position_swaps(mapping: tuple) -> list[tuple[int, int]]:
    """Transpositions (i < j), first applied first, whose composite moves every position p to mapping[p]:
    a cycle c_0 → c_1 → ⋯ → c_{L−1} → c_0 as (c_{L−2} c_{L−1}), (c_{L−3} c_{L−2}), …, (c_0 c_1) — L − 1 swaps
    per cycle, n − (cycles) in all, the fewest (written here: positions, not matrices, so that the many
    composites of a block level decompose without sympy)."""
    seen, out = set(), []
    for start in range(len(mapping)):
        cycle = []
        while start not in seen:
            seen.add(start)
            cycle.append(start)
            start = mapping[start]
        out += [tuple(sorted(cycle[i : i + 2])) for i in range(len(cycle) - 2, -1, -1)]
    return out


def level_swap_symbol(actions: tuple, count: int, buffer: tuple, period: int, memo: dict | None = None) -> int:
    """A block level's swap symbol at a position with t mod P = count (:func:`block_slots` on the buffer of
    action indices + 1): the i-th swap of the previous block's composite (1 + its index in
    :func:`swap_pairs`), or at i = 0 the reset to c (1 + pairs + c) when that composite is the constant c;
    0 in block 0, after the last swap and after a reset."""
    step, previous, _ = block_slots(count, buffer, period)
    if not previous:
        return 0
    mapping, swaps = compose_actions(actions, previous, memo)
    width = len(mapping)
    if swaps is None:
        return 1 + width * (width - 1) // 2 + mapping[0] if step == 0 else 0
    return 1 + swap_pairs(width).index(swaps[step]) if step < len(swaps) else 0


def level_before(actions: tuple, count: int, buffer: tuple, state: int, period: int, memo: dict | None = None) -> int:
    """A block level's coordinate before the step at t (t mod P = count): the swap state ``state`` (one
    position), moved by the previous block's swaps after the i-th (none after a reset: the state is then the
    constant), then by the current block's actions before t."""
    step, previous, current = block_slots(count, buffer, period)
    point = state
    if previous:
        _, swaps = compose_actions(actions, previous, memo)
        for i, j in (swaps or [])[step + 1 :]:
            point = j if point == i else i if point == j else point
    for a in current[:-1]:
        point = actions[a][point]
    return point


class Transitions:
    """Exact transitions of one layer on its readouts, memoized: ``(symbol, readout) → readout``."""

    def __init__(self, layer: Layer):
        self.layer = layer
        self.table: dict[tuple, int | tuple] = {}
        self.approx = np.array([[float(e) for e in r] for r in layer.readouts])
        if layer.decode == "grid":
            self.levels = {r[0]: i for i, r in enumerate(layer.readouts)}
        elif layer.decode != "nearest":
            raise ValueError(f"layer decode: expected 'nearest' or 'grid', got {layer.decode!r}")
        if layer.kind == "planar":
            self.points = [planar_point_label(r, layer.units) for r in layer.readouts]
            self.index = {b: i for i, b in enumerate(self.points)}
            if len(self.index) != len(self.points):
                raise ValueError("planar layer: two readouts are the same point")
        elif layer.kind != "exact":
            raise ValueError(f"layer kind: expected 'exact' or 'planar', got {layer.kind!r}")
        self.rational = None  # readout → index, the readouts as rationals, where every one is rational
        if layer.kind == "exact" and layer.decode == "nearest":
            readouts = [rationals(r) for r in layer.readouts]
            if all(r is not None for r in readouts):
                self.rational = readouts, {r: i for i, r in enumerate(readouts)}

    def initial(self) -> int | tuple:
        """The decoded output of h_0 (which must be a readout)."""
        return self._find(self.layer.initial_state)

    def _find(self, state) -> int | tuple:
        if self.layer.decode == "grid":
            if any(e not in self.levels for e in state):
                raise ValueError(f"layer state {tuple(state)} has an entry off the levels")
            return tuple(self.levels[e] for e in state)
        if self.layer.kind == "planar":
            return self.index[planar_point_label(state, self.layer.units)]
        vector = np.array([float(e) for e in state])
        r = int(((self.approx - vector) ** 2).sum(1).argmin())
        if not all(is_zero(a - b) for a, b in zip(state, self.layer.readouts[r])):
            raise ValueError(f"layer state {tuple(state)} is not one of the readouts")
        return r

    def state(self, r) -> tuple:
        """The exact state a decoded output stands for."""
        if self.layer.decode == "grid":
            return tuple(self.layer.readouts[i][0] for i in r)
        return self.layer.readouts[r]

    def __call__(self, symbol: int, r):
        if (symbol, r) not in self.table:
            self.table[(symbol, r)] = self._step(symbol, r)
        return self.table[(symbol, r)]

    def _step(self, symbol: int, r: int) -> int:
        layer = self.layer
        factors = zip(layer.keys[symbol], layer.betas[symbol], layer.values[symbol])
        if layer.kind == "planar":
            if layer.resets:
                raise ValueError("planar layer: resets are for exact layers")
            b = self.points[r]
            for key, beta, value in factors:
                if value != 0 or beta not in (0, 2):
                    raise ValueError("planar layer: factors must have value 0 and β ∈ {0, 2}")
                if beta == 2:
                    b = (planar_key_label(key, layer.units) - b) % (2 * layer.units)
            if b not in self.index:
                raise ValueError(f"planar layer: symbol {symbol} maps readout {r} off the readouts")
            return self.index[b]
        if self.rational is not None:
            factors = [rational_factor(key, beta, value) for key, beta, value in factors]
            if all(f is not None for f in factors):
                return self._step_rational(factors, r, bool(layer.resets and layer.resets[symbol]))
            factors = zip(layer.keys[symbol], layer.betas[symbol], layer.values[symbol])
        h = tuple(self.state(r))
        if layer.resets and layer.resets[symbol]:  # the gate γ = 0 zeroes the state before the sub-steps
            h = (sp.Integer(0),) * layer.dim
        for key, beta, value in factors:  # h ← h + β k (v − kᵀh), entrywise
            if beta != 0:
                error = value - sum((a * b for a, b in zip(key, h)), sp.Integer(0))
                h = tuple(sp.expand(e + beta * a * error) for e, a in zip(h, key))
        return self._find(h)

    def _step_rational(self, factors: list, r: int, reset: bool) -> int:
        """The step of :meth:`_step` on rationals: h ← h − (β k kᵀ) h + β v k per factor (from h = 0 after a
        reset), exact, and the readout found by equality."""
        readouts, index = self.rational
        h = tuple(MPQ(0) for _ in readouts[r]) if reset else readouts[r]
        for outer, shift in factors:
            if outer is not None:
                h = tuple(e - sum(a * b for a, b in zip(row, h)) + c for e, row, c in zip(h, outer, shift))
        if h not in index:
            raise ValueError(f"layer state {tuple(sp.Rational(e.numerator, e.denominator) for e in h)} is not one "
                             "of the readouts")  # fmt: skip
        return index[h]


def rationals(entries) -> tuple | None:
    """Exact sympy numbers as a tuple of rationals (sympy's ground type: gmpy2's mpq where installed), or None
    where one is not rational."""
    if not all(isinstance(e, sp.Rational) for e in entries):
        return None
    return tuple(MPQ(int(e.p), int(e.q)) for e in entries)


@lru_cache(maxsize=1 << 16)
def rational_factor(key: tuple, beta, value) -> tuple | None:
    """One factor (key k, β, value v) as rationals: (β k kᵀ row by row, β v k), (None, None) for β = 0, or None
    where an entry is not rational (k itself may be irrational: e.g. (e_i − e_j)/√2 gives rational k kᵀ).
    Memoized: the compilers reuse few keys across symbols, layers and programs."""
    if beta == 0:
        return None, None
    outer = [rationals([sp.expand(beta * a * b) for b in key]) for a in key]
    shift = rationals([sp.expand(beta * value * a) for a in key])
    if shift is None or any(row is None for row in outer):
        return None
    return tuple(outer), shift


def check_words(words, tokens: int) -> np.ndarray:
    """``words`` as a [W, T] array of token indices in [0, tokens) (a ValueError naming ``words`` otherwise)."""
    words = np.asarray(words)
    if words.ndim != 2 or words.size and (words.min() < 0 or words.max() >= tokens):
        raise ValueError(f"words: expected [W, T] token indices in [0, {tokens}), got shape {words.shape}")
    return words


@dataclass(frozen=True)
class Run:
    """The exact interpretation of words [W, T]: ``elements`` [W, T], the decoder's output after every
    prefix; ``outputs``: per layer, its decoded output at every position ([W, T] indices, or [W, T, d]
    level indices for grid layers); ``states``: per layer, its exact state rounded once to float64
    [W, T, d]."""

    elements: np.ndarray
    outputs: tuple
    states: tuple


def run(program: Program, words) -> Run:
    """Interpret ``words`` (element indices [W, T]) exactly: every layer steps by :class:`Transitions` from
    its initial readout, its symbol formed by :meth:`Context.symbol`, and the decoder reads the outputs."""
    context = Context(program)
    words = check_words(words, context.tokens)
    steps = [Transitions(layer) for layer in program.layers]
    elements = np.zeros(words.shape, dtype=np.int64)
    outputs = [np.zeros(words.shape if layer.decode == "nearest" else (*words.shape, layer.dim), dtype=np.int64)
               for layer in program.layers]  # fmt: skip
    states = [np.zeros((*words.shape, layer.dim)) for layer in program.layers]
    floats: list[dict] = [{} for _ in steps]  # decoded output → its exact state in float64
    for w in range(words.shape[0]):
        current = [step.initial() for step in steps]
        for t, x in enumerate(words[w]):
            decoded: list = []
            for layer, step, r in zip(program.layers, steps, current):
                decoded.append(step(context.symbol(layer, int(x), decoded), r))
            current = decoded
            elements[w, t] = context.element(int(x), decoded)
            for index, (step, r) in enumerate(zip(steps, decoded)):
                if r not in floats[index]:
                    floats[index][r] = [float(e) for e in step.state(r)]
                states[index][w, t] = floats[index][r]
                outputs[index][w, t] = r
    return Run(elements, tuple(outputs), tuple(states))
