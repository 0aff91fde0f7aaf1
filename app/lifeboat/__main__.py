from lifeboat.cli.main import main

raise SystemExit(main())
