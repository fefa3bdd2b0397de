"""Audio sources: microphone, file and simulated roast, all as 16 kHz mono float32 chunks.

`open_source(spec, audio)` is the one entry point the CLI uses:

- ``mic`` / ``mic:<name-or-index>``: live capture (sounddevice/PortAudio),
  device from the spec or else `AudioConfig.device`;
- ``file:PATH``: a wav/flac/ogg recording, any rate and channel count;
- ``sim`` / ``sim:SEED``: a synthetic roast from `firstcrack.models.sim.simulator`.

Every problem a user can cause (bad spec, missing or corrupt file, unknown
device) is a `SourceError` naming the offending thing, raised here, before
any audio flows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from firstcrack.agent.config import AudioConfig
from firstcrack.agent.sources.base import (
    TARGET_RATE,
    AudioSource,
    CaptureError,
    SourceError,
    SourceStats,
    StreamingResampler,
    mix_to_mono,
)
from firstcrack.agent.sources.file import FileSource, SimSource

__all__ = [
    "TARGET_RATE",
    "AudioSource",
    "CaptureError",
    "FileSource",
    "SimSource",
    "SourceError",
    "SourceStats",
    "StreamingResampler",
    "mix_to_mono",
    "open_source",
    "open_sources",
    "read_recording",
]

SPEC_FORMS = "mic, mic:<device name or index>, file:PATH, sim, sim:SEED, sim:SEED:DURATION_S"


def open_source(
    spec: str,
    audio: AudioConfig,
    speed: float = 1.0,
    block_s: float = 0.1,
    channel: int | None = None,
) -> AudioSource:
    """Build the source that `spec` names.

    speed: replay rate of file/sim sources as a multiple of real time (0 = as
        fast as possible); ignored by the microphone, which is always live.
    block_s: chunk length in seconds for file/sim replay; the microphone uses
        `audio.block_s`.
    channel: take this 0-based channel instead of mixing all channels to mono
        (mic and file; a simulated roast is mono).
    """
    kind, sep, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "mic":
        device: str | int | None = audio.device
        if sep:
            if not arg.strip():
                raise SourceError(f"empty device in source spec {spec!r}; forms: {SPEC_FORMS}")
            device = int(arg) if arg.strip().isdigit() else arg.strip()
        from firstcrack.agent.sources.mic import (
            MicSource,  # PortAudio only loads when a mic is wanted
        )

        return MicSource(device, audio, channel=channel)
    if kind == "file":
        if not arg:
            raise SourceError(f"missing path in source spec {spec!r}; forms: {SPEC_FORMS}")
        return FileSource(arg, speed=speed, block_s=block_s, channel=channel)
    if kind == "sim":
        seed, duration = 0, None
        seed_text, _, duration_text = arg.partition(":")
        if sep:
            try:
                seed = int(seed_text)
                duration = float(duration_text) if duration_text else None
            except ValueError:
                raise SourceError(
                    f"bad source spec {spec!r}: sim:SEED[:DURATION_S] with an integer seed"
                ) from None
        return SimSource(seed, speed=speed, block_s=block_s, duration_s=duration)
    raise SourceError(f"unknown audio source {spec!r}; forms: {SPEC_FORMS}")


def open_sources(
    wanted: list[tuple[str, int | None]], audio: AudioConfig, speed: float = 1.0
) -> list[AudioSource]:
    """One source per roaster, from (spec, channel) pairs.

    Roasters that name the same microphone share one capture: the device is
    opened once with enough channels and `ChannelFanout` hands each roaster
    its channel (hardware inputs are usually exclusive, so two opens would
    fail). Everything else opens independently.
    """
    from firstcrack.agent.sources.channels import ChannelFanout

    mic_users: dict[str, list[int]] = {}
    for spec, channel in wanted:
        if spec.strip().lower().startswith("mic"):
            mic_users.setdefault(spec.strip(), []).append(-1 if channel is None else channel)
    fanouts: dict[str, ChannelFanout] = {}
    for spec, channels in mic_users.items():
        if len(channels) < 2:
            continue
        if -1 in channels:
            raise SourceError(
                f"several roasters use {spec!r}: give each a `channel` of that device"
            )
        if len(set(channels)) != len(channels):
            raise SourceError(f"two roasters use the same channel of {spec!r}")
        shared = audio.model_copy(update={"channels": max(channels) + 1})
        mic = open_source(spec, shared)
        frames = mic.frames()  # type: ignore[attr-defined]
        fanouts[spec] = ChannelFanout(spec, frames, mic.close, mic.stats)
    sources: list[AudioSource] = []
    for spec, channel in wanted:
        fanout = fanouts.get(spec.strip())
        if fanout is not None and channel is not None:
            sources.append(fanout.source(channel))
        else:
            sources.append(open_source(spec, audio, speed=speed, channel=channel))
    return sources


def read_recording(path: str | Path) -> np.ndarray:
    """A whole recording as 16 kHz mono float32, through the same reader `run` streams with."""
    source = open_source(f"file:{path}", AudioConfig(), speed=0)
    chunks = list(source)
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
