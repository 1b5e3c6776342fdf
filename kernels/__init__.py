"""Execution: float64 references and Triton kernels for (gated) DeltaProduct (never imports theory).

``delta_product`` is the one entry point (see its docstring); ``kernels.reference`` holds the PyTorch
references. Triton is imported lazily through :func:`kernels.runtime.load_triton`, which runs kernels in
the Triton interpreter on machines without a CUDA GPU.
"""

from kernels.api import BACKENDS, CHUNK_SIZES, MODES, check_deferred, delta_product
from kernels.runtime import cuda_available, interpreting, load_triton

__all__ = [
    "BACKENDS",
    "CHUNK_SIZES",
    "MODES",
    "check_deferred",
    "delta_product",
    "cuda_available",
    "interpreting",
    "load_triton",
]
