"""`Recorder`: a sink that records each roast as FLAC plus a sidecar (docs/RECORDINGS.md).

Two doors, on two threads:
- `audio(block)`, on the capture thread, with every 16 kHz mono float32 block
  in order. It counts samples (the runtime's stream clock) and, while the
  recording switch is on, queues a float32 copy for the writer thread (the
  caller may reuse its buffer). That copy is its one allocation: converting
  each 0.1 s block to 16-bit PCM here cost three times the copy, so the
  writer converts 2 s at a time. It takes no lock and never waits: the
  queue is unbounded.
- `start()` starts the writer thread, which first recovers the roasts an
  agent killed mid-roast left behind (agent/recording/spool.py).
- the sink methods, on the scoring thread. Each reads `view()` (the runtime's
  `RoastView`) and brings the recording in line with it: a roast running
  with recording on must have a file open; DROP, reset, a new start, the
  switch turned off or `max_roast_min` end it. It sends the writer commands
  with exact sample positions, so the two threads never need to agree on
  timing.

Decisions:
- A roast is known by its `roast_start_s`. A file ended by `max_roast_min`
  or by a writer failure (disk error, budget full) is not restarted for the
  same roast; one ended by the switch is, when the switch comes back on
  (from the current position, with `roast_offset_s` set).
- While the switch is off, `audio()` only counts: recording costs nothing
  when it is off, and the pre-roll refills from the moment it is turned on.
- The last finished roast stays known until the next roast starts: marks
  and events that arrive for it after DROP (a false alarm pressed late)
  rewrite its sidecar.
- The sidecar's settings are the last ones in force while the file was open.
- Like the audio, the last 64 windows are kept, so windows scored after the
  file's start but before the start was applied are in the sidecar too.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from firstcrack.agent.config import RecordingConfig
from firstcrack.agent.core.payload_schema import RoastClock, Topic
from firstcrack.agent.core.roast_view import RoastView
from firstcrack.agent.recording.budget import budget_bytes
from firstcrack.agent.recording.sidecar import SAMPLE_RATE, MarkRecord, RecordSnapshot
from firstcrack.agent.recording.spool import open_spool
from firstcrack.agent.recording.writer import Writer
from firstcrack.agent.recording.writer_commands import AudioFile, Finish, Open, Rewrite

log = logging.getLogger("firstcrack.recording")


@dataclass
class _Record:
    """One roast's recording as the scoring thread knows it (stream seconds)."""

    record_id: int
    roast_start_s: float
    file_start_s: float
    anchor: tuple[float, float]
    settings: dict[str, Any]
    marks: tuple[MarkRecord, ...] = ()
    events: list[dict[str, Any]] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)
    end_s: float | None = None
    end_reason: str | None = None
    drop_s: float | None = None


def _marks(view: RoastView) -> tuple[MarkRecord, ...]:
    return tuple(MarkRecord(m.kind, float(m.audio_s), m.ts, m.origin) for m in view.marks)


def _event_dict(event: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"event_type": getattr(event, "event_type", "first_crack"),
                           "event_id": getattr(event, "event_id", ""),
                           "audio_s": float(getattr(event, "audio_s", 0.0))}
    for key in ("onset_audio_s", "end_audio_s"):
        value = getattr(event, key, None)
        if value is not None:
            out[key] = float(value)
    for key in ("source", "retracts", "origin"):
        value = getattr(event, key, None)
        if value:
            out[key] = str(value)
    if out["event_type"] in ("first_crack", "first_crack_end"):
        out.setdefault("source", "agent")
    if out["event_type"] != "first_crack_end":
        out.pop("end_audio_s", None)
    return out


