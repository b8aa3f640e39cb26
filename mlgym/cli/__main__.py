from mlgym.cli.app import main

raise SystemExit(main())
