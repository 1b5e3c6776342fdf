"""The products study (``deltaproof stability products``): T GH factors applied in sequence to X_0 = I (so
the columns are T-step states and X_T is the product itself) in bf16, fp16 and fp32 — every operation
rounded to the format by torch, keys normalised in float64 and rounded to the format — against float64 with
the unit keys. Three settings:
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

from pathlib import Path

import numpy as np
import torch

from proofs_check.execute import DTYPES
from proofs_check.studies import STUDY_FORMATS
from proofs_check.studies.plots import panels, save_figure
from theory.error_models import product_error_bound, product_error_estimate
from theory.formats import cast
from theory.programs import compile_group

__all__ = ["SETTINGS", "Factors", "run_products", "plot_products"]

SETTINGS = ("random", "reflections", "construction")


def _grid(max_length: int) -> list[int]:
    """1, 2, 3, 5, 10, 20, 30, 50, … up to max_length (included)."""
    out, scale = [], 1
    while scale <= max_length:
        out += [m * scale for m in (1, 2, 3, 5) if m * scale <= max_length]
        scale *= 10
    return sorted(set(out + [max_length]))


class Factors:
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
        if name not in STUDY_FORMATS:
            raise ValueError(f"formats: expected names among {sorted(STUDY_FORMATS)}, got {name!r}")
    grid, rows = _grid(max_length), []
    for setting in SETTINGS:
        factors = Factors(setting, dim, batch, np.random.default_rng(seed))
        d = factors.dim
        exact = torch.eye(d, dtype=torch.float64).expand(batch, d, d).clone()
        low = {name: exact.to(DTYPES[name]) for name in formats}
        marks, done = iter(grid), 0
        mark = next(marks)
        while done < max_length:
            steps = min(1000, max_length - done)
            keys, betas = factors.block(steps)
            k64, b64 = torch.from_numpy(keys), torch.from_numpy(betas)
            rounded = {name: torch.from_numpy(cast(keys, name)).to(DTYPES[name]) for name in formats}
            beta_low = {name: b64.to(DTYPES[name]) for name in formats}  # β ∈ {0, 2} or uniform: one rounding
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


def plot_products(rows: list[dict], path: Path) -> None:
    """Error against length per setting (log–log), with the two models as dashed (bound) and dotted
    (estimate) lines in each format's colour."""
    settings = [s for s in SETTINGS if any(r["setting"] == s for r in rows)]
    fig, axes = panels(len(settings))
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
    save_figure(fig, axes, path, columns=3, bottom=0.16)
