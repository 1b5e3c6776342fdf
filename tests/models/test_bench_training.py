"""bench/training.py on the CPU in miniature: runs in worker processes, a failed run reported without stopping
the others, finished runs kept across invocations, and the report's table (the GPU runs are its real use)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--device", "cpu", "--seeds", "2", "--steps", "2", "--batch", "8", "--heads", "1", "--head-dim", "8",
        "--lengths", "8,16", "--train-length", "8", "--eval-every", "2", "--eval-batch", "8"]  # fmt: skip


def _run(*args):
    return subprocess.run([sys.executable, "bench/training.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_runs_report_and_resume(tmp_path):
    done = _run("--out", str(tmp_path), "--only", "name=parity-beta01|S3-nh2-bf16", "--workers", "2", *TINY)
    assert done.returncode == 0, done.stderr
    # bfloat16 through Triton's interpreter is refused by name; the parity runs go on
    assert done.stdout.count("S3-nh2-bf16 seed") == 2 and "failed: TypeError: q: backend='triton'" in done.stdout
    rows = json.loads((tmp_path / "results.json").read_text())
    assert sorted((r["name"], r["seed"]) for r in rows) == [("parity-beta01", 0), ("parity-beta01", 1)]
    assert all(set(r["accuracy"]) == {"8", "16"} and r["beta_range"] == "0,1" for r in rows)
    table = (tmp_path / "table.md").read_text().splitlines()
    assert len(table) == 3
    assert table[2].startswith("| parity-beta01 | Z2 | 1 | 0,1 | 1 | False | True | True | 1 | auto | none | 2 |")
    assert (tmp_path / "accuracy.png").stat().st_size > 0
    # both parity runs finished: none again; the paper's model (no short convolution, no output gate, 8 heads)
    # at other lengths: the table leaves the lengths a configuration lacks empty, the plot draws its own
    again = _run("--out", str(tmp_path), "--only", "name=parity-beta01|S3-nh2-paper", *TINY, "--lengths", "8,12")
    assert again.returncode == 0 and "parity-beta01 seed" not in again.stdout, again.stderr
    assert again.stdout.count("S3-nh2-paper seed") == 2
    model = json.loads((tmp_path / "runs" / "S3-nh2-paper-s1" / "config.json").read_text())["model"]
    assert (model["use_short_conv"], model["use_output_gate"], model["num_heads"]) == (False, False, 8)
    table = (tmp_path / "table.md").read_text().splitlines()
    assert "| T = 8: mean (min) | T = 12: mean (min) | T = 16: mean (min) |" in table[0]
    paper = next(line for line in table if line.startswith("| S3-nh2-paper |"))
    assert paper.startswith("| S3-nh2-paper | S3 | 2 | 0,2 | 1 | False | False | False | 8 | auto | none | 2 |")
    assert paper.split(" | ")[-2] == "—"  # T = 16: not evaluated


def test_bad_counts_are_refused_by_name(tmp_path):
    # --workers 0 once reached a division by zero (each worker's torch threads) and a traceback
    for option, value, expected in [("--workers", "0", "a positive integer (at most 12 digits)"),
                                    ("--steps", "-3", "a positive integer (at most 12 digits)"),
                                    ("--lengths", "64,x", "comma-separated positive integers"),
                                    ("--lr", "nan", "a positive number"),
                                    ("--only", "S3", "comma-separated key=value|value filters")]:  # fmt: skip
        done = _run("--out", str(tmp_path), option, value)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert f"argument {option}: expected {expected}, got '{value}'" in done.stderr.splitlines()[-1]
    # well-formed filters that no run passes (once an empty report's FileNotFoundError traceback)
    done = _run("--out", str(tmp_path), "--only", "task=S3,n_h=7")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "argument --only: no run passes these filters; a run's settings are" in done.stderr.splitlines()[-1]
    assert not (tmp_path / "runs").exists()
