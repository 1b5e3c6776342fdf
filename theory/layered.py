"""Multi-layer programs: layers of DeltaProduct whose input symbols are formed from the token and the
decoded outputs of the layers below, and their exact proofs.

Each layer evolves a state h ∈ R^d (one value column) by its symbol's n_h sub-steps
h ← h + β_j k_j (v_j − k_jᵀh) (so A = G_{n_h}⋯G_1 and B = Σ_j G_{n_h}⋯G_{j+1} β_j k_j v_j); its output is
decoded to the index of the nearest of its ``readouts``. Layer l's symbol at position t is a named map of
(x_t, decoded outputs of layers 0 … l−1 at t) (:data:`SYMBOL_MAPS`); the program's decoder maps the last
layer's decoded output to a group element. Running products follow :mod:`theory.groups` (acc ← acc·x in
sympy's notation, x_1 acting first).

Constructions (n_h = 1 per layer, i.e. DeltaNet layers with β ∈ {0, 2}):

* ``thm6`` — Z_m with two layers of single reflections (Grazzi et al. 2025, Theorem 6, App. D; notes §3.5):
  layer 0 is the scalar h ← −h + 1 (key 1, β = 2, value ½; B ≠ 0), h_t = t mod 2; layer 1 applies
  H(θ(x_t, t mod 2)) with θ(i, 1) = (1 − 2i)π/m, θ(i, 0) = (1 + 2i)π/m to h_0 = d_0 and stays on
  d_i = (cos 2iπ/m, sin 2iπ/m) at even t and c_i = (cos (1−2i)π/m, sin (1−2i)π/m) at odd t, i = y_t.
* ``dihedral_parity`` — D_m with two layers (Siems et al. 2025, Theorem 3; notes §3.8, reconstruction):
  layer 0 is the scalar sign h ← −h at rotations (p_t = rotations so far mod 2); layer 1 applies
  A_t = F^{p_t} ρ(x_t) F^{p_{t−1}} (F = H(π/m), p_{t−1} = p_t xor [x_t a rotation]), a single reflection or
  the identity, so h_t = F^{p_t} ρ(g_t) h_0; readouts are the 4m points F^p ρ(g) h_0.

Exactness (:func:`prove`): every transition of every layer is computed exactly on its readouts — in sympy
for ``exact`` layers, on angle labels for ``planar`` layers (points (cos bπ/N, sin bπ/N), keys
(−sin aπ/2N, cos aπ/2N), and the identity H(α)(cos φ, sin φ) = (cos(α − φ), sin(α − φ)), proved
symbolically) — and a breadth-first search over the product of all layers' readouts and the group
element proves that the decoder returns the running product after every prefix of every word.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass

import numpy as np
import sympy as sp

from theory.constructions import _from_str, _to_str
from theory.groups import Group, compose_planar, parse_group, planar_label

__all__ = ["Layer", "LayeredProgram", "SYMBOL_MAPS", "compile_layers", "prove", "Proof", "symbol_of"]

SYMBOL_MAPS = {
    "element": "the token's element index x",
    "element_with": "x + |G|·(mixed-radix number of the decoded outputs of the listed layers below, the first "
    "listed least significant, each in base its number of readouts)",
}

_THEOREMS = {
    "thm6": "Grazzi et al. 2025, Theorem 6 (App. D): Z_m with two layers of single reflections",
    "dihedral_parity": "Siems et al. 2025, Theorem 3: D_m with two DeltaNet layers (construction of notes §3.8, "
    "rotation-count parity)",
}


@dataclass(frozen=True)
class Layer:
    """One layer. ``keys[s][j]``, ``betas[s][j]``, ``values[s][j]``: sub-step j of symbol s (applied j-th);
    ``readouts``: the exact states the decoder separates; ``symbol_map`` ∈ :data:`SYMBOL_MAPS` with
    ``map_layers`` (the layers below it reads); ``kind`` "exact" (entries decided by sympy) or "planar"
    (2-D, angles multiples of π/``units``, decided on labels)."""

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

    @property
    def symbols(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class LayeredProgram:
    """A compiled multi-layer program; ``decoder[r]`` is the element index the last layer's readout r means."""

    group: str
    construction: str
    theorem: str
    layers: tuple
    decoder: tuple

    def to_json(self) -> str:
        layers = []
        for layer in self.layers:
            entry = {k: getattr(layer, k) for k in ("kind", "n_h", "dim", "symbol_map", "units")}
            entry["map_layers"] = list(layer.map_layers)
            entry.update({k: _to_str(getattr(layer, k)) for k in _EXACT_FIELDS})
            layers.append(entry)
        meta = {k: getattr(self, k) for k in ("group", "construction", "theorem")}
        return json.dumps({"format": "deltaproof.layered/1", **meta, "layers": layers,
                           "decoder": list(self.decoder)}, indent=1)  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> LayeredProgram:
        data = json.loads(text)
        if data.pop("format", None) != "deltaproof.layered/1":
            raise ValueError("text: expected a deltaproof.layered/1 document")
        layers = []
        for entry in data.pop("layers"):
            exact = {k: _from_str(entry.pop(k)) for k in _EXACT_FIELDS}
            layers.append(Layer(**{**entry, **exact, "map_layers": tuple(entry["map_layers"])}))
        return cls(**{**data, "layers": tuple(layers), "decoder": tuple(data["decoder"])})


