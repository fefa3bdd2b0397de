"""`firstcrack tune`: inputs it refuses, the .alog label beside a recorder sidecar, and the
acceptance run on the simulated "unlike" roaster (models/sim/unlike.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from firstcrack.agent.cli.entry import main as cli
from firstcrack.models.datasets.layouts import load_recordings
from firstcrack.models.sim.recordings import write_user_roasts
from firstcrack.models.sim.unlike import simulate_unlike


def test_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli(["tune", "--recordings", str(tmp_path / "nope"), "--from", "ast-demo"])
    assert code == 2
    assert "no such folder" in capsys.readouterr().err


def test_too_few_labelled_roasts_exit_2_and_say_how_to_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_user_roasts(tmp_path, [1, 2], simulate_unlike, 60.0)
    write_user_roasts(tmp_path, [3], simulate_unlike, 60.0, label_source="agent")
    code = cli(["tune", "--recordings", str(tmp_path), "--from", "ast-demo",
                "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "2 labelled roast(s) found, at least 3" in err and "first_crack_now" in err
    assert not (tmp_path / "out").exists()


def test_no_roast_with_first_crack_exits_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    write_user_roasts(tmp_path, [], simulate_unlike, 60.0, no_crack_seeds=[1, 2, 3])
    assert cli(["tune", "--recordings", str(tmp_path), "--from", "ast-demo"]) == 2
    assert "none of the 3 labelled roasts has a first crack" in capsys.readouterr().err


def test_tuning_the_ear_is_refused_with_the_way_forward(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_user_roasts(tmp_path, [1, 2, 3], simulate_unlike, 60.0)
    assert cli(["tune", "--recordings", str(tmp_path), "--from", "demo"]) == 2
    err = capsys.readouterr().err
    assert "fine-tunes an AST" in err and "firstcrack.models.training.ear_select" in err


def test_alog_beside_a_sidecar_is_the_label_aligned_on_charge(tmp_path: Path) -> None:
    write_user_roasts(tmp_path, [1], simulate_unlike, 60.0, label_source="agent")
    side = tmp_path / "roast_00001.json"
    doc = json.loads(side.read_text())
    doc["firstcrack"]["charge_s"] = 5.0
    side.write_text(json.dumps(doc))
    # Artisan: logging from 0, CHARGE at 20 s, FCs at 50 s, FCe at 58 s (Artisan time)
    timex = [float(t) for t in range(0, 80)]
    (tmp_path / "roast_00001.alog").write_text(repr(
        {"timex": timex, "timeindex": [20, 0, 50, 58, 0, 0, 0, 0]}))
    rec = load_recordings(tmp_path, [])[0]
    assert rec.regions == [(pytest.approx(35.0), pytest.approx(43.0))]  # 50 - 20 + 5
    assert rec.annotation["label_source"] == "artisan"
    doc["label_source"] = "user"  # the user's own mark outranks the profile
    side.write_text(json.dumps(doc))
    assert load_recordings(tmp_path, [])[0].annotation["label_source"] == "user"


def test_gate_refuses_more_misses_false_alarms_or_a_worse_onset() -> None:
    from firstcrack.models.tune.report import gate

    def row(misses: int, fa: int, median: float | None) -> dict:
        return {"misses": misses, "false_alarms": fa, "median_abs_onset_error_s": median}

    assert gate(row(2, 0, 5.0), row(0, 0, 6.9)) == (True, [])
    assert not gate(row(0, 0, 5.0), row(1, 0, 5.0))[0]
    assert not gate(row(0, 0, 5.0), row(0, 1, 5.0))[0]
    assert "median" in gate(row(0, 0, 5.0), row(0, 0, 7.5))[1][0]
    assert gate(row(3, 0, None), row(0, 0, 12.0))[0]  # the current model found nothing


def _refuse(*_: object) -> tuple[bool, list[str]]:
    return False, ["refused by the test"]


def test_a_refused_tune_leaves_the_old_model_and_force_replaces_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import firstcrack.models.tune.report as report
    from firstcrack.models.inference.classifier import load_classifier

    data = tmp_path / "rec"
    write_user_roasts(data, [211, 212, 213], simulate_unlike, 240.0)
    out = tmp_path / "tuned"
    out.mkdir()
    (out / "marker").write_text("the model the agent runs today")
    monkeypatch.setattr(report, "gate", _refuse)
    args = ["tune", "--recordings", str(data), "--from", "ast-demo", "--out", str(out),
            "--cache", str(tmp_path / "cache")]

    assert cli(args) == 1
    assert "refused" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["marker"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "rec", "tuned"]  # no temp

    assert cli([*args, "--force"]) == 0
    assert not (out / "marker").exists()
    assert json.loads((out / "tune_report.json").read_text())["forced"] is True
    assert load_classifier(str(out)).predict(np.zeros((1, 160_000), np.float32)).shape == (1,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "rec", "tuned"]


def test_full_mode_writes_a_loadable_model_without_checkpoints(tmp_path: Path) -> None:
    from firstcrack.models.inference.classifier import load_classifier

    data = tmp_path / "rec"
    write_user_roasts(data, [221, 222, 223], simulate_unlike, 240.0)
    out = tmp_path / "full"
    code = cli(["tune", "--recordings", str(data), "--from", "ast-demo", "--out", str(out),
                "--mode", "full", "--epochs", "1", "--force"])
    assert code == 0
    assert (out / "onnx" / "int8" / "model_quantized.onnx").exists()
    assert not (out / "checkpoints").exists()
    assert json.loads((out / "tune_report.json").read_text())["mode"] == "full"
    assert load_classifier(str(out)).predict(np.zeros((1, 160_000), np.float32)).shape == (1,)
