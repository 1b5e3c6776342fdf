"""Claims that compiled one-layer programs are exact and track their word problems through the kernels
(notes/theory.md §7 items 19, 23, 24, 26)."""

from __future__ import annotations

import sympy as sp

from proofs_check.registry import Evidence, claim
from proofs_check.simulate import random_words, simulate
from theory.constructions import compile_group
from theory.groups import orthogonal_rep, parse_group, permutation_rep


def _evidence(cases: list[tuple[str, str]], length: int) -> Evidence:
    """For each (group, rep): exact factor products = ρ(x) for every symbol, the decoder's margin, and a
    float64 run of two random words of ``length`` tokens through the reference kernel backend."""
    parts, data, holds = [], {}, True
    for spec, rep in cases:
        program = compile_group(spec, rep=rep)
        group = parse_group(spec)
        if program.representation == "scalar":
            exact = all(program.factor_product(i) == sp.Matrix([[1 - 2 * i]]) for i in range(2))
        else:
            rho = (permutation_rep if program.representation == "permutation" else orthogonal_rep)(group)
            exact = all(
                all(sp.expand(e) == 0 or sp.simplify(e) == 0 for e in program.factor_product(i) - rho.matrices[i])
                for i in range(group.order)
            )
        margin = sp.sqrt(program.min_readout_distance_squared()) / 2
        run = simulate(program, random_words(group.order, 2, length, seed=3))
        ok = exact and bool(margin > 0) and run.accuracy == 1.0
        holds &= ok
        data[spec] = {
            "rep": program.representation,
            "n_h": program.n_h,
            "dim": program.dim,
            "exact": exact,
            "margin": float(margin),
            "accuracy": run.accuracy,
            "max_state_error": run.max_state_error,
        }
        parts.append(
            f"{spec} ({program.representation}, n_h={program.n_h}, d={program.dim}): products exact {exact}, "
            f"margin {float(margin):.3g}, accuracy {run.accuracy} over 2×{length} tokens (max state error "
            f"{run.max_state_error:.1e})"
        )
    return Evidence(holds, "; ".join(parts), data)


@claim(
    id="grazzi.thm3",
    statement="Every group automaton is implemented by one LRNN layer whose transitions are products of swap "
    "reflections (β ∈ {0, 2}) of its permutation representation, n_h = max_x rank(I − P_x); Z_2 by a scalar "
    "reflection. Checked: parity, S_3 (n_h = 2), S_4 (n_h = 3).",
    source="Grazzi et al. 2025, Theorem 3 and §4.1 [U]; Siems et al. 2025, Theorem 1(i) [DP-sec]; notes §7 item 19",
    method="kernel",
)
def thm3() -> Evidence:
    return _evidence([("Z2", "scalar"), ("S3", "permutation"), ("S4", "permutation")], 10_000)


@claim(
    id="deltaproduct.thm4",
    statement="Groups in SO(3) are tracked by one DeltaProduct layer with n_h = 2 in R³, groups in O(2) with "
    "n_h = 2 in R² (two reflections per symbol, B = 0, nearest-orbit decoding). Checked: S_4, A_4 and A_5 in "
    "SO(3) (keys: the solids' mirror normals, in ℚ(√2) and ℚ(√5)), D_8 and Z_12 in O(2).",
    source="Siems et al. 2025, Theorem 4 [DP-sec, DP-quote]; notes §3.7 and §7 items 24, 26 [RECON]",
    method="kernel",
)
def thm4() -> Evidence:
    cases = [
        ("S4", "orthogonal"),
        ("A4", "orthogonal"),
        ("A5", "orthogonal"),
        ("D8", "orthogonal"),
        ("Z12", "orthogonal"),
    ]
    return _evidence(cases, 10_000)


@claim(
    id="deltaproduct.thm1i_s5",
    statement="S_5 through permutations with n_h = 4 (= n − 1) is tracked exactly by one layer.",
    source="Siems et al. 2025, Theorem 1(i) [DP-sec]; notes §7 item 26",
    method="kernel",
    tier="full",
)
def thm1i_s5() -> Evidence:
    return _evidence([("S5", "permutation")], 10_000)
