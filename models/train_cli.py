"""`firstcrack train` options, apart from training itself, so the CLI is built without torch.

The parser for `train` (and `evaluate`, which shares the data options) is
built on every command, also in a base install without the [train] extra.
This module needs only the standard library; `run_train` checks for the
extra and only then imports `models.train`, which needs torch and transformers.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.train import TrainReport

DEFAULT_BASE_MODEL = "MIT/ast-finetuned-audioset-10-10-0.4593"
FINE_TUNE_LR, SCRATCH_LR = 5e-5, 5e-4
"""Default learning rates: a pretrained backbone wants small steps, a random one larger."""


class TrainError(ValueError):
    """Bad training input: options, base model, or a dataset that cannot be split."""


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


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """All `firstcrack train` options; `run_train(args)` consumes them."""
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


def run_train(args: argparse.Namespace) -> TrainReport:
    """The CLI handler body: map parsed options onto `train` (needs the [train] extra)."""
    from models.extras import require

    require("train", "`firstcrack train`")
    from models.train import train

    return train(
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
