"""Outgoing payloads: one dataclass each, with `to_payload()`.

Field names are a contract, declared with every other payload key in
agent/core/payload_schema.py. Timestamps are wall-clock UTC ISO 8601 strings; roast
times are seconds since the roast clock started.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


def iso_utc(epoch_s: float) -> str:
    """ISO 8601 UTC with milliseconds, e.g. `2026-11-25T15:18:35.123Z`."""
    return (
        datetime.fromtimestamp(epoch_s, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


@dataclass(frozen=True)
class Telemetry:
    """One scored window.

    ts: wall-clock time of the window end (ISO 8601 UTC).
    roast_s: roast clock at the window end, seconds (null before a roast starts).
    audio_s: stream time of the window end, seconds since the source started.
    probability: p(first_crack) in 0..1 (0 when silence-gated).
    threshold: the threshold in effect for this window.
    dbfs: window RMS level, dBFS.
    inference_ms: classifier wall time for this window, milliseconds.
    phase: detector phase after this window.
    silent: the silence gate scored this window 0.
    positive_windows: positives inside the confirm span after this window.
    dropped_windows: windows skipped so far because inference fell behind.
    """

    ts: str
    roast_s: float | None
    audio_s: float
    probability: float
    threshold: float
    dbfs: float
    inference_ms: float
    phase: str
    silent: bool = False
    positive_windows: int = 0
    dropped_windows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        payload = asdict(self)
        payload.update(payload.pop("extra"))
        return payload


@dataclass(frozen=True)
class FirstCrackEvent:
    """The once-per-roast first-crack event.

    event_id: unique, and stable across re-sends from the outbox.
    ts: detection time (end of the confirming window), ISO 8601 UTC.
    onset_ts: back-dated onset (first positive of the confirming run), ISO 8601 UTC.
    roast_s: roast clock at detection, seconds.
    onset_roast_s: roast clock at the back-dated onset, seconds.
    audio_s / onset_audio_s: the same two instants as stream seconds.
    probability: p(first_crack) of the confirming window.
    positive_windows: positives inside the confirm span at confirmation.
    model: the model reference that produced the probabilities.
    source: `agent` (the detector confirmed it) or `user` (`first_crack_now`
        before the agent heard it: probability 1, no positive windows, the
        onset is the moment the user spoke).
    """

    event_id: str
    ts: str
    onset_ts: str
    roast_s: float | None
    onset_roast_s: float | None
    audio_s: float
    onset_audio_s: float
    probability: float
    positive_windows: int
    model: str
    event_type: str = "first_crack"
    source: str = "agent"

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FalseAlarmEvent(FirstCrackEvent):
    """`false_alarm` on `<base>/event`: the user withdrew a first-crack event.

    `ts`, `roast_s` and `audio_s` are when the user said so; the onset fields
    are the withdrawn event's. retracts: the withdrawn event's `event_id`.
    origin: the transport the correction came from (`mqtt`, `artisan`).
    """

    retracts: str = ""
    origin: str = ""
    event_type: str = "false_alarm"
    source: str = "user"


@dataclass(frozen=True)
class SecondCrackEvent(FirstCrackEvent):
    """The once-per-roast `second_crack` event: the first-crack event's fields, for second
    crack (`onset_*` is second crack's back-dated onset), plus
    since_first_crack_s: seconds from the first-crack onset to this onset (null when first
    crack was never confirmed).
    """

    since_first_crack_s: float | None = None
    event_type: str = "second_crack"


@dataclass(frozen=True)
class RoastState:
    """The retained `<base>/state` snapshot.

    phase: `idle` | `armed` | `first_crack`.
    first_crack_ts / roast_started_ts: ISO 8601 UTC, or null.
    development_s: seconds since first crack (null before it); frozen at drop.
    dropped_windows: windows skipped so far because inference fell behind.
    settings: the runtime settings in effect, merged into the top level.
    extra: the other providers' declared keys (agent/core/payload_schema.py).
    """

    phase: str
    first_crack: bool
    first_crack_ts: str | None
    roast_started_ts: str | None
    development_s: float | None
    roast_s: float | None
    settings: dict[str, Any]
    dropped_windows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        payload = asdict(self)
        payload.update(payload.pop("settings"))
        payload.update(payload.pop("extra"))
        return payload


def to_json(payload: dict[str, Any]) -> str:
    """Compact JSON, the wire form of every payload."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False)
