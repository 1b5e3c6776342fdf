"""What a model's recurrence does per input symbol, held against the theory: the first part of the analysis
of learned transitions (trained checkpoints, or constructions loaded by :func:`models.from_program`).

For a model and a task, :func:`symbol_transitions` draws words, takes every layer's per-token state transition
A_t = (I − β_n k_n k_nᵀ) ⋯ (I − β_1 k_1 k_1ᵀ) e^{g_t} in float64 (:meth:`models.GatedDeltaProduct.transitions`),
groups them by the input symbol at t, and reports per layer, head and symbol: the mean transition, its
eigenvalues, the spread of A_t around it over contexts (‖A_t − mean‖_F / ‖mean‖_F, averaged; nonzero only where
a short convolution lets keys see the tokens before), its orthogonality error ‖meanᵀmean − I‖_2 and the
quantiles of the step sizes β used with that symbol. For a group's word problem, :func:`relation_error`
measures how far the mean transitions are from a representation: the state after x_1 ⋯ x_t is
A(x_t) ⋯ A(x_1) S_0, so A(b)A(a) should equal A(a·b). :func:`probe_accuracy` fits a linear probe (the
nearest class mean, on half of the words) from every layer's state after each token to the task's label and
scores it on the other half, by position, beside the model's own accuracy.
"""

from __future__ import annotations

import numpy as np
import torch

from models.lm import DeltaProductLM
from models.tasks import WordProblem, task

__all__ = ["symbol_transitions", "relation_error", "layer_states", "probe_accuracy", "BETA_QUANTILES"]

BETA_QUANTILES = (0.0, 0.1, 0.5, 0.9, 1.0)


def _pairs(eigenvalues: np.ndarray) -> list[list[float]]:
    """Eigenvalues as [re, im] pairs, sorted by angle then modulus (a stable order to compare)."""
    order = np.lexsort((np.abs(eigenvalues), np.round(np.angle(eigenvalues), 12)))
    return [[float(z.real), float(z.imag)] for z in eigenvalues[order]]


