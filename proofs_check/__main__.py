"""``python -m proofs_check COMMAND …`` is ``deltaproof COMMAND …``; with no command (only options, or
nothing) it is ``deltaproof check …``."""

import sys

from proofs_check.cli import COMMANDS, main

args = sys.argv[1:]
explicit = args[:1] and (args[0] in COMMANDS or args[0] in ("-h", "--help", "--version"))
raise SystemExit(main(args if explicit else ["check", *args]))
