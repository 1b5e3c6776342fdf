"""The registered claims; importing this package registers every one of them."""

from proofs_check.claims import householder, spectrum, factorization, groups, constructions, kernels, stability, negative, bounds, parameterisation, automata, trained, cited  # noqa: F401, I001, E501  # fmt: skip  (registration order = report order)
