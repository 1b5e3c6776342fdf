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


def test_a_helper_call_patches_the_language_only_where_it_is_not_patched(monkeypatch):
    """Triton's interpreter patches ``triton.language`` at every launch and, unless runtime.py stops it, again at
    every helper call (a third of the interpreted time). With the shortcut a launch patches once, and a
    standard-library helper that sees ``tl.core`` once more, unless an earlier launch in this process patched it
    (Triton never restores a helper's patch): here three launches and at most ``cdiv``, 4 patches in a fresh
    process (133 without the shortcut: tried), and the result is unchanged."""
    from triton.runtime import interpreter

    from kernels import delta_product

    patches = []
    original = interpreter._patch_lang
    monkeypatch.setattr(interpreter, "_patch_lang", lambda fn: patches.append(fn.__name__) or original(fn))
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(1, 8, 1, 16, generator=gen, dtype=torch.float64)
    k = torch.nn.functional.normalize(torch.randn(1, 16, 1, 16, generator=gen, dtype=torch.float64), dim=-1)
    v = torch.randn(1, 16, 1, 16, generator=gen, dtype=torch.float64)
    beta = 2 * torch.rand(1, 16, 1, generator=gen, dtype=torch.float64)
    o, _ = delta_product(q, k, v, beta, num_householder=2, backend="triton")
    reference, _ = delta_product(q, k, v, beta, num_householder=2, backend="reference")
    assert torch.allclose(o, reference, rtol=1e-12, atol=1e-12), (o - reference).abs().max()  # float64: 1e-12
    helpers = [name for name in patches if name not in ("chunk_prep", "chunk_fwd", "chunk_out")]
    assert set(helpers) <= {"cdiv"}, helpers
