"""Compiled constructions as model weights, as tracr assembles its programs: a one-layer group program
(:func:`theory.programs.compile_group`; two-layer ones and automata below) becomes a
:class:`models.DeltaProductLM` whose outputs decode as the program does, through any kernel backend, so that
the analysis, fla and any model tool can load it like a trained checkpoint.

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
log-gate −softplus(1024) = −1024, :data:`RESET_LOGIT`) and every other gate exactly 1 (softplus(−1024) = 0). The
model has d = max d_l heads of dimension d; head i reads row i (q = e_i), so after o_norm its column 0 is λ·h_i with one
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
contracts a 1 of the state by that much per reflection on it, against the units' margin ½. Delay layers (under
a budget n_h below the archive heads' 2w + 1) hold points of a grid (:func:`readout_tests`): a corner is tested by
the functional of largest margin (linear programming; 2×2 grids: tomita2 at n_h = 1, dyck1_3 at 1, tomita7 at 2),
an edge or inner point, which lies in the hull of the others, by an interval of one projection — two unit pairs,
the second subtracted, so that only the readout between them writes its 1 (3×3 grids: flip_flop, even_pairs,
dyck2_2 at n_h = 1; 4×4 in tomita3's at 1, 5×5 in modular_arithmetic's at 2). In float32 and float64 they decode
as the DFA (300-token words: every position); in bfloat16 the interval's units do not: their pre-activations
reach M times the projection's range, whose bf16 rounding (2⁻⁸ of it) no longer cancels in the subtracted pair,
and the residue mixes the next layer's symbols (flip_flop 16 %, modular_arithmetic 49 % of positions right at 60
tokens; the 2×2 grids, corners only, decode). Block programs (counters, buffers) are refused by name:
``compile_automaton(…, n_h="auto")`` gives a cascade of archive heads for every automaton.

**Two-layer group programs** (:data:`GROUP_CASCADES`: Grazzi et al.'s Theorem 6 for Z_m, Siems et al.'s Theorem 3
for D_m) are cascades of the same form: layer 0 a scalar parity (0/1, or ±1), layer 1 reading ``element_with`` —
the token and layer 0's output, symbol x + |G|·o, which block 0's units write as a chain's lookup would — whose
states are points of a circle. A readout set of one norm is tested linearly (:func:`readout_tests`: ⟨h, R⟩ against
|R|² less half the gap δ_R to the nearest other readout), and such a layer's level c is 8× smaller
(:func:`automaton_level`: o_norm then passes h_i within 0.2 % of proportional). The test is not scale-free, so
the keys' shortening by fla's normalisation (≤ 10⁻⁵ of h per reflection, at worst) bounds the length it
guarantees by about 0.37·δ_R/10⁻⁵ tokens (δ_R = 1 − cos(π/16) ≈ 0.019 for D_4: some 700; float32 decoded
4 000-token words of Z_5, S_3 and D_4 exactly). In bfloat16 they do not decode: a key rounded to bf16 turns
each reflection by ~2⁻⁹ rad, a random walk that leaves the readouts' spacing within tens of tokens (Z_5: 78 % of
positions right at 60 tokens).
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch
from scipy.optimize import linprog

from models.lm import DeltaProductLM, ModelConfig
from theory.programs import Program
from theory.programs.dfa_to_layers import roles
from theory.programs.ir import is_zero

__all__ = [
    "from_program",
    "step_size_logit",
    "automaton_level",
    "readout_tests",
    "class_count",
    "Layout",
    "GROUP_CASCADES",
    "SATURATED_LOGIT",
    "RESET_LOGIT",
    "CONSTANT",
    "SELECT",
]

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
GROUP_CASCADES = ("thm6", "dihedral_parity")
"""The multi-layer group constructions compiled as cascades (theory.programs.compile_layers: Z_m and D_m, two
layers); the S_n block programs are not (their between-layer map is a table of 2^m·(n!)^(2^m) entries)."""
RESET_LOGIT = 1024.0
"""A reset token's gate pre-activation, with A_log = 0: its log-gate −e^0·softplus(1024) = −1024 makes e^g exactly
0 in every format (float64's e^x underflows below −745); every other token's softplus(−1024) is exactly 0, a gate
of exactly 1. Not larger: fla's chunk kernels form decays as 2^(G_t − G_s) from float32 prefix sums G of the
log-gates, summed by a parallel scan, so the sums must be exact in any order — in bf16 and fp16 the log-gates are
integers of magnitude ≈ 1024 and 64 of them sum below 2²⁴. The former −10⁶ (A_log = ln 1000) left sums of
10⁷ – 10⁸, whose roundings made a decay that should be 1 come out as 4 in fla's own sums, and fla's kernel
mis-decoded (bench/results/automaton_models/README.md)."""
CONSTANT = 2.0**14
"""Z, every token's entry in a hidden dimension of its own: it holds the RMSNorm's factor within n/(2Z²) of one
value."""
SELECT = 8000.0
"""M, the MLP units' scale: silu(z) is exactly z for z ≥ 40 and 0 for z ≤ −750 in float32 and float64."""
_STATE = 0.25  # c: the level of a 1 of a group program's state in the model's


def automaton_level(dim: int, eps: float, peak: float | None = None) -> float:
    """c for a cascade model of head dimension d: the largest power of two ≤ d·√eps/2 (and ≤ 1/4) for a layer
    of 0/1 states (``peak`` None), ≤ d·√eps/(16·peak) for one whose states take other values, none above
    ``peak`` in magnitude. A head's output row holds
    a = c·h_i·d^{-1/2}; o_norm's x/√(mean x² + eps) maps it to a/√(a²/d + eps). For 0/1 states that is one
    level for every 1 and r/√eps for a rounding residue r where h_i = 0, so r comes out √(1 + a²/(d·eps)) times
    larger relative to a 1 — 10× at c = 1/4, d = 8, eps = 10⁻⁵, which turned bf16's 0.8 % residues into wrong
    lookups — and at most √(5/4) with this c. For other states (points of a circle, a delay layer's grid) the
    map is not linear in h_i: with the smaller c, a²/d ≤ eps/256 and h_i comes out within 0.2 % of proportional."""
    return min(0.25, 2.0 ** np.floor(np.log2(dim * eps**0.5 / (2 if peak is None else 16 * peak))))


def _group_layer(program: Program):
    """The layer of a one-layer group program, checked (a ValueError naming what is not)."""
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


def _binary(layer) -> bool:
    """Whether a layer's readouts and initial state are 0/1 vectors."""
    return all(e in (0, 1) for r in (*layer.readouts, layer.initial_state) for e in r)


def readout_tests(layer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w [readouts, dim], b [readouts], interval [readouts] bool): per readout R an affine score
    σ_R(h) = ⟨h, w_R⟩ + b_R that is ½ at h = R. Where ``interval`` is False it is ≤ −½ at every other readout, so
    one MLP unit tests "h is R" with the margin ½ on either side. 0/1 readouts: w = 2R − 𝟙, b = ½ − |R|
    (integrality: another 0/1 vector scores ≤ |R| − 1). Readouts of one norm (points of a circle, ±1):
    w = R/δ_R, b = ½ − |R|²/δ_R with δ_R = min_{R'≠R} |R|² − ⟨R, R'⟩ > 0, the nearest-readout decision made
    linear by the common norm. Other readout sets (a delay layer's grid points): per readout the functional w
    (|w_i| ≤ 1) of largest margin t = min_{R'≠R} ⟨R − R', w⟩, by linear programming (scipy.optimize.linprog),
    scaled by 1/t. A readout inside the convex hull of the others (a grid's edge and inner points) has none
    (t ≤ 0) and gets an ``interval`` test instead, on one projection p = ⟨h, v⟩ that takes a distinct value at
    every readout — v = (1, r, r², …) with r above every coordinate's span over its smallest gap (mixed radix:
    distinct on any grid) — scaled by the smallest gap between projections: σ_R is then ½ at R, ≤ −½ at the
    readouts below it and ≥ 3/2 at those above, and σ_R and σ_R − 1 are two units, the second subtracted
    (:func:`_set_units`). A set whose projections are not distinct is refused with a ValueError."""
    readouts = _floats(layer.readouts)
    no_interval = np.zeros(len(readouts), dtype=bool)
    if _binary(layer):
        return 2 * readouts - 1, 0.5 - readouts.sum(axis=1), no_interval
    norms = (readouts**2).sum(axis=1)
    if np.ptp(norms) <= 1e-12 * norms.max():
        gaps = norms[:, None] - readouts @ readouts.T
        np.fill_diagonal(gaps, np.inf)
        delta = gaps.min(axis=1)
        if (delta > 1e-9).all():
            return readouts / delta[:, None], 0.5 - norms / delta, no_interval
    dim = readouts.shape[1]
    w, interval = np.zeros_like(readouts), no_interval.copy()
    for i, readout in enumerate(readouts):
        gaps = readout - np.delete(readouts, i, axis=0)  # maximise t subject to ⟨R − R', w⟩ ≥ t, |w_i| ≤ 1
        best = linprog(np.r_[np.zeros(dim), -1.0], A_ub=np.hstack([-gaps, np.ones((len(gaps), 1))]),
                       b_ub=np.zeros(len(gaps)), bounds=[(-1, 1)] * dim + [(None, 1)])  # fmt: skip
        if best.success and -best.fun >= 1e-6:
            w[i] = best.x[:dim] / -best.fun
        else:
            interval[i] = True
    if interval.any():
        spans = [np.ptp(column) for column in readouts.T]
        steps = [np.diff(np.unique(column)).min(initial=np.inf) for column in readouts.T]
        direction = (max(spans) / min(steps) + 1.0) ** np.arange(dim)
        projections = readouts @ direction
        gap = np.diff(np.sort(projections)).min()
        if not gap > 1e-9 * np.abs(projections).max():
            raise ValueError(f"readouts: two readouts share the projection on {direction.tolist()}, so no "
                             "interval of it tells them apart")  # fmt: skip
        w[interval] = direction / gap
    return w, 0.5 - (w * readouts).sum(axis=1), interval


def _checked_cascade(program: Program) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every layer's :func:`readout_tests` for an automaton program or a two-layer group program
    (:data:`GROUP_CASCADES`) that the MLP lookups compile (module docstring), else a ValueError naming the layer."""
    if program.automaton is not None and program.construction not in AUTOMATON_CONSTRUCTIONS:
        raise ValueError(f"program: expected an automaton program of kind {', '.join(AUTOMATON_CONSTRUCTIONS)}, "
                         f"got {program.construction!r}")  # fmt: skip
    if program.automaton is None and program.construction not in GROUP_CASCADES:
        raise ValueError(f"program: expected a one-layer group program (compile_group), a group cascade of kind "
                         f"{', '.join(GROUP_CASCADES)} or an automaton program (compile_automaton), got a group "
                         f"program of {len(program.layers)} layers ({program.construction})")  # fmt: skip
    if program.decoder_name not in ("lookup", "chain"):
        raise ValueError(f"program: expected a lookup or chain decoder, got {program.decoder_name!r}")
    kinds = roles(program) if program.automaton is not None else ("group",) * len(program.layers)
    tests = []
    for index, (layer, kind) in enumerate(zip(program.layers, kinds)):
        wanted = [("element", ())] if index == 0 else [("chain", (index - 1,))]
        if index and program.layers[index - 1].symbol_map == "element":  # the token and the output below
            wanted.append(("element_with", (index - 1,)))
        if (layer.symbol_map, tuple(layer.map_layers)) not in wanted or layer.decode != "nearest":
            raise ValueError(f"program: layer {index} (a {kind} layer) reads {layer.symbol_map!r} of layers "
                             f"{list(layer.map_layers)}, decoded {layer.decode!r}: expected {wanted[-1][0]!r} of "
                             "the layer below, decoded to the nearest readout (block programs are not compiled into "
                             "models; compile_automaton(…, n_h='auto') gives archive heads)")  # fmt: skip
        try:
            tests.append(readout_tests(layer))
        except ValueError as error:
            raise ValueError(
                f"program: layer {index} (a {kind} layer): {error} (delay layers come under a budget "
                "n_h below the archive heads'; compile_automaton(…, n_h='auto') gives archive heads)"
            ) from None
        entries = [v for values in layer.values for v in values] + list(layer.initial_state)
        if any(float(sp.N(v)) < 0 for v in entries):
            raise ValueError(f"program: layer {index} has a negative value or initial entry, which silu cannot give")
    return tests


def from_program(program: Program, dtype: torch.dtype = torch.float32, backend: str = "auto") -> DeltaProductLM:
    """The :class:`DeltaProductLM` of a one-layer group program, a two-layer one (:data:`GROUP_CASCADES`) or an
    automaton program, one layer or a cascade (module docstring): tokens are the program's symbols (element
    indices, as :func:`models.task` draws them; an automaton's letters), the argmax of the logits at every
    position is the program's decoded output there (the element's or the DFA state's index). ``dtype``: the
    parameters' dtype — in bfloat16 two-layer group programs and delay grids larger than 2×2 do not decode (their
    tests need more than bf16's 8 bits; module docstring); ``backend``: the layers' kernel backend."""
    if dtype not in (torch.float64, torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"dtype: expected torch.float64, float32, bfloat16 or float16, got {dtype!r}")
    if not isinstance(program, Program):
        raise ValueError(f"program: expected a theory.programs.Program, got {type(program).__name__}")
    if program.automaton is not None or len(program.layers) > 1:
        return _from_cascade(program, _checked_cascade(program), backend).to(dtype)
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
        self.classes = list(range(at, at + class_count(program)))
        self.hidden = at + len(self.classes)


def class_count(program: Program) -> int:
    """The model's output classes: the DFA's states, or the group's elements (the decoder's targets)."""
    return len(program.automaton.states) if program.automaton is not None else max(program.decoder) + 1


def _units(program: Program, index: int) -> list[tuple[int | None, int, int]]:
    """Block ``index``'s MLP units: (symbol s or None, readout index o, target) for every pair that the next
    layer's lookup (or the decoder, for the last layer) maps to a target ≥ 0; a lookup decoder's units test the
    readout alone; an ``element_with`` layer above reads s + S·o itself (s the token: the layer below reads it)."""
    layers = program.layers
    layer = layers[index]
    last = index + 1 == len(layers)
    if last and program.decoder_name == "lookup":
        return [(None, o, target) for o, target in enumerate(program.decoder) if target >= 0]
    pairs = [(s, o) for o in range(len(layer.readouts)) for s in range(layer.symbols)]
    if not last and layers[index + 1].symbol_map == "element_with":
        return [(s, o, s + layer.symbols * o) for s, o in pairs]
    table = program.decoder if last else layers[index + 1].lookup
    return [(s, o, table[s + layer.symbols * o]) for s, o in pairs if table[s + layer.symbols * o] >= 0]


def _from_cascade(program: Program, tests: list, backend: str) -> DeltaProductLM:
    """An automaton program or a group cascade as a float64 model: per layer d heads, MLP units for the lookups
    with each layer's readout ``tests`` (module docstring)."""
    layers, where = program.layers, Layout(program)
    d = max(layer.dim for layer in layers)
    n_h = max(max(layer.n_h, sum(e != 0 for e in layer.initial_state)) for layer in layers)
    units = [_units(program, index) for index in range(len(layers))]
    rows = [2 * sum(1 + int(interval[o]) for _, o, _ in pairs) for pairs, (_, _, interval) in zip(units, tests)]
    gated = any(any(layer.resets) for layer in layers)
    config = ModelConfig(
        vocab_size=where.letters, num_classes=len(where.classes), num_layers=len(layers), num_heads=d, head_dim=d,
        hidden_size=where.hidden, num_householder=n_h, allow_neg_eigval=True, use_forget_gate=gated,
        use_short_conv=False, expand_v=1, mlp_ratio=max(1, -(-max(rows) // where.hidden)),
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
            _set_units(block.mlp, units[index], tests[index], _floats(layer.readouts), where, index, unit)
        for c, dim in enumerate(where.classes):
            model.lm_head.weight[c, dim] = 1.0
    return model


def _set_layer(attn, layer, where: Layout, index: int, n_h: int, d: int, unit: float) -> None:
    """Layer ``index``'s projections: they read its symbols' dimensions and the start token's; the queries and
    output gates, the same at every position, read the constant."""
    reads = where.symbols[index] + [where.start]
    keys, logits, values = _sub_steps(layer, n_h, d)
    h0 = _floats([layer.initial_state])[0]
    entries = np.flatnonzero(h0)  # the start token writes h_0 entry by entry: key e_j, β = 1, value h_0[j]
    start = layer.symbols
    keys[start, : len(entries)], logits[start, : len(entries)], values[start, : len(entries)] = (
        np.eye(d)[entries],
        0.0,
        h0[entries],
    )
    tokens, heads = layer.symbols + 1, d
    every_head = lambda x: np.repeat(x[:, :, None], heads, axis=2).reshape(tokens, -1)  # noqa: E731  (j, head, ·)
    column0 = np.zeros((tokens, n_h, d))
    peak = None if _binary(layer) else float(np.abs(_floats(layer.readouts)).max())
    c = automaton_level(d, attn.o_norm.eps, peak)
    column0[..., 0] = np.where(values > 0, _silu_inverse(c * values), 0.0)
    pre = {"k": every_head(_pre_silu(keys)), "v": every_head(column0), "b": np.repeat(logits, heads, axis=1)}
    if attn.use_forget_gate:
        resets = np.array(tuple(layer.resets or (0,) * layer.symbols) + (0,), dtype=bool)
        pre["a"] = np.repeat(np.where(resets[:, None], RESET_LOGIT, -RESET_LOGIT), heads, axis=1)
        attn.A_log.fill_(0.0)  # e^{A_log} = 1: the log-gate is −softplus(a)
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


def _set_units(mlp, units: list, tests: tuple, readouts: np.ndarray, where: Layout, index: int, unit: float) -> None:
    """Block ``index``'s MLP: pair u = (s, readout o, target) has two units with gate z = M·(B_o·(x_s − 1) + σ_o(h))
    (σ_o: :func:`readout_tests`; a lookup decoder's z = M·σ_o(h)) and z − M/8, up 1; silu(z) − silu(z − M/8) is
    exactly M/8 when z ≥ M/8 + 40 (both saturated) and 0 when z ≤ −750 (a mismatch: z ≤ −M/2 plus the drift), so
    the 1 it writes into the next symbols' (or the classes') dimension carries none of that drift up the
    cascade. B_o = max(1, max σ_o + ½) over the readouts turns every readout off for another symbol. An interval
    test adds the same two units on σ_o − 1, subtracted: 1 − 1 = 0 above R along the projection, 0 − 0 below."""
    constant, clamp = unit * CONSTANT, SELECT / 8
    targets = where.symbols[index + 1] if index + 1 < len(where.symbols) else where.classes
    w, b, interval = tests
    weights = np.maximum(1.0, (readouts @ w.T + b).max(axis=0) + 0.5)  # B_o
    row = 0
    for s, o, target in units:
        weight = float(weights[o])
        for offset, sign in ((0.0, 1.0), (-1.0, -1.0)) if interval[o] else ((0.0, 1.0),):
            bias = b[o] + offset - (weight if s is not None else 0.0)
            for shift, part in ((0.0, 1.0), (-clamp, -1.0)):
                if s is not None:
                    mlp.gate_proj.weight[row, where.symbols[index][s]] = SELECT * weight / unit
                mlp.gate_proj.weight[row, where.outputs[index]] = torch.from_numpy(SELECT * w[o] / unit)
                mlp.gate_proj.weight[row, where.constant] = (SELECT * bias + shift) / constant
                mlp.up_proj.weight[row, where.constant] = 1.0 / constant
                mlp.down_proj.weight[targets[target], row] = sign * part / clamp
                row += 1
