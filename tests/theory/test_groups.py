"""Groups through sympy.combinatorics: specs, pinned order and action, faithful representations."""

from __future__ import annotations

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from sympy.combinatorics import Permutation

from theory import rotation_reflections
from theory.groups import orthogonal_rep, parse_group, permutation_matrix, permutation_rep, running_products


@pytest.mark.parametrize(
    "spec, order, orders",
    [
        ("S3", 6, {1: 1, 2: 3, 3: 2}),
        ("S4", 24, {1: 1, 2: 9, 3: 8, 4: 6}),
        ("A4", 12, {1: 1, 2: 3, 3: 8}),
        ("A5", 60, {1: 1, 2: 15, 3: 20, 5: 24}),
        ("D7", 14, {1: 1, 2: 7, 7: 6}),
        ("Z12", 12, {1: 1, 2: 1, 3: 2, 4: 2, 6: 2, 12: 4}),
        ("A4xZ3", 36, {1: 1, 2: 3, 3: 26, 6: 6}),
        ("A4_x_Z3", 36, {1: 1, 2: 3, 3: 26, 6: 6}),
        ("perm:(0 1 2 3);(0 1)", 24, {1: 1, 2: 9, 3: 8, 4: 6}),
        ("perm:(0 1 2 3)(4 5 6 7)", 4, {1: 1, 2: 1, 4: 2}),
        ("Q8", 8, {1: 1, 2: 1, 4: 6}),
    ],
)
def test_specs_orders_and_element_orders(spec, order, orders):
    g = parse_group(spec)
    assert g.order == order and g.element_orders() == orders
    assert g.elements[0].is_Identity and len(set(g.elements)) == order


def test_pinned_order_is_deterministic_and_breadth_first():
    a, b = parse_group("S4"), parse_group("S4")
    assert a.elements == b.elements
    assert a.elements[1 : 1 + len(a.generators)] == a.generators


@given(st.lists(st.integers(0, 23), max_size=12))
def test_running_product_acts_first_element_first(word):
    g = parse_group("S4")
    acc = Permutation(3)
    for x in word:
        acc = acc * g.elements[x]
    assert g.elements[g.product(word)] == acc
    # function notation: g_t = x_t ∘ … ∘ x_1, so the permutation matrices multiply with x_t leftmost
    m = sp.eye(4)
    for x in word:
        m = permutation_matrix(g.elements[x]) * m
    assert m == permutation_matrix(g.elements[g.product(word)])


@pytest.mark.parametrize("spec", ["S4", "A4", "A5", "D7", "Z12", "D4", "Z3", "Z5", "Q8"])
def test_orthogonal_representations_are_faithful(spec):
    g = parse_group(spec)
    rep = orthogonal_rep(g)
    assert rep.check()["elements"] == g.order
    assert rep.dim == {"Z": 2, "D": 2, "Q": 4}.get(spec[0], 3)


def test_q8_acts_on_the_quaternions_by_left_multiplication():
    """i·j = k, j·i = −k, i² = −1 on R⁴ (basis 1, i, j, k), written out by hand."""
    rep = orthogonal_rep(parse_group("Q8"))
    by_image = {tuple(m[:, 0]): m for m in rep.matrices}  # a left multiplication is fixed by the image of 1
    i, j = by_image[(0, 1, 0, 0)], by_image[(0, 0, 1, 0)]
    assert tuple(i * j[:, 0]) == (0, 0, 0, 1) and tuple(j * i[:, 0]) == (0, 0, 0, -1)
    assert i * i == -sp.eye(4)


def test_s3_has_no_builtin_orthogonal_rep_but_d3_does():
    with pytest.raises(ValueError, match="no built-in orthogonal representation for S3"):
        orthogonal_rep(parse_group("S3"))
    assert orthogonal_rep(parse_group("D3")).check()["elements"] == 6


@pytest.mark.parametrize("spec", ["S4", "A4", "A5"])
def test_so3_elements_are_two_reflections_exactly(spec):
    rep = orthogonal_rep(parse_group(spec))
    for m in rep.matrices[:: max(1, len(rep.matrices) // 12)]:
        assert m.det() == 1
        f = rotation_reflections(m)
        # the column sweep's keys carry nested radicals for A5 (ℚ(√5) entries): simplify decides equality
        assert len(f) == 2 and all(sp.simplify(e) == 0 for e in f.product() - m)


@pytest.mark.parametrize("spec", ["S4", "A5xZ2", "D7", "perm:(0 1 2);(3 4)"])
def test_permutation_representation_is_faithful(spec):
    rep = permutation_rep(parse_group(spec))
    assert rep.check()["elements"] == parse_group(spec).order


def test_a_wrong_representation_is_caught():
    g = parse_group("Z3")
    good = orthogonal_rep(g)
    bad = type(good)(g, "O(2)", good.matrices, 4)  # the labels of Z3 read modulo 4 do not compose
    with pytest.raises(ValueError, match="not a homomorphism|not injective"):
        bad.check()


@pytest.mark.parametrize(
    "spec, match",
    [("", "group: expected a spec"), ("Q9", "group: expected a spec"), ("D2", "D_m with m ≥ 3"),
     ("perm:(0 1", "group: expected generators"), ("S0", "positive size")],
)  # fmt: skip
def test_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_group(spec)


@pytest.mark.parametrize("spec", ["S4", "D5", "Z2", "A4xZ3"])
def test_running_products_are_the_word_problem_labels(spec):
    """running_products (the labels of deltaproof export and of models.tasks) equals Group.product of every
    prefix, x_1 acting first, for a batch of words including the empty one; the Cayley table is the group's
    multiplication; bad words are refused by name."""
    import numpy as np

    group = parse_group(spec)
    words = np.random.default_rng(3).integers(0, group.order, size=(5, 7))
    labels = running_products(group, words)
    assert labels.tolist() == [[group.product(list(w[: t + 1])) for t in range(7)] for w in words]
    assert running_products(group, words[:, :0]).shape == (5, 0)
    a, b = group.elements[1], group.elements[-1]
    assert group.table[1, group.order - 1] == group.index[a * b]
    with pytest.raises(ValueError, match=rf"words: expected integer element indices in \[0, {group.order}\)"):
        running_products(group, np.array([[0, group.order]]))
