"""Kernels run in the Triton interpreter by themselves on machines without a GPU."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only path")

KERNEL = textwrap.dedent(
    """
    import os, torch
    from kernels import load_triton, interpreting
    triton = load_triton()
    import triton.language as tl

    @triton.jit
    def add(x, y, out, n, BLOCK: tl.constexpr):
        i = tl.arange(0, BLOCK)
        mask = i < n
        tl.store(out + i, tl.load(x + i, mask=mask) + tl.load(y + i, mask=mask), mask=mask)

    x, y = torch.arange(5, dtype=torch.float64), torch.full((5,), 0.5, dtype=torch.float64)
    out = torch.empty(5, dtype=torch.float64)
    add[(1,)](x, y, out, 5, BLOCK=8)
    assert torch.equal(out, x + y), out
    print("interpreting", interpreting(), os.environ["TRITON_INTERPRET"])
    """
)


def _run(env_update: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.update({k: v for k, v in env_update.items() if v is not None})
    return subprocess.run([sys.executable, "-c", KERNEL], capture_output=True, text=True, env=env)


def test_interpreter_switches_on_by_itself():
    done = _run({})
    assert done.returncode == 0, done.stderr
    assert "interpreting True 1" in done.stdout


def test_explicit_zero_without_gpu_is_a_clear_error():
    done = _run({"TRITON_INTERPRET": "0"})
    assert done.returncode != 0
    assert "TRITON_INTERPRET=0 but there is no CUDA GPU" in done.stderr
