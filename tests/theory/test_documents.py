"""The exact-number grammar and the JSON field reader of theory.documents: files are data, never code.

Every exact number of every program the toolkit compiles reads back as the identical sympy object; random
texts of the grammar read back as sympy's own parser reads them (sympy is the oracle here, on texts this
test generates); hostile texts — code, names, attribute access, huge numbers and exponents, deep nesting,
complex or undefined values — get a DocumentError naming the field and run nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from theory.documents import (
    MAX_DEPTH,
    MAX_DIGITS,
    DocumentError,
    Fields,
    exact_from_text,
    exact_to_text,
    read_document,
    sign,
)
from theory.programs import Program, compile_group, compile_layers

ONE_LAYER = ("Z2", "S3", "A4", "S4", "A5", "Z5", "Z7", "Z9", "Z12", "Z16", "D5", "D7", "D8", "D9", "A4xZ3", "D24")
LAYERED = (("Z5", 2), ("Z12", 2), ("D4", 2), ("D7", 2), ("S3", 3), ("S4", 4))


def _leaves(x):
    if isinstance(x, tuple):
        for v in x:
            yield from _leaves(v)
    else:
        yield x


def _exact_values(program) -> list:
    layers = getattr(program, "layers", (program,))
    fields = ("keys", "betas", "values", "initial_state", "readouts")
    return [e for layer in layers for name in fields if hasattr(layer, name) for e in _leaves(getattr(layer, name))]


@pytest.mark.parametrize("spec", ONE_LAYER)
def test_every_number_of_a_one_layer_program_reads_back_identically(spec):
    values = _exact_values(compile_group(spec))
    assert values
    for e in values:
        assert exact_from_text(exact_to_text(e), "x") == e, e


@pytest.mark.parametrize("spec, layers", LAYERED)
def test_every_number_of_a_layered_program_reads_back_identically(spec, layers):
    for e in _exact_values(compile_layers(spec, layers=layers)):
        assert exact_from_text(exact_to_text(e), "x") == e, e


# Random texts of the grammar: the parser must agree with sympy's own parser on them.
_atoms = st.one_of(
    st.integers(0, 10**6).map(str),
    st.sampled_from(["pi", "sqrt(2)", "sqrt(5)", "sqrt(3)/2", "cos(2*pi/7)", "sin(pi/9)", "cos(pi/8)", "sin(3*pi/5)"]),
    st.tuples(st.integers(1, 50), st.integers(1, 50)).map(lambda pq: f"sqrt({pq[0]}/{pq[1]})"),
)


def _combine(children):
    ops = st.sampled_from([" + ", " - ", "*", "/"])
    binary = st.tuples(children, ops, children).map(lambda t: f"({t[0]}){t[1]}({t[2]})")
    negated = children.map(lambda c: f"-({c})")
    powered = st.tuples(children, st.sampled_from(["2", "3", "(-1)", "(1/2)", "(3/2)", "(-2)"])).map(
        lambda t: f"({t[0]})**{t[1]}"
    )
    rooted = children.map(lambda c: f"sqrt(({c})**2)")
    return st.one_of(binary, negated, powered, rooted)


_texts = st.recursive(_atoms, _combine, max_leaves=6)


@given(_texts)
def test_random_texts_read_as_sympy_reads_them(text):
    try:
        ours = exact_from_text(text, "x")
    except DocumentError as err:
        # refusals of the grammar's value rules: division by zero, powers of 0, roots of negatives
        assert err.field == "x" and ("zero" in str(err) or "negative" in str(err) or "expansion" in str(err)), err
        return
    assert ours == sp.sympify(text), text  # sympify on this test's own texts only


@pytest.mark.parametrize(
    "text, match",
    [
        ("__import__('os').system('touch owned')*0+1", "unexpected character"),
        ("__import__", "no names but pi, sqrt, cos, sin"),
        ("lambda: 1", "unexpected character ':'"),
        ("(1).__class__", "unexpected character"),
        ("sqrt.__globals__", "unexpected character"),
        ("exec('1')", "unexpected character"),
        ("eval", "no names but"),
        ("Symbol", "no names but"),
        ("x + y", "no names but"),
        ("2**2**2**30", "unexpected '\\*\\*'"),
        ("2**100", "exponent 100/1 outside"),
        ("2**(1/7)", "exponent 1/7 outside"),
        ("9" * (MAX_DIGITS + 1), f"integer of {MAX_DIGITS + 1} digits"),
        ("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1), "nesting deeper"),
        ("-" * (MAX_DEPTH + 1) + "1", "nesting deeper"),
        ("(1 + sqrt(2) + sqrt(3) + sqrt(5))**16", "expansion has up to"),
        ("1e5", "unexpected 'e5'"),
        ("0.5", "unexpected character '.'"),
        ("I", "no names but"),
        ("sqrt(-1)", "not decidably non-negative"),
        ("sqrt(1 - sqrt(2))", "not decidably non-negative"),
        ("1/0", "division by zero"),
        ("1/(sqrt(2) - sqrt(2))", "division by zero"),
        ("0**(-1)", "negative power"),
        ("cos(1)", "not a rational multiple of pi"),
        ("sin(pi*sqrt(2))", "not a rational multiple of pi"),
        ("", "the text is empty"),
        ("1 +", "ends early"),
        ("(1", "ends early"),
        ("1)", "unexpected '\\)'"),
        ("sqrt 2", "expected '\\('"),
    ],
)
def test_hostile_texts_are_refused_by_name_and_run_nothing(text, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DocumentError, match=match) as err:
        exact_from_text(text, "keys[1][0][0]")
    assert err.value.field == "keys[1][0][0]" and str(err.value).startswith("keys[1][0][0]: expected an exact number")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [3, 1.5, None, ["1"], {"a": 1}, True])
def test_non_strings_are_refused_by_name(value):
    with pytest.raises(DocumentError, match=r"^betas\[0\]\[0\]: expected an exact number as a string"):
        exact_from_text(value, "betas[0][0]")


def test_sign_decides_what_sympy_alone_does_not():
    assert sign(sp.Rational(1, 2) - sp.sqrt(2) / 4) == 1
    assert sign(sp.sqrt(2) - sp.Rational(3, 2)) == -1
    assert sign(sp.sqrt(8) - 2 * sp.sqrt(2)) == 0
    assert sign(sp.cos(2 * sp.pi / 7) - sp.cos(2 * sp.pi / 7)) == 0


@pytest.mark.parametrize(
    "text, match",
    [
        ("not json", "text: expected JSON, got invalid JSON"),
        ("[1, 2]", "text: expected a JSON object, got list"),
        ('{"format": NaN}', "text: expected JSON numbers, got NaN"),
        ("[" * 100_000, "nested too deeply"),
        ('{"format": 1' + "0" * 5000 + "}", "text: expected JSON the toolkit writes"),
        (b"\xff\xfe", "undecodable bytes"),
        ('{"format": "deltaproof.other/1"}', "format: expected one of deltaproof.program/1"),
        ("{}", "format: missing"),
    ],
)
def test_documents_that_are_not_json_objects_of_a_known_format(text, match):
    with pytest.raises(DocumentError, match=match):
        read_document(text, ("deltaproof.program/1",))


def test_fields_name_the_path_and_refuse_unknown_fields():
    fields = Fields({"n_h": "two", "layers": [{"kind": "x"}], "extra": 1}, "")
    with pytest.raises(DocumentError, match='^n_h: expected an integer from 1 to 64, got "two"'):
        fields.integer("n_h", 1, 64)
    (layer,) = fields.objects("layers", 8)
    with pytest.raises(DocumentError, match=r'^layers\[0\].kind: expected one of exact, planar, got "x"'):
        layer.choice("kind", ("exact", "planar"))
    with pytest.raises(DocumentError, match="^extra: unknown field"):
        fields.done()
    with pytest.raises(DocumentError, match='^"": unknown field') as caught:  # found by the codec fuzzer
        Fields({"": 1}, "").done()
    assert caught.value.field == '""'


def test_the_injection_of_the_issue_through_program_json_runs_nothing(tmp_path, monkeypatch):
    """The reproduction of the issue: a key holding Python that sympify evaluated (it created a file)."""
    monkeypatch.chdir(tmp_path)
    doc = json.loads(compile_group("S3").to_json())
    keys = doc["layers"][0]["keys"]
    keys[1][0][0] = "__import__('os').system('touch owned')*0+" + keys[1][0][0]
    with pytest.raises(DocumentError, match=r"^layers\[0\].keys\[1\]\[0\]\[0\]: expected an exact number"):
        Program.from_json(json.dumps(doc))
    assert not Path("owned").exists()
