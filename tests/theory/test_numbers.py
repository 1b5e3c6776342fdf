"""Number systems: which system a value belongs to, unit roundoff, the unit-key tolerance."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp
import torch

from theory import gh_product
from theory.numbers import Exact, Mpmath, Numpy, Torch, number_system, unit_roundoff


@pytest.mark.parametrize(
    "value, kind",
    [
        (sp.Matrix([[1, 0]]), Exact),
        ([[sp.sqrt(2) / 2, sp.sqrt(2) / 2]], Exact),
        ([[1, 0]], Exact),
        (np.eye(2), Numpy),
        (np.eye(2, dtype=int), Exact),
        (np.eye(2, dtype=np.float16), Numpy),
        ([[0.5, 0.5]], Numpy),
        (torch.eye(2, dtype=torch.bfloat16), Torch),
        (mpmath.matrix([[1, 0]]), Mpmath),
        (np.array([[mpmath.mpf(1), mpmath.mpf(0)]], dtype=object), Mpmath),
    ],
)
def test_number_system_is_chosen_by_the_value(value, kind):
    assert isinstance(number_system(value), kind)


@pytest.mark.parametrize(
    "dtype, torch_dtype",
    [
        ("float64", torch.float64),
        (np.float32, torch.float32),
        (np.dtype("float16"), torch.float16),
        (torch.bfloat16, torch.bfloat16),
    ],
)
def test_unit_roundoff_matches_the_format(dtype, torch_dtype):
    assert unit_roundoff(dtype) == torch.finfo(torch_dtype).eps / 2  # torch's machine epsilon is 2u


def test_unknown_dtype_is_refused():
    with pytest.raises(TypeError, match="dtype: expected one of"):
        unit_roundoff(np.int32)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("dim", [1, 3, 8, 64, 256])
def test_keys_normalised_in_a_format_pass_its_unit_check(dtype, dim):
    """The tolerance 2(d + 4)u admits every key normalised in that format (here 200 random ones)."""
    x = torch.randn(200, dim, generator=torch.Generator().manual_seed(dim)).to(dtype)
    k = x / torch.linalg.vector_norm(x, dim=1, keepdim=True)
    system = number_system(k)
    worst = max(system.unit_residual(k[i : i + 1].T) for i in range(200))
    assert worst <= system.unit_tolerance(dim)


def test_mpmath_precision_follows_the_context():
    with mpmath.workdps(60):
        k = np.array([[mpmath.sqrt(2) / 2, mpmath.sqrt(2) / 2]], dtype=object)
        a = gh_product(k, [mpmath.mpf(2)])
        assert abs(a[0, 1] + 1) < mpmath.mpf("1e-55")
        with pytest.raises(ValueError, match="unit-norm"):
            gh_product(k * (1 + mpmath.mpf("1e-30")), [mpmath.mpf(2)])


def test_exact_refuses_floats_by_name():
    with pytest.raises(TypeError, match="keys: exact arithmetic needs exact entries"):
        gh_product([[sp.Float(0.6), sp.Rational(4, 5)]], [1])


def test_integer_and_complex_inputs():
    assert gh_product(np.array([[0, 1]]), [2]) == sp.Matrix([[1, 0], [0, -1]])
    with pytest.raises(TypeError, match="keys: expected a real floating-point tensor, got dtype torch.int64"):
        gh_product(torch.tensor([[0, 1]]), [2])
    with pytest.raises(TypeError, match="keys: expected a real float or integer array, got dtype complex128"):
        gh_product(np.array([[1j, 0]]), [2])


def test_exact_arithmetic_never_evaluates_text(tmp_path, monkeypatch):
    """sympy turns strings into numbers by evaluating them as Python; the exact system refuses them by name."""
    monkeypatch.chdir(tmp_path)
    code = "__import__('os').system('touch owned')"
    with pytest.raises(TypeError, match="keys: expected sympy numbers, got the string"):
        gh_product([[sp.Integer(1), code]], [2])
    with pytest.raises(TypeError, match=r"betas\[0\]: expected sympy numbers, got the string '2'"):
        gh_product(sp.Matrix([[1, 0]]), ["2"])
    from theory import nh2_has_nonreal_eigenvalues

    with pytest.raises(TypeError, match="c: expected sympy numbers, got the string"):
        nh2_has_nonreal_eigenvalues(code, 2, 2)
    assert not (tmp_path / "owned").exists()
