"""Microphone capture against a fake sounddevice: device lookup, overflows, recovery.

No hardware and no PulseAudio: these check the logic; tests/test_mic_capture.py
checks it against a real PulseAudio server.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from firstcrack.agent.config import AudioConfig
from firstcrack.agent.sources import (
    SourceError,
    SourceStats,
    open_source,
)

AUDIO = AudioConfig()


class FakeStream:
    """An input stream that hands `deliver` blocks to the callback as soon as it starts."""

    def __init__(self, sd: FakeSoundDevice, callback: Any, **params: Any) -> None:
        self.sd, self.callback, self.device = sd, callback, params["device"]
        self.active = False
        self.closed = False

    def start(self) -> None:
        self.active = True
        self.sd.streams.append(self)
        for block, overflow in self.sd.deliver:
            self.callback(block, len(block), None, SimpleNamespace(input_overflow=overflow))
            block[:] = 7.0  # PortAudio reuses its buffer: the source must have kept a copy

    def abort(self) -> None:
        self.active = False

    def close(self) -> None:
        self.closed = True


class FakeSoundDevice:
    """Just enough of the sounddevice module for device resolution, streams and re-scans."""

    class PortAudioError(Exception):
        pass

    DEVICES = [
        {"index": 0, "name": "HDA Intel PCH: ALC892 Analog", "max_input_channels": 2},
        {"index": 1, "name": "HDMI 0", "max_input_channels": 0},
        {"index": 2, "name": "USB Audio Mic", "max_input_channels": 1},
        {"index": 3, "name": "pulse", "max_input_channels": 32},
        {"index": 4, "name": "pulse monitor", "max_input_channels": 2},
    ]

    def __init__(self) -> None:
        self.deliver: list[tuple[np.ndarray, bool]] = []
        self.streams: list[FakeStream] = []
        self.reinits = 0

    def query_devices(self, kind: str | None = None) -> object:
        devices = [{**d, "default_samplerate": 16000.0} for d in self.DEVICES]
        return devices[2] if kind == "input" else devices

    def InputStream(self, callback: Any, **params: Any) -> FakeStream:  # noqa: N802
        return FakeStream(self, callback, **params)

    def _terminate(self) -> None:
        self.reinits += 1

    def _initialize(self) -> None:
        pass


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch) -> FakeSoundDevice:
    from firstcrack.agent.sources import mic

    sd = FakeSoundDevice()
    monkeypatch.setattr(mic, "load_sounddevice", lambda: sd)
    return sd


@pytest.mark.parametrize(
    ("wanted", "index"),
    [("usb", 2), ("USB AUDIO", 2), ("pulse", 3), ("Monitor", 4), (0, 0), (None, 2)],
)
def test_mic_device_is_found_by_index_or_name_substring(
    wanted: str | int | None, index: int
) -> None:
    """Names match case-insensitively; an exact name beats a longer one containing it."""
    from firstcrack.agent.sources.devices import resolve_device

    assert resolve_device(FakeSoundDevice(), wanted)["index"] == index


@pytest.mark.parametrize(("wanted", "message"), [("webcam", "'webcam'"), (1, "index 1"), (9, "9")])
def test_unknown_mic_device_lists_the_input_devices(wanted: str | int, message: str) -> None:
    """Output-only devices don't count; the message names what is available."""
    from firstcrack.agent.sources.devices import resolve_device

    with pytest.raises(SourceError, match=message) as info:
        resolve_device(FakeSoundDevice(), wanted)
    assert "[2] USB Audio Mic" in str(info.value) and "HDMI" not in str(info.value)


def test_mic_callback_counts_overflows_and_drops_instead_of_blocking(
    fake_sd: FakeSoundDevice,
) -> None:
    """A full capture queue drops the newest block and counts it; the callback returns at once."""
    fake_sd.deliver = [(np.ones((1600, 1), np.float32), flag) for flag in (False, True) * 2]
    source = open_source("mic:usb", AudioConfig(block_s=0.25, queue_s=0.5))  # 2 blocks queue
    assert source.name == "mic:USB Audio Mic" and source.realtime
    chunks = iter(source)
    first = next(chunks)  # opening the stream delivered all four blocks at once
    assert source.stats() == SourceStats(overruns=2, reopens=0, dropped_blocks=2)
    np.testing.assert_array_equal(first, np.ones(1600, np.float32))  # a copy, not the buffer
    source.close()
    assert fake_sd.streams[0].closed


def test_portaudio_is_rescanned_only_when_no_stream_is_open(fake_sd: FakeSoundDevice) -> None:
    """Re-initialising PortAudio would end every stream, so it waits until none is open."""
    from firstcrack.agent.sources.devices import PortAudioStreams

    streams = PortAudioStreams()
    a, b = (streams.open(fake_sd, print, device=d) for d in (0, 2))
    assert not streams.reinit(fake_sd)
    streams.close(a)
    assert not streams.reinit(fake_sd) and fake_sd.reinits == 0 and b.active
    streams.close(b)
    assert streams.reinit(fake_sd) and fake_sd.reinits == 1 and streams.open_count() == 0


def test_a_lost_mic_reopens_without_touching_the_other(fake_sd: FakeSoundDevice) -> None:
    """One of two mics loses its stream: it reopens; the other's stream is never stopped."""
    fake_sd.deliver = [(np.zeros((1600, 1), np.float32), False)]
    lost, kept = open_source("mic:usb", AUDIO), open_source("mic:0", AUDIO)
    kept_chunks = iter(kept)  # held: a dropped generator would close its stream
    next(kept_chunks)
    chunks = iter(lost)
    next(chunks)
    fake_sd.streams[-1].active = False  # the device vanished
    next(chunks)  # ... and its source reopened it
    assert lost.stats().reopens == 1 and kept.stats().reopens == 0
    assert fake_sd.reinits == 0, "PortAudio re-initialised while another stream was open"
    assert fake_sd.streams[0].active and not fake_sd.streams[0].closed
    assert [s.device for s in fake_sd.streams] == [0, 2, 2]
    for source in (lost, kept):
        source.close()
