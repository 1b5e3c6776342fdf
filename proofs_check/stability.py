"""``deltaproof stability``: measured rounding error against the models of :mod:`theory.precision`.

``products``: T GH factors applied in sequence to X_0 = I (so the columns are T-step states and X_T is
the product itself) in bf16, fp16 and fp32 — every operation rounded to the format by torch, keys
normalised in float64 and rounded to the format — against float64 with the unit keys. Three settings:
``random`` (unit keys, β uniform in [0, 2]), ``reflections`` (β = 2), ``construction`` (the factors of
the A_5 program in SO(3), n_h = 2, β ∈ {0, 2}, keys in ℚ(√5), along a random word). Reported at lengths on
a geometric grid: the error ‖X̂_T − X_T‖₂ relative to ‖X_0‖₂ = 1 (largest and median over the batch; the
models bound it in these units), ‖X_T‖₂ itself (random β contracts it), the distance from orthogonality
‖X̂_TᵀX̂_T − I‖₂ where the true product is orthogonal (β ∈ {0, 2}), and both models. A low-precision product
that overflows (keys rounded to the format are not unit, so a β = 2 factor can expand by up to |1 − 2‖k̂‖²|)
stays inf/NaN: its error is recorded as inf and ``overflowed`` counts such batch members.

A finding the study makes visible: for a construction whose matrices have entries in {0, ±1} (S_4 as the
cube's rotations), bf16 and fp16 do not drift at all — every product of signed permutation matrices is
representable and each step's error stays below half an ulp of 1, so rounding snaps the state back —
while fp32 keeps its errors (≈ 1e-6); keys in ℚ(√5) (A_5) have no such lattice.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch

from theory.constructions import compile_group
from theory.precision import (
    FORMATS,
    cast,
    effective_steps,
    factor_error_bound,
    factor_error_estimate,
    key_rounding_defects,
    mean_square_contraction,
    product_error_bound,
    product_error_estimate,
)

__all__ = [
    "SETTINGS",
    "run_products",
    "plot_products",
    "kernel_errors",
    "check_kernel",
    "kernel_models",
    "kernel_operands",
    "run_contraction",
    "verdict",
    "run_kernels",
    "kernel_inputs",
    "plot_kernels",
    "run_constructions",
    "kernel_safe_lengths",
    "plot_constructions",
]

SETTINGS = ("random", "reflections", "construction")
_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def _grid(max_length: int) -> list[int]:
    """1, 2, 3, 5, 10, 20, 30, 50, … up to max_length (included)."""
    out, scale = [], 1
    while scale <= max_length:
        out += [m * scale for m in (1, 2, 3, 5) if m * scale <= max_length]
        scale *= 10
    return sorted(set(out + [max_length]))


class _Factors:
    """Keys [B, d] and betas [B] for each step of one setting, generated in blocks (float64)."""

    def __init__(self, setting: str, dim: int, batch: int, rng: np.random.Generator):
        if setting not in SETTINGS:
            raise ValueError(f"setting: expected one of {SETTINGS}, got {setting!r}")
        self.setting, self.dim, self.batch, self.rng = setting, dim, batch, rng
        if setting == "construction":
            program = compile_group("A5", rep="orthogonal")
            self.keys = np.array([[[float(e) for e in k] for k in ks] for ks in program.keys])  # [60, 2, 3]
            self.betas = np.array([[float(b) for b in bs] for bs in program.betas])  # [60, 2]
            self.dim = 3

    def block(self, steps: int) -> tuple[np.ndarray, np.ndarray]:
        if self.setting == "construction":
            words = self.rng.integers(0, len(self.keys), size=(self.batch, (steps + 1) // 2))
            keys = self.keys[words].reshape(self.batch, -1, 3)[:, :steps]
            betas = self.betas[words].reshape(self.batch, -1)[:, :steps]
            return keys.transpose(1, 0, 2), betas.T
        keys = self.rng.standard_normal((steps, self.batch, self.dim))
        keys /= np.linalg.norm(keys, axis=-1, keepdims=True)
        if self.setting == "reflections":
            return keys, np.full((steps, self.batch), 2.0)
        return keys, self.rng.uniform(0.0, 2.0, size=(steps, self.batch))


def run_products(max_length: int = 10_000, *, formats=("bfloat16", "float16", "float32"), dim: int = 8,
                 batch: int = 16, seed: int = 0, progress=None) -> list[dict]:  # fmt: skip
    """The products study (module docstring); ``progress(advance)`` is called once per 1,000 steps."""
    if max_length < 1:
        raise ValueError(f"max_length: expected a positive integer, got {max_length!r}")
    for name in formats:
        if name not in _DTYPES:
            raise ValueError(f"formats: expected names among {sorted(_DTYPES)}, got {name!r}")
    grid, rows = _grid(max_length), []
    for setting in SETTINGS:
        factors = _Factors(setting, dim, batch, np.random.default_rng(seed))
        d = factors.dim
        exact = torch.eye(d, dtype=torch.float64).expand(batch, d, d).clone()
        low = {name: exact.to(_DTYPES[name]) for name in formats}
        marks, done = iter(grid), 0
        mark = next(marks)
        while done < max_length:
            steps = min(1000, max_length - done)
            keys, betas = factors.block(steps)
            k64, b64 = torch.from_numpy(keys), torch.from_numpy(betas)
            rounded = {name: torch.from_numpy(cast(keys, name)).to(_DTYPES[name]) for name in formats}
            beta_low = {name: b64.to(_DTYPES[name]) for name in formats}  # β ∈ {0, 2} or uniform: one rounding
            for s in range(steps):
                k = k64[s]
                exact = exact - k[:, :, None] * (b64[s][:, None, None] * torch.einsum("bd,bde->be", k, exact)[:, None])
                for name in formats:
                    kl, x = rounded[name][s], low[name]
                    dot = torch.einsum("bd,bde->be", kl, x)
                    low[name] = x - kl[:, :, None] * (beta_low[name][s][:, None, None] * dot[:, None])
                done += 1
                while mark is not None and done == mark:
                    size = float(torch.linalg.matrix_norm(exact, ord=2).max())
                    for name in formats:
                        x = low[name].double()
                        finite = torch.isfinite(x).flatten(1).all(1)  # a product that overflowed stays inf/NaN
                        err = torch.full((batch,), float("inf"), dtype=torch.float64)
                        err[finite] = torch.linalg.matrix_norm(x[finite] - exact[finite], ord=2)  # ‖X_0‖₂ = 1
                        orth = None if setting == "random" else float("inf")
                        if orth is not None and bool(finite.all()):
                            gram = x.transpose(1, 2) @ x - torch.eye(d, dtype=torch.float64)
                            orth = float(torch.linalg.matrix_norm(gram, ord=2).max())
                        rows.append({
                            "setting": setting, "format": name, "length": done, "dim": d, "true_norm": size,
                            "error_max": float(err.max()), "error_median": float(err.median()), "orthogonality": orth,
                            "overflowed": int((~finite).sum()),
                            "bound": product_error_bound(name, done), "estimate": product_error_estimate(name, done),
                        })  # fmt: skip
                    mark = next(marks, None)
            if progress is not None:
                progress(steps)
    return rows


def _panels(count: int, sharey: bool = False):
    """A figure with ``count`` panels side by side (matplotlib's file backend, imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, count, figsize=(5 * count, 4.8), squeeze=False, sharey=sharey)
    return fig, list(axes[0])


def _save(fig, axes, path: Path, columns: int, bottom: float) -> None:
    """One legend (the first panel's entries) under the panels, then the PNG."""
    import matplotlib.pyplot as plt

    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=columns, fontsize=8)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_products(rows: list[dict], path: Path) -> None:
    """Error against length per setting (log–log), with the two models as dashed (bound) and dotted
    (estimate) lines in each format's colour."""
    settings = [s for s in SETTINGS if any(r["setting"] == s for r in rows)]
    fig, axes = _panels(len(settings))
    for ax, setting in zip(axes, settings):
        for color, name in zip(("tab:red", "tab:orange", "tab:blue"), ("bfloat16", "float16", "float32")):
            sel = [r for r in rows if r["setting"] == setting and r["format"] == name]
            if not sel:
                continue
            t = [r["length"] for r in sel]
            ax.loglog(t, [r["error_max"] for r in sel], "o-", color=color, label=f"{name} measured (max)", ms=3)
            ax.loglog(t, [r["bound"] for r in sel], "--", color=color, lw=1, label=f"{name} bound ∝ T")
            ax.loglog(t, [r["estimate"] for r in sel], ":", color=color, lw=1, label=f"{name} estimate ∝ √T")
        ax.set_ylim(1e-10, 1e3)  # random β contracts the product itself towards 0 (and the error with it)
        ax.set_title(f"GH products, {setting} factors")
        ax.set_xlabel("number of factors T")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("error ‖X̂_T − X_T‖₂ / ‖X_0‖₂ (dimensionless)")
    _save(fig, axes, path, columns=3, bottom=0.16)


