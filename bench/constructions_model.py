"""Predicted against measured first errors of the one-layer programs through our kernel on the H200.

    python bench/constructions_model.py --measured bench/results/constructions_h200/constructions_h200.json \
        --out bench/results/constructions_h200/constructions_h200_model.json

For each one-layer program of bench/constructions.py and each low-precision column of the measured table,
:func:`theory.error_models.kernel_safe_lengths` predicts the first wrong decode of a kernel that keeps its
state in fp32 but receives keys rounded to the input format (worst case and probabilistic); the table puts
them beside the measured first error and the ratio measured / probabilistic. CPU only, a few seconds.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from constructions import PROGRAMS, compile_program

from theory.error_models import kernel_safe_lengths


def main():
    parser = argparse.ArgumentParser()
    results = Path("bench/results/constructions_h200")
    parser.add_argument("--measured", type=Path, default=results / "constructions_h200.json")
    parser.add_argument("--out", type=Path, default=results / "constructions_h200_model.json")
    args = parser.parse_args()
    measured = {r["program"]: r for r in json.loads(args.measured.read_text())["rows"]}
    rows = []
    for label, spec, layers, rep, n_h in PROGRAMS:
        if layers > 1 or label not in measured:
            continue
        program = compile_program(spec, layers, rep, n_h)
        for dtype in ("bfloat16", "float16"):
            cell = measured[label].get(f"triton:{dtype}")
            first = cell if isinstance(cell, int) else None
            predicted = kernel_safe_lengths(program, dtype)
            ratio = first / predicted["probabilistic"] if first is not None else None
            rows.append({"program": label, "dtype": dtype, "measured_first_error": first, "measured_cell": cell,
                         **predicted, "measured_over_probabilistic": ratio})  # fmt: skip
    args.out.write_text(json.dumps(rows, indent=1))  # ∞ as Infinity, as the project's other results

    def fmt(x):
        return "∞" if x == math.inf else f"{x:.3g}"

    print("| program | dtype | key defect d | ρ | predicted worst | predicted probabilistic | measured | "
          "measured / probabilistic |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = "—" if r["measured_over_probabilistic"] is None else f"{r['measured_over_probabilistic']:.2g}"
        if r["measured_first_error"] is None and r["probabilistic"] != math.inf:
            ratio = f"≥ {float(str(r['measured_cell']).split()[-1]) / r['probabilistic']:.2g}"
        print(f"| {r['program']} | {r['dtype']} | {r['defect']:.2e} | {r['rho']:.6f} | {fmt(r['worst'])} | "
              f"{fmt(r['probabilistic'])} | {r['measured_cell']} | {ratio} |")  # fmt: skip


if __name__ == "__main__":
    main()
