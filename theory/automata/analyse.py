"""Automaton → algebra: the transition monoid, the one-layer classes, aperiodicity and the simple groups
dividing the monoid.

Letters act as transformations f of the states (q·a = f[q]); a word acts as the composite, left to right:
(f·g)[q] = g[f[q]]. The monoid M is generated from the identity by right multiplication with the letters
(breadth first, one witness per element, stopped at a cap). Classes, each realisable by one layer of
one-hot states (:mod:`theory.programs.dfa_to_layers`):

* ``group`` — every letter is a bijection (Grazzi et al. 2025, Theorem 3);
* ``permutation-reset`` — every letter is a bijection or a constant map (a reset);
* ``partial-injection-sink`` — a state z that every letter fixes, and every letter is injective on the
  states it does not send to z (z becomes the zero vector, each letter a partial permutation matrix).

M is aperiodic (the language is star-free, McNaughton–Papert) when every element m has m^k = m^(k+1) for
some k. The simple groups dividing M are the composition factors of its maximal subgroups H_e (e an
idempotent; H_e = {x ∈ eMe : x permutes Im(e)}), computed with sympy's composition series.
"""

from __future__ import annotations

from dataclasses import dataclass

from sympy import factorint, isprime
from sympy.combinatorics import Permutation, PermutationGroup

from theory.automata.dfa import Automaton
from theory.automata.holonomy import generated_monoid, skeleton

__all__ = ["Analysis", "analyse", "one_layer_class", "monoid", "sink_of", "MAX_MONOID", "CLASSES"]

MAX_MONOID = 100_000
CLASSES = ("group", "permutation-reset", "partial-injection-sink", "aperiodic", "general")


@dataclass(frozen=True)
class Analysis:
    """``monoid_size`` (None above the cap), ``classification`` (the first of :data:`CLASSES` that holds),
    ``sink`` (the common sink of the partial-injection class, else None), ``aperiodic`` (None when the
    monoid was not enumerated), ``simple_divisors`` (names such as "C2", "C3", "A5"; None likewise) and
    ``holonomy_levels`` (the levels of the holonomy decomposition, :mod:`theory.automata.holonomy`)."""

    states: int
    letters: int
    monoid_size: int | None
    classification: str
    sink: int | None
    aperiodic: bool | None
    simple_divisors: tuple[str, ...] | None
    holonomy_levels: int


def _compose(f: tuple, g: tuple) -> tuple:
    return tuple(g[q] for q in f)


def monoid(automaton: Automaton, cap: int = MAX_MONOID) -> list[tuple] | None:
    """Every transformation of a word (the identity first), or None when there are more than ``cap``."""
    letters = [automaton.letter_map(a) for a in range(len(automaton.letters))]
    identity = tuple(range(len(automaton.states)))
    try:
        elements = generated_monoid(letters, len(automaton.states), cap)
    except ValueError:
        return None
    return sorted(elements, key=lambda f: (f != identity, f))


def sink_of(automaton: Automaton) -> int | None:
    """The state z of the partial-injection-with-sink class, if the automaton is in it: every letter fixes
    z and is injective on the states it does not send to z."""
    n = len(automaton.states)
    maps = [automaton.letter_map(a) for a in range(len(automaton.letters))]
    for z in range(n):
        if all(f[z] == z for f in maps):
            if all(len({f[q] for q in range(n) if f[q] != z}) == sum(f[q] != z for q in range(n)) for f in maps):
                return z
    return None


def one_layer_class(automaton: Automaton) -> tuple[str, int | None]:
    """(the first one-layer class that holds — "group", "permutation-reset", "partial-injection-sink" —
    or "" when none does, the sink of the last class or None), from the letters alone (no monoid)."""
    n = len(automaton.states)
    maps = [automaton.letter_map(a) for a in range(len(automaton.letters))]
    if all(len(set(f)) == n for f in maps):
        return "group", None
    if all(len(set(f)) in (1, n) for f in maps):
        return "permutation-reset", None
    sink = sink_of(automaton)
    if sink is not None:
        return "partial-injection-sink", sink
    return "", None


def _aperiodic(elements: list[tuple]) -> bool:
    for m in elements:
        powers, p = [m], _compose(m, m)
        while p not in powers:
            powers.append(p)
            p = _compose(p, m)
        if p != powers[-1]:  # the powers cycle with period > 1
            return False
    return True


def _simple_divisors(elements: list[tuple]) -> tuple[str, ...]:
    names = set()
    for e in elements:
        if _compose(e, e) != e:
            continue
        image = sorted(set(e))
        if len(image) < 2:
            continue
        where = {q: i for i, q in enumerate(image)}
        perms = set()
        for x in elements:
            if _compose(_compose(e, x), e) == x and len({x[q] for q in image}) == len(image):
                perms.add(Permutation([where[x[q]] for q in image]))
        if perms:
            names.update(_composition_factors(_generated(perms)))
    return tuple(sorted(names, key=lambda s: (len(s), s)))


def _generated(perms: set) -> PermutationGroup:
    """The group of ``perms``, generated by the few of them that each enlarge it (Schreier–Sims membership)."""
    group = PermutationGroup([next(iter(perms))])
    for p in perms:
        if not group.contains(p):
            group = PermutationGroup([*group.generators, p])
    return group


def _composition_factors(group: PermutationGroup) -> list[str]:
    """Names of the composition factors: a solvable group's from sympy's composition series; otherwise the
    abelian layers of the derived series (C_p for each prime p of their orders) and, for the perfect group at
    its end, a proper normal closure of a conjugacy class representative if one exists (recursively), else
    the simple group itself."""
    order = group.order()
    if order == 1:
        return []
    if group.is_solvable:
        series = group.composition_series()
        return [_simple_name(big.order() // small.order()) for big, small in zip(series, series[1:])]
    derived = group.derived_subgroup()
    if derived.order() < order:
        primes = factorint(order // derived.order())
        return _composition_factors(derived) + [f"C{p}" for p, e in primes.items() for _ in range(e)]
    for cls in group.conjugacy_classes():
        normal = group.normal_closure(next(iter(cls)))
        if 1 < normal.order() < order:
            return _composition_factors(normal) + [_simple_name(order // normal.order())]
    return [_simple_name(order)]


def _simple_name(order: int) -> str:
    """A simple group by its order: C_p for a prime; the non-abelian simple groups of degree ≤ 8 by name
    (A5, PSL(2,7), A6, A7, A8); another order as "simple of order N"."""
    if isprime(order):
        return f"C{order}"
    return {60: "A5", 168: "PSL(2,7)", 360: "A6", 2520: "A7", 20160: "A8"}.get(order, f"simple of order {order}")


def analyse(automaton: Automaton, cap: int = MAX_MONOID) -> Analysis:
    """The algebra of ``automaton`` (see the module); the monoid is enumerated up to ``cap`` elements."""
    if not isinstance(automaton, Automaton):
        raise TypeError(f"automaton: expected a theory.automata.dfa.Automaton, got {type(automaton).__name__}")
    kind, sink = one_layer_class(automaton)
    elements = monoid(automaton, cap)
    aperiodic = None if elements is None else _aperiodic(elements)
    if not kind:
        kind = "aperiodic" if aperiodic else "general"
    divisors = None if elements is None else _simple_divisors(elements)
    letters = [automaton.letter_map(a) for a in range(len(automaton.letters))]
    levels = len(skeleton(letters, len(automaton.states), groups=False).levels)
    return Analysis(len(automaton.states), len(automaton.letters), None if elements is None else len(elements),
                    kind, sink, aperiodic, divisors, levels)  # fmt: skip
