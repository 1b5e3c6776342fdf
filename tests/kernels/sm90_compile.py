"""Compile recorded kernel launches for an H100/H200 (CUDA sm_90) without a GPU, with the alignment facts a launch
on the GPU gives (every pointer, and each integer that is a multiple of 16): Triton's front end and its TTIR and
TTGIR passes, the stages where a call valid in the interpreter can still be refused (an
``input_precision`` tl.dot does not know, a branch the interpreter never reaches). Run by
test_sm90_compile.py in a process of its own, Triton's interpreter off:

    python tests/kernels/sm90_compile.py LAUNCHES.json

LAUNCHES.json is a list of {"module", "name", "options", "args": {name: {"kind", ...}}} written by the test.
Prints one line per launch; exits 1 if any failed to compile."""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import kernels.runtime

kernels.runtime.cuda_available = lambda: True  # define the kernels as JIT functions on this GPU-less machine

import triton.language as tl  # noqa: E402
from triton._C.libtriton import ir  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource, make_backend  # noqa: E402

POINTERS = {"float16": "*fp16", "bfloat16": "*bf16", "float32": "*fp32", "float64": "*fp64", "int32": "*i32",
            "int64": "*i64", "int8": "*i8", "uint8": "*u8", "bool": "*i1"}  # fmt: skip
DTYPES = {"fp16": tl.float16, "bf16": tl.bfloat16, "fp32": tl.float32, "fp64": tl.float64}
TARGET = GPUTarget("cuda", 90, 32)


def source(entry: dict) -> ASTSource:
    """The kernel of one recorded launch with its argument types and compile-time constants."""
    fn = getattr(importlib.import_module(entry["module"]), entry["name"])
    signature, constants, attrs = {}, {}, {}
    for i, (name, param) in enumerate(zip(fn.arg_names, fn.params)):
        arg = entry["args"][name]
        if param.is_constexpr or arg["kind"] == "none":
            signature[name] = "constexpr"
            constants[(i,)] = DTYPES[arg["value"]] if arg["kind"] == "dtype" else arg.get("value")
            continue
        if arg["kind"] == "pointer":
            signature[name] = POINTERS[arg["dtype"]]
        else:
            signature[name] = {"int": "i32", "float": "fp32", "bool": "i1"}[arg["kind"]]
        if arg["kind"] == "pointer" or (arg["kind"] == "int" and arg["value"] % 16 == 0):
            attrs[(i,)] = [["tt.divisibility", 16]]  # as the launcher marks them: CUDA tensors are 512-byte aligned
    return ASTSource(fn, signature, constants, attrs)


def compile_to_ttgir(entry: dict) -> None:
    backend = make_backend(TARGET)
    options = backend.parse_options(entry["options"])
    context = ir.context()
    ir.load_dialects(context)
    backend.load_dialects(context)
    src = source(entry)
    module = src.make_ir(TARGET, options, backend.get_codegen_implementation(options), backend.get_module_map(),
                         context)  # fmt: skip
    stages: dict = {}
    backend.add_stages(stages, options, src.language)
    metadata: dict = {}
    for stage in ("ttir", "ttgir"):
        module = stages[stage](module, metadata)


def compiled(entry: dict) -> str:
    """One line for the launch: ``ok`` and its constants, or ``FAILED`` and the compiler's own message."""
    constants = {n: a["value"] for n, a in entry["args"].items() if a["kind"] in ("dtype", "value", "bool")}
    try:
        compile_to_ttgir(entry)
    except Exception as err:  # every failure is reported, with the compiler's own message
        return f"FAILED {entry['name']} {constants}\n{err}"
    return f"ok     {entry['name']} {constants}"


def main(path: str) -> int:
    """Compile every launch, one process per CPU core (the launches are independent), in the file's order."""
    entries = json.loads(Path(path).read_text())
    workers = max(1, min(len(os.sched_getaffinity(0)), len(entries)))
    failed = 0
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for line in pool.map(compiled, entries):
            failed += line.startswith("FAILED")
            print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
