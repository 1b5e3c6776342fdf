"""Loading programs validates every field and re-proves the program before anything runs.

The reproductions of the Hardening issue (β = "3", n_h = 7 with 2 keys, n_h = "two", a dimension of 99,
group "S9", representation "bogus", a key "x+y", a layered β = 3 and decoder ["nope"]) each get a
DocumentError naming the field; so do non-unit keys, tampered readouts (the re-proof fails) and files that
are not programs. A fuzzer mutates valid documents and safetensors files: every load either gives a
program that proves, or a DocumentError (a ValueError) — never another exception, never a side effect."""

from __future__ import annotations

import copy
import json
import signal
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from theory.documents import DocumentError
from theory.programs import Program, compile_group, compile_layers, prove, tensors

LEGACY = Path(__file__).parent / "legacy"

SENTINEL = "__import__('os').system('touch owned')*0+1"


@contextmanager
def time_limit(seconds: int):
    """Fail instead of hanging: SIGALRM after ``seconds``."""

    def expire(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _doc(program) -> dict:
    return json.loads(program.to_json())


def _one_layer_refusal(edit, match):
    """A refusal of an edited ``deltaproof.program/1`` document (the one-layer format written before one IR
    held every program), from the committed file of that format."""
    doc = json.loads((LEGACY / "S3.program.json").read_text())
    edit(doc)
    with pytest.raises(DocumentError, match=match):
        Program.from_json(json.dumps(doc))


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d["betas"][1].__setitem__(0, "3"), r"^betas\[1\]\[0\]: expected β, a rational in \[0, 2\], got 3"),
        (lambda d: d.__setitem__("n_h", 7), r"^keys\[0\]: expected a list of 7 entries, got 2"),
        (lambda d: d.__setitem__("n_h", "two"), '^n_h: expected an integer from 1 to 64, got "two"'),
        (lambda d: d.__setitem__("dim", 99), "^dim: expected an integer from 3 to 3, got 99"),
        (lambda d: d.__setitem__("group", "S9"), "^group: S9 has 362,880 elements; loading a program enumerates"),
        (
            lambda d: d.__setitem__("representation", "bogus"),
            '^representation: expected one of scalar, permutation, orthogonal, got "bogus"',
        ),  # fmt: skip
        (lambda d: d["keys"][1][0].__setitem__(0, "x+y"), r"^keys\[1\]\[0\]\[0\]: .*no names but pi"),
        (lambda d: d["keys"][1][0].__setitem__(0, SENTINEL), r"^keys\[1\]\[0\]\[0\]: expected an exact number"),
        (lambda d: d["keys"][1].__setitem__(0, ["1", "1", "0"]), r"^keys\[1\]\[0\]: expected a unit key, got ‖k‖² = 2"),
        (lambda d: d["readouts"].reverse(), "^program: the exact proof of the loaded program fails: readout 0"),
        (lambda d: d["initial_state"].__setitem__(0, "2"), "^program: the exact proof .* fails: readout 0"),
        (lambda d: d["betas"][1].__setitem__(0, "1"), "^program: the exact proof .* fails: symbol 1: the factor"),
        (lambda d: d.__setitem__("extra", 1), "^extra: unknown field"),
        (lambda d: d.pop("readouts"), "^readouts: missing"),
        (lambda d: d.__setitem__("format", "deltaproof.layered/1"), "^construction: missing"),
        (
            lambda d: d.__setitem__("format", "other"),
            "^format: expected one of deltaproof.program/2, deltaproof.program/1, deltaproof.layered/1",
        ),  # fmt: skip
    ],
)
def test_one_layer_files_are_validated_and_reproved(edit, match):
    _one_layer_refusal(edit, match)