_EXACT_FIELDS = ("keys", "betas", "values", "initial_state", "readouts")


def symbol_of(layer: Layer, x, decoded: list, radices: list[int], order: int):
    """Layer's input symbol from the token x and the decoded outputs of the layers below (numpy arrays or
    ints alike); ``radices[l]`` is layer l's number of readouts."""
    if layer.symbol_map == "element":
        return x
    if layer.symbol_map == "element_with":
        symbol, weight = x, order
        for index in layer.map_layers:
            symbol = symbol + weight * decoded[index]
            weight *= radices[index]
        return symbol
    raise ValueError(f"symbol_map: expected one of {sorted(SYMBOL_MAPS)}, got {layer.symbol_map!r}")


def _point(label: int, units: int) -> tuple:
    """(cos bπ/N, sin bπ/N) for label b, N = units."""
    angle = sp.Integer(label) * sp.pi / units
    return (sp.cos(angle), sp.sin(angle))


def _key(label: int, units: int) -> tuple:
    """The unit normal (−sin aπ/2N, cos aπ/2N) of the mirror of H(aπ/N): I − 2kkᵀ = H(aπ/N)."""
    half = sp.Integer(label) * sp.pi / (2 * units)
    return (-sp.sin(half), sp.cos(half))


def _scalar_layer(betas: list, values: list, h0, readouts: list, symbol_map: str = "element") -> Layer:
    """A one-dimensional layer with key 1 and one sub-step per symbol."""
    one = (sp.Integer(1),)
    return Layer("exact", 1, 1, tuple((one,) for _ in betas), tuple((sp.Integer(b),) for b in betas),
                 tuple((v,) for v in values), (sp.Integer(h0),), tuple((sp.Integer(r),) for r in readouts),
                 symbol_map)  # fmt: skip


def _planar_layer(reflections: list, h0: int, readouts: list[int], units: int, map_layers: tuple) -> Layer:
    """A 2-D layer with one sub-step per symbol: the reflection H(aπ/N) for label a, or the identity (None)."""
    keys = tuple((_key(0 if a is None else a, units),) for a in reflections)
    betas = tuple((sp.Integer(0 if a is None else 2),) for a in reflections)
    values = tuple((sp.Integer(0),) for _ in reflections)
    return Layer("planar", 1, 2, keys, betas, values, _point(h0, units),
                 tuple(_point(b, units) for b in readouts), "element_with", map_layers, units)  # fmt: skip


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


def _compile_dihedral(group: Group) -> LayeredProgram:
    labels = _dihedral(group)
    if labels is None:
        raise ValueError(f"group: construction dihedral_parity needs D_m on m ≥ 3 points, got {group.name}")
    m, order = group.degree, group.order
    units = 4 * m  # angles in units of π/4m; labels mod 8m
    rho = [(kind, 8 * j % (8 * m)) for kind, j in labels]
    flip = ("H", 4)  # F = H(π/m)
    rotation = [kind == "R" for kind, _ in labels]
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


def compile_layers(spec: str | Group, *, layers: int, n_h: int | str = "auto") -> LayeredProgram:
    """The multi-layer construction for a group and a layer count: Z_m and D_m with two layers. Both use
    n_h = 1 per layer, within any budget ``n_h``; a group with no construction at this depth is a
    ValueError."""
    group = parse_group(spec) if isinstance(spec, str) else spec
    if not (n_h == "auto" or (isinstance(n_h, int) and not isinstance(n_h, bool) and n_h >= 1)):
        raise ValueError(f"n_h: expected a positive integer or 'auto', got {n_h!r}")
    if layers != 2:
        raise ValueError(
            f"layers: only the two-layer constructions (Z_m, D_m) are compiled so far, got {layers}; S_n with "
            "3 layers (n_h ≥ 2) or 4 layers (n_h = 1) (Siems et al. 2025, Theorem 1(ii)/(iii)) is not built yet"
        )
    if _cyclic_labels(group) is not None:
        return _compile_thm6(group)
    if _dihedral(group) is not None:
        return _compile_dihedral(group)
    raise ValueError(f"group: {group.name} has no two-layer construction (Z_m: Grazzi Thm 6; D_m: Siems Thm 3)")


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


def planar_lemma() -> bool:
    """H(α)(cos φ, sin φ) = (cos(α − φ), sin(α − φ)) with H(α) = I − 2kkᵀ, k = (−sin α/2, cos α/2), for all
    real α, φ — proved by sympy on symbols (the planar layers' transitions rest on it)."""
    alpha, phi = sp.symbols("alpha phi", real=True)
    k = sp.Matrix([-sp.sin(alpha / 2), sp.cos(alpha / 2)])
    image = (sp.eye(2) - 2 * k * k.T) * sp.Matrix([sp.cos(phi), sp.sin(phi)])
    target = sp.Matrix([sp.cos(alpha - phi), sp.sin(alpha - phi)])
    return all(sp.simplify(sp.expand_trig(e)) == 0 for e in image - target)


