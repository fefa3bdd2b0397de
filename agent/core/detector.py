"""First-crack decision logic, apart from any model (README, "Detector").

A small state machine fed one probability per window. All times are stream
seconds (`audio_s`), so it is testable with plain lists of numbers; the
runtime maps them to wall-clock timestamps.

Decisions written down here:
- A window is positive when p >= threshold, the roast is armed, it is not
  silence-gated, and the roast clock has passed `min_roast_s`.
- Confirmation, two rules (`settings.rule`):
  - `evidence` (default): a leaky count. Each positive window adds 1 to the
    evidence, and the evidence halves every `confirm_s` seconds; first crack
    is confirmed when it reaches `min_positive`. Sparse first crack (a few
    pops a minute) still adds up, while an isolated loud click, which makes
    only the two or three overlapping windows that hold it positive, decays
    away. Both parameters keep a plain meaning: positive windows, and seconds.
  - `k_of_n`: at least `min_positive` positives whose window ends lie in
    `[now - confirm_s, now]` (the published baseline, 5 in 20 s).
- The onset is back-dated to the first positive window of the confirming
  run, and placed at that window's midpoint: the pops that made it positive
  lie somewhere inside its 10 s, so the midpoint is the unbiased guess. Under
  `evidence`, a run of positives breaks at a gap longer than `confirm_s` (one
  half-life) or when the evidence has decayed below `RUN_FLOOR`, so a stray
  positive minutes earlier still adds its decayed evidence but does not drag
  the onset back to itself.
- Windows may be scored late (the adaptive cadence re-scores windows its idle
  hop skipped, agent/core/cadence.py): `update(..., now_s=)` says when the decision
  is made, and the confirmation's `detected_s` is that time, never earlier.
- The event fires once per roast (latched until `start` or `reset`).
- `armed OFF` stops new positives from counting but keeps the roast clock.
- `drop` ends the roast: the phase goes to `idle`, the latch stays (the roast
  had its first crack) and `development_s` freezes.
- `reset` forgets the roast; with `auto_arm` a fresh roast starts at once.
- The user outranks the model (docs/RECORDINGS.md): `confirm_by_user` confirms
  first crack at once, with the onset at that instant (the user hears it now),
  while a roast runs and nothing is confirmed yet, even with `armed OFF`.
  `retract` withdraws a confirmation (a false alarm): the phase returns to
  `armed` and the detector listens again, from zero evidence.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from agent.core.settings import DetectorSettings

RUN_FLOOR = 0.25
"""Evidence below this (a quarter of one positive window) ends a run of positives."""


class Phase(StrEnum):
    IDLE = "idle"
    ARMED = "armed"
    FIRST_CRACK = "first_crack"


@dataclass(frozen=True)
class Confirmation:
    """A confirmed first crack, in stream seconds.

    detected_s: when it was known: the end of the confirming window, or later
        when that window was scored late.
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
    positive_windows: positives inside the confirm span (k_of_n) or in the
        current run (evidence) after this window.
    evidence: the leaky evidence after this window, in positive windows
        (under k_of_n, the same as positive_windows).
    confirmation: set on the one window that confirmed first crack.
    """

    probability: float
    positive: bool
    silent: bool
    positive_windows: int
    confirmation: Confirmation | None = None
    evidence: float = 0.0


class Detector:
    """First-crack confirmation (evidence or k-of-n) with a roast lifecycle."""

    def __init__(self, window_s: float = 10.0, auto_arm: bool = True) -> None:
        self.window_s = window_s
        self.auto_arm = auto_arm
        self._positives: deque[float] = deque()
        self._evidence = 0.0
        self._evidence_s = 0.0  # stream time the evidence was last brought up to date
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
        self._clear_evidence()
        self.confirmation = None
        self.roast_start_s = now_s
        self.roast_end_s = None
        self.armed = True

    def drop(self, now_s: float) -> None:
        """End the roast at `now_s`; a drop with no roast running is a no-op."""
        if self.roast_start_s is not None and self.roast_end_s is None:
            self.roast_end_s = now_s
        self._clear_evidence()

    def reset(self, now_s: float) -> None:
        """Forget the roast; with `auto_arm` a new one starts at `now_s`."""
        self._clear_evidence()
        self.confirmation = None
        self.roast_end_s = None
        self.roast_start_s = now_s if self.auto_arm else None
        self.armed = self.auto_arm

    def confirm_by_user(self, now_s: float) -> Confirmation | None:
        """First crack confirmed by the user at `now_s`; None when no roast runs or one is
        already confirmed (the user's mark is then a label only)."""
        running = self.roast_start_s is not None and self.roast_end_s is None
        if not running or self.confirmation is not None:
            return None
        self.confirmation = Confirmation(now_s, now_s, 1.0, 0)
        self._clear_evidence()
        return self.confirmation

    def retract(self) -> Confirmation | None:
        """Withdraw the confirmation (a false alarm); returns it, or None if there was none."""
        withdrawn, self.confirmation = self.confirmation, None
        self._clear_evidence()
        return withdrawn

    def set_armed(self, armed: bool, now_s: float) -> None:
        """`armed/set`: ON starts the roast clock if none runs; OFF pauses counting."""
        self.armed = armed
        if armed and (self.roast_start_s is None or self.roast_end_s is not None):
            self.start(now_s)
        if not armed:
            self._clear_evidence()

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
        self,
        end_s: float,
        probability: float,
        silent: bool,
        settings: DetectorSettings,
        now_s: float | None = None,
    ) -> Decision:
        """Score one window ending at stream time `end_s`, decided at `now_s` (default: end_s)."""
        score = 0.0 if silent else float(probability)
        roast_s = self.roast_s(end_s)
        counting = (
            self.phase is Phase.ARMED
            and settings.armed
            and roast_s is not None
            and roast_s >= settings.min_roast_s
        )
        positive = counting and score >= settings.threshold
        if settings.rule == "evidence":
            count, evidence, ready = self._accumulate(end_s, positive, settings)
        else:
            count, ready = self._k_of_n(end_s, positive, settings)
            evidence = float(count)
        confirmation = None
        if positive and ready:
            onset = max(self._positives[0] - self.window_s / 2, self.roast_start_s or 0.0)
            detected = end_s if now_s is None else max(end_s, now_s)
            confirmation = Confirmation(detected, onset, score, count)
            self.confirmation = confirmation
            self._clear_evidence()
        return Decision(score, positive, silent, count, confirmation, round(evidence, 4))

    def _k_of_n(self, end_s: float, positive: bool, settings: DetectorSettings) -> tuple[int, bool]:
        if positive:
            self._positives.append(end_s)
        while self._positives and self._positives[0] < end_s - settings.confirm_s:
            self._positives.popleft()
        count = len(self._positives)
        return count, count >= settings.min_positive

    def _accumulate(
        self, end_s: float, positive: bool, settings: DetectorSettings
    ) -> tuple[int, float, bool]:
        """Leaky evidence: decay to `end_s`, add 1 for a positive; (run length, evidence, ready)."""
        elapsed = max(0.0, end_s - self._evidence_s)
        self._evidence *= math.pow(0.5, elapsed / settings.confirm_s)
        self._evidence_s = max(self._evidence_s, end_s)
        if self._evidence < RUN_FLOOR:
            self._positives.clear()
        if positive and self._positives and end_s - self._positives[-1] > settings.confirm_s:
            self._positives.clear()  # a new run: the onset is not the stray before the gap
        if positive:
            self._evidence += 1.0
            self._positives.append(end_s)
        ready = self._evidence >= settings.min_positive - 1e-9
        return len(self._positives), self._evidence, ready

    def _clear_evidence(self) -> None:
        self._positives.clear()
        self._evidence = 0.0
