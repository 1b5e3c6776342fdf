"""Transformation semigroup → holonomy skeleton: the image sets, their subduction classes, heights and tiles,
and the holonomy groups, which give the levels and components of the holonomy decomposition (Zeiger 1967;
Eilenberg 1976, Vol. B; Egri-Nagy & Nehaniv, arXiv 1508.06345) — the first stages of the cascade compiler.

Written here because no Python package computes it. Definitions, for generators acting on the right on
points 0 … n−1 (a word acts left to right), S¹ the monoid they generate:

* images I: the orbit of the full set X under the generators (X included); I⁺ = I ∪ all singletons;
* subduction: P ≤ Q iff P ⊆ Q·s for some s ∈ S¹; its classes are P ≤ Q ≤ P;
* height: h({x}) = 0, h(P) = 1 + max h over the sets strictly below P; depth(P) = h(X) − h(P) + 1, and the
  decomposition has h(X) levels (level d holds the classes of depth d that are not singletons);
* tiles(P): the maximal sets of I⁺ properly inside P;
* the holonomy group of a class: the permutations of tiles(P̂) induced by {s ∈ S¹ : P̂·s = P̂}, P̂ the class's
  representative (the least set of the class in a fixed order: its holonomy group does not depend on it).

A level's component is the disjoint union of its classes' tiles, acted on by their holonomy groups and by
constant maps: a permutation-reset automaton, which one gated layer realises.

:func:`cascade` goes on to the decomposition itself (Eilenberg's holonomy theorem, in the form of
Egri-Nagy & Nehaniv §5): a :class:`Cascade` with coordinates, their interpretation and every letter lifted
to level actions that read only the levels above (see its docstring).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from sympy.combinatorics import Permutation, PermutationGroup

__all__ = ["Skeleton", "skeleton", "Component", "generated_monoid", "Cascade", "cascade", "compose"]


@dataclass(frozen=True)
class Component:
    """One class of a level: its representative set, its tiles and its holonomy group's name ("" when
    trivial; "S3", "C3", … or "|G|=n")."""

    representative: frozenset
    tiles: tuple[frozenset, ...]
    group: str

    def __str__(self) -> str:
        return f"({len(self.tiles)},{self.group})" if self.group else str(len(self.tiles))


@dataclass(frozen=True)
class Skeleton:
    """The skeleton of generators on ``points`` points: ``images`` (I), ``heights`` over I⁺, and ``levels``:
    per level (depth 1 first) its components."""

    points: int
    images: frozenset
    heights: dict
    levels: tuple[tuple[Component, ...], ...]
    representatives: dict

    def level_of(self, subset: frozenset) -> int:
        """The 0-based level of a set of I⁺ (depth − 1); a singleton's is the number of levels."""
        return len(self.levels) - self.heights[subset]

    def widths(self) -> tuple[int, ...]:
        """Points per level: the tiles of all its classes."""
        return tuple(sum(len(c.tiles) for c in level) for level in self.levels)

    def profile(self) -> str:
        """``2 | (3,S3) (4,C3) | …``: each level's components, classes of larger representatives first."""
        return " | ".join(" ".join(str(c) for c in level) for level in self.levels)


def _act(subset: frozenset, f: tuple) -> frozenset:
    return frozenset(f[p] for p in subset)


def _orbit(start: frozenset, generators: list[tuple]) -> set[frozenset]:
    seen, queue = {start}, deque([start])
    while queue:
        subset = queue.popleft()
        for g in generators:
            image = _act(subset, g)
            if image not in seen:
                seen.add(image)
                queue.append(image)
    return seen


def generated_monoid(generators: list[tuple], n: int, cap: int) -> list[tuple]:
    """S¹: every composite of the generators (words act left to right) with the identity, breadth first; a
    ValueError when there are more than ``cap``."""
    identity = tuple(range(n))
    seen, queue = {identity}, deque([identity])
    while queue:
        f = queue.popleft()
        for g in generators:
            h = tuple(g[q] for q in f)
            if h not in seen:
                if len(seen) >= cap:
                    raise ValueError(f"generators: the monoid has more than {cap} elements (cap)")
                seen.add(h)
                queue.append(h)
    return list(seen)


