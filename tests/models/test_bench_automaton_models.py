"""bench/automaton_models.py on the CPU: budgets, refusals recorded as rows, and bad arguments named."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path, *args):
    return subprocess.run([sys.executable, "bench/automaton_models.py", "--device", "cpu", *args,
                           "--out", str(tmp_path / "rows.json")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_budgets_decode_and_block_programs_are_recorded_as_refused(tmp_path):
    done = _run(tmp_path, "--languages", "flip_flop,cycle_navigation", "--n-h", "1", "--lengths", "16",
                "--batch", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "rows.json").read_text())["rows"]
    grid, block = rows
    assert (grid["language"], grid["budget"], grid["layers"], grid["accuracy"]) == ("flip_flop", 1, 4, 1.0)
    assert block["language"] == "cycle_navigation" and "counter layer" in block["refused"]
    assert "| cycle_navigation | 1 | 7 | reference | refused: block program |" in done.stdout


def test_a_bad_budget_is_named(tmp_path):
    done = _run(tmp_path, "--n-h", "0,auto")
    assert done.returncode != 0
    assert "--n-h: expected comma-separated budgets, 'auto' or positive integers, got '0,auto'" in done.stderr
