"""Registers, spill stack and shared memory of our Triton kernels compiled for the H200 (sm_90), without a GPU.

    python -m venv /tmp/t36 && /tmp/t36/bin/pip install triton==3.6.0     # the H200's Triton
    mkdir -p /tmp/t36only && ln -s /tmp/t36/lib/python3.11/site-packages/triton /tmp/t36only/triton
    PYTHONPATH=/tmp/t36only:. .venv/bin/python bench/static_profile.py --out bench/results/speed/static_profile.json

A forward+backward call of ``kernels.delta_product`` (backend "triton") runs on CPU tensors with every
kernel launch intercepted: each launch's arguments give the kernel's exact signature and compile-time
constants, the kernel is compiled for GPUTarget("cuda", 90, 32) with the launch's options, and
``cuobjdump -res-usage`` of the cubin reports registers per thread (255 is the ceiling), the stack frame
(bytes per thread: spilled registers live there, in local memory) and the static shared memory, with the
dynamic shared memory Triton asks for. Shape as bench/speed.py (B = 1 here: the shape only matters through
the compile-time constants): T = 2048, H = 16, D = 128 (``--dim``), bf16, per n_h and gating. A large stack is the
first suspect for a slow kernel: every spilled register is a round trip to local memory. ``--variants``
compiles other launch choices too (:func:`kernels.triton_launch.tuning`, as bench/profile_kernels.py times them).
``--check`` compiles the kernels with the GPU's default asynchronous value checks (CHECK, an int32 flags
buffer) instead of none. Pointers and integers that are multiples of 16 are compiled as Triton's launcher
compiles them, known to be (``tt.divisibility`` 16, which vectorised loads need); ``--unaligned`` leaves
that out, as this script did before, which makes loads scalar and the register counts those of code the GPU
never runs. Each row also counts the instructions of the kernel's longest loop (``cuobjdump -sass``; the
walkers' loop over chunks): in all, and the barriers, tensor-core products (HGMMA: wgmma; HMMA: mma.sync),
synchronous and asynchronous global loads and global stores among them — what one step of a
sequential walk costs before any memory latency.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

TORCH_TYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "float64": "fp64", "int64": "i64",
               "int32": "i32"}  # fmt: skip


def intercepted_launches(n_h: int, gated: bool, dtype: str, chunk_size: int = 64, dim: int = 128) -> list[tuple]:
    """(kernel, args by name, launch options) of every kernel launch of one forward+backward call."""
    import torch
    import triton.runtime.jit as jit

    from kernels import triton_backend
    from kernels.api import validate

    launches = []

    def getitem(self, grid):
        def launch(*args, **kwargs):
            options = {key: kwargs.pop(key) for key in ("num_warps", "num_stages") if key in kwargs}
            unknown = set(kwargs) - set(self.arg_names)
            if unknown:  # the GPU launcher refuses them; the interpreter ignores them
                raise TypeError(f"{self.__name__}: launched with unknown arguments {sorted(unknown)}")
            named = dict(zip(self.arg_names, args)) | kwargs
            launches.append((self, named, options))

        return launch

    saved = jit.JITFunction.__getitem__
    jit.JITFunction.__getitem__ = getitem
    try:
        low = getattr(torch, dtype)
        tokens, heads = 2048, 16
        gen = torch.Generator().manual_seed(0)
        q = torch.randn(1, tokens, heads, dim, generator=gen).to(low).requires_grad_()
        k = torch.nn.functional.normalize(torch.randn(1, tokens * n_h, heads, dim, generator=gen), dim=-1)
        k = k.to(low).requires_grad_()
        v = torch.randn(1, tokens * n_h, heads, dim, generator=gen).to(low).requires_grad_()
        beta = (2 * torch.rand(1, tokens * n_h, heads, generator=gen)).to(low).requires_grad_()
        g = -torch.rand(1, tokens, heads, generator=gen).requires_grad_() if gated else None
        # the interpreter refuses bfloat16 (kernels.api.validate); no kernel runs here, so the value checks are
        # set up on float32 copies and our kernels are launched (intercepted) on the 16-bit tensors themselves
        checks = validate(q.float(), k.float(), v.float(), beta.float(), g, n_h, None, None, None, "chunk",
                          chunk_size, "triton", True)  # fmt: skip
        o, _ = triton_backend.run(q, k, v, beta, g, num_householder=n_h, scale=dim**-0.5, initial_state=None,
                                  output_final_state=False, cu_seqlens=None, mode="chunk", chunk_size=chunk_size,
                                  checks=checks)  # fmt: skip
        o.float().sum().backward()
    finally:
        jit.JITFunction.__getitem__ = saved
    return launches


def signature(fn, named: dict, check: bool = False) -> tuple[dict, dict]:
    """Triton's signature (type per runtime argument, "constexpr" for the others) and the constants; with
    ``check``, the asynchronous value checks on (CHECK, an int32 ``flags`` buffer) where a kernel has them."""
    import torch

    types, constants = {}, {}
    for param in fn.params:
        value = named[param.name]
        if param.is_constexpr:
            types[param.name], constants[param.name] = "constexpr", value
        elif isinstance(value, torch.Tensor):
            types[param.name] = "*" + TORCH_TYPES[str(value.dtype).removeprefix("torch.")]
        elif isinstance(value, bool):
            types[param.name] = "i1"
        elif isinstance(value, int):
            types[param.name] = "i32" if -(2**31) <= value < 2**31 else "i64"
        else:
            types[param.name] = "fp32"
    if check and "CHECK" in constants:
        constants["CHECK"], types["flags"] = True, "*i32"
    return types, constants


LOOP_CLASSES = ("BAR", "HGMMA", "WARPGROUP", "HMMA", "LDG", "LDGSTS", "STG", "LDS", "STS")


def loop_mix(sass: str) -> dict:
    """Instruction counts of the longest loop (the span of the longest backward branch) of a SASS listing: in
    all, and per class of :data:`LOOP_CLASSES` (an instruction's opcode before its first dot, predicate
    dropped)."""
    listing = re.findall(r"/\*([0-9a-f]{4,})\*/\s+([^;]*);", sass)
    branches = [(int(target, 16), int(at, 16)) for at, text in listing
                for target in re.findall(r"BRA\s.*?0x([0-9a-f]+)", text) if int(target, 16) < int(at, 16)]  # fmt: skip
    if not branches:
        return {"instructions": 0}
    first, last = max(branches, key=lambda span: span[1] - span[0])
    opcodes = [re.sub(r"^@!?U?P\w+\s+", "", text).split()[0].split(".")[0] for at, text in listing
               if first <= int(at, 16) <= last]  # fmt: skip
    return {"instructions": len(opcodes), **{name: opcodes.count(name) for name in LOOP_CLASSES}}


def aligned(fn, named: dict, types: dict) -> dict:
    """The alignment facts Triton's launcher gives the compiler (its ``specialize_impl``): ``tt.divisibility``
    16 for a pointer whose address and an integer whose value are multiples of 16 — what lets it vectorise loads.
    The tensors here are CPU tensors: their addresses stand in for the GPU's (PyTorch's CUDA caching allocator
    hands out 512-byte-aligned blocks)."""
    import torch

    attrs = {}
    for i, param in enumerate(fn.params):
        value = named[param.name]
        if types[param.name] == "constexpr":
            continue
        if (isinstance(value, torch.Tensor) and value.data_ptr() % 16 == 0) or (
            isinstance(value, int) and not isinstance(value, bool) and value % 16 == 0
        ):
            attrs[(i,)] = [["tt.divisibility", 16]]
    return attrs


def cubin_usage(compiled) -> tuple[dict, str]:
    """``cuobjdump`` of a compiled kernel's cubin: its resource fields (REG, STACK, SHARED, LOCAL) and its SASS."""
    import triton

    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    with tempfile.NamedTemporaryFile(suffix=".cubin") as cubin:
        cubin.write(compiled.asm["cubin"])
        cubin.flush()
        usage = subprocess.run([str(tool), "-res-usage", cubin.name], capture_output=True, text=True, check=True)
        sass = subprocess.run([str(tool), "-sass", cubin.name], capture_output=True, text=True, check=True).stdout
    return {name: int(value) for name, value in re.findall(r"(REG|STACK|SHARED|LOCAL):(\d+)", usage.stdout)}, sass


