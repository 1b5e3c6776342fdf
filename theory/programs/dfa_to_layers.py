"""DFA → layers: a regular language's minimal automaton compiled into a gated DeltaProduct program that
tracks its state: one layer for the classes that one layer realises, else a cascade, under any budget n_h.

States are one-hot vectors e_q (a common sink, if the automaton has one, is the zero vector); each letter
a is a matrix A(a) with A(a) e_q = e_{q·a}, realised as a product of GH factors, with a gate:

* a **bijection** — the permutation matrix as n − c swaps (e_i − e_j)/√2 with β = 2 (Grazzi et al. 2025,
  Theorem 3; :func:`theory.factorize.permutation_swaps`);
* a **constant** map onto c (a reset) — the gate γ = 0 (log-gate −inf) zeroes the state, then one write
  h ← h + e_c (1 − e_cᵀh) (key e_c, β = 1, value 1): the gated reset of Grazzi et al. 2025, Theorem 4's
  permutation-reset components, with a gate instead of n projections;
* a **partial injection** onto a common sink z — projections h_q ← 0 (key e_q, β = 1, value 0) of the
  states it sends to z, then the swaps of a permutation that extends it (our construction for the
  partial-injection-with-sink class of :mod:`theory.automata.analyse`: the matrices are partial
  permutation matrices, so no gate).

The decoder reads the state reached (readout q = the vector of state q); the accept bit is whether it is
final. Every entry is an integer or ±1/√2, so :func:`theory.programs.prove.prove` decides every transition
exactly by a breadth-first search over (readouts, DFA state).

**Every other automaton** goes through its holonomy cascade (:func:`theory.automata.holonomy.cascade`;
Grazzi et al. 2025, Theorem 4 and DeltaProduct Theorem 2 take a Krohn–Rhodes cascade of permutation-reset
components): **one layer per level**, its state one-hot over the level's positions, each letter's level
action (identity, a permutation as swaps, a constant as a reset) chosen by a lookup on the letter and the
coordinates of the levels above.

*The timing gap.* A cascade level reads the levels above **before** the step, q_{<i}(t − 1); a layer's
output is its state **after** the step. Level i − 1's previous coordinate is recovered from its output: on
an identity or permutation step q(t − 1) = π⁻¹(q(t)), π known from the context; after a reset it is gone
— so a level with a reset and levels below it gets an **archive head** (our fix): its state is (a, r) ∈
R^{2w}, permutations act on a only (block-diag(P, I)), and a reset to c maps (a, r) ↦ (e_c, a) without the
gate: w projections clear r, w swaps (e_j − e_{w+j})/√2 exchange the halves, one write sets e_c (2w + 1
factors; rank(M − I) = 2w makes 2w necessary for this map). It adds no layer; it doubles that level's
state and makes its n_h 2w + 1. Under a budget n_h below that, the level gets a **delay layer** instead
(F2 of notes/automata.md §5.3): two slots, the token at t writing the level's output plus one into slot
t mod 2 (key e_p, β = 1: one factor), so the other slot holds its coordinate before the step; t mod 2 comes
from a parity layer h ← 1 − h (key 1, β = 2, value ½) below every level and is carried down the chain
symbols. One factor per layer, one layer more per such level and one for the parity. (A token shift, which
fla's short convolution resembles, is not in the program model.)

*Frames.* A level whose permutations need more swaps than the budget is held in a **frame**: a fixed
permutation F of its positions and a frame bit f_t, so its state is F^{f_t} e_{q_t}; the step is then
F^{f_t} π F^{−f_{t−1}}, and each action π gets a flip d(π) ∈ {0, 1} (f_t = f_{t−1} xor d) for which
F^{q⊕d} π F^{−q} needs at most n_h swaps whether the frame bit before the step is q = 0 or q = 1. A
scalar **frame layer** (h ← 1 − h, key 1, β = 2, value ½, at a flip; β = 0 otherwise: one factor) just
before the level keeps f_t, and the level's symbols carry it, so the layers below read F^{−f_t} of its
output. This generalises the rotation-count parity of Siems et al. 2025, Theorem 3 (D_m at n_h = 1:
F^{p_t} ρ(x) F^{p_{t−1}}, one reflection) from the dihedral group to any permutation level; F is found
by search over the permutations of at most eight positions (any transposition F serves S_3 levels at
n_h = 1, whose odd elements are transpositions, and S_4 levels at n_h = 2, whose even elements need two
swaps). It costs one layer and one bit per framed level.

*Block levels.* A level that no frame brings within the budget is spread over blocks of tokens, as Siems
et al. 2025, Theorem 1(iii) spreads S_n (our generalisation from a group's word problem to a cascade level
whose actions are permutations and constants): a counter t mod P at the bottom (m bits and a one-hot
layer written at every token, exact in every format; P = 2^m ≥ 2(w − 1)), then per such level
a **buffer** (symbol = the level's chain symbol j and t mod P; key e_{t mod P}, β = 1, value the action's
index + 1: the last P actions), a **swap** layer that applies, at position i of each block of b = P/2
tokens, the i-th swap of the previous block's composite (one GH, β = 2), or at i = 0 its constant c as a
gated reset and write, so that its state at the end of block k is the level's coordinate at the end of
block k − 1; and the **level** layer, whose symbol j + J·q carries the coordinate q before the step,
decoded from the swap state, the previous block's remaining swaps and the current block's actions so far,
and which writes the coordinate after it (gate −inf, key e_{α_j(q)}, β = 1, value 1). Every factor is one
GH, so every n_h ≥ 1 is met: with frames this is DeltaProduct Theorem 2 (any regular language at any n_h)
built. The before-coordinate in the symbol closes the timing gap for the levels below (no archive or
delay), and the proof takes the level ideal, through a lemma checked for every word
(:func:`theory.programs.prove.prove`). It costs three layers per block level (a buffer of P slots, and
the symbols × w of the level layer) and m + 1 counter layers shared by the program.
A one-layer class whose layer exceeds the budget is compiled through its cascade.

*The lookup* is a ``chain`` symbol map: layer i's symbol is the context (letter, q_{<i}(t − 1)), one of
the contexts that reachable cascade states give, and its table maps (layer i − 1's symbol, its decoded
output) to it — a function of the token and the decoded outputs of every layer below, stored one layer at
a time (a dense table over all outputs below would grow as the product of the widths). The ``chain``
decoder maps the last layer's (symbol, output) to the state: the coordinates after the step, interpreted.
Pairs no word reaches are −1; the proof's search shows none is met.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from typing import NamedTuple

import sympy as sp

from theory.automata.analyse import one_layer_class
from theory.automata.dfa import Automaton
from theory.automata.holonomy import Cascade, cascade
from theory.factorize import permutation_swaps
from theory.programs.group_to_layers import block_period
from theory.programs.interpret import swap_pairs
from theory.programs.ir import MAX_NH, BudgetError, Layer, Program

__all__ = ["compile_automaton", "roles", "THEOREMS"]

THEOREMS = {
    "dfa:group": "Grazzi et al. 2025, Theorem 3: a group automaton in one layer of swap reflections",
    "dfa:permutation-reset": "Grazzi et al. 2025, Theorem 4 (one permutation-reset component): swaps, and resets "
    "as the gate −inf and one write",
    "dfa:partial-injection-sink": "Our construction: partial permutation matrices (projections β = 1, swaps "
    "β = 2), the common sink as the zero vector",
    "dfa:holonomy-cascade": "Grazzi et al. 2025, Theorem 4 and DeltaProduct Theorem 2 (a cascade of permutation-reset "
    "components, one gated layer each), through the holonomy decomposition (Eilenberg 1976; Egri-Nagy & Nehaniv "
    "2015), with our archive heads or delay layers for the cascade's timing gap, and frames or block levels "
    "(Siems et al. 2025, Theorem 1(iii), generalised to cascade levels) under a budget",
}


def roles(program: Program) -> tuple[str, ...]:
    """Per layer of a cascade program, what it is, read from its structure: "parity" (the first layer, one
    dimension, when delay layers need t mod 2 or block levels a counter: bit 0), "counter" (the counter's
    other bits and its one-hot t mod P: they read the layers below as numbers), "frame" (another
    one-dimensional layer: a level's frame bit), "delay" (two slots, readouts (x + 1, y + 1): no zero entry,
    which no one-hot level has), "buffer" and "swaps" (a block level's, by their symbol maps), "archive" (a
    level with an archive head: its readouts, the pairs (a, r), outnumber its dimension) or "level" (a block
    level's last layer too); a one-layer program's layer is a "level"."""
    if program.construction != "dfa:holonomy-cascade":
        return ("level",) * len(program.layers)
    named = {"chain_count": "buffer", "level_swaps": "swaps", "level_block": "level"}
    out = []
    for layer in program.layers:
        if layer.symbol_map == "element_with":
            out.append("counter")
        elif layer.symbol_map in named:
            out.append(named[layer.symbol_map])
        elif layer.dim == 2 and all(e != 0 for r in layer.readouts for e in r):
            out.append("delay")
        elif layer.dim == 1:
            out.append("frame")
        else:
            out.append("archive" if len(layer.readouts) > layer.dim else "level")
    if "delay" in out or "counter" in out:
        out[0] = "parity"
    return tuple(out)


class _Symbol(NamedTuple):
    """A cascade layer's input symbol: the level's ``context`` (letter, source set, target set), the
    ``phase`` t mod 2 (0 without a parity layer), a framed level's ``frame`` bit f_t, a delay layer's
    ``written`` coordinate (the level's after the step, out of its frame; −1 for other layers) and a block
    level's coordinate ``before`` the step (−1 for other layers)."""

    context: tuple
    phase: int
    frame: int = 0
    written: int = -1
    before: int = -1


def _unit(dim: int, i: int) -> tuple:
    return tuple(sp.Integer(1 if j == i else 0) for j in range(dim))


def _permutation(mapping: dict[int, int], coordinate: dict[int, int], dim: int) -> list[tuple]:
    """(key, β, value) factors of the permutation matrix e_{c(q)} ↦ e_{c(mapping[q])}, first applied first."""
    matrix = sp.zeros(dim, dim)
    for q, r in mapping.items():
        matrix[coordinate[r], coordinate[q]] = 1
    factors = permutation_swaps(matrix)
    return [(tuple(factors.keys.row(j)), factors.betas[j], sp.Integer(0)) for j in range(len(factors))]


def _letter(automaton: Automaton, a: int, sink: int | None, coordinate: dict[int, int], dim: int):
    """(reset, factors) of letter a (see the module)."""
    f = automaton.letter_map(a)
    states = range(len(automaton.states))
    if len(set(f)) == len(f):  # a bijection (fixing the sink, if there is one: it moves the live states only)
        return 0, _permutation({q: f[q] for q in states if q != sink}, coordinate, dim)
    if sink is None:  # a constant: the permutation-reset class
        return 1, [(_unit(dim, coordinate[f[0]]), sp.Integer(1), sp.Integer(1))]
    killed = [q for q in states if q != sink and f[q] == sink]
    live = {q: f[q] for q in states if q != sink and f[q] != sink}
    free = sorted(set(coordinate) - {sink} - set(live.values()))
    extension = {**live, **dict(zip(killed, free))}
    kills = [(_unit(dim, coordinate[q]), sp.Integer(1), sp.Integer(0)) for q in killed]
    return 0, kills + _permutation(extension, coordinate, dim)


def compile_automaton(automaton: Automaton, *, n_h: int | str = "auto", textbook: bool = False) -> Program:
    """A program tracking ``automaton`` (normalised: :func:`theory.automata.dfa.normalise`): one layer for the
    one-layer classes, else a layer per holonomy level (see the module). ``n_h``: "auto" (each layer the most
    factors any of its symbols needs) or a budget for every layer, which every n_h ≥ 1 meets (frames and
    block levels, see the module: DeltaProduct Theorem 2). ``textbook=True`` compiles a cascade as the
    published step does (Grazzi et al. 2025, App. C.5): no archive heads, each layer reading the output of the
    one above — its state after the step — as the coordinate before it; kept to exhibit the timing gap (its
    proof fails where a reset or a permutation above meets a dependent level)."""
    if not isinstance(automaton, Automaton):
        raise TypeError(f"automaton: expected a theory.automata.dfa.Automaton, got {type(automaton).__name__}")
    if not (n_h == "auto" or (isinstance(n_h, int) and not isinstance(n_h, bool) and 1 <= n_h <= MAX_NH)):
        raise ValueError(f"n_h: expected a positive integer up to {MAX_NH} or 'auto', got {n_h!r}")
    kind, sink = one_layer_class(automaton)
    if kind:
        try:
            return _compile_one_layer(automaton, kind, sink, n_h)
        except BudgetError:  # beyond the budget: the cascade, whose levels meet every n_h ≥ 1
            pass
    return _compile_cascade(automaton, n_h, textbook)


def _compile_one_layer(automaton: Automaton, kind: str, sink: int | None, n_h) -> Program:
    """The one layer of an automaton of a one-layer class (see the module)."""
    live = [q for q in range(len(automaton.states)) if q != sink]
    coordinate = {q: i for i, q in enumerate(live)}
    dim = len(live)
    letters = [_letter(automaton, a, sink, coordinate, dim) for a in range(len(automaton.letters))]
    resets = tuple(reset for reset, _ in letters)
    readouts = tuple((sp.Integer(0),) * dim if q == sink else _unit(dim, coordinate[q])
                     for q in range(len(automaton.states)))  # fmt: skip
    rows = _budgeted([factors for _, factors in letters], n_h, automaton, 0, automaton.letters, dim)
    layer = _layer(rows, dim, readouts[automaton.initial], readouts, "element", resets=resets)
    construction = f"dfa:{kind}"
    return Program("", construction, THEOREMS[construction], (layer,), tuple(range(len(automaton.states))),
                   automaton=automaton)  # fmt: skip


def _budgeted(rows: list[list], n_h, automaton: Automaton, index: int, names, dim: int) -> list[list]:
    """Every symbol's factors padded (β = 0) to the layer's n_h: the most any needs under "auto", else the
    budget (a BudgetError naming the symbol that needs more)."""
    needed = max(1, max(len(row) for row in rows))
    if n_h != "auto" and needed > n_h:
        worst = max(range(len(rows)), key=lambda s: len(rows[s]))
        raise BudgetError(
            f"layer {index} of {automaton.name} needs {needed} factors (symbol {names[worst]}), got n_h = {n_h}"
        )
    budget = needed if n_h == "auto" else n_h
    pad = (_unit(dim, 0), sp.Integer(0), sp.Integer(0))
    return [row + [pad] * (budget - len(row)) for row in rows]


def _layer(rows: list[list], dim: int, initial: tuple, readouts: tuple, symbol_map: str, *, resets=(),
           map_layers: tuple = (), lookup: tuple = ()) -> Layer:  # fmt: skip
    """An exact layer from each symbol's (key, β, value) factors (all of one length)."""
    keys = tuple(tuple(k for k, _, _ in row) for row in rows)
    betas = tuple(tuple(b for _, b, _ in row) for row in rows)
    values = tuple(tuple(v for _, _, v in row) for row in rows)
    return Layer("exact", len(rows[0]), dim, keys, betas, values, initial, readouts, symbol_map, map_layers,
                 resets=tuple(resets) if any(resets) else (), lookup=lookup)  # fmt: skip


def _contexts(holonomy: Cascade, start: tuple, letters: int) -> list[list[tuple]]:
    """Per level, the contexts (letter, source set, target set) that the cascade states reachable from
    ``start`` meet, sorted (level 0's are the letters, in order)."""
    seen, queue = {start}, [start]
    found: list[set] = [set() for _ in range(holonomy.levels)]
    for state in queue:
        for a in range(letters):
            source = target = holonomy.top
            for level, position in enumerate(state):
                found[level].add((a, source, target))
                source, target = holonomy.descend(a, source, target, level, position)
            nxt = holonomy.lift(a, state)
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return [sorted(level, key=lambda c: (c[0], sorted(c[1]), sorted(c[2]))) for level in found]


@functools.cache
def _level_factors(mapping: tuple, width: int, archive: bool) -> tuple[int, tuple]:
    """(reset, factors) of one level action on one-hot positions; with ``archive`` the state is (a, r), r
    cleared first (w projections), then a permuted, or (a, r) ↦ (e_c, a) for a constant c. Cached: many
    contexts share one action."""
    dim = 2 * width if archive else width
    clear = [(_unit(dim, width + j), sp.Integer(1), sp.Integer(0)) for j in range(width)] if archive else []
    if len(set(mapping)) == width:  # the identity (no swap) or a permutation of one class's tiles
        whole = dict(enumerate(mapping + tuple(range(width, dim))))  # the archive half stays
        return 0, tuple(clear + _permutation(whole, {p: p for p in range(dim)}, dim))
    write = (_unit(dim, mapping[0]), sp.Integer(1), sp.Integer(1))
    if not archive:
        return 1, (write,)
    half = 1 / sp.sqrt(2)
    swap = [(tuple(half if i == j else -half if i == width + j else sp.Integer(0) for i in range(dim)),
             sp.Integer(2), sp.Integer(0)) for j in range(width)]  # fmt: skip
    return 0, tuple(clear + swap + [write])


def _timing_fixes(holonomy: Cascade, contexts: list, actions: list, n_h, textbook: bool) -> list[str]:
    """Per level, how a level that resets above a dependent level keeps its coordinate before the step:
    "archive" where the archive head fits the budget (always under "auto"), else "delay"; "" for the other
    levels (and every level of a ``textbook`` program)."""
    fixes = []
    for i, level in enumerate(contexts):
        width = holonomy.widths[i]
        needed = i < holonomy.levels - 1 and not textbook and any(
            len(set(actions[i][c])) < width and holonomy.skeleton.level_of(c[1]) == i for c in level)
        cost = max(len(_level_factors(actions[i][c], width, True)[1]) for c in level)
        fixes.append("" if not needed else "archive" if n_h == "auto" or cost <= n_h else "delay")
    return fixes


FRAME_WIDTH = 8  # the frame search tries every permutation of a level's positions up to this width


def _swaps(mapping: tuple) -> int:
    """Swaps of a permutation of positions: its size minus its cycles."""
    seen, cycles = set(), 0
    for start in range(len(mapping)):
        if start not in seen:
            cycles += 1
            while start not in seen:
                seen.add(start)
                start = mapping[start]
    return len(mapping) - cycles


def _framed(mapping: tuple, frame: tuple, after: int, before: int) -> tuple:
    """F^after ∘ mapping ∘ F^(−before) on positions (F = ``frame``; the exponents are 0 or 1)."""
    inverse = tuple(sorted(range(len(frame)), key=frame.__getitem__))
    return tuple((frame if after else range(len(frame)))[mapping[inverse[y] if before else y]]
                 for y in range(len(mapping)))  # fmt: skip


def _frame(actions: dict, width: int, n_h) -> tuple | None:
    """(F, flips) for a level whose permutations need more than n_h swaps (see the module): F the first
    permutation, fewest swaps first, for which every permutation action π has a flip d = flips[π] with
    F^(q xor d) π F^(−q) within n_h swaps for q = 0, 1. None under "auto", when every permutation fits, or when
    no F of at most :data:`FRAME_WIDTH` positions does (the budget check then refuses the level)."""
    permutations = {m for m in actions.values() if len(set(m)) == width}
    if n_h == "auto" or all(_swaps(m) <= n_h for m in permutations) or width > FRAME_WIDTH:
        return None
    for frame in sorted(itertools.permutations(range(width)), key=_swaps)[1:]:
        flips = {}
        for m in permutations:
            fits = [d for d in (0, 1) if all(_swaps(_framed(m, frame, q ^ d, q)) <= n_h for q in (0, 1))]
            if not fits:
                break
            flips[m] = fits[0]
        else:
            return frame, flips
    return None


def _compile_cascade(automaton: Automaton, n_h, textbook: bool) -> Program:
    """One layer per holonomy level, a frame layer before each level that needs a frame, a delay layer after
    each level whose archive head the budget does not fit, and below them all the parity layer if there is
    a delay (see the module; ``textbook``: see :func:`compile_automaton`). Symbols are :class:`_Symbol`."""
    letters = [automaton.letter_map(a) for a in range(len(automaton.letters))]
    holonomy = cascade(letters, len(automaton.states))
    levels, widths = holonomy.levels, holonomy.widths
    start = holonomy.coordinates(automaton.initial)
    contexts = _contexts(holonomy, start, len(letters))
    actions = [{c: holonomy.level_action(*c, i) for c in level} for i, level in enumerate(contexts)]
    frames = [_frame(actions[i], widths[i], n_h) for i in range(levels)]
    blocks = [n_h != "auto" and frames[i] is None and any(len(set(m)) == widths[i] and _swaps(m) > n_h
                                                          for m in actions[i].values()) for i in range(levels)]
    fixes = ["" if block else fix for block, fix in zip(blocks, _timing_fixes(holonomy, contexts, actions, n_h,
                                                                                textbook))]  # fmt: skip
    period = max((block_period(w) for w, block in zip(widths, blocks) if block), default=0)
    phases = 2 if "delay" in fixes else 1
    layers: list[Layer] = []
    below: list = []  # the symbols of the layer below
    top = (holonomy.top, holonomy.top)
    if period:  # the counter t mod P; its output r has r mod 2 = t mod 2, the phase
        layers += _binary_counter(period, len(letters), n_h, automaton)
        below = [_Symbol((a, *top), 0) for _ in range(period) for a in range(len(letters))]
    elif phases == 2:
        layers.append(_scalar_layer([True] * len(letters), n_h, automaton, 0, automaton.letters, "element"))
        below = [_Symbol((a, *top), 0) for a in range(len(letters))]  # phase: the output
    for i in range(levels):
        w, fix, frame = widths[i], fixes[i], frames[i]
        if blocks[i]:
            symbols = [_Symbol(c, p) for c in contexts[i] for p in range(phases)]
            lookup = _chain_table(holonomy, actions, frames, i, below, len(layers[-1].readouts), symbols, fixes)
            built = _block_level([actions[i][s.context] for s in symbols], w, start[i], period, lookup,
                                 len(layers), period.bit_length() - 1, n_h)  # fmt: skip
            layers += built
            below = [_Symbol(s.context, s.phase, before=q) for q in range(w) for s in symbols]
            continue
        archive = fix == "archive"
        dim = 2 * w if archive else w
        symbols = [_Symbol(c, p) for c in contexts[i] for p in range(phases)]
        names = [f"{automaton.letters[s.context[0]]} at {sorted(s.context[1])} → {sorted(s.context[2])}"
                 for s in symbols]  # fmt: skip
        symbol_map, map_layers, lookup = "element", (), ()
        if layers:
            symbol_map, map_layers = "chain", (len(layers) - 1,)
            lookup = _chain_table(holonomy, actions, frames, i, below, len(layers[-1].readouts), symbols, fixes,
                                  textbook)  # fmt: skip
        if frame is not None:  # the frame layer takes the level's place in the chain; the level copies its bit
            flips = [frame[1].get(actions[i][s.context], 0) == 1 for s in symbols]
            layers.append(_scalar_layer(flips, n_h, automaton, len(layers), names, symbol_map, map_layers, lookup))
            lookup = tuple(2 * s + f for f in (0, 1) for s in range(len(symbols)))  # (s, f) ↦ symbol 2s + f
            symbols = [_Symbol(s.context, s.phase, f) for s in symbols for f in (0, 1)]
            names = [f"{name}, frame {f}" for name in names for f in (0, 1)]
            symbol_map, map_layers = "chain", (len(layers) - 1,)
        mappings = [actions[i][s.context] for s in symbols]
        if frame is not None:
            mappings = [_framed(m, frame[0], s.frame, s.frame ^ frame[1].get(m, 0)) for m, s in zip(mappings, symbols)]
        built = [_level_factors(m, w, archive) for m in mappings]
        readouts = tuple(tuple(sp.Integer(int(j == a or (r and j == w + r - 1))) for j in range(dim))
                         for r in range(w + 1 if archive else 1) for a in range(w))  # fmt: skip
        rows = _budgeted([list(factors) for _, factors in built], n_h, automaton, len(layers), names, dim)
        layers.append(_layer(rows, dim, readouts[start[i]], readouts, symbol_map, resets=[r for r, _ in built],
                             map_layers=map_layers, lookup=lookup))  # fmt: skip
        below = symbols
        if fix == "delay":
            layers.append(_delay_layer(actions[i], frame, w, below, start[i], n_h, automaton, len(layers)))
            below = [_Symbol(c, p, 0, o) for c, p in dict.fromkeys((s.context, s.phase) for s in below)
                     for o in range(w)]  # fmt: skip
    decoder = []
    for output in range(widths[-1]):
        for entry in below:
            (_, source, target), position = entry.context, _unframed(output, frames[-1], entry.frame)
            mapping = actions[-1][entry.context]
            here = holonomy.skeleton.level_of(source) == levels - 1
            possible = position in mapping if here else position == mapping[0]
            decoder.append(_or_missing(holonomy.point_at, target, levels - 1, position) if possible else -1)
    construction = "dfa:holonomy-cascade"
    return Program("", construction, THEOREMS[construction], tuple(layers), tuple(decoder), "chain",
                   automaton=automaton)  # fmt: skip


def _unframed(output: int, frame: tuple | None, bit: int) -> int:
    """A framed level's position F^(−bit)(output) (the output itself without a frame)."""
    return frame[0].index(output) if frame is not None and bit else output


def _scalar_layer(flips: list, n_h, automaton: Automaton, index: int, names, symbol_map: str,
                  map_layers: tuple = (), lookup: tuple = ()) -> Layer:  # fmt: skip
    """A bit h ∈ {0, 1} that each symbol flips (h ← 1 − h: key 1, β = 2, value ½) or keeps (β = 0): the
    parity layer (every symbol flips) and the frame layers."""
    one = (sp.Integer(1),)
    rows = [[(one, sp.Integer(2), sp.Rational(1, 2)) if flip else (one, sp.Integer(0), sp.Integer(0))]
            for flip in flips]  # fmt: skip
    rows = _budgeted(rows, n_h, automaton, index, names, 1)
    return _layer(rows, 1, (sp.Integer(0),), ((sp.Integer(0),), (sp.Integer(1),)), symbol_map,
                  map_layers=map_layers, lookup=lookup)  # fmt: skip


def _delay_layer(actions: dict, frame: tuple | None, w: int, symbols: list, initial: int, n_h, automaton: Automaton,
                 index: int) -> Layer:  # fmt: skip
    """The delay layer after a level of width w, its ``actions`` by context (F2 of notes/automata.md §5.3):
    state (s_0, s_1) ∈ R², symbol (context, phase p, written o) writes o + 1 into slot p = t mod 2 (key
    e_p, β = 1, value o + 1: one factor), so the other slot holds the level's coordinate before the step
    plus one; readout x + w·y is (x + 1, y + 1), the start (q_0 + 1, q_0 + 1). Its chain table reads the
    level's (context, phase) and its output out of the level's ``frame``."""
    pairs = list(dict.fromkeys((s.context, s.phase) for s in symbols))
    rows = [[(_unit(2, p), sp.Integer(1), sp.Integer(o + 1))] for _, p in pairs for o in range(w)]
    rows = _budgeted(rows, n_h, automaton, index, [f"delay write {o}" for _ in pairs for o in range(w)], 2)
    readouts = tuple((sp.Integer(x + 1), sp.Integer(y + 1)) for y in range(w) for x in range(w))
    slot = {pair: j for j, pair in enumerate(pairs)}
    lookup = []
    for output in range(w):
        for s in symbols:
            o = _unframed(output, frame, s.frame)
            lookup.append(slot[(s.context, s.phase)] * w + o if o in actions[s.context] else -1)
    return _layer(rows, 2, readouts[initial * (w + 1)], readouts, "chain", map_layers=(index - 1,),
                  lookup=tuple(lookup))


def _binary_counter(period: int, tokens: int, n_h, automaton: Automaton) -> list[Layer]:
    """t mod P (P = 2^m) in m + 1 layers whose numbers are exact in every format, every token alike: bit k
    (a scalar h ← 1 − h, key 1, β = 2, value ½, or β = 0) flips when bits 0 … k − 1 after the step are all 0
    (the carry), then a one-hot layer writes e_{t mod P} (gate −inf, key e_r, β = 1, value 1, r the bits
    read as a binary number). We chose it over Theorem 6's reflections of Z_P (the S_n block programs'
    counter, :mod:`theory.programs.group_to_layers`), whose rounded angles drift in bf16 within a few
    hundred tokens: every state here is re-written or a bit, so rounding never accumulates."""
    bits = period.bit_length() - 1
    layers = []
    for k in range(bits):  # symbol x + tokens·(bits 0 … k − 1 as a number)
        flips = [r == 0 for r in range(1 << k) for _ in range(tokens)]
        layer = _scalar_layer(flips, n_h, automaton, k, [f"bit {k}"] * len(flips), "element")
        layers.append(dataclasses.replace(layer, symbol_map="element_with", map_layers=tuple(range(k))) if k else
                      layer)  # fmt: skip
    one_hot = tuple(_unit(period, r) for r in range(period))
    rows = [[(one_hot[r], sp.Integer(1), sp.Integer(1))] for r in range(period) for _ in range(tokens)]
    count = _layer(_budgeted(rows, n_h, automaton, bits, None, period), period, one_hot[0], one_hot, "element",
                   resets=[1] * len(rows))  # fmt: skip
    return [*layers, dataclasses.replace(count, symbol_map="element_with", map_layers=tuple(range(bits)))]


def _block_level(mappings: list, w: int, initial: int, period: int, lookup: tuple, index: int, counter: int,
                 n_h) -> list[Layer]:  # fmt: skip
    """A block level (see the module) of width w whose chain symbol j acts by ``mappings[j]``: its buffer,
    swap and level layers, which read the counter (layer ``counter``) and, the buffer, the layer ``index`` − 1
    below through ``lookup``. One factor per symbol in each, padded to ``n_h``."""
    actions = list(dict.fromkeys(mappings))
    slots = sp.eye(period)
    buffer_rows = [[(tuple(slots.row(c)), sp.Integer(1), sp.Integer(actions.index(m) + 1))]
                   for c in range(period) for m in mappings]  # fmt: skip
    buffer = _layer(_budgeted(buffer_rows, n_h, None, index, None, period), period, (sp.Integer(0),) * period,
                    tuple((sp.Integer(v),) for v in range(len(actions) + 1)), "chain_count",
                    map_layers=(index - 1, counter), lookup=lookup)  # fmt: skip
    buffer = dataclasses.replace(buffer, decode="grid", period=period)
    half = 1 / sp.sqrt(2)
    swap_rows = [[(_unit(w, 0), sp.Integer(0), sp.Integer(0))]]
    swap_rows += [[(tuple(half if c == i else -half if c == j else sp.Integer(0) for c in range(w)), sp.Integer(2),
                    sp.Integer(0))] for i, j in swap_pairs(w)]  # fmt: skip
    swap_rows += [[(_unit(w, c), sp.Integer(1), sp.Integer(1))] for c in range(w)]
    one_hot = tuple(_unit(w, q) for q in range(w))
    flat = tuple(p for m in actions for p in m)
    resets = [0] * (1 + w * (w - 1) // 2) + [1] * w
    swap = _layer(_budgeted(swap_rows, n_h, None, index + 1, None, w), w, one_hot[initial], one_hot, "level_swaps",
                  resets=resets, map_layers=(counter, index), lookup=flat)  # fmt: skip
    swap = dataclasses.replace(swap, period=period)
    level_rows = [[(_unit(w, m[q]), sp.Integer(1), sp.Integer(1))] for q in range(w) for m in mappings]
    level = _layer(_budgeted(level_rows, n_h, None, index + 2, None, w), w, one_hot[initial], one_hot, "level_block",
                   resets=[1] * len(level_rows), map_layers=(counter, index, index + 1))  # fmt: skip
    return [buffer, swap, level]


def _or_missing(function, *args) -> int:
    """function(*args), or −1 where the arguments name no tile chain."""
    try:
        return function(*args)
    except ValueError:
        return -1


def _chain_table(holonomy: Cascade, actions: list, frames: list, level: int, below: list, outputs: int,
                 symbols: list, fixes: list, textbook: bool = False) -> tuple:  # fmt: skip
    """The ``chain`` table of level ``level``'s layer (or its frame layer): for each output o of the layer
    below and each of its symbols, this level's symbol (context, phase) — −1 where none is reachable. Below
    level 0 is the parity layer (symbol: the letter, output: the phase). Below a level, its source coordinate
    before the step is, with a the output out of the level's frame, a itself under the identity, π⁻¹(a)
    under a permutation π and, after a reset, the archived r − 1 of o = a + w·r (an archive head); below a
    delay layer, the slot the step did not write (o = x + w·y holds (x + 1, y + 1)). Only a source at the
    level above reads it. ``textbook``: a itself throughout (the timing gap left open)."""
    index = {s: j for j, s in enumerate(symbols)}
    if level == 0:  # below: the parity layer or the counter, its output mod 2 the phase (when phases are kept)
        phases = 1 + max(s.phase for s in symbols)
        return tuple(index[_Symbol(s.context, o % phases)] for o in range(outputs) for s in below)
    above = level - 1
    width = holonomy.widths[above]
    table = []
    for output in range(outputs):
        for entry in below:
            context, p = entry.context, entry.phase
            mapping = actions[above][context]
            here = holonomy.skeleton.level_of(context[1]) == above
            if entry.before >= 0:  # a block level: the coordinate before the step is in the symbol
                before = entry.before if output == mapping[entry.before] else None
            elif entry.written >= 0:  # a delay layer: written slot p holds o + 1, the other the coordinate before
                slots = (output % width, output // width)
                written = slots[p] == entry.written and mapping[slots[1 - p]] == entry.written
                before = slots[1 - p] if written and (here or not slots[1 - p]) else None
            else:
                a, r = _unframed(output % width, frames[above], entry.frame), output // width
                if textbook:
                    before = a  # the state after the step, read as the one before it
                elif not here:
                    before = 0 if a == mapping[0] else None
                elif len(set(mapping)) == width:
                    before = mapping.index(a)
                elif fixes[above] == "archive" and r and a == mapping[0]:
                    before = r - 1
                else:
                    before = None
            nxt = None if before is None else _or_missing(holonomy.descend, *context, above, before)
            table.append(index.get(_Symbol((context[0], *nxt), p), -1) if isinstance(nxt, tuple) else -1)
    return tuple(table)
