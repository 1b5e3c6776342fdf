"""The holonomy skeleton against SgpDec's published examples (tst/holonomy.tst of gap-packages/sgpdec) and
the families whose level counts are known."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.automata.dfa import language
from theory.automata.holonomy import cascade, compose, skeleton

SIX_POINTS = ([1, 2, 3, 1, 1, 1], [4, 4, 4, 5, 4, 6], [4, 4, 4, 5, 6, 4], [4, 4, 4, 4, 5, 5], [4, 4, 4, 1, 2, 3],
              [2, 3, 1, 4, 4, 4])  # fmt: skip
EIGHT_GENERATORS = ([1, 1], [2, 2], [3, 2, 3], [1, 2, 3, 3, 5, 5], [1, 2, 4, 4, 6, 6], [1, 2, 3, 4, 3, 4],
                    [1, 2, 5, 6, 5, 6], [1, 2, 3, 4, 5, 2])  # fmt: skip


def _gap(*maps: list[int]) -> tuple[list[tuple], int]:
    """GAP's 1-indexed ``Transformation([...])`` lists (shorter ones fix the points beyond) → 0-indexed maps."""
    n = max(len(m) for m in maps)
    return [tuple(m[i] - 1 if i < len(m) else i for i in range(n)) for m in maps], n


def test_the_full_transformation_semigroup_t3_has_levels_3_and_2():
    """SgpDec: "2 levels with (3, 2) pts"; the top level's group is S3 on the three pairs."""
    sk = skeleton(*_gap([2, 3, 1], [2, 1, 3], [1, 1, 3]))
    assert sk.widths() == (3, 2) and sk.profile() == "(3,S3) | (2,C2)"
    assert len(sk.images) == 7  # every non-empty subset of three points is an image


def test_the_six_point_example():
    """The issue's profile of SgpDec's six-point semigroup (five levels). SgpDec's current release positions
    the (3,S3) class one level higher, by depth from the top (levels (2, 7, 5, 2, 2)); by height, as here,
    it sits at level 3: the same five levels and components."""
    sk = skeleton(*_gap(*SIX_POINTS))
    assert sk.profile() == "2 | (4,C3) | (3,S3) (2,C2) | (3,C3) (2,C2) | 2"
    components = sorted(str(c) for level in sk.levels for c in level)
    assert components == sorted(["2", "(3,S3)", "(4,C3)", "(3,C3)", "(2,C2)", "(2,C2)", "2"])


def test_the_eight_generator_example_matches_sgpdec_level_by_level():
    sk = skeleton(*_gap(*EIGHT_GENERATORS))
    assert sk.profile() == "5 | 4 | 4 3 | (4,C2) 3 | (3,C3) 2 | (2,C2)"


@pytest.mark.parametrize("n", [3, 4, 5])
def test_t_n_has_n_minus_one_levels(n):
    cycle = tuple((i + 1) % n for i in range(n))
    swap = (1, 0, *range(2, n))
    merge = (0, 0, *range(2, n))
    assert len(skeleton([cycle, swap, merge], n).levels) == n - 1


def test_a_group_is_one_level_and_bad_generators_are_refused():
    sk = skeleton([(1, 2, 3, 4, 0)], 5)
    assert sk.profile() == "(5,C5)"
    with pytest.raises(ValueError, match="generators: expected transformations of 3 points"):
        skeleton([(0, 1)], 3)


def _holonomy_action(generators: list[tuple], n: int) -> int:
    """SgpDec's TestHolonomyAction for the generators: on every point, every tile chain of it and every
    letter, the lifted coordinates are a tile chain of the image point; each level's action is the identity,
    a permutation or a constant. Returns the number of (chain, letter) pairs checked."""
    c = cascade(generators, n)
    checked = 0
    for to, back in zip(c.to_rep.items(), c.from_rep.values()):  # navigation: to_rep then from_rep is 1 on P
        subset, there = to
        assert all(compose(there, back)[p] == p for p in subset)
    for x in range(n):
        chains = c.all_coordinates(x)
        assert chains and all(c.interpret(chain) == x for chain in chains)
        for a, g in enumerate(generators):
            for chain in chains:
                lifted = c.lift(a, chain)
                assert lifted in c.all_coordinates(g[x]), (x, chain, a)
                checked += 1
                source = target = c.top
                for level, position in enumerate(chain):
                    mapping = c.level_action(a, source, target, level)
                    assert len(set(mapping)) in (1, c.widths[level])
                    source, target = c.descend(a, source, target, level, position)
    return checked


@pytest.mark.parametrize("maps", [([2, 3, 1], [2, 1, 3], [1, 1, 3]), SIX_POINTS, EIGHT_GENERATORS],
                         ids=["T3", "six-points", "eight-generators"])  # fmt: skip
def test_the_lifted_action_on_sgpdecs_examples(maps):
    assert _holonomy_action(*_gap(*maps)) > 0


@pytest.mark.parametrize("name", ["tomita3", "tomita4", "tomita7", "even_pairs", "flip_flop", "modular_arithmetic"])
def test_the_lifted_action_on_the_cascade_languages(name):
    automaton = language(name)
    assert _holonomy_action([automaton.letter_map(a) for a in range(len(automaton.letters))], len(automaton.states))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), data=st.data())
def test_the_lifted_action_on_random_transformations(n, data):
    generators = [tuple(data.draw(st.lists(st.integers(0, n - 1), min_size=n, max_size=n)))
                  for _ in range(data.draw(st.integers(1, 3)))]  # fmt: skip
    assert _holonomy_action(generators, n) > 0


def test_an_invalid_coordinate_is_refused():
    c = cascade(*_gap([2, 3, 1], [2, 1, 3], [1, 1, 3]))
    with pytest.raises(ValueError, match="coordinates: position 2 of level 1 is not a tile"):
        c.interpret((0, 2))
