from proofs_check.cli import main

raise SystemExit(main())
