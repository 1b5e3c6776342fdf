"""The verdict on real kernels at GPU scale: ours and fla's against float64, rows judged against the models.

``deltaproof stability kernels --device cuda`` and ``bench/stability_gpu.py`` run :func:`run`; on the CPU,
``quick=True`` runs a tiny version (reference and our kernel in the interpreter) that checks the plan.
Four sections, each row returned as soon as it is measured, then a markdown report and a plot:
A. forward: relative errors of o and the final state against the float64 UT/WY reference on the same
   rounded inputs (kernels.reference, equal to the sub-step loop to 1e-12), for our kernel (bf16, fp16,
   fp32) and fla's chunk op (bf16 at T = 1024 by default: ``fla_dtypes``, ``fla_lengths``), over T, β
   ranges ([0, 1], [0, 2], [1.9, 2]), gates (none, 5 % −inf, strong decay) and keys normalised in float64
   or in the input format; each against its probabilistic model (:func:`proofs_check.studies.kernels.kernel_models`:
   fp32 accumulation plus one rounding per chunk of the kernel's operands, recorded with each row:
   :func:`proofs_check.studies.kernels.kernel_operands`, the input format in fla's and in ours on its 16-bit path;
   over the sub-steps the recurrence remembers, from the run's β, gates and key dimension, also recorded:
   :func:`proofs_check.studies.kernels.run_contraction`), their ratio ``over_model``, and ``suspect`` above 10× or
   not finite (:func:`proofs_check.studies.kernels.verdict`).
B. chunk size: ours at C = 16, 32, 64 with β ∈ [1.9, 2], where the UT system is worst conditioned.
C. the gated backward: gradients of ours and of fla's chunk op with its Triton-version guard lifted
   (fla issue #640: refused on Hopper with Triton 3.4 – 3.7.0 because it "produces incorrect results"),
   against float64 autograd through the reference, at head dims D and D/2 and at T = 256 (the shape of
   the issue's report on fla), each row judged by its worst gradient against the o model (:func:`judged`);
   does the checker find the error, and where?
D. fp16 range: states that grow past fp16's maximum (β = 2 with alternating values grows them linearly,
   claim stability.state_growth) — ours keeps its state in fp32, fla stores its chunk states in fp16.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from kernels import delta_product
from kernels.fla_backend import available as fla_available
from proofs_check.execute import DTYPES
from proofs_check.studies import KERNEL_BETAS, KERNEL_GATES, growing_inputs, kernel_inputs
from proofs_check.studies import kernels as study

__all__ = ["SECTIONS", "run", "judged", "report_markdown", "plot"]

SECTIONS = ("A", "B", "C", "D")


@contextlib.contextmanager
def _fla_guard_lifted():
    """fla's chunk_bwd_dqkwg refuses gated inputs on Hopper with Triton < 3.7.1 (issue #640); lift it."""
    import fla.ops.common.chunk_o as chunk_o

    saved = chunk_o.TRITON_ABOVE_3_7_1
    chunk_o.TRITON_ABOVE_3_7_1 = True
    try:
        yield
    finally:
        chunk_o.TRITON_ABOVE_3_7_1 = saved


def judged(row: dict) -> dict:
    """``row`` with its (state, o) probabilistic models, its ratio to them and the suspect flag (see the
    module docstring); a non-finite error is suspect. ``row["operands"]`` is the per-chunk rounding of the
    kernel as it ran (:func:`proofs_check.studies.kernels.kernel_operands`, recorded with the measurement).
    A gradient row (section C) is judged by its worst gradient against the o model of the same run
    (``model``): the backward walks the same chunks transposed, with the same per-chunk roundings, and
    rounds its results to the input format as the forward rounds o."""
    state, model_o = study.kernel_models(row["backend"], row["dtype"], row["tokens"] * row["n_h"], row["chunk"],
                                             row["operands"], row["contraction"])  # fmt: skip
    if "worst" in row:
        return dict(row, model=model_o, **study.verdict(row["worst"], row["worst"], model_o, model_o))
    return dict(row, model_state=state, model_o=model_o, **study.verdict(row["o"], row["state"], model_o, state))


