"""The multi-layer compiler's former home, kept so that code written against it still imports: every name
is the one of :mod:`theory.programs` (``LayeredProgram`` is :class:`theory.programs.ir.Program`)."""

from theory.programs.group_to_layers import (
    DIHEDRAL_FLIP,
    block_period,
    compile_layers,
    dihedral_fine_labels,
    lookup_table_size,
)
from theory.programs.interpret import SYMBOL_MAPS, Context, Transitions
from theory.programs.ir import Layer
from theory.programs.ir import Program as LayeredProgram
from theory.programs.prove import Proof, prove, prove_blocks

__all__ = [
    "Layer",
    "LayeredProgram",
    "SYMBOL_MAPS",
    "Context",
    "compile_layers",
    "prove",
    "prove_blocks",
    "Proof",
    "block_period",
    "lookup_table_size",
    "Transitions",
    "DIHEDRAL_FLIP",
    "dihedral_fine_labels",
]
