"""Programs: one IR for every compiled DeltaProduct program and the stages that make, interpret and prove it.

Stages, each named by what it transforms: :mod:`~theory.programs.group_to_program` (a group → a one-layer
program), :mod:`~theory.programs.group_to_layers` (a group → a multi-layer program),
:mod:`~theory.programs.interpret` (program × words → exact states and decoded elements),
:mod:`~theory.programs.prove` (program → :class:`Proof` for all lengths), :mod:`~theory.programs.codec`
(JSON document → validated, proved program) and :mod:`~theory.programs.tensors` (program ↔ safetensors).
The IR itself is :mod:`~theory.programs.ir`.
"""

from theory.programs.codec import program_from_json
from theory.programs.group_to_layers import block_period, compile_layers, lookup_table_size
from theory.programs.group_to_program import compile_group
from theory.programs.interpret import Context, Run, Transitions, run
from theory.programs.ir import BudgetError, Layer, Program
from theory.programs.prove import Proof, prove, prove_blocks

__all__ = [
    "BudgetError",
    "Context",
    "Layer",
    "Program",
    "Proof",
    "Run",
    "Transitions",
    "block_period",
    "compile_group",
    "compile_layers",
    "lookup_table_size",
    "program_from_json",
    "prove",
    "prove_blocks",
    "run",
]
