"""Studies: measured rounding error of products, kernels and compiled programs against the error models of
:mod:`theory.error_models`, each a function that returns rows and one that plots them.

:mod:`~proofs_check.studies.products` (GH products per format), :mod:`~proofs_check.studies.kernels` (every
CPU backend of :func:`kernels.delta_product`, and :func:`~proofs_check.studies.kernels.check_kernel` for any
kernel), :mod:`~proofs_check.studies.constructions` (compiled programs' safe lengths),
:mod:`~proofs_check.studies.verdict` (ours and fla's at GPU scale). They share one table of dtypes
(:data:`proofs_check.execute.DTYPES`), the low-precision formats they measure (:data:`STUDY_FORMATS`) and
two input builders, :func:`kernel_inputs` and :func:`growing_inputs` (states past fp16's range), defined here.
"""

from __future__ import annotations

import numpy as np
import torch

from proofs_check.execute import DTYPES

__all__ = ["STUDY_FORMATS", "KERNEL_BETAS", "KERNEL_GATES", "kernel_inputs", "growing_inputs"]

STUDY_FORMATS = ("bfloat16", "float16", "float32")

KERNEL_BETAS = {"[0, 1]": (0.0, 1.0), "[0, 2]": (0.0, 2.0), "[1.9, 2]": (1.9, 2.0)}


KERNEL_GATES = ("none", "with -inf", "strong decay")


def kernel_inputs(rng, tokens, n_h, heads, dim, betas, gates, keys_in):
    """float64 inputs: unit keys (or keys normalised in ``keys_in``'s arithmetic), β in a range, gates."""
    rows = tokens * n_h
    q = torch.from_numpy(rng.standard_normal((1, tokens, heads, dim)))
    raw = torch.from_numpy(rng.standard_normal((1, rows, heads, dim)))
    if keys_in == "float64":
        k = torch.nn.functional.normalize(raw, dim=-1)
    else:
        k = torch.nn.functional.normalize(raw.to(DTYPES[keys_in]), dim=-1).double()
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


def growing_inputs(tokens, n_h, heads, dim, scale):
    """float64 inputs whose state grows linearly in t (claim stability.state_growth): β = 2 reflections on
    one fixed key, values alternating ±scale; the state's entry c on that key follows c ← 2v − c."""
    rows = tokens * n_h
    k = torch.zeros(1, rows, heads, dim, dtype=torch.float64)
    k[..., 0] = 1.0
    v = torch.zeros(1, rows, heads, dim, dtype=torch.float64)
    v[:, :, :, 0] = scale * torch.tensor([(-1.0) ** r for r in range(rows)], dtype=torch.float64)[None, :, None]
    q = torch.zeros(1, tokens, heads, dim, dtype=torch.float64)
    q[..., 0] = 1.0
    return [q, k, v, torch.full((1, rows, heads), 2.0, dtype=torch.float64), None]