def _layered_refusal(program, edit, match):
    doc = _doc(program)
    edit(doc)
    with pytest.raises(DocumentError, match=match):
        Program.from_json(json.dumps(doc))


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d["layers"][0]["betas"][0].__setitem__(0, "3"), r"^layers\[0\].betas\[0\]\[0\]: expected β"),
        (
            lambda d: d.__setitem__("decoder", ["nope"] * len(d["decoder"])),
            r"^decoder\[0\]: expected an integer from 0 "
            r'to 4, got "nope"',
        ),  # fmt: skip
        (lambda d: d.__setitem__("decoder", d["decoder"][:-1]), "^decoder: expected a list of 10 entries, got 9"),
        (lambda d: d["decoder"].reverse(), "^program: the exact proof of the loaded program fails: from configuration"),
        (
            lambda d: d["layers"][1].__setitem__("map_layers", [1]),
            r"^layers\[1\].map_layers\[0\]: expected an integer "
            "from 0 to 0, got 1",
        ),  # fmt: skip
        (lambda d: d["layers"][1].__setitem__("kind", "bogus"), r"^layers\[1\].kind: expected one of exact, planar"),
        (
            lambda d: d["layers"][1].__setitem__("symbol_map", "element"),
            r"^layers\[1\].keys: expected a list of 5 "
            "entries, got 10",
        ),  # fmt: skip
        (lambda d: d.__setitem__("construction", "thm7"), "^construction: expected one of thm6, dihedral_parity"),
        (lambda d: d.__setitem__("layers", []), "^layers: expected at least one layer, got none"),
        (lambda d: d["layers"][0]["keys"][0][0].__setitem__(0, SENTINEL), r"^layers\[0\].keys\[0\]\[0\]\[0\]: "),
    ],
)
def test_layered_files_are_validated_and_reproved(edit, match):
    _layered_refusal(compile_layers("Z5", layers=2), edit, match)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d["layers"][0]["values"][1].__setitem__(0, "1"), "^program: the exact proof .* zero values"),
        (lambda d: d.__setitem__("decoder", d["decoder"][::-1]), "^program: the exact proof .* readout g to element g"),
        (lambda d: d["layers"][0].__setitem__("dim", 2), r"^layers\[0\].keys\[0\]\[0\]: expected a list of 2"),
        (
            lambda d: d.__setitem__("layers", d["layers"] * 2),
            "^layers: expected one layer of dimension 3 for a permutation program",
        ),  # fmt: skip
        (
            lambda d: d.__setitem__("construction", "orthogonal"),
            "^construction: no built-in orthogonal representation for S3",
        ),  # fmt: skip
    ],
)
def test_one_layer_programs_in_the_current_format_are_validated_and_reproved(edit, match):
    _layered_refusal(compile_group("S3"), edit, match)


@pytest.mark.parametrize("path", sorted(LEGACY.glob("*")), ids=lambda p: p.name)
def test_files_written_before_the_one_ir_still_load(path):
    """Every program file committed in the two formats written before one IR held every program (and two
    safetensors files whose metadata holds them) loads, re-proves, and equals today's compilation of the
    same group and depth (the theorem text aside, whose citations changed)."""
    program = tensors.load(path) if path.suffix == ".safetensors" else Program.from_json(path.read_text())
    spec, _, depth = path.name.split(".")[0].partition("_L")
    today = compile_layers(spec, layers=int(depth)) if depth else compile_group(spec)
    assert (program.group, program.construction, program.layers, program.decoder) == (
        today.group, today.construction, today.layers, today.decoder)  # fmt: skip
    assert Program.from_json(program.to_json()) == program


INJECTIONS = [SENTINEL, "lambda: 0", "(1).__class__", "sqrt.__globals__", "2**2**2**30", "9" * 5000, "x+y"]


