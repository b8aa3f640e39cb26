from mlgym.cli import main

raise SystemExit(main())
