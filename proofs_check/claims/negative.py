"""The negative theorems of Grazzi et al. 2025 — what a finite-precision LRNN whose transitions have only real
(or only non-negative) eigenvalues cannot do — checked exhaustively over the cast state space
(:mod:`theory.cast_orbits`), and Lemma 1, their tool, proved symbolically for Jordan blocks."""

from __future__ import annotations

import numpy as np
import sympy as sp

from proofs_check.registry import Evidence, claim
from theory.cast_orbits import compose, orbits, planar_map, saturate, scalar_maps, values
from theory.formats import FORMATS

_SOURCE = "Grazzi et al. 2025, {} and its proof (App. B); the exhaustive search over cast states is ours [✔]"
SMALL = "float8_e5m2"
WIDE = ("float16", "bfloat16")


def _named(fmt: str, sign: int) -> np.ndarray:
    """The transitions searched in a 16-bit format (every state each): a of one sign among 0, the smallest
    subnormal, 2^-10, ¼, ½, 0.9, 1 − u, 1, 1 + 2u, 1.5, 2, 3 and the largest value (rounded to the format)."""
    f = FORMATS[fmt]
    mags = [f.min_subnormal, 2.0**-10, 0.25, 0.5, 0.9, 1 - f.unit_roundoff, 1.0, 1 + 4 * f.unit_roundoff, 1.5, 2.0,
            3.0, f.max_finite]  # fmt: skip
    return saturate(np.array(([0.0] if sign > 0 else []) + [sign * m for m in mags]), fmt)


def _offsets(fmt: str) -> np.ndarray:
    """The inputs b searched with each named transition: 0, ± the smallest subnormal, ±1, π, −1000, the largest."""
    f = FORMATS[fmt]
    return saturate(np.array([0.0, f.min_subnormal, -f.min_subnormal, 1.0, -1.0, np.pi, -1000.0, f.max_finite]), fmt)


def _search(fmt: str, sign: int) -> list:
    """Orbits of every named (a, b) pair of one sign of a, every state of the format."""
    a, b = np.meshgrid(_named(fmt, sign), _offsets(fmt), indexing="ij")
    return orbits(scalar_maps(a.ravel(), b.ravel(), fmt))