class Recorder:
    """Records roasts (see the module docstring). A `Sink`, plus `audio()`, and the
    `recorder` payload provider (`usage()` in `state`)."""

    provider = "recorder"

    def __init__(
        self,
        config: RecordingConfig,
        agent_id: str,
        directory: Path,
        model_name: str,
        view: Callable[[], RoastView],
        *,
        open_audio: Callable[[Path], AudioFile] = open_spool,
        ring_s: float = 60.0,
        hold_s: float = 5.0,
    ) -> None:
        """`open_audio` opens the spool (a seam for tests that need a slow or full disk).

        `ring_s` is the pre-roll, `hold_s` how far the file trails the stream
        (agent/recording/writer.py).
        """
        self.config, self.agent_id, self.directory = config, agent_id, Path(directory)
        self.model_name, self._view = model_name, view
        max_bytes, min_free = budget_bytes(config.max_gb, config.min_free_gb)
        self._writer = Writer(self.directory, agent_id, max_bytes, min_free, open_audio,
                              ring_s=ring_s, hold_s=hold_s)
        self._tap_on = bool(config.enabled)
        self._put = self._writer.put_audio
        self._samples = 0  # written only by audio()
        self._recent: deque[tuple[float, float]] = deque(maxlen=64)  # windows, for a late start
        self._current: _Record | None = None
        self._last: _Record | None = None
        self._blocked_start: float | None = None
        self._seen_start: float | None = float("nan")  # the roast start at the last sync
        self._next_id = 1
        self._closed = False

    # --- the capture thread -----------------------------------------------------------------

    def audio(self, block: np.ndarray) -> None:
        """Take one block of the stream; never blocks, never drops."""
        if self._tap_on:
            copy = np.array(block, dtype=np.float32)
            if copy.ndim != 1:
                copy = copy.reshape(-1)
            self._put((self._samples, copy))
            self._samples += len(copy)
        else:
            self._samples += len(block)

    # --- Sink (the scoring thread) --------------------------------------------------------------

    def start(self) -> None:
        self._writer.start()

    def telemetry(self, t: Any) -> None:
        window = (float(t.audio_s), float(t.probability))
        self._recent.append(window)
        self._sync()
        cur = self._current
        if cur is not None and (not cur.windows or cur.windows[-1] != window):
            cur.windows.append(window)

    def event(self, e: Any) -> None:
        self._sync()
        record = self._current or self._last
        if record is None:
            return
        record.events.append(_event_dict(e))
        self._rewrite(record)

    def state(self, s: Any) -> None:
        self._sync()

    def publish_settings(self, s: Any) -> None:
        self._sync()

    def close(self, timeout: float = 5.0) -> None:
        """Finish the current file at the last sample received ("stopped"), then end the writer."""
        if self._closed:
            return
        self._closed = True
        cur = self._current
        if cur is not None:
            self._finish(cur, "stopped", self._samples / SAMPLE_RATE, self._view())
        if not self._writer.stop(timeout):
            log.warning("recording: the writer is still busy after %.1f s; "
                        "the last file may be incomplete", timeout)

    # --- state for the retained `state` --------------------------------------------------------

    def payload_values(self, topic: Topic, clock: RoastClock) -> dict[str, Any]:
        return self.usage() if topic == "state" else {}

    def usage(self) -> dict[str, Any]:
        """For the retained state, under these keys: `recording_active` (a file is being
        written now; `recording` is the switch, a setting), `recordings_mb` (MiB on disk),
        `recordings` (count), `recording_error` (why recording is paused, or None)."""
        w = self._writer
        cur = self._current
        return {
            "recording_active": cur is not None and not w.status.failed(cur.record_id),
            "recordings_mb": round(w.budget.bytes / 2**20, 1),
            "recordings": w.budget.count,
            "recording_error": w.status.error,
        }

    # --- decisions --------------------------------------------------------------------------

    def _sync(self) -> None:
        if self._closed:
            return
        view = self._view()
        on = bool(getattr(view.settings, "recording", self.config.enabled))
        self._tap_on = on
        start, end = view.roast_start_s, view.roast_end_s
        cur = self._current
        if cur is not None and self._writer.status.failed(cur.record_id):
            self._blocked_start = cur.roast_start_s
            self._current, self._last, cur = None, cur, None
        if cur is not None:
            cur.anchor = view.anchor
            cur.settings = self._settings(view)
            limit = cur.file_start_s + 60.0 * self.config.max_roast_min
            if start is None:
                self._finish(cur, "reset", view.stream_s, view)
            elif start != cur.roast_start_s:
                self._finish(cur, "start", max(start, cur.file_start_s), view)
            elif end is not None:
                self._finish(cur, "drop", end, view, drop=True)
            elif not on:
                self._finish(cur, "recording_off", view.stream_s, view)
            elif view.stream_s >= limit:
                self._blocked_start = start
                self._finish(cur, "max_length", limit, view)
            elif _marks(view) != cur.marks:
                cur.marks = _marks(view)
                self._rewrite(cur)
        last = self._last
        if last is not None and self._current is None:
            if start != last.roast_start_s:
                self._last = None
            elif _marks(view) != last.marks:
                last.marks = _marks(view)
                self._rewrite(last)
        if (self._current is None and on and start is not None and end is None
                and start != self._blocked_start):
            self._open(view, start)
        self._seen_start = start

    def _settings(self, view: RoastView) -> dict[str, Any]:
        values = dataclasses.asdict(view.settings)
        values.setdefault("recording", self._tap_on)
        return values

    def _open(self, view: RoastView, start: float) -> None:
        """A roast seen starting now records from its start (pre-roll); one already
        running when the switch came on records from the current position."""
        fresh = start != self._seen_start
        file_start = start if fresh else max(start, view.stream_s)
        record = _Record(self._next_id, start, file_start, view.anchor, self._settings(view),
                         marks=_marks(view))
        record.windows = [w for w in self._recent if w[0] >= file_start]
        self._next_id += 1
        self._current, self._last = record, None
        self._writer.put(Open(record.record_id, round(file_start * SAMPLE_RATE),
                              self._snapshot(record)))

    def _finish(self, record: _Record, reason: str, at_s: float, view: RoastView,
                drop: bool = False) -> None:
        record.end_s, record.end_reason = at_s, reason
        record.drop_s = at_s if drop else None
        record.marks = _marks(view) if view.roast_start_s == record.roast_start_s else record.marks
        self._writer.put(Finish(record.record_id, round(at_s * SAMPLE_RATE),
                                self._snapshot(record, complete=True)))
        self._current, self._last = None, record

    def _rewrite(self, record: _Record) -> None:
        complete = record is not self._current
        self._writer.put(Rewrite(record.record_id, self._snapshot(record, complete=complete)))

    def _snapshot(self, record: _Record, complete: bool = False) -> RecordSnapshot:
        return RecordSnapshot(
            record_id=record.record_id,
            agent_id=self.agent_id,
            model=self.model_name,
            roast_start_s=record.roast_start_s,
            anchor=record.anchor,
            settings=dict(record.settings),
            marks=record.marks,
            events=tuple(dict(e) for e in record.events),
            windows=tuple(record.windows),
            end_s=record.end_s,
            end_reason=record.end_reason,
            drop_s=record.drop_s,
            complete=complete,
        )
