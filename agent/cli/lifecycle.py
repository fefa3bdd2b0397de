"""Registers `train`, `evaluate`, `bench`, `tune`, `evaluate-clips`; options live in their code."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def register(sub: argparse._SubParsersAction, handlers: dict[str, Handler]) -> None:
    train = sub.add_parser(
        "train",
        help="fine-tune or train an AST on roast audio",
        description="Fine-tune an AST (default base MIT/ast-finetuned-audioset-10-10-0.4593) or "
        "train a small one from scratch, on recordings, chunk folders or simulated roasts. "
        "Writes a save_pretrained directory and train_report.json.",
    )
    evaluate = sub.add_parser(
        "evaluate",
        help="window and event metrics of a model",
        description="Window metrics (accuracy, precision, recall, F1, ROC-AUC, confusion, "
        "threshold sweep) and event metrics on whole recordings through the live detector "
        "(onset error, detection delay, missed roasts, false alarms per hour).",
    )
    bench = sub.add_parser(
        "bench",
        help="measure latency and CPU per roast on this machine",
        description="Per-window latency per backend, feature time, real-time factor, CPU "
        "seconds per roast minute and peak RSS, each as a ratio against the baseline profile.",
    )
    _wire(train, "models.train_cli", "add_train_arguments", "run_train", "train", handlers)
    _wire(evaluate, "agent.tools.event_eval", "add_evaluate_arguments", "run_evaluate",
          "evaluate", handlers)
    _wire(bench, "agent.tools.bench", "add_bench_arguments", "run_bench", "bench", handlers)
    tune = sub.add_parser(
        "tune",
        help="fine-tune on your own labelled roasts, gated against the current model",
        description="Tune a copy of the model on the labelled recordings in --recordings "
        "(head mode: frozen backbone, cached embeddings), compare it with the current model "
        "on held-out roasts, and write it (save_pretrained + ONNX int8) only when it is no "
        "worse. Exit 1 when refused, 2 for bad input.",
    )
    _wire(tune, "agent.tools.tune", "add_tune_arguments", "run_tune", "tune", handlers)
    clips = sub.add_parser(
        "evaluate-clips",
        help="how a model does on real short crack and background clips",
        description="Real-clip ROC-AUC (crack clips spliced into background, and zero-padded), "
        "background false positives, popcorn firing and |delta p| stability; a table and JSON.",
    )
    _wire(clips, "models.clip_eval", "add_clip_eval_arguments", "run_clip_eval",
          "evaluate-clips", handlers)
    handlers["evaluate-clips"] = _reporting(handlers["evaluate-clips"], _clip_summary)
    handlers["train"] = _reporting(handlers["train"], _train_summary)
    handlers["evaluate"] = _reporting(handlers["evaluate"], _evaluate_summary)


def _reporting(run: Callable[[argparse.Namespace], Any], summary: Callable[[Any], str]) -> Handler:
    """Print a result's summary and turn it into exit code 0 (ints pass through)."""

    def handler(args: argparse.Namespace) -> int:
        result = run(args)
        if isinstance(result, int):
            return result
        print(summary(result))
        return 0

    return handler


def _train_summary(report: Any) -> str:
    best = report.best or {}
    shown = ", ".join(f"{k}={v:.3f}" for k, v in best.items() if isinstance(v, float))
    took = f" in {report.wall_time_s:.0f} s"
    return f"model written to {report.output_dir}{took}" + (f"; best {shown}" if shown else "")


def _evaluate_summary(result: Any) -> str:
    from agent.tools.event_eval import format_summary

    return format_summary(result)


def _clip_summary(result: Any) -> str:
    from models.clip_eval import format_table

    return format_table(result)


def _wire(
    parser: argparse.ArgumentParser,
    module_name: str,
    add_name: str,
    run_name: str,
    command: str,
    handlers: dict[str, Handler],
) -> None:
    """Options from the module that runs the command; an import failure is a real error."""
    import importlib

    module: Any = importlib.import_module(module_name)
    getattr(module, add_name)(parser)
    handlers[command] = getattr(module, run_name)
