"""The one-layer compiler's former home, kept so that code written against it still imports: every name
is the one of :mod:`theory.programs` (one program IR; ``Program`` of one layer, ``ProgramProof`` is
:class:`theory.programs.prove.Proof`, ``prove_program`` is :func:`theory.programs.prove.prove`)."""

from theory.programs.codec import check_beta, check_unit_keys, read_group
from theory.programs.group_to_program import REPRESENTATIONS, compile_group
from theory.programs.ir import MAX_NH, MAX_ORDER, BudgetError, Program, exact_texts, is_zero
from theory.programs.prove import Proof as ProgramProof
from theory.programs.prove import prove as prove_program

__all__ = [
    "Program",
    "ProgramProof",
    "compile_group",
    "prove_program",
    "BudgetError",
    "REPRESENTATIONS",
    "MAX_ORDER",
    "MAX_NH",
    "is_zero",
    "exact_texts",
    "read_group",
    "check_beta",
    "check_unit_keys",
]
