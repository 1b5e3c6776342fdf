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
    return triton
