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
scores it on the other half, by position, beside the model's own accuracy. :func:`lyapunov_exponents` says
whether the products of the learned transitions contract, and how fast, in each direction; :func:`safe_length`
predicts from the training window where the model's decisions will start to fail, and measures where they do.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import ndtri

from models.lm import DeltaProductLM
from models.tasks import WordProblem, task

__all__ = [
    "symbol_transitions",
    "relation_error",
    "layer_states",
    "probe_accuracy",
    "construction_spectrum",
    "lyapunov_exponents",
    "safe_length",
    "analyze",
    "plot_analysis",
    "BETA_QUANTILES",
    "NONREAL_TOLERANCE",
]

BETA_QUANTILES = (0.0, 0.1, 0.5, 0.9, 1.0)
NONREAL_TOLERANCE = 1e-6  # |Im λ| above it counts as non-real: float64 eigenvalues of a 2×2 rotation block are
# within ~1e-15 of exact, and a learned rotation worth the name turns by far more than 1e-6 rad


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


def _nearest_mean_probe(x: np.ndarray, labels: np.ndarray, half: int, classes: int) -> dict:
    """The nearest-class-mean probe argmax_c ⟨x, μ_c⟩ − ‖μ_c‖²/2 fitted on words [:half] of features x
    [words, T, F] and scored on the others: {"accuracy", "by_position"}."""
    fit_x, fit_y = x[:half].reshape(-1, x.shape[-1]), labels[:half].ravel()
    counts = np.bincount(fit_y, minlength=classes)
    means = np.zeros((classes, x.shape[-1]))
    np.add.at(means, fit_y, fit_x)
    means /= np.maximum(counts, 1)[:, None]
    bias = np.where(counts > 0, -0.5 * (means**2).sum(-1), -np.inf)  # classes never seen are never chosen
    right = (x[half:] @ means.T + bias).argmax(-1) == labels[half:]
    return {"accuracy": float(right.mean()), "by_position": right.mean(0).round(6).tolist()}


def probe_accuracy(model: DeltaProductLM, task_spec: str, words: int = 128, length: int = 64, seed: int = 0) -> dict:
    """``{"layers": [{"accuracy", "by_position", "output": {"accuracy", "by_position"}}], "model": {"accuracy",
    "by_position"}}``: a linear probe per layer from its state (all heads, flattened) to the label — the
    nearest class mean, fitted on the first half of ``words`` random words (closed form, no training to tune)
    and scored on the second — the same probe on the layer's output o_t (what the block adds to the residual
    stream: the state read by the token's own query), and the model's own argmax accuracy on the held-out
    words. A model can decode from o_t what no linear map of the state gives, since o_t = S_tᵀq_t is bilinear
    in the state and the current token."""
    problem = _task_of(model, task_spec, words, length, least_words=2)  # half fitted, half scored
    device = next(model.parameters()).device
    tokens, labels = problem.batch((seed, 9_999), words, length, device)
    half, held = words // 2, labels.cpu().numpy()
    skip = int(model.config.start_token)
    result = {"layers": []}
    with torch.no_grad():
        outputs = [block.attn(x)[0][:, skip:].double() for block, x in zip(model.layers, model.layer_inputs(tokens))]
    for states, out in zip(layer_states(model, tokens), outputs):
        probe = _nearest_mean_probe(states.flatten(2).cpu().numpy(), held, half, problem.num_classes)
        probe["output"] = _nearest_mean_probe(out.cpu().numpy(), held, half, problem.num_classes)
        result["layers"].append(probe)
    with torch.no_grad():
        right = model(tokens[half:]).argmax(-1).cpu().numpy() == held[half:]
    result["model"] = {"accuracy": float(right.mean()), "by_position": right.mean(0).round(6).tolist()}
    return result


def construction_spectrum(task_spec: str) -> dict | None:
    """For a group's word problem, the exact one-layer construction of the same group
    (:func:`theory.programs.compile_group`, its default representation): ``{"construction", "dim", "n_h",
    "eigenvalues": {symbol: [[re, im], …]}}`` of every element's factor product; None for other tasks."""
    from theory.programs import compile_group

    problem = task(task_spec)
    if not isinstance(problem, WordProblem):
        return None
    program = compile_group(problem.group)
    eigenvalues = {}
    for s in range(problem.group.order):
        product = np.array(program.factor_product(s).evalf(30), dtype=np.float64)
        eigenvalues[str(s)] = _pairs(np.linalg.eigvals(product))
    return {"construction": program.construction, "dim": program.layer.dim, "n_h": program.layer.n_h,
            "eigenvalues": eigenvalues}  # fmt: skip


