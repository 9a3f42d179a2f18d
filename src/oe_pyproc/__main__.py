from oe_pyproc.cli import main

raise SystemExit(main())
