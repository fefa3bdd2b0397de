"""`firstcrack doctor`: exits 1 when any check fails, 0 otherwise.

agent/setup/doctor.py says why an invalid config is 1 here, not 2.
"""

from __future__ import annotations

import argparse
import sys

from firstcrack.agent.cli import options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_config_option(parser, "agent.yaml (default: config/agent.yaml)")
    parser.add_argument("--model", help="check this model instead of the config's `model`")
    parser.add_argument(
        "--source",
        help="check this source as `run --source` would take it (default: mic, the config's "
        "audio.device; with `roasters:` each roaster's own)",
    )


def main(args: argparse.Namespace) -> int:
    from firstcrack.agent.setup.doctor import run_doctor

    overrides = {"model": args.model} if args.model is not None else None
    if args.source is not None:
        from firstcrack.agent.config import ConfigError, load_config

        try:
            roasters = load_config(args.config, overrides=overrides).roasters
        except ConfigError:
            roasters = []  # the config check reports it
        if roasters:
            raise options.UsageError("--source cannot be used with `roasters:` in the config")
    return run_doctor(args.config, sys.stdout, overrides=overrides, source=args.source)
