"""fla 0.6.0's forward walk (``chunk_gated_delta_rule_fwd_kernel_h_blockdim64``, the kernel its DeltaProduct runs
over the interleaved rows) compiled for sm_90 without a GPU, with the alignment facts its launch gives (pointers
16-byte aligned; fla marks T do_not_specialize), counted as bench/static_profile.py counts ours. One JSON line:

    PYTHONPATH=/tmp/t36only:FLA_SITE:. python fla_walk_static.py D BV GATED [NUM_WARPS NUM_STAGES]

FLA_SITE holds fla-core 0.6.0 and einops (unpacked wheels); /tmp/t36only Triton 3.6.0 (bench/static_profile.py).
The ungated DeltaProduct call passes k, w, u (as v) and v_new; the gated one adds g (float32).
"""

import json
import os
import sys

os.environ["TRITON_INTERPRET"] = "0"

import fla.ops.common.chunk_delta_h as fla_walk  # noqa: E402
import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from bench.static_profile import cubin_usage, loop_mix  # noqa: E402


def main(dim: int, bv: int, gated: bool, warps: int = 4, stages: int = 2) -> dict:
    fn = fla_walk.chunk_gated_delta_rule_fwd_kernel_h_blockdim64
    while not isinstance(fn, triton.runtime.jit.JITFunction):  # under fla's heuristics and autotuner
        fn = fn.fn
    pointers = {"k", "v", "w", "v_new", "h"} | ({"g"} if gated else set())
    values = {"H": 16, "HV": 16, "K": dim, "V": dim, "BT": 64, "BV": bv, "USE_G": gated, "USE_GK": False,
              "USE_INITIAL_STATE": False, "STORE_FINAL_STATE": False, "SAVE_NEW_VALUE": True,
              "STATE_V_FIRST": False, "IS_VARLEN": False}  # fmt: skip
    types, constants, attrs = {}, {}, {}
    for i, param in enumerate(fn.params):
        if param.name in pointers:
            types[param.name] = "*fp32" if param.name == "g" else "*bf16"
            attrs[(i,)] = [["tt.divisibility", 16]]
        elif param.name == "T":
            types[param.name] = "i32"
        else:
            types[param.name], constants[param.name] = "constexpr", values.get(param.name)
    source = ASTSource(fn, types, constexprs=constants, attrs=attrs)
    compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32),
                              options={"num_warps": warps, "num_stages": stages})  # fmt: skip
    fields, sass = cubin_usage(compiled)
    return {"kernel": fn.__name__, "D": dim, "BV": bv, "gated": gated, "warps": warps, "stages": stages,
            "registers": fields["REG"], "stack_bytes": fields["STACK"], "loop": loop_mix(sass)}  # fmt: skip


if __name__ == "__main__":
    dim, bv, gated, *launch = sys.argv[1:]
    print(json.dumps(main(int(dim), int(bv), gated == "1", *(int(x) for x in launch))))
