"""The studies' former home, kept so that code written against it still imports: the names of
:mod:`proofs_check.studies` (products, kernels, constructions) and the program error model
:func:`theory.error_models.kernel_safe_lengths`."""

from proofs_check.studies import KERNEL_BETAS, KERNEL_GATES, kernel_inputs
from proofs_check.studies.constructions import (
    CONSTRUCTION_LAYERED,
    CONSTRUCTION_PROGRAMS,
    plot_constructions,
    run_constructions,
)
from proofs_check.studies.kernels import (
    KERNEL_RUNS,
    check_kernel,
    kernel_errors,
    kernel_models,
    kernel_operands,
    plot_kernels,
    run_contraction,
    run_kernels,
    verdict,
)
from proofs_check.studies.products import SETTINGS, plot_products, run_products
from theory.error_models import kernel_safe_lengths

__all__ = [
    "SETTINGS",
    "run_products",
    "plot_products",
    "kernel_errors",
    "check_kernel",
    "kernel_models",
    "kernel_operands",
    "run_contraction",
    "verdict",
    "run_kernels",
    "kernel_inputs",
    "plot_kernels",
    "run_constructions",
    "kernel_safe_lengths",
    "plot_constructions",
    "KERNEL_BETAS",
    "KERNEL_GATES",
    "KERNEL_RUNS",
    "CONSTRUCTION_PROGRAMS",
    "CONSTRUCTION_LAYERED",
]
