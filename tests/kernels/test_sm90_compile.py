"""Every kernel launch a CPU run makes also compiles for the GPU (sm_90): the interpreter runs Python, so a
kernel it accepts can still be refused by Triton's compiler (dot_bits=22's fp16x2 once reached a tl.dot
as an input_precision only in compiled code). The launches of forward and backward are recorded in the
interpreter — fp32 with both walks halved, fp16, fp16 under dot_bits=22; gated and not; chunked and recurrent;
and the GPU's asynchronous value checks (CHECK, never on in the interpreter; with fp16's defaults) — then
compiled to TTGIR by sm90_compile.py in a process with the interpreter off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kernels import delta_product, interpreting, triton_launch

pytestmark = pytest.mark.skipif(not interpreting(), reason="on a GPU every launch is compiled already")

COMPILER = Path(__file__).with_name("sm90_compile.py")


def _described(value) -> dict:
    import triton.language as tl

    if isinstance(value, torch.Tensor):
        return {"kind": "pointer", "dtype": str(value.dtype).removeprefix("torch.")}
    if isinstance(value, tl.dtype):
        return {"kind": "dtype", "value": value.name}
    if value is None:
        return {"kind": "none"}
    if isinstance(value, str):
        return {"kind": "value", "value": value}
    if isinstance(value, bool):
        return {"kind": "bool", "value": value}
    if isinstance(value, int):
        return {"kind": "int", "value": value}
    if isinstance(value, float):
        return {"kind": "float", "value": value}
    raise TypeError(f"a kernel argument of type {type(value).__name__}")


def _recorded_launches(monkeypatch) -> list[dict]:
    from triton.runtime import interpreter

    launches: dict[str, dict] = {}
    checked_too = False
    run = interpreter.InterpretedFunction.run

    def recording(self, *args, grid, warmup, **kwargs):
        values = dict(zip(self.arg_names, args)) | {k: v for k, v in kwargs.items() if k in self.arg_names}
        entry = {"module": self.fn.__module__, "name": self.fn.__name__,
                 "options": {k: v for k, v in kwargs.items() if k not in self.arg_names},
                 "args": {name: _described(values[name]) for name in self.arg_names}}  # fmt: skip
        launches[json.dumps(entry, sort_keys=True)] = entry
        if checked_too and "CHECK" in values:  # the GPU's asynchronous checks, compiled only there
            checked = {**entry, "args": {**entry["args"], "CHECK": {"kind": "bool", "value": True}}}
            launches[json.dumps(checked, sort_keys=True)] = checked
        return run(self, *args, grid=grid, warmup=warmup, **kwargs)

    monkeypatch.setattr(interpreter.InterpretedFunction, "run", recording)
    B, T, H, D, n_h = 1, 33, 2, 32, 2
    halved = {"halves_fwd": 1, "halves_bwd": 1}
    for dtype, spec in [(torch.float32, halved), (torch.float16, {}), (torch.float16, {"dot_bits": 22})]:
        checked_too = dtype == torch.float16 and not spec  # CHECK once per kernel: the GPU's 16-bit default
        for gated, mode in [(False, "chunk"), (True, "chunk"), (True, "recurrent")]:
            gen = torch.Generator().manual_seed(0)
            q = torch.randn(B, T, H, D, generator=gen).to(dtype).requires_grad_()
            k = torch.nn.functional.normalize(torch.randn(B, T * n_h, H, D, generator=gen), dim=-1)
            k = k.to(dtype).requires_grad_()
            v = torch.randn(B, T * n_h, H, D, generator=gen).to(dtype).requires_grad_()
            beta = (2 * torch.rand(B, T * n_h, H, generator=gen)).to(dtype).requires_grad_()
            g = (-torch.rand(B, T, H, generator=gen)).requires_grad_() if gated else None
            with triton_launch.tuning(**spec):
                o, _ = delta_product(q, k, v, beta, g=g, num_householder=n_h, mode=mode, backend="triton")
                o.float().sum().backward()
    return list(launches.values())


def test_every_launch_compiles_for_sm90(monkeypatch, tmp_path):
    pytest.importorskip("triton.backends.nvidia", reason="this Triton has no NVIDIA back end")
    launches = _recorded_launches(monkeypatch)
    names = {entry["name"] for entry in launches}
    assert {"chunk_prep", "chunk_fwd", "chunk_out", "recurrent_fwd", "chunk_bwd_dqk"} <= names, names
    assert any(
        entry["args"]["PRECISION"].get("value") == "fp16x2" for entry in launches if "PRECISION" in entry["args"]
    )
    path = tmp_path / "launches.json"
    path.write_text(json.dumps(launches))
    env = {**os.environ, "TRITON_INTERPRET": "0", "TRITON_DEFAULT_FP_FUSION": "1",
           "TRITON_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip
    done = subprocess.run([sys.executable, str(COMPILER), str(path)], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).parents[2], timeout=1200)  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert sum(line.startswith("ok ") for line in done.stdout.splitlines()) == len(launches), done.stdout
