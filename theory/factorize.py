"""Matrices → GH factors whose ordered product equals them (Grazzi et al. 2025, Proposition 1.2).

Every function returns :class:`GHFactors` (keys as rows, k_1 applied first, so that
``gh_product(f.keys, f.betas)`` = G_{n_h} ⋯ G_1 reproduces the input) in the input's number system;
exact inputs give exact factors.

* permutation matrix P → exactly n − c(P) swaps I − 2vvᵀ, v = (e_i − e_j)/√2, where c(P) counts all
  cycles including fixed points. n − c(P) = rank(I − P), which is also the least number of GH factors of
  any β whose product is P (a product of m GH factors is I plus m rank-one terms).
* orthogonal Q → at most n reflections (constructive Cartan–Dieudonné); their number has the parity of
  det Q. An SO(3) rotation → exactly 2 reflections.
* diagonal D with |d_i| ≤ 1 → one GH factor e_i with β_i = 1 − d_i per entry d_i ≠ 1; the zero matrix
  is the product of the n projections I − e_i e_iᵀ (β = 1).
* contraction M (‖M‖₂ ≤ 1) → at most 3n factors via M = U Σ Vᵀ: reflections for Vᵀ, then the diagonal
  Σ, then U (numeric; exact inputs only when permutation, orthogonal or diagonal: sympy has no usable
  exact SVD).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import sympy as sp

from theory.householder import gh_product
from theory.numbers import NumberSystem, Numpy, Torch, as_square, number_system, unit_roundoff

__all__ = [
    "GHFactors",
    "permutation_swaps",
    "orthogonal_reflections",
    "rotation_reflections",
    "diagonal_factors",
    "contraction_factors",
    "gh_factorize",
    "cycle_count",
]


@dataclass(frozen=True, eq=False)
class GHFactors:
    """An ordered list of GH factors: row j of ``keys`` with ``betas[j]`` is G_{j+1}, applied (j+1)-th.

    ``product()`` = G_m ⋯ G_1; ``route`` says which factorization produced it.
    """

    keys: Any
    betas: tuple
    route: str

    def __len__(self) -> int:
        return len(self.betas)

    def product(self, dim: int | None = None) -> Any:
        """G_m ⋯ G_1; for an empty list, the identity of size ``dim``."""
        if len(self) == 0:
            if dim is None:
                raise ValueError("dim: an empty factor list needs the matrix size to build the identity")
            return number_system(self.keys).eye(dim)
        return gh_product(self.keys, list(self.betas), check_unit=False)


def _square(m: Any, *, name: str) -> tuple[NumberSystem, Any, int]:
    system, a = as_square(m, name=name)
    return system, a, system.shape(a)[0]


def _tolerance(system: NumberSystem, a: Any, n: int) -> float:
    """Numeric slack for structural checks: 8·n·u for the matrix's unit roundoff u (0 when exact)."""
    if system.exact:
        return 0.0
    dtype = getattr(a, "dtype", None)
    u = unit_roundoff(dtype) if dtype is not None and str(dtype) != "object" else 2.0**-53
    return 8.0 * n * u


def _factors(system: NumberSystem, cols: list, betas: list, dim: int, route: str) -> GHFactors:
    if cols:
        keys = system.zeros(len(cols), dim)
        for j, c in enumerate(cols):
            keys[j, :] = c.T
    else:
        keys = system.zeros(0, dim)
    return GHFactors(keys, tuple(system.scalar(b, name="beta") for b in betas), route)


def _permutation(system: NumberSystem, a: Any, n: int) -> list[int] | None:
    """π with P e_j = e_{π(j)} if ``a`` is exactly a permutation matrix, else None."""
    f = system.to_float64(a)
    if system.exact and any(not e.is_number for e in a):
        return None
    if not np.all((f == 0) | (f == 1)) or not np.all(f.sum(0) == 1) or not np.all(f.sum(1) == 1):
        return None
    return [int(np.argmax(f[:, j])) for j in range(n)]


def cycle_count(perm: list[int]) -> int:
    """Number of cycles of a permutation of range(n), fixed points included."""
    seen, count = set(), 0
    for start in range(len(perm)):
        if start not in seen:
            count += 1
            j = start
            while j not in seen:
                seen.add(j)
                j = perm[j]
    return count


