"""First-crack decision logic, apart from any model (DESIGN.md section 6).

A small state machine fed one probability per window. All times are stream
seconds (`audio_s`), so it is testable with plain lists of numbers; the
runtime maps them to wall-clock timestamps.

Decisions written down here:
- A window is positive when p >= threshold, the roast is armed, it is not
  silence-gated, and the roast clock has passed `min_roast_s`.
- Confirmation: at least `min_positive` positives whose window ends lie in
  `[now - confirm_s, now]`.
- The onset is back-dated to the first positive window of the confirming
  run, and placed at that window's midpoint: the pops that made it positive
  lie somewhere inside its 10 s, so the midpoint is the unbiased guess.
- The event fires once per roast (latched until `start` or `reset`).
- `armed OFF` stops new positives from counting but keeps the roast clock.
- `drop` ends the roast: the phase goes to `idle`, the latch stays (the roast
  had its first crack) and `development_s` freezes.
- `reset` forgets the roast; with `auto_arm` a fresh roast starts at once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from agent.settings import DetectorSettings


class Phase(StrEnum):
    IDLE = "idle"
    ARMED = "armed"
    FIRST_CRACK = "first_crack"


@dataclass(frozen=True)
class Confirmation:
    """A confirmed first crack, in stream seconds.

    detected_s: end of the window that confirmed it.
    onset_s: back-dated onset (midpoint of the first positive window of the run).
    probability: p of the confirming window.
    positive_windows: positives inside the confirm span at confirmation.
    """

    detected_s: float
    onset_s: float
    probability: float
    positive_windows: int


@dataclass(frozen=True)
class Decision:
    """What the detector made of one window.

    probability: the score used (0 when silence-gated).
    positive: the window counted as positive.
    silent: the silence gate fired.
    positive_windows: positives inside the confirm span after this window.
    confirmation: set on the one window that confirmed first crack.
    """

    probability: float
    positive: bool
    silent: bool
    positive_windows: int
    confirmation: Confirmation | None = None


class Detector:
    """k-of-n first-crack confirmation with a roast lifecycle."""

    def __init__(self, window_s: float = 10.0, auto_arm: bool = True) -> None:
        self.window_s = window_s
        self.auto_arm = auto_arm
        self._positives: deque[float] = deque()
        self.roast_start_s: float | None = None
        self.roast_end_s: float | None = None
        self.confirmation: Confirmation | None = None
        self.armed = auto_arm
        if auto_arm:
            self.roast_start_s = 0.0

    # -- lifecycle -------------------------------------------------------
    @property
    def phase(self) -> Phase:
        if self.confirmation is not None and self.roast_end_s is None:
            return Phase.FIRST_CRACK
        if self.armed and self.roast_end_s is None and self.roast_start_s is not None:
            return Phase.ARMED
        return Phase.IDLE

    def start(self, now_s: float) -> None:
        """Arm a new roast: clear the latch and start the roast clock at `now_s`."""
        self._positives.clear()
        self.confirmation = None
        self.roast_start_s = now_s
        self.roast_end_s = None
        self.armed = True

    def drop(self, now_s: float) -> None:
        """End the roast at `now_s`; a drop with no roast running is a no-op."""
        if self.roast_start_s is not None and self.roast_end_s is None:
            self.roast_end_s = now_s
        self._positives.clear()

    def reset(self, now_s: float) -> None:
        """Forget the roast; with `auto_arm` a new one starts at `now_s`."""
        self._positives.clear()
        self.confirmation = None
        self.roast_end_s = None
        self.roast_start_s = now_s if self.auto_arm else None
        self.armed = self.auto_arm

    def set_armed(self, armed: bool, now_s: float) -> None:
        """`armed/set`: ON starts the roast clock if none runs; OFF pauses counting."""
        self.armed = armed
        if armed and (self.roast_start_s is None or self.roast_end_s is not None):
            self.start(now_s)
        if not armed:
            self._positives.clear()

    def roast_s(self, now_s: float) -> float | None:
        """Roast clock at `now_s`, seconds (None when no roast was started)."""
        if self.roast_start_s is None:
            return None
        end = self.roast_end_s if self.roast_end_s is not None else now_s
        return max(0.0, end - self.roast_start_s)

    def development_s(self, now_s: float) -> float | None:
        """Seconds since the first-crack onset; frozen at drop; None before first crack."""
        if self.confirmation is None:
            return None
        end = self.roast_end_s if self.roast_end_s is not None else now_s
        return max(0.0, end - self.confirmation.onset_s)

    # -- decisions -------------------------------------------------------
    def update(
        self, end_s: float, probability: float, silent: bool, settings: DetectorSettings
    ) -> Decision:
        """Score one window ending at stream time `end_s`."""
        score = 0.0 if silent else float(probability)
        roast_s = self.roast_s(end_s)
        counting = (
            self.phase is Phase.ARMED
            and settings.armed
            and roast_s is not None
            and roast_s >= settings.min_roast_s
        )
        positive = counting and score >= settings.threshold
        if positive:
            self._positives.append(end_s)
        while self._positives and self._positives[0] < end_s - settings.confirm_s:
            self._positives.popleft()
        count = len(self._positives)
        confirmation = None
        if positive and count >= settings.min_positive:
            onset = max(self._positives[0] - self.window_s / 2, self.roast_start_s or 0.0)
            confirmation = Confirmation(end_s, onset, score, count)
            self.confirmation = confirmation
            self._positives.clear()
        return Decision(score, positive, silent, count, confirmation)