def _on(device, inputs):
    return [None if x is None else x.to(device) for x in inputs]


@functools.lru_cache(maxsize=1)
def _study_inputs(tokens, n_h, heads, dim, betas, gates, keys_in, seed):
    """The kernel study's float64 inputs (:func:`proofs_check.studies.kernel_inputs`), built once for the rows
    that share them."""
    return kernel_inputs(np.random.default_rng(seed), tokens, n_h, heads, dim, betas, gates, keys_in)


def _forward_row(backend, dtype, make, n_h, chunk, device, **labels) -> dict:
    inputs = make()
    kernel = functools.partial(delta_product, backend=backend, chunk_size=chunk)
    err_o, err_s = study.kernel_errors(kernel, _on(device, inputs), dtype=dtype, n_h=n_h, reference_mode="chunk")
    operands = study.kernel_operands(backend, dtype, inputs[0].shape[-1], inputs[2].shape[-1])
    return judged(dict(labels, backend=backend, dtype=dtype, tokens=inputs[0].shape[1], n_h=n_h, chunk=chunk,
                       operands=operands, contraction=study.run_contraction(inputs, n_h), o=err_o,
                       state=err_s))  # fmt: skip


def _gradient_row(backend, dtype, make, n_h, device, **labels) -> dict:
    """Relative errors of every gradient against float64 autograd through the chunked reference, on the
    same inputs: q, k, v rounded to ``dtype``, β and the log-gates to float32 (as models keep them; fla's
    gated chunk backward does not compile with either in float64, :mod:`kernels.fla_backend`)."""
    inputs = make()
    gen = torch.Generator().manual_seed(7)
    do = torch.randn(inputs[0].shape[:-1] + inputs[2].shape[-1:], generator=gen, dtype=torch.float64)

    formats = (DTYPES[dtype],) * 3 + (torch.float32, torch.float32)  # q, k, v, β, g

    def grads(xs, kernel_backend, cast):
        leaves = [None if x is None else (x.to(formats[i]) if cast else x).clone().requires_grad_(True)
                  for i, x in enumerate(_on(device, xs))]  # fmt: skip
        o, _ = delta_product(*leaves[:4], g=leaves[4], num_householder=n_h, backend=kernel_backend)
        o.backward(do.to(device, o.dtype))
        return [None if x is None else x.grad.double() for x in leaves]

    low = [None if x is None else x.to(formats[i]).double() for i, x in enumerate(inputs)]  # the rounded inputs
    ref = grads(low, "reference", cast=False)
    got = grads(low, backend, cast=True)
    errors = {}
    for name, a, b in zip(("dq", "dk", "dv", "dbeta", "dg"), got, ref):
        if b is not None:
            errors[name] = float((a - b).norm() / b.norm()) if bool(torch.isfinite(a).all()) else float("inf")
    dim = inputs[0].shape[-1]
    return judged(dict(labels, backend=backend, dtype=dtype, tokens=inputs[0].shape[1], dim=dim, n_h=n_h, chunk=64,
                       operands=study.kernel_operands(backend, dtype, dim, inputs[2].shape[-1]),
                       contraction=study.run_contraction(low, n_h), **errors,
                       worst=float(np.max(list(errors.values())))))  # fmt: skip


