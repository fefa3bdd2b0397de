"""`firstcrack`: parse the command line, run one command, turn its outcome into an exit code.

Exit codes: 0 success; 2 a user mistake (bad usage, bad config, an unreadable input, a
model that cannot be loaded: anything raising `UserError`, or a missing file), with the
message on one line; 1 a runtime failure. No traceback unless `--debug`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from firstcrack.agent.cli.logs import configure_logging
from firstcrack.agent.cli.table import BY_NAME, COMMANDS
from firstcrack.models.contracts import UserError

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


def build_parser(command: str | None) -> argparse.ArgumentParser:
    """The parser with every command listed and only `command`'s options added."""
    parser = argparse.ArgumentParser(
        prog="firstcrack",
        description="Hear coffee first crack and report it over MQTT.",
    )
    parser.add_argument("--debug", action="store_true", help="verbose logs and tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for entry in COMMANDS:
        child = sub.add_parser(entry.name, help=entry.help, description=entry.description)
        if entry.name == command:
            entry.load().add_arguments(child)
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse `argv` (without the program name), loading only the chosen command's module."""
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command if command in BY_NAME else None).parse_args(argv)
    args.argv = list(argv)  # recorded by `train`
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    configure_logging(debug=args.debug)
    try:
        return BY_NAME[args.command].load().main(args)
    except KeyboardInterrupt:
        return EXIT_OK
    except (UserError, FileNotFoundError) as exc:
        print(f"firstcrack {args.command}: error: {exc}", file=sys.stderr)
        if args.debug:
            raise
        return EXIT_USAGE
    except Exception as exc:
        if args.debug:
            raise
        print(f"firstcrack {args.command}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_RUNTIME


if __name__ == "__main__":
    raise SystemExit(main())
