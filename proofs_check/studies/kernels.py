"""The kernels study (``deltaproof stability kernels``): every CPU backend of :func:`kernels.delta_product`
against the float64 sub-step loop on the same rounded inputs, judged against the probabilistic models of
:mod:`theory.error_models`; :func:`check_kernel` applies the same check to any kernel of that signature."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch

from proofs_check.execute import DTYPES
from proofs_check.studies import KERNEL_BETAS, KERNEL_GATES, STUDY_FORMATS, kernel_inputs
from proofs_check.studies.plots import panels, save_figure
from theory.error_models import effective_steps, mean_square_contraction, product_error_estimate
from theory.formats import FORMATS

__all__ = [
    "KERNEL_RUNS",
    "kernel_operands",
    "kernel_models",
    "run_contraction",
    "kernel_errors",
    "verdict",
    "check_kernel",
    "run_kernels",
    "plot_kernels",
]

KERNEL_RUNS = (  # (backend, mode, dtype): the reference in low precision models a naive recurrence
    ("reference", "recurrent", "bfloat16"),
    ("reference", "recurrent", "float16"),
    ("reference", "recurrent", "float32"),
    ("reference", "chunk", "bfloat16"),
    ("reference", "chunk", "float32"),
    ("triton", "chunk", "float16"),
    ("triton", "chunk", "float32"),
)


def kernel_operands(backend: str, dtype: str, kdim: int, vdim: int, mode: str = "chunk") -> str | None:
    """The format a kernel's default forward rounds the operands of its state-carrying chunk products to,
    once per chunk, or None where they are fp32-accurate: ours by :func:`kernels.triton_backend.operand_format`
    (the input format on the 16-bit path, one-pass tf32 for other bf16 calls), fla's chunk op the input
    format (it stores its chunk states and W, U in it); None for the reference and the recurrent kernels."""
    if backend not in ("reference", "triton", "fla"):
        raise ValueError(f"backend: expected 'reference', 'triton' or 'fla', got {backend!r}")
    if dtype not in ("bfloat16", "float16", "float32", "float64"):
        raise ValueError(f"dtype: expected 'bfloat16', 'float16', 'float32' or 'float64', got {dtype!r}")
    if backend == "triton":
        from kernels.triton_backend import operand_format

        return operand_format(getattr(torch, dtype), kdim, vdim, mode)
    return dtype if backend == "fla" and mode == "chunk" else None


def kernel_models(
    backend: str, dtype: str, steps: int, chunk_size: int = 64, operands: str | None = None, contraction: float = 1.0
) -> tuple[float, float]:
    """Probabilistic relative errors (state, o) of a kernel run of ``steps`` sub-steps, grown by √(steps)
    from the per-factor estimate of the arithmetic format (:func:`theory.error_models.product_error_estimate`):
    the dtype itself for the op-by-op reference; fp32 accumulation for our Triton kernels and fla's, plus
    one rounding per chunk of their chunk products' operands to ``operands`` (:func:`kernel_operands`, None:
    fp32-accurate) over steps / C chunks; the kernels then round o once to the dtype (RMS u/√3).
    The roundings add in quadrature only as far back as the recurrence remembers them: ``contraction``
    (:func:`run_contraction`, the mean-square factor c per sub-step; 1 = orthogonal steps, pure √T) turns
    the steps into :func:`theory.error_models.effective_steps` (steps, c) and the chunks into
    effective_steps(chunks, c^C)."""
    if backend == "reference":
        state = product_error_estimate(dtype, effective_steps(steps, contraction))
        return state, state
    if backend not in ("triton", "fla"):
        raise ValueError(f"backend: expected 'reference', 'triton' or 'fla', got {backend!r}")
    state = product_error_estimate("float32", effective_steps(steps, contraction))
    if operands:
        chunks = max(1, steps // chunk_size)
        state += product_error_estimate(operands, effective_steps(chunks, contraction**chunk_size))
    return state, state + FORMATS[dtype].unit_roundoff / 3**0.5


def run_contraction(inputs, n_h: int) -> float:
    """:func:`theory.error_models.mean_square_contraction` of a run's inputs (q, k, v, β, g): its β, its
    log-gates (None: no gate) and its key dimension."""
    beta, g, kdim = inputs[3], inputs[4], inputs[1].shape[-1]
    return mean_square_contraction(beta.detach().cpu().numpy(), None if g is None else g.detach().cpu().numpy(),
                                   kdim, n_h)  # fmt: skip


def kernel_errors(kernel, inputs, *, dtype: str, n_h: int, reference_mode: str = "recurrent") -> tuple[float, float]:
    """Relative errors ‖x − ref‖/‖ref‖ of (o, final state) of ``kernel`` on float64 ``inputs`` (q, k, v, β, g)
    rounded to ``dtype`` (q, k, v only), against the float64 sub-step loop on the *same rounded inputs*.

    ``kernel`` is called as ``kernel(q, k, v, beta, g=g, num_householder=n_h, output_final_state=True)`` and
    returns (o, final state), as :func:`kernels.delta_product` does: pass
    ``functools.partial(delta_product, backend="fla")`` for fla's, or any function of that signature. The
    reference runs on the inputs' device; ``reference_mode="chunk"`` (the float64 UT/WY form, equal to the
    sub-step loop to 1e-12) is faster for long sequences."""
    from kernels import delta_product

    if dtype not in STUDY_FORMATS:
        raise ValueError(f"dtype: expected one of {STUDY_FORMATS}, got {dtype!r}")
    low = [x.to(DTYPES[dtype]) if i < 3 else x for i, x in enumerate(inputs)]
    same = [x.double() if i < 3 else x for i, x in enumerate(low)]  # the rounded inputs
    kw = dict(num_householder=n_h, output_final_state=True)
    ref_o, ref_s = delta_product(*same[:4], g=same[4], backend="reference", mode=reference_mode, **kw)
    o, s = kernel(*low[:4], g=low[4], **kw)
    err_o = float((o.double().to(ref_o.device) - ref_o).norm() / ref_o.norm())
    err_s = float((s.double().to(ref_s.device) - ref_s).norm() / ref_s.norm())
    return err_o, err_s


def verdict(err_o: float, err_s: float, model_o: float, model_s: float) -> dict:
    """The checker's verdict on one run: ``over_model`` = max(err_s / model_s, err_o / model_o) and
    ``suspect`` when that ratio is above 10 or not finite (a NaN or inf output is never consistent with
    rounding; Python's ``max`` and ``nan > 10`` would both hide a NaN, numpy's max propagates it)."""
    ratio = float(np.max([err_s / model_s, err_o / model_o]))
    return {"over_model": ratio, "suspect": not math.isfinite(ratio) or ratio > 10}


def check_kernel(kernel, *, dtype: str = "float32", accumulation: str = "float32", lengths=(16, 64), n_h: int = 2,
                 heads: int = 2, dim: int = 16, seed: int = 0) -> list[dict]:  # fmt: skip
    """Check a kernel (ours, fla's, or a new one; see :func:`kernel_errors` for the signature) against the
    float64 reference over the study's β ranges and gates (keys normalised in float64), at each length.

    Each row holds the relative errors of o and the final state, the probabilistic models for a kernel that
    accumulates in ``accumulation`` and rounds o to ``dtype`` (√(sub-steps)·u-type growth, see
    :func:`theory.error_models.product_error_estimate`, over the sub-steps the recurrence remembers:
    :func:`run_contraction`, :func:`theory.error_models.effective_steps`), their largest ratio ``over_model``
    and ``suspect`` (ratio > 10 or not finite: :func:`verdict`): a kernel within its model is consistent
    with rounding alone; one far above it is not."""
    if dtype not in STUDY_FORMATS:
        raise ValueError(f"dtype: expected one of {STUDY_FORMATS}, got {dtype!r}")
    if accumulation not in FORMATS:
        raise ValueError(f"accumulation: expected one of {tuple(FORMATS)}, got {accumulation!r}")
    if not lengths or any(int(t) < 1 for t in lengths):
        raise ValueError(f"lengths: expected positive token counts, got {lengths!r}")
    rows = []
    for betas in KERNEL_BETAS:
        for gates in KERNEL_GATES:
            rng = np.random.default_rng(seed)
            for tokens in lengths:
                inputs = kernel_inputs(rng, tokens, n_h, heads, dim, betas, gates, "float64")
                err_o, err_s = kernel_errors(kernel, inputs, dtype=dtype, n_h=n_h)
                contraction = run_contraction(inputs, n_h)
                model_s = product_error_estimate(accumulation, effective_steps(tokens * n_h, contraction))
                model_o = model_s + FORMATS[dtype].unit_roundoff / 3**0.5
                rows.append({"betas": betas, "gates": gates, "length": tokens, "dtype": dtype,
                             "contraction": contraction, "o": err_o, "state": err_s, "model_state": model_s,
                             "model_o": model_o, **verdict(err_o, err_s, model_o, model_s)})  # fmt: skip
    return rows


def run_kernels(lengths=(16, 64, 256), *, triton_length: int = 64, n_h: int = 2, heads: int = 2, dim: int = 16,
                seed: int = 0, progress=None) -> list[dict]:  # fmt: skip
    """The kernels study: every CPU backend of :func:`kernels.delta_product` against the float64 sub-step
    loop on the same rounded inputs, over β ranges, gates, key normalisation and lengths (our Triton kernel,
    in the interpreter, at ``triton_length`` only). Relative errors ‖x − ref‖/‖ref‖ of o and the final
    state, their largest ratio to the probabilistic models (``over_model``), ``suspect`` above 10×."""
    from kernels import delta_product

    if not lengths or any(int(t) < 1 for t in (*lengths, triton_length)):
        raise ValueError(
            f"lengths: expected positive token counts, got {lengths!r} and triton_length {triton_length!r}"
        )
    rows = []
    for betas in KERNEL_BETAS:
        for gates in KERNEL_GATES:
            for keys_in in ("float64", "bfloat16"):
                rng = np.random.default_rng(seed)
                for tokens in sorted(set(lengths) | {triton_length}):
                    base = kernel_inputs(rng, tokens, n_h, heads, dim, betas, gates, keys_in)
                    contraction = run_contraction(base, n_h)
                    for backend, mode, dtype in KERNEL_RUNS:
                        if tokens != triton_length if backend == "triton" else tokens not in lengths:
                            continue
                        kernel = functools.partial(delta_product, backend=backend, mode=mode)
                        err_o, err_s = kernel_errors(kernel, base, dtype=dtype, n_h=n_h)
                        operands = kernel_operands(backend, dtype, dim, dim, mode)
                        model_s, model_o = kernel_models(backend, dtype, tokens * n_h, operands=operands,
                                                         contraction=contraction)  # fmt: skip
                        rows.append({"betas": betas, "gates": gates, "keys_normalised_in": keys_in, "length": tokens,
                                     "backend": backend, "mode": mode, "dtype": dtype, "contraction": contraction,
                                     "o": err_o, "state": err_s, "model_state": model_s, "model_o": model_o,
                                     **verdict(err_o, err_s, model_o, model_s)})  # fmt: skip
                        if progress is not None:
                            progress(1)
    return rows


def plot_kernels(rows: list[dict], path: Path) -> None:
    """State error against length per β range (no gate, keys normalised in float64), one line per
    (backend, mode, dtype), with the reference's probabilistic model dotted."""
    fig, axes = panels(len(KERNEL_BETAS))
    for ax, betas in zip(axes, KERNEL_BETAS):
        for backend, mode, dtype in KERNEL_RUNS:
            sel = [r for r in rows if (r["betas"], r["gates"], r["keys_normalised_in"]) == (betas, "none", "float64")
                   and (r["backend"], r["mode"], r["dtype"]) == (backend, mode, dtype)]  # fmt: skip
            if not sel:
                continue
            marker = "s" if backend == "triton" else "o" if mode == "recurrent" else "^"
            (line,) = ax.loglog([r["length"] for r in sel], [r["state"] for r in sel], marker + "-", ms=4,
                                label=f"{backend} {mode} {dtype}")  # fmt: skip
            if (backend, mode) == ("reference", "recurrent"):
                ax.loglog([r["length"] for r in sel], [r["model_state"] for r in sel], ":", color=line.get_color(),
                          label=f"model, {dtype}")  # fmt: skip
        lengths = sorted({r["length"] for r in rows})
        ax.set_xticks(lengths, [str(t) for t in lengths])
        ax.minorticks_off()
        ax.set_title(f"kernels vs float64, β ∈ {betas}, no gate")
        ax.set_xlabel("tokens T (n_h sub-steps each)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("final-state error ‖S − S_ref‖ / ‖S_ref‖")
    save_figure(fig, axes, path, columns=4, bottom=0.14)