def _spectral_match(symbols: dict, construction: dict) -> float:
    """max over symbols and over the construction's eigenvalues c of min over the learned mean transition's
    eigenvalues l of |c − l|: 0 when every learned spectrum contains the construction's (a learned head of
    dimension K ≥ d may add eigenvalues of its own, e.g. 1 on directions it leaves alone)."""
    worst = 0.0
    for s, entry in symbols.items():
        learned = np.array([complex(*z) for z in entry["eigenvalues"]])
        for re, im in construction["eigenvalues"].get(s, []):
            worst = max(worst, float(np.abs(learned - complex(re, im)).min()))
    return worst


def lyapunov_exponents(transitions: np.ndarray) -> np.ndarray:
    """The Lyapunov exponents μ_1 ≥ … ≥ μ_K of products of transitions ``[words, T, K, K]`` (one head, state
    S_t = A_t S_{t−1}), averaged over words: μ_i = (1/T) log σ_i(A_T ⋯ A_1) computed stably by QR iteration
    (Q_0 = I, A_t Q_{t−1} = Q_t R_t, μ_i = (1/T) Σ_t log |R_t[i, i]|; Benettin et al. 1980), in float64.
    Orthogonal transitions give μ = 0 in every direction; μ_i < 0 means the part of the state along the i-th
    direction shrinks by e^{μ_i} per token, so what the state held e^{−1} ago in that direction weighs
    1/|μ_i| tokens back: a model whose largest exponents are negative forgets the word's beginning however
    it was trained. A singular transition (β = 1 on a key: a projection) gives −inf in the direction it
    deletes."""
    a = np.asarray(transitions, dtype=np.float64)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2] or a.shape[1] == 0:
        raise ValueError(f"transitions: expected a [words, T ≥ 1, K, K] array, got shape {a.shape}")
    q = np.broadcast_to(np.eye(a.shape[-1]), (a.shape[0], *a.shape[-2:])).copy()
    total = np.zeros(a.shape[:1] + a.shape[-1:])
    with np.errstate(divide="ignore"):
        for t in range(a.shape[1]):
            q, r = np.linalg.qr(a[:, t] @ q)
            total += np.log(np.abs(np.diagonal(r, axis1=-2, axis2=-1)))
    return np.sort((total / a.shape[1]).mean(axis=0))[::-1]


QUANTILE_1PC = float(ndtri(0.99))  # the standard normal's 99 % quantile: 1 % of words below mean − this·std


