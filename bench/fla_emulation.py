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

* G: the log-gate at each token's first row, cumulative sums within a chunk in fp32, base 2;
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
from theory.automata.dfa import LANGUAGES, language
from theory.programs.dfa_to_layers import compile_automaton

ROUNDINGS = ("T", "kb", "w", "vb", "u", "S", "v_new", "h", "scores")
CHUNK = 64
GPU_WORDS = (8, 8192)  # bench/automaton_models.py's words at T = 8192: seed 1, batch 8


def _bf16(x: torch.Tensor, on: bool) -> torch.Tensor:
    return x.to(torch.bfloat16).double() if on else x


def fla_chunk(q, k, v, beta, g=None, *, num_householder, initial_state=None, output_final_state=False,
              backend=None, rounded=ROUNDINGS):  # fmt: skip
    """(o in q's dtype, final state or None) of fla's chunked forward with the roundings named in ``rounded``
    (the module's docstring); scale K^{-1/2}, no initial state, one sequence per batch row. The keywords
    are those :class:`models.GatedDeltaProduct` passes to :func:`kernels.delta_product` (``backend`` is
    the model's and is ignored: this is the kernel)."""
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
        g_tok = g.float().permute(0, 2, 1) / math.log(2)
        g_rows[..., ::n_h] = g_tok
    s = torch.zeros(batch, heads, kdim, v.shape[-1], dtype=torch.float64)
    v_new = torch.zeros_like(v64)
    snapshots = []
    for c0 in range(0, rows, CHUNK):
        sl = slice(c0, min(c0 + CHUNK, rows))
        kc, vc, bc = k64[:, :, sl], v64[:, :, sl], b64[:, :, sl]
        big_g = torch.cumsum(g_rows[..., sl], dim=-1).double()  # fp32 sums, as chunk_local_cumsum
        size = kc.shape[2]
        lower = torch.tril(torch.ones(size, size, dtype=torch.bool), diagonal=-1)
        a = bc[..., :, None] * torch.exp2(big_g[..., :, None] - big_g[..., None, :]) * (kc @ kc.transpose(-1, -2))
        a = torch.where(lower, a.float().double(), 0.0)
        t_inv = _bf16(torch.linalg.inv(torch.eye(size, dtype=torch.float64) + a), "T" in r)
        w = _bf16(t_inv @ _bf16(kc * (bc * torch.exp2(big_g))[..., None], "kb" in r), "w" in r)
        u = _bf16(t_inv @ _bf16(vc * bc[..., None], "vb" in r), "u" in r)
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
        qc, gt = q64[:, :, ts], torch.cumsum(g_tok[..., ts], dim=-1).double()
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


def fla_against_emulation(model, words: np.ndarray, expected: np.ndarray) -> dict:
    """Decode through the model's own backend on its device (fla's chunk kernel on the GPU, as ``--fla`` runs
    it), comparing every kernel call with :func:`fla_chunk` (all roundings) on the same inputs: the decoding
    and, per layer, the largest |o_kernel − o_emulated| relative to max |o| and the first position (token)
    where it exceeds 1/8."""
    kernel, layers = models.layer.delta_product, []

    def compared(q, k, v, beta, g=None, **kw):
        o, state = kernel(q, k, v, beta, g=g, **kw)
        cpu = [None if x is None else x.cpu() for x in (q, k, v, beta, g)]
        mine, _ = fla_chunk(*cpu, num_householder=kw["num_householder"])
        gap = (o.float().cpu() - mine.float()).abs().amax(dim=(0, 2, 3)) / mine.float().abs().max().clamp(min=1e-30)
        far = torch.nonzero(gap > 0.125)
        layers.append({"largest": float(gap.max()), "first_position": int(far[0, 0]) if len(far) else None})
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
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.fla and not (torch.cuda.is_available() and fla_available()):
        parser.error("--fla: needs a CUDA GPU and fla-core")
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
        words = np.random.default_rng(1).integers(0, len(automaton.letters), GPU_WORDS)[:, : args.length]
        expected = np.array([automaton.run(w) for w in words])
        for variant, rounded in variants.items():
            row = {"language": name, "variant": variant, "rounded": list(rounded), "length": args.length,
                   "batch": len(words), **decode(model, words, expected, rounded)}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
        if args.fla:
            gpu = from_program(compile_automaton(automaton, n_h="auto"), dtype=torch.bfloat16, backend="fla").cuda()
            row = {"language": name, "variant": "fla's kernel (GPU)", "length": args.length, "batch": len(words),
                   **fla_against_emulation(gpu, words, expected)}  # fmt: skip
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
