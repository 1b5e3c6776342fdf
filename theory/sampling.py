"""Random GH products in float64, batched: unit keys, betas with the boundary values forced in.

Numeric claims and reachable-spectrum sampling draw through here so that every study sees β = 0, 1
and 2 exactly (cases a uniform draw never hits) and states how many samples it saw.
"""

from __future__ import annotations

import numpy as np

__all__ = ["random_unit_keys", "random_betas", "gh_product_batch", "batch_deviation"]


def random_unit_keys(rng: np.random.Generator, batch: int, n_h: int, dim: int) -> np.ndarray:
    """``batch`` × ``n_h`` × ``dim`` keys uniform on the unit sphere (normalised Gaussians), float64."""
    k = rng.standard_normal((batch, n_h, dim))
    return k / np.linalg.norm(k, axis=-1, keepdims=True)


def random_betas(
    rng: np.random.Generator, batch: int, n_h: int, lo: float = 0.0, hi: float = 2.0, special: float = 0.25
) -> np.ndarray:
    """``batch`` × ``n_h`` betas uniform in [lo, hi] ⊆ [0, 2], with a fraction ``special`` of the
    entries set to those of {0, 1, 2} that lie in [lo, hi]."""
    if not 0.0 <= lo <= hi <= 2.0:
        raise ValueError(f"lo, hi: expected 0 ≤ lo ≤ hi ≤ 2, got [{lo}, {hi}]")
    b = rng.uniform(lo, hi, size=(batch, n_h))
    values = np.array([x for x in (0.0, 1.0, 2.0) if lo <= x <= hi])
    if values.size:
        mask = rng.random((batch, n_h)) < special
        b[mask] = rng.choice(values, size=int(mask.sum()))
    return b


def gh_product_batch(keys: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """Batched G_{n_h} ⋯ G_1 for ``keys`` (batch, n_h, d) and ``betas`` (batch, n_h), in the keys' dtype.

    Same convention as :func:`theory.householder.gh_product`: sub-step j = 0 is applied first.
    """
    keys, betas = np.asarray(keys), np.asarray(betas, dtype=np.asarray(keys).dtype)
    if keys.ndim != 3 or betas.shape != keys.shape[:2]:
        raise ValueError(
            f"keys, betas: expected shapes (batch, n_h, d) and (batch, n_h), got {keys.shape} and {betas.shape}"
        )
    batch, n_h, dim = keys.shape
    a = np.broadcast_to(np.eye(dim, dtype=keys.dtype), (batch, dim, dim)).copy()
    for j in range(n_h):
        k = keys[:, j, :, None]
        a = a - betas[:, j, None, None] * (k @ (np.swapaxes(k, 1, 2) @ a))
    return a


def batch_deviation(keys: np.ndarray, betas: np.ndarray, products: np.ndarray, every: int = 64) -> float:
    """max |products[i] − gh_product(keys[i], betas[i])| over i = 0, every, 2·every, …: the batched products
    against :func:`theory.householder.gh_product`, the library's product, one at a time. A claim that samples
    through :func:`gh_product_batch` checks its samples with it, so that a wrong batch cannot pass an upper
    bound unseen (a β halved there keeps every bound of Proposition 1)."""
    from theory.householder import gh_product

    return max(float(np.abs(products[i] - gh_product(keys[i], betas[i])).max()) for i in range(0, len(keys), every))
