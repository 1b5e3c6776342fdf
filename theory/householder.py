"""Generalized Householder (GH) factors, their ordered products, DeltaProduct's token map and the
compact UT/WY form of a product — in exact, numeric and arbitrary-precision arithmetic.

Conventions (Siems et al. 2025 §3; Grazzi et al. 2025 eq. 3):

* A GH factor is G(k, β) = I − β k kᵀ with ‖k‖ = 1 and β ∈ [0, 2]. Its eigenvalues are 1 (multiplicity
  d − 1, eigenvectors ⟂ k) and 1 − β (eigenvector k), so ‖G‖₂ = max(1, |1 − β|) ≤ 1.
* Keys are passed as the **rows** of a matrix K (n_h × d); betas as a sequence of n_h numbers.
  Sub-step j = 1 is row 0 and is applied **first**: the product is

      A = G_{n_h} ⋯ G_2 G_1,        G_j = I − β_j k_j k_jᵀ,

  i.e. the n_h-th factor is leftmost, as in the DeltaProduct recurrence.
* The token map of one DeltaProduct token with sub-steps (k_j, v_j, β_j) and gate γ ∈ [0, 1] (linear
  space; kernels take log γ) is H ↦ A H + B with

      A = γ · G_{n_h} ⋯ G_1,        B = Σ_j (G_{n_h} ⋯ G_{j+1}) β_j k_j v_jᵀ,

  H ∈ R^{d×d_v}. The gate acts once, before the first sub-step, and does not scale B.

The number system (exact sympy, numpy, torch, mpmath) is chosen by the type of the keys; see
:mod:`theory.numbers`. Functions that rely on unit keys check ‖k‖ = 1 — exactly in sympy, within a
dtype-scaled tolerance in floats — unless called with ``check_unit=False``.
"""

from __future__ import annotations

from typing import Any

from theory.numbers import NumberSystem, as_rows, number_system

__all__ = [
    "gh_factor",
    "gh_product",
    "token_map",
    "substep_recurrence",
    "ogd_step",
    "ut_transform",
    "compact_product",
]


def _betas(system: NumberSystem, betas: Any, count: int, *, name: str = "betas") -> list:
    values = list(betas) if not _is_scalar(betas) else [betas]
    if len(values) != count:
        raise ValueError(f"{name}: expected {count} values (one per key), got {len(values)}")
    out = []
    for i, b in enumerate(values):
        beta = system.scalar(b, name=f"{name}[{i}]")
        _check_range(system, beta, 0, 2, name=f"{name}[{i}]", meaning="β ∈ [0, 2] keeps ‖G‖ ≤ 1")
        out.append(beta)
    return out


def _is_scalar(x: Any) -> bool:
    shape = getattr(x, "shape", None)
    if shape is not None:
        return len(shape) == 0
    return not hasattr(x, "__len__")


def _check_range(system: NumberSystem, x: Any, lo: float, hi: float, *, name: str, meaning: str) -> None:
    """Refuse a concrete number outside [lo, hi] (symbolic values pass: identities hold for all)."""
    if not system.is_number(x):
        return
    if system.exact:
        inside = bool(x.is_real) and bool(lo <= x) and bool(x <= hi)
    else:
        value = float(x)
        inside = lo <= value <= hi  # False for NaN
    if not inside:
        raise ValueError(f"{name}: expected a real number in [{lo}, {hi}] ({meaning}), got {x}")


def _keys(keys: Any, *, check_unit: bool, name: str = "keys") -> tuple[NumberSystem, Any, list]:
    system = number_system(keys, name=name)
    k = as_rows(system, keys, name=name)
    cols = [system.column(k, j) for j in range(system.shape(k)[0])]
    if check_unit:
        for j, col in enumerate(cols):
            if not system.is_unit(col):
                raise ValueError(
                    f"{name}[{j}]: expected a unit-norm key (‖k‖ = 1 is what makes I − βkkᵀ a GH factor "
                    f"with ‖G‖ ≤ 1); |‖k‖² − 1| = {system.unit_residual(col)} exceeds the tolerance "
                    f"{system.unit_tolerance(system.shape(col)[0]):.3g} of {system.describe()}; normalise the key or "
                    "pass check_unit=False"
                )
    return system, k, cols


def gh_factor(key: Any, beta: Any, *, check_unit: bool = True) -> Any:
    """The generalized Householder matrix G(k, β) = I − β k kᵀ (Grazzi et al. 2025, eq. 3).

    ``key`` is one vector (1-D, or a 1×d row); ``beta`` ∈ [0, 2]. β = 0 gives I, β = 1 the projection
    onto k⊥ (eigenvalue 0), β = 2 the reflection across k⊥ (eigenvalue −1).
    """
    return gh_product(key, [beta], check_unit=check_unit)


def gh_product(keys: Any, betas: Any, *, check_unit: bool = True) -> Any:
    """The ordered product A = G_{n_h} ⋯ G_2 G_1 of GH factors G_j = I − β_j k_j k_jᵀ.

    ``keys`` holds k_1 … k_{n_h} as rows (k_1 = row 0 is applied first, so it is the rightmost factor);
    ``betas`` holds β_1 … β_{n_h}, each in [0, 2]. Computed factor by factor, A ← (I − β_j k_j k_jᵀ) A,
    in the keys' number system.
    """
    system, _, cols = _keys(keys, check_unit=check_unit)
    bs = _betas(system, betas, len(cols))
    d = system.shape(cols[0])[0]
    a = system.eye(d)
    for k, b in zip(cols, bs):
        a = a - (k * b) @ (k.T @ a)
    return a


