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
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from sympy.combinatorics import Permutation, PermutationGroup

__all__ = ["Skeleton", "skeleton", "Component", "generated_monoid"]


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
    return Skeleton(points, images, heights, tuple(tuple(level) for level in levels))
