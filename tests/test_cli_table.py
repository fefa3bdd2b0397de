"""One command table (agent/cli/table.py): each command's module loads only when it runs,
and every user-facing error is a `UserError`."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from firstcrack.agent.cli.entry import build_parser, main
from firstcrack.agent.cli.table import COMMANDS
from firstcrack.models.contracts import SAMPLE_RATE, UserError

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = tuple(f"firstcrack.models.{p}"
                for p in ("sim", "datasets", "training", "tune", "evaluation", "bench"))
LOADED = """
import json, sys
from firstcrack.agent.cli.entry import main
try:
    code = main({argv!r})
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "modules": sorted(sys.modules)}}))
"""


def _modules_after(argv: list[str]) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", LOADED.format(argv=argv)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["code"], set(out["modules"])


def _offline(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.startswith(OFFLINE))


def test_every_command_module_has_the_two_functions() -> None:
    assert len({c.name for c in COMMANDS}) == len(COMMANDS)
    for command in COMMANDS:
        module = command.load()
        parser = argparse.ArgumentParser(prog=command.name)
        module.add_arguments(parser)
        assert callable(module.main), command.name


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]])
def test_help_loads_no_offline_code(argv: list[str]) -> None:
    code, modules = _modules_after(argv)
    assert code == 0
    assert _offline(modules) == []
    assert not {"tqdm", "soundfile", "torch", "scipy"} & {m.split(".")[0] for m in modules}


def test_run_on_a_recording_loads_no_offline_code(tmp_path: Path) -> None:
    """`run` on a file with the shipped model: the runtime only, no simulator, no lifecycle."""
    import soundfile as sf

    wav = tmp_path / "room.wav"
    rng = np.random.default_rng(0)
    sf.write(wav, (0.01 * rng.standard_normal(12 * SAMPLE_RATE)).astype("float32"), SAMPLE_RATE)
    code, modules = _modules_after(["run", "--model", "demo", "--source", f"file:{wav}",
                                    "--speed", "0", "--no-mqtt", "--quiet"])
    assert code == 0
    assert _offline(modules) == []
    assert "firstcrack.models.inference.classifier" in modules  # it did load a model


def test_parsing_adds_only_the_chosen_commands_options() -> None:
    parser = build_parser("simulate")
    args = parser.parse_args(["simulate", "out.wav", "--seed", "3"])
    assert args.seed == 3
    with pytest.raises(SystemExit):
        build_parser(None).parse_args(["simulate", "out.wav"])  # its options were not added


def test_user_errors_exit_2_with_one_line(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(tmp_path / "missing.wav"), "--model", "demo"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("firstcrack analyze: error: ")


def test_every_user_facing_error_is_a_user_error() -> None:
    from firstcrack.agent.artisan.bridge import ArtisanError
    from firstcrack.agent.cli.options import UsageError
    from firstcrack.agent.config import ConfigError
    from firstcrack.agent.mqtt.validation import CommandError
    from firstcrack.agent.sources import SourceError
    from firstcrack.models.bench.command import BenchError
    from firstcrack.models.datasets.alog import AlogError
    from firstcrack.models.datasets.records import AudioError, DatasetError
    from firstcrack.models.evaluation.clips import ClipEvalError
    from firstcrack.models.evaluation.event_run import EvaluateError
    from firstcrack.models.extras import MissingExtraError
    from firstcrack.models.inference.classifier import ModelLoadError
    from firstcrack.models.sim.simulator import SimulatorError
    from firstcrack.models.training.export import ExportError
    from firstcrack.models.training.options import TrainError
    from firstcrack.models.tune.data import TuneDataError

    for error in (ArtisanError, UsageError, ConfigError, CommandError, SourceError, BenchError,
                  AlogError, AudioError, DatasetError, ClipEvalError, EvaluateError,
                  MissingExtraError, ModelLoadError, SimulatorError, ExportError, TrainError,
                  TuneDataError):
        assert issubclass(error, UserError), error.__name__
