"""DFAs: automata-lib's DFAs, JSON files with its field names, regular expressions and built-in languages →
one frozen, normalised :class:`Automaton` (complete, reachable, minimal, states numbered).

An automaton acts on the right: q·a = δ(q, a), q·(uv) = (q·u)·v; it reads a word from q_0 and accepts after
a prefix when the state reached is final. :func:`normalise` completes a partial transition table with a
sink, keeps the states reachable from q_0 and minimises with automata-lib (``DFA.minify``), then numbers
the states in breadth-first order from q_0 over the letters in sorted order, so that equal languages give
equal automata.

Built-in languages (:data:`LANGUAGES`): Tomita 1–7 over {0, 1} (Tomita 3 as "no odd run of 1s followed
by an odd run of 0s", the reading of Tomita 1982 that AALpy and most replications use), ``parity`` (an odd
number of 1s), ``even_pairs`` (as many ab as ba pairs, i.e. empty or first letter = last letter),
``cycle_navigation`` (a position on a 5-cycle moved by −1, 0, +1; accepted at 0), ``dyck1_<D>`` (balanced
brackets of depth at most D), ``dyck2_2`` (two bracket kinds, depth at most 2), ``flip_flop`` (w0, w1 write
a bit, i ignores, r0, r1 read it and must match the last write), ``modular_arithmetic`` (Delétang et al.
2023's task as a language: numbers 0–4 alternating with +, −, * from a number on, × before + and −,
accepted when the expression is complete and its value is 0 mod 5) and ``random:<states>:<letters>:<seed>``
(a uniformly random complete transition table and final set).
"""

from __future__ import annotations

import itertools
import json
import re
from collections import deque
from dataclasses import dataclass

import numpy as np

from theory.documents import DocumentError, Fields

__all__ = ["Automaton", "LANGUAGES", "language", "from_dfa", "from_json", "from_regex", "normalise", "MAX_STATES"]

MAX_STATES = 4_096
MAX_LETTERS = 64


@dataclass(frozen=True)
class Automaton:
    """A complete DFA with states 0 … n−1 (``states`` their names), letters 0 … k−1 (``letters`` their
    symbols), ``delta[q][a]`` = q·a, ``initial`` q_0 and ``final`` the accepting states (sorted)."""

    name: str
    states: tuple[str, ...]
    letters: tuple[str, ...]
    delta: tuple[tuple[int, ...], ...]
    initial: int
    final: tuple[int, ...]

    def step(self, q: int, a: int) -> int:
        return self.delta[q][a]

    def run(self, word) -> list[int]:
        """The states after every prefix of ``word`` (letter indices)."""
        q, out = self.initial, []
        for a in word:
            q = self.delta[q][a]
            out.append(q)
        return out

    def accepts(self, word) -> bool:
        return (self.run(word)[-1] if len(word) else self.initial) in self.final

    def letter_map(self, a: int) -> tuple[int, ...]:
        """The transformation of letter a: q ↦ q·a for every state."""
        return tuple(row[a] for row in self.delta)

    def to_dict(self) -> dict:
        """automata-lib's field names, with this automaton's state and letter names."""
        return {"states": list(self.states), "input_symbols": list(self.letters),
                "transitions": {self.states[q]: {self.letters[a]: self.states[r] for a, r in enumerate(row)}
                                for q, row in enumerate(self.delta)},
                "initial_state": self.states[self.initial],
                "final_states": [self.states[q] for q in self.final]}  # fmt: skip


def _numbered(name: str, letters: list[str], initial, final: set, table: dict) -> Automaton:
    """Breadth-first numbering from the initial state over sorted letters; only reachable states are kept.
    ``table[state][letter]`` must be complete on the reachable part."""
    order, index, queue = [initial], {initial: 0}, deque([initial])
    while queue:
        q = queue.popleft()
        for a in letters:
            r = table[q][a]
            if r not in index:
                index[r] = len(order)
                order.append(r)
                queue.append(r)
    delta = tuple(tuple(index[table[q][a]] for a in letters) for q in order)
    names = tuple(f"q{i}" for i in range(len(order)))
    return Automaton(name, names, tuple(letters), delta, 0, tuple(sorted(index[q] for q in order if q in final)))


