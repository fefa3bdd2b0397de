"""The recordings folder's disk budget: what it holds, and which recordings may go.

Decisions:
- A recording is `STEM.flac` with its `STEM.json`; both count towards
  `max_gb`, and both go together. A sidecar without its FLAC counts but is
  never deleted (it is the user's, or another tool's).
- A spool (`STEM.pcm.part`, agent/recording/spool.py) counts too, and a
  recording with a spool is never deleted: the spool is being written, or it
  is a roast an agent left mid-roast, which the next start recovers.
- Labelled (never deleted by the agent): the sidecar says `label_source:
  "user"`, or an Artisan `STEM.alog` lies beside it (docs/RECORDINGS.md).
- Oldest first by the sidecar's `firstcrack.started_ts`, else the FLAC's
  modification time (a recording from elsewhere, or a sidecar lost).
- Never the file being written: every recorder in this process registers its
  spool and the FLAC it becomes in `WRITING` (several roasters may share one folder).
- Sidecars are re-read only when their size or mtime changed (`Scanner`), so
  a check every 30 s of audio stays cheap with hundreds of recordings.
"""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from firstcrack.agent.recording.sidecar import read_sidecar
from firstcrack.agent.recording.spool import spool_stem
from firstcrack.models.contracts import label_source, recorder_meta

log = logging.getLogger("firstcrack.recording")

GB = 1024**3
BUDGET_FULL = ("recording paused: the recordings budget (recording.max_gb / min_free_gb) is "
               "exceeded and only user-labelled recordings are left")

WRITING: set[Path] = set()
"""Spools and FLAC files being written by a recorder of this process (resolved paths)."""
WRITING_LOCK = threading.Lock()


def writing_now() -> set[Path]:
    """A copy of `WRITING`."""
    with WRITING_LOCK:
        return set(WRITING)


@dataclass(frozen=True)
class Entry:
    """One recording in the folder."""

    stem: str
    flac: Path | None
    sidecar: Path | None
    bytes: int
    started: float
    labelled: bool
    spool: Path | None = None


@dataclass(frozen=True)
class Verdict:
    """The outcome of a budget check: what was deleted, and whether it is still exceeded."""

    deleted: tuple[str, ...]
    full: bool
    bytes: int
    count: int


class Scanner:
    """Lists a recordings folder; caches what each sidecar says."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[Path, tuple[tuple[int, int], bool, float | None]] = {}

    def _sidecar_facts(self, path: Path, size: int, mtime_ns: int) -> tuple[bool, float | None]:
        key = (size, mtime_ns)
        hit = self._cache.get(path)
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
        data = read_sidecar(path) or {}
        labelled = label_source(data) == "user"
        started = None
        meta = recorder_meta(data)
        if meta is not None and isinstance(meta.get("started_ts"), str):
            try:
                started = datetime.fromisoformat(meta["started_ts"]).timestamp()
            except ValueError:
                started = None
        self._cache[path] = (key, labelled, started)
        return labelled, started

    def scan(self) -> list[Entry]:
        """Every recording (FLAC and/or sidecar) in the folder, oldest first."""
        stems: dict[str, dict[str, Path]] = {}
        try:
            children = list(self.directory.iterdir())
        except OSError:
            return []
        for child in children:
            spool = spool_stem(child)
            if spool is not None:
                stems.setdefault(spool, {})[".pcm.part"] = child
            elif child.suffix in (".flac", ".json", ".alog") and child.is_file():
                stems.setdefault(child.stem, {})[child.suffix] = child
        entries = []
        for stem, files in stems.items():
            flac, side, spool = files.get(".flac"), files.get(".json"), files.get(".pcm.part")
            if flac is None and side is None and spool is None:
                continue
            size, mtime, labelled, started = 0, 0.0, ".alog" in files, None
            try:
                for audio in (spool, flac):
                    if audio is not None:
                        st = audio.stat()
                        size, mtime = size + st.st_size, st.st_mtime
                if side is not None:
                    st = side.stat()
                    size += st.st_size
                    mtime = mtime or st.st_mtime
                    is_user, started = self._sidecar_facts(side, st.st_size, st.st_mtime_ns)
                    labelled = labelled or is_user
            except OSError:
                continue  # vanished meanwhile
            entries.append(Entry(stem, flac, side, size, started or mtime, labelled, spool))
        entries.sort(key=lambda e: (e.started, e.stem))
        return entries


def enforce(scanner: Scanner, max_bytes: float, min_free_bytes: float) -> Verdict:
    """Delete the oldest unlabelled recordings while over `max_bytes` or under `min_free_bytes`.

    Returns `full=True` when the budget is still exceeded and nothing more
    may be deleted (only labelled recordings, or the open one, are left).
    """
    entries = scanner.scan()
    total = sum(e.bytes for e in entries)
    try:
        free = shutil.disk_usage(scanner.directory).free
    except OSError:
        free = float("inf")
    writing = writing_now()
    deleted: list[str] = []
    victims = iter([
        e for e in entries
        if not e.labelled and e.flac is not None and e.spool is None
        and e.flac.resolve() not in writing
    ])
    while total > max_bytes or free < min_free_bytes:
        victim = next(victims, None)
        if victim is None:
            return Verdict(tuple(deleted), True, total, len(entries) - len(deleted))
        try:
            for path in (victim.flac, victim.sidecar):
                if path is not None:
                    path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("recording budget: could not delete %s: %s", victim.stem, exc)
            continue
        log.info("recording budget: deleted %s (%.1f MiB, unlabelled, oldest)",
                 victim.stem, victim.bytes / 2**20)
        deleted.append(victim.stem)
        total -= victim.bytes
        free += victim.bytes
    return Verdict(tuple(deleted), False, total, len(entries) - len(deleted))

class Budget:
    """One folder's budget and the usage figures last measured (read from any thread)."""

    def __init__(self, directory: Path, max_bytes: float, min_free_bytes: float) -> None:
        self.scanner = Scanner(directory)
        self.max_bytes, self.min_free_bytes = max_bytes, min_free_bytes
        self.bytes = self.count = 0

    def enforce(self) -> bool:
        """Delete what the budget requires; True when it is still exceeded (recording pauses)."""
        verdict = enforce(self.scanner, self.max_bytes, self.min_free_bytes)
        self.bytes, self.count = verdict.bytes, verdict.count
        return verdict.full

    def refresh(self) -> None:
        """Measure the folder without deleting anything."""
        entries = self.scanner.scan()
        self.bytes, self.count = sum(e.bytes for e in entries), len(entries)


def budget_bytes(max_gb: float, min_free_gb: float) -> tuple[float, float]:
    """The config's gigabytes (GiB, 2**30 bytes) as bytes."""
    return max_gb * GB, min_free_gb * GB
