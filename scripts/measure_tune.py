"""Measure `firstcrack tune` on the simulated "unlike" roaster (models/sim/unlike.py).

Writes 5 user-labelled roasts (seeds 200-204, recorder layout), times a cheap-mode
(`--mode head`) tune from the demo model, then prints the before/after table on held-out
seeds 100-105 that tuning never saw, through the live detection path.

    python scripts/measure_tune.py [--duration 420] [--keep DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

TRAIN_SEEDS = range(200, 205)
HELD_OUT_SEEDS = range(100, 106)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=420.0)
    parser.add_argument("--keep", type=Path, help="work here instead of a temporary folder")
    args = parser.parse_args()

    from firstcrack.agent.cli.entry import main as cli
    from firstcrack.agent.config import AgentConfig
    from firstcrack.models.datasets.records import Recording
    from firstcrack.models.inference.classifier import load_classifier
    from firstcrack.models.sim.recordings import write_user_roasts
    from firstcrack.models.sim.unlike import simulate_unlike
    from firstcrack.models.tune.report import event_rows, format_table, summarise

    work = args.keep or Path(tempfile.mkdtemp(prefix="measure-tune-"))
    rec = work / "recordings"
    write_user_roasts(rec, TRAIN_SEEDS, simulate_unlike, args.duration)
    out = work / "tuned"
    started = time.monotonic()
    code = cli(["tune", "--recordings", str(rec), "--from", "ast-demo", "--out", str(out),
                "--cache", str(work / "cache"), "--force"])
    took = time.monotonic() - started
    print(f"cheap-mode tune on {len(TRAIN_SEEDS)} roasts of {args.duration:g} s: {took:.0f} s "
          f"(exit {code})")
    held = []
    for seed in HELD_OUT_SEEDS:
        audio, truth = simulate_unlike(seed, args.duration)
        held.append(Recording(f"seed{seed}", Path(f"seed{seed}"), audio,
                              [(truth.first_crack_onset_s, truth.first_crack_end_s)], {}))
    config = AgentConfig()
    rows = [summarise(name, event_rows(held, load_classifier(ref), config))
            for name, ref in (("demo", "demo"), ("tuned", str(out)))]
    print(f"held-out seeds {HELD_OUT_SEEDS.start}-{HELD_OUT_SEEDS.stop - 1}:")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