KERNEL_BETAS = {"[0, 1]": (0.0, 1.0), "[0, 2]": (0.0, 2.0), "[1.9, 2]": (1.9, 2.0)}
KERNEL_GATES = ("none", "with -inf", "strong decay")
KERNEL_RUNS = (  # (backend, mode, dtype): the reference in low precision models a naive recurrence
    ("reference", "recurrent", "bfloat16"),
    ("reference", "recurrent", "float16"),
    ("reference", "recurrent", "float32"),
    ("reference", "chunk", "bfloat16"),
    ("reference", "chunk", "float32"),
    ("triton", "chunk", "float16"),
    ("triton", "chunk", "float32"),
)


def kernel_inputs(rng, tokens, n_h, heads, dim, betas, gates, keys_in):
    """float64 inputs: unit keys (or keys normalised in ``keys_in``'s arithmetic), β in a range, gates."""
    rows = tokens * n_h
    q = torch.from_numpy(rng.standard_normal((1, tokens, heads, dim)))
    raw = torch.from_numpy(rng.standard_normal((1, rows, heads, dim)))
    if keys_in == "float64":
        k = torch.nn.functional.normalize(raw, dim=-1)
    else:
        k = torch.nn.functional.normalize(raw.to(_DTYPES[keys_in]), dim=-1).double()
    v = torch.from_numpy(rng.standard_normal((1, rows, heads, dim)))
    lo, hi = KERNEL_BETAS[betas]
    beta = torch.from_numpy(rng.uniform(lo, hi, (1, rows, heads)))
    g = None
    if gates == "with -inf":
        g = torch.from_numpy(np.log(rng.uniform(0.9, 1.0, (1, tokens, heads))))
        g[torch.from_numpy(rng.random((1, tokens, heads)) < 0.05)] = float("-inf")
    elif gates == "strong decay":
        g = torch.from_numpy(rng.uniform(-5.0, -1.0, (1, tokens, heads)))
    return q, k, v, beta, g


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
    from the per-factor estimate of the arithmetic format (:func:`theory.precision.product_error_estimate`):
    the dtype itself for the op-by-op reference; fp32 accumulation for our Triton kernels and fla's, plus
    one rounding per chunk of their chunk products' operands to ``operands`` (:func:`kernel_operands`, None:
    fp32-accurate) over steps / C chunks; the kernels then round o once to the dtype (RMS u/√3).
    The roundings add in quadrature only as far back as the recurrence remembers them: ``contraction``
    (:func:`run_contraction`, the mean-square factor c per sub-step; 1 = orthogonal steps, pure √T) turns
    the steps into :func:`theory.precision.effective_steps` (steps, c) and the chunks into
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
    """:func:`theory.precision.mean_square_contraction` of a run's inputs (q, k, v, β, g): its β, its
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

    if dtype not in _DTYPES:
        raise ValueError(f"dtype: expected one of {tuple(_DTYPES)}, got {dtype!r}")
    low = [x.to(_DTYPES[dtype]) if i < 3 else x for i, x in enumerate(inputs)]
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
    :func:`theory.precision.product_error_estimate`, over the sub-steps the recurrence remembers:
    :func:`run_contraction`, :func:`theory.precision.effective_steps`), their largest ratio ``over_model``
    and ``suspect`` (ratio > 10 or not finite: :func:`verdict`): a kernel within its model is consistent
    with rounding alone; one far above it is not."""
    if dtype not in _DTYPES:
        raise ValueError(f"dtype: expected one of {tuple(_DTYPES)}, got {dtype!r}")
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
    fig, axes = _panels(len(KERNEL_BETAS))
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
    _save(fig, axes, path, columns=4, bottom=0.14)


