"""Compiled programs as safetensors files: float64 tensors for kernels and other tools, with the exact
program inside.

:func:`save` writes, per layer l (a one-layer :class:`theory.constructions.Program` is layer 0 with zero
values): ``layer{l}.keys`` [symbols, n_h, d], ``layer{l}.betas`` [symbols, n_h], ``layer{l}.values``
[symbols, n_h], ``layer{l}.initial_state`` [d] and ``layer{l}.readouts`` [R, d], all float64 (each entry
the exact value rounded once), and the exact JSON document of the program in the metadata under
``program``. :func:`load` returns the exact program and refuses a file whose tensors are not the rounding
of that program (edited tensors, or metadata from another file).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from theory.constructions import Program
from theory.layered import LayeredProgram

__all__ = ["save", "load", "tensors"]


def _array(x) -> np.ndarray:
    return np.array(x, dtype=object).astype(np.float64)


def tensors(program: Program | LayeredProgram) -> dict[str, np.ndarray]:
    """The float64 tensors of every layer, named as in the module docstring."""
    layers = program.layers if isinstance(program, LayeredProgram) else (program,)
    out = {}
    for index, layer in enumerate(layers):
        keys = _array(layer.keys)
        out[f"layer{index}.keys"] = keys
        out[f"layer{index}.betas"] = _array(layer.betas)
        out[f"layer{index}.values"] = (
            _array(layer.values) if isinstance(program, LayeredProgram) else np.zeros(keys.shape[:2])
        )
        out[f"layer{index}.initial_state"] = _array(layer.initial_state)
        out[f"layer{index}.readouts"] = _array(layer.readouts)
    return out


def save(program: Program | LayeredProgram, path: str | Path) -> None:
    save_file(tensors(program), str(path), metadata={"program": program.to_json()})


def load(path: str | Path) -> Program | LayeredProgram:
    with safe_open(str(path), framework="numpy") as f:
        metadata = f.metadata() or {}
        stored = {name: f.get_tensor(name) for name in f.keys()}
    if "program" not in metadata:
        raise ValueError(f"path: {path} has no 'program' metadata; it was not written by theory.tensors.save")
    text = metadata["program"]
    kind = json.loads(text).get("format")
    program = LayeredProgram.from_json(text) if kind == "deltaproof.layered/1" else Program.from_json(text)
    expected = tensors(program)
    if set(stored) != set(expected) or any(not np.array_equal(stored[k], expected[k]) for k in expected):
        raise ValueError(f"path: the tensors in {path} are not the float64 rounding of its program metadata")
    return program
