"""The command table: every `firstcrack` command, its help, and the module that runs it.

A command module defines two functions:

- `add_arguments(parser)`: adds the command's options to its subparser;
- `main(args) -> int`: runs the command and returns its exit code.

The parser lists every command with its help, but imports a command's module only when
that command is the one being run (or its `--help` is asked for). So `firstcrack run`
never loads the simulator, training, tuning, evaluation or bench code, and
`firstcrack --help` loads none of them (tests/test_cli_table.py checks both).
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from typing import Protocol, cast


class CommandModule(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def main(self, args: argparse.Namespace) -> int: ...


@dataclass(frozen=True)
class Command:
    name: str
    module: str
    help: str
    description: str

    def load(self) -> CommandModule:
        return cast(CommandModule, importlib.import_module(self.module))


COMMANDS: tuple[Command, ...] = (
    Command(
        "run", "firstcrack.agent.cli.run_command",
        "the agent: listen, detect, publish",
        "Run the agent: capture audio, detect first crack, publish to MQTT (when "
        "mqtt.enabled) and print JSON lines to stdout.",
    ),
    Command(
        "devices", "firstcrack.agent.cli.devices_command",
        "list the microphones; --meter shows one's input level",
        "List the input devices PortAudio sees (index, name, host API, default rate, input "
        "channels; * marks the default input). With --meter DEVICE, show that device's level "
        "live for a few seconds, then RMS, peak and clipping, with a warning when it is too "
        "quiet to hear pops or clips.",
    ),
    Command(
        "doctor", "firstcrack.agent.cli.doctor_command",
        "check config, model, microphone, broker and discovery",
        "Check everything a first roast needs, one PASS/WARN/FAIL/SKIP line each with the fix "
        "for a failure: the config, the state directory, the model, the microphone (or each "
        "roaster's source), the broker login and Home Assistant discovery. Exits 1 when any "
        "check fails.",
    ),
    Command(
        "demo", "firstcrack.agent.demo.run_demo",
        "simulated roast + demo model + in-process broker",
        "The whole agent on embedded defaults: a simulated roast at high speed, the shipped "
        "demo model and an in-process MQTT broker. Prints what a subscriber sees.",
    ),
    Command(
        "analyze", "firstcrack.agent.cli.analyze_command",
        "offline detection on a recording",
        "Run a recording through the live path (windower, classifier, detector).",
    ),
    Command(
        "simulate", "firstcrack.models.sim.command",
        "write a synthetic roast WAV + ground truth JSON",
        "Write OUT.wav (16 kHz) and OUT.json ground truth (annotation format).",
    ),
    Command(
        "export", "firstcrack.models.training.export_command",
        "export a model to ONNX fp32 + int8",
        "Write OUT_DIR/fp32/model.onnx and OUT_DIR/int8/model_quantized.onnx.",
    ),
    Command(
        "train", "firstcrack.models.training.command",
        "fine-tune or train an AST on roast audio",
        "Fine-tune an AST (default base MIT/ast-finetuned-audioset-10-10-0.4593) or train a "
        "small one from scratch, on recordings, chunk folders or simulated roasts. Writes a "
        "save_pretrained directory and train_report.json.",
    ),
    Command(
        "evaluate", "firstcrack.models.evaluation.event_eval",
        "window and event metrics of a model",
        "Window metrics (accuracy, precision, recall, F1, ROC-AUC, confusion, threshold "
        "sweep) and event metrics on whole recordings through the live detector (onset "
        "error, detection delay, missed roasts, false alarms per hour).",
    ),
    Command(
        "bench", "firstcrack.models.bench.command",
        "measure latency and CPU per roast on this machine",
        "Per-window latency per backend, feature time, real-time factor, CPU seconds per "
        "roast minute and peak RSS, each as a ratio against the baseline profile.",
    ),
    Command(
        "tune", "firstcrack.models.tune.command",
        "fine-tune on your own labelled roasts, gated against the current model",
        "Tune a copy of the model on the labelled recordings in --recordings (head mode: "
        "frozen backbone, cached embeddings), compare it with the current model on held-out "
        "roasts, and write it (save_pretrained + ONNX int8) only when it is no worse. Exit 1 "
        "when refused, 2 for bad input.",
    ),
    Command(
        "evaluate-clips", "firstcrack.models.evaluation.clips",
        "how a model does on real short crack and background clips",
        "Real-clip ROC-AUC (crack clips spliced into background, and zero-padded), background "
        "false positives, popcorn firing and |delta p| stability; a table and JSON.",
    ),
)

BY_NAME: dict[str, Command] = {c.name: c for c in COMMANDS}
