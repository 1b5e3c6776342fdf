"""DFAs from every input: built-in languages, automata-lib objects, JSON files and regular expressions, all
normalised to one numbering, each checked against automata-lib's own acceptance."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from automata.fa.dfa import DFA
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.automata.dfa import LANGUAGES, from_dfa, from_json, from_regex, language, normalise
from theory.documents import DocumentError

# minimal sizes from the literature (Tomita 1982 as most replications read it; bounded Dyck: depths 0..D + sink)
SIZES = {"tomita1": 2, "tomita2": 3, "tomita3": 5, "tomita4": 4, "tomita5": 4, "tomita6": 3, "tomita7": 5,
         "parity": 2, "cycle_navigation": 5, "dyck1_1": 3, "dyck1_4": 6, "dyck2_2": 8, "flip_flop": 4,
         "modular_arithmetic": 51}  # fmt: skip


def _lib(automaton) -> DFA:
    d = automaton.to_dict()
    return DFA(states=set(d["states"]), input_symbols=set(d["input_symbols"]), transitions=d["transitions"],
               initial_state=d["initial_state"], final_states=set(d["final_states"]))  # fmt: skip


@pytest.mark.parametrize("name", [*LANGUAGES, "dyck1_1", "dyck1_4", "random:7:3:11"])
def test_built_in_languages_agree_with_automata_lib_and_are_minimal(name):
    automaton = language(name)
    if name in SIZES:
        assert len(automaton.states) == SIZES[name]
    lib = _lib(automaton)
    assert len(lib.minify().states) == len(automaton.states)  # already minimal
    rng = np.random.default_rng(0)
    for length in (0, 1, 2, 5, 13):
        for word in rng.integers(0, len(automaton.letters), size=(20, length)):
            text = [automaton.letters[a] for a in word]
            assert automaton.accepts(list(word)) == lib.accepts_input(text)
    assert normalise(automaton) == automaton  # normalising twice changes nothing


TOMITA = {  # Tomita 1982's definitions (Tomita 3 as the module pins it)
    1: lambda w: "0" not in w,
    2: lambda w: re.fullmatch("(10)*", w) is not None,
    3: lambda w: re.search("(?<!1)(11)*1(?!1)(00)*0(?!0)", w) is None,
    4: lambda w: "000" not in w,
    5: lambda w: w.count("0") % 2 == 0 and w.count("1") % 2 == 0,
    6: lambda w: (w.count("0") - w.count("1")) % 3 == 0,
    7: lambda w: re.fullmatch("0*1*0*1*", w) is not None,
}


@pytest.mark.parametrize("k", sorted(TOMITA))
def test_the_tomita_tables_agree_with_their_definitions_on_every_short_word(k):
    automaton = language(f"tomita{k}")
    for length in range(11):
        for bits in range(2**length):
            word = format(bits, f"0{length}b") if length else ""
            assert automaton.accepts([automaton.letters.index(c) for c in word]) == TOMITA[k](word), word


def test_the_languages_mean_what_their_names_say():
    tomita3 = language("tomita3")
    bits = lambda w: [tomita3.letters.index(c) for c in w]  # noqa: E731
    assert tomita3.accepts(bits("100")) and tomita3.accepts(bits("1001")) and tomita3.accepts(bits(""))
    assert not tomita3.accepts(bits("10")) and not tomita3.accepts(bits("1011")) and not tomita3.accepts(bits("11101"))
    dyck = language("dyck1_2")
    paren = lambda w: [dyck.letters.index(c) for c in w]  # noqa: E731
    assert dyck.accepts(paren("(())()")) and not dyck.accepts(paren("((()))")) and not dyck.accepts(paren(")("))
    flip = language("flip_flop")
    ops = lambda *w: [flip.letters.index(c) for c in w]  # noqa: E731
    assert flip.accepts(ops("w1", "i", "r1", "w0", "r0")) and not flip.accepts(ops("w1", "r0"))
    even = language("even_pairs")
    ab = lambda w: [even.letters.index(c) for c in w]  # noqa: E731
    assert even.accepts(ab("abba")) and not even.accepts(ab("ab")) and even.accepts(ab(""))


def _modular_value(tokens: list[str]) -> int | None:
    """An expression of numbers 0–4 alternating with +, −, *, × first, mod 5 (None when malformed)."""
    if len(tokens) % 2 == 0 or any(t.isdigit() != (i % 2 == 0) for i, t in enumerate(tokens)):
        return None
    total, term, sign = 0, int(tokens[0]), 1
    for op, number in zip(tokens[1::2], tokens[2::2]):
        if op == "*":
            term *= int(number)
        else:
            total, term, sign = total + sign * term, int(number), 1 if op == "+" else -1
    return (total + sign * term) % 5


def test_modular_arithmetic_is_the_value_with_precedence():
    """Accepted exactly when the expression is well formed and worth 0 mod 5 (× before + and −), on
    random well-formed and malformed words."""
    automaton = language("modular_arithmetic")
    rng = np.random.default_rng(3)
    for _ in range(400):
        n = int(rng.integers(0, 10))
        word = [str(rng.integers(0, 5)) if i % 2 == 0 else "+-*"[rng.integers(0, 3)] for i in range(n)]
        if rng.random() < 0.2 and word:
            word[int(rng.integers(0, n))] = "+"
        value = _modular_value(word)
        assert automaton.accepts([automaton.letters.index(t) for t in word]) == (value == 0), word
    assert _modular_value(["2", "+", "3", "*", "1"]) == 0 and _modular_value(["2", "*", "3", "-", "1"]) == 0


def test_partial_json_is_completed_with_a_sink_and_numbered_breadth_first():
    transitions = {"x": {"1": "y"}, "y": {"0": "x", "1": "y"}}
    doc = {"states": ["x", "y"], "input_symbols": ["1", "0"], "transitions": transitions, "initial_state": "x",
           "final_states": ["y"]}  # fmt: skip
    automaton = from_json(json.dumps(doc))
    assert automaton.letters == ("0", "1") and automaton.initial == 0 and len(automaton.states) == 3
    assert automaton.delta == ((1, 2), (1, 1), (0, 2))  # x; the sink (x·0); y (x·1)
    assert from_json(json.dumps(automaton.to_dict())) == automaton


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d["transitions"]["x"].__setitem__("2", "x"), r"^transitions\.x\.2: unknown symbol '2'"),
        (lambda d: d["transitions"].__setitem__("z", {"0": "x"}), r"^transitions\.z: unknown state 'z'"),
        (lambda d: d["transitions"]["x"].__setitem__("0", "w"), r"^transitions\.x\.0: expected one of the states"),
        (lambda d: d.pop("initial_state"), "^initial_state: missing"),
        (lambda d: d.__setitem__("initial_state", "w"), "^initial_state: expected one of the states"),
        (lambda d: d.__setitem__("input_symbols", []), "^input_symbols: expected at least one symbol"),
        (lambda d: d.__setitem__("states", ["x", "x"]), "^states: expected distinct names"),
        (lambda d: d.__setitem__("final_states", ["w"]), "^final_states: unknown state 'w'"),
        (lambda d: d.__setitem__("extra", 1), "^extra: unknown field"),
    ],
)
def test_malformed_dfa_files_name_the_field(edit, match):
    doc = {"states": ["x", "y"], "input_symbols": ["0", "1"], "transitions": {"x": {"0": "y"}, "y": {"1": "x"}},
           "initial_state": "x", "final_states": ["x"]}  # fmt: skip
    edit(doc)
    with pytest.raises(DocumentError, match=match):
        from_json(json.dumps(doc))
    with pytest.raises(DocumentError, match="^dfa: expected a JSON object"):
        from_json("[1, 2]")
    with pytest.raises(DocumentError, match="^dfa: expected a JSON object, got text JSON cannot read"):
        from_json("{")


def test_regular_expressions_and_automata_lib_objects():
    automaton = from_regex("(ab)*", "ab")
    assert len(automaton.states) == 3 and automaton.accepts([0, 1, 0, 1]) and not automaton.accepts([0, 0])
    lib = DFA(states={"p", "q"}, input_symbols={"a"}, transitions={"p": {"a": "q"}, "q": {}}, initial_state="p",
              final_states={"q"}, allow_partial=True)  # fmt: skip
    assert from_dfa(lib).delta == ((1,), (2,), (2,))  # completed with a sink
    with pytest.raises(ValueError, match="^regex: automata-lib cannot read"):
        from_regex("(ab", "ab")
    with pytest.raises(ValueError, match="^alphabet: expected at least one symbol"):
        from_regex("a", "")
    with pytest.raises(ValueError, match="^language: expected one of"):
        language("tomita8")


@settings(max_examples=25, deadline=None)
@given(states=st.integers(1, 6), letters=st.integers(1, 3), seed=st.integers(0, 10**6))
def test_random_dfas_normalise_to_automata_lib_minimal_size(states, letters, seed):
    automaton = language(f"random:{states}:{letters}:{seed}")
    assert len(automaton.states) == len(_lib(automaton).minify().states) <= states
