"""Models on our kernels: the Gated DeltaProduct layer (fla's parameters), a small language model of its
blocks, the toolkit's tasks, training with safetensors checkpoints, compiled constructions as model weights
(:func:`from_program`) and what a model's recurrence does per input symbol (:mod:`models.analysis`).
Imports ``kernels`` and ``theory``; neither imports it."""

from models.analysis import analyze, plot_analysis, relation_error, symbol_transitions
from models.construct import from_program
from models.layer import Factors, GatedDeltaProduct
from models.lm import DeltaProductLM, ModelConfig
from models.tasks import StateTracking, WordProblem, task
from models.train import TrainConfig, evaluate, learning_rate, load_run, read_metrics, train

__all__ = [
    "GatedDeltaProduct",
    "Factors",
    "DeltaProductLM",
    "ModelConfig",
    "WordProblem",
    "StateTracking",
    "task",
    "TrainConfig",
    "train",
    "from_program",
    "symbol_transitions",
    "relation_error",
    "analyze",
    "plot_analysis",
    "evaluate",
    "learning_rate",
    "load_run",
    "read_metrics",
]
