"""What the recorder asks of its writer thread, and the audio file the writer writes.

Commands carry absolute sample positions of the stream, so the scoring
thread that sends them and the writer that applies them never need to agree
on timing.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agent.recording.sidecar import SAMPLE_RATE, RecordSnapshot

log = logging.getLogger("firstcrack.recording")


class AudioFile(Protocol):
    """What the writer needs of an open audio file (a `soundfile.SoundFile`)."""

    def write(self, data: np.ndarray) -> Any: ...
    def close(self) -> None: ...


def open_flac(path: Path) -> AudioFile:
    """16 kHz mono 16-bit FLAC, as docs/RECORDINGS.md promises."""
    import soundfile as sf

    return sf.SoundFile(str(path), "w", SAMPLE_RATE, 1, "PCM_16", format="FLAC")


def frames_in(path: Path) -> int:
    """Samples in a closed audio file (after a failed write, what really landed)."""
    import soundfile as sf

    return int(sf.info(str(path)).frames)


@dataclass(frozen=True)
class Open:
    """Start recording `record_id` at absolute sample `start`."""

    record_id: int
    start: int
    snapshot: RecordSnapshot


@dataclass(frozen=True)
class Finish:
    """End `record_id` at absolute sample `end` (None: at the last sample received)."""

    record_id: int
    end: int | None
    snapshot: RecordSnapshot


@dataclass(frozen=True)
class Rewrite:
    """Rewrite `record_id`'s sidecar (new marks or events), open or finished."""

    record_id: int
    snapshot: RecordSnapshot


@dataclass
class OpenFile:
    """The recording being written: absolute sample positions; `handle` None until the
    first samples are written."""

    record_id: int
    snapshot: RecordSnapshot
    start: int
    pos: int
    end: int | None = None
    stem: str = ""
    path: Path | None = None
    handle: AudioFile | None = None
    reason: str | None = None

    @property
    def written(self) -> int:
        return self.pos - self.start if self.handle is not None else 0


def free_stem(directory: Path, agent_id: str, start_wall: float) -> str:
    """`<agent_id>_<UTC start YYYYmmddTHHMMSSZ>`, with `_2`, `_3`… when that is taken."""
    base = f"{agent_id}_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(start_wall))}"
    stem, n = base, 1
    while any((directory / f"{stem}{s}").exists() for s in (".flac", ".json")):
        n += 1
        stem = f"{base}_{n}"
    return stem

def pcm16(samples: np.ndarray) -> np.ndarray:
    """float32 in [-1, 1] to 16-bit PCM as libsndfile scales it (x 32767, rounded, clipped);
    converting here is cheaper than libsndfile's own per-sample conversion."""
    return np.clip(np.rint(samples * 32767.0), -32768, 32767).astype(np.int16)


class Status:
    """What the writer thread reports (read from any thread): the error that paused
    recording, and the records it had to give up. Each kind of error is logged once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failed: set[int] = set()
        self._logged: set[str] = set()
        self.error: str | None = None

    def failed(self, record_id: int) -> bool:
        with self._lock:
            return record_id in self._failed

    def fail(self, record_id: int) -> None:
        with self._lock:
            self._failed.add(record_id)

    def clear(self) -> None:
        """A file opened: recording works again."""
        with self._lock:
            self.error = None

    def report(self, message: str, kind: str, record_id: int | None = None) -> None:
        with self._lock:
            self.error = message
            if record_id is not None:
                self._failed.add(record_id)
            first = kind not in self._logged
            self._logged.add(kind)
        if first:
            log.warning("%s", message)