def _group_name(group: PermutationGroup, degree: int) -> str:
    order = group.order()
    if order == 1:
        return ""
    if order == math.factorial(degree) and degree > 2:
        return f"S{degree}"
    if group.is_cyclic:
        return f"C{order}"
    return f"|G|={order}"


def skeleton(generators: list[tuple], points: int, *, groups: bool = True, monoid_cap: int = 100_000) -> Skeleton:
    """The holonomy skeleton of ``generators`` (each a tuple: point p ↦ g[p]) on ``points`` points; without
    ``groups`` the holonomy groups are left out (no monoid enumeration: every component's group is "")."""
    if points < 1 or any(len(g) != points or not all(0 <= v < points for v in g) for g in generators):
        raise ValueError(f"generators: expected transformations of {points} points, got {generators!r}")
    full = frozenset(range(points))
    images = frozenset(_orbit(full, generators))
    extended = set(images) | {frozenset([p]) for p in range(points)}
    orbits = {s: _orbit(s, generators) for s in extended}

    def below(p: frozenset, q: frozenset) -> bool:  # p ≤ q: p inside some q·s, s ∈ S¹
        return any(p <= r for r in orbits[q])

    ordered = sorted(extended, key=lambda s: (len(s), sorted(s)))
    strictly = {s: [t for t in ordered if t != s and below(t, s) and not below(s, t)] for s in ordered}
    heights: dict[frozenset, int] = {}

    def height(s: frozenset) -> int:  # strict subduction is acyclic, so the recursion ends
        if s not in heights:
            heights[s] = 0 if len(s) == 1 else 1 + max((height(t) for t in strictly[s]), default=-1)
        return heights[s]

    for s in ordered:
        height(s)
    top = heights[full]
    monoid = generated_monoid(generators, points, monoid_cap) if groups else []
    classes: dict[frozenset, list[frozenset]] = {}
    for s in ordered:
        if len(s) > 1:
            rep = next((r for r in classes if below(r, s) and below(s, r)), s)
            classes.setdefault(rep, []).append(s)
    levels: list[list[Component]] = [[] for _ in range(top)]
    for rep in classes:
        tiles = tuple(sorted((t for t in extended if t < rep and not any(t < u < rep for u in extended)),
                             key=lambda t: (len(t), sorted(t))))  # fmt: skip
        index = {t: i for i, t in enumerate(tiles)}
        perms = {Permutation(list(range(len(tiles))))}
        for f in monoid:
            if _act(rep, f) == rep:
                perms.add(Permutation([index[_act(t, f)] for t in tiles]))
        group = PermutationGroup(list(perms)) if len(tiles) > 1 else PermutationGroup([Permutation([0])])
        depth = top - heights[rep] + 1
        levels[depth - 1].append(Component(rep, tiles, _group_name(group, len(tiles))))
    for level in levels:
        level.sort(key=lambda c: (-len(c.representative), sorted(c.representative)))
    representatives = {s: rep for rep, members in classes.items() for s in members}
    return Skeleton(points, images, heights, tuple(tuple(level) for level in levels), representatives)


def compose(f: tuple, g: tuple) -> tuple:
    """f then g (words act left to right): p ↦ g[f[p]]."""
    return tuple(g[p] for p in f)


def _paths(start: frozenset, generators: list[tuple]) -> dict[frozenset, tuple]:
    """Every set of start's orbit with one element s of S¹ that maps start onto it (breadth first)."""
    identity = tuple(range(len(generators[0]))) if generators else ()
    found, queue = {start: identity}, deque([start])
    while queue:
        subset = queue.popleft()
        for g in generators:
            image = _act(subset, g)
            if image not in found:
                found[image] = compose(found[subset], g)
                queue.append(image)
    return found


