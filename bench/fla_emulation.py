"""Do fla's bf16 roundings explain its chunk kernel's mis-decoding of compiled cascades? Its forward, emulated.

    python bench/fla_emulation.py --out bench/results/automaton_models/fla_emulation.json

On the GPU, fla's ``chunk_gated_delta_product`` decoded three of four compiled cascades wrongly in bfloat16
(0.3 – 1.1 % of positions, the first at 16 – 51) where our kernels decode every position
(bench/results/automaton_models/README.md). This emulates fla-core 0.6.0's chunked forward in float64 with
its roundings to the input dtype at the points its kernels make them, each switchable (:data:`ROUNDINGS`),
and runs the same models (``models.from_program`` in bfloat16, the layer's kernel call replaced by the
emulation) on the same words (the first ``--length`` letters of the GPU run's 8 words of 8 192): if the
roundings explained the GPU's errors, the emulation would be wrong at the same positions.

fla's forward on the interleaved sequence of n_h·T sub-step rows, chunks of 64 rows (read from
fla/ops/gated_delta_product/chunk.py, chunk_deltaproduct_h.py, chunk_deltaproduct_o.py,
gated_delta_rule/wy_fast.py, common/chunk_scaled_dot_kkt.py, utils/solve_tril.py):

* ``G``: the log-gate at each token's first row, cumulative sums within a chunk in fp32 in a parallel scan's
  order, then base 2 (:func:`gate_sums`; without it, exact);
* A = strictly_lower(β_r 2^{G_r − G_s} k_rᵀk_s) in fp32; ``T``: (I + A)⁻¹ stored in bf16;
* ``kb``: β 2^G ⊙ K rounded to bf16, ``w`` = T·kb stored in bf16; ``vb``: β ⊙ V rounded, ``u`` = T·vb stored;
* the walk, per chunk: ``h``: the state S (fp32) stored in bf16 at every n_h-th chunk (the start of each
  64-token chunk, for the output); ``S``: S rounded to bf16 as the operand of w·S; v_new = u − w·S, stored
  in bf16 for the output (``v_new``) and, decayed by 2^{G_last − G_r}, rounded to bf16 (``v_new``) for
  S ← 2^{G_last} S + Kᵀ v_new;
* the output per 64-token chunk with token-level gate sums g: o = 2^{g_t} q_tᵀ h + Σ_j Σ_{s≤t}
  ``scores``: (q_tᵀ k_{s,j} 2^{g_t − g_s}) rounded to bf16, times v_new_{s,j}; scaled, rounded to bf16.

With ``--fla`` (a CUDA GPU and fla-core), each model also runs on the GPU through fla's own kernel, and every
kernel call is compared with the emulation on the same inputs: per layer, the first position where fla's o
leaves the emulation's by more than 1/8 of o's largest entry (bf16's roundings move it by about 2⁻⁸ of it),
so a disagreement the roundings do not explain is located to a layer and a position.

Products of bf16 operands accumulate in fp32 on the GPU; here in float64 (the difference, 2⁻²⁴ relative, is
far below the bf16 roundings studied). The inputs q, k, v, β arrive in bf16 from the model, as fla gets them.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

import models.layer
from kernels.fla_backend import available as fla_available
from models import from_program
from models.construct import RESET_LOGIT
from theory.automata.dfa import LANGUAGES, language
from theory.programs.dfa_to_layers import compile_automaton

ROUNDINGS = ("G", "T", "kb", "w", "vb", "u", "S", "v_new", "h", "scores")
CHUNK = 64
GPU_WORDS = (8, 8192)  # bench/automaton_models.py's words at T = 8192: seed 1, batch 8


def _bf16(x: torch.Tensor, on: bool) -> torch.Tensor:
    return x.to(torch.bfloat16).double() if on else x


def gate_sums(g: torch.Tensor, parallel: bool) -> torch.Tensor:
    """Base-2 prefix sums of one chunk's log-gates along the last dimension, as fla's ``chunk_local_cumsum``
    forms them (sum, then times 1/ln 2), in float64: in float32 in a parallel scan's order (Kogge–Stone, a
    stand-in for ``tl.cumsum``'s tree) if ``parallel``, else exactly. A parallel order does not keep a prefix
    sum constant across zero gates, so where |G| is large, G_t − G_s for two positions with no gate between
    them is a few units of G's last place instead of 0."""
    if not parallel:
        return torch.cumsum(g.double(), dim=-1) / math.log(2)
    sums, step = g.float(), 1
    while step < sums.shape[-1]:
        sums = torch.cat([sums[..., :step], sums[..., step:] + sums[..., :-step]], dim=-1)
        step *= 2
    return (sums * torch.tensor(1 / math.log(2), dtype=torch.float32)).double()


