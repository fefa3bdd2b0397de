"""The ear gates a big model: a cheap scorer listens densely and wakes the expensive one.

When the main model is an AST, the shipped ear (a small pretrained network) scores every
`ear_hop_s` of audio with its own short windows. The AST itself runs on the adaptive
cadence (agent/core/cadence.py) with two changes:

- its idle hop is the gate's idle check (`idle_check_s`, at most 60 s), so a roaster the
  ear does not hear is still heard by the AST at least once a minute;
- the cadence wakes when `wake_windows` of the ear's windows within `wake_span_s` reach
  `wake_threshold` (instead of on the pop counter's rate). Waking cuts the next AST window
  at once and scores the windows the idle hop skipped first, in time order (the cadence's
  lookback), so from the wake on the AST sees the windows a fixed-hop agent would have seen.

The AST decides. Events come from the AST's scores through the AST's rule; the ear only
chooses when the AST runs. The gate never raises into the capture path for a bad block:
it scores what its windower cuts.

Thread contract: `push` runs on the capture thread (as the pop counter does); it only calls
the ear's `predict` and the cadence's thread-safe `wake`. `windows_scored` is read
by other threads for reporting only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from firstcrack.agent.core.windower import Windower
from firstcrack.models.contracts import SAMPLE_RATE, Scorer

MAX_IDLE_CHECK_S = 60.0
WAKE_WINDOWS = 2
WAKE_SPAN_S = 10.0
"""The ear wakes the AST when WAKE_WINDOWS of its windows within WAKE_SPAN_S are positive:
one stray click does not, a run of pops does (docs/PERFORMANCE.md, "The ear gate")."""


class WakeTarget(Protocol):
    def wake(self, now_s: float) -> None: ...


class EarGate:
    """Scores the ear's windows as audio arrives and wakes the cadence (module docstring)."""

    def __init__(self, ear: Scorer, ear_window_s: float, ear_hop_s: float,
                 wake_threshold: float, idle_check_s: float, sample_rate: int = SAMPLE_RATE,
                 stream: str = "", wake_windows: int = WAKE_WINDOWS,
                 wake_span_s: float = WAKE_SPAN_S,
                 on_second_crack: Callable[[float, float], None] | None = None) -> None:
        """`on_second_crack(end_s, p)` gets the ear's p(second_crack) of each window, when
        the ear has a second-crack output (it is called on the capture thread)."""
        if not 0 < idle_check_s <= MAX_IDLE_CHECK_S:
            raise ValueError(f"idle_check_s must be within (0, {MAX_IDLE_CHECK_S:g}] s")
        self.ear = ear
        self.wake_threshold = wake_threshold
        self.idle_check_s = idle_check_s
        self.stream = stream
        self.windower = Windower(sample_rate, ear_window_s, ear_hop_s)
        self.wake_windows = wake_windows
        self.wake_span_s = wake_span_s
        self._positives: deque[float] = deque()
        self.windows_scored = 0
        self.wakes = 0
        heads = getattr(ear, "predict_heads", None)
        self._heads = heads if on_second_crack is not None else None
        self._on_second_crack = on_second_crack

    def push(self, block: np.ndarray, cadence: WakeTarget) -> None:
        """Score the ear windows `block` completes; wake `cadence` at each one that rises."""
        windows = list(self.windower.push(block))
        if not windows:
            return
        batch = np.stack([w.samples for w in windows])
        streams = [self.stream] * len(windows)
        second = None
        if self._heads is not None:
            first, second = self._heads(batch, streams=streams)
            probs = np.asarray(first)
        else:
            probs = np.asarray(self.ear.predict(batch, streams=streams))
        self.windows_scored += len(windows)
        if second is not None and self._on_second_crack is not None:
            for window, p2 in zip(windows, second, strict=True):
                self._on_second_crack(window.end_s, float(p2))
        for window, p in zip(windows, probs, strict=True):
            if p < self.wake_threshold:
                continue
            end_s = window.end_s
            self._positives.append(end_s)
            while self._positives[0] < end_s - self.wake_span_s:
                self._positives.popleft()
            if len(self._positives) >= self.wake_windows:
                self.wakes += 1
                cadence.wake(end_s)
