"""Number systems behind one API: exact (sympy), numpy, torch and arbitrary precision (mpmath).

Every function of :mod:`theory` takes its matrices in one of four number systems and answers in the
same one. The caller chooses the system by what it passes:

============  ======================================================  ==============================
system        what the caller passes                                  arithmetic
============  ======================================================  ==============================
``exact``     sympy matrices / numbers (``sympy.Rational``, surds,    exact: rationals and surds stay
              symbols), Python ints, integer numpy arrays             exact; floats are refused
``numpy``     ``numpy.ndarray`` of float16 / float32 / float64        every operation in that dtype
``torch``     ``torch.Tensor`` of any float dtype (bfloat16 too)      every operation in that dtype,
              on any device                                           on that device
``mpmath``    ``mpmath.matrix``, ``mpmath.mpf`` or numpy object        ``mpmath.mp.prec`` bits
              arrays of ``mpf``                                       (answers: object arrays of mpf)
============  ======================================================  ==============================

Python lists of plain floats are taken as numpy float64. The *keys* argument of a function decides the
system; its other arguments (betas, values, states, gates) are converted into it.

Matrices are 2-D in every system; a vector is a d×1 column when it enters a product, so that
``k @ k.T`` is the outer product k kᵀ everywhere.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from theory.formats import unit_roundoff

__all__ = [
    "NumberSystem",
    "Exact",
    "Numpy",
    "Torch",
    "Mpmath",
    "number_system",
    "unit_roundoff",
    "as_rows",
    "as_square",
    "exact_number",
]


class NumberSystem(ABC):
    """The arithmetic of one number system: how to build, convert and inspect its matrices."""

    name: str
    exact: bool

    @abstractmethod
    def matrix(self, x: Any, *, name: str) -> Any:
        """Convert ``x`` (2-D, or 1-D taken as one row) into a 2-D matrix of this system."""

    @abstractmethod
    def scalar(self, x: Any, *, name: str) -> Any:
        """Convert a real number into this system."""

    @abstractmethod
    def eye(self, n: int) -> Any: ...

    @abstractmethod
    def zeros(self, rows: int, cols: int) -> Any: ...

    @abstractmethod
    def copy(self, m: Any) -> Any: ...

    @abstractmethod
    def sqrt(self, x: Any) -> Any:
        """Square root of a non-negative scalar of this system."""

    def norm(self, col: Any) -> Any:
        """Euclidean norm of a column, in this system's arithmetic."""
        return self.sqrt((col.T @ col)[0, 0])

    @abstractmethod
    def to_float64(self, m: Any) -> np.ndarray:
        """The matrix as a numpy float64 array (exact values rounded once)."""

    @abstractmethod
    def is_number(self, x: Any) -> bool:
        """True when ``x`` is a concrete number (not a symbolic expression)."""

    @abstractmethod
    def unit_residual(self, key: Any) -> Any:
        """|‖k‖² − 1| for a column ``key`` (exact: the simplified expression ‖k‖² − 1)."""

    @abstractmethod
    def unit_tolerance(self, dim: int) -> float:
        """How far |‖k‖² − 1| may be from 0 for a key of dimension ``dim`` to count as unit."""

    def describe(self) -> str:
        """The system and its format, for messages: 'exact', 'numpy float32', 'torch bfloat16', …"""
        if isinstance(self, Mpmath):
            return f"mpmath at {mpmath.mp.prec} bits"
        dtype = getattr(self, "dtype", None)
        return self.name if dtype is None else f"{self.name} {str(dtype).replace('torch.', '')}"

    def shape(self, m: Any) -> tuple[int, int]:
        return tuple(int(s) for s in m.shape)  # type: ignore[return-value]

    def column(self, m: Any, i: int) -> Any:
        """Row ``i`` of ``m`` as a d×1 column."""
        return self.copy(m[i : i + 1, :]).T

    def is_unit(self, key: Any) -> bool:
        if self.exact:
            return sp.simplify(self.unit_residual(key)) == 0
        return float(self.unit_residual(key)) <= self.unit_tolerance(self.shape(key)[0])

    def check_finite(self, m: Any, *, name: str) -> None:
        if not self.exact and not np.all(np.isfinite(self.to_float64(m))):
            raise ValueError(f"{name}: expected finite numbers, got NaN or infinity in {m!r}")