def _every_pair(sign: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (a, b) of float8_e5m2 with a ≥ 0 (sign 1) or a < 0 (sign −1)."""
    v = values(SMALL)
    a, b = np.meshgrid(v[v >= 0] if sign > 0 else v[v < 0], v, indexing="ij")
    return a.ravel(), b.ravel()


def _lengths(found: list) -> list[int]:
    return sorted({n for o in found for n in o.lengths} | ({0} if not all(o.complete for o in found) else set()))


@claim(
    id="grazzi.thm1.eventually_constant",
    statement="A finite-precision recurrence h ← cast(cast(a·h) + b) (each product, then each sum rounded to the "
    "format, saturating) with a ≥ 0, fed the constant input 1^k, is eventually constant from every state — so it "
    "cannot alternate as parity does — while a = −1 gives period 2; a diagonal transition is a set of such scalar "
    "systems, and a later layer fed an eventually constant input is such a system from then on. Exhaustive over "
    "every state: every (a ≥ 0, b) pair of float8_e5m2, named pairs in float16 and bfloat16, diagonal 2-D systems "
    "of float8_e5m2 on all 61 009 states.",
    source=_SOURCE.format("Theorem 1 (parity needs an eigenvalue outside [0, ∞))"),
    method="exhaustive",
    tier="full",
)
def thm1_eventually_constant() -> Evidence:
    a, b = _every_pair(+1)
    small = orbits(scalar_maps(a, b, SMALL))
    wide = {fmt: _search(fmt, +1) for fmt in WIDE}
    diagonal_systems = [((0.5, 1.0), (1.0, -3.0)), ((0.875, 1.0), (0.25, 1.0)), ((2.0, 0.0), (-1.0, 0.5))]
    diagonal = [orbits(planar_map(np.diag(d), np.array(c), SMALL))[0] for d, c in diagonal_systems]
    contrast_small = orbits(scalar_maps(*_every_pair(-1), SMALL))
    contrast_wide = {fmt: orbits(scalar_maps([-1.0], [0.0], fmt))[0] for fmt in WIDE}
    checks = {
        f"every float8_e5m2 pair a ≥ 0 eventually constant ({len(small)} pairs × 247 states)":
            all(o.lengths == (1,) and o.complete for o in small),
        **{f"every named {fmt} pair eventually constant ({len(found)} pairs × {len(values(fmt))} states)":
           all(o.lengths == (1,) and o.complete for o in found) for fmt, found in wide.items()},
        "diagonal float8_e5m2 systems eventually constant on all 61 009 states":
            all(o.lengths == (1,) for o in diagonal),
        "the contrast: a < 0 gives cycles of length 2 in float8_e5m2": any(2 in o.lengths for o in contrast_small),
        **{f"the contrast: a = −1, b = 0 has a 2-cycle in {fmt}": 2 in o.lengths for fmt, o in contrast_wide.items()},
    }  # fmt: skip
    onsets = {SMALL: max(o.onset for o in small), **{fmt: max(o.onset for o in found) for fmt, found in wide.items()}}
    two_cycles = sum(2 in o.lengths for o in contrast_small)
    summary = (
        f"cycle lengths found with a ≥ 0: float8_e5m2 {_lengths(small)} over {len(small)} pairs, "
        + ", ".join(f"{fmt} {_lengths(found)} over {len(found)} named pairs" for fmt, found in wide.items())
        + f", diagonal 2-D {_lengths(diagonal)} (0 would mean a cycle longer than 64); largest onset k̄ {onsets}; "
        f"contrast a < 0: {two_cycles} of {len(contrast_small)} float8_e5m2 pairs have 2-cycles, a = −1 cycle lengths "
        + ", ".join(f"{fmt} {list(o.lengths)}" for fmt, o in contrast_wide.items())
        + " (every state of each format searched; the named a: 0, smallest subnormal, 2^-10, ¼, ½, 0.9, 1 − u, 1, "
        "1 + 4u, 1.5, 2, 3, max; b: 0, ± smallest subnormal, ±1, π, −1000, max)"
    )
    return Evidence.from_checks(checks, summary, {"onsets": onsets, "two_cycle_pairs": two_cycles})


@claim(
    id="grazzi.thm2.period_divides_2L",
    statement="With real (possibly negative) scalar transitions rounded at every step, the output on 1^k is "
    "eventually periodic with period dividing 2^L after L layers (one layer: cycles of length 1 or 2; a layer fed a "
    "period-P input: the composed map over one period has cycles of length ≤ 2), so no such network counts modulo "
    "3; a 2-D rotation by 2π/3 (non-real eigenvalues) in the same harness has 3-cycles. Exhaustive over every "
    "state: every float8_e5m2 pair (L = 1), named pairs in float16 and bfloat16, every (a₁, a₂) of float8_e5m2 "
    "with b = (1, −1) and 48 random pairs of named pairs per 16-bit format for L = 2, and 4 000 random period-4 "
    "inputs of float8_e5m2 for L = 3.",
    source=_SOURCE.format("Theorem 2 (counting modulo m, m not a power of two, needs non-real eigenvalues)"),
    method="exhaustive",
    tier="full",
)
def thm2_period_divides_2L() -> Evidence:
    v = values(SMALL)
    one = orbits(scalar_maps(*np.concatenate([np.stack(_every_pair(s)) for s in (1, -1)], axis=1), SMALL))
    wide = {fmt: _search(fmt, -1) + _search(fmt, +1) for fmt in WIDE}
    a1, a2 = (x.ravel() for x in np.meshgrid(v, v, indexing="ij"))
    two = orbits(compose(scalar_maps(a1, np.ones_like(a1), SMALL), scalar_maps(a2, -np.ones_like(a2), SMALL)))
    rng = np.random.default_rng(22)
    steps = [scalar_maps(rng.choice(v, 4000), rng.choice(v, 4000), SMALL) for _ in range(4)]
    three = orbits(compose(*steps))
    wide_two = {}
    for fmt in WIDE:  # L = 2 in the 16-bit formats: 48 random pairs of named (a, b), every state
        a, b = (x.ravel() for x in np.meshgrid(np.concatenate([_named(fmt, -1), _named(fmt, 1)]), _offsets(fmt)))
        first, second = rng.integers(0, len(a), 48), rng.integers(0, len(a), 48)
        wide_two[fmt] = orbits(compose(scalar_maps(a[first], b[first], fmt), scalar_maps(a[second], b[second], fmt)))
    rotation = orbits(planar_map(np.array([[-0.5, -np.sqrt(0.75)], [np.sqrt(0.75), -0.5]]), np.zeros(2), SMALL))[0]
    within = lambda found: all(o.complete and set(o.lengths) <= {1, 2} for o in found)  # noqa: E731
    checks = {
        f"L = 1: every float8_e5m2 pair has cycles of length ≤ 2 ({len(one)} pairs)": within(one),
        **{f"L = 1: every named {fmt} pair has cycles of length ≤ 2": within(found) for fmt, found in wide.items()},
        f"L = 2: every (a₁, a₂) composed over one period has cycles ≤ 2 ({len(two)} maps), period | 4": within(two),
        f"L = 3: every sampled period-4 composition has cycles ≤ 2 ({len(three)} maps), period | 8": within(three),
        **{f"L = 2: every sampled {fmt} composition has cycles ≤ 2": within(found) for fmt, found in wide_two.items()},
        "the contrast: the rotation by 2π/3 has 3-cycles": 3 in rotation.lengths,
    }
    summary = (
        f"cycle lengths: L = 1 float8_e5m2 {_lengths(one)} over {len(one)} pairs, "
        + ", ".join(f"{fmt} {_lengths(found)} over {len(found)} named pairs" for fmt, found in wide.items())
        + f"; L = 2 (layer 2 over one period of its input) {_lengths(two)} over {len(two)} float8_e5m2 maps, "
        + ", ".join(f"{fmt} {_lengths(found)} over {len(found)}" for fmt, found in wide_two.items())
        + "; L = 3 "
        f"{_lengths(three)} over {len(three)} maps — so eventual periods divide 2, 4, 8 and never 3; rotation by "
        f"2π/3 in float8_e5m2 (entries rounded: −½, ±0.875): cycle lengths {list(rotation.lengths)} on 61 009 states "
        "(every state searched each time; 0 would mean a cycle longer than 64)"
    )
    return Evidence.from_checks(checks, summary, {"rotation_lengths": list(rotation.lengths)})


_K = sp.Symbol("k", integer=True, nonnegative=True)
_SCALES = (_K**2, _K, sp.Integer(1), *(f * sp.Rational(1, q) ** _K for q in (2, 4) for f in (_K, 1)))


def _closed_form(jordan: sp.Matrix, basis: sp.Matrix, drive: sp.Matrix, h0: sp.Matrix) -> tuple[sp.Matrix, sp.Matrix]:
    """(A, h_k) for A = P J P⁻¹ and b = P·drive: h_k = A^k h_0 + Σ_{i<k} A^i b in closed form, as the first rows
    of Ã^k (h_0, 1) with Ã = [[A, b], [0, 1]] (sympy's symbolic power, through Ã's Jordan form)."""
    a = basis * jordan * basis.inv()
    augmented = a.row_join(basis * drive).col_join(sp.Matrix([[0] * a.rows + [1]]))
    return a, sp.simplify((augmented**_K * h0.col_join(sp.Matrix([1])))[: a.rows, :])


def _eventual_sign(expr: sp.Expr) -> tuple[str, int] | None:
    """(scale, sign) with expr / scale → a nonzero limit as k → ∞: expr's sign is eventually that limit's."""
    for scale in _SCALES:
        limit = sp.limit(expr / scale, _K, sp.oo)
        if limit != 0:
            return str(scale), int(sp.sign(limit))
    return None


@claim(
    id="grazzi.lemma1.jordan",
    statement="Lemma 1 with Jordan blocks: for h_k = A^k h_0 + Σ_{i<k} A^i b with A = P J P⁻¹, every entry is "
    "Σ_i c_i binom(k, m_i) λ_i^{k−m_i}; with eigenvalues ≥ 0 (a Jordan block of eigenvalue 1 driven by b, which "
    "makes h grow like k², and one of ½) each entry is eventually monotone, so its cast is eventually constant; "
    "with a Jordan block of eigenvalue −1 the even and odd subsequences are, so the cast is eventually of period 2.",
    source="Grazzi et al. 2025, Lemma 1 (App. B), used by Theorems 1 and 2 [U]; the closed forms are ours [✔]",
    method="symbolic",
    tier="full",
)
def lemma1_jordan() -> Evidence:
    half = sp.Rational(1, 2)
    basis = sp.Matrix([[1, 1, 0], [0, 1, 1], [1, 0, 1]])
    systems = {
        "J₂(1) driven ⊕ (½)": (sp.Matrix([[1, 1, 0], [0, 1, 0], [0, 0, half]]), [0, sp.Rational(1, 3), 1], +1),
        "J₂(½) ⊕ (¼)": (sp.Matrix([[half, 1, 0], [0, half, 0], [0, 0, half / 2]]), [1, 1, 0], +1),
        "J₂(−1) ⊕ (½)": (sp.Matrix([[-1, 1, 0], [0, -1, 0], [0, 0, half]]), [0, 1, 1], -1),
    }
    h0 = sp.Matrix([1, -2, half])
    checks, found = {}, {}
    for name, (jordan, drive, sign) in systems.items():
        a, h = _closed_form(jordan, basis, sp.Matrix(drive), h0)
        state, agree = h0, True
        for n in range(10):
            agree &= sp.simplify(h.subs(_K, n) - state) == sp.zeros(3, 1)
            state = a * state + basis * sp.Matrix(drive)
        checks[f"{name}: the closed form equals the recurrence for k = 0 … 9"] = agree
        parts = [h] if sign > 0 else [h.subs(_K, 2 * _K), h.subs(_K, 2 * _K + 1)]
        signs = [[_eventual_sign(sp.simplify(p.subs(_K, _K + 1) - p)[r]) for r in range(3)] for p in parts]
        checks[f"{name}: every entry{'' if sign > 0 else ' of both parities'} eventually monotone"] = all(
            s is not None for row in signs for s in row
        )
        far = [[float(saturate(np.array([float(e)]), "bfloat16")[0]) for e in h.subs(_K, 10**4 + j)] for j in range(4)]
        checks[f"{name}: the bfloat16 casts at k = 10⁴ … 10⁴ + 3 repeat with period {1 if sign > 0 else 2}"] = (
            far[0] == far[1] == far[2] == far[3] if sign > 0 else far[0] == far[2] and far[1] == far[3]
        )
        found[name] = {"h_k": [str(e) for e in h], "eventual_differences": signs, "casts_at_10000": far}
    shown = lambda s: f"{s[0]} {'+' if s[1] > 0 else '−'}" if s else "none"  # noqa: E731
    summary = "; ".join(
        f"{name}: h_{{k+1}} − h_k eventually of scale and sign "
        + ", ".join(shown(s) for row in v["eventual_differences"] for s in row)
        for name, v in found.items()
    )
    return Evidence.from_checks(
        checks,
        "exact (sympy; closed forms in the data): "
        + summary
        + " (for J₂(−1) the even and the odd subsequence, k = 2j and 2j + 1, in j); bfloat16 "
        "casts at k = 10⁴ … 10⁴ + 3 show periods 1, 1, 2",
        found,
    )
