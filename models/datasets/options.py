"""The `--data` / `--simulate` options that `train` and `evaluate` share."""

from __future__ import annotations

import argparse
from pathlib import Path


def _pair(text: str) -> tuple[int, int]:
    try:
        a, b = (int(x) for x in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected N_CRACK,N_NOCRACK, got {text!r}") from exc
    if a < 0 or b < 0 or a + b == 0:
        raise argparse.ArgumentTypeError(f"counts must be >= 0 and not both 0, got {text!r}")
    return a, b


def add_data_arguments(parser: argparse.ArgumentParser, default_offset: int) -> None:
    """--data / --simulate options shared by train and evaluate."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="chunk layout or recordings with annotations")
    src.add_argument("--simulate", type=_pair, metavar="N_CRACK,N_NOCRACK",
                     help="generate this many simulated roasts first")
    parser.add_argument("--sim-seed-offset", type=int, default=default_offset,
                        help=f"first simulator seed (default {default_offset})")
    parser.add_argument("--sim-duration", type=float, help="simulated roast length, s")
    parser.add_argument("--audio-offset", type=float, default=0.0, help="for .alog "
                        "annotations: Artisan time (s after timex[0]) when the audio starts")
