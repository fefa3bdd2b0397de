"""Audio sources: microphone, file and simulated roast, all as 16 kHz mono float32 chunks.

`open_source(spec, audio)` is the one entry point the CLI uses:

- ``mic`` / ``mic:<name-or-index>``: live capture (sounddevice/PortAudio),
  device from the spec or else `AudioConfig.device`;
- ``file:PATH``: a wav/flac/ogg recording, any rate and channel count;
- ``sim`` / ``sim:SEED``: a synthetic roast from `models.simulator`.

Every problem a user can cause (bad spec, missing or corrupt file, unknown
device) is a `SourceError` naming the offending thing, raised here, before
any audio flows.
"""

from __future__ import annotations

from agent.config import AudioConfig
from agent.sources.base import (
    TARGET_RATE,
    AudioSource,
    SourceError,
    SourceStats,
    StreamingResampler,
    mix_to_mono,
)
from agent.sources.file import FileSource, SimSource

__all__ = [
    "TARGET_RATE",
    "AudioSource",
    "FileSource",
    "SimSource",
    "SourceError",
    "SourceStats",
    "StreamingResampler",
    "mix_to_mono",
    "open_source",
]

SPEC_FORMS = "mic, mic:<device name or index>, file:PATH, sim, sim:SEED"


def open_source(
    spec: str, audio: AudioConfig, speed: float = 1.0, block_s: float = 0.1
) -> AudioSource:
    """Build the source that `spec` names.

    speed: replay rate of file/sim sources as a multiple of real time (0 = as
        fast as possible); ignored by the microphone, which is always live.
    block_s: chunk length in seconds for file/sim replay; the microphone uses
        `audio.block_s`.
    """
    kind, sep, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "mic":
        device: str | int | None = audio.device
        if sep:
            if not arg.strip():
                raise SourceError(f"empty device in source spec {spec!r}; forms: {SPEC_FORMS}")
            device = int(arg) if arg.strip().isdigit() else arg.strip()
        from agent.sources.mic import MicSource  # PortAudio only loads when a mic is wanted

        return MicSource(device, audio)
    if kind == "file":
        if not arg:
            raise SourceError(f"missing path in source spec {spec!r}; forms: {SPEC_FORMS}")
        return FileSource(arg, speed=speed, block_s=block_s)
    if kind == "sim":
        seed = 0
        if sep:
            try:
                seed = int(arg)
            except ValueError:
                raise SourceError(
                    f"bad seed {arg!r} in source spec {spec!r}: must be an integer"
                ) from None
        return SimSource(seed, speed=speed, block_s=block_s)
    raise SourceError(f"unknown audio source {spec!r}; forms: {SPEC_FORMS}")
