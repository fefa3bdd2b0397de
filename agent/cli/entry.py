"""The `firstcrack` command line (README, "Command line").

Exit codes: 0 success; 2 bad usage, bad config, bad input file or a model
that cannot be loaded (the message names the offending thing); 1 runtime
failure. User mistakes never print a traceback; `--debug` shows one.
Heavy imports (torch, transformers) happen inside the commands, so `--help`
stays fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A user mistake that is not a config, source or model error."""


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the user asked for something wrong: exit 2, no traceback.

    `ConfigError` covers every out-of-range or unknown key from the file, the
    environment and the flags that override config keys (`evaluate --hop`),
    cadence limits included (they live in the config; agent/core/cadence.py
    has none of its own). `CommandError` is a rejected `/set` value.
    `MissingExtraError` is a command that needs an optional part of the install
    (`pip install 'firstcrack-agent[demo]'`).

    A module that cannot be imported here (models.train without the [train]
    extra) contributes nothing: nothing can have raised its error.
    """
    import importlib

    from models.extras import MissingExtraError

    errors: list[type[BaseException]] = [UsageError, MissingExtraError, FileNotFoundError]
    for module, name in (
        ("agent.config", "ConfigError"),
        ("agent.mqtt.validation", "CommandError"),
        ("agent.artisan.bridge", "ArtisanError"),
        ("agent.sources", "SourceError"),
        ("models.classifier", "ModelLoadError"),
        ("models.export", "ExportError"),
        ("models.simulator", "SimulatorError"),
        ("models.datasets", "DatasetError"),
        ("models.artisan", "AlogError"),
        ("models.train_cli", "TrainError"),
        ("models.tune_data", "TuneDataError"),
        ("agent.tools.eval_run", "EvaluateError"),
        ("models.clip_eval", "ClipEvalError"),
    ):
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except ImportError:
            continue
    return tuple(errors)


def _add_model_options(parser: argparse.ArgumentParser, default_help: str) -> None:
    parser.add_argument(
        "--model",
        help=f"hub id, local save_pretrained dir, .onnx file, or `demo` ({default_help})",
    )
    parser.add_argument(
        "--backend", choices=["auto", "onnx", "torch"], help="inference backend (default: auto)"
    )
    parser.add_argument("--threads", type=int, help="inference threads (default: all cores)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="firstcrack",
        description="Hear coffee first crack with an AST classifier and report it over MQTT.",
    )
    parser.add_argument("--debug", action="store_true", help="verbose logs and tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="the agent: listen, detect, publish",
        description="Run the agent: capture audio, detect first crack, publish to MQTT "
        "(when mqtt.enabled) and print JSON lines to stdout.",
    )
    run.add_argument("--config", type=Path, help="agent.yaml (default: config/agent.yaml)")
    _add_model_options(run, "default: the config's `model`, the published checkpoint")
    run.add_argument(
        "--source",
        help="mic | mic:DEVICE | file:PATH | sim | sim:SEED (default: mic; with `roasters:` "
        "in the config, each roaster names its own)",
    )
    run.add_argument(
        "--speed", type=float, default=1.0, help="replay speed for file/sim (e.g. 20; 0 = max)"
    )
    run.add_argument("--no-mqtt", action="store_true", help="do not connect to a broker")
    run.add_argument("--quiet", action="store_true", help="no JSON lines on stdout")
    from agent.cli.setup_commands import add_setup_commands  # devices, doctor

    add_setup_commands(sub)

    demo = sub.add_parser(
        "demo",
        help="simulated roast + demo model + in-process broker",
        description="The whole agent on embedded defaults: a simulated roast at high speed, the "
        "shipped demo model and an in-process MQTT broker. Prints what a subscriber sees.",
    )
    demo.add_argument("--seed", type=int, default=7, help="simulated roast seed (default: 7)")
    demo.add_argument("--speed", type=float, default=40.0, help="replay speed (default: 40)")
    demo.add_argument("--broker", help="use an external broker HOST[:PORT] instead")
    demo.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto")

    analyze = sub.add_parser(
        "analyze",
        help="offline detection on a recording",
        description="Run a recording through the live path (windower, classifier, detector).",
    )
    analyze.add_argument("audio", type=Path, help="wav/flac/ogg, any rate and channels")
    analyze.add_argument("--config", type=Path, help="detector settings from agent.yaml")
    _add_model_options(analyze, "default: the published checkpoint")
    analyze.add_argument("--json", type=Path, dest="json_out", help="write results as JSON")
    analyze.add_argument("--plot", type=Path, help="write a PNG of probability over time")

    sim = sub.add_parser(
        "simulate",
        help="write a synthetic roast WAV + ground truth JSON",
        description="Write OUT.wav (16 kHz) and OUT.json ground truth (annotation format).",
    )
    sim.add_argument("out", type=Path, help="output WAV path")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--duration", type=float, help="seconds (default: drawn, 575-908)")
    sim.add_argument("--no-crack", action="store_true", help="a roast with no first crack")
    sim.add_argument(
        "--second-crack",
        choices=["auto", "yes", "no"],
        default="auto",
        help="include second crack (default: drawn from the seed)",
    )
    sim.add_argument(
        "--sparse",
        choices=["auto", "yes", "no"],
        default="auto",
        help="sparse first crack, 8-30 scattered pops (default: drawn from the seed)",
    )

    export = sub.add_parser(
        "export",
        help="export a model to ONNX fp32 + int8",
        description="Write OUT_DIR/fp32/model.onnx and OUT_DIR/int8/model_quantized.onnx.",
    )
    export.add_argument("model_dir", type=Path)
    export.add_argument("out_dir", type=Path)
    export.add_argument("--verify-audio", type=Path, help="verify on windows of this recording")

    _add_lifecycle_commands(sub)
    return parser


def _add_lifecycle_commands(sub: argparse._SubParsersAction) -> None:
    from agent.cli.commands import add_optional_commands

    add_optional_commands(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded by `train`
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    _quiet_libraries()
    handler: Callable[[argparse.Namespace], int] = _handler(args.command)
    try:
        return handler(args)
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:
        if isinstance(exc, _user_errors()):
            print(f"firstcrack {args.command}: error: {exc}", file=sys.stderr)
            if args.debug:
                raise
            return EXIT_USAGE
        if args.debug:
            raise
        print(f"firstcrack {args.command}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_RUNTIME


def _quiet_libraries() -> None:
    """transformers draws a progress bar on every model load; our own bars are enough.

    Environment variables and logger levels only: importing `transformers.utils` here
    would import transformers (and torch) on every command, which the ONNX runtime path
    must not (issue 11). transformers reads TRANSFORMERS_NO_ADVISORY_WARNINGS and
    HF_HUB_DISABLE_PROGRESS_BARS when it is first imported, which, when a command needs
    it, is after this; a transformers already imported is quietened directly.
    """
    import os

    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    for noisy in ("amqtt", "transitions", "passlib"):  # the in-process broker's libraries
        logging.getLogger(noisy).setLevel(logging.WARNING)
    hf_logging = sys.modules.get("transformers.utils.logging")
    if hf_logging is not None:
        hf_logging.disable_progress_bar()
    hub_utils = sys.modules.get("huggingface_hub.utils")
    if hub_utils is not None:
        hub_utils.disable_progress_bars()


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    from agent.cli import commands

    return commands.HANDLERS[command]


if __name__ == "__main__":
    raise SystemExit(main())
