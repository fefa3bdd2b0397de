"""The recording's JSON sidecar (docs/RECORDINGS.md, "The sidecar"), built from a snapshot.

The scoring thread keeps a roast's facts in stream seconds (marks, events,
windows, CHARGE, DROP) and hands the writer thread an immutable
`RecordSnapshot`; the writer knows where the file really starts and how many
samples it holds, so it turns the snapshot into the sidecar with
`build_sidecar` (every time relative to the file start) and writes it with
`write_json_atomic`. Keeping this a pure function makes the label rules
testable without audio.

Label rules, decided here once:
- user marks outrank the agent: any mark makes `label_source` "user";
- the user's region starts at the last `first_crack` mark not followed by a
  `false_alarm`; a `false_alarm` after every `first_crack` mark (or alone)
  means "no first crack": no region;
- a region ends at the agent's `first_crack_end_s` when that is later than its
  start, else 120 s after it, clipped to the audio; a start before the file
  (a mark made before recording was switched on) is clipped to 0, and a start
  at or past the end of the audio gives no region;
- the agent's decision is its last `first_crack` event with source `agent`
  that no `false_alarm` retracts; `first_crack_end_s` is the last
  `first_crack_end` event's end, whichever event it closed.
"""

from __future__ import annotations

import calendar
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firstcrack.agent.core.messages import iso_utc
from firstcrack.models.contracts import (
    SAMPLE_RATE,
    AgentDecision,
    Sidecar,
    first_crack_region,
    label_source,
    recorder_meta,
)


@dataclass(frozen=True)
class MarkRecord:
    """A user mark as the recorder keeps it (stream seconds)."""

    kind: str
    audio_s: float
    ts: str
    origin: str


