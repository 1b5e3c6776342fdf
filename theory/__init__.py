"""The mathematics of products of generalized Householder matrices (never imports kernels or proofs_check).

Modules: :mod:`theory.numbers` (the four number systems), :mod:`theory.formats` (floating-point formats,
correctly rounded casts, unit roundoff), :mod:`theory.householder` (GH factors, products, the DeltaProduct
token map, the compact UT/WY form), :mod:`theory.spectrum` (eigenvalues, norms, the n_h = 2 criterion,
reachable spectra), :mod:`theory.factorize` (matrices → GH factors), :mod:`theory.groups` (finite groups via
sympy.combinatorics and their faithful orthogonal representations), :mod:`theory.documents` (files as data),
:mod:`theory.programs` (one program IR: groups → one- and multi-layer DeltaProduct programs, their exact
interpreter and proofs) and :mod:`theory.error_models` (rounding error of products, kernels and programs).
"""

from theory.factorize import (
    GHFactors,
    contraction_factors,
    diagonal_factors,
    gh_factorize,
    orthogonal_reflections,
    permutation_swaps,
    rotation_reflections,
)
from theory.groups import Group, Representation, orthogonal_rep, parse_group, permutation_rep
from theory.householder import (
    compact_product,
    gh_factor,
    gh_product,
    ogd_step,
    substep_recurrence,
    token_map,
    ut_transform,
)
from theory.numbers import number_system, unit_roundoff
from theory.programs import BudgetError, Program, Proof, compile_group, compile_layers, prove
from theory.spectrum import (
    determinant,
    eigenvalues,
    nh2_discriminant,
    nh2_has_nonreal_eigenvalues,
    nh2_trace_det,
    sample_reachable_spectrum,
    spectral_norm,
    update_rank,
)

__all__ = [
    "BudgetError",
    "Program",
    "Proof",
    "compile_group",
    "compile_layers",
    "prove",
    "GHFactors",
    "Group",
    "Representation",
    "orthogonal_rep",
    "parse_group",
    "permutation_rep",
    "compact_product",
    "contraction_factors",
    "determinant",
    "diagonal_factors",
    "eigenvalues",
    "gh_factor",
    "gh_factorize",
    "gh_product",
    "nh2_discriminant",
    "nh2_has_nonreal_eigenvalues",
    "nh2_trace_det",
    "number_system",
    "ogd_step",
    "orthogonal_reflections",
    "permutation_swaps",
    "rotation_reflections",
    "sample_reachable_spectrum",
    "spectral_norm",
    "substep_recurrence",
    "token_map",
    "unit_roundoff",
    "update_rank",
    "ut_transform",
]
