"""A scripted roast for recorder tests: a fake `RoastView` source, real audio, real events."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from firstcrack.agent.config import RecordingConfig
from firstcrack.agent.core.crack_end import FirstCrackEndEvent
from firstcrack.agent.core.messages import FalseAlarmEvent, FirstCrackEvent, Telemetry, iso_utc
from firstcrack.agent.core.roast_view import RoastView, UserMark
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.agent.recording import Recorder

SR = 16000
BLOCK = 1600
T0 = 1_790_000_000.0  # wall epoch of stream 0


def signal(seconds: float, seed: int = 0) -> np.ndarray:
    """Random samples on the 16-bit grid: a FLAC round trip returns them to within 1 LSB."""
    rng = np.random.default_rng(seed)
    return (rng.integers(-16000, 16000, int(round(seconds * SR))) / 32768.0).astype(np.float32)


class Roast:
    """What the runtime would show: the stream position, roast span, marks and settings."""

    def __init__(self, recording: bool = True, audio: np.ndarray | None = None) -> None:
        self.samples = 0
        self.start: float | None = None
        self.end: float | None = None
        self.marks: list[UserMark] = []
        self.settings = RuntimeSettings(recording=recording)
        self.audio = signal(400.0) if audio is None else audio
        self.recorder: Recorder | None = None
        self._next_window = 10.0

    @property
    def stream_s(self) -> float:
        return self.samples / SR

    def view(self) -> RoastView:
        return RoastView(self.stream_s, self.start, self.end, tuple(self.marks), self.settings,
                         (0.0, T0))

    def make(self, directory: Path, **config: Any) -> Recorder:
        cfg = RecordingConfig(**({"max_gb": 2.0, "min_free_gb": 0.0} | config))
        self.recorder = Recorder(cfg, "roaster1", directory, "demo", self.view)
        self.recorder.start()
        return self.recorder

    def run_to(self, stream_s: float) -> None:
        """Feed blocks up to `stream_s`, with a telemetry window every 3 s from 10 s on."""
        rec = self.recorder
        assert rec is not None
        target = int(round(stream_s * SR))
        while self.samples < target:
            n = min(BLOCK, target - self.samples)
            rec.audio(self.audio[self.samples : self.samples + n])
            self.samples += n
            if self.stream_s >= self._next_window:
                rec.telemetry(telemetry(self._next_window, 0.1))
                self._next_window += 3.0

    def set(self, **changes: Any) -> None:
        """Apply a command: change the view, then announce settings and state (as the runtime)."""
        for key, value in changes.items():
            if key == "recording":
                self.settings = dataclasses.replace(self.settings, recording=value)
            else:
                setattr(self, key, value)
        assert self.recorder is not None
        self.recorder.publish_settings(self.settings)
        self.recorder.state(None)

    def mark(self, kind: str, origin: str = "mqtt") -> None:
        self.marks.append(UserMark(kind, self.stream_s, iso_utc(T0 + self.stream_s), origin))
        self.set()


def telemetry(audio_s: float, p: float) -> Telemetry:
    return Telemetry(iso_utc(T0 + audio_s), None, audio_s, p, 0.6, -30.0, 1.0, "armed")


def first_crack(audio_s: float, onset_s: float, event_id: str = "fc1",
                source: str = "agent") -> FirstCrackEvent:
    return FirstCrackEvent(event_id, iso_utc(T0 + audio_s), iso_utc(T0 + onset_s), None, None,
                           audio_s, onset_s, 0.9, 6, "demo", source=source)


def crack_end(audio_s: float, onset_s: float, end_s: float) -> FirstCrackEndEvent:
    return FirstCrackEndEvent("fce1", iso_utc(T0 + audio_s), iso_utc(T0 + onset_s), None, None,
                              audio_s, onset_s, 0.1, 0, "demo", end_audio_s=end_s)


def false_alarm(audio_s: float, retracts: str) -> FalseAlarmEvent:
    return FalseAlarmEvent("fa1", iso_utc(T0 + audio_s), iso_utc(T0 + audio_s), None, None,
                           audio_s, audio_s, 0.0, 0, "demo", retracts=retracts, origin="mqtt")


def recordings(directory: Path) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """Every (audio, sidecar) the recorder wrote in the folder, oldest name first."""
    out = []
    for flac in sorted(directory.glob("roaster1_*.flac")):
        audio, sr = sf.read(flac, dtype="float32")
        assert sr == SR and audio.ndim == 1
        out.append((audio, json.loads(flac.with_suffix(".json").read_text())))
    return out


def assert_same_audio(got: np.ndarray, want: np.ndarray) -> None:
    """Same length, same samples (16-bit FLAC: within 1.5 LSB)."""
    assert len(got) == len(want), (len(got), len(want))
    assert np.max(np.abs(got - want)) < 1.5 / 32768
