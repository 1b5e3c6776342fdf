"""Compiled constructions as model weights, as tracr assembles its programs: a one-layer group program
(:func:`theory.programs.compile_group`) becomes a :class:`models.DeltaProductLM` whose outputs decode as the
program does, through any kernel backend, so that the analysis, fla and any model tool can load it like a
trained checkpoint.

How the model's own parameterisation reaches the program (one layer, one head, K = V = d, no forget gate,
no short convolution, a start token; every projection reads the one-hot embedding of its token, scaled by
the RMSNorm in front of it, so a projection's column is what that token gets):

* the start token writes c·I_d into the empty state: its first d sub-steps have β = 1, k = e_j and
  v = c·e_j (S ← S + βk(v − Sᵀk)ᵀ adds c·e_j e_jᵀ); every other sub-step of it has β = 0;
* symbol a's sub-steps are the program's (k_j(a), β_j(a); v = 0), then β = 0 up to the model's n_h =
  max(program n_h, d); so after a word S_t = c·ρ(g_t), with g_t the running product and ρ the program's
  representation (its factor products);
* β = 2σ(z) takes the logit z = log(β / (2 − β)); for β = 2 and β = 0, z = ±1000, where σ is exactly 1
  or 0 in every floating-point format (float64's e^{−1000} underflows), so reflections and identity
  sub-steps are exact: the saturation the sigmoid would need is reached, not approximated;
* keys, queries and values pass silu before their normalisation: a projection holds silu⁻¹ of the wanted
  vector, scaled so that no entry is below −0.27 (silu is invertible above its minimum −0.278 at −1.278);
  fla's key normalisation x/√(‖x‖² + 10⁻⁶) then leaves a key short of unit length by at most 7·10⁻⁶ (none
  where the key, or its negative, has no negative entry), so a transition equals ρ(a) to about 10⁻⁵ and
  the model decodes as the program until that drift reaches the readouts' margin;
* the query is ĥ_0 = h_0/‖h_0‖, so o_t = scale·c·ρ(g_t)ᵀĥ_0, of the same norm at every position (ρ is
  orthogonal); the output norm and a constant output gate scale it by one constant, ``o_proj`` puts it in
  hidden dimensions of its own (the embeddings use the first vocab + 1), the MLP is zero, and ``lm_head``'s
  row g is ρ(g)ᵀĥ_0 on those dimensions. The logit of g is then a positive constant times
  ⟨ρ(g_t)ᵀĥ_0, ρ(g)ᵀĥ_0⟩, largest exactly when ρ(g)ᵀh_0 = ρ(g_t)ᵀh_0, i.e. g = g_t when the program's
  readouts ρ(g)h_0 are distinct (which :func:`from_program` checks): the argmax is the program's decoded
  output, as its nearest-readout decoder gives for the exact state.

**Automaton programs** (:func:`theory.programs.dfa_to_layers.compile_automaton`: one layer — a group automaton,
a permutation-reset one, partial injections onto a sink — or a cascade of layers whose symbols are ``chain``
lookups on the layer below, archive heads and frame layers included) need no orthogonal representation: every
layer's states are 0/1 vectors h (readouts e_q, the sink 0, archive pairs (a, r)), each sub-step the program's
h ← h + βk(v − kᵀh). Layer l of the model holds c·h e_0ᵀ (only column 0 of the K×V state is used; c small
enough that o_norm does not magnify rounding residues, :func:`automaton_level`):
the start token writes c·h_0 (key e_j, β = 1, value c·e_0 for each 1 of h_0), a symbol's sub-steps are the
program's with value c·v·e_0 (the same affine step on that column), a reset symbol's gate is exactly 0 (its
log-gate −e^{A_log}·softplus(1000) = −10⁶) and every other gate exactly 1 (softplus(−1000) = 0). The model has
d = max d_l heads of dimension d; head i reads row i (q = e_i), so after o_norm its column 0 is λ·h_i with one
level λ for every 1 (a row has one nonzero entry), and o_proj writes h_i itself into hidden dimension i of the
layer's own block. Symbols move up through the MLPs, as tracr compiles its lookups: block l's gated MLP has two
units per (symbol s, readout R) pair that the next layer's lookup (or the decoder) maps somewhere, with
pre-activation z = M·(x_s + ⟨h, 2R − 𝟙⟩ − |R| − ½) (M = 8000): +M/2 when the symbol is s and h = R (0/1
vectors: any other h scores ≤ |R| − 1), ≤ −M/2 otherwise; silu(z) − silu(z − M/8) (two units) is then exactly
M/8 or 0 in float32 and float64 while the drift of h and x_s costs z less than 0.37·M, and the pair writes a 1
into the next layer's symbol dimension table[s + S·r] (the decoder's class dimension in the last block), which
that layer's projections read as the token is read by the first. A lookup decoder needs no symbol: its units test
h = R alone. ``lm_head`` reads the class dimensions: the argmax is the DFA's state.

Every projection reads its inputs after an RMSNorm over the whole hidden vector, whose other entries (symbols,
outputs) vary with the position: every token's embedding also holds a constant Z = 2¹⁴ in a dimension of its
own, so the norm's factor moves by at most n/(2Z²) ≈ 10⁻⁸ for the n ≤ 20 other unit entries — weights are set
for the start token's factor, the saturated σ, silu and gates do not see the difference, and a value moves by
that relative amount (the state's 1s stay within 10⁻⁷ of c in float64; bfloat16's roundings move them by a few
per cent, inside the margin). The keys' shortening by fla's normalisation (≤ 3.4·10⁻⁶ for a swap (e_i − e_j)/√2)
contracts a 1 of the state by that much per reflection on it, against the units' margin ½. Programs whose readouts
are not 0/1 vectors (delay layers, under a budget n_h below the archive heads' 2w + 1) and block programs
(counters, buffers) are refused by name: ``compile_automaton(…, n_h="auto")`` gives a cascade of archive heads
for every automaton.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

from models.lm import DeltaProductLM, ModelConfig
from theory.programs import Program
from theory.programs.dfa_to_layers import roles
from theory.programs.ir import is_zero

__all__ = ["from_program", "step_size_logit", "automaton_level", "Layout", "SATURATED_LOGIT", "RESET_LOGIT", "CONSTANT",
           "SELECT"]

SATURATED_LOGIT = 1000.0  # σ(±1000) is exactly 1 and 0 in float64, float32, bfloat16 and float16
_OUTPUT_GATE = 1.0  # the output gate's pre-activation: silu(1) on every entry, one constant


def _silu_inverse(y: np.ndarray) -> np.ndarray:
    """z ≥ −1.2785 with z·σ(z) = y, for y > −0.2785 (float64: bisection to the bracket's last bit)."""
    y = np.asarray(y, dtype=np.float64)
    lo, hi = np.full(y.shape, -1.2784645427610738), np.maximum(y, 0.0) + 2.0
    for _ in range(1100):
        mid = (lo + hi) / 2
        below = mid / (1 + np.exp(-mid)) < y
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


def _pre_silu(vectors: np.ndarray) -> np.ndarray:
    """Pre-activations whose silu is each row of ``vectors`` times a positive factor (which the normalisation
    after it removes), or times a negative one where the row's sign does not matter (``vectors`` of rank 3:
    keys, k and −k giving the same factor). The factor is as large as silu's invertible range allows — its
    negative entries no lower than −0.27 — up to 1000: the key normalisation's eps = 1e-6 under the square
    root then shortens a key by eps/(2‖y‖²) ≤ 7e-6, and by nothing measurable when no entry is negative."""
    signed = vectors
    if vectors.ndim == 3:  # keys: flip each to the sign with the smaller negative part
        low, high = vectors.min(axis=-1, keepdims=True), (-vectors).min(axis=-1, keepdims=True)
        signed = np.where(low < high, -vectors, vectors)
    lowest = -np.clip(signed, None, 0).min(axis=-1, keepdims=True)
    scale = np.minimum(0.27 / np.where(lowest > 0, lowest, 1.0), 1000.0)
    scale = np.where(lowest > 0, scale, 1000.0)
    return _silu_inverse(signed * scale)


def step_size_logit(beta: float) -> float:
    """z with 2σ(z) = β: ±:data:`SATURATED_LOGIT` at β = 2 and 0."""
    if beta >= 2:
        return SATURATED_LOGIT
    if beta <= 0:
        return -SATURATED_LOGIT
    return float(np.log(beta / (2 - beta)))


def _floats(entries) -> np.ndarray:
    return np.array([[float(sp.N(e, 30)) for e in row] for row in entries], dtype=np.float64)


AUTOMATON_CONSTRUCTIONS = ("dfa:group", "dfa:partial-injection-sink", "dfa:permutation-reset", "dfa:holonomy-cascade")
RESET_LOGIT = 1000.0
"""A reset token's gate pre-activation: its log-gate −e^{A_log}·softplus(1000) = −10⁶ makes e^g exactly 0 in every
format; every other token's softplus(−1000) is exactly 0, a gate of exactly 1."""
CONSTANT = 2.0**14
"""Z, every token's entry in a hidden dimension of its own: it holds the RMSNorm's factor within n/(2Z²) of one
value."""
SELECT = 8000.0
"""M, the MLP units' scale: silu(z) is exactly z for z ≥ 40 and 0 for z ≤ −750 in float32 and float64."""
_STATE = 0.25  # c: the level of a 1 of a group program's state in the model's


def automaton_level(dim: int, eps: float) -> float:
    """c for an automaton model of head dimension d: the largest power of two ≤ d·√eps/2 (and ≤ 1/4). A head's
    output row holds a = c·d^{-1/2} where h_i = 1 and a rounding residue r where h_i = 0; o_norm's
    x/√(mean x² + eps) maps them to a/√(a²/d + eps) and r/√eps, so r comes out √(1 + a²/(d·eps)) times larger
    relative to a 1 — 10× at c = 1/4, d = 8, eps = 10⁻⁵, which turned bf16's 0.8 % residues into wrong lookups
    — and at most √(5/4) with this c."""
    return min(0.25, 2.0 ** np.floor(np.log2(dim * eps**0.5 / 2)))


def _group_layer(program: Program):
    """The layer of a one-layer group program, checked (a ValueError naming what is not)."""
    if len(program.layers) != 1:
        raise ValueError(f"program: expected a one-layer group program (compile_group) or an automaton program "
                         f"(compile_automaton), got a group program of {len(program.layers)} layers")  # fmt: skip
    layer = program.layer
    if layer.symbol_map != "element" or layer.decode != "nearest" or program.decoder_name != "lookup":
        raise ValueError("program: expected a layer reading the token itself, decoded to the nearest readout; got "
                         f"symbol map {layer.symbol_map!r}, decode {layer.decode!r}")  # fmt: skip
    if layer.resets or not all(is_zero(v) for values in layer.values for v in values):
        raise ValueError("program: expected a group program without resets and with zero values (a pure "
                         "state-tracking layer)")  # fmt: skip
    if not sp.simplify(layer.min_readout_distance_squared()) > 0:
        raise ValueError("program: its readouts are not distinct, so no decoder separates them")
    return layer


def _checked_automaton(program: Program) -> None:
    """An automaton program the MLP lookups compile (module docstring), else a ValueError naming the layer."""
    if program.construction not in AUTOMATON_CONSTRUCTIONS:
        raise ValueError(f"program: expected an automaton program of kind {', '.join(AUTOMATON_CONSTRUCTIONS)}, "
                         f"got {program.construction!r}")  # fmt: skip
    if program.decoder_name not in ("lookup", "chain"):
        raise ValueError(f"program: expected a lookup or chain decoder, got {program.decoder_name!r}")
    kinds = roles(program)
    for index, (layer, kind) in enumerate(zip(program.layers, kinds)):
        wanted = ("element", ()) if index == 0 else ("chain", (index - 1,))
        if (layer.symbol_map, tuple(layer.map_layers)) != wanted or layer.decode != "nearest":
            raise ValueError(f"program: layer {index} (a {kind} layer) reads {layer.symbol_map!r} of layers "
                             f"{list(layer.map_layers)}, decoded {layer.decode!r}: expected {wanted[0]!r} of the layer "
                             "below, decoded to the nearest readout (block programs are not compiled into models; "
                             "compile_automaton(…, n_h='auto') gives archive heads)")  # fmt: skip
        if not all(e in (0, 1) for r in (*layer.readouts, layer.initial_state) for e in r):
            raise ValueError(f"program: layer {index} (a {kind} layer) has readouts that are not 0/1 vectors, which "
                             "the MLP units cannot test (delay layers come under a budget n_h below the archive "
                             "heads'; compile_automaton(…, n_h='auto') gives archive heads)")  # fmt: skip
        if any(float(sp.N(v)) < 0 for values in layer.values for v in values):
            raise ValueError(f"program: layer {index} has a negative value, which silu cannot give")


def from_program(program: Program, dtype: torch.dtype = torch.float32, backend: str = "auto") -> DeltaProductLM:
    """The :class:`DeltaProductLM` of a one-layer group program or an automaton program, one layer or a cascade
    (module docstring): tokens are the program's symbols (element indices, as :func:`models.task` draws them; an
    automaton's letters), the argmax of the logits at every position is the program's decoded output there (the
    element's or the DFA state's index). ``dtype``: the parameters' dtype; ``backend``: the layers' kernel
    backend."""
    if dtype not in (torch.float64, torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"dtype: expected torch.float64, float32, bfloat16 or float16, got {dtype!r}")
    if not isinstance(program, Program):
        raise ValueError(f"program: expected a theory.programs.Program, got {type(program).__name__}")
    if program.automaton is not None:
        _checked_automaton(program)
        return _from_automaton(program, backend).to(dtype)
    layer = _group_layer(program)
    d, symbols = layer.dim, layer.symbols
    rho = [np.array(layer.factor_product(s).evalf(30), dtype=np.float64) for s in range(symbols)]
    if max(float(np.abs(r.T @ r - np.eye(d)).max()) for r in rho) > 1e-12:
        raise ValueError(f"program: its representation ({program.construction}) is not orthogonal")
    n_h = max(layer.n_h, d)
    config = ModelConfig(
        vocab_size=symbols, num_classes=len(program.decoder), num_layers=1, num_heads=1, head_dim=d,
        hidden_size=symbols + 1 + d, num_householder=n_h, allow_neg_eigval=True, use_forget_gate=False,
        use_short_conv=False, expand_v=1, mlp_ratio=1, start_token=True,
    )  # fmt: skip
    hidden = config.hidden

    keys, logits, _ = _sub_steps(layer, n_h, d)
    keys[symbols, :d], logits[symbols, :d] = np.eye(d), 0.0  # the start token writes c·I: c·e_j into row j
    values = np.zeros((symbols + 1, n_h, d))
    values[symbols, :d] = np.eye(d)
    h0 = _floats([layer.initial_state])[0]
    h0 /= np.linalg.norm(h0)

    model = DeltaProductLM(config, backend=backend).to(torch.float64)
    block, attn = model.layers[0], model.layers[0].attn
    with torch.no_grad():  # what every projection reads: a token's one-hot embedding after attn_norm, c·e_a
        reads = float(block.attn_norm(torch.eye(1, hidden, dtype=torch.float64))[0, 0])
    pre = {
        "q": np.tile(_pre_silu(h0[None])[0], (symbols + 1, 1)),
        "k": _pre_silu(keys).reshape(symbols + 1, n_h * d),
        "v": np.where(values > 0, _silu_inverse(_STATE * values), 0.0).reshape(symbols + 1, n_h * d),
        "b": logits,
        "g": np.full((symbols + 1, d), _OUTPUT_GATE),
    }
    readout = np.stack([rho[g].T @ h0 for g in program.decoder])  # lm_head's row g: ρ(g)ᵀĥ_0
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embeddings.weight[:, : symbols + 1] = torch.eye(symbols + 1, dtype=torch.float64)
        for name, columns in pre.items():
            weight = getattr(attn, f"{name}_proj").weight
            weight[:, : symbols + 1] = torch.from_numpy(columns.T / reads)
        attn.o_proj.weight[symbols + 1 :] = torch.eye(d, dtype=torch.float64)
        for norm in (block.attn_norm, block.mlp_norm, attn.o_norm, model.norm):
            norm.weight.fill_(1.0)
        model.lm_head.weight[:, symbols + 1 :] = torch.from_numpy(readout)
    return model.to(dtype)


def _sub_steps(layer, n_h: int, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys [symbols + 1, n_h, dim], β logits [symbols + 1, n_h], values [symbols + 1, n_h]) of every symbol:
    the program's sub-steps (keys padded with zeros to ``dim``, the program's scalar values) then identities
    (β = 0, key e_1); the last row, the start token's, all identities (its writes are the caller's)."""
    symbols = layer.symbols
    keys = np.zeros((symbols + 1, n_h, dim))
    keys[:, :, 0] = 1.0
    logits = np.full((symbols + 1, n_h), -SATURATED_LOGIT)
    values = np.zeros((symbols + 1, n_h))
    for s in range(symbols):
        keys[s, : layer.n_h, : layer.dim] = _floats(layer.keys[s])
        logits[s, : layer.n_h] = [step_size_logit(float(sp.N(b, 30))) for b in layer.betas[s]]
        values[s, : layer.n_h] = [float(sp.N(v, 30)) for v in layer.values[s]]
    return keys, logits, values


class Layout:
    """Where each quantity lives in the hidden vector of an automaton model: the tokens' one-hot (letters, then
    the start token), the constant Z, then per layer its output h (d_l dimensions) and the next layer's symbol
    (S_{l+1}), and last the classes (the DFA's states)."""

    def __init__(self, program: Program):
        layers = program.layers
        self.letters = layers[0].symbols
        self.start, self.constant = self.letters, self.letters + 1
        at = self.letters + 2
        self.outputs, self.symbols = [], [list(range(self.letters))]
        for index, layer in enumerate(layers):
            self.outputs.append(list(range(at, at + layer.dim)))
            at += layer.dim
            if index + 1 < len(layers):
                self.symbols.append(list(range(at, at + layers[index + 1].symbols)))
                at += layers[index + 1].symbols
        self.classes = list(range(at, at + len(program.automaton.states)))
        self.hidden = at + len(self.classes)


def _units(program: Program, index: int) -> list[tuple[int | None, tuple, int]]:
    """Block ``index``'s MLP units: (symbol s or None, readout R, target) for every pair that the next layer's
    lookup (or the decoder, for the last layer) maps to a target ≥ 0; a lookup decoder's units test R alone."""
    layers = program.layers
    layer = layers[index]
    last = index + 1 == len(layers)
    if last and program.decoder_name == "lookup":
        return [(None, r, target) for r, target in zip(layer.readouts, program.decoder) if target >= 0]
    table = program.decoder if last else layers[index + 1].lookup
    pairs = [(s, o) for o in range(len(layer.readouts)) for s in range(layer.symbols)]
    return [(s, layer.readouts[o], table[s + layer.symbols * o]) for s, o in pairs if table[s + layer.symbols * o] >= 0]


def _from_automaton(program: Program, backend: str) -> DeltaProductLM:
    """An automaton program as a float64 model: per layer d heads, MLP units for the lookups (module docstring)."""
    layers, where = program.layers, Layout(program)
    d = max(layer.dim for layer in layers)
    n_h = max(max(layer.n_h, sum(int(e) for e in layer.initial_state)) for layer in layers)
    units = [_units(program, index) for index in range(len(layers))]
    gated = any(any(layer.resets) for layer in layers)
    config = ModelConfig(
        vocab_size=where.letters, num_classes=len(where.classes), num_layers=len(layers), num_heads=d, head_dim=d,
        hidden_size=where.hidden, num_householder=n_h, allow_neg_eigval=True, use_forget_gate=gated,
        use_short_conv=False, expand_v=1, mlp_ratio=max(1, -(-2 * max(map(len, units)) // where.hidden)),
        start_token=True,
    )  # fmt: skip
    model = DeltaProductLM(config, backend=backend).to(torch.float64)
    embedding = torch.zeros(1, config.hidden, dtype=torch.float64)
    embedding[0, where.start] = 1.0
    embedding[0, where.constant] = CONSTANT
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for norm in [model.norm] + [n for b in model.layers for n in (b.attn_norm, b.mlp_norm, b.attn.o_norm)]:
            norm.weight.fill_(1.0)
        # after any RMSNorm: a unit entry reads `unit`, the constant Z·unit (the start token's factor)
        unit = float(model.norm(embedding)[0, where.start])
        model.embeddings.weight[: where.letters + 1, : where.letters + 1] = torch.eye(where.letters + 1)
        model.embeddings.weight[:, where.constant] = CONSTANT
        for index, (layer, block) in enumerate(zip(layers, model.layers)):
            _set_layer(block.attn, layer, where, index, n_h, d, unit)
            _set_units(block.mlp, units[index], where, index, unit)
        for c, dim in enumerate(where.classes):
            model.lm_head.weight[c, dim] = 1.0
    return model


def _set_layer(attn, layer, where: Layout, index: int, n_h: int, d: int, unit: float) -> None:
    """Layer ``index``'s projections: they read its symbols' dimensions and the start token's; the queries and
    output gates, the same at every position, read the constant."""
    reads = where.symbols[index] + [where.start]
    keys, logits, values = _sub_steps(layer, n_h, d)
    ones = [j for j, e in enumerate(layer.initial_state) if e == 1]
    start = layer.symbols
    keys[start, : len(ones)], logits[start, : len(ones)], values[start, : len(ones)] = np.eye(d)[ones], 0.0, 1.0
    tokens, heads = layer.symbols + 1, d
    every_head = lambda x: np.repeat(x[:, :, None], heads, axis=2).reshape(tokens, -1)  # noqa: E731  (j, head, ·)
    column0 = np.zeros((tokens, n_h, d))
    c = automaton_level(d, attn.o_norm.eps)
    column0[..., 0] = np.where(values > 0, _silu_inverse(c * values), 0.0)
    pre = {"k": every_head(_pre_silu(keys)), "v": every_head(column0), "b": np.repeat(logits, heads, axis=1)}
    if attn.use_forget_gate:
        resets = np.array(tuple(layer.resets or (0,) * layer.symbols) + (0,), dtype=bool)
        pre["a"] = np.repeat(np.where(resets[:, None], RESET_LOGIT, -RESET_LOGIT), heads, axis=1)
        attn.A_log.fill_(float(np.log(RESET_LOGIT)))
    for name, columns in pre.items():
        getattr(attn, f"{name}_proj").weight[:, reads] = torch.from_numpy(columns.T / unit)
    constant = unit * CONSTANT
    attn.q_proj.weight[:, where.constant] = torch.from_numpy(_pre_silu(np.eye(d)).reshape(-1) / constant)
    attn.g_proj.weight[:, where.constant] = _OUTPUT_GATE / constant
    # head i's column 0, a/√(a²/d + eps)·silu(1) for a 1 of h (a = c·d^{-1/2}, the kernel's scale), → dimension i
    a = c / d**0.5
    level = a / (a**2 / d + attn.o_norm.eps) ** 0.5 * float(torch.nn.functional.silu(torch.tensor(_OUTPUT_GATE)))
    for i, dim in enumerate(where.outputs[index]):
        attn.o_proj.weight[dim, i * d] = 1.0 / level


def _set_units(mlp, units: list, where: Layout, index: int, unit: float) -> None:
    """Block ``index``'s MLP: pair u = (s, R, target) has two units with gate z = M·(x_s + ⟨h, 2R − 𝟙⟩ − |R| − ½)
    (without x_s and with + ½ for a lookup decoder's) and z − M/8, up 1; silu(z) − silu(z − M/8) is exactly M/8
    when z ≥ M/8 + 40 (both saturated) and 0 when z ≤ −750 (a mismatch: z ≤ −M/2 plus the drift), so the 1 it
    writes into the next symbols' (or the classes') dimension carries none of that drift up the cascade."""
    constant, clamp = unit * CONSTANT, SELECT / 8
    targets = where.symbols[index + 1] if index + 1 < len(where.symbols) else where.classes
    for u, (s, readout, target) in enumerate(units):
        r = np.array(readout, dtype=np.float64)
        bias = -(r.sum() + 0.5) if s is not None else -(r.sum() - 0.5)
        for row, shift, sign in ((2 * u, 0.0, 1.0), (2 * u + 1, -clamp, -1.0)):
            if s is not None:
                mlp.gate_proj.weight[row, where.symbols[index][s]] = SELECT / unit
            mlp.gate_proj.weight[row, where.outputs[index]] = torch.from_numpy(SELECT * (2 * r - 1) / unit)
            mlp.gate_proj.weight[row, where.constant] = (SELECT * bias + shift) / constant
            mlp.up_proj.weight[row, where.constant] = 1.0 / constant
            mlp.down_proj.weight[targets[target], row] = sign / clamp
