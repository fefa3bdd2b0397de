"""The `firstcrack` command line: `entry` parses, `commands` and `lifecycle` run."""

from agent.cli.entry import main

__all__ = ["main"]
