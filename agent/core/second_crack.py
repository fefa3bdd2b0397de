"""Second crack: when the roast's second-crack probabilities add up to an event.

The state machine, decided here:

- Second crack is looked for only while a roast runs, and only once first crack is
  confirmed, or, when first crack was missed, from `min_roast_s` of roast on. Evidence
  gathered before that never counts (the search starts from zero).
- The same confirmation rules as first crack (agent/core/confirmation.py), with the
  model's own second-crack profile: a window is positive when p >= its threshold.
- The event fires once per roast (latched in the roast until `start` or `reset`); its
  onset is back-dated to the middle of the first positive window of the confirming run.
- No `second_crack_end`: in simulated roasts second crack runs on until the drop, and
  no real second-crack recording exists to learn when it fades; an end that cannot be
  heard reliably would mislead a controller more than no end.
- Off (`detector.second_crack: off`, or a model without a second-crack output): nothing
  is scored, and the payloads carry no second-crack keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firstcrack.agent.core.confirmation import ConfirmationRule
from firstcrack.agent.core.messages import iso_utc
from firstcrack.agent.core.payload_schema import RoastClock, Topic
from firstcrack.agent.core.roast import Confirmation, Roast
from firstcrack.agent.core.settings import RuntimeSettings


@dataclass(frozen=True)
class SecondCrackSettings:
    """The second-crack rule: the model's profile, and when to start looking."""

    threshold: float
    rule: str
    min_positive: int
    confirm_s: float
    window_s: float
    min_roast_s: float = 480.0

    def as_rule_settings(self) -> RuntimeSettings:
        return RuntimeSettings(threshold=self.threshold, min_positive=self.min_positive,
                               confirm_s=self.confirm_s, rule=self.rule)  # type: ignore[arg-type]


class SecondCrackWatch:
    """Second-crack probabilities in, a confirmation out (once per roast)."""

    def __init__(self, settings: SecondCrackSettings) -> None:
        self.settings = settings
        self._rule = ConfirmationRule()
        self._rule_settings = settings.as_rule_settings()
        self.last_probability: float | None = None

    def searching(self, roast: Roast, end_s: float) -> bool:
        """Whether a window ending at `end_s` may count towards second crack."""
        if not roast.running or roast.second_crack is not None or not roast.armed:
            return False
        roast_s = roast.roast_s(end_s)
        return roast.confirmation is not None or (
            roast_s is not None and roast_s >= self.settings.min_roast_s)

    def update(self, roast: Roast, end_s: float, probability: float,
               now_s: float | None = None) -> Confirmation | None:
        """One window's second-crack probability; the confirmation on the deciding window."""
        self.last_probability = round(float(probability), 5)
        if not self.searching(roast, end_s):
            return None
        # The roast's epoch changes with every roast and with the first-crack confirmation:
        # no evidence from before first crack, or from another roast, carries over.
        positive = probability >= self.settings.threshold
        count, _, ready = self._rule.observe(end_s, positive, self._rule_settings, roast.epoch)
        if not (positive and ready):
            return None
        onset = max(self._rule.run_start_s - self.settings.window_s / 2,
                    roast.roast_start_s or 0.0)
        detected = end_s if now_s is None else max(end_s, now_s)
        confirmation = Confirmation(detected, onset, float(probability), count)
        roast.confirm_second_crack(confirmation)
        return confirmation


class SecondCrackFields:
    """The `second_crack` payload keys (agent/core/payload_schema.py)."""

    provider = "second_crack"

    def __init__(self, roast: Roast, watch: SecondCrackWatch) -> None:
        self._roast = roast
        self._watch = watch

    def payload_values(self, topic: Topic, clock: RoastClock) -> dict[str, Any]:
        if topic == "telemetry":
            return {"second_crack_probability": self._watch.last_probability}
        second, first = self._roast.second_crack, self._roast.confirmation
        return {
            "second_crack": second is not None,
            "second_crack_ts": None if second is None else iso_utc(clock.wall(second.onset_s)),
            "first_to_second_crack_s": None if second is None or first is None
            else round(second.onset_s - first.onset_s, 1),
        }
