"""Former name of :mod:`proofs_check.execute` (program → kernel → decode), kept so that code written against it
still imports."""

from proofs_check.execute import Exact, Simulation, exact_floats, exact_run, random_words, simulate

__all__ = ["Simulation", "Exact", "simulate", "exact_run", "random_words", "exact_floats"]
