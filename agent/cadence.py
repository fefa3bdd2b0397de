"""Adaptive inference cadence: infer rarely while nothing is happening, densely when it might be.

Why: the full AST costs ~1 s of CPU per window on a small box, and for most
of a roast (drying, Maillard) p(first_crack) is near zero. A fixed 3 s hop
spends ~200 inferences on a 10-minute roast to find one event.

Policy (`AdaptiveCadence.hop_s`), re-decided on every audio block:

- *dense* (`dense_hop_s`) while any trigger fired within the last `hold_s`:
  the last window's p reached `rise_fraction` x threshold, or the pop counter
  (agent/transients.py) reads at least `pops_per_min` onsets a minute, or the
  detector already holds positives inside its confirm span;
- *idle* (`idle_hop_s`) otherwise, and after first crack is confirmed (the
  event is latched for the roast; more inferences change nothing but the
  telemetry rate).

Confirmation semantics (DESIGN.md section 6 counts *windows*): with a 2 s hop
the detector's "5 positives in 20 s" confirms after ~8 s of positive audio
instead of ~12 s at the published 3 s hop, and consecutive windows overlap
more, so a short run of loud distractors could confirm too. To keep the
published semantics, `dense_hop_s` defaults to None, meaning "the runtime's
`hop_s` setting" (3 s by default, and still settable over MQTT): once dense,
the agent sees exactly the windows a fixed-hop agent would see, and only the
idle stretches are thinned. docs/PERFORMANCE.md measures both choices.

`CadenceDriver` is the glue used by the live loop and by offline
`analyze_audio`, so evaluation measures the live behaviour: it feeds each
block to the pop counter, steers the windower's next due end, and hears back
each scored window.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np

from agent.transients import TransientCounter
from agent.windower import Windower

CadenceMode = Literal["fixed", "adaptive"]


class CadenceConfigError(ValueError):
    """A cadence parameter is out of range (the message names it)."""


@dataclass(frozen=True)
class CadenceConfig:
    """Adaptive cadence parameters (seconds unless named otherwise).

    mode: "fixed" (always the runtime's hop_s) or "adaptive".
    idle_hop_s: hop while nothing suggests first crack.
    dense_hop_s: hop while triggered; None = the runtime's hop_s setting.
    rise_fraction: p >= rise_fraction x threshold triggers dense cadence.
    pops_per_min: a transient rate at or above this triggers dense cadence.
    hold_s: stay dense this long after the last trigger.
    """

    mode: CadenceMode = "adaptive"
    idle_hop_s: float = 15.0
    dense_hop_s: float | None = None
    rise_fraction: float = 0.5
    pops_per_min: float = 90.0
    hold_s: float = 30.0

    def validate(self) -> None:
        if self.mode not in ("fixed", "adaptive"):
            raise CadenceConfigError(f"mode must be 'fixed' or 'adaptive', got {self.mode!r}")
        if not 0.5 <= self.idle_hop_s <= 60:
            raise CadenceConfigError(f"idle_hop_s must be in [0.5, 60] s, got {self.idle_hop_s}")
        if self.dense_hop_s is not None and not 0.5 <= self.dense_hop_s <= self.idle_hop_s:
            raise CadenceConfigError(
                f"dense_hop_s must be in [0.5, idle_hop_s={self.idle_hop_s}] s, "
                f"got {self.dense_hop_s}"
            )
        if not 0 < self.rise_fraction <= 1:
            raise CadenceConfigError(f"rise_fraction must be in (0, 1], got {self.rise_fraction}")
        for name in ("pops_per_min", "hold_s"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise CadenceConfigError(f"{name} must be a finite number >= 0, got {value}")


class AdaptiveCadence:
    """Decides the hop from the latest window scores and the transient rate (thread-safe)."""

    def __init__(self, config: CadenceConfig | None = None) -> None:
        self.config = config or CadenceConfig()
        self.config.validate()
        self._lock = threading.Lock()
        self._last_trigger_s = -math.inf
        self._confirmed = False
        self.dense_windows = 0
        self.idle_windows = 0

    def observe_window(
        self,
        end_s: float,
        probability: float,
        threshold: float,
        positive_windows: int = 0,
        confirmed: bool = False,
    ) -> None:
        """Hear back one scored window (stream seconds)."""
        rising = probability >= self.config.rise_fraction * threshold or positive_windows > 0
        with self._lock:
            self._confirmed = confirmed
            if rising:
                self._last_trigger_s = max(self._last_trigger_s, end_s)

    def observe_rate(self, now_s: float, pops_per_min: float) -> None:
        """Hear the pop counter's current rate (stream seconds, onsets per minute)."""
        if self.config.pops_per_min > 0 and pops_per_min >= self.config.pops_per_min:
            with self._lock:
                self._last_trigger_s = max(self._last_trigger_s, now_s)

    def reset(self) -> None:
        """A new roast: forget triggers and the latch."""
        with self._lock:
            self._last_trigger_s = -math.inf
            self._confirmed = False

    def dense(self, now_s: float) -> bool:
        with self._lock:
            if self.config.mode == "fixed":
                return True
            return not self._confirmed and now_s - self._last_trigger_s <= self.config.hold_s

    def hop_s(self, now_s: float, setting_hop_s: float) -> float:
        """The hop to use from `now_s` on, given the runtime's `hop_s` setting."""
        if self.config.mode == "fixed":
            return setting_hop_s
        if self.dense(now_s):
            dense = self.config.dense_hop_s
            return setting_hop_s if dense is None else dense
        return max(self.config.idle_hop_s, setting_hop_s)


class CadenceDriver:
    """Glue between a block source, the pop counter, the cadence and a windower.

    Call `on_block(block)` *instead of* pushing to the windower yourself:
    it returns the windows that became due. Call `on_scored(...)` with each
    scored window's telemetry values. `last_end_sample` is the end of the most
    recent window, from which the next due end is re-planned when the cadence
    switches from idle to dense.
    """

    def __init__(
        self,
        windower: Windower,
        cadence: AdaptiveCadence | None,
        counter: TransientCounter | None,
    ) -> None:
        self.windower = windower
        self.cadence = cadence
        self.counter = counter
        self._last_end: int | None = None

    def on_block(self, block: np.ndarray, setting_hop_s: float) -> list:
        w = self.windower
        if self.counter is not None:
            self.counter.push(block)
            if self.cadence is not None:
                now = self.counter.stream_s()
                self.cadence.observe_rate(now, self.counter.pops_per_min(now))
        if self.cadence is None:
            w.hop_s = setting_hop_s
        else:
            now_s = w.total_samples / w.sample_rate
            w.hop_s = self.cadence.hop_s(now_s, setting_hop_s)
            if self._last_end is not None:
                # Switching to a shorter hop pulls the next due end forward.
                sooner = self._last_end + int(round(w.hop_s * w.sample_rate))
                if sooner < w.next_end_sample:
                    w.defer_to(max(sooner, w.total_samples))
        windows = list(w.push(block))
        if windows:
            self._last_end = windows[-1].end_sample
        return windows

    def on_scored(
        self,
        end_s: float,
        probability: float,
        threshold: float,
        positive_windows: int,
        confirmed: bool,
    ) -> None:
        if self.cadence is not None:
            self.cadence.observe_window(end_s, probability, threshold, positive_windows, confirmed)
