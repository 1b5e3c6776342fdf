"""JSON documents → programs: the validating readers of every program format, and re-proof on load.

Formats: ``deltaproof.program/2`` (what :meth:`theory.programs.ir.Program.to_json` writes: layers and a
decoder), and the two written before one IR held every program, which still load: ``deltaproof.program/1``
(one layer: representation, n_h, dim, keys, betas, initial_state, readouts) and ``deltaproof.layered/1``
(the layout of /2 with the multi-layer constructions only). Every field is checked (types, counts against
the group, n_h and the symbol maps, β a rational in [0, 2], unit keys, known names, unknown or missing
fields, decoder ranges) and the program is then proved exactly (:func:`theory.programs.prove.prove`);
every refusal is a :class:`theory.documents.DocumentError` whose field path names what is wrong. Nothing
in a document is evaluated.
"""

from __future__ import annotations

import json

import sympy as sp

from theory.automata.dfa import Automaton
from theory.automata.dfa import from_json as dfa_from_json
from theory.documents import DocumentError, Fields, integer_in, list_of, read_document
from theory.groups import Group, parse_group
from theory.programs.dfa_to_layers import THEOREMS as DFA_THEOREMS
from theory.programs.group_to_layers import THEOREMS as LAYERED
from theory.programs.group_to_program import REPRESENTATIONS, representation
from theory.programs.interpret import SYMBOL_MAPS
from theory.programs.ir import (
    FORMAT,
    MAX_DIM,
    MAX_LAYERS,
    MAX_NH,
    MAX_ORDER,
    MAX_READOUTS,
    ONE_LAYER,
    Layer,
    Program,
    is_zero,
)
from theory.programs.prove import prove

__all__ = [
    "program_from_json",
    "read_program",
    "read_one_layer",
    "read_layers",
    "read_group",
    "check_beta",
    "check_unit_keys",
    "planar_form",
    "read_table",
    "FORMATS",
    "ONE_LAYER_FORMAT",
    "LAYERED_FORMAT",
]

ONE_LAYER_FORMAT = "deltaproof.program/1"
LAYERED_FORMAT = "deltaproof.layered/1"
FORMATS = (FORMAT, ONE_LAYER_FORMAT, LAYERED_FORMAT)


def program_from_json(text: str | bytes, *, max_order: int = MAX_ORDER, field: str = "text") -> Program:
    """A program from a document of any format in :data:`FORMATS`, validated and re-proved (``field`` names
    the text in errors); groups above ``max_order`` elements are refused."""
    kind, doc = read_document(text, FORMATS, field)
    return read_program(kind, doc, max_order)


def read_program(kind: str, doc: Fields, max_order: int) -> Program:
    """A program from a parsed document of format ``kind`` (one of :data:`FORMATS`)."""
    if kind == ONE_LAYER_FORMAT:
        return read_one_layer(doc, max_order)
    return read_layers(doc, max_order, tuple(LAYERED) + (ONE_LAYER if kind == FORMAT else ()), automata=kind == FORMAT)


def read_one_layer(doc: Fields, max_order: int) -> Program:
    """A program from a ``deltaproof.program/1`` document (one layer; its fields checked, then re-proved as a
    program of one layer)."""
    group = read_group(doc, max_order)
    name = doc.choice("representation", REPRESENTATIONS[1:])
    theorem = doc.text("theorem")
    n_h = doc.integer("n_h", 1, MAX_NH)
    try:
        rho = representation(group, name, explicit=True)
    except ValueError as err:
        raise DocumentError(doc.name("representation"), str(err).removeprefix("rep: ")) from None
    dim = doc.integer("dim", rho.dim, rho.dim)
    order = group.order
    keys = doc.exact("keys", (order, n_h, dim))
    betas = doc.exact("betas", (order, n_h), check_beta)
    initial_state = doc.exact("initial_state", (dim,))
    readouts = doc.exact("readouts", (order, dim))
    doc.done()
    check_unit_keys(keys, "keys")
    values = tuple((sp.Integer(0),) * n_h for _ in keys)
    layer = Layer("exact", n_h, dim, keys, betas, values, initial_state, readouts, "element")
    return _proved(Program(group.name, name, theorem, (layer,), tuple(range(order))))