def _label(vector: tuple, maker, units: int) -> int:
    """The label a with maker(a, units) == vector, found in float64 and confirmed by exact equality."""
    x, y = (float(e) for e in vector)
    turn = 2 * units if maker is _point else 4 * units
    angle = np.arctan2(y, x) if maker is _point else np.arctan2(-x, y)
    label = int(round(angle / np.pi * (units if maker is _point else 2 * units))) % turn
    if tuple(maker(label, units)) != tuple(vector):
        raise ValueError(f"planar layer: {vector} is not {maker.__name__.strip('_')}({label}) in units π/{units}")
    return label % (2 * units)


class _Transitions:
    """Exact transitions of one layer on its readouts, memoized: ``(symbol, readout) → readout``."""

    def __init__(self, layer: Layer):
        self.layer = layer
        self.table: dict[tuple[int, int], int] = {}
        self.approx = np.array([[float(e) for e in r] for r in layer.readouts])
        if layer.kind == "planar":
            self.points = [_label(r, _point, layer.units) for r in layer.readouts]
            self.index = {b: i for i, b in enumerate(self.points)}
            if len(self.index) != len(self.points):
                raise ValueError("planar layer: two readouts are the same point")
        elif layer.kind != "exact":
            raise ValueError(f"layer kind: expected 'exact' or 'planar', got {layer.kind!r}")

    def initial(self) -> int:
        return self._find(self.layer.initial_state)

    def _find(self, state) -> int:
        if self.layer.kind == "planar":
            return self.index[_label(state, _point, self.layer.units)]
        vector = np.array([float(e) for e in state])
        r = int(((self.approx - vector) ** 2).sum(1).argmin())
        if any(sp.expand(a - b) != 0 for a, b in zip(state, self.layer.readouts[r])):
            raise ValueError(f"layer state {tuple(state)} is not one of the readouts")
        return r

    def __call__(self, symbol: int, r: int) -> int:
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
                    b = (_label(key, _key, layer.units) - b) % (2 * layer.units)
            if b not in self.index:
                raise ValueError(f"planar layer: symbol {symbol} maps readout {r} off the readouts")
            return self.index[b]
        h = sp.Matrix(layer.readouts[r])
        for key, beta, value in factors:
            k = sp.Matrix(key)
            h = (h + beta * k * (value - (k.T * h)[0])).applyfunc(sp.expand)
        return self._find(tuple(h))


def _margin(layer: Layer) -> sp.Expr:
    """Half the least distance between distinct readouts, exact (located in float64, decided in sympy)."""
    pts = np.array([[float(e) for e in r] for r in layer.readouts])
    d2 = ((pts[:, None] - pts[None]) ** 2).sum(-1)
    d2[np.diag_indices(len(pts))] = np.inf
    i, j = np.unravel_index(d2.argmin(), d2.shape)
    diff = sp.Matrix(layer.readouts[i]) - sp.Matrix(layer.readouts[j])
    return sp.sqrt(sp.nsimplify(sp.simplify(diff.dot(diff)))) / 2


def prove(program: LayeredProgram) -> Proof:
    """Breadth-first search over configurations (readout of every layer, running product) from the initial
    states: for every configuration and token, each layer's exact transition must land on a readout and
    the decoder must return the new running product. Every prefix of every word reaches only these
    configurations, so this proves the program for all lengths."""
    group = parse_group(program.group)
    if any(layer.kind == "planar" for layer in program.layers) and not planar_lemma():
        return Proof(False, 0, 0, (), "the planar reflection lemma did not simplify to zero")
    try:
        return _search(program, group)
    except ValueError as err:  # a state off the readouts, a key or point not of its planar form
        return Proof(False, 0, 0, (), str(err))


def _search(program: LayeredProgram, group: Group) -> Proof:
    steps = [_Transitions(layer) for layer in program.layers]
    radices = [len(layer.readouts) for layer in program.layers]
    start = (tuple(step.initial() for step in steps), 0)
    seen, queue = {start}, deque([start])
    while queue:
        readouts, acc = queue.popleft()
        for x in range(group.order):
            decoded: list[int] = []
            for layer, step, r in zip(program.layers, steps, readouts):
                decoded.append(step(symbol_of(layer, x, decoded, radices, group.order), r))
            product = group.index[group.elements[acc] * group.elements[x]]
            if program.decoder[decoded[-1]] != product:
                failure = f"from configuration {readouts} with product {acc}, token {x} decodes to " \
                    f"{program.decoder[decoded[-1]]}, not {product}"  # fmt: skip
                return Proof(False, len(seen), sum(len(s.table) for s in steps), (), failure)
            nxt = (tuple(decoded), product)
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    margins = tuple(_margin(layer) for layer in program.layers)
    return Proof(all(m > 0 for m in margins), len(seen), sum(len(s.table) for s in steps), margins, None)