def fla_chunk(q, k, v, beta, g=None, *, num_householder, initial_state=None, output_final_state=False,
              backend=None, rounded=ROUNDINGS, stages=None):  # fmt: skip
    """(o in q's dtype, final state or None) of fla's chunked forward with the roundings named in ``rounded``
    (the module's docstring); scale K^{-1/2}, no initial state, one sequence per batch row. The keywords
    are those :class:`models.GatedDeltaProduct` passes to :func:`kernels.delta_product` (``backend`` is
    the model's and is ignored: this is the kernel). ``stages``, a dict, receives the intermediates in the
    layouts of fla's (:func:`fla_stages`): ``A`` (T) [B, rows, H, 64], ``w`` and ``u`` [B, rows, H, ·],
    ``h`` [B, chunks of 64 tokens, H, K, V], ``v_new`` [B, rows, H, V]."""
    if initial_state is not None:
        raise ValueError("initial_state: the emulation starts from zero states")
    unknown = set(rounded) - set(ROUNDINGS)
    if unknown:
        raise ValueError(f"rounded: expected some of {ROUNDINGS}, got {sorted(unknown)}")
    r = set(rounded)
    n_h = num_householder
    q64, k64, v64, b64 = (x.double() for x in (q, k, v, beta))
    batch, tokens, heads, kdim = q.shape
    rows = tokens * n_h
    # [B, H, rows, ·]
    k64, v64, b64 = k64.permute(0, 2, 1, 3), v64.permute(0, 2, 1, 3), b64.permute(0, 2, 1)
    q64 = q64.permute(0, 2, 1, 3)
    g_rows = torch.zeros(batch, heads, rows, dtype=torch.float32)
    g_tok = torch.zeros(batch, heads, tokens, dtype=torch.float32)
    if g is not None:
        g_tok = g.float().permute(0, 2, 1)
        g_rows[..., ::n_h] = g_tok
    s = torch.zeros(batch, heads, kdim, v.shape[-1], dtype=torch.float64)
    v_new = torch.zeros_like(v64)
    snapshots, kept = [], {"A": [], "w": [], "u": []}
    for c0 in range(0, rows, CHUNK):
        sl = slice(c0, min(c0 + CHUNK, rows))
        kc, vc, bc = k64[:, :, sl], v64[:, :, sl], b64[:, :, sl]
        big_g = gate_sums(g_rows[..., sl], "G" in r)
        size = kc.shape[2]
        lower = torch.tril(torch.ones(size, size, dtype=torch.bool), diagonal=-1)
        a = bc[..., :, None] * torch.exp2(big_g[..., :, None] - big_g[..., None, :]) * (kc @ kc.transpose(-1, -2))
        a = torch.where(lower, a.float().double(), 0.0)
        t_inv = _bf16(torch.linalg.inv(torch.eye(size, dtype=torch.float64) + a), "T" in r)
        w = _bf16(t_inv @ _bf16(kc * (bc * torch.exp2(big_g))[..., None], "kb" in r), "w" in r)
        u = _bf16(t_inv @ _bf16(vc * bc[..., None], "vb" in r), "u" in r)
        kept["A"].append(torch.nn.functional.pad(t_inv, (0, CHUNK - size)))
        kept["w"].append(w)
        kept["u"].append(u)
        if (c0 // CHUNK) % n_h == 0:
            snapshots.append(_bf16(s, "h" in r))
        vn = u - w @ _bf16(s, "S" in r)
        v_new[:, :, sl] = _bf16(vn, "v_new" in r)
        last = big_g[..., -1:]
        s = torch.exp2(last)[..., None] * s + kc.transpose(-1, -2) @ _bf16(
            vn * torch.exp2(last - big_g)[..., None], "v_new" in r
        )
    outs = []
    for i, t0 in enumerate(range(0, tokens, CHUNK)):
        ts = slice(t0, min(t0 + CHUNK, tokens))
        qc, gt = q64[:, :, ts], gate_sums(g_tok[..., ts], "G" in r)
        size = qc.shape[2]
        mask = torch.tril(torch.ones(size, size, dtype=torch.bool))
        decay = torch.where(mask, torch.exp2(gt[..., :, None] - gt[..., None, :]), 0.0)
        o = torch.exp2(gt)[..., None] * (qc @ snapshots[i])
        for j in range(n_h):
            kj = k64[:, :, t0 * n_h + j : ts.stop * n_h : n_h]
            vj = v_new[:, :, t0 * n_h + j : ts.stop * n_h : n_h]
            o = o + _bf16((qc @ kj.transpose(-1, -2)) * decay, "scores" in r) @ vj
        outs.append(o)
    o = (torch.cat(outs, dim=2) * kdim**-0.5).permute(0, 2, 1, 3).to(q.dtype)
    if stages is not None:
        stages.update({name: torch.cat(parts, dim=2).transpose(1, 2) for name, parts in kept.items()})
        stages["h"] = torch.stack(snapshots, dim=1)
        stages["v_new"] = v_new.transpose(1, 2)
    return o, (s.float() if output_final_state else None)


def decode(model, words: np.ndarray, expected: np.ndarray, rounded) -> dict:
    """Accuracy and first wrong position of ``model`` with its kernel call replaced by :func:`fla_chunk`."""
    kernel = models.layer.delta_product
    models.layer.delta_product = lambda *a, **kw: fla_chunk(*a, **kw, rounded=rounded)
    try:
        with torch.no_grad():
            decoded = model(torch.from_numpy(words)).argmax(-1).numpy()
    finally:
        models.layer.delta_product = kernel
    return _scored(decoded, expected)


def _scored(decoded: np.ndarray, expected: np.ndarray) -> dict:
    """The share of right positions and the first position wrong in any word (None: none)."""
    wrong = decoded != expected
    columns = np.flatnonzero(wrong.any(axis=0))
    return {"accuracy": float(1 - wrong.mean()), "first_error": int(columns[0]) if columns.size else None}


def departure(mine: torch.Tensor, reference: torch.Tensor) -> dict:
    """The largest |mine − reference| relative to max |reference| and the first index of dimension 1 (token
    or row) where it exceeds 1/8 (None: nowhere)."""
    gap = (mine.double().cpu() - reference.double().cpu()).abs()
    gap = gap.amax(dim=tuple(d for d in range(gap.ndim) if d != 1)) / reference.double().abs().max().clamp(min=1e-30)
    far = torch.nonzero(gap > 0.125)
    return {"largest": float(gap.max()), "first_position": int(far[0, 0]) if len(far) else None}


def fla_stages(q, k, v, beta, g, n_h: int) -> dict:
    """fla's forward intermediates on the GPU, its own functions composed as ``chunk_gated_delta_product_fwd``
    composes them: ``A`` (T, solve_tril's output), ``w``, ``u``, ``h`` (the chunk-start states), ``v_new``,
    ``o`` and the final state."""
    from fla.ops.delta_rule.wy_fast import recompute_w_u_fwd as ungated_w_u
    from fla.ops.gated_delta_product.chunk import chunk_gated_delta_product_fwd
    from fla.ops.gated_delta_product.chunk_deltaproduct_h import chunk_gated_delta_product_fwd_h
    from fla.ops.gated_delta_rule.wy_fast import recompute_w_u_fwd as gated_w_u

    scale = q.shape[-1] ** -0.5
    _, g_rows, o, a, final, _ = chunk_gated_delta_product_fwd(
        q, k, v, g, beta, scale, output_final_state=True, num_householder=n_h
    )
    w, u = ungated_w_u(k=k, v=v, beta=beta, A=a) if g is None else gated_w_u(k=k, v=v, beta=beta, A=a, g=g_rows)
    h, v_new, _ = chunk_gated_delta_product_fwd_h(k=k, w=w, u=u, g=g_rows, num_householder=n_h)
    return {"A": a, "w": w, "u": u, "h": h, "v_new": v_new, "o": o, "final": final}


def kernel_variants(q, k, v, beta, g, n_h: int) -> dict:
    """o of fla's and our kernels on one layer's inputs, and on variants of them that leave the mathematics
    unchanged, each against the float64 walk (:func:`fla_chunk` without roundings): which change makes fla's
    departure go away."""
    from kernels import delta_product

    scale = q.shape[-1] ** -0.5
    exact, _ = fla_chunk(*(None if x is None else x.cpu() for x in (q, k, v, beta, g)), num_householder=n_h,
                         rounded=())  # fmt: skip
    runs = {
        "fla chunk, as called": lambda: delta_product(q, k, v, beta, g=g, num_householder=n_h, backend="fla"),
        "fla chunk, float16": lambda: delta_product(
            q.half(), k.half(), v.half(), beta.half(), g=g, num_householder=n_h, backend="fla"
        ),
        "fla fused recurrent": lambda: delta_product(
            q, k, v, beta, g=g, num_householder=n_h, backend="fla", mode="recurrent"
        ),
        "ours (triton chunk)": lambda: delta_product(q, k, v, beta, g=g, num_householder=n_h, backend="triton"),
    }
    if q.shape[-1] < 16 or v.shape[-1] < 16:
        pad = [torch.nn.functional.pad(x, (0, max(16 - x.shape[-1], 0))) for x in (q, k, v)]
        runs["fla chunk, head dims zero-padded to 16"] = lambda: (
            delta_product(*pad, beta, g=g, num_householder=n_h, scale=scale, backend="fla")[0][..., : v.shape[-1]],
            None,
        )
    if g is not None and float(g.min()) < -60:
        runs["fla chunk, g clamped at −60"] = lambda: delta_product(q, k, v, beta, g=g.clamp(min=-60),
                                                                    num_householder=n_h, backend="fla")  # fmt: skip
    with torch.no_grad():
        return {name: departure(run()[0], exact) for name, run in runs.items()}


def first_chunk(name: str, x: torch.Tensor, n_h: int) -> torch.Tensor:
    """The first 64 tokens of a dumped tensor (its n_h·64 rows; the first chunk-start state; the final state
    whole), on the CPU: the dump stays small and holds the positions where fla departed (9 and 26)."""
    if name == "fla_final":
        return x.cpu().contiguous()
    rows = 1 if name == "fla_h" else CHUNK * (1 if name in ("q", "g", "fla_o") else n_h)
    return x[:, :rows].cpu().contiguous()


def former_reset_gates(model) -> None:
    """Give a compiled model's gated layers the former reset log-gate of models.construct, in place, for
    comparison: −10⁶ (A_log = ln 1000, pre-activations ±1000) where it is now −1024 (A_log = 0, ±1024)."""
    with torch.no_grad():
        for block in model.layers:
            if block.attn.use_forget_gate:
                block.attn.A_log.fill_(math.log(1000.0))
                block.attn.a_proj.weight.mul_(1000.0 / RESET_LOGIT)


def spurious_decays(g: torch.Tensor, n_h: int) -> dict:
    """The largest 2^(G_t − G_s) over pairs s < t of one 64-position chunk with no gate between them — exactly
    1 in exact arithmetic — for the chunk sums of the token-level log-gates (fla's output kernel) and of the
    sub-step rows (its walk): fla's own ``chunk_local_cumsum`` where g is on a GPU and fla is installed, and
    :func:`gate_sums`' parallel order."""
    batch, tokens, heads = g.shape
    tok = g.float().permute(0, 2, 1).cpu()
    rows = torch.zeros(batch, heads, tokens * n_h)
    rows[..., ::n_h] = tok
    found = {}
    for level, x in (("tokens", tok), ("rows", rows)):
        x = torch.nn.functional.pad(x, (0, -x.shape[-1] % CHUNK)).reshape(batch, heads, -1, CHUNK)
        exact = torch.cumsum(x.double(), dim=-1)
        plain = (exact[..., :, None] == exact[..., None, :]) & torch.ones(CHUNK, CHUNK, dtype=torch.bool).tril(-1)
        sums = {"parallel-order emulation": gate_sums(x, True)}
        if g.is_cuda and fla_available():
            from fla.ops.utils import chunk_local_cumsum

            flat = x.reshape(batch, heads, -1).permute(0, 2, 1).contiguous().cuda()
            fla_sums = chunk_local_cumsum(flat, chunk_size=CHUNK, scale=1 / math.log(2), output_dtype=torch.float32)
            sums["fla's chunk_local_cumsum"] = fla_sums.permute(0, 2, 1).reshape(x.shape).double().cpu()
        for name, big in sums.items():
            largest = max(float(torch.exp2(big[b][..., :, None] - big[b][..., None, :])[plain[b]].max())
                          for b in range(batch))  # fmt: skip
            found[f"{name}, {level}"] = largest
    return found


def fla_against_emulation(model, words: np.ndarray, expected: np.ndarray, dump: Path | None = None) -> dict:
    """Decode through the model's own backend on its device (fla's chunk kernel on the GPU, as ``--fla`` runs
    it), comparing every kernel call with :func:`fla_chunk` (all roundings) on the same inputs: the decoding
    and, per layer, the largest |o_kernel − o_emulated| relative to max |o| and the first position (token)
    where it exceeds 1/8. A layer that departs so is diagnosed: its stages against the emulation's
    (:func:`fla_stages`; first row or token past 1/8 of the stage's largest entry) and
    :func:`kernel_variants`; with ``dump``, its inputs and fla's stages are saved to
    ``dump/layer<i>.safetensors`` (:func:`first_chunk`)."""
    kernel, layers = models.layer.delta_product, []

    def compared(q, k, v, beta, g=None, **kw):
        o, state = kernel(q, k, v, beta, g=g, **kw)
        n_h = kw["num_householder"]
        cpu = [None if x is None else x.cpu() for x in (q, k, v, beta, g)]
        emulated = {}
        mine, _ = fla_chunk(*cpu, num_householder=n_h, stages=emulated)
        layer = departure(o, mine)
        if g is not None:
            layer["spurious_decays"] = spurious_decays(g, n_h)
        if layer["first_position"] is not None:
            stages = fla_stages(q, k, v, beta, g, n_h)
            layer["stages"] = {name: departure(stages[name], emulated[name]) for name in emulated}
            layer["variants"] = kernel_variants(q, k, v, beta, g, n_h)
            if dump is not None:
                from safetensors.torch import save_file

                tensors = {**dict(zip(("q", "k", "v", "beta", "g"), cpu)), **{f"fla_{n}": x for n, x in stages.items()}}
                dump.mkdir(parents=True, exist_ok=True)
                save_file({name: first_chunk(name, x, n_h) for name, x in tensors.items() if x is not None},
                          dump / f"layer{len(layers)}.safetensors", metadata={"num_householder": str(n_h)})  # fmt: skip
        layers.append(layer)
        return o, state

    models.layer.delta_product = compared
    try:
        with torch.no_grad():
            decoded = model(torch.from_numpy(words).to(next(model.parameters()).device)).argmax(-1).cpu().numpy()
    finally:
        models.layer.delta_product = kernel
    return {**_scored(decoded, expected), "layers": layers}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--languages", default="tomita3,tomita7,modular_arithmetic,flip_flop")
    parser.add_argument("--length", type=int, default=1024, help="the first LENGTH letters of the GPU run's words")
    parser.add_argument("--fla", action="store_true", help="also run fla's kernel on the GPU, compared call by call")
    parser.add_argument("--dump", type=Path, help="with --fla: save each departing layer's inputs and fla's stages")
    parser.add_argument("--former-gates", action="store_true", help="the models with the former −10⁶ reset gates")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.fla and not (torch.cuda.is_available() and fla_available()):
        parser.error("--fla: needs a CUDA GPU and fla-core")
    if args.dump is not None and not args.fla:
        parser.error("--dump: saves what --fla finds; pass --fla too")
    unknown = sorted(set(args.languages.split(",")) - set(LANGUAGES))
    if unknown:
        parser.error(f"--languages: expected some of {', '.join(LANGUAGES)}, got {', '.join(unknown)}")
    if not 1 <= args.length <= GPU_WORDS[1]:
        parser.error(f"--length: expected 1 to {GPU_WORDS[1]}, got {args.length}")
    variants = {"all of fla's roundings": ROUNDINGS, "none (float64 walk)": ()}
    rows, began = [], time.perf_counter()
    for name in args.languages.split(","):
        automaton = language(name)
        model = from_program(compile_automaton(automaton, n_h="auto"), dtype=torch.bfloat16, backend="reference")
        if args.former_gates:
            former_reset_gates(model)
        words = np.random.default_rng(1).integers(0, len(automaton.letters), GPU_WORDS)[:, : args.length]
        expected = np.array([automaton.run(w) for w in words])
        for variant, rounded in variants.items():
            row = {"language": name, "variant": variant, "rounded": list(rounded), "length": args.length,
                   "batch": len(words), **decode(model, words, expected, rounded)}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
        if args.fla:
            gpu = from_program(compile_automaton(automaton, n_h="auto"), dtype=torch.bfloat16, backend="fla").cuda()
            if args.former_gates:
                former_reset_gates(gpu)
            dump = None if args.dump is None else args.dump / name
            row = {"language": name, "variant": "fla's kernel (GPU)", "length": args.length, "batch": len(words),
                   **fla_against_emulation(gpu, words, expected, dump)}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps({"torch": torch.__version__, "seconds": round(time.perf_counter() - began),
                                    "rows": rows}, indent=1))  # fmt: skip
    names = args.languages.split(",")
    print("\n| roundings | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for variant in [*variants, *(["fla's kernel (GPU)"] if args.fla else [])]:
        cells = []
        for name in names:
            row = next(x for x in rows if x["language"] == name and x["variant"] == variant)
            cells.append(f"{row['accuracy']:.4f} ({row['first_error']})")
        print(f"| {variant} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
