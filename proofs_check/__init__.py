"""Claims of the DeltaProduct and "negative eigenvalues" papers, their machine checks, and the CLI.

Uses :mod:`theory` and :mod:`kernels`; neither of them imports this package.
"""

from proofs_check.registry import Claim, Evidence, Result, Skip, claim, claims, run_claim, run_claims, select

__all__ = ["Claim", "Evidence", "Result", "Skip", "claim", "claims", "run_claim", "run_claims", "select"]
