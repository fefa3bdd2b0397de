"""`firstcrack train`: its options, and the handler that runs training (needs [train]).

This module needs only the standard library; `main` checks for the [train] extra and
only then imports models/training/train.py, which needs torch and transformers.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from firstcrack.models.datasets.options import add_data_arguments
from firstcrack.models.training.options import DEFAULT_BASE_MODEL, FINE_TUNE_LR, SCRATCH_LR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """All `firstcrack train` options; `main(args)` consumes them."""
    parser.add_argument("--out", type=Path, required=True, help="output model directory")
    add_data_arguments(parser, default_offset=0)
    parser.add_argument("--base", default=DEFAULT_BASE_MODEL, help="hub id or local dir")
    parser.add_argument("--from-scratch", metavar="CONFIG",
                        help="train a new AST from a config JSON, or `tiny`")
    parser.add_argument("--epochs", type=float, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float,
                        help=f"learning rate (default {FINE_TUNE_LR:g}; scratch {SCRATCH_LR:g})")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--max-grad-norm", type=float, default=1.0)
    parser.add_argument("--freeze-layers", type=int, default=0,
                        help="freeze embeddings + the first N encoder layers")
    parser.add_argument("--patience", type=int, default=3, help="early stopping, epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--test-fraction", type=float, default=0.0)
    parser.add_argument("--window", type=float, default=10.0, help="chunk length, s")
    parser.add_argument("--hop", type=float, default=5.0, help="chunk hop, s")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--resume", action="store_true", help="continue the last checkpoint")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps (smoke runs)")


def main(args: argparse.Namespace) -> int:
    """Map parsed options onto `train` (needs the [train] extra); print where it went."""
    from firstcrack.models.extras import require

    require("train", "`firstcrack train`")
    from firstcrack.models.training.train import train

    report = train(
        out_dir=args.out, data=args.data, simulate=args.simulate,
        sim_seed_offset=args.sim_seed_offset, sim_duration=args.sim_duration, base=args.base,
        from_scratch=args.from_scratch, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.lr, weight_decay=args.weight_decay, warmup_ratio=args.warmup_ratio,
        max_grad_norm=args.max_grad_norm, freeze_layers=args.freeze_layers,
        patience=args.patience, seed=args.seed, val_fraction=args.val_fraction,
        test_fraction=args.test_fraction, window_s=args.window, hop_s=args.hop,
        augment=not args.no_augment, resume=args.resume, max_steps=args.max_steps,
        audio_offset_s=args.audio_offset,
        command=shlex.join(["firstcrack", *getattr(args, "argv", sys.argv[1:])]),
    )
    best = report.best or {}
    shown = ", ".join(f"{k}={v:.3f}" for k, v in best.items() if isinstance(v, float))
    took = f" in {report.wall_time_s:.0f} s"
    print(f"model written to {report.output_dir}{took}" + (f"; best {shown}" if shown else ""))
    return 0
