"""Crash safety: the PCM spool a roast is recorded into, its FLAC encode, and recovery.

A FLAC streamed through libsndfile gets its length in the header only when it
is closed, so an agent killed mid-roast (SIGKILL, OOM, power loss) would
leave a file nothing can read. So a roast is recorded in two steps:

- While recording, the writer appends 16-bit PCM (raw int16 little-endian,
  16 kHz mono, no header) to `<stem>.pcm.part`. The file is unbuffered: each
  write (one per `chunk_s` of audio, 2 s) goes to the kernel at once and
  survives the process being killed; it is fsynced every `SYNC_BYTES` (30 s
  of audio), which bounds what a power loss can take. The writer holds an
  exclusive `flock` on it, so no recovery (this process or another agent on
  the same folder) touches a spool being written.
- At the end of the roast the writer thread encodes the spool to
  `<stem>.flac` (PCM_16 FLAC) under a temporary name (`<stem>.flac.tmp`,
  which no `*.flac` glob picks up), `os.replace`s it into place, writes the
  complete sidecar, then deletes the spool. A crash between any two steps
  leaves the spool, so the roast is never lost.
- `recover` (on the writer thread when a `Recorder` starts) turns every
  leftover spool that no one holds into its FLAC. A sidecar that already
  says `complete: true` (the crash came after it) is kept as it is; any
  other one gets `end_reason: "interrupted"`, its `duration` from the
  samples and its annotations re-derived for that duration (`complete`
  stays false). A spool without a sidecar gets a minimal one (label_source
  "agent", no annotations). An empty spool holds no audio: it is removed,
  with its sidecar. A spool that cannot be encoded (the disk is full) stays
  and is tried again at the next start.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from firstcrack.agent.recording.sidecar import (
    SAMPLE_RATE,
    interrupted_sidecar,
    read_sidecar,
    write_json_atomic,
)
from firstcrack.models.contracts import recorder_meta

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("firstcrack.recording")

SPOOL_SUFFIX = ".pcm.part"
SYNC_BYTES = 30 * SAMPLE_RATE * 2
ENCODE_CHUNK = 1 << 20  # samples read and encoded at a time (2 MiB)


def spool_path(directory: Path, stem: str) -> Path:
    return directory / f"{stem}{SPOOL_SUFFIX}"


def spool_stem(path: Path) -> str | None:
    """`<stem>` of `<stem>.pcm.part`, or None for any other name."""
    name = path.name
    return name[: -len(SPOOL_SUFFIX)] if name.endswith(SPOOL_SUFFIX) else None


def _try_lock(fd: int) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class Spool:
    """`<stem>.pcm.part` open for appending int16 blocks (an `AudioFile`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "xb", buffering=0)  # noqa: SIM115 - closed by close()
        _try_lock(self._file.fileno())
        self._unsynced = 0

    def write(self, data: np.ndarray) -> None:
        view = memoryview(np.ascontiguousarray(data, dtype="<i2")).cast("B")
        while view.nbytes:
            n = self._file.write(view)
            view = view[n:]
            self._unsynced += n or 0
        if self._unsynced >= SYNC_BYTES:
            self._unsynced = 0
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def open_spool(path: Path) -> Spool:
    return Spool(path)


def spool_samples(path: Path) -> int:
    return path.stat().st_size // 2


def encode(spool: Path, flac: Path) -> int:
    """Encode the spool to `flac` atomically (module docstring); returns its samples."""
    import soundfile as sf

    tmp = flac.with_name(flac.name + ".tmp")
    samples = 0
    try:
        with open(spool, "rb") as src, sf.SoundFile(
            str(tmp), "w", SAMPLE_RATE, 1, "PCM_16", format="FLAC"
        ) as out:
            while True:
                block = np.fromfile(src, dtype="<i2", count=ENCODE_CHUNK)
                if not len(block):
                    break
                out.write(block)
                samples += len(block)
        os.replace(tmp, flac)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return samples


def recover(directory: Path, writing: set[Path]) -> list[str]:
    """Encode every leftover spool in `directory` not in `writing` nor locked; the stems done."""
    try:
        spools = sorted(p for p in directory.iterdir() if spool_stem(p))
    except OSError:
        return []
    done = []
    for path in spools:
        if path.resolve() in writing:
            continue
        try:
            if _recover_one(path):
                done.append(spool_stem(path) or "")
        except Exception as exc:  # noqa: BLE001 - one bad spool must not stop the others
            log.warning("recording: could not recover %s (kept for the next start): %s",
                        path.name, exc)
    return done


def _recover_one(path: Path) -> bool:
    stem = spool_stem(path)
    assert stem is not None
    with open(path, "rb") as held:  # held (locked) until the spool is gone
        if not _try_lock(held.fileno()):
            return False  # being written by another recorder
        side_path = path.with_name(f"{stem}.json")
        side = read_sidecar(side_path)
        samples = spool_samples(path)
        if samples == 0:
            side_path.unlink(missing_ok=True)
            path.unlink()
            log.warning("recording: removed %s: the agent stopped before any audio was "
                        "written", stem)
            return False
        samples = encode(path, path.with_name(f"{stem}.flac"))
        complete = bool(_meta(side).get("complete"))
        if not complete:
            write_json_atomic(side_path, interrupted_sidecar(side, stem, samples))
        path.unlink()
    log.warning("recording: recovered %s.flac (%.1f s) from a spool left by an agent that "
                "stopped %s", stem, samples / SAMPLE_RATE,
                "while encoding it" if complete else "mid-roast (interrupted)")
    return True


def _meta(side: dict[str, Any] | None) -> dict[str, Any]:
    return dict(recorder_meta(side) or {})
