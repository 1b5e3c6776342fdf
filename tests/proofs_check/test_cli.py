"""The command line's one error path, checked before the work, and a fuzzer over its arguments.

Each reproduction of the Hardening issue is run as a user would and must end with exit status ≠ 0 and one
line on stderr naming the option (or succeed with valid JSON); then hypothesis draws command lines —
group specs, lengths, dtypes, backends, devices, output paths, mutated program files — and every run must
either succeed with valid JSON or fail with one named line: no traceback, no internal error, no hang,
nothing written outside the paths asked for."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import signal
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofs_check import cli
from proofs_check.command import json_text
from theory.programs import compile_group, tensors

ROOT = Path(__file__).resolve().parents[2]


def _strict_json(text: str):
    """json.loads that refuses NaN and infinities (not JSON)."""

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def run(argv: list[str], seconds: int = 120) -> tuple[int, str, str]:
    """``deltaproof ARGV`` in this process: (exit status, stdout, stderr), failing after ``seconds``."""

    def expire(signum, frame):
        raise TimeoutError(f"deltaproof {' '.join(argv)} did not finish within {seconds} s")

    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue()


def _one_line_error(code: int, out: str, err: str, command: str, option: str) -> str:
    assert code not in (0, 70), (code, err)
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(f"deltaproof {command}: error: {option}"), err
    assert "Traceback" not in err and out == ""
    return err


@pytest.mark.parametrize(
    "argv, option, words",
    [
        (["simulate", "--group", "S8", "--length", "5"], "--group",
         "40,320 elements; the one-layer compiler enumerates every element and takes at most 1,000 (raise the "
         "limit with --max-order 40320)"),
        (["simulate", "--group", "Z5000", "--length", "5"], "--group", "--max-order 5000"),
        (["simulate", "--group", "S12", "--length", "5"], "--group", "479,001,600 elements"),
        (["simulate", "--group", "Z1000000", "--length", "5"], "--group", "at most 100,000"),
        (["simulate", "--group", "S1", "--length", "5"], "--group", "trivial group"),
        (["simulate", "--group", "Z1", "--length", "5"], "--group", "trivial group"),
        (["export", "--group", "S12", "--length", "5", "--samples", "3", "--out", "x.csv"], "--group", "--max-order"),
        (["simulate", "--group", "S4", "--length", "5", "--dtype", "bfloat16", "--backend", "triton"], "--dtype",
         "Triton's interpreter does not support bfloat16"),
        (["simulate", "--group", "S4", "--length", "5", "--backend", "fla"], "--backend", "fla needs fla-core"),
        (["simulate", "--group", "S4", "--length", "5", "--device", "cuda"], "--device", "sees none"),
        (["stability", "kernels", "--device", "cuda"], "--device", "sees none"),
        (["simulate", "--group", "S4", "--length", "5", "--layers", "7"], "argument --layers",
         "invalid choice: 7 (choose from 1, 2, 3, 4)"),
        (["simulate", "--group", "S3", "--length", "5", "--json", "."], "--json", "got the folder"),
        (["export", "--group", "S3", "--length", "2", "--samples", "3", "--out", "f/x.csv"], "--out",
         "cannot create a folder under"),
        (["check", "--only", "grazzi.lemma1", "--json", "f/x.json"], "--json", "cannot create a folder under"),
        (["stability", "products", "--max-length", "10", "--plot", "f/x.png"], "--plot", "cannot create a folder"),
        (["stability", "products", "--max-length", "10", "--plot", "x.jpeg2"], "--plot", "ending in .png or .pdf"),
        (["stability", "products", "--formats", "bf16"], "argument --formats", "expected comma-separated names"),
        (["check", "--only", "no.such.claim"], "--only", "matches no claim"),
        (["simulate", "--program", "missing.json", "--length", "3"], "--program", "expected a program file"),
        (["simulate", "--program", "f", "--length", "3"], "--program", "expected a .json or .safetensors"),
        (["simulate", "--group", "S3", "--length", "-1"], "argument --length", "expected a non-negative integer"),
        (["simulate", "--group", "S3", "--length", "3", "--seed", "-1"], "argument --seed", "non-negative"),
        (["simulate", "--length", "3"], "one of the arguments --group --program is required", ""),
    ],
)  # fmt: skip
def test_the_issues_reproductions_fail_with_one_named_line(argv, option, words, tmp_path, monkeypatch):
    if torch.cuda.is_available() and ("cuda" in argv or "fla" in argv or "triton" in argv):
        pytest.skip("the case is about a machine without a GPU")
    monkeypatch.chdir(tmp_path)
    Path("f").write_text("a file where a folder would go\n")
    err = _one_line_error(*run(argv), argv[0], option)
    assert words in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]  # nothing written, nothing created


def test_a_full_disk_is_a_named_error_and_leaves_the_file_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("out.json").symlink_to("/dev/full")
    argv = ["simulate", "--group", "S3", "--length", "3", "--json", "out.json"]
    err = _one_line_error(*run(argv), "simulate", "--json")
    assert "No space left on device" in err and Path("out.json").is_symlink()


def test_folders_are_created_where_asked_and_said_on_stderr(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["export", "--group", "S3", "--length", "2", "--samples", "5", "--out", "data/a/S3.csv"])
    assert code == 0 and out == ""
    assert err.splitlines() == [f"created folder {tmp_path / 'data'}", f"created folder {tmp_path / 'data' / 'a'}",
                                "wrote 5 words of length 2 over S3 (order 6) to data/a/S3.csv"]  # fmt: skip
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["data", "data/a", "data/a/S3.csv"]


def test_simulate_writes_valid_json_even_when_the_state_error_is_nan(tmp_path, monkeypatch):
    """NaN state errors (a kernel that fails) are written as the string "NaN", never as bare NaN."""
    from proofs_check import simulate as execute
    from proofs_check import word_problems

    real = execute.simulate

    def nan_run(*args, **kwargs):
        result = real(*args, **kwargs)
        return type(result)(**{**result.__dict__, "max_state_error": math.nan})

    monkeypatch.setattr(word_problems, "simulate", nan_run)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["simulate", "--group", "S3", "--length", "4", "--json", "r.json"])
    assert code == 0
    assert _strict_json(Path("r.json").read_text())["max_state_error"] == "NaN"
    assert _strict_json(out)["max_state_error"] == "NaN"


def test_json_text_writes_non_finite_numbers_as_strings():
    import numpy as np

    text = json_text({"a": [math.inf, -math.inf, math.nan, np.float32(1.5), np.arange(2)], 3: None})
    assert _strict_json(text) == {"a": ["Infinity", "-Infinity", "NaN", 1.5, [0, 1]], "3": None}


def test_unforeseen_errors_are_one_line_and_debug_shows_the_traceback(monkeypatch):
    from proofs_check import word_problems

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(word_problems, "simulate", broken)
    code, out, err = run(["simulate", "--group", "S3", "--length", "2"])
    assert code == 70 and err.count("\n") == 1
    assert err == "deltaproof simulate: internal error: KeyError: 'a bug' (run with --debug for the traceback)\n"
    with pytest.raises(KeyError, match="a bug"):
        run(["simulate", "--group", "S3", "--length", "2", "--debug"])


def test_version_and_help_show_every_default():
    with pytest.raises(SystemExit) as exit_:
        with contextlib.redirect_stdout(io.StringIO()) as out:
            cli.main(["--version"])
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert exit_.value.code == 0 and out.getvalue().startswith(f"deltaproof {version}")
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in subparsers.items():
        text = " ".join(sub.format_help().split())  # unwrapped
        defaulted = 0
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings}: no help text"
            has_default = not (action.default is None or action.default is False or action.required
                               or action.default == argparse.SUPPRESS)  # fmt: skip
            if has_default:
                defaulted += 1
                shown = ",".join(action.default) if isinstance(action.default, tuple) else action.default
                assert f"(default: {shown})" in text, (name, action.dest)
        assert text.count("(default:") == defaulted and "--debug" in text, name


def test_saved_programs_run_from_their_files(tmp_path, monkeypatch):
    """--save writes the program; --program reads it back, validated and re-proved, and runs it the same."""
    monkeypatch.chdir(tmp_path)
    for suffix in (".json", ".safetensors"):
        code, out, err = run(["simulate", "--group", "D4", "--layers", "2", "--length", "50", "--save", f"p{suffix}"])
        assert code == 0, err
        code, again, err = run(["simulate", "--program", f"p{suffix}", "--length", "50"])
        assert code == 0, err
        first, second = _strict_json(out), _strict_json(again)
        assert second.pop("program") == f"p{suffix}" and first == second
    tampered = json.loads(Path("p.json").read_text())
    tampered["decoder"].reverse()
    Path("t.json").write_text(json.dumps(tampered))
    err = _one_line_error(*run(["simulate", "--program", "t.json", "--length", "5"]), "simulate", "--program")
    assert "the exact proof of the loaded program fails" in err
    _one_line_error(*run(["simulate", "--program", "p.json", "--length", "5", "--nh", "2"]), "simulate", "--nh")


def test_the_license_and_the_data_folder():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "/data/" in (ROOT / ".gitignore").read_text().split()


# The fuzzer. Values are drawn so that most runs are valid and small (the Triton interpreter is slow) and
# many are not: unknown groups, groups too large, bad numbers, dtypes and backends that cannot run here,
# outputs into folders, files and missing places.
_groups = st.one_of(
    st.sampled_from(["S3", "Z4", "D4", "A4", "Z5", "S4", "Z2", "perm:(0 1 2);(0 1)", "A4xZ3", "D5", "Z3", "S3"]),
    st.sampled_from(["S1", "Z1", "S9", "Z5000", "Q9", "perm:(0 1", "perm:(0 40)", "", "S", "D2", "x"]),
    st.text(max_size=8),
)
_counts = st.sampled_from(["0", "1", "3", "7", "2", "5", "-1", "abc", "1e3", "99999999999999"])
_paths = st.sampled_from(["out.json", "new/dir/out.json", ".", "f", "f/x.json", "out.csv", "p.json", "p.safetensors",
                          "full", "x.png"])  # fmt: skip


def _mostly(valid: list[str], invalid: list[str]):
    """Three valid values for every invalid one, so that the fuzzer reaches the kernels as well."""
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), st.sampled_from(valid), st.sampled_from(invalid))


@st.composite
def _simulate_argv(draw) -> list[str]:
    argv = ["simulate"]
    if draw(st.integers(0, 3)):
        argv += ["--group", draw(_groups)]
    else:
        argv += ["--program", draw(st.sampled_from(["prog.json", "prog.safetensors", "bad.json", "missing.json"]))]
    argv += ["--length", draw(_counts)]
    optional = {
        "--words": _mostly(["1", "2", "3"], ["0", "-2"]),
        "--dtype": _mostly(["float64", "float32", "float16", "bfloat16"], ["int8"]),
        "--backend": _mostly(["auto", "reference", "triton"], ["fla", "cuda"]),
        "--device": _mostly(["cpu"], ["cuda", "tpu"]),
        "--layers": _mostly(["1", "2", "3", "4"], ["0", "5"]),
        "--nh": _mostly(["auto", "1", "2", "3"], ["0", "x"]),
        "--rep": _mostly(["auto", "permutation", "orthogonal", "scalar"], ["bogus"]),
        "--json": _paths,
        "--save": _paths,
        "--max-order": _mostly(["24", "1000"], ["1", "0"]),
    }
    for option, values in optional.items():
        if draw(st.integers(0, 3)) == 0:
            argv += [option, draw(values)]
    return argv


@st.composite
def _other_argv(draw) -> list[str]:
    command = draw(st.sampled_from(["export", "check", "stability"]))
    if command == "export":
        argv = ["export", "--group", draw(_groups), "--length", draw(_counts), "--samples",
                draw(st.sampled_from(["1", "5", "0", "x"])), "--out", draw(_paths)]  # fmt: skip
    elif command == "check":
        argv = ["check", "--only", draw(st.sampled_from(["grazzi.lemma1", "none.*", "grazzi.gh.spectrum"]))]
        if draw(st.booleans()):
            argv += ["--json", draw(_paths)]
        if draw(st.booleans()):
            argv += ["--list"]
    else:  # only what fails before the (slow) study starts
        argv = ["stability", draw(st.sampled_from(["products", "kernels", "bogus"])), "--device",
                draw(st.sampled_from(["cuda", "tpu"]))]  # fmt: skip
    return argv


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@settings(max_examples=int(os.environ.get("DELTAPROOF_FUZZ_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(argv=st.one_of(_simulate_argv(), _other_argv()))
def test_fuzzed_command_lines_succeed_with_json_or_fail_with_one_line(argv, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    previous = os.getcwd()
    os.chdir(root)
    try:
        Path("f").write_text("a file\n")
        Path("full").symlink_to("/dev/full")
        Path("prog.json").write_text(compile_group("S3").to_json())
        tensors.save(compile_group("D4"), "prog.safetensors")
        bad = json.loads(compile_group("S3").to_json())
        bad["layers"][0]["keys"][1][0][0] = "__import__('os').system('touch owned')*0+1"
        Path("bad.json").write_text(json.dumps(bad))
        before = _files(root)
        code, out, err = run(argv, seconds=120)
        asked = {argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--json", "--save", "--out", "--plot")}
        created = _files(root) - before
        allowed = set()
        for path in asked:
            parts = Path(path).parts
            allowed |= {str(Path(*parts[: i + 1])) for i in range(len(parts))}
        assert created <= allowed, (argv, created)
        assert "Traceback" not in out + err and code != 70, (argv, err)
        assert not Path("owned").exists()
        if code == 0:
            if argv[0] == "simulate":
                _strict_json(out)
            if "--json" in argv:
                _strict_json(Path(argv[argv.index("--json") + 1]).read_text())
        else:
            assert err.count("\n") == 1 and err.startswith("deltaproof "), (argv, err)
            assert ": error: " in err, (argv, err)
    finally:
        os.chdir(previous)