CONSTRUCTION_PROGRAMS = (  # (label, group, rep): one-layer programs, whose margin and state norm are direct
    ("parity", "Z2", "scalar"),
    ("S3 permutation", "S3", "permutation"),
    ("S4 SO(3)", "S4", "orthogonal"),
    ("A5 SO(3)", "A5", "orthogonal"),
    ("S5 permutation", "S5", "permutation"),
    ("D8 O(2)", "D8", "orthogonal"),
    ("Z12 O(2)", "Z12", "orthogonal"),
)


CONSTRUCTION_LAYERED = (  # (label, group, layers): multi-layer programs, each layer through the kernel
    ("Z5 2 layers", "Z5", 2),
    ("D4 2 layers", "D4", 2),
    ("S3 3 layers", "S3", 3),
    ("S4 4 layers", "S4", 4),
)


def _safe_lengths(name: str, margin: float, norm: float, n_h: int) -> tuple[float, float]:
    """(worst-case, probabilistic) token counts before the state error can reach ``margin``: the error after
    T tokens of n_h factors on states of norm ``norm`` is ≤ T·n_h·c_w·norm (worst case) or ≈ √(T·n_h)·c_p·norm
    (probabilistic), c_w and c_p the per-factor constants of :mod:`theory.precision`."""
    worst = margin / (n_h * factor_error_bound(name) * norm)
    typical = (margin / (factor_error_estimate(name) * norm)) ** 2 / n_h
    return worst, typical