def normalise(automaton: Automaton) -> Automaton:
    """Reachable and minimal (automata-lib's ``minify``), renumbered breadth-first (see the module)."""
    from automata.fa.dfa import DFA

    letters = automaton.letters
    transitions = {q: {letters[a]: r for a, r in enumerate(row)} for q, row in enumerate(automaton.delta)}
    dfa = DFA(states=set(range(len(automaton.states))), input_symbols=set(letters), transitions=transitions,
              initial_state=automaton.initial, final_states=set(automaton.final))
    small = dfa.minify()
    letters = sorted(letters)
    table = {q: dict(small.transitions[q]) for q in small.states}
    return _numbered(automaton.name, letters, small.initial_state, set(small.final_states), table)


def _complete(name, states, letters, transitions, initial, final) -> Automaton:
    """A possibly partial table → an Automaton (missing moves go to a new sink), before normalisation."""
    sink = object()
    table = {q: {a: transitions.get(q, {}).get(a, sink) for a in letters} for q in states}
    if any(r is sink for row in table.values() for r in row.values()):
        table[sink] = {a: sink for a in letters}
    order = list(table)
    index = {q: i for i, q in enumerate(order)}
    delta = tuple(tuple(index[table[q][a]] for a in letters) for q in order)
    return Automaton(name, tuple(f"q{i}" for i in range(len(order))), tuple(letters), delta, index[initial],
                     tuple(sorted(index[q] for q in final)))  # fmt: skip


def from_dfa(dfa, name: str = "dfa") -> Automaton:
    """An ``automata.fa.dfa.DFA`` (partial or complete), normalised."""
    letters = sorted(str(a) for a in dfa.input_symbols)
    transitions = {q: {str(a): r for a, r in dfa.transitions.get(q, {}).items()} for q in dfa.states}
    return normalise(_complete(name, list(dfa.states), letters, transitions, dfa.initial_state, dfa.final_states))


FORMAT_FIELDS = ("states", "input_symbols", "transitions", "initial_state", "final_states")