def _plan(quick: bool, device: str, fla_dtypes: list[str], fla_lengths: list[int]):
    """(section, callable) pairs in the order they run; each callable returns one row. fla runs only at
    ``fla_lengths`` in ``fla_dtypes`` (its first call per shape autotunes for minutes). The verdict's
    essentials come first (A and C at the shortest length, D), so a spent ``budget_s`` drops only the
    longer sweeps (B, A and C at the other lengths, then C at half the head dimension)."""
    lengths = (64,) if quick else (1024, 8192)
    grad_lengths = (64,) if quick else (1024, 256, 4096)
    dim, heads, n_h = (16, 2, 2) if quick else (128, 4, 2)
    ours = ["float32"] if device == "cpu" else ["bfloat16", "float16", "float32"]
    fla = fla_dtypes if device == "cuda" and fla_available() else []

    def forward(tokens):
        for betas in KERNEL_BETAS:
            for gates in KERNEL_GATES:
                for keys_in in ("float64", "bfloat16"):
                    inputs = functools.partial(_study_inputs, tokens, n_h, heads, dim, betas, gates, keys_in, tokens)
                    labels = dict(betas=betas, gates=gates, keys_normalised_in=keys_in)
                    for backend, dtypes in (("triton", ours), ("fla", fla if tokens in fla_lengths else [])):
                        for dtype in dtypes:
                            yield (
                                "A",
                                functools.partial(_forward_row, backend, dtype, inputs, n_h, 64, device, **labels),
                            )

    def backward(tokens, width):
        dtype = "float32" if device == "cpu" else "bfloat16"
        for gates in ("with -inf", "strong decay", "none"):
            inputs = functools.partial(_study_inputs, tokens, n_h, heads, width, "[0, 2]", gates, "float64", 2)
            for backend in ["triton"] + (["fla"] if fla else []):
                yield "C", functools.partial(_gradient_row, backend, dtype, inputs, n_h, device, gates=gates)

    def growth():
        inputs = functools.partial(growing_inputs, 256 if quick else 8192, n_h, heads, dim, 20.0)
        for backend, dtypes in (("triton", ["float16"] if device == "cuda" else ["float32"]),
                                ("fla", ["float16"] if fla else [])):  # fmt: skip
            for dtype in dtypes:
                yield "D", functools.partial(_forward_row, backend, dtype, inputs, n_h, 64, device,
                                             betas="2", gates="none", keys_normalised_in="float64")  # fmt: skip

    def chunk_sizes():
        inputs = functools.partial(_study_inputs, lengths[-1], n_h, heads, dim, "[1.9, 2]", "none", "float64", 1)
        labels = dict(betas="[1.9, 2]", gates="none", keys_normalised_in="float64")
        for chunk in (16, 32, 64):
            for dtype in ours:
                yield "B", functools.partial(_forward_row, "triton", dtype, inputs, n_h, chunk, device, **labels)

    first = [*forward(lengths[0]), *backward(grad_lengths[0], dim), *growth()]
    longer = [step for t in lengths[1:] for step in forward(t)] + [
        step for t in grad_lengths[1:] for step in backward(t, dim)
    ]
    longer += backward(grad_lengths[0], dim // 2)  # a second width last: fla autotunes again for it
    return first + list(chunk_sizes()) + longer


def run(device: str = "cuda", *, quick: bool = False, sections=SECTIONS, budget_s: float = float("inf"),
        fla_dtypes=("bfloat16",), fla_lengths=(1024,), on_row: Callable[[dict], None] | None = None,
        ) -> list[dict]:  # fmt: skip
    """Measure the plan's rows of ``sections`` in order, starting none after ``budget_s`` seconds; a refusal
    or failure of a backend is recorded as a row with ``error`` (the whole message). ``on_row`` sees every
    row as it is measured (progress, incremental writing)."""
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"sections: expected some of {SECTIONS}, got {sorted(unknown)}")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' asked for, but torch sees no CUDA GPU on this machine")
    rows, began = [], time.perf_counter()
    for section, step in _plan(quick, device, list(fla_dtypes), list(fla_lengths)):
        if section not in sections:
            continue
        if time.perf_counter() - began > budget_s:
            break
        backend = step.args[0]
        try:
            with _fla_guard_lifted() if backend == "fla" and section == "C" else contextlib.nullcontext():
                row = step()
        except Exception as err:  # noqa: BLE001  (a refusal or failure is a result to record)
            shape = step.args[2].args  # the inputs' (tokens, n_h, heads, dim, ...)
            row = dict(step.keywords, backend=backend, dtype=step.args[1], tokens=shape[0], dim=shape[3],
                       error=f"{type(err).__name__}: {str(err)[:2000]}")  # fmt: skip
        rows.append(dict(row, section=section))
        if on_row is not None:
            on_row(rows[-1])
    return rows


