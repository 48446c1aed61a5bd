from keylint.cli import main

raise SystemExit(main())
