"""From a clean clone, the model lifecycle runs end to end through the CLI, at CI size.

`firstcrack train` (from scratch, on simulated roasts) -> `evaluate` (held-out seeds,
through the live detector) -> `export` (ONNX fp32 + int8), and the exported int8 model
agrees with torch within the stated bound.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from firstcrack.agent.cli import main
from firstcrack.models.inference.classifier import load_classifier

INT8_BOUND = 0.05  # max |p_int8 - p_torch|, as tests/test_export.py states


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lifecycle") / "model"
    code = main(
        [
            "train",
            "--out",
            str(out),
            "--simulate",
            "2,1",
            "--sim-duration",
            "60",
            "--from-scratch",
            "tiny",
            "--epochs",
            "1",
            "--seed",
            "3",
        ]
    )
    assert code == 0
    return out


def test_train_writes_model_and_report(trained: Path) -> None:
    report = json.loads((trained / "train_report.json").read_text())
    assert report["command"].startswith("firstcrack train")
    assert report["simulated"]["crack_seeds"] == [0, 1]
    assert (trained / "config.json").is_file() and (trained / "preprocessor_config.json").is_file()


def test_evaluate_on_held_out_seeds_writes_metrics_and_plots(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval.json"
    code = main(
        [
            "evaluate",
            "--model",
            str(trained),
            "--simulate",
            "1,1",
            "--sim-duration",
            "60",
            "--json",
            str(out),
            "--plots",
            str(tmp_path / "plots"),
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    window = result["window_metrics"]
    assert {"accuracy", "precision", "recall", "f1", "auc", "confusion"} <= set(window)
    assert len(result["threshold_sweep"]) >= 10
    events = result["events"]
    assert events["crack_recordings"] == 1 and events["missed"] + events["detected"] == 1
    assert (tmp_path / "plots" / "roc.png").is_file()
    assert (tmp_path / "plots" / "sweep.png").is_file()
    assert "windows: n=" in capsys.readouterr().out


def test_export_int8_agrees_with_torch(trained: Path, tmp_path: Path) -> None:
    assert main(["export", str(trained), str(tmp_path / "onnx")]) == 0
    int8 = tmp_path / "onnx" / "int8" / "model_quantized.onnx"
    assert (int8.parent / "preprocessor_config.json").is_file()
    rng = np.random.default_rng(0)
    windows = (0.05 * rng.standard_normal((3, 160000))).astype(np.float32)
    p_torch = load_classifier(str(trained), backend="torch").predict(windows)
    p_int8 = load_classifier(str(int8)).predict(windows)
    assert np.max(np.abs(p_int8 - p_torch)) < INT8_BOUND
