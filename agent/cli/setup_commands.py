"""`firstcrack devices` and `firstcrack doctor`: registration and handlers.

Registered right after `run` (agent/cli/entry.py), since they are what a
newcomer runs first. Their implementations live in `agent/setup/` and are
imported only when the command runs, so `--help` stays fast.

Exit codes follow the CLI's: `devices` exits 2 for an unknown device (the
message lists the inputs, a user error like `run --source mic:NOPE`) and 1
when PortAudio sees no input at all; the meter exits 0 even with a level
warning (it measured what was asked; the warning is the answer). `doctor`
exits 1 when any check fails, 0 otherwise (agent/setup/doctor.py says why an
invalid config is 1 there, not 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_setup_commands(sub: argparse._SubParsersAction) -> None:
    """Add `devices` and `doctor` to the subcommands, and their handlers to HANDLERS."""
    from agent.cli.commands import HANDLERS

    devices = sub.add_parser(
        "devices",
        help="list the microphones; --meter shows one's input level",
        description="List the input devices PortAudio sees (index, name, host API, default rate, "
        "input channels; * marks the default input). With --meter DEVICE, show that device's "
        "level live for a few seconds, then RMS, peak and clipping, with a warning when it is "
        "too quiet to hear pops or clips.",
    )
    devices.add_argument(
        "--meter", metavar="DEVICE", help="name substring or index, as in `run --source mic:DEVICE`"
    )
    devices.add_argument(
        "--seconds", type=_positive, default=5.0, help="how long to meter (default: 5)"
    )
    devices.add_argument("--channel", type=int, help="meter only this 0-based input channel")

    doctor = sub.add_parser(
        "doctor",
        help="check config, model, microphone, broker and discovery",
        description="Check everything a first roast needs, one PASS/WARN/FAIL/SKIP line each "
        "with the fix for a failure: the config, the state directory, the model, the "
        "microphone (or each roaster's source), the broker login and Home Assistant "
        "discovery. Exits 1 when any check fails.",
    )
    doctor.add_argument("--config", type=Path, help="agent.yaml (default: config/agent.yaml)")
    doctor.add_argument("--model", help="check this model instead of the config's `model`")
    doctor.add_argument(
        "--source",
        help="check this source as `run --source` would take it (default: mic, the config's "
        "audio.device; with `roasters:` each roaster's own)",
    )
    HANDLERS["devices"] = cmd_devices
    HANDLERS["doctor"] = cmd_doctor


def _positive(text: str) -> float:
    value = float(text)
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600 seconds, got {text}")
    return value


def cmd_devices(args: argparse.Namespace) -> int:
    from agent.setup.capture import device_param
    from agent.setup.devices import format_devices, list_devices, run_meter
    from agent.sources import SourceError

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


def cmd_doctor(args: argparse.Namespace) -> int:
    from agent.cli.entry import UsageError
    from agent.setup.doctor import run_doctor

    overrides = {"model": args.model} if args.model is not None else None
    if args.source is not None:
        from agent.config import ConfigError, load_config

        try:
            roasters = load_config(args.config, overrides=overrides).roasters
        except ConfigError:
            roasters = []  # the config check reports it
        if roasters:
            raise UsageError("--source cannot be used with `roasters:` in the config")
    return run_doctor(args.config, sys.stdout, overrides=overrides, source=args.source)
