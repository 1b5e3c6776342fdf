"""DFA → layers: a regular language's minimal automaton compiled into a gated DeltaProduct program that
tracks its state, for the automata that one layer realises.

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
state and makes its n_h 2w + 1. (Delay layers would keep n_h but add a layer per level; a token shift,
which fla's short convolution resembles, is not in the program model.)

*The lookup* is a ``chain`` symbol map: layer i's symbol is the context (letter, q_{<i}(t − 1)), one of
the contexts that reachable cascade states give, and its table maps (layer i − 1's symbol, its decoded
output) to it — a function of the token and the decoded outputs of every layer below, stored one layer at
a time (a dense table over all outputs below would grow as the product of the widths). The ``chain``
decoder maps the last layer's (symbol, output) to the state: the coordinates after the step, interpreted.
Pairs no word reaches are −1; the proof's search shows none is met.
"""

from __future__ import annotations

import functools

import sympy as sp

from theory.automata.analyse import one_layer_class
from theory.automata.dfa import Automaton
from theory.automata.holonomy import Cascade, cascade
from theory.factorize import permutation_swaps
from theory.programs.ir import MAX_NH, BudgetError, Layer, Program

__all__ = ["compile_automaton", "archives", "THEOREMS"]

THEOREMS = {
    "dfa:group": "Grazzi et al. 2025, Theorem 3: a group automaton in one layer of swap reflections",
    "dfa:permutation-reset": "Grazzi et al. 2025, Theorem 4 (one permutation-reset component): swaps, and resets "
    "as the gate −inf and one write",
    "dfa:partial-injection-sink": "Our construction: partial permutation matrices (projections β = 1, swaps "
    "β = 2), the common sink as the zero vector",
    "dfa:holonomy-cascade": "Grazzi et al. 2025, Theorem 4 and DeltaProduct Theorem 2 (a cascade of permutation-reset "
    "components, one gated layer each), through the holonomy decomposition (Eilenberg 1976; Egri-Nagy & Nehaniv "
    "2015), with our archive heads for the cascade's timing gap",
}


def archives(program: Program) -> tuple[bool, ...]:
    """Per layer of a cascade program, whether it carries an archive head: its readouts are the pairs
    (a, r), more than its dimension (a level without one has one readout per coordinate); one-layer
    programs have none."""
    cascade_program = program.construction == "dfa:holonomy-cascade"
    return tuple(cascade_program and len(layer.readouts) > layer.dim for layer in program.layers)


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
    factors any of its symbols needs) or a budget for every layer; a layer that needs more is a
    :class:`theory.programs.ir.BudgetError`. ``textbook=True`` compiles a cascade as the published step does
    (Grazzi et al. 2025, App. C.5): no archive heads, each layer reading the output of the one above — its
    state after the step — as the coordinate before it; kept to exhibit the timing gap (its proof fails
    where a reset or a permutation above meets a dependent level)."""
    if not isinstance(automaton, Automaton):
        raise TypeError(f"automaton: expected a theory.automata.dfa.Automaton, got {type(automaton).__name__}")
    if not (n_h == "auto" or (isinstance(n_h, int) and not isinstance(n_h, bool) and 1 <= n_h <= MAX_NH)):
        raise ValueError(f"n_h: expected a positive integer up to {MAX_NH} or 'auto', got {n_h!r}")
    kind, sink = one_layer_class(automaton)
    if not kind:
        return _compile_cascade(automaton, n_h, textbook)
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
            f"n_h: layer {index} of {automaton.name} needs {needed} factors (symbol {names[worst]}), got n_h = "
            f"{n_h}; only the one-layer classes and cascade levels without archives fit smaller budgets here"
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


def _compile_cascade(automaton: Automaton, n_h, textbook: bool) -> Program:
    """One layer per holonomy level (see the module; ``textbook``: see :func:`compile_automaton`)."""
    letters = [automaton.letter_map(a) for a in range(len(automaton.letters))]
    holonomy = cascade(letters, len(automaton.states))
    levels, widths, level_of = holonomy.levels, holonomy.widths, holonomy.skeleton.level_of
    start = holonomy.coordinates(automaton.initial)
    contexts = _contexts(holonomy, start, len(letters))
    actions = [{c: holonomy.level_action(*c, i) for c in level} for i, level in enumerate(contexts)]
    archives = [not textbook and i < levels - 1 and any(len(set(actions[i][c])) < widths[i] and level_of(c[1]) == i
                                       for c in contexts[i]) for i in range(levels)]  # fmt: skip
    layers: list[Layer] = []
    for i in range(levels):
        w, archive = widths[i], archives[i]
        dim = 2 * w if archive else w
        built = [_level_factors(actions[i][c], w, archive) for c in contexts[i]]
        readouts = tuple(tuple(sp.Integer(int(j == a or (r and j == w + r - 1))) for j in range(dim))
                         for r in range(w + 1 if archive else 1) for a in range(w))  # fmt: skip
        names = [f"{automaton.letters[a]} at {sorted(source)} → {sorted(target)}" for a, source, target in contexts[i]]
        rows = _budgeted([list(factors) for _, factors in built], n_h, automaton, i, names, dim)
        symbol_map, map_layers, lookup = "element", (), ()
        if i:
            symbol_map, map_layers = "chain", (i - 1,)
            lookup = _chain_table(holonomy, i - 1, contexts[i - 1], actions[i - 1], archives[i - 1], contexts[i],
                                  textbook)
        layers.append(_layer(rows, dim, readouts[start[i]], readouts, symbol_map, resets=[r for r, _ in built],
                             map_layers=map_layers, lookup=lookup))  # fmt: skip
    last = levels - 1
    decoder = []
    for position in range(widths[last]):
        for a, source, target in contexts[last]:
            mapping = actions[last][(a, source, target)]
            possible = position in mapping if level_of(source) == last else position == mapping[0]
            decoder.append(_or_missing(holonomy.point_at, target, last, position) if possible else -1)
    construction = "dfa:holonomy-cascade"
    return Program("", construction, THEOREMS[construction], tuple(layers), tuple(decoder), "chain",
                   automaton=automaton)  # fmt: skip


def _or_missing(function, *args) -> int:
    """function(*args), or −1 where the arguments name no tile chain."""
    try:
        return function(*args)
    except ValueError:
        return -1


def _chain_table(holonomy: Cascade, level: int, contexts: list, actions: dict, archive: bool, following: list,
                 textbook: bool = False):
    """The ``chain`` table of the layer after ``level``: for each output o = a + w·r of the level (r = 0 for
    an empty archive, else 1 + the archived position) and each of its contexts, the next level's context:
    the source coordinate before the step is a itself under the identity, π⁻¹(a) under a permutation π and
    the archived r − 1 after a reset (only a source at this level reads it); −1 where none is reachable.
    ``textbook``: a itself throughout (the timing gap left open)."""
    width = holonomy.widths[level]
    index = {c: j for j, c in enumerate(following)}
    table = []
    for output in range(width * (width + 1 if archive else 1)):
        a, r = output % width, output // width
        for context in contexts:
            mapping = actions[context]
            before = None
            if textbook:
                before = a  # the state after the step, read as the one before it
            elif holonomy.skeleton.level_of(context[1]) != level:
                before = 0 if a == mapping[0] else None
            elif len(set(mapping)) == width:
                before = mapping.index(a)
            elif archive and r and a == mapping[0]:
                before = r - 1
            nxt = None if before is None else _or_missing(holonomy.descend, *context, level, before)
            table.append(index.get((context[0], *nxt), -1) if isinstance(nxt, tuple) else -1)
    return tuple(table)
