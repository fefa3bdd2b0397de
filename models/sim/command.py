"""`firstcrack simulate`: write a synthetic roast and its ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CHOICE = {"auto": None, "yes": True, "no": False}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="output WAV path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--duration", type=float, help="seconds (default: drawn, 575-908)")
    parser.add_argument("--no-crack", action="store_true", help="a roast with no first crack")
    parser.add_argument(
        "--second-crack", choices=list(CHOICE), default="auto",
        help="include second crack (default: drawn from the seed)",
    )
    parser.add_argument(
        "--sparse", choices=list(CHOICE), default="auto",
        help="sparse first crack, 8-30 scattered pops (default: drawn from the seed)",
    )


def main(args: argparse.Namespace) -> int:
    from firstcrack.models.sim.simulator import write_roast

    wav, truth = write_roast(
        args.out,
        args.seed,
        duration_s=args.duration,
        crack=not args.no_crack,
        second_crack=CHOICE[args.second_crack],
        sparse=CHOICE[args.sparse],
    )
    info = json.loads(truth.read_text())
    onset = info.get("first_crack_onset_s")
    where = "no first crack" if onset is None else f"first crack at {onset:.1f} s"
    print(f"wrote {wav} ({info['duration']:.1f} s, {where}) and {truth}")
    return 0
