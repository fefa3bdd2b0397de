"""The roast recorder (agent/recording/): real FLAC files and sidecars, a scripted roast view."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from firstcrack.agent.recording.sidecar import MarkRecord, RecordSnapshot, build_sidecar, user_start
from firstcrack.agent.recording.spool import open_spool
from firstcrack.models.datasets.layouts import load_recordings
from tests.recording_fixtures import (
    SR,
    T0,
    Roast,
    assert_same_audio,
    crack_end,
    false_alarm,
    first_crack,
    recordings,
)


def test_a_roast_applied_late_starts_at_its_start_and_ends_at_drop(tmp_path: Path) -> None:
    roast = Roast()
    rec = roast.make(tmp_path)
    roast.run_to(20.0)
    roast.set(start=15.0)  # CHARGE applied 5 s after its audio was captured: the pre-roll
    assert rec.usage()["recording_active"] is True
    roast.run_to(55.0)
    rec.event(first_crack(50.0, 40.0))
    roast.run_to(66.0)
    rec.event(crack_end(66.0, 40.0, 60.0))
    roast.run_to(71.0)
    roast.set(end=70.0)  # DROP at 70 s, announced at 71 s
    assert rec.usage()["recording_active"] is False
    roast.run_to(90.0)
    rec.close()
    [(audio, side)] = recordings(tmp_path)
    assert_same_audio(audio, roast.audio[15 * SR : 70 * SR])
    meta = side["firstcrack"]
    assert side["audio_file"].startswith("roaster1_") and side["audio_file"].endswith("Z.flac")
    assert side["duration"] == 55.0
    assert meta["complete"] is True and meta["end_reason"] == "drop"
    assert meta["charge_s"] == 0.0 and meta["drop_s"] == 55.0 and meta["roast_offset_s"] == 0.0
    assert meta["agent"] == {"onset_s": 25.0, "detected_s": 35.0, "first_crack_end_s": 45.0}
    assert side["label_source"] == "agent"
    assert side["annotations"] == [{"start_time": 25.0, "end_time": 45.0,
                                    "label": "first_crack"}]
    assert meta["model"] == "demo" and meta["sample_rate"] == SR
    assert meta["settings"]["recording"] is True and meta["settings"]["threshold"] == 0.6
    assert meta["started_ts"] == "2026-09-21T14:13:35.000Z"  # T0 + 15 s
    assert meta["ended_ts"] == "2026-09-21T14:14:30.000Z"
    assert side["audio_file"] == "roaster1_20260921T141335Z.flac"
    assert [e["event_type"] for e in meta["events"]] == ["first_crack", "first_crack_end"]
    assert meta["events"][0] == {"event_type": "first_crack", "event_id": "fc1", "t_s": 35.0,
                                 "onset_s": 25.0, "source": "agent"}
    windows = meta["windows"]
    assert windows[0] == [1.0, 0.1] and all(0 <= t <= 55.0 for t, _ in windows)
    usage = rec.usage()
    assert usage["recordings"] == 1 and usage["recordings_mb"] > 0.5
    assert usage["recording_error"] is None


def test_user_marks_outrank_the_agent_and_late_marks_rewrite_the_sidecar(tmp_path: Path) -> None:
    roast = Roast()
    rec = roast.make(tmp_path)
    roast.set(start=0.0)
    roast.run_to(40.0)
    rec.event(first_crack(40.0, 30.0))
    roast.run_to(45.0)
    roast.mark("first_crack", origin="artisan")  # the user heard it at 45 s
    roast.run_to(60.0)
    roast.set(end=60.0)
    roast.run_to(62.0)
    rec.event(false_alarm(62.0, retracts="fc1"))  # pressed after DROP
    roast.mark("false_alarm")
    rec.close()
    [(audio, side)] = recordings(tmp_path)
    assert len(audio) == 60 * SR
    meta = side["firstcrack"]
    assert side["label_source"] == "user" and side["annotations"] == []
    assert meta["complete"] is True and meta["end_reason"] == "drop"
    assert [(m["kind"], m["t_s"], m["origin"]) for m in meta["marks"]] == [
        ("first_crack", 45.0, "artisan"), ("false_alarm", 62.0, "mqtt")]
    assert meta["events"][-1]["event_type"] == "false_alarm"
    assert meta["events"][-1]["retracts"] == "fc1"
    assert meta["agent"]["onset_s"] is None  # the agent's event was retracted


def test_label_rules() -> None:
    def marks(*kinds: str) -> tuple[MarkRecord, ...]:
        return tuple(MarkRecord(k, 10.0 * (i + 1), "", "mqtt") for i, k in enumerate(kinds))

    assert user_start(marks("first_crack", "false_alarm", "first_crack")) == 30.0
    assert user_start(marks("first_crack", "first_crack", "false_alarm")) is None
    assert user_start(marks("false_alarm")) is None
    assert user_start(marks("first_crack", "first_crack")) == 20.0
    mark = (MarkRecord("first_crack", 110.0, "", "mqtt"),)
    snap = RecordSnapshot(1, "r", "demo", 100.0, (0.0, T0), {}, marks=mark,
                          events=({"event_type": "first_crack_end", "event_id": "e",
                                   "audio_s": 150.0, "end_audio_s": 105.0},))
    side = build_sidecar(snap, "x.flac", 100.0, 200.0)  # end before the mark: start + 120
    assert side["annotations"] == [{"start_time": 10.0, "end_time": 130.0, "label": "first_crack"}]
    side = build_sidecar(snap, "x.flac", 100.0, 60.0)  # clipped to the audio
    assert side["annotations"][0]["end_time"] == 60.0
    side = build_sidecar(snap, "x.flac", 100.0, 5.0)  # the mark is after the audio
    assert side["annotations"] == [] and side["label_source"] == "user"
    agent = RecordSnapshot(1, "r", "demo", 0.0, (0.0, T0), {}, events=(
        {"event_type": "first_crack", "event_id": "a", "audio_s": 50.0, "onset_audio_s": 40.0,
         "source": "agent"},
        {"event_type": "first_crack_end", "event_id": "b", "audio_s": 200.0,
         "onset_audio_s": 40.0, "end_audio_s": 190.0}))
    side = build_sidecar(agent, "x.flac", 0.0, 300.0)
    assert side["label_source"] == "agent"
    assert side["annotations"] == [{"start_time": 40.0, "end_time": 190.0, "label": "first_crack"}]
    nothing = RecordSnapshot(1, "r", "demo", 0.0, (0.0, T0), {})
    assert build_sidecar(nothing, "x.flac", 0.0, 300.0)["annotations"] == []


def test_switched_on_mid_roast_off_and_on_again(tmp_path: Path) -> None:
    roast = Roast(recording=False)
    rec = roast.make(tmp_path)
    roast.set(start=5.0)
    roast.run_to(30.0)
    assert rec.usage()["recording_active"] is False
    roast.set(recording=True)  # from now on, not from the roast start
    roast.run_to(50.0)
    roast.set(recording=False)
    roast.run_to(60.0)
    roast.set(recording=True)
    roast.run_to(70.0)
    roast.set(start=None)  # reset
    roast.run_to(75.0)
    rec.close()
    (a1, s1), (a2, s2) = recordings(tmp_path)
    assert_same_audio(a1, roast.audio[30 * SR : 50 * SR])
    assert_same_audio(a2, roast.audio[60 * SR : 70 * SR])
    assert s1["firstcrack"]["roast_offset_s"] == 25.0 and s1["firstcrack"]["charge_s"] is None
    assert s1["firstcrack"]["end_reason"] == "recording_off"
    assert s2["firstcrack"]["roast_offset_s"] == 55.0
    assert s2["firstcrack"]["end_reason"] == "reset"


def test_max_length_next_start_and_stop(tmp_path: Path) -> None:
    roast = Roast()
    rec = roast.make(tmp_path, max_roast_min=1.0)
    roast.set(start=0.0)
    roast.run_to(90.0)  # cut at 60 s, and not restarted for the same roast
    roast.set(start=90.0)  # the next roast ends nothing (already cut), records
    roast.run_to(100.0)
    roast.set(start=100.0)  # a new start ends the previous one
    roast.run_to(107.3)
    rec.close()  # stopped at the last sample received
    rec.close()  # twice is harmless
    files = recordings(tmp_path)
    assert [len(a) / SR for a, _ in files] == [60.0, 10.0, 7.3]
    assert [s["firstcrack"]["end_reason"] for _, s in files] == ["max_length", "start", "stopped"]
    assert_same_audio(files[2][0], roast.audio[100 * SR : int(107.3 * SR)])
    assert all(s["firstcrack"]["complete"] for _, s in files)


def test_off_by_default_records_nothing(tmp_path: Path) -> None:
    roast = Roast(recording=False)
    rec = roast.make(tmp_path)
    roast.set(start=0.0)
    roast.run_to(30.0)
    rec.close()
    assert list(tmp_path.iterdir()) == []
    assert rec.usage() == {"recording_active": False, "recordings_mb": 0.0, "recordings": 0,
                           "recording_error": None}


def test_a_folder_of_recordings_is_a_dataset(tmp_path: Path) -> None:
    roast = Roast()
    rec = roast.make(tmp_path)
    roast.set(start=0.0)
    roast.run_to(40.0)
    rec.event(first_crack(40.0, 30.0))
    roast.run_to(50.0)
    roast.set(end=50.0)
    roast.set(start=50.0, end=None)
    roast.run_to(70.0)
    roast.mark("first_crack")
    roast.run_to(90.0)
    roast.set(end=90.0)
    rec.close()
    problems: list[dict[str, str]] = []
    recs = load_recordings(tmp_path, problems)
    assert problems == []
    assert [r.regions for r in recs] == [[(30.0, 50.0)], [(20.0, 40.0)]]
    assert [r.duration_s for r in recs] == [50.0, 40.0]
    assert [r.annotation["label_source"] for r in recs] == ["agent", "user"]


class SlowFile:
    """A real spool whose writes wait until the test lets them through (a stalled disk)."""

    def __init__(self, path: Path, gate: threading.Event) -> None:
        self.inner, self.gate = open_spool(path), gate

    def write(self, data: np.ndarray) -> Any:
        self.gate.wait(30.0)
        return self.inner.write(data)

    def close(self) -> None:
        self.inner.close()


def test_audio_never_blocks_on_a_stalled_disk_and_loses_nothing(tmp_path: Path) -> None:
    gate = threading.Event()
    roast = Roast()
    from firstcrack.agent.config import RecordingConfig
    from firstcrack.agent.recording import Recorder

    rec = Recorder(RecordingConfig(min_free_gb=0.0), "roaster1", tmp_path, "demo", roast.view,
                   open_audio=lambda p: SlowFile(p, gate))
    roast.recorder = rec
    rec.start()
    roast.set(start=0.0)
    slowest = 0.0
    for _ in range(300):  # 30 s while the writer is stuck in its first write
        t = time.perf_counter()
        roast.run_to(roast.stream_s + 0.1)
        slowest = max(slowest, time.perf_counter() - t)
    assert slowest < 0.05
    gate.set()
    roast.set(end=30.0)
    rec.close(timeout=30.0)
    [(audio, _)] = recordings(tmp_path)
    assert_same_audio(audio, roast.audio[: 30 * SR])


def test_close_when_the_writer_already_ended(tmp_path: Path) -> None:
    roast = Roast()
    rec = roast.make(tmp_path)
    roast.set(start=0.0)
    roast.run_to(5.0)
    rec._writer.stop(5.0)  # the writer is gone (as after an earlier close)
    t = time.perf_counter()
    rec.close(timeout=1.0)
    assert time.perf_counter() - t < 1.0


def test_partial_sidecar_while_recording(tmp_path: Path) -> None:
    roast = Roast()
    rec = roast.make(tmp_path)
    roast.set(start=0.0)
    roast.run_to(20.0)
    deadline = time.monotonic() + 10.0
    while not list(tmp_path.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.01)
    [side] = list(tmp_path.glob("*.json"))
    import json

    data = json.loads(side.read_text())
    assert data["firstcrack"]["complete"] is False and data["firstcrack"]["ended_ts"] is None
    assert not list(tmp_path.glob("*.tmp"))
    rec.close()
    info = sf.info(str(side.with_suffix(".flac")))
    assert info.frames == 20 * SR and info.subtype == "PCM_16" and info.format == "FLAC"
