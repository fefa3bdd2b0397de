"""Crash safety (agent/recording/spool.py): a roast whose agent is killed mid-roast is kept."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from firstcrack.agent.recording.spool import Spool
from firstcrack.agent.recording.writer_commands import Pcm16
from firstcrack.models.datasets.layouts import load_recordings
from firstcrack.models.datasets.records import load_audio
from tests.recording_fixtures import SR, Roast, recordings
from tests.recording_fixtures import signal as noise

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys, time, json
from pathlib import Path
from tests.recording_fixtures import Roast
folder = Path(sys.argv[1])
roast = Roast()
rec = roast.make(folder)
roast.set(start=0.0)
roast.run_to(12.0)
roast.mark("first_crack")
roast.run_to(30.0)
deadline = time.monotonic() + 60
def ready():
    spools = list(folder.glob("*.pcm.part"))
    sides = list(folder.glob("*.json"))
    if not spools or not sides or spools[0].stat().st_size < 25 * 16000 * 2:
        return False
    return json.loads(sides[0].read_text())["label_source"] == "user"
while not ready():
    assert time.monotonic() < deadline
    time.sleep(0.01)
print("ready", flush=True)
time.sleep(600)
"""


def test_an_agent_killed_mid_roast_loses_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    [spool] = tmp_path.glob("*.pcm.part")
    written = np.fromfile(spool, dtype="<i2")
    assert not list(tmp_path.glob("*.flac"))  # libsndfile had nothing to read yet
    assert len(written) >= 25 * SR
    want = Pcm16()(noise(400.0)[: len(written)])
    assert np.array_equal(written, want)  # the spool holds every block written, exactly
    with caplog.at_level(logging.WARNING, "firstcrack.recording"):
        roast = Roast()
        roast.make(tmp_path).close()  # a new agent starts on the folder, then stops
    assert not list(tmp_path.glob("*.pcm.part")) and not list(tmp_path.glob("*.tmp"))
    [flac] = tmp_path.glob("*.flac")
    got, rate = sf.read(flac, dtype="int16")
    assert rate == SR and np.array_equal(got, written)
    assert len(load_audio(flac)) == len(written)
    side = json.loads(flac.with_suffix(".json").read_text())
    meta = side["firstcrack"]
    assert side["audio_file"] == flac.name and side["duration"] == len(written) / SR
    assert meta["complete"] is False and meta["end_reason"] == "interrupted"
    assert side["label_source"] == "user" and meta["marks"][0]["t_s"] == 12.0
    assert side["annotations"] == [  # derived again for the audio that was kept
        {"start_time": 12.0, "end_time": len(written) / SR, "label": "first_crack"}]
    recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(recovered) == 1 and "interrupted" in recovered[0].getMessage()
    problems: list[dict[str, str]] = []
    assert len(load_recordings(tmp_path, problems)) == 1 and problems == []


def test_a_spool_without_its_sidecar_gets_a_minimal_one(tmp_path: Path) -> None:
    audio = noise(3.0, seed=4)
    spool = Spool(tmp_path / "roaster1_20260921T141335Z_2.pcm.part")
    spool.write(Pcm16()(audio))
    spool.close()  # the process died: its lock went with it
    Roast().make(tmp_path).close()
    [(got, side)] = recordings(tmp_path)
    assert len(got) == 3 * SR and np.max(np.abs(got - audio)) < 1.5 / 32768
    assert side["audio_file"] == "roaster1_20260921T141335Z_2.flac"
    assert side["label_source"] == "agent" and side["annotations"] == []
    assert side["duration"] == 3.0
    meta = side["firstcrack"]
    assert meta["complete"] is False and meta["end_reason"] == "interrupted"
    assert meta["agent_id"] == "roaster1" and meta["started_ts"] == "2026-09-21T14:13:35.000Z"
    assert meta["marks"] == [] and meta["sample_rate"] == SR


def test_an_empty_spool_is_removed_with_its_sidecar(tmp_path: Path) -> None:
    (tmp_path / "roaster1_20260921T141335Z.pcm.part").write_bytes(b"")
    (tmp_path / "roaster1_20260921T141335Z.json").write_text("{}")
    Roast().make(tmp_path).close()
    assert list(tmp_path.iterdir()) == []


def test_a_spool_being_written_is_left_alone(tmp_path: Path) -> None:
    roast = Roast()
    rec = roast.make(tmp_path)
    roast.set(start=0.0)
    roast.run_to(20.0)
    [spool] = _wait_for_spool(tmp_path)
    Roast().make(tmp_path).close()  # a second recorder on the folder: no recovery of it
    assert spool.exists() and not list(tmp_path.glob("*.flac"))
    roast.set(end=20.0)
    rec.close()
    [(audio, side)] = recordings(tmp_path)
    assert len(audio) == 20 * SR and side["firstcrack"]["end_reason"] == "drop"
    assert not spool.exists()


def test_a_sidecar_already_complete_is_kept(tmp_path: Path) -> None:
    """Killed after the complete sidecar, before the spool was deleted."""
    stem = "roaster1_20260921T141335Z"
    spool = Spool(tmp_path / f"{stem}.pcm.part")
    spool.write(Pcm16()(noise(2.0)))
    spool.close()
    side = {"audio_file": f"{stem}.flac", "duration": 2.0, "annotations": [],
            "label_source": "agent", "firstcrack": {"complete": True, "end_reason": "drop"}}
    (tmp_path / f"{stem}.json").write_text(json.dumps(side))
    Roast().make(tmp_path).close()
    [(audio, got)] = recordings(tmp_path)
    assert len(audio) == 2 * SR and got == side


def _wait_for_spool(folder: Path) -> list[Path]:
    import time

    deadline = time.monotonic() + 10.0
    while not (spools := list(folder.glob("*.pcm.part"))):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return spools
