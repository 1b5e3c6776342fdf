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

**One-layer automaton programs** (:func:`theory.programs.dfa_to_layers.compile_automaton` of a group
automaton, a permutation-reset one, or one whose letters are partial injections onto a sink) have one-hot
readouts e_q (the sink 0) and permutation or partial permutation matrices M(a), which are not orthogonal
representations of the classes: the state is a column, M_t e_{q_0} = e_{q_t}, while one head reads a row,
o = scale·c·M_tᵀ q. So the model gets d heads with the same sub-steps, head i reading q = e_i, hence row i
of M_t; ``o_proj`` takes from head i its entry q_0 into hidden dimension i of the attention part, which then
holds λ·M_t e_{q_0} = λ·e_{q_t} (each nonzero row of a partial permutation matrix normalises to the same
value, zero rows stay zero). ``lm_head``'s row of state q is e_q there; the sink's row reads a dimension that
every token's embedding sets to 1 (and no projection reads), weighted so that its logit is λ/2: the argmax
is q_t, and the sink when the attention part is zero. A reset to r (gate 0, then the write k = e_r, β = 1,
value 1) is reached exactly: the reset token's log-gate −e^{A_log}·softplus(a) is −10⁶ (a = 1000, A_log =
log 1000), whose exponential is 0 in every format, and every other token's is exactly 0 (softplus(−1000) = 0);
the write's value c·𝟙 puts c·e_r in every column, so column q_0 is c·e_r again (rows normalise to another
level than a permutation's, which changes no argmax: there is no sink in this class).

