"""Building the telemetry, `first_crack`, `first_crack_end`, `false_alarm` and `state` payloads.

Kept apart from `Runtime` so the runtime reads as "window in, announcements
out": these functions only turn stream seconds into wall and roast clocks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from firstcrack.agent.core.crack_end import CrackEnd, CrackEndTracker, FirstCrackEndEvent
from firstcrack.agent.core.detector import Decision
from firstcrack.agent.core.messages import (
    FalseAlarmEvent,
    FirstCrackEvent,
    RoastState,
    SecondCrackEvent,
    Telemetry,
    iso_utc,
)
from firstcrack.agent.core.payload_schema import RoastClock, Topic
from firstcrack.agent.core.roast import Confirmation, Roast
from firstcrack.agent.core.settings import RuntimeSettings

WallClock = Callable[[float], float]  # stream seconds -> epoch seconds


def _roast(roast: Roast, stream_s: float) -> float | None:
    value = roast.roast_s(stream_s)
    return None if value is None else round(value, 3)


def _event_fields(
    detected_s: float,
    confirmation: Confirmation,
    roast: Roast,
    wall: WallClock,
    probability: float,
    positive_windows: int,
    model: str,
) -> dict[str, Any]:
    """The fields every event shares: when it was known, and the first-crack onset."""
    return {
        "event_id": str(uuid.uuid4()),
        "ts": iso_utc(wall(detected_s)),
        "onset_ts": iso_utc(wall(confirmation.onset_s)),
        "roast_s": _roast(roast, detected_s),
        "onset_roast_s": _roast(roast, confirmation.onset_s),
        "audio_s": round(detected_s, 3),
        "onset_audio_s": round(confirmation.onset_s, 3),
        "probability": round(probability, 5),
        "positive_windows": positive_windows,
        "model": model,
    }


def first_crack_event(
    confirmation: Confirmation, roast: Roast, wall: WallClock, model: str
) -> FirstCrackEvent:
    """The event for a confirmation: dated when it was known, back-dated onset."""
    c = confirmation
    return FirstCrackEvent(
        **_event_fields(c.detected_s, c, roast, wall, c.probability, c.positive_windows, model)
    )


def user_first_crack_event(
    confirmation: Confirmation, roast: Roast, wall: WallClock, model: str
) -> FirstCrackEvent:
    """The first-crack event the user made with `first_crack_now` (source `user`)."""
    c = confirmation
    fields = _event_fields(c.detected_s, c, roast, wall, c.probability, 0, model)
    return FirstCrackEvent(**fields, source="user")


def second_crack_event(
    confirmation: Confirmation, roast: Roast, wall: WallClock, model: str,
    source: str = "agent",
) -> SecondCrackEvent:
    """The event for a second-crack confirmation: dated when it was known, back-dated onset."""
    c = confirmation
    positives = c.positive_windows if source == "agent" else 0
    fields = _event_fields(c.detected_s, c, roast, wall, c.probability, positives, model)
    first = roast.confirmation
    since = None if first is None else round(c.onset_s - first.onset_s, 1)
    return SecondCrackEvent(**fields, source=source, since_first_crack_s=since)


def false_alarm_event(
    withdrawn: FirstCrackEvent, now_s: float, roast: Roast, wall: WallClock, origin: str
) -> FalseAlarmEvent:
    """The `false_alarm` event that withdraws `withdrawn`, said at stream time `now_s`."""
    return FalseAlarmEvent(
        event_id=str(uuid.uuid4()),
        ts=iso_utc(wall(now_s)),
        onset_ts=withdrawn.onset_ts,
        roast_s=_roast(roast, now_s),
        onset_roast_s=withdrawn.onset_roast_s,
        audio_s=round(now_s, 3),
        onset_audio_s=withdrawn.onset_audio_s,
        probability=withdrawn.probability,
        positive_windows=withdrawn.positive_windows,
        model=withdrawn.model,
        retracts=withdrawn.event_id,
        origin=origin,
    )


def first_crack_end_event(
    ended: CrackEnd,
    confirmation: Confirmation,
    roast: Roast,
    wall: WallClock,
    probability: float,
    positive_windows: int,
    model: str,
) -> FirstCrackEndEvent:
    """The once-per-roast end event: first-crack fields plus the back-dated end instant."""
    shared = _event_fields(
        ended.detected_s, confirmation, roast, wall, probability, positive_windows, model
    )
    return FirstCrackEndEvent(
        **shared,
        end_ts=iso_utc(wall(ended.end_s)),
        end_roast_s=_roast(roast, ended.end_s),
        end_audio_s=round(ended.end_s, 3),
        first_crack_s=round(ended.end_s - confirmation.onset_s, 3),
    )


class DevelopmentFields:
    """The `development` payload keys: DTR in telemetry and state, first crack's end in state."""

    provider = "development"

    def __init__(self, roast: Roast, tracker: CrackEndTracker | None) -> None:
        self._roast = roast
        self._tracker = tracker

    def payload_values(self, topic: Topic, clock: RoastClock) -> dict[str, Any]:
        ratio = development_ratio(self._roast, clock.now_s)
        if topic == "telemetry":
            return {"development_ratio": ratio}
        ended = None if self._tracker is None else self._tracker.result(
            self._roast.confirmation)
        roast_s = None if ended is None else self._roast.roast_s(ended.end_s)
        return {
            "development_ratio": ratio,
            "first_crack_end_ts": None if ended is None else iso_utc(clock.wall(ended.end_s)),
            "first_crack_end_roast_s": None if roast_s is None else round(roast_s, 1),
        }


