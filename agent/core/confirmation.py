"""The confirmation rule: when do positive windows add up to first crack.

Two rules (`settings.rule`):

- `evidence` (default): a leaky count. Each positive window adds 1 to the evidence,
  and the evidence halves every `confirm_s` seconds; first crack is confirmed when it
  reaches `min_positive`. Sparse first crack (a few pops a minute) still adds up,
  while an isolated loud click, which makes only the two or three overlapping windows
  that hold it positive, decays away. Both parameters keep a plain meaning: positive
  windows, and seconds.
- `k_of_n`: at least `min_positive` positives whose window ends lie in
  `[now - confirm_s, now]` (the published baseline, 5 in 20 s).

The onset is back-dated to the first positive window of the confirming run
(`run_start_s`). Under `evidence`, a run of positives breaks at a gap longer than
`confirm_s` (one half-life) or when the evidence has decayed below `RUN_FLOOR`, so a
stray positive minutes earlier still adds its decayed evidence but does not drag the
onset back to itself. The evidence of one roast epoch (agent/core/roast.py) never
carries into the next.
"""

from __future__ import annotations

import math
from collections import deque

from firstcrack.agent.core.settings import RuntimeSettings

RUN_FLOOR = 0.25
"""Evidence below this (a quarter of one positive window) ends a run of positives."""


class ConfirmationRule:
    """Positive windows in, "confirmed" out, under `evidence` or `k_of_n`."""

    def __init__(self) -> None:
        self._positives: deque[float] = deque()
        self._evidence = 0.0
        self._evidence_s = 0.0  # stream time the evidence was last brought up to date
        self._epoch = 0

    def observe(self, end_s: float, positive: bool, settings: RuntimeSettings,
                epoch: int) -> tuple[int, float, bool]:
        """One window ending at `end_s`: (run length or span count, evidence, ready)."""
        if epoch != self._epoch:
            self._epoch = epoch
            self._positives.clear()
            self._evidence = 0.0
        if settings.rule == "evidence":
            return self._accumulate(end_s, positive, settings)
        count, ready = self._k_of_n(end_s, positive, settings)
        return count, float(count), ready

    @property
    def run_start_s(self) -> float:
        """End of the first positive window of the current run (only while one runs)."""
        return self._positives[0]

    def _k_of_n(self, end_s: float, positive: bool, settings: RuntimeSettings) -> tuple[int, bool]:
        if positive:
            self._positives.append(end_s)
        while self._positives and self._positives[0] < end_s - settings.confirm_s:
            self._positives.popleft()
        count = len(self._positives)
        return count, count >= settings.min_positive

    def _accumulate(
        self, end_s: float, positive: bool, settings: RuntimeSettings
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