Cascades (several layers reading each other's decoded outputs) are refused by name.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

from models.lm import DeltaProductLM, ModelConfig
from theory.programs import Program
from theory.programs.ir import is_zero

__all__ = ["from_program", "step_size_logit", "SATURATED_LOGIT"]

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


AUTOMATON_CONSTRUCTIONS = ("dfa:group", "dfa:partial-injection-sink", "dfa:permutation-reset")
RESET_LOGIT = 1000.0
"""A reset token's gate pre-activation: its log-gate −e^{A_log}·softplus(1000) = −10⁶ makes e^g exactly 0 in every
format; every other token's softplus(−1000) is exactly 0, a gate of exactly 1."""


def _one_layer(program: Program):
    if not isinstance(program, Program):
        raise ValueError(f"program: expected a theory.programs.Program, got {type(program).__name__}")
    automaton = program.automaton is not None
    if len(program.layers) != 1 or (automaton and program.construction not in AUTOMATON_CONSTRUCTIONS):
        what = (f"{len(program.layers)} layers" if len(program.layers) != 1
                else f"a {program.construction} program of {program.automaton.name}")  # fmt: skip
        raise ValueError(f"program: expected a one-layer group program (compile_group) or a one-layer automaton "
                         f"program of kind {', '.join(AUTOMATON_CONSTRUCTIONS)}, got {what}")  # fmt: skip
    layer = program.layer
    if layer.symbol_map != "element" or layer.decode != "nearest" or program.decoder_name != "lookup":
        raise ValueError("program: expected a layer reading the token itself, decoded to the nearest readout; got "
                         f"symbol map {layer.symbol_map!r}, decode {layer.decode!r}")  # fmt: skip
    if not automaton and (layer.resets or not all(is_zero(v) for values in layer.values for v in values)):
        raise ValueError("program: expected a group program without resets and with zero values (a pure "
                         "state-tracking layer)")  # fmt: skip
    if not sp.simplify(layer.min_readout_distance_squared()) > 0:
        raise ValueError("program: its readouts are not distinct, so no decoder separates them")
    return layer


def from_program(program: Program, dtype: torch.dtype = torch.float32, backend: str = "auto") -> DeltaProductLM:
    """The :class:`DeltaProductLM` of a one-layer group or automaton program (module docstring): tokens are
    the program's symbols (element indices, as :func:`models.task` draws them; an automaton's letters), the
    argmax of the logits at every position is the program's decoded output there (the state's index).
    ``dtype``: the parameters' dtype; ``backend``: the layers' kernel backend."""
    if dtype not in (torch.float64, torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"dtype: expected torch.float64, float32, bfloat16 or float16, got {dtype!r}")
    layer = _one_layer(program)
    if program.automaton is not None:
        return _from_automaton(program, layer, backend).to(dtype)
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

    keys, logits, values = _sub_steps(layer, n_h)
    h0 = _floats([layer.initial_state])[0]
    h0 /= np.linalg.norm(h0)

    model = DeltaProductLM(config, backend=backend).to(torch.float64)
    block, attn = model.layers[0], model.layers[0].attn
    with torch.no_grad():  # what every projection reads: a token's one-hot embedding after attn_norm, c·e_a
        reads = float(block.attn_norm(torch.eye(1, hidden, dtype=torch.float64))[0, 0])
    pre = {
        "q": np.tile(_pre_silu(h0[None])[0], (symbols + 1, 1)),
        "k": _pre_silu(keys).reshape(symbols + 1, n_h * d),
        "v": np.where(values > 0, _silu_inverse(0.25 * values), 0.0).reshape(symbols + 1, n_h * d),
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


def _sub_steps(layer, n_h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys, β logits, values) of every token [symbols + 1, n_h, ·]: the program's sub-steps padded with
    identities (β = 0, key e_1), and the start token's d writes of c·e_j (β = 1, key e_j)."""
    d, symbols = layer.dim, layer.symbols
    keys = np.zeros((symbols + 1, n_h, d))
    keys[:, :, 0] = 1.0
    logits = np.full((symbols + 1, n_h), -SATURATED_LOGIT)
    values = np.zeros((symbols + 1, n_h, d))
    for s in range(symbols):
        keys[s, : layer.n_h] = _floats(layer.keys[s])
        logits[s, : layer.n_h] = [step_size_logit(float(sp.N(b, 30))) for b in layer.betas[s]]
    keys[symbols, :d], logits[symbols, :d], values[symbols, :d] = np.eye(d), 0.0, np.eye(d)
    return keys, logits, values


def _from_automaton(program: Program, layer, backend: str) -> DeltaProductLM:
    """A one-layer automaton program as a float64 model with d heads (module docstring)."""
    d, symbols = layer.dim, layer.symbols
    initial = _floats([layer.initial_state])[0]
    if not (np.sort(initial) == np.eye(d)[-1]).all():
        raise ValueError("program: expected a one-hot initial state (an automaton program's)")
    n_h, heads = max(layer.n_h, d), d
    resets = np.array(tuple(layer.resets or (0,) * symbols) + (0,), dtype=bool)  # the start token: no reset
    config = ModelConfig(
        vocab_size=symbols, num_classes=len(program.decoder), num_layers=1, num_heads=heads, head_dim=d,
        hidden_size=symbols + 2 + d, num_householder=n_h, allow_neg_eigval=True, use_forget_gate=bool(resets.any()),
        use_short_conv=False, expand_v=1, mlp_ratio=1, start_token=True,
    )  # fmt: skip
    hidden, constant, attention = config.hidden, symbols + 1, symbols + 2
    keys, logits, values = _sub_steps(layer, n_h)
    for s in range(symbols):  # a write's value w puts w·c in every column: after a reset S = c·e_r 𝟙ᵀ
        values[s, : layer.n_h] = np.array([float(sp.N(v, 30)) for v in layer.values[s]])[:, None]
    tokens = symbols + 1
    every_head = lambda x: np.repeat(x[:, :, None], heads, axis=2).reshape(tokens, -1)  # noqa: E731  (j, head, ·)
    pre = {
        "q": np.tile(_pre_silu(np.eye(d)).reshape(1, -1), (tokens, 1)),  # head i reads row i: q = e_i
        "k": every_head(_pre_silu(keys)),
        "v": every_head(np.where(values > 0, _silu_inverse(0.25 * values), 0.0)),
        "b": np.repeat(logits, heads, axis=1),
        "g": np.full((tokens, heads * d), _OUTPUT_GATE),
    }
    if config.use_forget_gate:
        pre["a"] = np.repeat(np.where(resets[:tokens, None], RESET_LOGIT, -RESET_LOGIT), heads, axis=1)
    model = DeltaProductLM(config, backend=backend).to(torch.float64)
    block, attn = model.layers[0], model.layers[0].attn
    embedding = torch.zeros(1, hidden, dtype=torch.float64)
    embedding[0, 0] = embedding[0, constant] = 1.0
    with torch.no_grad():  # a token's embedding e_a + e_constant, after attn_norm: the projections read c·e_a
        reads = float(block.attn_norm(embedding)[0, 0])
    written = 0.25 / d**0.5  # the state's nonzero entries (c = 0.25) times the kernel's scale K^-1/2
    eps = attn.o_norm.eps
    level = written / (written**2 / d + eps) ** 0.5 * float(torch.nn.functional.silu(torch.tensor(_OUTPUT_GATE)))
    start = int(np.argmax(initial))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embeddings.weight[:, : symbols + 1] = torch.eye(symbols + 1, dtype=torch.float64)
        model.embeddings.weight[:, constant] = 1.0
        for name, columns in pre.items():
            weight = getattr(attn, f"{name}_proj").weight
            weight[:, :tokens] = torch.from_numpy(columns.T / reads)
        for i in range(heads):  # head i's entry q_0 → attention dimension i
            attn.o_proj.weight[attention + i, i * d + start] = 1.0
        for norm in (block.attn_norm, block.mlp_norm, attn.o_norm, model.norm):
            norm.weight.fill_(1.0)
        if config.use_forget_gate:
            attn.A_log.fill_(float(np.log(RESET_LOGIT)))
        for c, r in enumerate(program.decoder):
            readout = _floats([layer.readouts[r]])[0]
            if np.abs(readout).max() == 0:  # the sink: a logit of half the live state's
                model.lm_head.weight[c, constant] = level / 2
            else:
                model.lm_head.weight[c, attention:] = torch.from_numpy(readout)
    return model
