"""The holonomy skeleton against SgpDec's published examples (tst/holonomy.tst of gap-packages/sgpdec) and
the families whose level counts are known."""

from __future__ import annotations

import pytest

from theory.automata.holonomy import skeleton


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
    sk = skeleton(*_gap([1, 2, 3, 1, 1, 1], [4, 4, 4, 5, 4, 6], [4, 4, 4, 5, 6, 4], [4, 4, 4, 4, 5, 5],
                        [4, 4, 4, 1, 2, 3], [2, 3, 1, 4, 4, 4]))  # fmt: skip
    assert sk.profile() == "2 | (4,C3) | (3,S3) (2,C2) | (3,C3) (2,C2) | 2"
    components = sorted(str(c) for level in sk.levels for c in level)
    assert components == sorted(["2", "(3,S3)", "(4,C3)", "(3,C3)", "(2,C2)", "(2,C2)", "2"])


def test_the_eight_generator_example_matches_sgpdec_level_by_level():
    sk = skeleton(*_gap([1, 1], [2, 2], [3, 2, 3], [1, 2, 3, 3, 5, 5], [1, 2, 4, 4, 6, 6], [1, 2, 3, 4, 3, 4],
                        [1, 2, 5, 6, 5, 6], [1, 2, 3, 4, 5, 2]))  # fmt: skip
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
