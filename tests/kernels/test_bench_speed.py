"""bench/speed.py's merge of parts measured in several GPU sessions (the measuring itself needs a GPU and fla)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _row(pass_, b, tokens, ours, fla):
    ratio = round(fla / ours, 3) if isinstance(fla, float) else None
    return {"B": b, "T": tokens, "H": 16, "D": 128, "n_h": 2, "gated": False, "dtype": "bfloat16", "pass": pass_,
            "ours_ms": ours, "fla_ms": fla, "ratio": ratio}  # fmt: skip


def test_merge_keeps_a_later_parts_row_and_reports_the_worst(tmp_path):
    """A row measured again in a later part (fla ran out of memory the first time) replaces the earlier one;
    the summary's worst ratio per column is then taken over the merged rows, and the plot is written."""
    first = [_row("fwd", 2, 1024, 1.0, 2.0), _row("fwd", 32, 16384, 10.0, "n/a: OutOfMemoryError")]
    second = [_row("fwd", 32, 16384, 10.0, 8.0)]
    (tmp_path / "a.json").write_text(json.dumps(first))
    (tmp_path / "b.json").write_text(json.dumps(second))
    out, plot = tmp_path / "grid.json", tmp_path / "grid.png"
    done = subprocess.run(
        [sys.executable, "bench/speed.py", "--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
         "--out", str(out), "--plot", str(plot)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())
    assert len(rows) == 2 and {r["fla_ms"] for r in rows} == {2.0, 8.0}
    assert "| fwd | bfloat16 | False | 2 | 0.8 (B32 T16384 D128 n_h2) | 2.0 |" in done.stdout
    assert plot.stat().st_size > 0


def test_decoding_loops_are_timed_in_turn_and_a_failing_peer_is_recorded():
    """The decoding rows time the two peers' loops alternately (a drift of the host falls on both), each run once
    untimed first, the median loop per step; a peer that raises is recorded as its error, the other still timed."""
    from bench.speed import in_turn

    calls, clocked = [], []
    loops = {"ours": lambda: calls.append("ours"), "fla": lambda: calls.append("fla")}
    times = {"ours": iter([5.0, 1.0, 3.0]), "fla": iter([8.0, 2.0, 4.0])}

    def clock(loop):
        loop()
        clocked.append(calls[-1])
        return next(times[calls[-1]])

    per_step = in_turn(loops, clock, rounds=3, steps=2)
    assert calls == ["ours", "fla"] + ["ours", "fla"] * 3  # one untimed run each, then the rounds in turn
    assert clocked == ["ours", "fla"] * 3
    assert per_step == {"ours": 1.5, "fla": 2.0}  # medians 3 and 4 ms over two steps

    def broken():
        raise RuntimeError("refused\nsecond line")

    per_step = in_turn({"ours": lambda: None, "fla": broken}, lambda loop: 1.0, rounds=2, steps=1)
    assert per_step == {"ours": 1.0, "fla": "n/a: RuntimeError: refused"}


def test_bad_filters_are_refused_by_name(tmp_path):
    """A malformed ``--only`` and well-formed filters that select no row: one line naming ``--only``, exit 2,
    before any timing (the selection is made on the CPU; a GPU would only be needed to time it)."""
    nothing = "no row passes these filters; a row's settings are batch, bh, dim"
    for only, expected in [("kind", "expected comma-separated key=value|value filters, got 'kind'"),
                           ("kind=grid,dim=7", nothing)]:  # fmt: skip
        done = subprocess.run([sys.executable, "bench/speed.py", "--out", str(tmp_path / "g.json"), "--only", only],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert f"argument --only: {expected}" in done.stderr.splitlines()[-1]
    assert not (tmp_path / "g.json").exists()