def _leaf(x: Any) -> Any:
    """The first scalar of a (possibly nested) sequence, to tell which number system it comes from."""
    while isinstance(x, (list, tuple)) and len(x) > 0:
        x = x[0]
    return x


def _is_mpmath(x: Any) -> bool:
    if isinstance(x, (mpmath.matrix, mpmath.mpf, mpmath.mpc)):
        return True
    return isinstance(x, np.ndarray) and x.dtype == object and x.size > 0 and isinstance(x.flat[0], mpmath.mpf)


def number_system(x: Any, *, name: str = "keys") -> NumberSystem:
    """The number system a value belongs to (see the module docstring for the rules).

    Integer numpy arrays count as exact; integer and complex tensors are refused (``name`` is the
    argument named in the error).
    """
    torch = _torch_if_loaded()
    if torch is not None and isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise TypeError(
                f"{name}: expected a real floating-point tensor, got dtype {x.dtype}; convert with .double()"
            )
        return Torch(x.dtype, x.device)
    if _is_mpmath(x) or _is_mpmath(_leaf(x)):
        return Mpmath()
    if isinstance(x, (sp.MatrixBase, sp.Basic)) or isinstance(_leaf(x), sp.Basic):
        return Exact()
    if isinstance(x, np.ndarray):
        if x.dtype == object or x.dtype.kind in "iub":
            return Exact()
        if x.dtype.kind != "f":
            raise TypeError(f"{name}: expected a real float or integer array, got dtype {x.dtype}")
        return Numpy(x.dtype)
    if isinstance(_leaf(x), (int, np.integer)) and not isinstance(_leaf(x), bool):
        return Exact()
    return Numpy(np.dtype(np.float64))


def exact_number(x: Any, *, name: str) -> sp.Expr:
    """A value as a sympy number, converted by its type alone: sympy objects as they are, integers (numpy's
    too) as ``Integer``, ``Fraction`` as ``Rational``. Anything else is refused naming the argument — strings
    above all, which sympy would evaluate as Python (exact numbers read from text go through
    :func:`theory.documents.exact_from_text`)."""
    _refuse_text(x, name=name)
    if isinstance(x, sp.Basic):
        return x
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        return sp.Integer(int(x))
    if isinstance(x, Fraction):
        return sp.Rational(x.numerator, x.denominator)
    raise TypeError(f"{name}: expected a sympy number, an integer or a Fraction, got {type(x).__name__} {x!r:.40}")


def _refuse_text(x: Any, *, name: str) -> None:
    """Strings are never turned into numbers here (sympy would evaluate them as Python): exact numbers read
    from text go through :func:`theory.documents.exact_from_text`."""
    if isinstance(x, str):
        raise TypeError(f"{name}: expected sympy numbers, got the string {x[:40]!r}; text is never evaluated: "
                        "parse it with theory.documents.exact_from_text")  # fmt: skip
    if isinstance(x, (list, tuple)):
        for item in x:
            _refuse_text(item, name=name)


def _torch_if_loaded():
    """torch, if it was imported (a torch tensor can only exist then); avoids importing torch here."""
    return sys.modules.get("torch")