def safe_length(model: DeltaProductLM, task_spec: str, train_length: int, test_length: int, words: int = 128,
                seed: int = 0) -> dict:  # fmt: skip
    """Where the model's decisions start to fail, predicted from positions within ``train_length`` with the
    toolkit's two error forms (:func:`theory.error_models.safe_lengths`), and measured on ``words`` words of
    ``test_length`` tokens.

    The decision margin of a word at position t is z_t = (logit of the right class) − (largest other logit);
    the model errs where z_t < 0. Over positions [train_length/4, train_length] two fits of its statistics over
    words give two predictions of the first position where 1 % of the words err (accuracy below 0.99, as
    :func:`analyze`'s ``first_error``):

    * ``probabilistic``: the mean drifts linearly and independent per-token defects add in quadrature, so the
      variance grows linearly (mean_t = a + b·t, var_t = c + d·t): the first t with mean_t − 2.326·std_t < 0;
    * ``worst``: the 1 % quantile of z_t drifts linearly (q_t = a + b·t): the first t with q_t < 0.

    Either is None when its fit does not decrease within ``100·test_length`` tokens. ``measured`` is the first
    position with accuracy below 0.99. The returned ``mean``, ``std`` and ``q01`` are per position (1-based
    index i − 1), for plots."""
    problem = _task_of(model, task_spec, words, test_length, least_words=2)
    if not 4 <= train_length <= test_length:
        raise ValueError(f"train_length: expected 4 ≤ train_length ≤ test_length ({test_length}), got {train_length}")
    device = next(model.parameters()).device
    tokens, labels = problem.batch((seed, 4_242), words, test_length, device)
    with torch.no_grad():
        logits = model(tokens).double().cpu().numpy()
    right = labels.cpu().numpy()[..., None]
    correct = np.take_along_axis(logits, right, -1)[..., 0]
    np.put_along_axis(logits, right, -np.inf, -1)
    z = correct - logits.max(-1)  # [words, T]
    mean, std, q01 = z.mean(0), z.std(0), np.quantile(z, 0.01, axis=0)
    window = np.arange(train_length // 4, train_length)  # 0-based positions train_length/4 … train_length
    t = window + 1.0
    ahead = np.arange(1, 100 * test_length + 1, dtype=np.float64)
    slope, start = np.polyfit(t, mean[window], 1)
    growth, base = np.polyfit(t, std[window] ** 2, 1)
    low = start + slope * ahead - QUANTILE_1PC * np.sqrt(np.maximum(base + growth * ahead, 0.0))
    q_slope, q_start = np.polyfit(t, q01[window], 1)

    def first(values) -> int | None:
        below = np.flatnonzero(values < 0)
        return int(below[0]) + 1 if below.size else None

    return {
        "train_length": train_length,
        "test_length": test_length,
        "probabilistic": first(low),
        "worst": first(q_start + q_slope * ahead),
        "measured": first((z > 0).mean(0) - 0.99),
        "fits": {
            "mean": [float(start), float(slope)],
            "variance": [float(base), float(growth)],
            "q01": [float(q_start), float(q_slope)],
        },
        "mean": mean.tolist(),
        "std": std.tolist(),
        "q01": q01.tolist(),
    }


def analyze(model: DeltaProductLM, task_spec: str, words: int = 64, length: int = 64, lengths=(64,),
            eval_words: int = 128, seed: int = 0) -> dict:  # fmt: skip
    """The whole analysis of a model on a task, as ``deltaproof analyze`` writes it:

    * ``layers[l]["heads"][h]``: :func:`symbol_transitions`' ``symbols`` and, over every token of ``words``
      words of ``length``: ``nonreal_fraction`` (tokens whose A_t has an eigenvalue with |Im λ| >
      :data:`NONREAL_TOLERANCE`), ``nh2_criterion_fraction`` (n_h = 2 without a gate's effect on realness:
      tokens whose learned (k₁ᵀk₂, β₁, β₂) satisfy :func:`theory.nh2_has_nonreal_eigenvalues`; None for
      other n_h), ``token_eigenvalues`` (those of about 256 tokens' A_t, for the plots), ``modulus``
      (quantiles :data:`BETA_QUANTILES` of |λ| over all eigenvalues of all tokens),
      ``orthogonality`` (mean over tokens of ‖A_tᵀA_t − I‖_2), ``lyapunov`` (:func:`lyapunov_exponents` of
      the words' transitions, largest first), ``relation_error`` (:func:`relation_error`,
      word problems only) and ``spectral_match`` (:func:`_spectral_match` against :func:`construction_spectrum`);
    * ``layers[l]["probe_accuracy"]``: :func:`probe_accuracy` of that layer; ``layers[l]["beta_histogram"]``:
      counts of all its step sizes in 20 bins over [0, 2];
    * ``model``: the model's accuracy by length (``lengths``, ``eval_words`` fresh words each),
      ``first_error``, the first position (1-based) whose accuracy is below 0.99 (None if none is), and
      ``safe_length``: :func:`safe_length` with ``length`` as the training window and the longest of
      ``lengths`` (at least ``length``) as the test length, on ``eval_words`` words;
    * ``construction``: :func:`construction_spectrum` (None for languages)."""
    from models.train import evaluate
    from theory.spectrum import nh2_has_nonreal_eigenvalues

    report = symbol_transitions(model, task_spec, words, length, seed)
    probes = probe_accuracy(model, task_spec, max(words, 2), length, seed)
    construction = construction_spectrum(task_spec)
    problem = task(task_spec)
    device = next(model.parameters()).device
    tokens, _ = problem.batch((seed, 7_777), words, length, device)  # the words of symbol_transitions
    skip = int(model.config.start_token)
    nh2 = np.vectorize(lambda c, b1, b2: bool(nh2_has_nonreal_eigenvalues(float(c), float(b1), float(b2))))
    with torch.no_grad():
        for index, (block, x) in enumerate(zip(model.layers, model.layer_inputs(tokens))):
            attn, layer = block.attn, report["layers"][index]
            a = attn.transitions(x)[:, skip:].cpu().numpy()  # [B, T, H, K, K]
            f = attn.factors(x)
            k, beta = f.k[:, skip:].double().cpu().numpy(), f.beta[:, skip:].double().cpu().numpy()
            for h, head in enumerate(layer["heads"]):
                ah = a[:, :, h].reshape(-1, *a.shape[-2:])
                lam = np.linalg.eigvals(ah)
                gram = np.swapaxes(ah, -1, -2) @ ah - np.eye(ah.shape[-1])
                head["nonreal_fraction"] = float((np.abs(lam.imag) > NONREAL_TOLERANCE).any(-1).mean())
                head["nh2_criterion_fraction"] = None
                if attn.num_householder == 2:
                    c = (k[:, :, 0, h] * k[:, :, 1, h]).sum(-1)
                    head["nh2_criterion_fraction"] = float(nh2(c, beta[:, :, 0, h], beta[:, :, 1, h]).mean())
                head["modulus"] = [float(q) for q in np.quantile(np.abs(lam), BETA_QUANTILES)]
                head["orthogonality"] = float(np.linalg.norm(gram, 2, axis=(-2, -1)).mean())
                head["lyapunov"] = [float(mu) for mu in lyapunov_exponents(a[:, :, h])]
                head["relation_error"] = (
                    relation_error(report, index, h) if isinstance(problem, WordProblem)
                    and len(head["symbols"]) == problem.group.order else None
                )  # fmt: skip
                head["spectral_match"] = (
                    None if construction is None else _spectral_match(head["symbols"], construction)
                )
                head["token_eigenvalues"] = _pairs(lam[:: max(1, len(lam) // 256)].ravel())  # ~256 tokens, for plots
            layer["beta_histogram"] = np.histogram(beta, bins=20, range=(0.0, 2.0))[0].tolist()
            layer["probe_accuracy"] = probes["layers"][index]
    accuracy = evaluate(model, task_spec, tuple(lengths), eval_words, seed)
    report["model"] = {
        "accuracy": accuracy["accuracy"],
        "by_position": accuracy["by_position"],
        "first_error": {
            n: next((i + 1 for i, v in enumerate(p) if v < 0.99), None) for n, p in accuracy["by_position"].items()
        },  # fmt: skip
        "probe_positions": probes["model"],
        "safe_length": safe_length(model, task_spec, length, max(length, *lengths), eval_words, seed),
    }
    report["construction"] = construction
    return report


def plot_analysis(report: dict, prefix) -> list:
    """Three figures from an :func:`analyze` report, written as PREFIX_spectra.png (every head's mean
    transitions' eigenvalues per symbol in the complex plane, the unit circle and the construction's eigenvalues
    as black crosses), PREFIX_beta.png (each layer's β histogram) and PREFIX_probe.png (the linear probe's
    accuracy by position per layer, and the model's); returns the paths."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prefix = Path(prefix)
    heads = [(l, h, head) for l, layer in enumerate(report["layers"]) for h, head in enumerate(layer["heads"])]
    cols = min(4, len(heads))
    rows = -(-len(heads) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 256))
    construction = report.get("construction")
    for ax, (l, h, head) in zip(axes.flat, heads):
        ax.plot(circle.real, circle.imag, color="grey", linewidth=0.6)
        z = np.array(head["token_eigenvalues"])
        ax.scatter(z[:, 0], z[:, 1], s=3, color="lightgrey", label="A_t of single tokens")
        for s, entry in head["symbols"].items():
            z = np.array(entry["eigenvalues"])
            ax.scatter(z[:, 0], z[:, 1], s=8, alpha=0.6, label=f"mean of {s}" if len(head["symbols"]) <= 6 else None)
        if construction is not None:
            z = np.array([p for pairs in construction["eigenvalues"].values() for p in pairs])
            ax.scatter(z[:, 0], z[:, 1], marker="x", color="black", s=30, label="construction")
        ax.set(title=f"layer {l}, head {h}", aspect="equal", xlim=(-1.15, 1.15), ylim=(-1.15, 1.15))
        ax.legend(fontsize=6, loc="lower left")
    for ax in list(axes.flat)[len(heads) :]:
        ax.axis("off")
    fig.suptitle(f"{report['task']}: eigenvalues of A_t (grey: single tokens; colours: a symbol's mean transition)")
    fig.tight_layout()
    paths = [prefix.with_name(prefix.name + "_spectra.png")]
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.2))
    edges = np.linspace(0, 2, 21)
    for l, layer in enumerate(report["layers"]):
        ax.stairs(layer["beta_histogram"], edges, label=f"layer {l}")
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=0.8)
    ax.set(xlabel="β (above 1: a negative eigenvalue of that factor)", ylabel="sub-steps", title="step sizes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(prefix.with_name(prefix.name + "_beta.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for l, layer in enumerate(report["layers"]):
        p = layer["probe_accuracy"]["by_position"]
        ax.plot(range(1, len(p) + 1), p, label=f"state, layer {l}")
        p = layer["probe_accuracy"]["output"]["by_position"]
        ax.plot(range(1, len(p) + 1), p, label=f"output o_t, layer {l}")
    p = report["model"]["probe_positions"]["by_position"]
    ax.plot(range(1, len(p) + 1), p, color="black", linestyle="--", label="model")
    ax.set(xlabel="position", ylabel="accuracy", ylim=(0, 1.02), title="linear probe on the state")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(prefix.with_name(prefix.name + "_probe.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths
