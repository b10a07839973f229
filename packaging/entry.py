"""The bundled program's entry point: the same command line as the package's ``bitnet-studio``."""

from bitnet_studio.cli import main

raise SystemExit(main())