def read_layers(doc: Fields, max_order: int, constructions: tuple[str, ...], *, automata: bool = False) -> Program:
    """A program from a ``deltaproof.program/2`` or ``deltaproof.layered/1`` document (the same layout; the
    first also holds one-layer group programs and, with ``automata``, DFA programs: an ``automaton`` field
    instead of the group): its fields checked, then re-proved. ``constructions``: the names the format allows."""
    automaton = _read_automaton(doc) if automata and "automaton" in doc.data else None
    if automaton is None:
        group = read_group(doc, max_order)
        tokens, targets = group.order, group.order
    else:
        group = None
        doc.choice("group", ("",))
        tokens, targets = len(automaton.letters), len(automaton.states)
        constructions = tuple(DFA_THEOREMS)
    construction = doc.choice("construction", constructions)
    theorem = doc.text("theorem")
    decoder_name = doc.choice("decoder_name", ("lookup", "block_product") if group else ("lookup", "chain"))
    layers: list[Layer] = []
    for index, entry in enumerate(doc.objects("layers", MAX_LAYERS)):
        layers.append(_read_layer(entry, index, layers, group, tokens))
    if not layers:
        raise DocumentError(doc.name("layers"), "expected at least one layer, got none")
    if decoder_name == "chain":
        decoder = read_table(doc, "decoder", layers[-1].symbols * len(layers[-1].readouts), targets)
        decoder_layers = tuple(doc.items("decoder_layers", 0))
    elif decoder_name == "lookup":
        items = doc.items("decoder", len(layers[-1].readouts))
        decoder = tuple(integer_in(v, f"decoder[{i}]", 0, targets - 1) for i, v in enumerate(items))
        decoder_layers = tuple(doc.items("decoder_layers", 0))
    else:
        decoder = tuple(doc.items("decoder", 0))
        items = doc.items("decoder_layers", 3)
        decoder_layers = tuple(integer_in(v, f"decoder_layers[{i}]", 0, len(layers) - 1) for i, v in enumerate(items))
        if len(set(decoder_layers)) != 3:
            raise DocumentError("decoder_layers", f"expected three distinct layers, got {list(decoder_layers)}")
    doc.done()
    if construction in ONE_LAYER:
        try:
            dim = representation(group, construction, explicit=True).dim
        except ValueError as err:
            raise DocumentError(doc.name("construction"), str(err).removeprefix("group: ")) from None
        if len(layers) != 1 or layers[0].dim != dim:
            message = f"expected one layer of dimension {dim} for a {construction} program, got dimensions"
            raise DocumentError(doc.name("layers"), f"{message} {[layer.dim for layer in layers]}")
    name = "" if group is None else group.name
    return _proved(Program(name, construction, theorem, tuple(layers), decoder, decoder_name, decoder_layers,
                           automaton))  # fmt: skip


def _read_automaton(doc: Fields) -> Automaton:
    """The ``automaton`` field: a name and automata-lib's DFA fields (:func:`theory.automata.dfa.from_json`),
    which must already be normalised (reading renormalises and compares)."""
    raw = doc.raw("automaton")
    if not isinstance(raw, dict):
        raise DocumentError(doc.name("automaton"), f"expected a JSON object, got {type(raw).__name__}")
    fields = {k: v for k, v in raw.items() if k != "name"}
    name = raw.get("name", "dfa")
    if not isinstance(name, str) or len(name) > 200:
        raise DocumentError(doc.name("automaton.name"), f"expected a name of at most 200 characters, got {name!r}")
    try:
        automaton = dfa_from_json(json.dumps(fields), name)
    except DocumentError as err:
        raise DocumentError(doc.name(f"automaton.{err.field}"), str(err).split(": ", 1)[1]) from None
    if automaton.to_dict() != fields:
        raise DocumentError(doc.name("automaton"), "expected a normalised DFA (minimal, states q0, q1, … in "
                                                   "breadth-first order), got another")  # fmt: skip
    return automaton


def _proved(program: Program) -> Program:
    """``program`` once :func:`theory.programs.prove.prove` holds on it (a DocumentError otherwise)."""
    try:
        proof = prove(program)
    except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError) as err:
        raise DocumentError("program", f"the exact proof cannot run on this program ({err!r})") from None
    if not proof.holds:
        raise DocumentError("program", f"the exact proof of the loaded program fails: {proof.failure}")
    return program