@dataclass(frozen=True)
class Exact(NumberSystem):
    """Exact arithmetic in sympy: entries are rationals, surds or symbolic expressions."""

    name: str = "exact"
    exact: bool = True

    def matrix(self, x: Any, *, name: str) -> sp.Matrix:
        if isinstance(x, np.ndarray):
            x = x.tolist()
        if isinstance(x, (list, tuple)) and len(x) > 0 and not isinstance(x[0], (list, tuple)):
            x = [list(x)]
        _refuse_text(x, name=name)
        try:
            m = sp.Matrix(x)
        except (TypeError, ValueError, sp.SympifyError) as err:
            raise TypeError(f"{name}: expected a matrix of sympy numbers, got {x!r}") from err
        self._refuse_floats(m, name=name)
        return m

    def scalar(self, x: Any, *, name: str) -> sp.Expr:
        if isinstance(x, float):
            raise TypeError(
                f"{name}: exact arithmetic needs exact numbers, got the float {x!r}; pass a sympy number "
                "(sympy.Rational(1, 2), sympy.sqrt(2)/2) or use a numeric system (numpy, torch, mpmath)"
            )
        v = exact_number(x, name=name)
        self._refuse_floats(sp.Matrix([v]), name=name)
        return v

    @staticmethod
    def _refuse_floats(m: sp.MatrixBase, *, name: str) -> None:
        if any(e.has(sp.Float) for e in m):
            raise TypeError(
                f"{name}: exact arithmetic needs exact entries, got a float in {m.tolist()}; pass sympy "
                "numbers (sympy.Rational, sympy.sqrt) or use a numeric system (numpy, torch, mpmath)"
            )

    def eye(self, n: int) -> sp.Matrix:
        return sp.eye(n)

    def zeros(self, rows: int, cols: int) -> sp.Matrix:
        return sp.zeros(rows, cols)

    def copy(self, m: Any) -> sp.Matrix:
        return sp.Matrix(m)

    def sqrt(self, x: Any) -> sp.Expr:
        return sp.sqrt(sp.nsimplify(sp.simplify(x)))

    def to_float64(self, m: Any) -> np.ndarray:
        return np.array(sp.Matrix(m).evalf(20).tolist(), dtype=np.float64)

    def is_number(self, x: Any) -> bool:
        return bool(exact_number(x, name="x").is_number)

    def unit_residual(self, key: Any) -> sp.Expr:
        return sp.simplify((key.T * key)[0, 0] - 1)

    def unit_tolerance(self, dim: int) -> float:
        return 0.0


@dataclass(frozen=True)
class Numpy(NumberSystem):
    """numpy arithmetic in one float dtype (float16, float32, float64)."""

    dtype: np.dtype = np.dtype(np.float64)
    name: str = "numpy"
    exact: bool = False

    def matrix(self, x: Any, *, name: str) -> np.ndarray:
        try:
            m = np.asarray(x, dtype=self.dtype)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name}: expected real numbers convertible to {self.dtype}, got {x!r}") from err
        return _two_d(m, name=name)

    def scalar(self, x: Any, *, name: str) -> np.floating:
        try:
            return self.dtype.type(x)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name}: expected a real number, got {x!r}") from err

    def eye(self, n: int) -> np.ndarray:
        return np.eye(n, dtype=self.dtype)

    def zeros(self, rows: int, cols: int) -> np.ndarray:
        return np.zeros((rows, cols), dtype=self.dtype)

    def copy(self, m: Any) -> np.ndarray:
        return np.array(m, dtype=self.dtype)

    def sqrt(self, x: Any) -> np.floating:
        return np.sqrt(x)

    def to_float64(self, m: Any) -> np.ndarray:
        return np.asarray(m, dtype=np.float64)

    def is_number(self, x: Any) -> bool:
        return True

    def unit_residual(self, key: Any) -> float:
        k = self.to_float64(key)
        return abs(float(np.sum(k * k)) - 1.0)

    def unit_tolerance(self, dim: int) -> float:
        return _unit_tolerance(dim, unit_roundoff(self.dtype))


def _two_d(m: Any, *, name: str) -> Any:
    """A 1-D array as one row; anything but 1-D or 2-D refused."""
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2:
        raise ValueError(f"{name}: expected a 1-D or 2-D array, got shape {tuple(m.shape)}")
    return m


def _unit_tolerance(dim: int, u: float) -> float:
    """Tolerance on |‖k‖² − 1| for a key normalised in a format with unit roundoff u.

    Normalising k ← x/‖x‖ in that format computes ‖x‖ with relative error ≤ (d/2 + 1)u (d products and
    sums, one square root) and rounds each quotient once (≤ u), so ‖k‖ = 1 + θ with |θ| ≤ (d/2 + 2)u
    to first order and |‖k‖² − 1| ≤ (d + 4)u; the tolerance doubles that for second-order terms.
    """
    return 2.0 * (dim + 4) * u


