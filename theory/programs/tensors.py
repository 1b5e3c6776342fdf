"""Compiled programs as safetensors files: float64 tensors for kernels and other tools, with the exact
program inside.

:func:`save` writes, per layer l: ``layer{l}.keys`` [symbols, n_h, d], ``layer{l}.betas`` [symbols, n_h],
``layer{l}.values`` [symbols, n_h], ``layer{l}.initial_state`` [d], ``layer{l}.readouts`` [R, d] and, for
a layer with resets, ``layer{l}.log_gates`` [symbols] (−inf at a reset, 0 elsewhere), all float64 (each
entry the exact value rounded once); the ``chain`` tables of DFA programs as int64 (``layer{l}.lookup``, and
``decoder`` for the chain decoder; −1 where no word goes); and the exact JSON document of the program in
the metadata under ``program``. :func:`load` reads that document with the validating loaders (nothing is
evaluated; the program is re-proved) and refuses a file whose tensors are not the rounding of that
program (edited tensors, or metadata from another file): every refusal is a
:class:`theory.documents.DocumentError`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from theory.documents import MAX_DOCUMENT, DocumentError
from theory.programs.codec import program_from_json
from theory.programs.ir import MAX_ORDER, Program

__all__ = ["save", "load", "tensors"]


def _array(x) -> np.ndarray:
    return np.array(x, dtype=object).astype(np.float64)


def tensors(program: Program) -> dict[str, np.ndarray]:
    """The tensors of every layer (and the chain decoder), named as in the module docstring."""
    out = {}
    for index, layer in enumerate(program.layers):
        out[f"layer{index}.keys"] = _array(layer.keys)
        out[f"layer{index}.betas"] = _array(layer.betas)
        out[f"layer{index}.values"] = _array(layer.values)
        out[f"layer{index}.initial_state"] = _array(layer.initial_state)
        out[f"layer{index}.readouts"] = _array(layer.readouts)
        if layer.resets:
            out[f"layer{index}.log_gates"] = layer.log_gates()
        if layer.lookup:
            out[f"layer{index}.lookup"] = np.array(layer.lookup, dtype=np.int64)
    if program.decoder_name == "chain":
        out["decoder"] = np.array(program.decoder, dtype=np.int64)
    return out


def save(program: Program, path: str | Path) -> None:
    """Write the float64 tensors of ``program`` and its exact document (see the module)."""
    save_file(tensors(program), str(path), metadata={"program": program.to_json()})


def load(path: str | Path, *, max_order: int = MAX_ORDER) -> Program:
    """The exact program of a file written by :func:`save`, validated and re-proved (see the module)."""
    path = Path(path)
    if not path.is_file():
        raise DocumentError("path", f"expected a safetensors file, got {'a folder' if path.is_dir() else 'nothing'} "
                                    f"at {path}")  # fmt: skip
    if path.stat().st_size > 4 * MAX_DOCUMENT:
        raise DocumentError("path", f"expected a program file of at most {4 * MAX_DOCUMENT} bytes, got "
                                    f"{path.stat().st_size} at {path}")  # fmt: skip
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            stored = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError, TypeError) as err:
        raise DocumentError("path", f"expected a safetensors file, got one safetensors cannot read: {err}") from None
    if "program" not in metadata:
        message = f"{path} has no 'program' metadata; it was not written by theory.programs.tensors.save"
        raise DocumentError("metadata", message)
    program = program_from_json(metadata["program"], max_order=max_order, field="metadata.program")
    expected = tensors(program)
    if set(stored) != set(expected) or any(
        stored[k].shape != expected[k].shape or not np.array_equal(stored[k], expected[k]) for k in expected
    ):
        raise DocumentError("tensors", f"the tensors in {path} are not the float64 rounding of its program metadata")
    return program
