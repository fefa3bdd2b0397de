"""`python -m firstcrack.agent.cli`."""

from firstcrack.agent.cli.entry import main

raise SystemExit(main())