@dataclass(frozen=True)
class Cascade:
    """The holonomy decomposition of generators (the letters) on points: level d (0-based) holds
    ``widths[d]`` positions, the tiles of the representatives of its classes (``tiles[d][position]`` =
    (representative, tile), ``positions`` the inverse).

    **Navigation.** For every set P of I⁺ with representative P̂: ``to_rep[P]`` maps P onto P̂ and
    ``from_rep[P]`` maps P̂ onto P, both elements of S¹, with to_rep then from_rep the identity on P (the
    first word found is corrected by a power of the round trip, as Egri-Nagy & Nehaniv do).

    **Coordinates** of a point x: a tile chain X = C_0 ⊃ C_1 ⊃ … ⊃ {x}, each set a tile of the one before;
    the set C at level d holds the position of its next set carried to the representative, C_next·to_rep[C];
    levels the chain jumps over hold 0. :meth:`interpret` reads them back top-down (C_next = tile·from_rep[C]).

    **Lifting** a letter s: level by level, P is the source chain's first set at level ≥ d and Q the
    target's (:meth:`descend` steps both; P·s ⊆ Q throughout, from X·s ⊆ X), and the level acts by
    (:meth:`level_action`):

    * Q not at level d — the target jumps the level: the **constant** 0 if P is at level d, else the
      **identity** (the position is 0 already);
    * P·s = Q (then P and Q are of one class): the **permutation** tile ↦ tile·from_rep[P]·s·to_rep[Q] of
      the representative's tiles (an element of its holonomy group), the identity on the level's other
      positions; the target's next set is the source's next set times s;
    * otherwise the **constant** to the first tile of Q̂ holding P·s·to_rep[Q] (P·s is a proper subset of Q
      in I⁺, so some tile holds it); the target's next set is that tile times from_rep[Q].

    Each level's action is a permutation or a constant that depends on the letter and (P, Q) only, which the
    levels above fix: each level is a permutation-reset automaton read in cascade. The target chain ends at a
    singleton holding x·s, so the lifted coordinates interpret to x·s (checked on every tile chain of every
    point by the tests: SgpDec's TestHolonomyAction)."""

    skeleton: Skeleton
    generators: tuple
    widths: tuple
    tiles: tuple
    positions: dict
    to_rep: dict
    from_rep: dict

    @property
    def levels(self) -> int:
        return len(self.widths)

    @property
    def top(self) -> frozenset:
        """X, where both chains start."""
        return frozenset(range(self.skeleton.points))

    def _next(self, stage: frozenset, level: int, position: int) -> frozenset:
        representative, tile = self.tiles[level][position] if 0 <= position < self.widths[level] else (None, None)
        if representative != self.skeleton.representatives[stage]:
            raise ValueError(f"coordinates: position {position} of level {level} is not a tile of {sorted(stage)}")
        return _act(tile, self.from_rep[stage])

    def interpret(self, coordinates: tuple) -> int:
        """The point a coordinate tuple stands for (a ValueError for a tuple that names no tile chain)."""
        stage = self.top
        for level, position in enumerate(coordinates):
            if self.skeleton.level_of(stage) == level:
                stage = self._next(stage, level, position)
        if len(stage) != 1:
            raise ValueError(f"coordinates: {coordinates} stop at {sorted(stage)}, not a point")
        return next(iter(stage))

    def point_at(self, stage: frozenset, level: int, position: int) -> int:
        """The point that a chain at ``stage`` (a set at ``level`` or below) reaches once the last level
        holds ``position`` (a ValueError when that names no tile of ``stage``)."""
        if self.skeleton.level_of(stage) == level:
            stage = self._next(stage, level, position)
        if len(stage) != 1:
            raise ValueError(f"coordinates: the chain stops at {sorted(stage)}, not a point")
        return next(iter(stage))

    def all_coordinates(self, point: int) -> list[tuple]:
        """The coordinates of every tile chain from X to ``point``."""
        out: list[tuple] = []

        def extend(stage: frozenset, prefix: tuple):
            level = len(prefix)
            if level == self.levels:
                out.append(prefix)
            elif self.skeleton.level_of(stage) != level:
                extend(stage, prefix + (0,))
            else:
                representative = self.skeleton.representatives[stage]
                for tile in self._rep_tiles(representative):
                    actual = _act(tile, self.from_rep[stage])
                    if point in actual:
                        extend(actual, prefix + (self.positions[(representative, tile)],))

        extend(self.top, ())
        return out

    def coordinates(self, point: int) -> tuple:
        """The coordinates of the chain that takes the first tile holding ``point`` at every level."""
        return self.all_coordinates(point)[0]

    def _rep_tiles(self, representative: frozenset) -> tuple:
        return next(c.tiles for level in self.skeleton.levels for c in level if c.representative == representative)

    def level_action(self, letter: int, source: frozenset, target: frozenset, level: int) -> tuple:
        """The lifted letter's action on ``level`` when the source chain is at ``source`` and the target at
        ``target`` there: a transformation of the level's positions (see the class)."""
        s, width, level_of = self.generators[letter], self.widths[level], self.skeleton.level_of
        if level_of(target) != level:
            return (0,) * width if level_of(source) == level else tuple(range(width))
        if level_of(source) == level and _act(source, s) == target:
            representative = self.skeleton.representatives[source]
            mapping = list(range(width))
            for tile in self._rep_tiles(representative):
                moved = _act(_act(_act(tile, self.from_rep[source]), s), self.to_rep[target])
                mapping[self.positions[(representative, tile)]] = self.positions[(representative, moved)]
            return tuple(mapping)
        return (self._constant(source, s, target)[0],) * width

    def descend(self, letter: int, source: frozenset, target: frozenset, level: int, position: int) -> tuple:
        """(source, target) at the next level, given the source coordinate ``position`` at ``level`` (before
        the step)."""
        s, level_of = self.generators[letter], self.skeleton.level_of
        if level_of(target) == level:
            if level_of(source) == level and _act(source, s) == target:
                source = self._next(source, level, position)
                return source, _act(source, s)
            target = self._constant(source, s, target)[1]
        if level_of(source) == level:
            source = self._next(source, level, position)
        return source, target

    def _constant(self, source: frozenset, s: tuple, target: frozenset) -> tuple[int, frozenset]:
        """(position, set) of the first tile of target's representative holding source·s·to_rep[target]."""
        image = _act(_act(source, s), self.to_rep[target])
        representative = self.skeleton.representatives[target]
        tile = next(t for t in self._rep_tiles(representative) if image <= t)
        return self.positions[(representative, tile)], _act(tile, self.from_rep[target])

    def lift(self, letter: int, coordinates: tuple) -> tuple:
        """The coordinates after ``letter``: every level's action applied to its own position."""
        source = target = self.top
        out = []
        for level, position in enumerate(coordinates):
            out.append(self.level_action(letter, source, target, level)[position])
            source, target = self.descend(letter, source, target, level, position)
        return tuple(out)


def cascade(generators: list[tuple], points: int) -> Cascade:
    """The holonomy cascade of ``generators`` on ``points`` points (see :class:`Cascade`); its skeleton
    without the holonomy groups (no monoid enumeration: the cascade needs only orbits of sets)."""
    sk = skeleton(generators, points, groups=False)
    tiles, positions = [], {}
    for components in sk.levels:
        row = [(c.representative, t) for c in components for t in c.tiles]
        positions.update({pair: i for i, pair in enumerate(row)})
        tiles.append(tuple(row))
    from_rep_paths = {rep: _paths(rep, generators) for rep in set(sk.representatives.values())}
    to_rep, from_rep = {}, {}
    for subset, rep in sk.representatives.items():
        there = _paths(subset, generators)[rep]
        back = from_rep_paths[rep][subset]
        round_trip = compose(there, back)  # a permutation of subset
        power = round_trip
        while any(power[p] != p for p in subset):
            back, power = compose(back, round_trip), compose(power, round_trip)
        to_rep[subset], from_rep[subset] = there, back
    widths = tuple(len(row) for row in tiles)
    return Cascade(sk, tuple(generators), widths, tuple(tiles), positions, to_rep, from_rep)