@pytest.mark.parametrize("text", INJECTIONS)
def test_injections_through_every_loader_fail_by_name_and_run_nothing(text, tmp_path, monkeypatch):
    """The issue's injection and its variants, placed in a key of a one-layer program, of a layered program,
    in the metadata of a safetensors file and in a file given to ``deltaproof simulate --program``."""
    from proofs_check.cli import main

    monkeypatch.chdir(tmp_path)
    one, layered = json.loads((LEGACY / "S3.program.json").read_text()), _doc(compile_layers("Z3", layers=2))
    one["keys"][1][0][0] = text
    layered["layers"][1]["keys"][2][0][1] = text
    field = r"^keys\[1\]\[0\]\[0\]: expected an exact number"
    with pytest.raises(DocumentError, match=field):
        Program.from_json(json.dumps(one))
    with pytest.raises(DocumentError, match=r"^layers\[1\].keys\[2\]\[0\]\[1\]: expected an exact number"):
        Program.from_json(json.dumps(layered))
    save_file(tensors.tensors(compile_group("S3")), "p.safetensors", metadata={"program": json.dumps(one)})
    with pytest.raises(DocumentError, match=field):
        tensors.load("p.safetensors")
    Path("p.json").write_text(json.dumps(one))
    assert main(["simulate", "--program", "p.json", "--length", "3"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json", "p.safetensors"]


def test_block_programs_are_validated_and_reproved_by_blocks():
    program = compile_layers("S3", layers=3)
    assert Program.from_json(program.to_json()) == program
    _layered_refusal(program, lambda d: d["layers"][1]["values"][2].__setitem__(0, "7"),
                     "^program: the exact proof .* fails: buffer: symbol")  # fmt: skip
    _layered_refusal(program, lambda d: d.__setitem__("decoder_layers", [0, 0, 2]),
                     r"^decoder_layers: expected three distinct layers")  # fmt: skip


@pytest.mark.parametrize("spec", ["Z7", "Z9", "Z16", "D9"])
def test_planar_programs_the_old_prover_could_not_prove_now_prove_and_load(spec):
    """O(2) programs of Z_m and D_m are mirror pairs whose products are decided on angle labels; before,
    the Cartan–Dieudonné keys of Z_9 and Z_16 defeated sympy's simplification and their proofs failed."""
    program = compile_group(spec)
    assert prove(program).holds
    assert Program.from_json(program.to_json()) == program


def test_safetensors_files_are_validated(tmp_path):
    program = compile_group("S3")
    path = tmp_path / "p.safetensors"
    tensors.save(program, path)
    assert tensors.load(path) == program
    arrays = tensors.tensors(program)
    doc = _doc(program)
    doc["layers"][0]["keys"][1][0][0] = SENTINEL
    save_file(arrays, str(path), metadata={"program": json.dumps(doc)})
    with pytest.raises(DocumentError, match=r"^layers\[0\].keys\[1\]\[0\]\[0\]: expected an exact number"):
        tensors.load(path)
    save_file(arrays, str(path), metadata={"program": "{"})
    with pytest.raises(DocumentError, match="^metadata.program: expected JSON"):
        tensors.load(path)
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(DocumentError, match="^path: expected a safetensors file, got one safetensors cannot read"):
        tensors.load(path)
    with pytest.raises(DocumentError, match="^path: expected a safetensors file, got a folder"):
        tensors.load(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.safetensors"]


_FUZZ_PROGRAMS = {
    "S3": compile_group("S3"),
    "D4": compile_group("D4"),
    "Z3 thm6": compile_layers("Z3", layers=2),
    "S3 blocks": compile_layers("S3", layers=3),
}
_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.floats(allow_nan=False), st.text(max_size=8),
              st.sampled_from([SENTINEL, "2**2**2**30", "lambda: 0", "1/0", "sqrt(2)/2", "2", "0", "-1", "x"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=2)),
    max_leaves=6,
)  # fmt: skip


def _paths(x, prefix=()):
    yield prefix
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _paths(v, (*prefix, i))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(_FUZZ_PROGRAMS)), data=st.data())
def test_mutated_program_files_load_and_prove_or_fail_by_name(name, data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    program = _FUZZ_PROGRAMS[name]
    doc = copy.deepcopy(_doc(program))
    paths = [p for p in _paths(doc) if p]
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(paths), label="path")
        parent = doc
        try:
            for step in path[:-1]:
                parent = parent[step]
            action = data.draw(st.sampled_from(["replace", "delete", "add"]), label="action")
            if action == "replace":
                parent[path[-1]] = data.draw(_json_values, label="value")
            elif action == "delete":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[data.draw(st.text(max_size=6), label="key")] = data.draw(_json_values, label="value")
            else:
                parent.append(data.draw(_json_values, label="value"))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    text = json.dumps(doc)
    with time_limit(60):
        for load in (lambda: Program.from_json(text), lambda: _through_safetensors(program, text)):
            try:
                loaded = load()
            except DocumentError as err:
                assert str(err).split(":")[0] == err.field and err.field, err
                continue
            assert type(loaded) is type(program)
            assert Program.from_json(loaded.to_json()) == loaded  # what loads writes back and loads again
    assert not Path("owned").exists()


def _through_safetensors(program, text: str):
    """The mutated document as the metadata of a safetensors file, beside the program's own tensors."""
    path = Path("program.safetensors")
    save_file(tensors.tensors(program), str(path), metadata={"program": text})
    return tensors.load(path)


def test_the_float_tensors_of_saved_programs_are_exact_roundings(tmp_path):
    program = compile_group("A5")
    path = tmp_path / "a5.safetensors"
    tensors.save(program, path)
    loaded = tensors.load(path)
    keys = tensors.tensors(loaded)["layer0.keys"]
    assert keys.dtype == np.float64 and np.allclose((keys**2).sum(-1), 1.0, rtol=0, atol=4 * 2.0**-53)