def from_json(text: str | bytes, name: str = "dfa") -> Automaton:
    """A DFA document with automata-lib's field names: ``states`` and ``input_symbols`` (lists of strings),
    ``transitions`` (state → symbol → state; missing moves go to a sink), ``initial_state``,
    ``final_states``. Every field is checked and named in the :class:`theory.documents.DocumentError`."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise DocumentError("dfa", f"expected a JSON object, got text JSON cannot read ({err})") from None
    if not isinstance(data, dict):
        raise DocumentError("dfa", f"expected a JSON object, got {type(data).__name__}")
    doc = Fields(data, "")
    states = _names(doc.items("states", max_length=MAX_STATES), "states")
    letters = _names(doc.items("input_symbols", max_length=MAX_LETTERS), "input_symbols")
    if not states:
        raise DocumentError("states", "expected at least one state, got none")
    if not letters:
        raise DocumentError("input_symbols", "expected at least one symbol, got an empty alphabet")
    raw = doc.raw("transitions")
    if not isinstance(raw, dict):
        raise DocumentError("transitions", f"expected an object state → symbol → state, got {type(raw).__name__}")
    transitions = {}
    for q, row in raw.items():
        if q not in states:
            raise DocumentError(f"transitions.{q}", f"unknown state {q!r} (states: {', '.join(states)})")
        if not isinstance(row, dict):
            raise DocumentError(f"transitions.{q}", f"expected an object symbol → state, got {type(row).__name__}")
        for a, r in row.items():
            if a not in letters:
                known = ", ".join(letters)
                raise DocumentError(f"transitions.{q}.{a}", f"unknown symbol {a!r} (input_symbols: {known})")
            if not isinstance(r, str) or r not in states:
                raise DocumentError(f"transitions.{q}.{a}", f"expected one of the states, got {r!r}")
        transitions[q] = dict(row)
    initial = doc.raw("initial_state")
    if not isinstance(initial, str) or initial not in states:
        raise DocumentError("initial_state", f"expected one of the states, got {initial!r}")
    final = _names(doc.items("final_states", max_length=MAX_STATES), "final_states")
    for q in final:
        if q not in states:
            raise DocumentError("final_states", f"unknown state {q!r}")
    doc.done()
    return normalise(_complete(name, states, sorted(letters), transitions, initial, set(final)))


def _names(items: list, field: str) -> list[str]:
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item or len(item) > 100:
            raise DocumentError(f"{field}[{i}]", f"expected a name (a non-empty string), got {item!r}")
    if len(set(items)) != len(items):
        raise DocumentError(field, "expected distinct names, got a repeated one")
    return list(items)


def from_regex(regex: str, alphabet: str, name: str | None = None) -> Automaton:
    """The minimal DFA of a regular expression in automata-lib's syntax over the one-character symbols of
    ``alphabet``."""
    from automata.base.exceptions import AutomatonException, RegexException
    from automata.fa.dfa import DFA
    from automata.fa.nfa import NFA

    symbols = sorted(set(alphabet.replace(",", "").replace(" ", "")))
    if not symbols:
        raise ValueError("alphabet: expected at least one symbol, got an empty alphabet")
    if len(regex) > 1_000:
        raise ValueError(f"regex: expected at most 1,000 characters, got {len(regex)}")
    try:
        dfa = DFA.from_nfa(NFA.from_regex(regex, input_symbols=set(symbols)))
    except (AutomatonException, RegexException, ValueError, KeyError, IndexError, TypeError, RecursionError) as err:
        raise ValueError(f"regex: automata-lib cannot read {regex!r} over {''.join(symbols)}: {err}") from None
    return from_dfa(dfa, name or f"regex:{regex}")


def _table(name: str, letters: list[str], states: list, initial, final: set, move) -> Automaton:
    table = {q: {a: move(q, a) for a in letters} for q in states}
    return normalise(_numbered(name, letters, initial, final, table))


def _tomita(k: int) -> Automaton:
    """Tomita 1982's seven languages over {0, 1} (see the module for Tomita 3)."""
    dfas = {
        1: (["ok", "dead"], "ok", {"ok"}, lambda q, a: q if a == "1" else "dead"),
        2: (["s", "one", "dead"], "s", {"s"},
            lambda q, a: {("s", "1"): "one", ("one", "0"): "s"}.get((q, a), "dead")),
        4: ([0, 1, 2, 3], 0, {0, 1, 2}, lambda q, a: 3 if q == 3 else (0 if a == "1" else q + 1)),
        5: ([(0, 0), (0, 1), (1, 0), (1, 1)], (0, 0), {(0, 0)},
            lambda q, a: (q[0] ^ (a == "0"), q[1] ^ (a == "1"))),
        6: ([0, 1, 2], 0, {0}, lambda q, a: (q + (1 if a == "0" else -1)) % 3),
        7: ([0, 1, 2, 3, 4], 0, {0, 1, 2, 3},
            lambda q, a: 4 if q == 4 else (q if int(a) == q % 2 else q + 1)),
    }  # fmt: skip
    if k == 3:
        # states: (phase, run parity); phase 0 = in 1s (or start), 1 = in 0s after an odd run of 1s
        def move(q, a):
            if q == "dead":
                return "dead"
            phase, ones, zeros = q
            if a == "1":
                if phase == "zeros" and ones and zeros % 2 == 1:  # an odd 0-run after an odd 1-run ended
                    return "dead"
                return ("ones", (ones + 1) % 2 if phase == "ones" else 1, 0)
            return ("zeros", ones, (zeros + 1) % 2) if phase in ("zeros", "ones") else q

        states = ["dead"] + [(p, o, z) for p in ("ones", "zeros") for o in (0, 1) for z in (0, 1)]

        def accepting(q):  # a word ending inside an odd 0-run that follows an odd 1-run is rejected
            return q != "dead" and not (q[0] == "zeros" and q[1] == 1 and q[2] == 1)

        return _table("tomita3", ["0", "1"], states, ("ones", 0, 0), {q for q in states if accepting(q)}, move)
    states, initial, final, move = dfas[k]
    return _table(f"tomita{k}", ["0", "1"], states, initial, final, move)


def _dyck(kinds: int, depth: int) -> Automaton:
    pairs = ["()", "[]"][:kinds]
    letters = sorted(c for p in pairs for c in p)
    stacks = [s for n in range(depth + 1) for s in itertools.product(range(kinds), repeat=n)]

    def move(q, a):
        if q == "dead":
            return "dead"
        for k, (open_, close) in enumerate(pairs):
            if a == open_:
                return q + (k,) if len(q) < depth else "dead"
            if a == close:
                return q[:-1] if q and q[-1] == k else "dead"
        raise AssertionError(a)

    return _table(f"dyck{kinds}_{depth}", letters, stacks + ["dead"], (), {()}, move)


