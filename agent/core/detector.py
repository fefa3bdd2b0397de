"""First-crack decision for one window, apart from any model (README, "Detector").

Fed one probability per window; all times are stream seconds (`audio_s`), so it is
testable with plain lists of numbers, and the runtime maps them to wall-clock time.
The roast lifecycle (agent/core/roast.py) says whether a roast runs and is armed; the
confirmation rule (agent/core/confirmation.py) says when positives add up. This
module joins them:

- A window is positive when p >= threshold, the roast is armed, it is not
  silence-gated, and the roast clock has passed `min_roast_s`.
- On the positive window that makes the rule ready, first crack is confirmed and
  latched in the roast. The onset is back-dated to the first positive window of the
  confirming run, and placed at that window's midpoint: the pops that made it
  positive lie somewhere inside its window, so the midpoint is the unbiased guess.
- Windows may be scored late (the adaptive cadence re-scores windows its idle hop
  skipped, agent/core/cadence.py): `update(..., now_s=)` says when the decision is
  made, and the confirmation's `detected_s` is that time, never earlier.
"""

from __future__ import annotations

from dataclasses import dataclass

from firstcrack.agent.core.confirmation import ConfirmationRule
from firstcrack.agent.core.roast import Confirmation, Phase, Roast
from firstcrack.agent.core.settings import RuntimeSettings


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
    """One roast's lifecycle (`roast`) and its confirmation rule, window by window."""

    def __init__(self, window_s: float = 10.0, auto_arm: bool = True) -> None:
        self.window_s = window_s
        self.roast = Roast(auto_arm)
        self.rule = ConfirmationRule()

    def update(
        self,
        end_s: float,
        probability: float,
        silent: bool,
        settings: RuntimeSettings,
        now_s: float | None = None,
    ) -> Decision:
        """Score one window ending at stream time `end_s`, decided at `now_s` (default: end_s)."""
        roast = self.roast
        score = 0.0 if silent else float(probability)
        roast_s = roast.roast_s(end_s)
        counting = (
            roast.phase is Phase.ARMED
            and settings.armed
            and roast_s is not None
            and roast_s >= settings.min_roast_s
        )
        positive = counting and score >= settings.threshold
        count, evidence, ready = self.rule.observe(end_s, positive, settings, roast.epoch)
        confirmation = None
        if positive and ready:
            onset = max(self.rule.run_start_s - self.window_s / 2, roast.roast_start_s or 0.0)
            detected = end_s if now_s is None else max(end_s, now_s)
            confirmation = Confirmation(detected, onset, score, count)
            roast.confirm(confirmation)
        return Decision(score, positive, silent, count, confirmation, round(evidence, 4))