def _task_of(model: DeltaProductLM, task_spec: str, words, length, least_words: int):
    """The task of ``task_spec``, checked against the model's vocabulary and classes, with ``words`` ≥
    ``least_words`` and ``length`` ≥ 1 (each a ValueError naming the argument)."""
    problem = task(task_spec)
    if (problem.vocab_size, problem.num_classes) != (model.config.vocab_size, model.config.num_classes):
        raise ValueError(f"task: {task_spec} has {problem.vocab_size} tokens and {problem.num_classes} classes, "
                         f"the model {model.config.vocab_size} and {model.config.num_classes}")  # fmt: skip
    for name, value, least in (("words", words, least_words), ("length", length, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name}: expected an integer ≥ {least}, got {value!r}")
    return problem


def symbol_transitions(model: DeltaProductLM, task_spec: str, words: int = 64, length: int = 64, seed: int = 0) -> dict:
    """``{"layers": [{"heads": [{"symbols": {symbol: {"mean", "eigenvalues", "spread", "orthogonality_error",
    "beta", "count"}}}]}]}`` over ``words`` random words of ``length`` tokens of the task (drawn from
    ``seed``): symbols are the token ids as strings, ``mean`` a nested list (float64), ``beta`` the
    :data:`BETA_QUANTILES` of the symbol's step sizes over its sub-steps and occurrences."""
    problem = _task_of(model, task_spec, words, length, least_words=1)
    device = next(model.parameters()).device
    tokens, _ = problem.batch((seed, 7_777), words, length, device)
    skip = int(model.config.start_token)  # the start token's transition writes the initial state: not a symbol's
    positions = {s: (tokens == s).cpu().numpy() for s in range(problem.vocab_size)}
    occurring = {s: where for s, where in positions.items() if where.any()}
    layers = []
    with torch.no_grad():
        for block, x in zip(model.layers, model.layer_inputs(tokens)):
            attn = block.attn
            a = attn.transitions(x)[:, skip:].cpu().numpy()  # [B, T, H, K, K]
            beta = attn.factors(x).beta[:, skip:].double().cpu().numpy()  # [B, T, n_h, H]
            heads = []
            for h in range(attn.num_heads):
                symbols = {}
                for s, where in occurring.items():
                    occurrences = a[where][:, h]
                    mean = occurrences.mean(axis=0)
                    scale = max(float(np.linalg.norm(mean)), np.finfo(float).tiny)
                    spread = float(np.linalg.norm(occurrences - mean, axis=(1, 2)).mean() / scale)
                    gram = mean.T @ mean - np.eye(mean.shape[0])
                    steps = beta[where][:, :, h].ravel()
                    symbols[str(s)] = {
                        "mean": mean.tolist(),
                        "eigenvalues": _pairs(np.linalg.eigvals(mean)),
                        "spread": spread,
                        "orthogonality_error": float(np.linalg.norm(gram, 2)),
                        "beta": [float(q) for q in np.quantile(steps, BETA_QUANTILES)],
                        "count": int(where.sum()),
                    }
                heads.append({"symbols": symbols})
            layers.append({"heads": heads})
    return {"task": task_spec, "words": words, "length": length, "seed": seed, "beta_quantiles": list(BETA_QUANTILES),
            "layers": layers}  # fmt: skip


def relation_error(analysis: dict, layer: int = 0, head: int = 0) -> float:
    """max over element pairs (a, b) of ‖A(b)A(a) − A(a·b)‖_F / ‖A(a·b)‖_F for the mean transitions of one
    layer and head of a group task's :func:`symbol_transitions` (0 for a representation; every element must
    have occurred)."""
    problem = task(analysis["task"])
    if not isinstance(problem, WordProblem):
        raise ValueError(f"task: {analysis['task']} is not a group's word problem")
    symbols = analysis["layers"][layer]["heads"][head]["symbols"]
    if len(symbols) != problem.group.order:
        raise ValueError(f"analysis: {problem.group.order - len(symbols)} elements never occurred; draw more words")
    mean = {int(s): np.array(entry["mean"]) for s, entry in symbols.items()}
    table = problem.group.table
    worst = 0.0
    for a in mean:
        for b in mean:
            target = mean[int(table[a, b])]
            worst = max(worst, float(np.linalg.norm(mean[b] @ mean[a] - target) / np.linalg.norm(target)))
    return worst


def layer_states(model: DeltaProductLM, tokens: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's state after every token, float64 [B, T, H, K, V] (the start token's position dropped):
    the layer's recurrence S ← e^{g}S, then S ← S + β_j k_j (v_j − Sᵀk_j)ᵀ for j = 1 … n_h, from S = 0, on
    its own factors (:meth:`models.GatedDeltaProduct.factors`) in float64."""
    skip = int(model.config.start_token)
    states = []
    with torch.no_grad():
        for block, x in zip(model.layers, model.layer_inputs(tokens)):
            f = block.attn.factors(x)
            k, v, beta = f.k.double(), f.v.double(), f.beta.double()
            batch, length, n_h, heads = beta.shape
            s = torch.zeros(batch, heads, k.shape[-1], v.shape[-1], dtype=torch.float64, device=x.device)
            out = []
            for t in range(length):
                if f.g is not None:
                    s = s * f.g[:, t].double().exp()[..., None, None]
                for j in range(n_h):
                    kj, vj, bj = k[:, t, j], v[:, t, j], beta[:, t, j]
                    residual = vj - torch.einsum("bhkv,bhk->bhv", s, kj)
                    s = s + bj[..., None, None] * kj[..., :, None] * residual[..., None, :]
                out.append(s)
            states.append(torch.stack(out, dim=1)[:, skip:])
    return states


def probe_accuracy(model: DeltaProductLM, task_spec: str, words: int = 128, length: int = 64, seed: int = 0) -> dict:
    """``{"layers": [{"accuracy", "by_position"}], "model": {"accuracy", "by_position"}}``: a linear probe per
    layer from its state (all heads, flattened) to the label — the nearest class mean, argmax_c ⟨x, μ_c⟩ −
    ‖μ_c‖²/2, fitted on the first half of ``words`` random words (closed form, no training to tune) and
    scored on the second — and the model's own argmax accuracy on the same held-out words."""
    problem = _task_of(model, task_spec, words, length, least_words=2)  # half fitted, half scored
    device = next(model.parameters()).device
    tokens, labels = problem.batch((seed, 9_999), words, length, device)
    half = words // 2
    held = labels[half:].cpu().numpy()
    result = {"layers": []}
    for states in layer_states(model, tokens):
        x = states.flatten(2).cpu().numpy()  # [B, T, H·K·V]
        fit_x, fit_y = x[:half].reshape(-1, x.shape[-1]), labels[:half].cpu().numpy().ravel()
        counts = np.bincount(fit_y, minlength=problem.num_classes)
        means = np.zeros((problem.num_classes, x.shape[-1]))
        np.add.at(means, fit_y, fit_x)
        means /= np.maximum(counts, 1)[:, None]
        bias = np.where(counts > 0, -0.5 * (means**2).sum(-1), -np.inf)  # classes never seen are never chosen
        right = (x[half:] @ means.T + bias).argmax(-1) == held
        result["layers"].append({"accuracy": float(right.mean()), "by_position": right.mean(0).round(6).tolist()})
    with torch.no_grad():
        right = (model(tokens[half:]).argmax(-1).cpu().numpy() == held)
    result["model"] = {"accuracy": float(right.mean()), "by_position": right.mean(0).round(6).tolist()}
    return result