def _random(states: int, letters: int, seed: int) -> Automaton:
    rng = np.random.default_rng(seed)
    symbols = [chr(ord("a") + i) for i in range(letters)]
    table = rng.integers(0, states, size=(states, letters))
    final = {q for q in range(states) if rng.random() < 0.5}
    return _table(f"random:{states}:{letters}:{seed}", symbols, list(range(states)), 0, final,
                  lambda q, a: int(table[q, symbols.index(a)]))  # fmt: skip


def _flip_flop() -> Automaton:
    def move(q, a):
        if q == "dead":
            return "dead"
        if a in ("w0", "w1"):
            return a[1]
        if a == "i":
            return q
        return q if q == a[1] else "dead"

    return _table("flip_flop", ["i", "r0", "r1", "w0", "w1"], ["none", "0", "1", "dead"], "none", {"none", "0", "1"},
                  move)  # fmt: skip


def _modular_arithmetic() -> Automaton:
    """States: ("start",), ("done", s, p) (value s + p, p the signed product term still open to ×),
    ("add", s, sign) after + or −, ("times", s, p) after ×, and ("dead",)."""
    def move(q, a):
        if q[0] in ("start", "add", "times") and a.isdigit():
            n = int(a)
            if q[0] == "start":
                return ("done", 0, n)
            return ("done", q[1], (q[2] * n) % 5)
        if q[0] == "done" and not a.isdigit():
            if a == "*":
                return ("times", q[1], q[2])
            return ("add", (q[1] + q[2]) % 5, 1 if a == "+" else 4)
        return ("dead",)

    states = [("start",), ("dead",)] + [(kind, s, p) for kind in ("done", "add", "times") for s in range(5)
                                        for p in range(5)]  # fmt: skip
    final = {("done", s, p) for s in range(5) for p in range(5) if (s + p) % 5 == 0}
    return _table("modular_arithmetic", [*"01234", "+", "-", "*"], states, ("start",), final, move)


LANGUAGES = {
    **{f"tomita{k}": (lambda k=k: _tomita(k)) for k in range(1, 8)},
    "parity": lambda: _table("parity", ["0", "1"], [0, 1], 0, {1}, lambda q, a: q ^ (a == "1")),
    "even_pairs": lambda: _table("even_pairs", ["a", "b"], ["start", "a", "b", "aa", "ab", "ba", "bb"], "start",
                                 {"start", "a", "b", "aa", "bb"},
                                 lambda q, a: a if q == "start" else q[0] + a),
    "cycle_navigation": lambda: _table("cycle_navigation", ["-", "0", "+"], list(range(5)), 0, {0},
                                       lambda q, a: (q + {"-": -1, "0": 0, "+": 1}[a]) % 5),
    "dyck2_2": lambda: _dyck(2, 2),
    "flip_flop": _flip_flop,
    "modular_arithmetic": _modular_arithmetic,
}  # fmt: skip

_DYCK = re.compile(r"dyck1_(\d{1,2})")
_RANDOM = re.compile(r"random:(\d{1,3}):(\d{1,2}):(\d{1,9})")


def language(name: str) -> Automaton:
    """A built-in language by name (:data:`LANGUAGES`, ``dyck1_<D>`` for 1 ≤ D ≤ 16,
    ``random:<states>:<letters>:<seed>`` with 1 – 64 states and 1 – 8 letters)."""
    if name in LANGUAGES:
        return LANGUAGES[name]()
    if m := _DYCK.fullmatch(name):
        depth = int(m.group(1))
        if 1 <= depth <= 16:
            return _dyck(1, depth)
    if m := _RANDOM.fullmatch(name):
        states, letters, seed = map(int, m.groups())
        if 1 <= states <= 64 and 1 <= letters <= 8:
            return _random(states, letters, seed)
    known = ", ".join([*LANGUAGES, "dyck1_<D>", "random:<states>:<letters>:<seed>"])
    raise ValueError(f"language: expected one of {known}, got {name!r}")
