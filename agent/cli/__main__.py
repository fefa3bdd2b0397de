"""`python -m agent.cli`."""

from agent.cli.entry import main

raise SystemExit(main())