def _margin_and_radius(program) -> tuple[float, float]:
    """A one-layer program's decode margin (half the least distance between readouts) and the largest
    readout norm (the orbit's radius)."""
    margin = float(program.min_readout_distance_squared()) ** 0.5 / 2
    return margin, max(float(sum(float(e) ** 2 for e in r) ** 0.5) for r in program.readouts)


def kernel_safe_lengths(program, fmt: str) -> dict:
    """Predicted first wrong decode of a one-layer program (values 0, uniform random words) through a kernel
    that keeps its state in fp32 or wider but receives the keys rounded to ``fmt`` — the failure mode of our
    Triton kernel on the H200 (bench/results/constructions_h200/), where nothing rounds the state back onto
    the orbit, unlike the op-by-op reference of :func:`run_constructions`.

    Per token the exact state h (norm r: the orbit's radius) meets M̂_x = M_x + Δ_x
    (:func:`theory.precision.key_rounding_defects`), so the error e obeys e_{t+1} ≤ ρ·e_t + d·r with
    d = max‖Δ_x‖, ρ = max(1, max‖M̂_x‖). Worst case: e_T ≤ d·r·T (ρ = 1) or d·r·(ρ^T − 1)/(ρ − 1), so the
    decoder (margin m) is safe for T_w = m/(d·r) or log(1 + m(ρ − 1)/(d·r))/log ρ tokens. Probabilistic:
    the symbols' defects, carried by (nearly) orthogonal products, add in quadrature, e_T ≈ √T·d_rms·r with
    d_rms the root mean square over symbols, so T_p = (m/(d_rms·r))² — which ignores expansion. Both are
    infinite when the keys are exact in ``fmt`` (d = 0)."""
    from proofs_check.simulate import exact_floats
    from theory.constructions import Program

    if not isinstance(program, Program):
        raise ValueError(f"program: expected a one-layer Program (theory.compile_group), got {type(program).__name__}")
    keys = np.stack([exact_floats(k) for k in program.keys])
    defects, norms = key_rounding_defects(keys, exact_floats(program.betas), fmt)
    margin, radius = _margin_and_radius(program)
    worst_defect, rms_defect, rho = float(defects.max()), float(np.sqrt(np.mean(defects**2))), float(norms.max())
    if worst_defect == 0:
        return {"defect": 0.0, "rho": rho, "worst": math.inf, "probabilistic": math.inf}
    ratio = margin / (worst_defect * radius)
    worst = ratio if rho <= 1 + 1e-12 else math.log1p(ratio * (rho - 1)) / math.log(rho)
    return {"defect": worst_defect, "rho": rho, "worst": worst, "probabilistic": (margin / (rms_defect * radius)) ** 2}


def _layer_scale(layer) -> float:
    """Norm of a layer's states plus its largest value: each sub-step x + βk(v − kᵀx) rounds terms of both
    sizes, so this stands for ‖h‖ of the one-layer model (whose values are 0). Grid layers: √d·max level."""
    levels = [float(sum(float(e) ** 2 for e in r) ** 0.5) for r in layer.readouts]
    norm = max(levels) * (layer.dim**0.5 if layer.decode == "grid" else 1.0)
    return norm + max((abs(float(v)) for row in layer.values for v in row), default=0.0)


