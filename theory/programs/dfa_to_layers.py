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
exactly by a breadth-first search over (readout, DFA state). Automata in none of these classes need a
cascade of layers (Krohn–Rhodes / holonomy), which this module does not build yet: they are refused with
their class.
"""

from __future__ import annotations

import sympy as sp

from theory.automata.analyse import analyse, one_layer_class
from theory.automata.dfa import Automaton
from theory.factorize import permutation_swaps
from theory.programs.ir import MAX_NH, BudgetError, Layer, Program

__all__ = ["compile_automaton", "THEOREMS", "CascadeNeeded"]

THEOREMS = {
    "dfa:group": "Grazzi et al. 2025, Theorem 3: a group automaton in one layer of swap reflections",
    "dfa:permutation-reset": "Grazzi et al. 2025, Theorem 4 (one permutation-reset component): swaps, and resets "
    "as the gate −inf and one write",
    "dfa:partial-injection-sink": "Our construction: partial permutation matrices (projections β = 1, swaps "
    "β = 2), the common sink as the zero vector",
}


class CascadeNeeded(ValueError):
    """An automaton outside the one-layer classes: it needs a cascade of layers, not compiled yet."""


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


def compile_automaton(automaton: Automaton, *, n_h: int | str = "auto") -> Program:
    """One layer tracking ``automaton`` (normalised: :func:`theory.automata.dfa.normalise`), see the module.
    ``n_h``: "auto" (the most factors any letter needs) or a budget; a letter that needs more is a
    :class:`theory.programs.ir.BudgetError`; an automaton outside the one-layer classes a
    :class:`CascadeNeeded`."""
    if not isinstance(automaton, Automaton):
        raise TypeError(f"automaton: expected a theory.automata.dfa.Automaton, got {type(automaton).__name__}")
    if not (n_h == "auto" or (isinstance(n_h, int) and not isinstance(n_h, bool) and 1 <= n_h <= MAX_NH)):
        raise ValueError(f"n_h: expected a positive integer up to {MAX_NH} or 'auto', got {n_h!r}")
    kind, sink = one_layer_class(automaton)
    if not kind:  # the monoid is enumerated only to say why
        analysis = analyse(automaton)
        divisors = ", ".join(analysis.simple_divisors or ()) or "none"
        raise CascadeNeeded(
            f"dfa: {automaton.name} ({analysis.states} states) is {analysis.classification} (monoid of "
            f"{analysis.monoid_size} elements, simple divisors: {divisors}): no one-layer class holds, and the "
            "cascade compiler (Krohn–Rhodes / holonomy) is not built yet"
        )
    live = [q for q in range(len(automaton.states)) if q != sink]
    coordinate = {q: i for i, q in enumerate(live)}
    dim = len(live)
    letters = [_letter(automaton, a, sink, coordinate, dim) for a in range(len(automaton.letters))]
    needed = max(1, max(len(factors) for _, factors in letters))
    if n_h != "auto" and needed > n_h:
        worst = max(range(len(letters)), key=lambda a: len(letters[a][1]))
        raise BudgetError(
            f"n_h: letter {automaton.letters[worst]!r} of {automaton.name} needs {needed} factors in one layer "
            f"({kind}), got n_h = {n_h}; the multi-layer route for smaller budgets is not built yet"
        )
    budget = needed if n_h == "auto" else n_h
    pad = (_unit(dim, 0), sp.Integer(0), sp.Integer(0))
    rows = [factors + [pad] * (budget - len(factors)) for _, factors in letters]
    keys = tuple(tuple(k for k, _, _ in row) for row in rows)
    betas = tuple(tuple(b for _, b, _ in row) for row in rows)
    values = tuple(tuple(v for _, _, v in row) for row in rows)
    resets = tuple(reset for reset, _ in letters)
    readouts = tuple((sp.Integer(0),) * dim if q == sink else _unit(dim, coordinate[q])
                     for q in range(len(automaton.states)))  # fmt: skip
    layer = Layer("exact", budget, dim, keys, betas, values, readouts[automaton.initial], readouts, "element",
                  resets=resets if any(resets) else ())  # fmt: skip
    construction = f"dfa:{kind}"
    return Program("", construction, THEOREMS[construction], (layer,), tuple(range(len(automaton.states))),
                   automaton=automaton)  # fmt: skip
