"""Multi-layer programs: layers of DeltaProduct whose input symbols are formed from the token and the
decoded outputs of the layers below, and their exact proofs.

Each layer evolves a state h ∈ R^d (one value column) by its symbol's n_h sub-steps
h ← h + β_j k_j (v_j − k_jᵀh) (so A = G_{n_h}⋯G_1 and B = Σ_j G_{n_h}⋯G_{j+1} β_j k_j v_j); its output is
decoded to the index of the nearest of its ``readouts``. Layer l's symbol at position t is a named map of
(x_t, decoded outputs of layers 0 … l−1 at t) (:data:`SYMBOL_MAPS`); the program's decoder maps the last
layer's decoded output to a group element. Running products follow :mod:`theory.groups` (acc ← acc·x in
sympy's notation, x_1 acting first).

Constructions:

* ``thm6`` — Z_m with two layers of single reflections (Grazzi et al. 2025, Theorem 6, App. D; notes §3.5):
  layer 0 is the scalar h ← −h + 1 (key 1, β = 2, value ½; B ≠ 0), h_t = t mod 2; layer 1 applies
  H(θ(x_t, t mod 2)) with θ(i, 1) = (1 − 2i)π/m, θ(i, 0) = (1 + 2i)π/m to h_0 = d_0 and stays on
  d_i = (cos 2iπ/m, sin 2iπ/m) at even t and c_i = (cos (1−2i)π/m, sin (1−2i)π/m) at odd t, i = y_t.
* ``dihedral_parity`` — D_m with two layers (Siems et al. 2025, Theorem 3; notes §3.8, reconstruction):
  layer 0 is the scalar sign h ← −h at rotations (p_t = rotations so far mod 2); layer 1 applies
  A_t = F^{p_t} ρ(x_t) F^{p_{t−1}} (F = H(π/m), p_{t−1} = p_t xor [x_t a rotation]), a single reflection or
  the identity, so h_t = F^{p_t} ρ(g_t) h_0; readouts are the 4m points F^p ρ(g) h_0.
* ``symmetric_3`` / ``symmetric_4`` — S_n (n ≥ 3) with three layers at n_h = 2 or four at n_h = 1 (Siems
  et al. 2025, Theorem 1(ii)/(iii); notes §3.9): a counter t mod P (P = 2^m, m = ⌈log₂(n − 1)⌉ + 1; one
  rotation R(2π/P) as two reflections, or parity plus Theorem 6 on the constant input), a buffer of the
  last P tokens (key e_{t mod P}, β = 1, value x_t + 1: slot writes by projections), and a swap layer
  (one GH per token, β ∈ {0, 2}) that applies, at position i of each block of b = P/2 tokens, the i-th
  swap of the previous block's product. The between-layer map (``block_swaps``) and the decoder
  (``block_product``) are exact named functions of (t mod P, last P tokens[, swap state]) — the table of
  2^m·(n!)^(2^m) entries the theorem describes, computed instead of stored.

Exactness (:func:`prove`): every transition of every layer is computed exactly on its readouts — in sympy
for ``exact`` layers, on angle labels for ``planar`` layers (points (cos bπ/N, sin bπ/N), keys
(−sin aπ/2N, cos aπ/2N), and the identity H(α)(cos φ, sin φ) = (cos(α − φ), sin(α − φ)), proved
symbolically) — and a breadth-first search over the product of all layers' readouts and the group
element proves that the decoder returns the running product after every prefix of every word. For the
S_n block programs, whose buffers make that search infeasible beyond S_3, :func:`prove_blocks` proves the
same by finite checks that compose by induction.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.combinatorics import Permutation

from theory.constructions import (
    MAX_NH,
    MAX_ORDER,
    BudgetError,
    check_beta,
    check_unit_keys,
    exact_texts,
    read_group,
)
from theory.documents import DocumentError, Fields, integer_in, read_document
from theory.factorize import permutation_swaps
from theory.groups import (
    Group,
    compose_planar,
    parse_group,
    permutation_matrix,
    planar_key,
    planar_key_label,
    planar_label,
    planar_lemma,
    planar_point,
    planar_point_label,
)

__all__ = [
    "Layer",
    "LayeredProgram",
    "SYMBOL_MAPS",
    "Context",
    "compile_layers",
    "prove",
    "prove_blocks",
    "Proof",
    "block_period",
    "lookup_table_size",
    "Transitions",
    "read_layered",
    "FORMAT",
]

SYMBOL_MAPS = {
    "element": "the token's element index x",
    "element_with": "x + |G|·(mixed-radix number of the decoded outputs of the listed layers below, the first "
    "listed least significant, each in base its number of readouts)",
    "block_swaps": "from (counter, buffer) layers: at position i of a block of P/2 tokens, the i-th swap of the "
    "previous block's product (0 = none)",
}

_THEOREMS = {
    "thm6": "Grazzi et al. 2025, Theorem 6 (App. D): Z_m with two layers of single reflections",
    "dihedral_parity": "Siems et al. 2025, Theorem 3: D_m with two DeltaNet layers (construction of notes §3.8, "
    "rotation-count parity)",
    "symmetric_3": "Siems et al. 2025, Theorem 1(ii): S_n with three layers, n_h = 2 (counter, buffer, swaps; "
    "notes §3.9)",
    "symmetric_4": "Siems et al. 2025, Theorem 1(iii): S_n with four layers, n_h = 1 (parity and Theorem 6 "
    "counter, buffer, swaps; notes §3.9)",
}


@dataclass(frozen=True)
class Layer:
    """One layer. ``keys[s][j]``, ``betas[s][j]``, ``values[s][j]``: sub-step j of symbol s (applied j-th);
    ``readouts``: the exact states the decoder separates; ``symbol_map`` ∈ :data:`SYMBOL_MAPS` with
    ``map_layers`` (the layers below it reads) and ``period``; ``kind`` "exact" (entries decided by sympy) or
    "planar" (2-D, angles multiples of π/``units``, decided on labels); ``decode`` "nearest" (the output is
    the index of the nearest readout) or "grid" (every coordinate is rounded to the nearest of the
    one-entry ``readouts``, the levels; the output is the tuple of level indices)."""

    kind: str
    n_h: int
    dim: int
    keys: tuple
    betas: tuple
    values: tuple
    initial_state: tuple
    readouts: tuple
    symbol_map: str
    map_layers: tuple = ()
    units: int = 0
    decode: str = "nearest"
    period: int = 0

    @property
    def symbols(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class LayeredProgram:
    """A compiled multi-layer program. Decoder "lookup": ``decoder[r]`` is the element index the last layer's
    readout r means; "block_product": the running product from the counter, buffer and swap layers named
    in ``decoder_layers`` (:func:`_block_product`)."""

    group: str
    construction: str
    theorem: str
    layers: tuple
    decoder: tuple
    decoder_name: str = "lookup"
    decoder_layers: tuple = ()

    def to_json(self) -> str:
        layers = []
        for layer in self.layers:
            entry = {k: getattr(layer, k) for k in ("kind", "n_h", "dim", "symbol_map", "units", "decode", "period")}
            entry["map_layers"] = list(layer.map_layers)
            entry.update({k: exact_texts(getattr(layer, k)) for k in _EXACT_FIELDS})
            layers.append(entry)
        meta = {k: getattr(self, k) for k in ("group", "construction", "theorem", "decoder_name")}
        return json.dumps({"format": FORMAT, **meta, "layers": layers, "decoder": list(self.decoder),
                           "decoder_layers": list(self.decoder_layers)}, indent=1)  # fmt: skip

    @classmethod
    def from_json(cls, text: str | bytes, *, max_order: int = MAX_ORDER) -> LayeredProgram:
        """Read a program written by :meth:`to_json`, validating every field (names, counts of symbols from
        the symbol maps and the layers below, shapes, β a rational in [0, 2], unit keys, the decoder), then
        re-prove it exactly (:func:`prove_blocks` for block programs, else :func:`prove`): a
        :class:`theory.documents.DocumentError` naming the field otherwise. Nothing is evaluated."""
        _, doc = read_document(text, (FORMAT,))
        return read_layered(doc, max_order)


FORMAT = "deltaproof.layered/1"
MAX_LAYERS = 8
MAX_DIM = 256
MAX_READOUTS = 100_000
MAX_SEARCH = 1_000_000


def read_layered(doc: Fields, max_order: int) -> LayeredProgram:
    """A layered program from a parsed document (its fields checked, then re-proved): see
    :meth:`LayeredProgram.from_json`."""
    group = read_group(doc, max_order)
    construction = doc.choice("construction", tuple(_THEOREMS))
    theorem = doc.text("theorem")
    decoder_name = doc.choice("decoder_name", ("lookup", "block_product"))
    layers: list[Layer] = []
    for index, entry in enumerate(doc.objects("layers", MAX_LAYERS)):
        layers.append(_read_layer(entry, index, layers, group))
    if not layers:
        raise DocumentError(doc.name("layers"), "expected at least one layer, got none")
    if decoder_name == "lookup":
        items = doc.items("decoder", len(layers[-1].readouts))
        decoder = tuple(integer_in(v, f"decoder[{i}]", 0, group.order - 1) for i, v in enumerate(items))
        decoder_layers = tuple(doc.items("decoder_layers", 0))
    else:
        decoder = tuple(doc.items("decoder", 0))
        items = doc.items("decoder_layers", 3)
        decoder_layers = tuple(integer_in(v, f"decoder_layers[{i}]", 0, len(layers) - 1) for i, v in enumerate(items))
        if len(set(decoder_layers)) != 3:
            raise DocumentError("decoder_layers", f"expected three distinct layers, got {list(decoder_layers)}")
    doc.done()
    program = LayeredProgram(group.name, construction, theorem, tuple(layers), decoder, decoder_name, decoder_layers)
    try:
        proof = (prove_blocks if decoder_name == "block_product" else prove)(program)
    except (IndexError, KeyError, TypeError, ZeroDivisionError) as err:
        raise DocumentError("program", f"the exact proof cannot run on this program ({err!r})") from None
    if not proof.holds:
        raise DocumentError("program", f"the exact proof of the loaded program fails: {proof.failure}")
    return program


def _read_layer(doc: Fields, index: int, below: list[Layer], group: Group) -> Layer:
    """One layer of a layered document; ``below``: the layers already read (its symbol map reads them)."""
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
        symbols = group.order
    elif symbol_map == "element_with":
        symbols = group.order
        for i in map_layers:
            if below[i].decode != "nearest":
                message = f"layer {i} decodes to a grid, which element_with cannot read"
                raise DocumentError(doc.name("map_layers"), message)
            symbols *= len(below[i].readouts)
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
    doc.done()
    check_unit_keys(keys, doc.name("keys"))
    return Layer(kind, n_h, dim, keys, betas, values, initial_state, readouts, symbol_map, map_layers, units, decode,
                 period)  # fmt: skip


_EXACT_FIELDS = ("keys", "betas", "values", "initial_state", "readouts")


class Context:
    """What the between-layer maps and the decoder of one program need: its group, each layer's number
    of readouts (the radix of its output) and the swap tables of block programs."""

    def __init__(self, program):
        """``program``: a LayeredProgram, or a one-layer program (then only the group products are used)."""
        self.program = program
        self.group = parse_group(program.group)
        self.radices = [len(layer.readouts) for layer in getattr(program, "layers", ())]
        self._swaps: dict[int, list[int]] = {}
        self._products: dict[tuple[int, int], int] = {}

    def symbol(self, layer: Layer, x, decoded: list):
        """Layer's input symbol from the token x and the decoded outputs of the layers below (numpy arrays
        or ints alike for the arithmetic maps; ints and tuples for block_swaps)."""
        if layer.symbol_map == "element":
            return x
        if layer.symbol_map == "element_with":
            symbol, weight = x, self.group.order
            for index in layer.map_layers:
                symbol = symbol + weight * decoded[index]
                weight *= self.radices[index]
            return symbol
        if layer.symbol_map == "block_swaps":
            counter, buffer = layer.map_layers
            count = decoded[counter] % layer.period
            step, previous, _ = _blocks(count, decoded[buffer], layer.period)
            swaps = self.swaps(self.product(previous)) if previous else []
            return swaps[step] if step < len(swaps) else 0
        raise ValueError(f"symbol_map: expected one of {sorted(SYMBOL_MAPS)}, got {layer.symbol_map!r}")

    def times(self, a: int, b: int) -> int:
        """Index of el[a]·el[b] (sympy's product, :mod:`theory.groups`), memoized."""
        if (a, b) not in self._products:
            self._products[(a, b)] = self.group.index[self.group.elements[a] * self.group.elements[b]]
        return self._products[(a, b)]

    def product(self, tokens, start: int = 0) -> int:
        """Index of the running product of element indices from ``start`` (acc ← acc·x)."""
        acc = start
        for x in tokens:
            acc = self.times(acc, x)
        return acc

    def swaps(self, element: int) -> list[int]:
        """Swap-layer symbols (1 + index of the pair (i < j) in lexicographic order) of the element's
        permutation matrix as n − c swaps, first applied first (:func:`theory.factorize.permutation_swaps`)."""
        if element not in self._swaps:
            n = self.group.degree
            pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
            factors = permutation_swaps(permutation_matrix(self.group.elements[element]))
            symbols = []
            for row in range(len(factors)):
                i, j = sorted(c for c in range(n) if factors.keys[row, c] != 0)
                symbols.append(1 + pairs.index((i, j)))
            self._swaps[element] = symbols
        return self._swaps[element]

    def element(self, x: int, decoded: list) -> int:
        """The program's decoder: the element index the decoded outputs mean."""
        if self.program.decoder_name == "lookup":
            return self.program.decoder[decoded[-1]]
        if self.program.decoder_name == "block_product":
            return _block_product(self, decoded)
        raise ValueError(f"decoder_name: expected 'lookup' or 'block_product', got {self.program.decoder_name!r}")


def _blocks(count: int, buffer: tuple, period: int) -> tuple[int, list[int], list[int]]:
    """At a position t with t mod P = count and the buffer of the last P tokens (slot s mod P holds token s
    as its element index + 1; 0 = before the word): (i = the position's index in its block of b = P/2,
    the tokens of the previous block — empty in block 0 —, the tokens of the current block up to t)."""
    b = period // 2
    step = (count - 1) % b
    previous = [buffer[(count - step - b + j) % period] for j in range(b)]
    current = [buffer[(count - step + j) % period] for j in range(step + 1)]
    return step, ([v - 1 for v in previous] if all(previous) else []), [v - 1 for v in current]


def _block_product(context: Context, decoded: list) -> int:
    """Running product at t from the swap layer's permutation σ (the product up to the block before last,
    with the first i + 1 swaps of the last block's product applied), the remaining swaps of that product
    and the current block's tokens so far."""
    counter, buffer, swap = context.program.decoder_layers
    period = context.program.layers[swap].period
    step, previous, current = _blocks(decoded[counter] % period, decoded[buffer], period)
    group = context.group
    acc = group.elements[decoded[swap]]
    n = group.degree
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if previous:
        for symbol in context.swaps(context.product(previous))[step + 1 :]:
            i, j = pairs[symbol - 1]
            acc = acc * Permutation(i, j, size=n)
    return context.product(current, group.index[acc])


def _scalar_layer(betas: list, values: list, h0, readouts: list, symbol_map: str = "element") -> Layer:
    """A one-dimensional layer with key 1 and one sub-step per symbol."""
    one = (sp.Integer(1),)
    return Layer("exact", 1, 1, tuple((one,) for _ in betas), tuple((sp.Integer(b),) for b in betas),
                 tuple((v,) for v in values), (sp.Integer(h0),), tuple((sp.Integer(r),) for r in readouts),
                 symbol_map)  # fmt: skip


def _planar_layer(reflections: list, h0: int, readouts: list[int], units: int, map_layers: tuple) -> Layer:
    """A 2-D layer with one sub-step per symbol: the reflection H(aπ/N) for label a, or the identity (None)."""
    keys = tuple((planar_key(0 if a is None else a, units),) for a in reflections)
    betas = tuple((sp.Integer(0 if a is None else 2),) for a in reflections)
    values = tuple((sp.Integer(0),) for _ in reflections)
    return Layer("planar", 1, 2, keys, betas, values, planar_point(h0, units),
                 tuple(planar_point(b, units) for b in readouts), "element_with", map_layers, units)  # fmt: skip


def _cyclic_labels(group: Group) -> list[int] | None:
    """j(x) with x = c^j for a generator c of the m-gon rotations, if the group is Z_m on m points."""
    m = group.degree
    if group.order != m or m < 2:
        return None
    labels = [planar_label(g, m) for g in group.elements]
    if any(kind != "R" for kind, _ in labels) or len({j for _, j in labels}) != m:
        return None
    return [j for _, j in labels]


def _compile_thm6(group: Group) -> LayeredProgram:
    labels = _cyclic_labels(group)
    if labels is None:
        raise ValueError(f"group: construction thm6 needs the cyclic group Z_m on m points, got {group.name}")
    m = group.order
    parity = _scalar_layer([2] * m, [sp.Rational(1, 2)] * m, 0, [0, 1])  # h ← −h + 1: h_t = t mod 2
    theta = [(1 + 2 * labels[x]) % (2 * m) for x in range(m)] + [(1 - 2 * labels[x]) % (2 * m) for x in range(m)]
    points = [2 * i for i in range(m)] + [(1 - 2 * i) % (2 * m) for i in range(m)]  # d_i, then c_i
    rotate = _planar_layer(theta, 0, points, m, (0,))
    element_of = {j: x for x, j in enumerate(labels)}
    decoder = tuple(element_of[r % m] for r in range(2 * m))
    return LayeredProgram(group.name, "thm6", _THEOREMS["thm6"], (parity, rotate), decoder)


def _dihedral(group: Group) -> list[tuple[str, int]] | None:
    """Planar labels ("R"/"H", j) of D_m on m points (m ≥ 3), or None for another group."""
    m = group.degree
    if group.order != 2 * m or m < 3:
        return None
    labels = [planar_label(g, m) for g in group.elements]
    return labels if len(set(labels)) == 2 * m else None


DIHEDRAL_FLIP = ("H", 4)  # F = H(π/m) in units of π/4m


def dihedral_fine_labels(group: Group) -> list[tuple[str, int]] | None:
    """ρ(g) of D_m (m ≥ 3) for every element, as planar labels in units of π/4m (labels mod 8m), the units in
    which the flip F = H(π/m) of the rotation-count-parity construction is :data:`DIHEDRAL_FLIP`; None for
    another group."""
    labels = _dihedral(group)
    m = group.degree
    return None if labels is None else [(kind, 8 * j % (8 * m)) for kind, j in labels]


def _compile_dihedral(group: Group) -> LayeredProgram:
    rho = dihedral_fine_labels(group)
    if rho is None:
        raise ValueError(f"group: construction dihedral_parity needs D_m on m ≥ 3 points, got {group.name}")
    m, order = group.degree, group.order
    units = 4 * m  # angles in units of π/4m; labels mod 8m
    flip = DIHEDRAL_FLIP
    rotation = [kind == "R" for kind, _ in rho]
    parity = _scalar_layer([2 if r else 0 for r in rotation], [0] * order, 1, [1, -1])
    reflections = []
    for p in (0, 1):
        for x in range(order):
            before = p ^ rotation[x]
            a = rho[x]
            if before:
                a = compose_planar(a, flip, 8 * m)
            if p:
                a = compose_planar(flip, a, 8 * m)
            if a[0] == "R" and a[1] != 0:
                raise AssertionError(f"dihedral_parity: symbol ({x}, {p}) is a rotation {a}, not one reflection")
            reflections.append(None if a[0] == "R" else a[1])
    h0 = 1  # the point at angle π/4m: its orbit and F's image of it are 4m distinct points

    def image(a, b):  # label of ρ(a) applied to the point b
        return (a[1] + b if a[0] == "R" else a[1] - b) % (8 * m)

    readouts = [image(rho[x], h0) for x in range(order)] + [image(flip, image(rho[x], h0)) for x in range(order)]
    if len(set(readouts)) != 2 * order:
        raise AssertionError("dihedral_parity: readout points coincide")
    layer = _planar_layer(reflections, h0, readouts, units, (0,))
    decoder = tuple(r % order for r in range(2 * order))
    return LayeredProgram(group.name, "dihedral_parity", _THEOREMS["dihedral_parity"], (parity, layer), decoder)


def _symmetric_degree(group: Group) -> int | None:
    n = group.degree
    return n if n >= 3 and group.order == sp.factorial(n) else None


def block_period(n: int) -> int:
    """P = 2^m with m = ⌈log₂(n − 1)⌉ + 1: blocks of b = P/2 ≥ n − 1 tokens, a buffer of the last P."""
    return 2 ** (int(np.ceil(np.log2(n - 1))) + 1)


def lookup_table_size(n: int) -> int:
    """2^m · (n!)^(2^m): the entries of the table on (t mod P, last P tokens) that Siems et al. 2025,
    Theorem 1(ii)/(iii) implies for the between-layer map of S_n."""
    period = block_period(n)
    return period * int(sp.factorial(n)) ** period


def _compile_symmetric(group: Group, layers: int) -> LayeredProgram:
    n, order = group.degree, group.order
    period = block_period(n)
    if layers == 3:  # the counter t mod P as one rotation R(2π/P) = H(2π/P) H(0) per token (n_h = 2)
        ones = [(0, 2)] * order
        counter = Layer("planar", 2, 2, tuple((planar_key(0, period), planar_key(2, period)) for _ in ones),
                        tuple((sp.Integer(2), sp.Integer(2)) for _ in ones), tuple((0, 0) for _ in ones),
                        planar_point(0, period), tuple(planar_point(2 * i, period) for i in range(period)), "element",
                        units=period)  # fmt: skip
        below = [counter]
    else:  # parity, then Theorem 6's reflections on the constant input 1 of Z_P (n_h = 1)
        parity = _scalar_layer([2] * order, [sp.Rational(1, 2)] * order, 0, [0, 1])
        mirrors = [3 % (2 * period)] * order + [(1 - 2) % (2 * period)] * order  # θ(1, 0), θ(1, 1)
        points = [2 * i for i in range(period)] + [(1 - 2 * i) % (2 * period) for i in range(period)]
        below = [parity, _planar_layer(mirrors, 0, points, period, (0,))]
    c = len(below) - 1  # the counter layer: its output mod P is t mod P
    radix = len(below[c].readouts)
    eye = sp.eye(period)
    buffer_keys, buffer_values = [], []
    for r in range(radix):
        for x in range(order):
            buffer_keys.append((tuple(eye.row(r % period)),))
            buffer_values.append((sp.Integer(x + 1),))
    buffer = Layer("exact", 1, period, tuple(buffer_keys), tuple((sp.Integer(1),) for _ in buffer_keys),
                   tuple(buffer_values), (sp.Integer(0),) * period, tuple((sp.Integer(v),) for v in range(order + 1)),
                   "element_with", (c,), decode="grid", period=period)  # fmt: skip
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    root = sp.sqrt(2) / 2
    swap_keys = [tuple(sp.Integer(1 if c_ == 0 else 0) for c_ in range(n))]
    swap_keys += [tuple(root if c_ == i else -root if c_ == j else sp.Integer(0) for c_ in range(n)) for i, j in pairs]
    h0 = sp.Matrix([sp.Integer(i + 1) for i in range(n)])
    readouts = tuple(tuple(permutation_matrix(g) * h0) for g in group.elements)
    swap = Layer("exact", 1, n, tuple((k,) for k in swap_keys),
                 tuple((sp.Integer(0 if s == 0 else 2),) for s in range(len(swap_keys))),
                 tuple((sp.Integer(0),) for _ in swap_keys), tuple(h0), readouts, "block_swaps",
                 (c, c + 1), period=period)  # fmt: skip
    name = "symmetric_3" if layers == 3 else "symmetric_4"
    return LayeredProgram(group.name, name, _THEOREMS[name], (*below, buffer, swap), (), "block_product",
                          (c, c + 1, c + 2))  # fmt: skip


def compile_layers(spec: str | Group, *, layers: int, n_h: int | str = "auto") -> LayeredProgram:
    """The multi-layer construction for a group and a layer count: Z_m and D_m with two layers (n_h = 1);
    S_n (n ≥ 3) with three layers (n_h = 2) or four (n_h = 1). A budget below a construction's is a
    :class:`theory.constructions.BudgetError`; a group with no construction at this depth a ValueError."""
    group = parse_group(spec) if isinstance(spec, str) else spec
    if not (n_h == "auto" or (isinstance(n_h, int) and not isinstance(n_h, bool) and n_h >= 1)):
        raise ValueError(f"n_h: expected a positive integer or 'auto', got {n_h!r}")
    if layers == 2:
        if _cyclic_labels(group) is not None:
            return _compile_thm6(group)
        if _dihedral(group) is not None:
            return _compile_dihedral(group)
        raise ValueError(f"group: {group.name} has no two-layer construction (Z_m: Grazzi Thm 6; D_m: Siems Thm 3)")
    if layers in (3, 4):
        if _symmetric_degree(group) is None:
            raise ValueError(f"group: the {layers}-layer construction is for S_n (n ≥ 3), got {group.name}")
        if layers == 3 and n_h == 1:
            raise BudgetError(
                f"n_h: the three-layer S_n construction counts t mod {block_period(group.degree)} in one layer, "
                "which needs n_h ≥ 2: with n_h = 1 every transition has real eigenvalues and one layer's output "
                "on 1^t is eventually periodic with period ≤ 2 (Grazzi et al. 2025, Theorem 2). Use n_h ≥ 2 or "
                "four layers (Siems et al. 2025, Theorem 1(iii))"
            )
        return _compile_symmetric(group, layers)
    raise ValueError(f"layers: expected 2 (Z_m, D_m), 3 or 4 (S_n), got {layers}")


@dataclass(frozen=True)
class Proof:
    """Outcome of :func:`prove`: ``holds`` when every reachable configuration decodes to the running product;
    ``states``: reachable (readouts of every layer, group element) configurations; ``transitions``: exact
    layer transitions computed; ``margins``: per layer, half the least distance between distinct readouts
    (exact); ``failure``: the first counterexample, if any."""

    holds: bool
    states: int
    transitions: int
    margins: tuple
    failure: str | None


class Transitions:
    """Exact transitions of one layer on its readouts, memoized: ``(symbol, readout) → readout`` (the
    interpreter that the provers and the exact reference of :mod:`proofs_check.simulate` share)."""

    def __init__(self, layer: Layer):
        self.layer = layer
        self.table: dict[tuple, int | tuple] = {}
        self.approx = np.array([[float(e) for e in r] for r in layer.readouts])
        if layer.decode == "grid":
            self.levels = {r[0]: i for i, r in enumerate(layer.readouts)}
        elif layer.decode != "nearest":
            raise ValueError(f"layer decode: expected 'nearest' or 'grid', got {layer.decode!r}")
        if layer.kind == "planar":
            self.points = [planar_point_label(r, layer.units) for r in layer.readouts]
            self.index = {b: i for i, b in enumerate(self.points)}
            if len(self.index) != len(self.points):
                raise ValueError("planar layer: two readouts are the same point")
        elif layer.kind != "exact":
            raise ValueError(f"layer kind: expected 'exact' or 'planar', got {layer.kind!r}")

    def initial(self) -> int:
        return self._find(self.layer.initial_state)

    def _find(self, state) -> int | tuple:
        if self.layer.decode == "grid":
            if any(e not in self.levels for e in state):
                raise ValueError(f"layer state {tuple(state)} has an entry off the levels")
            return tuple(self.levels[e] for e in state)
        if self.layer.kind == "planar":
            return self.index[planar_point_label(state, self.layer.units)]
        vector = np.array([float(e) for e in state])
        r = int(((self.approx - vector) ** 2).sum(1).argmin())
        if any(sp.expand(a - b) != 0 for a, b in zip(state, self.layer.readouts[r])):
            raise ValueError(f"layer state {tuple(state)} is not one of the readouts")
        return r

    def state(self, r) -> tuple:
        """The exact state a decoded output stands for."""
        if self.layer.decode == "grid":
            return tuple(self.layer.readouts[i][0] for i in r)
        return self.layer.readouts[r]

    def __call__(self, symbol: int, r):
        if (symbol, r) not in self.table:
            self.table[(symbol, r)] = self._step(symbol, r)
        return self.table[(symbol, r)]

    def _step(self, symbol: int, r: int) -> int:
        layer = self.layer
        factors = zip(layer.keys[symbol], layer.betas[symbol], layer.values[symbol])
        if layer.kind == "planar":
            b = self.points[r]
            for key, beta, value in factors:
                if value != 0 or beta not in (0, 2):
                    raise ValueError("planar layer: factors must have value 0 and β ∈ {0, 2}")
                if beta == 2:
                    b = (planar_key_label(key, layer.units) - b) % (2 * layer.units)
            if b not in self.index:
                raise ValueError(f"planar layer: symbol {symbol} maps readout {r} off the readouts")
            return self.index[b]
        h = tuple(self.state(r))
        for key, beta, value in factors:  # h ← h + β k (v − kᵀh), entrywise
            if beta != 0:
                error = value - sum((a * b for a, b in zip(key, h)), sp.Integer(0))
                h = tuple(sp.expand(e + beta * a * error) for e, a in zip(h, key))
        return self._find(h)


def _margin(layer: Layer) -> sp.Expr:
    """Half the least distance between distinct readouts, exact (located in float64, decided in sympy)."""
    pts = np.array([[float(e) for e in r] for r in layer.readouts])
    d2 = ((pts[:, None] - pts[None]) ** 2).sum(-1)
    d2[np.diag_indices(len(pts))] = np.inf
    i, j = np.unravel_index(d2.argmin(), d2.shape)
    diff = sp.Matrix(layer.readouts[i]) - sp.Matrix(layer.readouts[j])
    return sp.sqrt(sp.nsimplify(sp.simplify(diff.dot(diff)))) / 2


def prove(program: LayeredProgram, *, max_states: int = MAX_SEARCH) -> Proof:
    """Breadth-first search over configurations (readout of every layer, running product) from the initial
    states: for every configuration and token, each layer's exact transition must land on a readout and
    the decoder must return the new running product. Every prefix of every word reaches only these
    configurations, so this proves the program for all lengths. A search that reaches more than
    ``max_states`` configurations stops unproved."""
    group = parse_group(program.group)
    if any(layer.kind == "planar" for layer in program.layers) and not planar_lemma():
        return Proof(False, 0, 0, (), "the planar reflection lemma did not simplify to zero")
    try:
        return _search(program, group, max_states)
    except ValueError as err:  # a state off the readouts, a key or point not of its planar form
        return Proof(False, 0, 0, (), str(err))


def _search(program: LayeredProgram, group: Group, max_states: int) -> Proof:
    context = Context(program)
    steps = [Transitions(layer) for layer in program.layers]
    start = (tuple(step.initial() for step in steps), 0)
    seen, queue = {start}, deque([start])
    while queue:
        readouts, acc = queue.popleft()
        for x in range(group.order):
            decoded: list = []
            for layer, step, r in zip(program.layers, steps, readouts):
                decoded.append(step(context.symbol(layer, x, decoded), r))
            product = group.index[group.elements[acc] * group.elements[x]]
            if context.element(x, decoded) != product:
                failure = f"from configuration {readouts} with product {acc}, token {x} decodes to " \
                    f"{context.element(x, decoded)}, not {product}"  # fmt: skip
                return Proof(False, len(seen), sum(len(s.table) for s in steps), (), failure)
            nxt = (tuple(decoded), product)
            if nxt not in seen:
                if len(seen) >= max_states:
                    failure = f"the search passed {max_states:,} configurations (max_states) before it closed"
                    return Proof(False, len(seen), sum(len(s.table) for s in steps), (), failure)
                seen.add(nxt)
                queue.append(nxt)
    margins = tuple(_margin(layer) for layer in program.layers)
    return Proof(all(m > 0 for m in margins), len(seen), sum(len(s.table) for s in steps), margins, None)


def prove_blocks(program: LayeredProgram) -> Proof:
    """Exact proof of an S_n block program (three or four layers) for all words, by finite checks that
    compose by induction over positions and blocks (the full search is infeasible beyond S_3: the buffer
    alone has (n!)^P configurations):

    1. counter: every token has the same counter factors, and the counter layers' exact configuration,
       stepped from the start, decodes to t mod P at every t and returns to a configuration seen before
       within 2P steps, hence for all t;
    2. buffer: symbol x + |G|·r has key e_{r mod P}, β = 1, value x + 1 and h_0 = 0, and
       h + e_j(v − e_jᵀh) replaces entry j of h by v and keeps the rest (sympy, symbolic h) — so slot
       s mod P holds x_s + 1 for the last P positions s and 0 before the word;
    3. slots: at every t ≤ 2P (beyond, the slots repeat with period P), the map and decoder read exactly the
       previous block's positions (none in block 0) and the current block's positions up to t;
    4. swaps: for every π, its swap symbols number at most P/2 and multiply to π, and the swap layer's
       exact transition of symbol s maps the readout of σ to the readout of σ·τ_s;
    5. decoder: for every state σ, product π of the previous block and step i, the decoder given the swap
       state σ·(first i + 1 swaps of π) returns σ·π (then times the current block's tokens).
    By 1–4 the swap state after block k is the running product up to the end of block k − 1, and by 3 and
    5 the decoder returns the running product at every position."""
    try:
        return _prove_blocks(program)
    except ValueError as err:
        return Proof(False, 0, 0, (), str(err))


def _prove_blocks(program: LayeredProgram) -> Proof:
    if program.decoder_name != "block_product":
        raise ValueError("program: prove_blocks is for S_n block programs (decoder block_product)")
    context = Context(program)
    group, order = context.group, context.group.order
    counter, buffer_index, swap_index = program.decoder_layers
    buffer, swap = program.layers[buffer_index], program.layers[swap_index]
    period = swap.period
    checks = 0

    def fail(message):
        raise ValueError(message)

    if (swap.symbol_map, swap.map_layers, buffer.symbol_map, buffer.map_layers) != (
        "block_swaps",
        (counter, buffer_index),
        "element_with",
        (counter,),
    ):
        fail("program: the swap layer must read (counter, buffer) and the buffer the counter")
    # 1. the counter
    below = program.layers[: counter + 1]
    for index, layer in enumerate(below):
        for lower in itertools.product(*(range(r) for r in context.radices[:index])):
            base = context.symbol(layer, 0, list(lower))
            for x in range(order):
                s = context.symbol(layer, x, list(lower))
                if (layer.keys[s], layer.betas[s], layer.values[s]) != (
                    layer.keys[base],
                    layer.betas[base],
                    layer.values[base],
                ):
                    fail(f"counter: token {x} has factors of its own in layer {index}")
    steps = [Transitions(layer) for layer in below]
    current = tuple(step.initial() for step in steps)
    seen = {current: 0}
    for t in range(1, 2 * period + 2):
        decoded: list = []
        for layer, step, r in zip(below, steps, current):
            decoded.append(step(context.symbol(layer, 0, decoded), r))
        current = tuple(decoded)
        checks += 1
        if decoded[counter] % period != t % period:
            fail(f"counter: at t = {t} it reads {decoded[counter] % period}, not {t % period}")
        if current in seen and (t - seen[current]) % period == 0:
            break
        seen[current] = t
    else:
        fail("counter: no period found within 2P steps")
    # 2. the buffer
    eye = sp.eye(period)
    for r in range(context.radices[counter]):
        for x in range(order):
            s = context.symbol(buffer, x, [0] * counter + [r])
            if (
                buffer.keys[s] != (tuple(eye.row(r % period)),)
                or buffer.betas[s] != (1,)
                or buffer.values[s] != (x + 1,)
            ):
                fail(f"buffer: symbol {s} is not (e_{r % period}, β = 1, value {x + 1})")
    if any(e != 0 for e in buffer.initial_state) or [r[0] for r in buffer.readouts] != list(range(order + 1)):
        fail("buffer: h_0 is not 0 or the levels are not 0 … |G|")
    h = sp.Matrix(sp.symbols(f"h0:{period}"))
    v = sp.Symbol("v")
    for j in range(period):
        k = eye[:, j]
        written = (h + k * (v - (k.T * h)[0])).applyfunc(sp.expand)
        if list(written) != [v if i == j else h[i] for i in range(period)]:
            fail(f"buffer: writing slot {j} changes other slots")
    # 3. the slots the map and the decoder read
    b = period // 2
    for t in range(1, 2 * period + 1):
        slots = [0] * period
        for position in range(max(1, t - period + 1), t + 1):
            slots[position % period] = position + 1  # the 'token' at a position is the position itself
        step, previous, now = _blocks(t % period, tuple(slots), period)
        block = (t - 1) // b
        expected_previous = list(range((block - 1) * b + 1, block * b + 1)) if block else []
        if step != (t - 1) % b or previous != expected_previous or now != list(range(block * b + 1, t + 1)):
            fail(f"slots: at t = {t} the blocks read are {previous} and {now}")
    # 4. swaps, and the swap layer's exact transitions
    n = group.degree
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    taus = [group.elements[0]] + [Permutation(i, j, size=n) for i, j in pairs]
    for element in range(order):
        symbols = context.swaps(element)
        acc = group.elements[0]
        for s in symbols:
            acc = acc * taus[s]
        if len(symbols) > b or group.index[acc] != element:
            fail(f"swaps: element {element} is not the product of its {len(symbols)} swaps")
    transitions = Transitions(swap)
    if transitions.initial() != 0:
        fail("swap layer: h_0 is not the identity's readout")
    for sigma in range(order):
        for s in range(len(taus)):
            checks += 1
            if transitions(s, sigma) != group.index[group.elements[sigma] * taus[s]]:
                fail(f"swap layer: symbol {s} does not take element {sigma} to its product with the swap")
    # 5. the decoder
    identity_slots = [1] * period
    for sigma in range(order):
        for pi in range(order):
            symbols = context.swaps(pi)
            for step in range(b):
                state = group.elements[sigma]
                for s in symbols[: step + 1]:
                    state = state * taus[s]
                t = 2 * period + b + step + 1  # position `step` of a block with a predecessor
                slots = list(identity_slots)
                slots[(t - step - b) % period] = pi + 1  # the previous block: π, then identities
                decoded = [0] * len(program.layers)
                decoded[counter], decoded[buffer_index] = t % period, tuple(slots)
                decoded[swap_index] = group.index[state]
                checks += 1
                if context.element(0, decoded) != group.index[group.elements[sigma] * group.elements[pi]]:
                    fail(f"decoder: wrong at σ = {sigma}, π = {pi}, step {step}")
    margins = tuple(_margin(layer) for layer in program.layers)
    return Proof(all(m > 0 for m in margins), 0, checks, margins, None)
