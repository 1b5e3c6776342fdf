"""Orbits of step-rounded recurrences (theory.cast_orbits) against brute-force orbit walks and torch's casts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.cast_orbits import compose, orbits, planar_map, saturate, scalar_maps, values


def _walk(table) -> tuple[int, set[int]]:
    """(largest tail, cycle lengths) by following every state until it repeats."""
    onset, lengths = 0, set()
    for start in range(len(table)):
        seen, x = {}, start
        while x not in seen:
            seen[x] = len(seen)
            x = int(table[x])
        onset, lengths = max(onset, seen[x]), lengths | {len(seen) - seen[x]}
    return onset, lengths


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60), st.integers(0, 2**32 - 1), st.integers(1, 30))
def test_orbits_match_a_brute_force_walk(states, seed, max_period):
    tables = np.random.default_rng(seed).integers(0, states, (3, states))
    for table, found in zip(tables, orbits(tables, max_period=max_period)):
        onset, lengths = _walk(table)
        assert found.onset == onset
        assert set(found.lengths) == {n for n in lengths if n <= max_period}
        assert found.complete == (max(lengths) <= max_period)
        assert found.period == (math.lcm(*lengths) if found.complete else None)


def test_float8_values_are_torchs():
    ours = values("float8_e5m2")
    bits = torch.arange(256, dtype=torch.uint8).view(torch.float8_e5m2).double().numpy()
    theirs = np.unique(bits[np.isfinite(bits)] + 0.0)
    assert np.array_equal(ours, theirs) and len(ours) == 247


@pytest.mark.parametrize("fmt, count", [("float16", 63487), ("bfloat16", 65279)])
def test_sixteen_bit_values_are_every_finite_pattern(fmt, count):
    bits = torch.arange(2**16, dtype=torch.int32).to(torch.int16).view(getattr(torch, fmt)).double().numpy()
    assert np.array_equal(values(fmt), np.unique(bits[np.isfinite(bits)] + 0.0)) and len(values(fmt)) == count


def test_bad_tables_are_refused_by_name():
    with pytest.raises(ValueError, match=r"maps: expected integer tables .* shape \(1, 3\)"):
        orbits(np.array([0, 1, 3]))
    with pytest.raises(ValueError, match="maps: expected integer tables .* dtype float64"):
        orbits(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="max_period: expected a positive integer, got 0"):
        orbits(np.array([0, 1]), max_period=0)


def test_float32_is_refused_by_name():
    with pytest.raises(ValueError, match="fmt: expected a format of at most 16 bits"):
        values("float32")
    with pytest.raises(ValueError, match="fmt: planar maps"):
        planar_map(np.eye(2), np.zeros(2), "float16")


def test_saturate_keeps_the_largest_value_instead_of_infinity():
    assert saturate(np.array([1e6, -1e6, 65519.0]), "float16").tolist() == [65504.0, -65504.0, 65504.0]


@pytest.mark.parametrize("fmt", ["float8_e5m2", "float16", "bfloat16"])
def test_scalar_maps_round_the_product_then_the_sum(fmt):
    v = values(fmt)
    rng = np.random.default_rng(3)
    a, b = rng.choice(v, 5), rng.choice(v, 5)
    maps = scalar_maps(a, b, fmt)
    for row, x, c in zip(maps, a, b):
        expected = saturate(saturate(x * v, fmt) + c, fmt)
        assert np.array_equal(v[row], expected)


def test_planar_map_and_compose_against_a_direct_step():
    v, fmt = values("float8_e5m2"), "float8_e5m2"
    a, b = np.array([[0.5, -0.75], [1.25, 0.25]]), np.array([1.0, -2.0])
    table = planar_map(a, b, fmt)
    i, j = 100, 200
    h1 = saturate(saturate(a[0, 0] * v[i], fmt) + saturate(a[0, 1] * v[j], fmt) + b[0], fmt)
    h2 = saturate(saturate(a[1, 0] * v[i], fmt) + saturate(a[1, 1] * v[j], fmt) + b[1], fmt)
    image = table[i * len(v) + j]
    assert (v[image // len(v)], v[image % len(v)]) == (h1, h2)
    f, g = scalar_maps([0.5, -1.0], [1.0, 0.0], fmt)
    assert np.array_equal(compose(f, g), g[f])


def test_monotone_maps_have_fixed_points_only_and_reflections_two_cycles():
    fmt = "float16"
    nonnegative, negative = orbits(scalar_maps([0.999, -1.0], [3.0, 0.0], fmt))
    assert nonnegative.lengths == (1,) and negative.lengths == (1, 2)  # −1: 0 is fixed, h ↔ −h