def _read_layer(doc: Fields, index: int, below: list[Layer], group: Group | None, tokens: int) -> Layer:
    """One layer of a layered document; ``below``: the layers already read (its symbol map reads them);
    ``tokens``: the alphabet (a group's elements, a DFA's letters); ``group`` None for a DFA program."""
    kind = doc.choice("kind", ("exact", "planar"))
    n_h = doc.integer("n_h", 1, MAX_NH)
    dim = doc.integer("dim", 2, 2) if kind == "planar" else doc.integer("dim", 1, MAX_DIM)
    symbol_map = doc.choice("symbol_map", tuple(SYMBOL_MAPS))
    units = doc.integer("units", 1 if kind == "planar" else 0, 1 << 20)
    decode = doc.choice("decode", ("nearest", "grid"))
    period = doc.integer("period", 0, 1 << 16)
    items = doc.items("map_layers", max_length=index)
    map_layers = tuple(integer_in(v, doc.name(f"map_layers[{i}]"), 0, index - 1) for i, v in enumerate(items))
    if symbol_map == "element":
        symbols = tokens
    elif symbol_map == "element_with":
        symbols = tokens
        for i in map_layers:
            if below[i].decode != "nearest":
                message = f"layer {i} decodes to a grid, which element_with cannot read"
                raise DocumentError(doc.name("map_layers"), message)
            symbols *= len(below[i].readouts)
    elif symbol_map == "chain":
        if map_layers != (index - 1,) or index == 0 or below[-1].decode != "nearest":
            message = f"chain reads the layer just below (map_layers [{index - 1}], decoded to readouts)"
            raise DocumentError(doc.name("map_layers"), f"{message}, got {list(map_layers)}")
        symbols = len(doc.items("keys", max_length=MAX_READOUTS))
    elif symbol_map in BLOCK_LEVEL_MAPS:
        if group is not None:
            raise DocumentError(doc.name("symbol_map"), f"{symbol_map} is a DFA program's; a group program has none")
        symbols = _block_level_symbols(doc, symbol_map, index, map_layers, below, dim, period)
    elif group is None:
        raise DocumentError(doc.name("symbol_map"), "block_swaps reads a group's swaps; a DFA program has none")
    else:
        pairs = group.degree * (group.degree - 1) // 2
        symbols = 1 + pairs
        if len(map_layers) != 2 or period < 2 or period & (period - 1):
            message = f"block_swaps expects (counter, buffer) layers, period 2^k ≥ 2; got {list(map_layers)}, {period}"
            raise DocumentError(doc.name("map_layers"), message)
    if symbols > MAX_READOUTS:
        raise DocumentError(doc.name("symbol_map"), f"expected at most {MAX_READOUTS} symbols, got {symbols}")
    keys = doc.exact("keys", (symbols, n_h, dim))
    betas = doc.exact("betas", (symbols, n_h), check_beta)
    values = doc.exact("values", (symbols, n_h))
    initial_state = doc.exact("initial_state", (dim,))
    count = len(doc.items("readouts", max_length=MAX_READOUTS))
    readouts = doc.exact("readouts", (count, 1 if decode == "grid" else dim))
    if not readouts:
        raise DocumentError(doc.name("readouts"), "expected at least one readout, got none")
    flags = list_of(doc.raw("resets", []), doc.name("resets"), max_length=symbols)
    if flags and len(flags) != symbols:
        message = f"expected none or {symbols} entries (one per symbol), got {len(flags)}"
        raise DocumentError(doc.name("resets"), message)
    resets = tuple(integer_in(v, doc.name(f"resets[{i}]"), 0, 1) for i, v in enumerate(flags))
    lookup = ()
    if symbol_map == "chain":
        lookup = read_table(doc, "lookup", below[-1].symbols * len(below[-1].readouts), symbols)
    elif symbol_map == "chain_count":
        lookup = read_table(doc, "lookup", below[-1].symbols * len(below[-1].readouts), symbols // period)
    elif symbol_map == "level_swaps":
        count = (len(below[map_layers[1]].readouts) - 1) * dim
        items = doc.items("lookup", count, max_length=1 << 20)
        lookup = tuple(integer_in(v, doc.name(f"lookup[{i}]"), 0, dim - 1) for i, v in enumerate(items))
    doc.done()
    check_unit_keys(keys, doc.name("keys"))
    return Layer(kind, n_h, dim, keys, betas, values, initial_state, readouts, symbol_map, map_layers, units, decode,
                 period, resets, lookup)  # fmt: skip


BLOCK_LEVEL_MAPS = ("chain_count", "level_swaps", "level_block")


def _block_level_symbols(doc: Fields, symbol_map: str, index: int, map_layers: tuple, below: list[Layer], dim: int,
                         period: int) -> int:  # fmt: skip
    """The number of symbols of a block level's buffer, swap or level layer, once its ``map_layers`` name
    the layers its map reads (the buffer: the layer below and the counter; the swap layer: counter and
    buffer; the level layer: counter, buffer and swap) and the period is even (a DocumentError otherwise)."""
    if symbol_map == "chain_count":
        valid = len(map_layers) == 2 and map_layers[0] == index - 1 and below[-1].decode == "nearest"
        valid = valid and period >= 2 and period % 2 == 0
        expected = f"(layer below: {index - 1}, counter) and an even period ≥ 2"
    elif symbol_map == "level_swaps":
        valid = len(map_layers) == 2 and below[map_layers[1]].symbol_map == "chain_count"
        valid = valid and below[map_layers[1]].map_layers[1] == map_layers[0] and period == below[map_layers[1]].period
        expected = "(counter, buffer) with the buffer's counter and period"
    else:
        valid = len(map_layers) == 3 and below[map_layers[2]].symbol_map == "level_swaps"
        valid = valid and below[map_layers[2]].map_layers == map_layers[:2] and below[map_layers[2]].dim == dim
        expected = "(counter, buffer, swap) with the swap layer's counter, buffer and width"
    if not valid:
        message = f"{symbol_map} expects {expected}; got {list(map_layers)}, period {period}"
        raise DocumentError(doc.name("map_layers"), message)
    if symbol_map == "chain_count":
        symbols = len(doc.items("keys", max_length=MAX_READOUTS))
        if symbols % period:
            raise DocumentError(doc.name("keys"), f"expected a multiple of the period {period} symbols, got {symbols}")
        return symbols
    if symbol_map == "level_swaps":
        return 1 + dim * (dim - 1) // 2 + dim
    buffer = below[map_layers[1]]
    return buffer.symbols // buffer.period * dim


def read_table(doc: Fields, field: str, length: int, targets: int) -> tuple:
    """A ``chain`` table: ``length`` integers, each −1 (no word goes there) or in [0, targets)."""
    items = doc.items(field, length, max_length=max(length, 1 << 20))
    return tuple(integer_in(v, doc.name(f"{field}[{i}]"), -1, targets - 1) for i, v in enumerate(items))


def read_group(doc: Fields, max_order: int) -> Group:
    """The ``group`` field, parsed and checked against ``max_order`` (errors name the field)."""
    spec = doc.text("group")
    try:
        group = parse_group(spec)
        group.check_order(max_order, "loading a program", "max_order=")
    except ValueError as err:
        raise DocumentError(doc.name("group"), str(err).removeprefix("group: ")) from None
    return group


def check_beta(beta: sp.Expr, field: str) -> None:
    """β of a program: a rational in [0, 2] (the GH factor I − βkkᵀ of a unit key has norm ≤ 1 there)."""
    if not (beta.is_Rational and 0 <= beta <= 2):
        raise DocumentError(field, f"expected β, a rational in [0, 2], got {beta}")


def check_unit_keys(keys: tuple, field: str) -> None:
    """Every key of ``keys[symbol][j]`` has ‖k‖ = 1 exactly (planar keys by their form, others by
    :func:`is_zero`)."""
    for s, row in enumerate(keys):
        for j, key in enumerate(row):
            if len(key) == 2 and planar_form(key):
                continue
            if not is_zero(sum((e * e for e in key), sp.Integer(0)) - 1):
                norm2 = sp.nsimplify(sum(e * e for e in key))
                raise DocumentError(f"{field}[{s}][{j}]", f"expected a unit key, got ‖k‖² = {norm2}")


def planar_form(key: tuple) -> bool:
    """True when ``key`` is exactly (−sin α, cos α) for a rational multiple α of π (a unit vector)."""
    x, y = key
    return isinstance(-x, sp.sin) and isinstance(y, sp.cos) and (-x).args == y.args
