"""A few seconds from one input device, measured on the raw samples (meter and doctor).

Why not `MicSource`: it resamples and mixes (a resampler can overshoot, hiding
or inventing clipping), and it never raises for a device that fails to open:
it retries forever, which is right for `run` and wrong for a check that must
say what is wrong within a few seconds. This opens the device the way
`MicSource` does (same resolution, the device's default rate or the
configured one, at most two channels unless told otherwise), through the
process's `STREAMS` registry, and raises `SourceError` instead of retrying.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firstcrack.agent.setup.levels import LevelStats
from firstcrack.agent.sources import SourceError
from firstcrack.agent.sources.devices import STREAMS, load_sounddevice
from firstcrack.agent.sources.mic import (
    MAX_DEFAULT_CHANNELS,  # as `run` opens it: at most two by default
)

BLOCK_S = 0.05
SETTLE_S = 0.2
"""Audio discarded after the stream starts: some inputs deliver zeros or a click first."""
FIRST_AUDIO_S = 5.0
"""How long to wait for the first block (PulseAudio's ALSA plugin takes ~1 s to start)."""

Tick = Callable[[float, LevelStats], None]


@dataclass
class Measurement:
    """What a device delivered: its description and the level over the whole period."""

    index: int
    name: str
    rate: int
    channels: int
    channel: int | None
    seconds: float = 0.0
    stats: LevelStats = field(default_factory=LevelStats)
    dropped_blocks: int = 0

    def describe(self) -> str:
        which = f", channel {self.channel}" if self.channel is not None else ""
        return (
            f"[{self.index}] {self.name} at {self.rate} Hz, {self.channels} channel(s){which}"
        )


def device_param(text: str) -> str | int:
    """A device as `run --source mic:DEVICE` takes it: digits are an index, else a name."""
    text = text.strip()
    return int(text) if text.isdigit() else text


def measure(
    device: str | int | None,
    seconds: float,
    *,
    channel: int | None = None,
    sample_rate: int | None = None,
    channels: int | None = None,
    on_tick: Tick | None = None,
    tick_s: float = 0.2,
) -> Measurement:
    """Record `seconds` of audio from `device` and measure it; `on_tick` every `tick_s`.

    `on_tick(elapsed_s, stats_of_the_last_tick)` runs on the calling thread.
    Raises SourceError when the device is unknown (the message lists the
    inputs), cannot be opened, or delivers no audio within `FIRST_AUDIO_S`.
    Returns early with what was recorded when audio stops arriving for
    `FIRST_AUDIO_S` after it had started (`seconds` says how much came).
    """
    sd = load_sounddevice()
    blocks: queue.Queue[np.ndarray] = queue.Queue(maxsize=max(8, round(2 * seconds / BLOCK_S)))
    dropped = [0]

    def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        try:
            blocks.put_nowait(indata.copy())
        except queue.Full:
            dropped[0] += 1

    with STREAMS.held():
        info = STREAMS.resolve(sd, device)
        available = int(info["max_input_channels"])
        if channel is not None and channel >= available:
            raise SourceError(
                f"no channel {channel} on input device [{info['index']}] {info['name']}: it "
                f"has {available} channel(s), counted from 0"
            )
        rate = int(sample_rate or round(info["default_samplerate"]))
        opened = int(channels or min(available, MAX_DEFAULT_CHANNELS))
        if channel is not None:
            opened = max(opened, channel + 1)
        result = Measurement(int(info["index"]), str(info["name"]), rate, opened, channel)
        try:
            stream = STREAMS.open(
                sd, callback, device=result.index, samplerate=rate, channels=opened,
                dtype="float32", blocksize=max(1, round(BLOCK_S * rate)),
            )  # fmt: skip
        except (sd.PortAudioError, ValueError, OSError) as exc:
            raise SourceError(f"cannot open input device {result.describe()}: {exc}") from exc
    try:
        _consume(blocks, result, seconds, on_tick, tick_s)
    finally:
        STREAMS.close(stream)
        result.dropped_blocks = dropped[0]
    return result


def _consume(
    blocks: queue.Queue[np.ndarray],
    result: Measurement,
    seconds: float,
    on_tick: Tick | None,
    tick_s: float,
) -> None:
    """Take blocks until `seconds` of audio (after the settle time) were measured."""
    settle = round(SETTLE_S * result.rate)
    wanted = max(1, round(seconds * result.rate))
    per_tick = max(1, round(tick_s * result.rate))
    counted = skipped = tick_frames = 0
    tick = LevelStats()
    last_audio = time.monotonic()
    while counted < wanted:
        try:
            block = blocks.get(timeout=0.1)
        except queue.Empty:
            if time.monotonic() - last_audio > FIRST_AUDIO_S:
                if counted or skipped:
                    break  # it stopped mid-way: report what came
                raise SourceError(
                    f"input device {result.describe()} opened but delivered no audio "
                    f"within {FIRST_AUDIO_S:.0f} s"
                ) from None
            continue
        last_audio = time.monotonic()
        if skipped < settle:
            take = min(settle - skipped, len(block))
            skipped += take
            block = block[take:]
        block = block[: wanted - counted]
        if not len(block):
            continue
        picked = block[:, result.channel] if result.channel is not None else block
        result.stats.add(picked)
        tick.add(picked)
        counted += len(block)
        tick_frames += len(block)
        if on_tick is not None and tick_frames >= per_tick:
            on_tick(counted / result.rate, tick)
            tick, tick_frames = LevelStats(), 0
    result.seconds = counted / result.rate