def permutation_swaps(p: Any) -> GHFactors:
    """A permutation matrix (P e_j = e_{π(j)}) as exactly n − c(P) swap reflections, β = 2.

    Each cycle (c_0 c_1 … c_{r−1}) of π (π(c_i) = c_{i+1}) is the product of transpositions
    (c_0 c_{r−1}) ⋯ (c_0 c_2)(c_0 c_1) — (c_0 c_1) applied first — and the transposition (i j) is
    I − 2vvᵀ with v = (e_i − e_j)/√2 (Grazzi et al. 2025, Prop. 1.2 and App. C.2). Disjoint cycles commute.
    """
    system, a, n = _square(p, name="p")
    perm = _permutation(system, a, n)
    if perm is None:
        raise ValueError(f"p: expected a permutation matrix (entries 0/1, one 1 per row and column), got {a}")
    half = sp.sqrt(2) / 2 if system.exact else system.scalar(0.5**0.5, name="1/√2")
    cols, seen = [], set()
    for start in range(n):
        cycle = []
        j = start
        while j not in seen:
            seen.add(j)
            cycle.append(j)
            j = perm[j]
        for other in cycle[1:]:
            v = system.zeros(n, 1)
            v[cycle[0], 0] = half
            v[other, 0] = -half
            cols.append(v)
    return _factors(system, cols, [2] * len(cols), n, "permutation: n − c(P) swaps")


def _check_orthogonal(system: NumberSystem, a: Any, n: int, *, name: str) -> None:
    residual = system.matrix(a.T @ a, name=name) - system.eye(n)
    if system.exact:
        ok = all(sp.simplify(e) == 0 for e in residual)
        worst = "not 0"
    else:
        worst = float(np.abs(system.to_float64(residual)).max())
        ok = worst <= _tolerance(system, a, n)
    if not ok:
        raise ValueError(
            f"{name}: expected an orthogonal matrix (QᵀQ = I); max |QᵀQ − I| is {worst}"
            + ("" if system.exact else f" > tolerance {_tolerance(system, a, n):.3g}")
        )


def orthogonal_reflections(q: Any) -> GHFactors:
    """An orthogonal matrix as at most n reflections (constructive Cartan–Dieudonné).

    The count has the parity of det Q (each reflection has det −1). Two constructions:

    * exact and mpmath inputs, column by column: if the current i-th column x differs from e_i, the
      reflection across (x − e_i)⊥ maps x to e_i and fixes e_1 … e_{i−1}; after at most n steps
      H_r ⋯ H_1 Q = I, so Q = H_1 ⋯ H_r and H_r is applied first.
    * numpy and torch inputs, through the real Schur form Q = Z D Zᵀ (float64): every 2×2 rotation
      block R(θ) on (z_a, z_b) is the two reflections with keys z_b, then −sin(θ/2) z_a + cos(θ/2) z_b
      (grazzi.c2.two_reflections), every −1 block is the reflection with key z_i, and +1 blocks cost
      nothing. Unlike the column sweep, this stays accurate when a column is close to e_i (the sweep
      divides by ‖x − e_i‖ and amplifies rounding by its inverse).
    """
    system, a, n = _square(q, name="q")
    _check_orthogonal(system, a, n, name="q")
    if isinstance(system, (Numpy, Torch)):
        return _schur_reflections(system, system.to_float64(a), n)
    return _reflect_to_identity(system, a, n)


def _schur_reflections(system: NumberSystem, q: np.ndarray, n: int) -> GHFactors:
    t, z = scipy.linalg.schur(q, output="real")
    cols, i = [], 0
    while i < n:
        if i + 1 < n and t[i + 1, i] != 0:
            theta = np.arctan2(t[i + 1, i], t[i, i])
            za, zb = z[:, i : i + 1], z[:, i + 1 : i + 2]
            cols += [zb, -np.sin(theta / 2) * za + np.cos(theta / 2) * zb]
            i += 2
        else:
            if t[i, i] < 0:
                cols.append(z[:, i : i + 1])
            i += 1
    keys = [system.matrix(c.T, name="key").T for c in cols]
    return _factors(system, keys, [2] * len(keys), n, "orthogonal: Cartan–Dieudonné reflections")


def _reflect_to_identity(system: NumberSystem, a: Any, n: int) -> GHFactors:
    m = system.copy(a)
    tol = _tolerance(system, a, n)
    found = []
    for i in range(n):
        w = system.copy(m[:, i : i + 1])
        w[i, 0] = w[i, 0] - 1
        if system.exact:
            w = w.applyfunc(sp.simplify)
            if all(e == 0 for e in w):
                continue
        elif float(np.abs(system.to_float64(w)).max()) <= tol:
            continue
        v = w / system.norm(w)
        m = m - (v * 2) @ (v.T @ m)
        if system.exact:
            m = m.applyfunc(sp.simplify)
        found.append(v)
    return _factors(system, found[::-1], [2] * len(found), n, "orthogonal: Cartan–Dieudonné reflections")


