"""The exact interpreter's layer transitions: the rational path (every readout and factor rational) lands on the
readout the sympy path lands on, and refuses the states the sympy path refuses."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from theory.automata.dfa import language
from theory.programs import compile_group, compile_layers
from theory.programs.dfa_to_layers import compile_automaton
from theory.programs.interpret import Transitions, rational_factor, rationals

PROGRAMS = {
    "tomita1 (resets)": lambda: compile_automaton(language("tomita1")),
    "tomita3": lambda: compile_automaton(language("tomita3")),
    "modular_arithmetic, n_h 1": lambda: compile_automaton(language("modular_arithmetic"), n_h=1),
    "random:6:3:3, n_h 1": lambda: compile_automaton(language("random:6:3:3"), n_h=1),
    "S4 permutation": lambda: compile_group("S4"),
    "S3, 2 layers (its second layer in sympy)": lambda: compile_layers("S3", layers=2),
}


def _outcome(step, symbol, readout):
    try:
        return step(symbol, readout)
    except ValueError as err:
        return "refused: " + str(err).split(" is not ")[-1]


@pytest.mark.parametrize("name", PROGRAMS)
def test_rational_steps_are_the_sympy_steps(name):
    program = PROGRAMS[name]()
    rational_layers = 0
    for layer in (layer for layer in program.layers if layer.decode == "nearest"):  # grid layers: never rational
        fast, exact = Transitions(layer), Transitions(layer)
        exact.rational = None  # the sympy path alone
        rational_layers += fast.rational is not None
        pairs = [(x, r) for x in range(layer.symbols) for r in range(len(layer.readouts))]
        for x, r in pairs[:: max(1, len(pairs) // 300)]:  # at most ~300 pairs a layer, spread over all symbols
            assert _outcome(fast, x, r) == _outcome(exact, x, r), (name, x, r)
    assert rational_layers > 0, name  # every program here takes the rational path somewhere


def test_irrational_factors_and_readouts_stay_in_sympy():
    half = sp.sqrt(2) / 2
    assert rational_factor((half, -half), sp.Integer(1), sp.Integer(0)) is not None  # k kᵀ = ±1/2: rational
    assert rational_factor((half, -half), sp.Integer(1), sp.Integer(1)) is None  # β v k = √2/2 (1, −1)
    assert rational_factor((sp.sqrt(3) / 2, sp.Rational(1, 2)), sp.Integer(2), sp.Integer(0)) is None  # √3/2 · 1/2
    assert rational_factor((half, half), sp.Integer(0), sp.Integer(5)) == (None, None)  # β = 0: the identity
    assert rationals((sp.Integer(1), half)) is None
    assert rationals((sp.Rational(-3, 4),)) == (sp.Rational(-3, 4),)


def test_a_state_off_the_readouts_is_refused_on_both_paths():
    layer = compile_automaton(language("tomita3")).layers[0]
    cut = dataclasses.replace(layer, readouts=layer.readouts[:-1])  # a readout some transition reaches, gone
    fast, exact = Transitions(cut), Transitions(cut)
    exact.rational = None
    outcomes = [(_outcome(fast, x, r), _outcome(exact, x, r)) for x in range(cut.symbols)
                for r in range(len(cut.readouts))]  # fmt: skip
    assert fast.rational is not None and all(a == b for a, b in outcomes)
    assert any(a.startswith("refused") for a, _ in outcomes if isinstance(a, str))
