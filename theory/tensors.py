"""Safetensors program files' former home, kept so that code written against it still imports: the names of
:mod:`theory.programs.tensors` and :func:`theory.programs.codec.program_from_json`."""

from theory.programs.codec import program_from_json
from theory.programs.tensors import load, save, tensors

__all__ = ["save", "load", "tensors", "program_from_json"]