@dataclass(frozen=True)
class Torch(NumberSystem):
    """torch arithmetic in one float dtype (bfloat16, float16, float32, float64) on one device."""

    dtype: Any = None
    device: Any = None
    name: str = "torch"
    exact: bool = False

    def matrix(self, x: Any, *, name: str):
        import torch

        try:
            m = torch.as_tensor(x, dtype=self.dtype, device=self.device)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name}: expected real numbers convertible to {self.dtype}, got {x!r}") from err
        return _two_d(m, name=name)

    def scalar(self, x: Any, *, name: str):
        import torch

        try:
            return torch.as_tensor(x, dtype=self.dtype, device=self.device).reshape(())
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name}: expected a real number, got {x!r}") from err

    def eye(self, n: int):
        import torch

        return torch.eye(n, dtype=self.dtype, device=self.device)

    def zeros(self, rows: int, cols: int):
        import torch

        return torch.zeros(rows, cols, dtype=self.dtype, device=self.device)

    def copy(self, m: Any):
        return m.clone()

    def sqrt(self, x: Any):
        return x.sqrt()

    def to_float64(self, m: Any) -> np.ndarray:
        import torch

        return m.detach().to("cpu", dtype=torch.float64).numpy()

    def is_number(self, x: Any) -> bool:
        return True

    def unit_residual(self, key: Any) -> float:
        k = self.to_float64(key)
        return abs(float(np.sum(k * k)) - 1.0)

    def unit_tolerance(self, dim: int) -> float:
        return _unit_tolerance(dim, unit_roundoff(self.dtype))


@dataclass(frozen=True)
class Mpmath(NumberSystem):
    """Arbitrary precision: numpy object arrays of ``mpmath.mpf`` at ``mpmath.mp.prec`` bits."""

    name: str = "mpmath"
    exact: bool = False

    def matrix(self, x: Any, *, name: str) -> np.ndarray:
        if isinstance(x, mpmath.matrix):
            x = x.tolist()
        m = _two_d(np.array(x, dtype=object), name=name)
        return np.vectorize(lambda e: self.scalar(e, name=name), otypes=[object])(m)

    def scalar(self, x: Any, *, name: str) -> mpmath.mpf:
        if isinstance(x, sp.Basic):
            x = sp.N(x, mpmath.mp.dps + 5)
        try:
            return mpmath.mpf(x)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name}: expected a real number, got {x!r}") from err

    def eye(self, n: int) -> np.ndarray:
        m = self.zeros(n, n)
        for i in range(n):
            m[i, i] = mpmath.mpf(1)
        return m

    def zeros(self, rows: int, cols: int) -> np.ndarray:
        m = np.empty((rows, cols), dtype=object)
        m[...] = mpmath.mpf(0)
        return m

    def copy(self, m: Any) -> np.ndarray:
        return np.array(m, dtype=object)

    def sqrt(self, x: Any) -> mpmath.mpf:
        return mpmath.sqrt(x)

    def to_float64(self, m: Any) -> np.ndarray:
        return np.asarray(m, dtype=np.float64)

    def is_number(self, x: Any) -> bool:
        return True

    def unit_residual(self, key: Any) -> mpmath.mpf:
        return abs(mpmath.fsum(e * e for e in key.flat) - 1)

    def unit_tolerance(self, dim: int) -> float:
        return _unit_tolerance(dim, 2.0**-mpmath.mp.prec)


def as_square(x: Any, *, name: str) -> tuple[NumberSystem, Any]:
    """``x`` as a non-empty, finite square matrix of its own number system."""
    system = number_system(x, name=name)
    m = system.matrix(x, name=name)
    rows, cols = system.shape(m)
    if rows != cols or rows == 0:
        raise ValueError(f"{name}: expected a non-empty square matrix, got shape ({rows}, {cols})")
    system.check_finite(m, name=name)
    return system, m


def as_rows(system: NumberSystem, x: Any, *, name: str, width: int | None = None) -> Any:
    """``x`` as a 2-D matrix of ``system`` whose rows are vectors, checked for shape and finiteness."""
    if isinstance(x, Sequence) and not isinstance(x, (str, bytes)) and len(x) == 0:
        raise ValueError(f"{name}: expected at least one row, got an empty sequence")
    m = system.matrix(x, name=name)
    rows, cols = system.shape(m)
    if rows == 0 or cols == 0:
        raise ValueError(f"{name}: expected a non-empty matrix, got shape ({rows}, {cols})")
    if width is not None and cols != width:
        raise ValueError(f"{name}: expected rows of length {width}, got shape ({rows}, {cols})")
    system.check_finite(m, name=name)
    return m
