"""First-crack END: when cracking has stopped, after a confirmed first crack.

Artisan marks FCe ("first crack end") and controllers use it to time the rest
of development. The detector only confirms the start, so this small state
machine watches the windows that follow it. All times are stream seconds, like
`firstcrack.agent.core.detector`, so it is testable with plain lists of numbers.

Decisions written down here:
- A window is *active* when p >= the detector threshold in effect, or, when a
  `pops_per_min` measure is present in telemetry and `active_pops_per_min` is
  configured, when that rate is at or above it. Without either, only p counts.
- Cracking has ended when no window has been active for `quiet_s` seconds
  (the end of the last active window to the end of the current one). The
  quiet period is what tells a real end from the 1-9 s gaps between bursts.
- The end instant is back-dated to the last active window's end minus half a
  window, the mirror of how the onset is placed (a window stays positive while
  at least half of it holds cracking), and never before the onset.
- It fires at most once per confirmation, i.e. once per roast: a new `start`
  or `reset` makes a new confirmation, which starts a fresh watch. After
  `drop` nothing more is watched, and the result stays readable.
"""

from __future__ import annotations

from dataclasses import dataclass

from firstcrack.agent.core.messages import FirstCrackEvent
from firstcrack.agent.core.roast import Confirmation

DEFAULT_QUIET_S = 30.0
EVENT_TYPE = "first_crack_end"


@dataclass(frozen=True)
class CrackEnd:
    """A decided first-crack end, in stream seconds.

    end_s: back-dated estimate of when the cracking stopped.
    detected_s: end of the window that completed the quiet period.
    last_active_s: end of the last active window.
    """

    end_s: float
    detected_s: float
    last_active_s: float


@dataclass(frozen=True)
class FirstCrackEndEvent(FirstCrackEvent):
    """The once-per-roast `first_crack_end` event on `<base>/event`.

    It keeps every first-crack event field, with the same meanings (`ts` is
    when the end was decided, `onset_*` still the first-crack onset, `model`,
    `event_id`), and adds the end instant:
    end_ts: back-dated end of cracking, ISO 8601 UTC.
    end_roast_s / end_audio_s: the same instant as roast clock / stream seconds.
    first_crack_s: how long cracking lasted (onset to end), seconds.
    """

    end_ts: str = ""
    end_roast_s: float | None = None
    end_audio_s: float = 0.0
    first_crack_s: float = 0.0
    event_type: str = EVENT_TYPE


class CrackEndTracker:
    """Decides the end of first crack from the windows after its confirmation.

    quiet_s: seconds without an active window that mean cracking has ended.
    window_s: analysis window length, seconds (for back-dating the end).
    active_pops_per_min: a pops-per-minute rate that also counts as active
        (None: ignore any pops measure).
    """

    def __init__(
        self,
        quiet_s: float = DEFAULT_QUIET_S,
        window_s: float = 10.0,
        active_pops_per_min: float | None = None,
    ) -> None:
        if not quiet_s > 0:
            raise ValueError(f"quiet_s must be > 0 s, got {quiet_s}")
        self.quiet_s = float(quiet_s)
        self.window_s = float(window_s)
        self.active_pops_per_min = active_pops_per_min
        self._confirmation: Confirmation | None = None
        self._last_active_s = 0.0
        self._result: CrackEnd | None = None

    def update(
        self,
        end_s: float,
        probability: float,
        threshold: float,
        confirmation: Confirmation | None,
        watching: bool = True,
        pops_per_min: float | None = None,
    ) -> CrackEnd | None:
        """Feed one window ending at `end_s`; returns the end on the one window that decides it.

        confirmation: the detector's current first-crack confirmation (None before it).
        watching: False after `drop`: the window is not looked at.
        """
        if confirmation is None:
            self._confirmation, self._result = None, None
            return None
        if confirmation is not self._confirmation:
            self._confirmation, self._result = confirmation, None
            self._last_active_s = confirmation.detected_s
        if not watching or self._result is not None or end_s < confirmation.detected_s:
            return None
        if self._active(probability, threshold, pops_per_min):
            self._last_active_s = max(self._last_active_s, end_s)
            return None
        if end_s - self._last_active_s < self.quiet_s:
            return None
        estimate = max(self._last_active_s - self.window_s / 2, confirmation.onset_s)
        self._result = CrackEnd(estimate, end_s, self._last_active_s)
        return self._result

    def _active(self, probability: float, threshold: float, pops_per_min: float | None) -> bool:
        if probability >= threshold:
            return True
        limit = self.active_pops_per_min
        return limit is not None and pops_per_min is not None and pops_per_min >= limit

    def result(self, confirmation: Confirmation | None) -> CrackEnd | None:
        """The decided end for this confirmation (None if undecided or for another roast)."""
        if confirmation is None or confirmation is not self._confirmation:
            return None
        return self._result