@dataclass(frozen=True)
class RecordSnapshot:
    """Everything the sidecar says about one recording, in stream seconds.

    `end_reason` is None while recording; `complete` is true once the file is
    finished. `events` are dicts with `event_type`, `event_id`, `audio_s` and,
    when the event has them, `onset_audio_s`, `end_audio_s`, `source`,
    `retracts`, `origin`.
    """

    record_id: int
    agent_id: str
    model: str
    roast_start_s: float
    anchor: tuple[float, float]
    settings: Mapping[str, Any]
    marks: tuple[MarkRecord, ...] = ()
    events: tuple[Mapping[str, Any], ...] = ()
    windows: tuple[tuple[float, float], ...] = ()
    end_s: float | None = None
    end_reason: str | None = None
    drop_s: float | None = None
    complete: bool = False

    def wall(self, stream_s: float) -> float:
        return self.anchor[1] + (stream_s - self.anchor[0])


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def agent_decision(events: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """The agent's own onset, detection and first-crack end (stream seconds; None if absent)."""
    retracted = {e.get("retracts") for e in events if e.get("event_type") == "false_alarm"}
    confirmed = [
        e for e in events
        if e.get("event_type") == "first_crack" and e.get("source", "agent") == "agent"
        and e.get("event_id") not in retracted
    ]
    ends = [e for e in events if e.get("event_type") == "first_crack_end"]
    last = confirmed[-1] if confirmed else None
    return {
        "onset_s": None if last is None else last.get("onset_audio_s"),
        "detected_s": None if last is None else last.get("audio_s"),
        "first_crack_end_s": ends[-1].get("end_audio_s") if ends else None,
    }


def user_start(marks: Sequence[MarkRecord]) -> float | None:
    """Stream s of the last `first_crack` mark not followed by a `false_alarm`, or None."""
    last_fc = last_fa = -1
    for i, mark in enumerate(marks):
        if mark.kind == "first_crack":
            last_fc = i
        elif mark.kind == "false_alarm":
            last_fa = i
    if last_fc < 0 or last_fa > last_fc:
        return None
    return marks[last_fc].audio_s


def _event_entry(event: Mapping[str, Any], rel: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"event_type": event.get("event_type"),
                           "event_id": event.get("event_id"), "t_s": rel(event.get("audio_s"))}
    if event.get("event_type") in ("first_crack", "first_crack_end"):
        out["onset_s"] = rel(event.get("onset_audio_s"))
    if event.get("end_audio_s") is not None:
        out["end_s"] = rel(event["end_audio_s"])
    for key in ("source", "retracts", "origin"):
        if event.get(key):
            out[key] = event[key]
    return out


def build_sidecar(
    snap: RecordSnapshot, audio_file: str, file_start_s: float, duration_s: float
) -> dict[str, Any]:
    """The sidecar dict of docs/RECORDINGS.md for a file starting at stream `file_start_s`."""

    def rel(value: float | None) -> float | None:
        return None if value is None else _r(value - file_start_s)

    decision = agent_decision(snap.events)
    agent = AgentDecision(**{key: rel(value) for key, value in decision.items()})
    marks = tuple(snap.marks)
    if marks:
        start = user_start(marks)
        annotations = first_crack_region(rel(start), agent.first_crack_end_s, duration_s)
    else:
        annotations = first_crack_region(agent.onset_s, agent.first_crack_end_s, duration_s)
    charge = rel(snap.roast_start_s)
    drop = rel(snap.drop_s)
    end_s = snap.end_s if snap.end_s is not None else file_start_s + duration_s
    return Sidecar(
        audio_file=audio_file,
        duration=round(duration_s, 3),
        annotations=annotations,
        label_source="user" if marks else "agent",
        complete=snap.complete,
        agent_id=snap.agent_id,
        started_ts=iso_utc(snap.wall(file_start_s)),
        ended_ts=iso_utc(snap.wall(end_s)) if snap.complete else None,
        end_reason=snap.end_reason,
        roast_offset_s=_r(max(0.0, file_start_s - snap.roast_start_s)),
        model=snap.model,
        settings=snap.settings,
        charge_s=charge if charge is not None and charge >= -1e-3 else None,
        drop_s=drop if drop is not None and -1e-3 <= drop <= duration_s + 0.5 else None,
        agent=agent,
        marks=[{"kind": m.kind, "t_s": rel(m.audio_s), "ts": m.ts, "origin": m.origin}
               for m in marks],
        events=[_event_entry(e, rel) for e in snap.events],
        windows=[[rel(t), round(float(p), 4)] for t, p in snap.windows if t >= file_start_s],
    ).to_json()


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON so a reader sees the old file or the new one, never half of one.

    The temporary name ends in `.tmp` (not `.json`), so a dataset loader that
    globs `*.json` never picks it up.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, separators=(",", ":"), allow_nan=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """A sidecar's JSON object, or None when missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def interrupted_sidecar(side: Mapping[str, Any] | None, stem: str,
                        samples: int) -> dict[str, Any]:
    """The sidecar of a roast whose agent died mid-roast (agent/recording/spool.py).

    `side` is what was on disk (None when missing: a minimal sidecar is made,
    its start read from the stem). Its annotations are derived again, by the
    rules above, for the real `duration`, from its own (file-relative) marks
    and agent decision.
    """
    duration = samples / SAMPLE_RATE
    if side is None:
        agent_id, _, rest = stem.rpartition("_")
        if rest.isdigit():  # `<agent>_<ts>_<n>`
            agent_id, _, rest = agent_id.rpartition("_")
        try:
            started = iso_utc(calendar.timegm(time.strptime(rest, "%Y%m%dT%H%M%SZ")))
        except ValueError:
            started = None
        side = Sidecar(audio_file=f"{stem}.flac", duration=0.0, label_source="agent",
                       agent_id=agent_id or None, started_ts=started,
                       roast_offset_s=None).to_json()
    out = dict(side)
    meta = dict(recorder_meta(out) or {})
    meta.update(complete=False, end_reason="interrupted")
    out.update(audio_file=f"{stem}.flac", duration=round(duration, 3), firstcrack=meta)
    agent = meta.get("agent") if isinstance(meta.get("agent"), dict) else {}
    marks = [MarkRecord(str(m.get("kind")), float(m.get("t_s") or 0.0), "", "")
             for m in meta.get("marks") or [] if isinstance(m, dict)]
    end = agent.get("first_crack_end_s")
    if marks:
        out["annotations"] = first_crack_region(user_start(marks), end, duration)
    elif label_source(out) == "agent":
        out["annotations"] = first_crack_region(agent.get("onset_s"), end, duration)
    return out
