"""The user's corrections: `first_crack_now` and `false_alarm` (docs/RECORDINGS.md).

A correction is two things at once. It is a label: every one becomes a
`UserMark` of the current roast, which the recorder writes into the roast's
sidecar and `firstcrack tune` learns from. And it acts, because the user
outranks the model:

- `first_crack_now` while a roast runs and nothing is confirmed: first crack
  is confirmed now, and a `first_crack` event with `source: "user"` goes out,
  so a roaster controller starts its development timer as it would for the
  agent's own event. When the agent had already confirmed, the mark is only a
  label (the event is not sent twice).
- `false_alarm` while first crack is confirmed: the confirmation is withdrawn
  and a `false_alarm` event naming the withdrawn `event_id` goes out; the
  detector listens again. With nothing confirmed, the mark is only a label.

Marks belong to one roast: a new roast (start, reset, arming after a drop)
clears them; a drop keeps them, so a correction made just after DROP still
lands in that roast's recording.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from firstcrack.agent.core.events import (
    false_alarm_event,
    second_crack_event,
    user_first_crack_event,
)
from firstcrack.agent.core.messages import FirstCrackEvent, iso_utc
from firstcrack.agent.core.payload_schema import RoastClock, Topic
from firstcrack.agent.core.roast import Roast
from firstcrack.agent.core.roast_view import MarkKind, UserMark

log = logging.getLogger("firstcrack.corrections")

_KINDS: dict[str, MarkKind] = {
    "first_crack_now": "first_crack", "false_alarm": "false_alarm",
    "second_crack_now": "second_crack", "second_crack_false_alarm": "second_crack_false_alarm",
}


class Corrections:
    """This roast's user marks; `apply` turns one correction into a mark and maybe an event."""

    def __init__(self) -> None:
        self.marks: list[UserMark] = []
        self._roast_start_s: float | None = None

    def follow(self, roast: Roast) -> None:
        """Forget the marks when another roast has started."""
        if roast.roast_start_s != self._roast_start_s:
            self._roast_start_s = roast.roast_start_s
            self.marks.clear()

    def apply(
        self,
        action: str,
        origin: str,
        roast: Roast,
        now_s: float,
        wall: Callable[[float], float],
        model: str,
        last_event: FirstCrackEvent | None,
        last_second_crack: FirstCrackEvent | None = None,
    ) -> FirstCrackEvent | None:
        """Record the mark; the event to publish (a user first or second crack, or a false
        alarm), if any."""
        if action not in _KINDS:
            raise ValueError(f"not a correction: {action!r}")
        self.follow(roast)
        self.marks.append(UserMark(_KINDS[action], round(now_s, 3), iso_utc(wall(now_s)), origin))
        if action.startswith("second_crack"):
            return _second_crack(action, origin, roast, now_s, wall, model, last_second_crack)
        if action == "first_crack_now":
            confirmation = roast.confirm_by_user(now_s)
            if confirmation is None:
                log.info("first_crack_now kept as a label (%s)", _why_label_only(roast))
                return None
            log.info("first crack confirmed by the user at stream %.1f s", now_s)
            return user_first_crack_event(confirmation, roast, wall, model)
        if roast.retract() is None or last_event is None:
            log.info("false_alarm kept as a label (no first crack is confirmed)")
            return None
        log.info("first crack %s withdrawn as a false alarm", last_event.event_id)
        return false_alarm_event(last_event, now_s, roast, wall, origin)

    provider = "corrections"

    def payload_values(self, topic: Topic, clock: RoastClock) -> dict[str, Any]:
        """`state`: `user_label` (this roast has a mark) and `user_first_crack_ts`."""
        if topic != "state":
            return {}
        standing = self.user_first_crack_s
        return {"user_label": bool(self.marks),
                "user_first_crack_ts": None if standing is None else iso_utc(clock.wall(standing))}

    @property
    def user_first_crack_s(self) -> float | None:
        """Stream seconds of the user's standing first-crack mark (None: none, or withdrawn)."""
        standing = None
        for mark in self.marks:
            standing = mark.audio_s if mark.kind == "first_crack" else None
        return standing


def _second_crack(action: str, origin: str, roast: Roast, now_s: float,
                  wall: Callable[[float], float], model: str,
                  last: FirstCrackEvent | None) -> FirstCrackEvent | None:
    """`second_crack_now` confirms second crack for the user; `second_crack_false_alarm`
    withdraws the agent's (a `false_alarm` naming it). Otherwise a label only."""
    if action == "second_crack_now":
        confirmation = roast.second_crack_by_user(now_s)
        if confirmation is None:
            log.info("second_crack_now kept as a label (no roast runs, or it was confirmed)")
            return None
        return second_crack_event(confirmation, roast, wall, model, source="user")
    if roast.retract_second_crack() is None or last is None:
        log.info("second_crack_false_alarm kept as a label (no second crack is confirmed)")
        return None
    log.info("second crack %s withdrawn as a false alarm", last.event_id)
    return false_alarm_event(last, now_s, roast, wall, origin)


def _why_label_only(roast: Roast) -> str:
    if roast.confirmation is not None:
        return "first crack was already confirmed"
    return "no roast is running"
