"""Adaptive inference cadence: infer rarely while nothing is happening, densely when it might be.

Why: the full AST costs ~1 s of CPU per window on a small box, and for most
of a roast (drying, Maillard) p(first_crack) is near zero. A fixed 3 s hop
spends ~200 inferences on a 10-minute roast to find one event.

Policy (`AdaptiveCadence.hop_s`), re-decided on every audio block:

- *dense* (`dense_hop_s`) while any trigger fired within the last `hold_s`:
  the last window's p reached `rise_fraction` x threshold, or the pop counter
  (agent/core/transients.py) reads at least `pops_per_min` onsets a minute, or the
  detector already holds positives inside its confirm span;
- *idle* (`idle_hop_s`) otherwise, and after first crack is confirmed (the
  event is latched for the roast; more inferences change nothing but the
  telemetry rate).

Confirmation semantics (README, "Detector" counts *windows*): with a 2 s hop
the detector's "5 positives in 20 s" confirms after ~8 s of positive audio
instead of ~12 s at the published 3 s hop, and consecutive windows overlap
more, so a short run of loud distractors could confirm too. To keep the
published semantics, `dense_hop_s` defaults to None, meaning "the runtime's
`hop_s` setting" (3 s by default, and still settable over MQTT): once dense,
the agent sees exactly the windows a fixed-hop agent would see, and only the
idle stretches are thinned. docs/PERFORMANCE.md measures both choices.

Lookback (`lookback`, on by default): the idle hop must never cost a
detection. The windower keeps `idle_hop_s` of extra audio, and every window
cut after an idle hop carries the fixed-hop grid windows it passed over
(`Window.skipped`). When that window wakes the cadence (its p reaches
`rise_fraction` x threshold), or the cadence is already dense when it comes
due (the pop rate woke it), the worker scores the skipped windows first, in
time order, and only then the window itself. The detector therefore sees the
same windows a fixed-hop agent would have seen from the moment anything
looked like first crack; only windows before the wake differ, and those
scored low. Events from re-scored windows are dated when the agent knew,
not earlier (agent/core/runtime.py `known_s`). The idle hop is rounded up to a
whole number of dense hops so the windows stay on that grid.

An ear gate (agent/core/gate.py) is a third trigger: a cheap model that scores every
second or so and wakes the cadence when it hears something like first crack.

`CadenceDriver` is the glue used by the live loop and by offline
`analyze_audio`, so evaluation measures the live behaviour: it feeds each
block to the pop counter, steers the windower's next due end, and hears back
each scored window.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np

from firstcrack.agent.core.gate import EarGate
from firstcrack.agent.core.transients import TransientCounter
from firstcrack.agent.core.windower import Window, Windower

CadenceMode = Literal["fixed", "adaptive"]


@dataclass(frozen=True)
class CadenceConfig:
    """Adaptive cadence parameters (seconds unless named otherwise), and their defaults.

    mode: "fixed" (always the runtime's hop_s) or "adaptive".
    idle_hop_s: hop while nothing suggests first crack.
    dense_hop_s: hop while triggered; None = the runtime's hop_s setting.
    rise_fraction: p >= rise_fraction x threshold triggers dense cadence.
    pops_per_min: a transient rate at or above this triggers dense cadence (0: off).
    hold_s: stay dense this long after the last trigger.
    lookback: re-score the windows an idle hop skipped when the cadence wakes.
    max_lookback_s: re-score only skipped windows ending this close before the waking
        window (None: all of them). The ear gate bounds it: windows older than the AST's
        window plus the ear's cannot hold the sound that woke it.

    Limits are not this module's business: the agent's config (agent/config/detector.py,
    `DetectorConfig`) is the one place that bounds these values and checks how they
    combine (`dense_hop_s` at most `idle_hop_s`), and it names the offending key. This core
    stays free of the config and of pydantic; it only refuses what its own arithmetic
    cannot do (an unknown mode, a hop that is not a positive finite number), which no
    valid config can produce. Everything else is well defined: a dense hop longer than
    the idle hop makes the idle hop the dense one (`AdaptiveCadence.hop_s`).
    """

    mode: CadenceMode = "adaptive"
    idle_hop_s: float = 15.0
    dense_hop_s: float | None = None
    rise_fraction: float = 0.5
    pops_per_min: float = 15.0
    hold_s: float = 30.0
    lookback: bool = True
    max_lookback_s: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("fixed", "adaptive"):
            raise ValueError(f"cadence mode must be 'fixed' or 'adaptive', got {self.mode!r}")
        for name in ("idle_hop_s", "dense_hop_s"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value}")


class AdaptiveCadence:
    """Decides the hop from the latest window scores and the transient rate (thread-safe)."""

    def __init__(self, config: CadenceConfig | None = None) -> None:
        self.config = config or CadenceConfig()
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
        rising = self.triggers(probability, threshold) or positive_windows > 0
        with self._lock:
            self._confirmed = confirmed
            if rising:
                self._last_trigger_s = max(self._last_trigger_s, end_s)

    def observe_rate(self, now_s: float, pops_per_min: float) -> None:
        """Hear the pop counter's current rate (stream seconds, onsets per minute)."""
        if self.config.pops_per_min > 0 and pops_per_min >= self.config.pops_per_min:
            self.wake(now_s)

    def wake(self, now_s: float) -> None:
        """A trigger at `now_s` (stream seconds): dense for the next `hold_s`."""
        with self._lock:
            self._last_trigger_s = max(self._last_trigger_s, now_s)

    def triggers(self, probability: float, threshold: float) -> bool:
        """Whether a window scoring `probability` wakes the cadence."""
        return probability >= self.config.rise_fraction * threshold

    def should_look_back(self, wake: bool, probability: float, threshold: float) -> bool:
        """Score the skipped grid windows of a window? Not once the roast is settled."""
        with self._lock:
            if self._confirmed:
                return False
        return wake or self.triggers(probability, threshold)

    def dense_hop(self, setting_hop_s: float) -> float:
        dense = self.config.dense_hop_s
        return setting_hop_s if dense is None else dense

    def history_s(self) -> float:
        """Audio the windower must keep beyond one window for lookback, seconds."""
        if self.config.mode == "fixed" or not self.config.lookback:
            return 0.0
        return 2.0 * self.config.idle_hop_s + 60.0  # room for the rounding to the dense grid

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
        dense = self.dense_hop(setting_hop_s)
        if self.dense(now_s):
            return dense
        return math.ceil(max(self.config.idle_hop_s, dense) / dense - 1e-9) * dense


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
        gate: EarGate | None = None,
    ) -> None:
        self.windower = windower
        self.cadence = cadence
        self.counter = counter
        self.gate = gate  # the ear that wakes the cadence (agent/core/gate.py)
        self._last_end: int | None = None

    def on_block(self, block: np.ndarray, setting_hop_s: float) -> list[Window]:
        w = self.windower
        if self.counter is not None:
            self.counter.push(block)
            if self.cadence is not None:
                now = self.counter.stream_s()
                self.cadence.observe_rate(now, self.counter.pops_per_min(now))
        if self.gate is not None and self.cadence is not None:
            self.gate.push(block, self.cadence)
        if self.cadence is None:
            w.hop_s = setting_hop_s
            return list(w.push(block))
        now_s = w.total_samples / w.sample_rate
        w.hop_s = self.cadence.hop_s(now_s, setting_hop_s)
        grid = int(round(self.cadence.dense_hop(setting_hop_s) * w.sample_rate))
        if self._last_end is not None and self.cadence.dense(now_s):
            # Waking mid-way through an idle hop: the next window is the first grid
            # point not yet in the past, instead of the idle due end.
            behind = max(0, w.total_samples - self._last_end)
            sooner = self._last_end + max(1, -(-behind // grid)) * grid
            if sooner < w.next_end_sample:
                w.defer_to(sooner)
        windows = []
        for window in w.push(block):
            windows.append(self._with_lookback(window, grid))
            self._last_end = window.end_sample
        return windows

    def _with_lookback(self, window: Window, grid: int) -> Window:
        """Attach the grid windows skipped since the last window (oldest first)."""
        assert self.cadence is not None
        if not self.cadence.config.lookback:
            return window
        if self._last_end is None or window.end_sample - self._last_end <= grid:
            return window
        skipped = []
        limit = self.cadence.config.max_lookback_s
        rate = self.windower.sample_rate
        oldest = -1 if limit is None else window.end_sample - int(round(limit * rate))
        for end in range(self._last_end + grid, window.end_sample, grid):
            if end < oldest:
                continue
            try:
                skipped.append(self.windower.window_at(end))
            except ValueError:  # older than the ring holds (hop changed at run time)
                continue
        wake = self.cadence.dense(window.end_s)
        return dataclasses.replace(window, skipped=tuple(skipped), wake=wake)

    def wants_lookback(self, window: Window, probability: float, threshold: float) -> bool:
        """Score `window.skipped` before `window` (see the module docstring)?"""
        if self.cadence is None or not window.skipped:
            return False
        return self.cadence.should_look_back(window.wake, probability, threshold)

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
