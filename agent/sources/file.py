"""Replayed audio: recordings on disk (`file:PATH`) and simulated roasts (`sim[:SEED]`).

Both stream through the same path as the microphone would feed: mono float32
16 kHz chunks, paced at real time (or `speed` x real time), so `run --source
file:...` and `analyze` exercise the live code.

Resampling choice: files are read in blocks and resampled with the stateful
`StreamingResampler` (identical output to `resample_poly` on the whole file),
so memory stays bounded for hour-long recordings and there is one code path
for every length.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from firstcrack.agent.sources.base import (
    TARGET_RATE,
    Pacer,
    SourceError,
    SourceStats,
    StreamingResampler,
    mix_to_mono,
)
from firstcrack.agent.sources.channels import downmixer

_NO_STATS = SourceStats(overruns=0, reopens=0, dropped_blocks=0)


def _check_speed(speed: float) -> float:
    speed = float(speed)
    if not np.isfinite(speed) or speed < 0:
        raise SourceError(
            f"speed must be a finite number >= 0 (0 = as fast as possible), got {speed}"
        )
    return speed


def _check_block(block_s: float) -> float:
    block_s = float(block_s)
    if not np.isfinite(block_s) or block_s <= 0:
        raise SourceError(f"block_s must be a positive number of seconds, got {block_s}")
    return block_s


class FileSource:
    """Streams an audio file (wav/flac/ogg, any rate and channel count) as 16 kHz mono.

    The file is opened and its header and first block read in the constructor,
    so a missing, corrupt or empty file is a `SourceError` before anything
    starts. Each iteration replays the file from the start.
    """

    def __init__(
        self,
        path: str | Path,
        speed: float = 1.0,
        block_s: float = 0.1,
        channel: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"
        self.speed = _check_speed(speed)
        self.realtime = self.speed > 0
        self.block_s = _check_block(block_s)
        self._closed = threading.Event()
        if not self.path.exists():
            raise SourceError(f"audio file not found: {self.path}")
        if not self.path.is_file():
            raise SourceError(f"audio path is not a file: {self.path}")
        try:
            with sf.SoundFile(str(self.path)) as f:
                self.sample_rate = int(f.samplerate)
                self.channels = int(f.channels)
                self.frames = int(f.frames)
                first = f.read(min(max(self.frames, 1), 4096), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
            raise SourceError(f"cannot read audio file {self.path}: {exc}") from exc
        if self.frames <= 0 or len(first) == 0:
            raise SourceError(f"audio file has no audio frames: {self.path}")
        self._downmix = downmixer(channel, self.channels, str(self.path))

    @property
    def duration_s(self) -> float:
        """Length of the file in seconds."""
        return self.frames / self.sample_rate

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._closed.is_set():
            return
        resampler = StreamingResampler(self.sample_rate, TARGET_RATE)
        pacer = Pacer(self.speed, self._closed)
        emitted = 0
        block = max(1, round(self.block_s * self.sample_rate))
        try:
            f = sf.SoundFile(str(self.path))
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise SourceError(f"cannot read audio file {self.path}: {exc}") from exc
        with f:
            while not self._closed.is_set():
                try:
                    data = f.read(block, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    raise SourceError(f"error while reading {self.path}: {exc}") from exc
                last = len(data) < block
                out = resampler.process(self._downmix(data))
                if last:
                    out = np.concatenate([out, resampler.flush()])
                if len(out):
                    emitted += len(out)
                    if not pacer.wait_until(emitted / TARGET_RATE):
                        return
                    yield out
                if last:
                    return

    def close(self) -> None:
        """End iteration promptly (interrupts pacing waits); safe from any thread."""
        self._closed.set()

    def stats(self) -> SourceStats:
        return _NO_STATS


class SimSource:
    """Streams a simulated roast from `firstcrack.models.sim.simulator.simulate_roast(seed)`.

    The whole roast is rendered up front (a 15-min roast is ~58 MB of float32),
    then paced exactly like a file.
    """

    def __init__(
        self,
        seed: int = 0,
        speed: float = 1.0,
        block_s: float = 0.1,
        duration_s: float | None = None,
    ) -> None:
        self.seed = int(seed)
        self.name = f"sim:{self.seed}" + ("" if duration_s is None else f":{duration_s:g}")
        self.speed = _check_speed(speed)
        self.realtime = self.speed > 0
        self.block_s = _check_block(block_s)
        self._closed = threading.Event()
        from firstcrack.models.sim.simulator import SAMPLE_RATE, SimulatorError, simulate_roast

        try:
            audio, self.truth = simulate_roast(self.seed, duration_s=duration_s)
        except SimulatorError as exc:
            raise SourceError(f"cannot simulate roast for source {self.name}: {exc}") from exc
        audio = mix_to_mono(np.asarray(audio, dtype=np.float32))
        if SAMPLE_RATE != TARGET_RATE:
            resampler = StreamingResampler(SAMPLE_RATE, TARGET_RATE)
            audio = np.concatenate([resampler.process(audio), resampler.flush()])
        self.audio = audio

    @property
    def duration_s(self) -> float:
        """Length of the simulated roast in seconds."""
        return len(self.audio) / TARGET_RATE

    def __iter__(self) -> Iterator[np.ndarray]:
        pacer = Pacer(self.speed, self._closed)
        block = max(1, round(self.block_s * TARGET_RATE))
        for start in range(0, len(self.audio), block):
            if self._closed.is_set():
                return
            chunk = self.audio[start : start + block]
            if not pacer.wait_until((start + len(chunk)) / TARGET_RATE):
                return
            yield chunk.copy()

    def close(self) -> None:
        """End iteration promptly (interrupts pacing waits); safe from any thread."""
        self._closed.set()

    def stats(self) -> SourceStats:
        return _NO_STATS