def rotation_reflections(r: Any) -> GHFactors:
    """A rotation R ∈ SO(3) as exactly 2 reflections, β = 2 (the identity as one reflection twice).

    Cartan–Dieudonné gives at most 3 reflections with the parity of det R = +1, hence 0 or 2.
    """
    system, a, n = _square(r, name="r")
    if n != 3:
        raise ValueError(f"r: expected a 3×3 rotation, got shape ({n}, {n})")
    _check_orthogonal(system, a, n, name="r")
    det = sp.simplify(a.det()) if system.exact else float(np.linalg.det(system.to_float64(a)))
    if (det != 1) if system.exact else det < 0:
        raise ValueError(f"r: expected det R = +1 (a rotation), got det = {det}")
    factors = orthogonal_reflections(a)
    if len(factors) == 2:
        return GHFactors(factors.keys, factors.betas, "SO(3): two reflections")
    e1 = system.zeros(n, 1)
    e1[0, 0] = 1
    return _factors(system, [e1, e1], [2, 2], n, "SO(3): two reflections")


def diagonal_factors(d: Any) -> GHFactors:
    """A diagonal matrix with entries in [−1, 1] as one GH factor I − (1 − d_i) e_i e_iᵀ per d_i ≠ 1.

    The keys e_i are orthonormal, so the factors commute; β_i = 1 − d_i ∈ [0, 2]. The zero matrix gives
    the n projections I − e_i e_iᵀ (β = 1; Grazzi et al. 2025, Thm 4 proof).
    """
    system, a, n = _square(d, name="d")
    f = system.to_float64(a)
    if np.any(f - np.diag(np.diag(f)) != 0):
        raise ValueError(f"d: expected a diagonal matrix, got off-diagonal entries in {a}")
    cols, betas = [], []
    for i in range(n):
        entry = a[i, i]
        if not -1 <= float(f[i, i]) <= 1:
            raise ValueError(f"d: expected diagonal entries in [−1, 1] (β = 1 − d ∈ [0, 2]), got d[{i}] = {entry}")
        if float(f[i, i]) != 1:
            e = system.zeros(n, 1)
            e[i, 0] = 1
            cols.append(e)
            betas.append(1 - entry)
    return _factors(system, cols, betas, n, "diagonal: one GH per entry ≠ 1")


def contraction_factors(m: Any) -> GHFactors:
    """A contraction (‖M‖₂ ≤ 1) as at most 3n GH factors (Grazzi et al. 2025, Prop. 1.2).

    M = U Σ Vᵀ (SVD, float64 from the stored values): Vᵀ and U are orthogonal (≤ n reflections each,
    Cartan–Dieudonné) and Σ = ∏_i (I − (1 − σ_i) e_i e_iᵀ) with β_i = 1 − σ_i ∈ [0, 1]. The factors are
    applied in the order Vᵀ, Σ, U and returned in the input's number system. Exact inputs are accepted
    when they are permutation, orthogonal or diagonal matrices (exact routes); any other exact input is
    refused, since sympy has no usable exact SVD.
    """
    system, a, n = _square(m, name="m")
    if system.exact:
        if _permutation(system, a, n) is not None:
            return permutation_swaps(a)
        f = system.to_float64(a)
        if np.all(f == np.diag(np.diag(f))):
            return diagonal_factors(a)
        try:
            return orthogonal_reflections(a)
        except ValueError:
            raise ValueError(
                "m: exact factorization of a general contraction needs an exact SVD, which sympy does not "
                "provide; pass a float matrix, or a permutation, orthogonal or diagonal exact matrix"
            ) from None
    f = system.to_float64(a)
    u, sigma, vt = np.linalg.svd(f)
    tol = _tolerance(system, a, n)
    if sigma[0] > 1 + tol:
        raise ValueError(f"m: expected a contraction (‖M‖₂ ≤ 1), got ‖M‖₂ = {float(sigma[0])!r}")
    sigma = np.minimum(sigma, 1.0)
    f64 = Numpy(np.dtype(np.float64))
    parts = [_schur_reflections(f64, vt, n), diagonal_factors(np.diag(sigma)), _schur_reflections(f64, u, n)]
    cols = [np.asarray(p.keys[j], dtype=np.float64)[:, None] for p in parts for j in range(len(p))]
    betas = [float(b) for p in parts for b in p.betas]
    return _factors(system, [system.matrix(c.T, name="key").T for c in cols], betas, n, "contraction: SVD")


def gh_factorize(m: Any) -> GHFactors:
    """Factor a matrix by the most economical route that applies: permutation (n − c swaps), diagonal
    (one factor per entry ≠ 1, the zero matrix included), orthogonal (≤ n reflections), else contraction
    (≤ 3n, numeric). Inputs outside every case are refused with the reason."""
    system, a, n = _square(m, name="m")
    if _permutation(system, a, n) is not None:
        return permutation_swaps(a)
    f = system.to_float64(a)
    if np.all(f == np.diag(np.diag(f))) and np.all(np.abs(np.diag(f)) <= 1):
        return diagonal_factors(a)
    if not system.exact and np.abs(f.T @ f - np.eye(n)).max() <= _tolerance(system, a, n):
        return orthogonal_reflections(a)
    return contraction_factors(a)