def run_constructions(max_length: int = 20_000, *, formats=("bfloat16", "float16", "float32"), seed: int = 0,
                      progress=None) -> list[dict]:  # fmt: skip
    """The constructions study: for each program and format, the longest safe length predicted by each
    model — the decoder fails once the state error reaches the margin m (half the least distance between
    readouts), and the error after T tokens of n_h factors is ≈ T·n_h·c_w‖h‖ (worst case) or
    √(T·n_h)·c_p‖h‖ (probabilistic), so T_w = m/(n_h c_w ‖h‖) and T_p = (m/(c_p ‖h‖))²/n_h — against the
    first wrong decode measured through the op-by-op reference kernel in that format (a naive recurrence;
    None when the word of ``max_length`` tokens is tracked throughout).

    One-layer programs (:data:`CONSTRUCTION_PROGRAMS`) have values 0 and ‖h‖ the orbit's radius. Multi-layer
    programs (:data:`CONSTRUCTION_LAYERED`) run every layer through the kernel; each layer gets its own
    prediction, with ‖h‖ replaced by its states' norm plus its largest value (:func:`_layer_scale`) and m its
    exact margin from the program's proof, and the program's prediction is the least over its layers — an
    extension of the one-layer model, which ignores that layers with β = 1 overwrite (reset) the state and
    so do not accumulate error at all."""
    from proofs_check.simulate import exact_run, random_words, simulate
    from theory.groups import parse_group
    from theory.layered import compile_layers, prove, prove_blocks

    if max_length < 1:
        raise ValueError(f"max_length: expected a positive integer, got {max_length!r}")
    cases = []
    for label, spec, rep in CONSTRUCTION_PROGRAMS:
        program = compile_group(spec, rep=rep)
        cases.append((label, spec, program, 1, [(*_margin_and_radius(program), program.n_h)]))
    for label, spec, layers in CONSTRUCTION_LAYERED:
        program = compile_layers(spec, layers=layers)
        proof = (prove_blocks if program.decoder_name == "block_product" else prove)(program)
        per_layer = [(float(m), _layer_scale(layer), layer.n_h) for m, layer in zip(proof.margins, program.layers)]
        cases.append((label, spec, program, layers, per_layer))
    rows = []
    for label, spec, program, layers, per_layer in cases:
        words = random_words(parse_group(spec).order, 1, max_length, seed=seed)
        exact = exact_run(program, words)
        for name in formats:
            run = simulate(program, words, dtype=_DTYPES[name], backend="reference", mode="recurrent", exact=exact)
            safe = [_safe_lengths(name, m, norm, n_h) for m, norm, n_h in per_layer]
            limiting = min(range(len(safe)), key=lambda i: safe[i][0])
            margin, norm, n_h = per_layer[limiting]
            rows.append({"program": label, "format": name, "layers": layers, "n_h": n_h, "margin": margin,
                         "state_norm": norm, "predicted_worst": min(w for w, _ in safe),
                         "predicted_probabilistic": min(p for _, p in safe), "measured_first_error": run.first_error,
                         "length": max_length, "max_state_error": run.max_state_error})  # fmt: skip
            if progress is not None:
                progress(1)
    return rows


def plot_constructions(rows: list[dict], path: Path) -> None:
    """Predicted safe lengths (worst case, probabilistic) and the measured first error per program and
    format, on a log scale; a program tracked throughout is drawn at the tested length with an arrow."""
    formats = list(dict.fromkeys(r["format"] for r in rows))
    programs = list(dict.fromkeys(r["program"] for r in rows))
    fig, axes = _panels(len(formats), sharey=True)
    for ax, name in zip(axes, formats):
        sel = {r["program"]: r for r in rows if r["format"] == name}
        y = np.arange(len(programs))
        ax.scatter([max(sel[p]["predicted_worst"], 0.1) for p in programs], y, marker="|", s=200, color="tab:red",
                   label="predicted safe length, worst case")  # fmt: skip
        ax.scatter([max(sel[p]["predicted_probabilistic"], 0.1) for p in programs], y, marker="x", color="tab:orange",
                   label="predicted, probabilistic")  # fmt: skip
        measured = [sel[p]["measured_first_error"] or sel[p]["length"] for p in programs]
        tracked = [sel[p]["measured_first_error"] is None for p in programs]
        ax.scatter(measured, y, marker="o", color="tab:blue", label="measured first error")
        for yi, m, full in zip(y, measured, tracked):
            if full:
                ax.annotate("", xy=(m * 3, yi), xytext=(m, yi), arrowprops=dict(arrowstyle="->", color="tab:blue"))
        ax.set_xscale("log")
        ax.set_xlim(right=max(max(measured) * 5, ax.get_xlim()[1]))  # room for the 'tracked throughout' arrows
        ax.set_yticks(y, programs)
        ax.set_title(f"programs in {name} (reference kernel)")
        ax.set_xlabel("tokens")
        ax.grid(True, axis="x", alpha=0.3)
    _save(fig, axes, path, columns=3, bottom=0.1)
