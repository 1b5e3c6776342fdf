"""Where kernels run: a CUDA GPU when there is one, otherwise the Triton interpreter on the CPU.

Triton decides between compiled and interpreted execution when a kernel is *defined* (``@triton.jit``
reads ``TRITON_INTERPRET`` then), so every module of this package that defines Triton kernels imports
Triton through :func:`load_triton`, lazily, never at package import. On a machine without a CUDA device
it switches the interpreter on first, so users and tests never have to set the variable.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

__all__ = ["cuda_available", "load_triton", "interpreting"]


def cuda_available() -> bool:
    """True when torch sees a CUDA device."""
    import torch

    return bool(torch.cuda.is_available())


def interpreting() -> bool:
    """True when Triton kernels defined from now on run in the interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def load_triton() -> ModuleType:
    """Import Triton for defining kernels, with the interpreter switched on where there is no GPU.

    Raises a clear error where Triton cannot run: not installed, or no GPU while ``TRITON_INTERPRET``
    was explicitly set to 0.
    """
    if not cuda_available():
        setting = os.environ.get("TRITON_INTERPRET")
        if setting is None:
            os.environ["TRITON_INTERPRET"] = "1"
        elif setting in ("", "0"):
            raise RuntimeError(
                "TRITON_INTERPRET=0 but there is no CUDA GPU: Triton kernels can only run on the CPU in the "
                "interpreter; unset TRITON_INTERPRET (deltaproof then sets it) or set it to 1"
            )
    try:
        import triton
    except ImportError as err:
        raise RuntimeError(
            "Triton is not installed: it is a dependency of deltaproof on Linux (pip install triton); "
            f"on {sys.platform} use the reference backend"
        ) from err
    if interpreting():
        _skip_helper_repatching()
    return triton


def _skip_helper_repatching() -> None:
    """Make the interpreter skip re-patching ``triton.language`` on a ``@triton.jit`` helper call where it is
    patched already.

    Triton's interpreter (3.x) patches the language modules a function sees (``tl``, ``tl.core``) for the
    interpreter when a kernel is launched (restored when the grid is done), and again on every call of a helper
    from the running kernel (``InterpretedFunction.__call__``: ``inspect.getmembers`` over the modules, never
    restored). Where the helper's modules are patched already (``full``, a builtin of both, is no longer the
    builtin) that second patch changes nothing; it cost about a third of our kernels' interpreted time
    (``precise_dot`` and ``tf32_round`` are helpers called thousands of times a launch). Where they are not
    (``tl.zeros``, from ``triton.language.standard``, sees ``tl.core``, which a launch of ours never patches)
    Triton's own call runs. Left alone where the interpreter does not have that shape."""
    import triton.language as tl
    from triton.runtime import interpreter

    function = getattr(interpreter, "InterpretedFunction", None)
    if function is None or not hasattr(function, "rewrite") or getattr(function, "patch_once", False):
        return
    patching_call = function.__call__
    languages: dict = {}  # helper → the language modules it sees

    def call(self, *args, **kwargs):
        if self.fn not in languages:
            languages[self.fn] = [m for m in self.fn.__globals__.values() if m is tl or m is tl.core]
        if any(tl.core.is_builtin(getattr(m, "full", None)) for m in languages[self.fn]):
            return patching_call(self, *args, **kwargs)
        try:
            return self.rewrite()(*args, **kwargs)
        except Exception as err:  # as Triton's own call reports a helper's failure
            raise interpreter.InterpreterError(repr(err)) from err

    function.__call__ = call
    function.patch_once = True
