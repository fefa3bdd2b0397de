"""What the recorder asks of its writer thread, and the audio file the writer writes.

Commands carry absolute sample positions of the stream, so the scoring
thread that sends them and the writer that applies them never need to agree
on timing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from firstcrack.agent.recording.sidecar import RecordSnapshot
from firstcrack.agent.recording.spool import SPOOL_SUFFIX

log = logging.getLogger("firstcrack.recording")


class AudioFile(Protocol):
    """What the writer needs of the open spool (agent/recording/spool.py `Spool`)."""

    def write(self, data: np.ndarray) -> Any: ...
    def close(self) -> None: ...


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
    """The recording being written: absolute sample positions; `handle` (the spool at
    `path`) None until the first samples are written."""

    record_id: int
    snapshot: RecordSnapshot
    start: int
    pos: int
    end: int | None = None
    stem: str = ""
    path: Path | None = None
    handle: AudioFile | None = None
    reason: str | None = None

    def paths(self) -> tuple[Path, ...]:
        """The spool and the FLAC it becomes (resolved), once created."""
        if self.path is None:
            return ()
        return self.path.resolve(), self.path.with_name(f"{self.stem}.flac").resolve()

    @property
    def written(self) -> int:
        return self.pos - self.start if self.handle is not None else 0


def free_stem(directory: Path, agent_id: str, start_wall: float) -> str:
    """`<agent_id>_<UTC start YYYYmmddTHHMMSSZ>`, with `_2`, `_3`… when that is taken."""
    base = f"{agent_id}_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(start_wall))}"
    stem, n = base, 1
    while any((directory / f"{stem}{s}").exists() for s in (".flac", ".json", SPOOL_SUFFIX)):
        n += 1
        stem = f"{base}_{n}"
    return stem

class Pcm16:
    """float32 in [-1, 1] to 16-bit PCM as libsndfile scales it (x 32767, rounded,
    clipped), in a scratch buffer of its own: the int16 result is the only allocation.
    One per thread (the writer thread's)."""

    def __init__(self, size: int = 4096) -> None:
        self._scratch = np.empty(size, np.float32)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        x = np.asarray(block, dtype=np.float32).reshape(-1)
        if len(x) > len(self._scratch):
            self._scratch = np.empty(len(x), np.float32)
        s = self._scratch[: len(x)]
        np.multiply(x, 32767.0, out=s)
        np.rint(s, out=s)
        np.clip(s, -32768.0, 32767.0, out=s)
        return s.astype("<i2")


def drain(q: queue.SimpleQueue[Any]) -> list[Any]:
    """Wait for one item, then take all there is."""
    batch = [q.get()]
    while True:
        try:
            batch.append(q.get_nowait())
        except queue.Empty:
            return batch


def coalesce(batch: list[Any]) -> Iterator[Any]:
    """The batch in order, each run of contiguous `(position, block)` items as one."""
    run: list[np.ndarray] = []
    first = nxt = 0
    for item in [*batch, None]:
        if isinstance(item, tuple) and run and item[0] == nxt:
            run.append(item[1])
            nxt += len(item[1])
            continue
        if run:
            yield first, run[0] if len(run) == 1 else np.concatenate(run)
            run = []
        if isinstance(item, tuple):
            first, nxt, run = item[0], item[0] + len(item[1]), [item[1]]
        elif item is not None:
            yield item


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