def _values(system: NumberSystem, values: Any, count: int) -> tuple[Any, list]:
    v = as_rows(system, values, name="values")
    if system.shape(v)[0] != count:
        raise ValueError(f"values: expected {count} rows (one per key), got shape {system.shape(v)}")
    return v, [system.column(v, j) for j in range(count)]


def _gate(system: NumberSystem, gate: Any) -> Any:
    if gate is None:
        return None
    g = system.scalar(gate, name="gate")
    _check_range(system, g, 0, 1, name="gate", meaning="γ ∈ [0, 1] in linear space; kernels take log γ")
    return g


def token_map(keys: Any, values: Any, betas: Any, gate: Any = None, *, check_unit: bool = True) -> tuple[Any, Any]:
    """The pair (A, B) of one DeltaProduct token: H_i = A H_{i−1} + B (Siems et al. 2025 §3).

    A = γ · G_{n_h} ⋯ G_1 and B = Σ_j (G_{n_h} ⋯ G_{j+1}) β_j k_j v_jᵀ, with keys and values as rows
    (n_h × d and n_h × d_v), betas in [0, 2] and the optional gate γ ∈ [0, 1] (None means γ = 1).
    B is not gated. Built right to left: A ← G_j A, B ← G_j B + β_j k_j v_jᵀ for j = 1 … n_h.
    """
    system, _, cols = _keys(keys, check_unit=check_unit)
    bs = _betas(system, betas, len(cols))
    _, vcols = _values(system, values, len(cols))
    g = _gate(system, gate)
    d, dv = system.shape(cols[0])[0], system.shape(vcols[0])[0]
    a, b = system.eye(d), system.zeros(d, dv)
    for k, v, beta in zip(cols, vcols, bs):
        a = a - (k * beta) @ (k.T @ a)
        b = b - (k * beta) @ (k.T @ b) + (k * beta) @ v.T
    if g is not None:
        a = a * g
    return a, b


def _state(system: NumberSystem, state: Any, d: int, dv: int) -> Any:
    h = as_rows(system, state, name="state")
    if system.shape(h) != (d, dv):
        raise ValueError(f"state: expected shape ({d}, {dv}) = (key dim, value dim), got {system.shape(h)}")
    return h


def ogd_step(state: Any, key: Any, value: Any, beta: Any, *, check_unit: bool = True) -> Any:
    """One online-gradient step H ← H − β ∇L(H) on L(H) = ½‖Hᵀk − v‖², written as the delta rule

        H − β k (kᵀH − vᵀ) = (I − β k kᵀ) H + β k vᵀ     (DeltaNet; Grazzi et al. 2025 Table 1).

    ``state`` is d × d_v, ``key`` a d-vector, ``value`` a d_v-vector, ``beta`` ∈ [0, 2].
    """
    return substep_recurrence(state, key, value, [beta], check_unit=check_unit)


def substep_recurrence(
    state: Any, keys: Any, values: Any, betas: Any, gate: Any = None, *, check_unit: bool = True
) -> Any:
    """Run one DeltaProduct token through its n_h sub-steps, as the kernels do:

        H ← γ H;   for j = 1 … n_h:  H ← H + β_j k_j (v_j − Hᵀk_j)ᵀ,

    which equals H ↦ A H + B of :func:`token_map`. ``state`` is d × d_v.
    """
    system, _, cols = _keys(keys, check_unit=check_unit)
    bs = _betas(system, betas, len(cols))
    _, vcols = _values(system, values, len(cols))
    h = _state(system, state, system.shape(cols[0])[0], system.shape(vcols[0])[0])
    g = _gate(system, gate)
    if g is not None:
        h = h * g
    for k, v, beta in zip(cols, vcols, bs):
        h = h + (k * beta) @ (v - h.T @ k).T
    return h


def ut_transform(keys: Any, betas: Any, *, check_unit: bool = False) -> Any:
    """The matrix T = (I + L)⁻¹ of the compact (UT/WY) form, L = strictly_lower(diag(β) K Kᵀ).

    L_ij = β_i k_iᵀ k_j for i > j. T is unit lower triangular, computed by forward substitution
    (row i: T_i = e_i − Σ_{j<i} L_ij T_j) in the keys' number system, the way chunked kernels solve it.
    For unit keys and β ∈ [0, 2], T_ij = −β_i k_iᵀ G_{i−1} ⋯ G_{j+1} k_j below the diagonal, so
    |T_ij| ≤ β_i ≤ 2. The identity of :func:`compact_product` holds for any keys, so unit norm is not
    checked unless asked.
    """
    system, k, cols = _keys(keys, check_unit=check_unit)
    bs = _betas(system, betas, len(cols))
    n = len(cols)
    gram = k @ k.T
    t = system.eye(n)
    for i in range(n):
        for j in range(i):
            t[i, :] = t[i, :] - (bs[i] * gram[i, j]) * t[j, :]
    return t


def compact_product(keys: Any, betas: Any, *, check_unit: bool = False) -> Any:
    """The product G_{n_h} ⋯ G_1 in compact form: I − Kᵀ · T · diag(β) · K, with T from
    :func:`ut_transform` (the UT/WY representation of chunked DeltaNet/DeltaProduct kernels).

    Equal to :func:`gh_product` exactly in sympy and to rounding in floats.
    """
    system, k, cols = _keys(keys, check_unit=check_unit)
    bs = _betas(system, betas, len(cols))
    t = ut_transform(keys, betas)
    tb = system.copy(t)
    for j, b in enumerate(bs):
        tb[:, j] = tb[:, j] * b
    return system.eye(system.shape(k)[1]) - k.T @ tb @ k
