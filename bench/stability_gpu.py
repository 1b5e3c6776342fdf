"""The Stability issue's verdict on real kernels on the H200 (:mod:`proofs_check.studies.verdict`), written
under ``--out-dir`` as it runs: ``rows.json`` after every row, then ``report.md`` and ``errors.png``.

    python bench/stability_gpu.py --out-dir bench/results/stability_gpu --budget-s 500
    python bench/stability_gpu.py --out-dir bench/results/stability_gpu --report-only   # from rows.json

``deltaproof stability kernels --device cuda`` runs the same plan; ``--device cpu --quick`` a tiny version.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from proofs_check.studies import verdict as kernel_verdict


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out-dir", type=Path, default=Path("bench/results/stability_gpu"))
    parser.add_argument("--budget-s", type=float, default=float("inf"), help="start no row after this many seconds")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the plan, not the kernels")
    parser.add_argument("--fla-dtypes", default="bfloat16",
                        help="comma-separated formats for fla's rows; empty: no fla rows")  # fmt: skip
    parser.add_argument("--fla-lengths", default="1024", help="comma-separated token counts for fla's rows")
    parser.add_argument("--sections", default="A,B,C,D", help="comma-separated sections to measure")
    parser.add_argument("--report-only", action="store_true", help="rewrite report.md and errors.png from rows.json")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        rows = json.loads((args.out_dir / "rows.json").read_text())
    else:
        written = []

        def keep(row):
            written.append(row)
            print({k: (f"{v:.2e}" if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
            (args.out_dir / "rows.json").write_text(json.dumps(written, indent=1))

        rows = kernel_verdict.run(args.device, quick=args.quick, sections=tuple(args.sections.split(",")),
                                  budget_s=args.budget_s, fla_dtypes=[d for d in args.fla_dtypes.split(",") if d],
                                  fla_lengths=[int(t) for t in args.fla_lengths.split(",")], on_row=keep)  # fmt: skip
    (args.out_dir / "report.md").write_text(kernel_verdict.report_markdown(rows))
    kernel_verdict.plot(rows, args.out_dir / "errors.png")
    print((args.out_dir / "report.md").read_text())


if __name__ == "__main__":
    main()