def report_markdown(rows: list[dict]) -> str:
    """The report: tables per section (forward rows judged again with the current models), refusals."""
    lines = ["# Kernels against float64 on the GPU (proofs_check.studies.verdict)", ""]
    failed = [r for r in rows if "error" in r]
    rows = [r for r in rows if "error" not in r]
    a = [judged(r) for r in rows if r["section"] in ("A", "B", "D")]
    if a:
        lines += ["## A, B, D: forward (relative errors; probabilistic model; suspect: > 10× it or not finite)", "",
                  "| section | backend | dtype | T | C | β | gates | keys in | o | state | × model | suspect |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in a:
            lines.append(f"| {r['section']} | {r['backend']} | {r['dtype']} | {r['tokens']} | {r['chunk']} "
                         f"| {r['betas']} | {r['gates']} | {r['keys_normalised_in']} | {r['o']:.2e} | "
                         f"{r['state']:.2e} | {r['over_model']:.2f} | {r['suspect']} |")  # fmt: skip
    c = [r for r in rows if r["section"] == "C"]
    if c:
        lines += ["", "## C: gradients against float64 autograd (fla with its #640 guard lifted; worst gradient "
                  "against the o model; suspect: > 10× it or not finite)", "",
                  "| backend | dtype | T | D | gates | dq | dk | dv | dβ | dg | × model | suspect |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in map(judged, c):
            cells = " | ".join(f"{r[n]:.2e}" if n in r else "—" for n in ("dq", "dk", "dv", "dbeta", "dg"))
            lines.append(f"| {r['backend']} | {r['dtype']} | {r['tokens']} | {r['dim']} | {r['gates']} | {cells} "
                         f"| {r['over_model']:.2f} | {r['suspect']} |")  # fmt: skip
    if failed:
        lines += ["", "## Refused or failed", ""]
        for r in failed:
            said = [line.strip() for line in r["error"].splitlines() if line.strip()]
            gist = said[0] if len(said) == 1 else f"{said[0]} … {said[-1]}"
            where = f"T = {r['tokens']}, D = {r['dim']}" if "dim" in r else ""
            lines.append(f"- {r['section']} {r['backend']} {r['dtype']} {r.get('gates', '')} {where}: {gist[:300]}")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    """Each forward row's measured state error against its model, with the suspect line; NaN rows on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = [judged(r) for r in rows if "error" not in r and r["section"] in ("A", "B", "D")]
    if not a:
        return
    fig, ax = plt.subplots(figsize=(6.5, 5))
    top = max((r["state"] for r in a if np.isfinite(r["state"])), default=1.0) * 30
    for key in dict.fromkeys((r["backend"], r["dtype"]) for r in a):
        pts = [r for r in a if (r["backend"], r["dtype"]) == key]
        ys = [r["state"] if np.isfinite(r["state"]) else top for r in pts]
        ax.loglog([r["model_state"] for r in pts], ys, "o", alpha=0.7, label=f"{key[0]} {key[1]}")
    span = np.array([min(r["model_state"] for r in a) / 3, max(r["model_state"] for r in a) * 3])
    ax.loglog(span, span, "k-", lw=1, label="measured = model")
    ax.loglog(span, 10 * span, "r--", lw=1, label="10× model: suspect")
    ax.axhline(top, color="grey", lw=0.5)
    ax.text(span[0], top, " not finite (NaN)", va="bottom", fontsize=8)
    ax.set_xlabel("probabilistic model of the final-state error")
    ax.set_ylabel("measured ‖S − S_ref‖ / ‖S_ref‖ (float64 reference)")
    ax.set_title("forward rows (sections A, B, D)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