def resources(fn, named: dict, options: dict, check: bool = False, align: bool = True) -> dict:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    types, constants = signature(fn, named, check)
    options = {"num_warps": 4, "num_stages": 3} | options
    attrs = aligned(fn, named, types) if align else {}
    compiled = triton.compile(ASTSource(fn, types, constexprs=constants, attrs=attrs),
                              target=GPUTarget("cuda", 90, 32), options=options)  # fmt: skip
    fields, sass = cubin_usage(compiled)
    flags = {name: value for name, value in constants.items() if isinstance(value, (bool, str))}
    return {"kernel": fn.__name__, "aligned": align, "registers": fields["REG"], "stack_bytes": fields["STACK"],
            "static_shared_bytes": fields["SHARED"], "dynamic_shared_bytes": compiled.metadata.shared,
            "num_warps": options["num_warps"], "num_stages": options["num_stages"],
            "blocks": {n: constants[n] for n in ("C", "BK", "BV") if n in constants}, "flags": flags,
            "loop": loop_mix(sass)}  # fmt: skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("bench/results/speed/static_profile.json"))
    parser.add_argument("--nh", default="1,2,3", help="comma-separated n_h")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--dim", type=int, default=128, help="head dimension D = K = V")
    parser.add_argument("--check", action="store_true", help="compile with the asynchronous value checks on")
    parser.add_argument("--unaligned", action="store_true",
                        help="compile without the launcher's alignment facts (no pointer known aligned)")  # fmt: skip
    parser.add_argument("--variants", default="default",
                        help="comma-separated: default, or name=value+name=value (triton_launch.tuning)")  # fmt: skip
    args = parser.parse_args()
    if not 1 <= args.dim <= 256:
        parser.error(f"--dim: expected a head dimension from 1 to 256, got {args.dim}")
    os.environ["TRITON_INTERPRET"] = "0"
    import kernels.runtime

    kernels.runtime.cuda_available = lambda: True  # compiled kernels (not the interpreter) without a GPU
    import triton

    from kernels import triton_launch

    rows = []
    for n_h in (int(x) for x in args.nh.split(",")):
        for gated in (False, True):
            seen = set()
            for spec in args.variants.split(","):
                with triton_launch.tuning(**triton_launch.parse_tuning(spec)):
                    launches = intercepted_launches(n_h, gated, args.dtype, args.chunk_size, args.dim)
                for fn, named, options in launches:
                    types, constants = signature(fn, named, args.check)
                    key = (fn.__name__, tuple(types.items()), tuple(sorted(constants.items(), key=str)),
                           tuple(options.items()))  # fmt: skip
                    if key in seen:
                        continue
                    seen.add(key)
                    rows.append({"n_h": n_h, "gated": gated, "dtype": args.dtype, "variant": spec,
                                 **resources(fn, named, options, args.check, not args.unaligned)})  # fmt: skip
                    r = rows[-1]
                    print(f"n_h={n_h} gated={gated!s:5} {spec:12s} {r['kernel']:17s} regs {r['registers']:3d} stack "
                          f"{r['stack_bytes']:5d} B  shared {r['dynamic_shared_bytes']:6d} B  warps {r['num_warps']} "
                          f"{r['blocks']} {r['flags']} loop {r['loop']}", flush=True)  # fmt: skip
    args.out.write_text(json.dumps({"triton": triton.__version__, "target": "cuda sm_90", "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
