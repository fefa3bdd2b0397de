"""`firstcrack tune`: inputs it refuses, the .alog label beside a recorder sidecar, and the
acceptance run on the simulated "unlike" roaster (models/sim_unlike.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli.entry import main as cli
from models.datasets import load_recordings
from models.sim_recordings import write_user_roasts
from models.sim_unlike import simulate_unlike


def test_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli(["tune", "--recordings", str(tmp_path / "nope"), "--from", "demo"])
    assert code == 2
    assert "no such folder" in capsys.readouterr().err


def test_too_few_labelled_roasts_exit_2_and_say_how_to_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_user_roasts(tmp_path, [1, 2], simulate_unlike, 60.0)
    write_user_roasts(tmp_path, [3], simulate_unlike, 60.0, label_source="agent")
    code = cli(["tune", "--recordings", str(tmp_path), "--from", "demo",
                "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "2 labelled roast(s) found, at least 3" in err and "first_crack_now" in err
    assert not (tmp_path / "out").exists()


def test_no_roast_with_first_crack_exits_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    write_user_roasts(tmp_path, [], simulate_unlike, 60.0, no_crack_seeds=[1, 2, 3])
    assert cli(["tune", "--recordings", str(tmp_path), "--from", "demo"]) == 2
    assert "none of the 3 labelled roasts has a first crack" in capsys.readouterr().err


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
    from agent.tools.tune_report import gate

    def row(misses: int, fa: int, median: float | None) -> dict:
        return {"misses": misses, "false_alarms": fa, "median_abs_onset_error_s": median}

    assert gate(row(2, 0, 5.0), row(0, 0, 6.9)) == (True, [])
    assert not gate(row(0, 0, 5.0), row(1, 0, 5.0))[0]
    assert not gate(row(0, 0, 5.0), row(0, 1, 5.0))[0]
    assert "median" in gate(row(0, 0, 5.0), row(0, 0, 7.5))[1][0]
    assert gate(row(3, 0, None), row(0, 0, 12.0))[0]  # the current model found nothing
