"""``python -m proofs_check [options]`` is ``deltaproof check [options]`` (``check`` may be given or not)."""

import sys

from proofs_check.cli import main

args = sys.argv[1:]
raise SystemExit(main(args if args[:1] == ["check"] else ["check", *args]))
