"""`firstcrack tune`: fine-tune on the user's labelled recordings, gated, then export.

Steps: find the labelled recordings (`firstcrack.models.tune.data`), split them by recording
(`models.datasets.splits.split_recordings`, stratified by first crack; the held-out ones are never
trained on), tune a copy of `--from` (`models.tune.fit`: head mode by default, `--mode full`
for a desktop) into a temporary directory beside `--out`, export ONNX fp32 + int8 there,
score the current and the candidate model on the held-out roasts through the live path
(`firstcrack.models.tune.report`), print the table, and only when the gate passes (or `--force`)
rename the temporary directory onto `--out` (the old one is renamed away first, then
removed), so a refused tune leaves `--out` exactly as it was.

Exit codes: 0 written; 1 refused by the gate; 2 bad input (missing folder, too few
labelled roasts, a model that does not load), one line, no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from firstcrack.models.tune.fit import DEFAULT_HOP_S

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """All `firstcrack tune` options (standard library only: no torch to build the parser)."""
    parser.add_argument("--recordings", type=Path, required=True,
                        help="folder of recordings (FLAC + sidecar JSON, .alog)")
    parser.add_argument("--from", dest="from_model",
                        help="model to start from and to compare with (default: the config's "
                        "`model`; `ast-demo` for the shipped tiny AST)")
    parser.add_argument("--out", type=Path,
                        help="output model directory (default: <state_dir>/models/tuned)")
    parser.add_argument("--config", type=Path, help="agent.yaml: detector, state_dir, model")
    parser.add_argument("--mode", choices=["head", "full"], default="head",
                        help="head: frozen backbone, cached embeddings (default, Pi-sized); "
                        "full: every weight (desktop)")
    parser.add_argument("--train-layers", type=int, default=0, metavar="K",
                        help="head mode: also train the last K encoder layers (default 0)")
    parser.add_argument("--accept-agent-labels", action="store_true",
                        help="also use roasts whose label is the agent's own (uncorrected)")
    parser.add_argument("--val-fraction", type=float, default=0.3,
                        help="held-out share of roasts, by recording (default 0.3)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: 300 head, "
                        "15 with --train-layers, 5 full)")
    parser.add_argument("--hop", type=float, default=DEFAULT_HOP_S, help="training window hop, s")
    parser.add_argument("--cache", type=Path,
                        help="embedding cache (default: <state_dir>/tune_cache)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch/onnx threads")
    parser.add_argument("--force", action="store_true",
                        help="write the model even when the gate refuses it (logged)")


def main(args: argparse.Namespace) -> int:
    """The CLI handler body; returns the exit code (see the module docstring)."""
    from firstcrack.agent.config import load_config
    from firstcrack.models.inference.classifier import load_classifier
    from firstcrack.models.tune.data import TuneDataError, labelled_recordings

    started = time.monotonic()
    if not args.recordings.is_dir():
        raise TuneDataError(f"--recordings {args.recordings}: no such folder")
    if args.train_layers < 0 or not 0 < args.val_fraction < 1:
        raise TuneDataError("--train-layers must be >= 0 and --val-fraction between 0 and 1")
    config = load_config(args.config)
    base = args.from_model or config.model
    out = Path(args.out or config.state_dir / "models" / "tuned").expanduser()
    recordings, counts = labelled_recordings(args.recordings, args.accept_agent_labels)
    current = load_classifier(base, threads=args.threads)  # exit 2 when it does not load
    if getattr(current, "architecture", "ast") != "ast":
        raise TuneDataError(
            f"--from {base}: `tune` fine-tunes an AST (the published checkpoint, a local AST "
            "folder or ast-demo); the pretrained ear's head is rebuilt with "
            "`python -m firstcrack.models.training.ear_select` (models/demo/README.md)")
    from firstcrack.models.extras import require

    require("train", "`firstcrack tune`")
    train, val = _split(recordings, args.val_fraction, args.seed)
    log.info("tuning %s on %d roasts, holding out %d", base, len(train), len(val))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        result = _tune(args, base, train, tmp, config)
        from firstcrack.models.training.export import export_onnx

        export_onnx(tmp, tmp / "onnx")
        candidate = load_classifier(str(tmp), threads=args.threads)
        return _gate_and_write(args, config, base, current, candidate, train, val, tmp, out,
                               result, counts, started)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _split(recordings: list[Any], val_fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    from firstcrack.models.datasets.splits import split_recordings

    parts = split_recordings({r.recording_id: r.has_crack for r in recordings},
                             val_fraction, 0.0, seed)
    held = set(parts["val"])
    return ([r for r in recordings if r.recording_id not in held],
            [r for r in recordings if r.recording_id in held])


def _tune(args: argparse.Namespace, base: str, train: list[Any], tmp: Path, config: Any) -> Any:
    from firstcrack.models.tune.fit import tune_full_model, tune_head_model

    window_s = config.detector.window_s
    if args.mode == "full":
        with tempfile.TemporaryDirectory(prefix="firstcrack-tune-") as folder:
            for rec in train:  # only the training roasts, by link: nothing copied
                for src in rec.path.parent.glob(rec.path.stem + ".*"):
                    (Path(folder) / src.name).symlink_to(src.resolve())
            result = tune_full_model(base, folder, tmp, epochs=args.epochs or 5,
                                     seed=args.seed, window_s=window_s, hop_s=args.hop)
        shutil.rmtree(tmp / "checkpoints", ignore_errors=True)  # the best model is saved
        return result
    cache = args.cache or config.state_dir / "tune_cache"
    return tune_head_model(base, train, tmp, cache, args.train_layers, window_s, args.hop,
                           args.epochs, seed=args.seed, threads=args.threads)


def _gate_and_write(args: argparse.Namespace, config: Any, base: str, current: Any,
                    candidate: Any, train: list[Any], val: list[Any], tmp: Path, out: Path,
                    result: Any, counts: dict[str, int], started: float) -> int:
    from firstcrack.models.tune.report import ONSET_TOLERANCE_S, event_rows, format_table, gate
    from firstcrack.models.tune.report import summarise as row

    cur = row("current", event_rows(val, current, config))
    new = row("tuned", event_rows(val, candidate, config))
    table = format_table([cur, new])
    print(f"held-out roasts ({len(val)}): {', '.join(r.recording_id for r in val)}")
    print(table)
    passed, reasons = gate(cur, new)
    report = {
        "from": base, "mode": args.mode, "train_layers": args.train_layers, "passed": passed,
        "forced": bool(args.force and not passed), "refused_because": reasons,
        "onset_tolerance_s": ONSET_TOLERANCE_S, "table": [cur, new], "table_text": table,
        "train_recordings": [r.recording_id for r in train],
        "val_recordings": [r.recording_id for r in val], "label_sources": counts,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                    if k not in ("argv",)},
        "tune": vars(result), "wall_time_s": round(time.monotonic() - started, 1),
    }
    if not passed and not args.force:
        print(f"refused: the tuned model is worse on the held-out roasts: {'; '.join(reasons)}. "
              f"Nothing written to {out}.")
        return 1
    if not passed:
        log.warning("--force: writing a model the gate refused (%s)", "; ".join(reasons))
    (tmp / "tune_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{int(time.time())}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    print(f"tuned model written to {out} in {report['wall_time_s']:.0f} s")
    print(f"use it: firstcrack run --model {out}   (or in agent.yaml: model: {out})")
    return 0
