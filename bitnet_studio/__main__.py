from bitnet_studio.cli import main

raise SystemExit(main())
