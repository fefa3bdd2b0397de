"""The roast lifecycle: when a roast runs, whether it is armed, and its first crack.

All times are stream seconds (`audio_s`). Decisions written down here:

- The first-crack event fires once per roast: a confirmation is latched until `start`
  or `reset`.
- `armed OFF` stops new positives from counting but keeps the roast clock.
- `drop` ends the roast: the phase goes to `idle`, the latch stays (the roast had its
  first crack) and `development_s` freezes.
- `reset` forgets the roast; with `auto_arm` a fresh roast starts at once.
- The user outranks the model (docs/RECORDINGS.md): `confirm_by_user` confirms first
  crack at once, with the onset at that instant (the user hears it now), while a roast
  runs and nothing is confirmed yet, even with `armed OFF`. `retract` withdraws a
  confirmation (a false alarm): the phase returns to `armed`.

Every change that must forget the evidence gathered so far (a new roast, a drop, a
confirmation, a retraction, disarming) advances `epoch`; the confirmation rule
(agent/core/confirmation.py) starts from zero evidence in a new epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    IDLE = "idle"
    ARMED = "armed"
    FIRST_CRACK = "first_crack"
    SECOND_CRACK = "second_crack"


@dataclass(frozen=True)
class Confirmation:
    """A confirmed first crack, in stream seconds.

    detected_s: when it was known: the end of the confirming window, or later when that
        window was scored late.
    onset_s: back-dated onset (midpoint of the first positive window of the run).
    probability: p of the confirming window.
    positive_windows: positives inside the confirm span at confirmation.
    """

    detected_s: float
    onset_s: float
    probability: float
    positive_windows: int


class Roast:
    """One roaster's roast clock, arming and latched first crack."""

    def __init__(self, auto_arm: bool = True) -> None:
        self.auto_arm = auto_arm
        self.roast_start_s: float | None = 0.0 if auto_arm else None
        self.roast_end_s: float | None = None
        self.confirmation: Confirmation | None = None
        self.second_crack: Confirmation | None = None
        self.armed = auto_arm
        self.epoch = 0

    @property
    def phase(self) -> Phase:
        if self.second_crack is not None and self.roast_end_s is None:
            return Phase.SECOND_CRACK
        if self.confirmation is not None and self.roast_end_s is None:
            return Phase.FIRST_CRACK
        if self.armed and self.roast_end_s is None and self.roast_start_s is not None:
            return Phase.ARMED
        return Phase.IDLE

    @property
    def running(self) -> bool:
        """A roast was started and has not been dropped."""
        return self.roast_start_s is not None and self.roast_end_s is None

    @property
    def developing(self) -> bool:
        """First crack is confirmed and the roast runs: development time counts."""
        return self.phase in (Phase.FIRST_CRACK, Phase.SECOND_CRACK)

    def start(self, now_s: float) -> None:
        """Arm a new roast: clear the latches and start the roast clock at `now_s`."""
        self.epoch += 1
        self.confirmation = None
        self.second_crack = None
        self.roast_start_s = now_s
        self.roast_end_s = None
        self.armed = True

    def drop(self, now_s: float) -> None:
        """End the roast at `now_s`; a drop with no roast running is a no-op."""
        if self.running:
            self.roast_end_s = now_s
        self.epoch += 1

    def reset(self, now_s: float) -> None:
        """Forget the roast; with `auto_arm` a new one starts at `now_s`."""
        self.epoch += 1
        self.confirmation = None
        self.second_crack = None
        self.roast_end_s = None
        self.roast_start_s = now_s if self.auto_arm else None
        self.armed = self.auto_arm

    def confirm(self, confirmation: Confirmation) -> None:
        """Latch the confirmation rule's first crack."""
        self.confirmation = confirmation
        self.epoch += 1

    def confirm_by_user(self, now_s: float) -> Confirmation | None:
        """First crack confirmed by the user at `now_s`; None when no roast runs or one is
        already confirmed (the user's mark is then a label only)."""
        if not self.running or self.confirmation is not None:
            return None
        self.confirm(Confirmation(now_s, now_s, 1.0, 0))
        return self.confirmation

    def confirm_second_crack(self, confirmation: Confirmation) -> None:
        """Latch second crack (agent/core/second_crack.py decides when)."""
        self.second_crack = confirmation

    def second_crack_by_user(self, now_s: float) -> Confirmation | None:
        """Second crack confirmed by the user at `now_s`; None when no roast runs or it is
        already confirmed (the mark is then a label only)."""
        if not self.running or self.second_crack is not None:
            return None
        self.second_crack = Confirmation(now_s, now_s, 1.0, 0)
        return self.second_crack

    def retract_second_crack(self) -> Confirmation | None:
        """Withdraw second crack (a false alarm); returns it, or None if there was none."""
        withdrawn, self.second_crack = self.second_crack, None
        return withdrawn

    def retract(self) -> Confirmation | None:
        """Withdraw the confirmation (a false alarm); returns it, or None if there was none."""
        withdrawn, self.confirmation = self.confirmation, None
        self.epoch += 1
        return withdrawn

    def set_armed(self, armed: bool, now_s: float) -> None:
        """`armed/set`: ON starts the roast clock if none runs; OFF pauses counting."""
        self.armed = armed
        if armed and not self.running:
            self.start(now_s)
        if not armed:
            self.epoch += 1

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
