"""Test configuration: Triton's interpreter on machines without a GPU, and hypothesis profiles.

TRITON_INTERPRET must be set before any kernel is defined, so it is set here, first.
"""

import os

import torch
from hypothesis import HealthCheck, settings

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# "ci": bounded examples, no deadline (2-core CI machines are slow and timing is noisy); "dev": more examples.
settings.register_profile("ci", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
