"""The mutation audit: deliberate bugs planted in the theory and reference code one at a time, and which claims
and tests catch each (``./dev.sh mutants [NAME ...]``; a development tool, not part of the test suite).

Each mutant replaces one exact piece of source text (which must occur exactly once) in the working tree, runs
the fast tier of ``deltaproof check`` (JSON; plus the full-tier claims its ``full`` glob names, for mutants that
only full-tier claims cover) and ``pytest -x`` on the test folders that cover the mutated module,
and restores the file, whatever happens. A mutant counts as caught when a claim fails or errs, or a test fails;
the table names the claims and the first failing test. Every mutant must be caught: the exit status is 1 if one
is not. The files to mutate must have no uncommitted changes (the tool refuses otherwise, so that restoring them
cannot lose work).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    full: str = ""


MUTANTS = (
    Mutant("factor order", "theory/householder.py", "    for k, b in zip(cols, bs):\n        a = a - (k * b)",
           "    for k, b in reversed(list(zip(cols, bs))):\n        a = a - (k * b)", ("tests/theory",)),
    Mutant("UT transform: β_j for β_i", "theory/householder.py", "(bs[i] * gram[i, j])", "(bs[j] * gram[i, j])",
           ("tests/theory",)),
    Mutant("permutation matrix transposed", "theory/groups.py", "1 if perm(j) == i else 0",
           "1 if perm(i) == j else 0", ("tests/theory",)),
    Mutant("planar composition sign", "theory/groups.py", "return kind, (ja + sign * jb) % m",
           "return kind, (sign * ja + jb) % m", ("tests/theory",)),
    Mutant("n_h = 2 discriminant term", "theory/spectrum.py", "c**2 * (4 - 2 * b1", "c**2 * (3 - 2 * b1",
           ("tests/theory",)),
    Mutant("cast one bit short", "theory/formats.py", "from_rational(x.numerator, x.denominator, f.precision, ",
           "from_rational(x.numerator, x.denominator, f.precision - 1, ", ("tests/theory",)),
    Mutant("batched products with β halved", "theory/sampling.py", "a = a - betas[:, j, None, None] * (k @",
           "a = a - 0.5 * betas[:, j, None, None] * (k @", ("tests/theory",)),
    Mutant("zero matrix from β = 1.1 projections", "theory/factorize.py", "betas.append(1 - entry)",
           "betas.append(1 - entry + (1 - entry) / 10)", ("tests/theory",)),
    Mutant("reference recurrence with β halved", "kernels/reference.py",
           "s = s + bb[:, None, None] * kk[:, :, None] * err[:, None, :]",
           "s = s + bb[:, None, None] * kk[:, :, None] * (0.5 * err)[:, None, :]", ("tests/kernels",)),
    Mutant("GH product with β halved", "theory/householder.py", "a = a - (k * b) @ (k.T @ a)",
           "a = a - (k * (b / 2)) @ (k.T @ a)", ("tests/theory",)),
    Mutant("cast orbits: |a| for a", "theory/cast_orbits.py", "saturate(a_values[:, None] * table[None, :], fmt)",
           "saturate(np.abs(a_values)[:, None] * table[None, :], fmt)", ("tests/theory",), full="grazzi.thm[12].*"),
    Mutant("lower bound: unfaithful representations kept", "theory/characters.py",
           "frozenset.intersection(*(r.kernel for r in combo)) != {0}",
           "frozenset.intersection(*(r.kernel for r in combo)) == set()", ("tests/theory",)),
    Mutant("group automaton: permutation matrix transposed", "theory/programs/dfa_to_layers.py",
           "matrix[coordinate[r], coordinate[q]] = 1", "matrix[coordinate[q], coordinate[r]] = 1", ("tests/theory",)),
    Mutant("layer: β = σ with allow_neg_eigval", "models/layer.py", "            beta = 2 * beta",
           "            beta = 1 * beta", ("tests/models",)),
    Mutant("cascade model: units not clamped", "models/construct.py",
           "mlp.down_proj.weight[targets[target], row] = sign / clamp",
           "mlp.down_proj.weight[targets[target], row] = (sign > 0) / (2 * clamp)", ("tests/models",)),
    Mutant("cascade model: lookup read at the next symbol", "models/construct.py",
           "table[s + layer.symbols * o])", "table[(s + 1) % layer.symbols + layer.symbols * o])", ("tests/models",)),
    Mutant("group cascade: readout tests without the margin δ", "models/construct.py",
           "return readouts / delta[:, None], 0.5 - norms / delta", "return readouts, 0.5 - norms", ("tests/models",)),
    Mutant("delay-layer tests: the bias of the next readout", "models/construct.py",
           "return w, 0.5 - (w * readouts).sum(axis=1)",
           "return w, 0.5 - (w * np.roll(readouts, 1, axis=0)).sum(axis=1)", ("tests/models",)),
    Mutant("grid interval tests: no subtracted unit", "models/construct.py",
           "((0.0, 1.0), (-1.0, -1.0)) if interval[o]", "((0.0, 1.0),) if interval[o]", ("tests/models",)),
)  # fmt: skip


def _dirty(paths: set[str]) -> list[str]:
    status = subprocess.run(["git", "status", "--porcelain", "--", *sorted(paths)], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    return [line[3:] for line in status.splitlines()]


def run(mutant: Mutant) -> dict:
    """Plant ``mutant``, run the claims and its tests, restore the file; what caught it."""
    path = ROOT / mutant.path
    original = path.read_text()
    if original.count(mutant.old) != 1:
        raise ValueError(f"mutant {mutant.name!r}: expected its text once in {mutant.path}, "
                         f"found it {original.count(mutant.old)} times")  # fmt: skip
    try:
        path.write_text(original.replace(mutant.old, mutant.new))
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "claims.json"
            subprocess.run([sys.executable, "-m", "proofs_check", "check", "--json", str(out)], cwd=ROOT,
                           capture_output=True, text=True)  # fmt: skip
            results = json.loads(out.read_text()) if out.exists() else []
            if mutant.full:
                subprocess.run([sys.executable, "-m", "proofs_check", "check", "--full", "--only", mutant.full,
                                "--json", str(out)], cwd=ROOT, capture_output=True, text=True)  # fmt: skip
                results += json.loads(out.read_text()) if out.exists() else []
        claims = [r["id"] for r in results if r["status"] in ("failed", "error")]
        tests = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutant.tests],
                               cwd=ROOT, capture_output=True, text=True)  # fmt: skip
        failing = [line.split(" ", 1)[1].split(" - ")[0] for line in tests.stdout.splitlines()
                   if line.startswith(("FAILED ", "ERROR "))]  # fmt: skip
    finally:
        path.write_text(original)
    return {"mutant": mutant.name, "file": mutant.path, "claims": claims, "first_failing_test": failing[:1],
            "claims_ran": len(results)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all); see --list")
    parser.add_argument("--list", action="store_true", help="list the mutants")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if args.list:
        for m in MUTANTS:
            print(f"{m.name}: {m.path}")
        return 0
    unknown = set(args.names) - {m.name for m in MUTANTS}
    if unknown:
        print(f"mutants: unknown names {sorted(unknown)}; see --list", file=sys.stderr)
        return 2
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    dirty = _dirty({m.path for m in chosen})
    if dirty:
        print(f"mutants: commit or stash the changes to {dirty} first (each file is restored after its mutant)",
              file=sys.stderr)  # fmt: skip
        return 2
    rows = []
    for m in chosen:
        rows.append(run(m))
        r = rows[-1]
        caught = bool(r["claims"] or r["first_failing_test"])
        print(
            f"{'caught ' if caught else 'MISSED '} {m.name:40s} claims: {', '.join(r['claims']) or '—'}; "
            f"first failing test: {r['first_failing_test'][0] if r['first_failing_test'] else '—'}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    missed = [r["mutant"] for r in rows if not (r["claims"] or r["first_failing_test"])]
    print(f"{len(rows) - len(missed)} of {len(rows)} mutants caught" + (f"; missed: {missed}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
