"""``deltaproof automaton``: every input form, the result object, decisions of a words file, and one-line
refusals that write nothing."""

from __future__ import annotations

import json

import pytest

from proofs_check.cli import main
from theory.automata.dfa import language


def test_a_built_in_language_end_to_end(tmp_path, capsys):
    out, program = tmp_path / "r.json", tmp_path / "p.json"
    args = ["automaton", "--language", "dyck1_3", "--length", "60", "--words", "2", "--json", str(out), "--save",
            str(program)]  # fmt: skip
    assert main(args) == 0
    result = json.loads(out.read_text())
    shape = (result["states"], result["classification"], result["layers"], result["n_h"])
    assert shape == (5, "partial-injection-sink", 1, [4])
    assert result["proof"] == {"method": "search", "reachable_states": 5, "edges_checked": 10, "holds": True,
                               "margins": [0.5]}  # fmt: skip
    assert result["accuracy"] == 1.0 and result["first_error"] is None and result["max_state_error"] < 1e-12
    assert json.loads(program.read_text())["automaton"]["name"] == "dyck1_3"
    assert json.loads(capsys.readouterr().out) == result


def test_a_cascade_language_end_to_end(tmp_path):
    """tomita3 (general, simple divisor C2): four layers, the first three with archive heads (state 2w,
    n_h = 2w + 1), proved, and every accept bit right through the float64 reference."""
    out = tmp_path / "r.json"
    assert main(["automaton", "--language", "tomita3", "--length", "80", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (result["construction"], result["layers"], result["holonomy_levels"]) == ("dfa:holonomy-cascade", 4, 4)
    assert result["state_dim"] == [4, 8, 4, 2] and result["n_h"] == [5, 9, 5, 1]
    assert result["proof"]["holds"] and result["accuracy"] == 1.0 and result["first_error"] is None


def test_a_budget_that_needs_a_block_level(tmp_path):
    """cycle_navigation (a 5-cycle, four swaps) at --nh 1: no frame brings it to one swap, so its level is a
    block level (three counter bits, the one-hot count, buffer, swaps, level), every layer at n_h = 1, proved
    with the level ideal and every accept bit right through the float64 reference, over several blocks."""
    out = tmp_path / "r.json"
    assert main(["automaton", "--language", "cycle_navigation", "--nh", "1", "--length", "40", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n_h"] == [1] * 7 and result["state_dim"] == [1, 1, 1, 8, 8, 5, 5]
    assert result["proof"]["method"] == "search with block levels ideal" and result["proof"]["holds"]
    assert result["accuracy"] == 1.0 and result["first_error"] is None


def test_regex_dfa_file_and_words_file(tmp_path):
    dfa = tmp_path / "d.json"
    dfa.write_text(json.dumps({"states": ["a", "b"], "input_symbols": ["x", "y"],
                               "transitions": {"a": {"x": "b", "y": "a"}, "b": {"x": "a", "y": "b"}},
                               "initial_state": "a", "final_states": ["b"]}))  # fmt: skip
    words, decisions = tmp_path / "w.txt", tmp_path / "o.txt"
    words.write_text("x y x\n\ny y\nx\n")
    assert main(["automaton", "--dfa", str(dfa), "--length", "20", "--run", str(words), "--out", str(decisions)]) == 0
    assert decisions.read_text().splitlines() == ["110", "", "00", "1"]  # an odd number of x so far
    out = tmp_path / "r.json"
    assert main(["automaton", "--regex", "(ab)*", "--alphabet", "ab", "--length", "30", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["accuracy"] == 1.0


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--language", "tomita8"], 2, "--language: expected one of tomita1"),
        (["--language", "parity", "--nh", "0"], 2, "--nh: expected"),
        (["--regex", "(ab"], 2, "--regex: needs --alphabet"),
        (["--regex", "(ab", "--alphabet", "ab"], 2, "--regex: automata-lib cannot read '(ab' over ab"),
        (["--language", "parity", "--alphabet", "01"], 2, "--alphabet: goes with --regex"),
        (["--dfa", "missing.json"], 2, "--dfa: expected a JSON file, got nothing"),
        (["--language", "parity", "--run", "w.txt"], 2, "--run: needs --out FILE"),
        (["--language", "parity", "--out", "o.txt"], 2, "--out: goes with --run"),
        (["--language", "parity", "--run", "bad.txt", "--out", "o.txt"], 2, "--run: bad.txt:2: unknown symbol 'x'"),
        (["--dfa", "bad.json"], 2, r"--dfa: bad.json: transitions.a.z: unknown symbol 'z'"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(args, code, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.txt").write_text("1 0\n1 x\n")
    (tmp_path / "bad.json").write_text(json.dumps({"states": ["a"], "input_symbols": ["y"],
                                                   "transitions": {"a": {"z": "a"}}, "initial_state": "a",
                                                   "final_states": []}))  # fmt: skip
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["automaton", *args, "--json", "r.json"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("deltaproof automaton: error: ") and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_simulate_refuses_a_dfa_program(tmp_path, capsys):
    path = tmp_path / "p.json"
    assert main(["automaton", "--language", "parity", "--length", "5", "--save", str(path)]) == 0
    capsys.readouterr()
    assert main(["simulate", "--program", str(path), "--length", "5"]) == 2
    assert "tracks a DFA (parity), not a group" in capsys.readouterr().err
    assert language("parity").accepts([1])
