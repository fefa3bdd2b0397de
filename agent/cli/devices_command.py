"""`firstcrack devices`: list the inputs, or meter one.

Exit codes: 2 for an unknown device (the message lists the inputs, a user error like
`run --source mic:NOPE`); 1 when PortAudio sees no input at all; the meter exits 0 even
with a level warning (it measured what was asked; the warning is the answer).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--meter", metavar="DEVICE", help="name substring or index, as in `run --source mic:DEVICE`"
    )
    parser.add_argument(
        "--seconds", type=_positive, default=5.0, help="how long to meter (default: 5)"
    )
    parser.add_argument("--channel", type=int, help="meter only this 0-based input channel")


def _positive(text: str) -> float:
    value = float(text)
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600 seconds, got {text}")
    return value


def main(args: argparse.Namespace) -> int:
    from firstcrack.agent.setup.capture import device_param
    from firstcrack.agent.setup.device_report import format_devices, list_devices, run_meter
    from firstcrack.agent.sources import SourceError

    if args.meter is None:
        if args.channel is not None:
            print("firstcrack devices: error: --channel needs --meter", file=sys.stderr)
            return 2
        rows = list_devices()
        print(format_devices(rows))
        return 0 if rows else 1
    try:
        run_meter(device_param(args.meter), args.seconds, sys.stdout, channel=args.channel)
    except SourceError as exc:
        print(f"firstcrack devices: error: {exc}", file=sys.stderr)
        print(format_devices(list_devices()), file=sys.stderr)
        return 2
    return 0
