"""The recorder's writer thread: a ring of recent audio, the spool being written, the sidecars.

Everything slow happens here: the spool, the FLAC encode at the end of each
roast, sidecar JSON, the disk budget, and recovering the spools an earlier
agent left (agent/recording/spool.py). The capture and scoring threads reach
it through one unbounded `queue.SimpleQueue` whose `put` never blocks, so a
stalled disk costs memory (64 kB per second of audio), never a dropped
block. The thread takes all that is
queued, then sleeps `poll_s`: waking it for every 0.1 s block cost more CPU
than writing the block.

Decisions:
- Positions are absolute sample counts (the runtime's stream clock). A block
  whose position does not follow the last one (the tap was off) restarts the
  ring there.
- The ring (`ring_s`) is the pre-roll: a roast start applied late still
  starts the file at `roast_start_s`; a start older than the ring moves to
  the oldest sample held (the sidecar's times follow the real start).
- The file trails the stream by `hold_s`, so a finish decided a little after
  its instant (DROP applied a block late) still ends at exactly that sample;
  one later than `hold_s` ends the file where it already is.
- The spool and first sidecar appear with the first samples (the name is the real
  start); the sidecar names the FLAC the spool becomes at the end of the roast.
- A disk error ends the file (what reached the spool is encoded), is logged once per
  kind and reported (`status`), and fails the record; the thread lives on and tries
  again at the next roast.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from firstcrack.agent.recording.budget import (
    BUDGET_FULL,
    WRITING,
    WRITING_LOCK,
    Budget,
    writing_now,
)
from firstcrack.agent.recording.ring import Ring
from firstcrack.agent.recording.sidecar import (
    SAMPLE_RATE,
    RecordSnapshot,
    build_sidecar,
    write_json_atomic,
)
from firstcrack.agent.recording.spool import encode, open_spool, recover, spool_path, spool_samples
from firstcrack.agent.recording.writer_commands import (
    AudioFile,
    Finish,
    Open,
    OpenFile,
    Pcm16,
    Rewrite,
    Status,
    coalesce,
    drain,
    free_stem,
)

log = logging.getLogger("firstcrack.recording")

_STOP = object()


class Writer:
    """The writer thread (module docstring); `put_audio` and `put` may be called anywhere."""

    def __init__(
        self,
        directory: Path,
        agent_id: str,
        max_bytes: float,
        min_free_bytes: float,
        open_audio: Callable[[Path], AudioFile] = open_spool,
        ring_s: float = 60.0, hold_s: float = 5.0, chunk_s: float = 2.0,
        budget_every_s: float = 30.0, poll_s: float = 0.25,
    ) -> None:
        self.directory, self.agent_id = directory, agent_id
        self.budget = Budget(directory, max_bytes, min_free_bytes)
        self._open_audio = open_audio
        self._ring = Ring(int(ring_s * SAMPLE_RATE))
        self._pcm16 = Pcm16()
        self._hold, self._chunk = int(hold_s * SAMPLE_RATE), int(chunk_s * SAMPLE_RATE)
        self._budget_every = int(budget_every_s * SAMPLE_RATE)
        self._poll_s = poll_s
        self._since_check = 0
        self._file: OpenFile | None = None
        self._done: OrderedDict[int, tuple[str, int, int, str | None]] = OrderedDict()
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.status = Status()
        self._thread = threading.Thread(target=self._run, name="recording-writer", daemon=True)

    # --- any thread ---------------------------------------------------------------------

    @property
    def put_audio(self) -> Callable[[tuple[int, np.ndarray]], None]:
        """`put_audio((position, block))`: the queue's own `put`, no Python frame between."""
        return self._q.put

    def put(self, command: Open | Finish | Rewrite) -> None:
        self._q.put(command)

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    def stop(self, timeout: float) -> bool:
        """Finish what is queued and end the thread; False when it is still busy after `timeout`."""
        self._q.put(_STOP)
        if not self._thread.is_alive():
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        self._guard(recover, self.directory, writing_now())
        self._guard(self.budget.refresh)
        while self._handle(drain(self._q)):
            time.sleep(self._poll_s)  # not woken by every block: the blocks pile up meanwhile
        self._guard(self._shutdown)

    def _handle(self, batch: list[Any]) -> bool:
        """Apply a batch in order, contiguous blocks joined; False at the stop sentinel."""
        for item in coalesce(batch):
            if isinstance(item, tuple):
                self._guard(self._audio, *item)
            elif item is _STOP:
                return False
            else:
                handler = {Open: self._open, Finish: self._finish, Rewrite: self._rewrite}
                self._guard(handler[type(item)], item)
        return True

    def _guard(self, fn: Callable[..., object], *args: Any) -> None:
        before = self._file
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - the writer outlives any surprise
            f, self._file = self._file, None
            if f is not None:
                self._abandon(f, exc)
            else:  # failed while closing: the record is over either way
                kind = f"{type(exc).__name__}:{getattr(exc, 'errno', None)}"
                lost = before.record_id if before else None
                self.status.report(f"recording paused: {exc}", kind, lost)

    def _audio(self, position: int, block: np.ndarray) -> None:
        ring = self._ring
        step = ring.size // 4
        if len(block) > step:  # keep each step small against the ring
            for i in range(0, len(block), step):
                self._audio(position + i, block[i : i + step])
            return
        if position != ring.end:
            self._gap(position)
        f = self._file
        if f is not None and f.pos < ring.end + len(block) - ring.size:  # about to be lost
            self._write_to(f, ring.end if f.end is None else min(ring.end, f.end))
        ring.append(block)
        self._pump()

    def _gap(self, position: int) -> None:
        f = self._file
        if f is not None:
            if f.handle is None:  # nothing written yet: start where the audio is
                f.start = f.pos = max(f.start, position)
            else:
                f.end = f.pos
                self._close(f, f.reason or "gap")
        self._ring.restart(position)

    def _pump(self, flush: bool = False) -> None:
        f = self._file
        if f is None:
            return
        if f.end is not None and self._ring.end >= f.end:
            self._write_to(f, f.end)
            if self._file is f:
                self._close(f, f.reason)
            return
        limit = self._ring.end if flush else self._ring.end - self._hold
        if f.end is not None:
            limit = min(limit, f.end)
        if limit - f.pos >= self._chunk or (flush and limit > f.pos):
            self._write_to(f, limit)

    def _write_to(self, f: OpenFile, b: int) -> None:
        if b <= f.pos:
            return
        if f.handle is None:
            self._create(f)
        a = max(f.pos, self._ring.available)
        assert f.handle is not None
        if a > f.pos:  # cannot happen while hold_s < ring_s; keep the timeline anyway
            log.warning("recording: %d samples were lost before writing", a - f.pos)
            f.handle.write(np.zeros(a - f.pos, np.int16))
        for part in self._ring.parts(a, b):  # 2 s at a time: one conversion per chunk
            f.handle.write(self._pcm16(part))
        self._since_check += b - f.pos
        f.pos = b
        if self._since_check >= self._budget_every:
            self._since_check = 0
            if self._enforce():
                f.end = f.pos
                self._close(f, "budget_full")

    def _create(self, f: OpenFile) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        f.stem = free_stem(self.directory, self.agent_id, f.snapshot.wall(f.start / SAMPLE_RATE))
        f.path = spool_path(self.directory, f.stem)
        with WRITING_LOCK:
            WRITING.update(f.paths())
        f.handle = self._open_audio(f.path)
        self._sidecar(f.stem, f.snapshot, f.start, 0)
        self.status.clear()
        log.info("recording %s", f.path)

    def _sidecar(self, stem: str, snap: RecordSnapshot, start: int, samples: int) -> None:
        payload = build_sidecar(snap, f"{stem}.flac", start / SAMPLE_RATE, samples / SAMPLE_RATE)
        write_json_atomic(self.directory / f"{stem}.json", payload)

    def _close(self, f: OpenFile, reason: str | None) -> None:
        """Finish the file: close the spool, encode it to FLAC, write the complete sidecar,
        delete the spool (agent/recording/spool.py; a failure leaves the spool)."""
        self._file = None
        if f.handle is not None:
            try:
                f.handle.close()
                self._finalize(f, reason, f.written)
            finally:
                self._unregister(f)
            log.info("recorded %s.flac: %.1f s, %s", f.stem, f.written / SAMPLE_RATE, reason)
        self.budget.refresh()

    def _finalize(self, f: OpenFile, reason: str | None, samples: int) -> None:
        assert f.path is not None
        encode(f.path, self.directory / f"{f.stem}.flac")
        snap = replace(f.snapshot, complete=True, end_reason=reason,
                       end_s=(f.start + samples) / SAMPLE_RATE)
        self._sidecar(f.stem, snap, f.start, samples)
        self._remember(f, samples, reason)
        f.path.unlink()

    def _remember(self, f: OpenFile, samples: int, reason: str | None) -> None:
        self._done[f.record_id] = (f.stem, f.start, samples, reason)
        while len(self._done) > 8:
            self._done.popitem(last=False)

    def _unregister(self, f: OpenFile) -> None:
        if f.path is not None:
            with WRITING_LOCK:
                WRITING.difference_update(f.paths())

    def _abandon(self, f: OpenFile, exc: BaseException) -> None:
        """A disk error: give the file up, say so once, keep what can be kept."""
        kind = f"{type(exc).__name__}:{getattr(exc, 'errno', None)}"
        self.status.report(f"recording paused: cannot write {f.path or self.directory}: {exc}",
                           kind, f.record_id)
        if f.handle is not None:
            try:
                f.handle.close()
            except Exception:  # noqa: BLE001 - already failing; the sidecar says the rest
                pass
            try:  # a failed write may have landed in part: the spool says how much
                samples = spool_samples(f.path) if f.path is not None else f.written
                self._finalize(f, "error", samples)
            except Exception:  # noqa: BLE001 - the spool stays; recovered at the next start
                pass
            self._unregister(f)

    def _enforce(self) -> bool:
        """Apply the budget; True (and reported) when recording must pause."""
        full = self.budget.enforce()
        if full:
            current = self._file.record_id if self._file else None
            self.status.report(BUDGET_FULL, "budget_full", current)
        return full

    def _open(self, cmd: Open) -> None:
        if self._file is not None:  # the recorder finishes first; be safe anyway
            self._file.end = self._file.pos
            self._close(self._file, "start")
        if self._enforce():
            self.status.fail(cmd.record_id)
            return
        start = max(cmd.start, self._ring.available)
        self._file = OpenFile(cmd.record_id, cmd.snapshot, start, start)
        self._pump()

    def _finish(self, cmd: Finish) -> None:
        f = self._file
        if f is None or f.record_id != cmd.record_id:
            return  # already ended by the writer (budget, error): its sidecar says why
        f.snapshot = cmd.snapshot
        f.reason = cmd.snapshot.end_reason
        f.end = max(self._ring.end if cmd.end is None else cmd.end, f.start)
        self._pump()

    def _rewrite(self, cmd: Rewrite) -> None:
        f = self._file
        if f is not None and f.record_id == cmd.record_id:
            f.snapshot = cmd.snapshot
            if f.handle is not None:
                self._sidecar(f.stem, f.snapshot, f.start, f.written)
            return
        done = self._done.get(cmd.record_id)
        if done is not None:
            stem, start, samples, reason = done
            snap = replace(cmd.snapshot, complete=True, end_reason=reason,
                           end_s=(start + samples) / SAMPLE_RATE)
            self._sidecar(stem, snap, start, samples)

    def _shutdown(self) -> None:
        f = self._file
        if f is not None:
            f.end = self._ring.end if f.end is None else min(f.end, self._ring.end)
            self._pump(flush=True)
            if self._file is f:
                self._close(f, f.reason or "stopped")

