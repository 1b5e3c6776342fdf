"""Execution: float64 references and Triton kernels for (gated) DeltaProduct (never imports theory).

Triton is imported lazily through :func:`kernels.runtime.load_triton`, which runs kernels in the Triton
interpreter on machines without a CUDA GPU. The kernels and their ``delta_product`` entry point are the
subject of the Kernels issue.
"""

from kernels.runtime import cuda_available, interpreting, load_triton

__all__ = ["cuda_available", "interpreting", "load_triton"]
