"""`python -m host_tools`: the `ember` command."""

from host_tools.cli.main import main

raise SystemExit(main())
