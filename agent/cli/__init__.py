"""The `firstcrack` command line: `table` lists the commands, `entry` runs one."""

from firstcrack.agent.cli.entry import main

__all__ = ["main"]
