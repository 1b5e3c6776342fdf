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
state and makes its n_h 2w + 1. Under a budget n_h below that, the level gets a **delay layer** instead
(F2 of notes/automata.md §5.3): two slots, the token at t writing the level's output plus one into slot
t mod 2 (key e_p, β = 1: one factor), so the other slot holds its coordinate before the step; t mod 2 comes
from a parity layer h ← 1 − h (key 1, β = 2, value ½) below every level and is carried down the chain
symbols. One factor per layer, one layer more per such level and one for the parity. (A token shift, which
fla's short convolution resembles, is not in the program model.) A budget below what a level's
permutations need (n − c swaps) is refused: the block construction that spreads a permutation over
several tokens (Siems et al. 2025, Theorem 1) is built for S_n word problems, not yet for cascade levels.
A one-layer class whose layer exceeds the budget is compiled through its cascade when that fits.

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

__all__ = ["compile_automaton", "roles", "THEOREMS"]

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


def roles(program: Program) -> tuple[str, ...]:
    """Per layer of a cascade program, what it is, read from its structure: "parity" (the one-dimensional
    t mod 2 layer that delay layers need), "delay" (two slots, readouts (x + 1, y + 1): no zero entry, which
    no one-hot level has), "archive" (a level with an archive head: its readouts, the pairs (a, r), outnumber
    its dimension) or "level"; a one-layer program's layer is a "level"."""
    if program.construction != "dfa:holonomy-cascade":
        return ("level",) * len(program.layers)
    out = []
    for layer in program.layers:
        if layer.dim == 1:
            out.append("parity")
        elif layer.dim == 2 and all(e != 0 for r in layer.readouts for e in r):
            out.append("delay")
        else:
            out.append("archive" if len(layer.readouts) > layer.dim else "level")
    return tuple(out)


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
    try:
        if not kind:
            return _compile_cascade(automaton, n_h, textbook)
        try:
            return _compile_one_layer(automaton, kind, sink, n_h)
        except BudgetError as one_layer:
            try:  # a level of the cascade may need fewer factors than the one layer
                return _compile_cascade(automaton, n_h, textbook)
            except BudgetError as levels:
                raise BudgetError(f"{one_layer} (through its holonomy cascade, {levels})") from None
    except BudgetError as short:
        raise BudgetError(f"n_h: {short}: {_BLOCKS_MISSING}") from None


_BLOCKS_MISSING = ("a permutation of more swaps than the budget needs the block construction of Siems et al. 2025, "
                   "Theorem 1 (DeltaProduct Theorem 2 for every n_h), not built for automata yet")


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


def _compile_cascade(automaton: Automaton, n_h, textbook: bool) -> Program:
    """One layer per holonomy level and a delay layer after each level whose archive head the budget does
    not fit, below them all the parity layer if there is a delay (see the module; ``textbook``: see
    :func:`compile_automaton`).
    Symbols are (context, phase) pairs — the phase t mod 2 carried down from the parity layer, 0 without
    one — and a delay layer's symbols (context, output, phase)."""
    letters = [automaton.letter_map(a) for a in range(len(automaton.letters))]
    holonomy = cascade(letters, len(automaton.states))
    levels, widths = holonomy.levels, holonomy.widths
    start = holonomy.coordinates(automaton.initial)
    contexts = _contexts(holonomy, start, len(letters))
    actions = [{c: holonomy.level_action(*c, i) for c in level} for i, level in enumerate(contexts)]
    fixes = _timing_fixes(holonomy, contexts, actions, n_h, textbook)
    phases = 2 if "delay" in fixes else 1
    layers: list[Layer] = []
    below: list = []  # the symbols of the layer below, as (context, phase) or (context, output, phase)
    if phases == 2:
        rows = _budgeted([[((sp.Integer(1),), sp.Integer(2), sp.Rational(1, 2))] for _ in letters], n_h,
                         automaton, 0, automaton.letters, 1)  # fmt: skip
        layers.append(_layer(rows, 1, (sp.Integer(0),), ((sp.Integer(0),), (sp.Integer(1),)), "element"))
        below = [((a, holonomy.top, holonomy.top), None) for a in range(len(letters))]  # phase: the output
    for i in range(levels):
        w, fix = widths[i], fixes[i]
        archive = fix == "archive"
        dim = 2 * w if archive else w
        symbols = [(c, p) for c in contexts[i] for p in range(phases)]
        built = [_level_factors(actions[i][c], w, archive) for c, _ in symbols]
        readouts = tuple(tuple(sp.Integer(int(j == a or (r and j == w + r - 1))) for j in range(dim))
                         for r in range(w + 1 if archive else 1) for a in range(w))  # fmt: skip
        names = [f"{automaton.letters[a]} at {sorted(source)} → {sorted(target)}" for (a, source, target), _ in symbols]
        rows = _budgeted([list(factors) for _, factors in built], n_h, automaton, len(layers), names, dim)
        symbol_map, map_layers, lookup = "element", (), ()
        if layers:
            symbol_map, map_layers = "chain", (len(layers) - 1,)
            lookup = _chain_table(holonomy, actions, i, below, len(layers[-1].readouts), symbols, fixes, textbook)
        layers.append(_layer(rows, dim, readouts[start[i]], readouts, symbol_map, resets=[r for r, _ in built],
                             map_layers=map_layers, lookup=lookup))  # fmt: skip
        below = symbols
        if fix == "delay":
            layers.append(_delay_layer(actions[i], w, below, start[i], n_h, automaton, len(layers)))
            below = [(c, o, p) for c, p in symbols for o in range(w)]
    decoder = []
    for position in range(widths[-1]):
        for (a, source, target), _ in below:
            mapping = actions[-1][(a, source, target)]
            here = holonomy.skeleton.level_of(source) == levels - 1
            possible = position in mapping if here else position == mapping[0]
            decoder.append(_or_missing(holonomy.point_at, target, levels - 1, position) if possible else -1)
    construction = "dfa:holonomy-cascade"
    return Program("", construction, THEOREMS[construction], tuple(layers), tuple(decoder), "chain",
                   automaton=automaton)  # fmt: skip


def _delay_layer(actions: dict, w: int, symbols: list, initial: int, n_h, automaton: Automaton, index: int) -> Layer:
    """The delay layer after a level of width w, its ``actions`` by context (F2 of notes/automata.md §5.3):
    state (s_0, s_1) ∈ R², symbol (context, o, p) writes o + 1 into slot p = t mod 2 (key e_p, β = 1,
    value o + 1: one factor), so the other slot holds the level's coordinate before the step plus one;
    readout x + w·y is (x + 1, y + 1), the start (q_0 + 1, q_0 + 1). Its chain table copies the level's
    (context, phase) and output o."""
    rows = [[(_unit(2, p), sp.Integer(1), sp.Integer(o + 1))] for _, p in symbols for o in range(w)]
    rows = _budgeted(rows, n_h, automaton, index, [f"delay write {o}" for _ in symbols for o in range(w)], 2)
    readouts = tuple((sp.Integer(x + 1), sp.Integer(y + 1)) for y in range(w) for x in range(w))
    lookup = [s * w + o if o in actions[symbols[s][0]] else -1 for o in range(w) for s in range(len(symbols))]
    return _layer(rows, 2, readouts[initial * (w + 1)], readouts, "chain", map_layers=(index - 1,),
                  lookup=tuple(lookup))


def _or_missing(function, *args) -> int:
    """function(*args), or −1 where the arguments name no tile chain."""
    try:
        return function(*args)
    except ValueError:
        return -1


def _chain_table(holonomy: Cascade, actions: list, level: int, below: list, outputs: int, symbols: list,
                 fixes: list, textbook: bool = False) -> tuple:
    """The ``chain`` table of level ``level``'s layer: for each output o of the layer below and each of its
    symbols, this level's symbol (context, phase) — −1 where none is reachable. Below level 0 is the parity
    layer (symbol: the letter, output: the phase). Below a level, its source coordinate before the step is
    o itself under the identity, π⁻¹(o) under a permutation π and, after a reset, the archived r − 1 of
    o = a + w·r (an archive head); below a delay layer, the slot the step did not write (o = x + w·y holds
    (x + 1, y + 1)). Only a source at the level above reads it. ``textbook``: o itself throughout (the timing
    gap left open)."""
    index = {s: j for j, s in enumerate(symbols)}
    if level == 0:  # below: the parity layer, its output the phase
        return tuple(index[(c, o)] for o in range(outputs) for c, _ in below)
    above = level - 1
    width = holonomy.widths[above]
    table = []
    for output in range(outputs):
        for entry in below:
            context, p = entry[0], entry[-1]
            mapping = actions[above][context]
            here = holonomy.skeleton.level_of(context[1]) == above
            if len(entry) == 3:  # a delay layer: written slot p holds o + 1, the other the coordinate before
                slots = (output % width, output // width)
                before = slots[1 - p] if slots[p] == entry[1] and mapping[slots[1 - p]] == entry[1] else None
                before = None if before is None or (not here and before) else before
            else:
                a, r = output % width, output // width
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
            table.append(index.get(((context[0], *nxt), p), -1) if isinstance(nxt, tuple) else -1)
    return tuple(table)
