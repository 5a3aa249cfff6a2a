from infill.cli import main

raise SystemExit(main())