def development_ratio(roast: Roast, now_s: float) -> float | None:
    """DTR = development_s / roast_s (Artisan's (DROP - FCs) / DROP, both from CHARGE).

    Live, the current stream time stands in for DROP; frozen at drop like
    `development_s`. None before first crack or without a roast clock.
    """
    development, roast_s = roast.development_s(now_s), roast.roast_s(now_s)
    if development is None or not roast_s:
        return None
    return round(development / roast_s, 4)


def roast_state(
    roast: Roast,
    now_s: float,
    wall: WallClock,
    settings: RuntimeSettings,
    extra: dict[str, Any],
    dropped_windows: int = 0,
) -> RoastState:
    """The retained `state` payload at stream time `now_s`."""
    confirmation = roast.confirmation
    development = roast.development_s(now_s)
    roast_s = roast.roast_s(now_s)

    def wall_iso(stream_s: float | None) -> str | None:
        return None if stream_s is None else iso_utc(wall(stream_s))

    return RoastState(
        phase=roast.phase.value,
        first_crack=confirmation is not None,
        first_crack_ts=wall_iso(None if confirmation is None else confirmation.onset_s),
        roast_started_ts=wall_iso(roast.roast_start_s),
        development_s=None if development is None else round(development, 1),
        roast_s=None if roast_s is None else round(roast_s, 1),
        dropped_windows=dropped_windows,
        settings=settings.runtime_values(),
        extra=extra,
    )


def telemetry(
    roast: Roast,
    end_s: float,
    wall: WallClock,
    decision: Decision,
    settings: RuntimeSettings,
    extra: dict[str, Any],
    *,
    level: float,
    inference_ms: float,
    dropped_windows: int,
) -> Telemetry:
    """The `telemetry` payload of the window ending at stream time `end_s`."""
    roast_s = roast.roast_s(end_s)
    return Telemetry(
        ts=iso_utc(wall(end_s)),
        roast_s=None if roast_s is None else round(roast_s, 3),
        audio_s=round(end_s, 3),
        probability=round(decision.probability, 5),
        threshold=settings.threshold,
        dbfs=round(level, 2),
        inference_ms=round(inference_ms, 2),
        phase=roast.phase.value,
        silent=decision.silent,
        positive_windows=decision.positive_windows,
        dropped_windows=dropped_windows,
        extra=extra,
    )
