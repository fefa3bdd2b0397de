"""A cheap per-block pop counter: onsets of short broadband transients above the roaster noise.

Why: the AST needs ~1 s of CPU per window, but a crack is a transient a few
dB above steady noise that a few hundred multiply-adds per millisecond can
notice. The counter runs in the capture thread on every audio block and gives
two product figures and one cadence signal:

- `pops_per_min`: onsets in the last `rate_window_s`, scaled to a minute
  (telemetry, and the adaptive cadence's early warning);
- `crack_count`: onsets since the roast started (state; it resets when the
  roast clock restarts, i.e. on `roast/set start` or `reset`).

Method (tuned on simulated roasts across seeds, see docs/PERFORMANCE.md):
band-pass the block (`low_hz`..`high_hz`, where first-crack pops carry their
energy and the motor hum and drum rumble do not), take the energy of
`frame_ms` frames in dB, compare each frame with the running median of the
last `background_s` of frame energies, and count an onset when a frame
exceeds it by `k_db` and the last onset is at least `refractory_ms` ago.
The median ignores the pops themselves, so a burst does not raise its own
threshold, and it follows slow level changes (fan or heat steps).

Cost: one `sosfilt` and a reshape per block, a median over `background_s`
of frames every block; no per-sample Python, no allocation per sample.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class TransientConfigError(ValueError):
    """A transient-detector parameter is out of range (the message names it)."""


@dataclass(frozen=True)
class TransientConfig:
    """Parameters of the pop counter (units in the names)."""

    low_hz: float = 400.0
    high_hz: float = 3000.0
    frame_ms: float = 2.0
    background_s: float = 1.0
    k_db: float = 7.0
    refractory_ms: float = 25.0
    rate_window_s: float = 20.0

    def validate(self, sample_rate: int) -> None:
        if not 0 < self.low_hz < self.high_hz < sample_rate / 2:
            raise TransientConfigError(
                f"need 0 < low_hz < high_hz < {sample_rate / 2:g}, "
                f"got low_hz={self.low_hz}, high_hz={self.high_hz}"
            )
        for name in ("frame_ms", "background_s", "k_db", "refractory_ms", "rate_window_s"):
            if not getattr(self, name) > 0:
                raise TransientConfigError(f"{name} must be > 0, got {getattr(self, name)}")


class TransientCounter:
    """Counts pop onsets in a 16 kHz mono stream fed block by block.

    `push(block)` is called by one thread (capture); the read-outs
    (`pops_per_min`, `count_since`) may be called from others.
    Stream time is samples pushed / sample_rate, the same clock as the windower.
    """

    def __init__(self, sample_rate: int = 16000, config: TransientConfig | None = None) -> None:
        from scipy import signal

        self.config = config or TransientConfig()
        self.config.validate(sample_rate)
        cfg = self.config
        self.sample_rate = sample_rate
        self._sos = signal.butter(
            2, [cfg.low_hz, cfg.high_hz], btype="bandpass", fs=sample_rate, output="sos"
        )
        self._zi = np.zeros((self._sos.shape[0], 2))
        self.frame = max(1, int(round(cfg.frame_ms * sample_rate / 1000)))
        self._tail = np.zeros(0, dtype=np.float64)  # filtered samples not yet a whole frame
        n_bg = max(8, int(round(cfg.background_s * sample_rate / self.frame)))
        self._bg_ring = np.full(n_bg, np.nan)
        self._bg_pos = 0
        self._refractory = max(1, int(round(cfg.refractory_ms * sample_rate / 1000 / self.frame)))
        self._frames = 0  # whole frames seen
        self._last_onset_frame = -(10**9)
        self._lock = threading.Lock()
        self._onsets: list[float] = []  # stream seconds, ascending
        self._recent: deque[float] = deque()

    @property
    def total_onsets(self) -> int:
        with self._lock:
            return len(self._onsets)

    def onset_times(self) -> list[float]:
        """All onsets so far, stream seconds (a copy)."""
        with self._lock:
            return list(self._onsets)

    def push(self, block: np.ndarray) -> int:
        """Feed one audio block; returns how many onsets it contained."""
        from scipy import signal

        x = np.asarray(block, dtype=np.float64).reshape(-1)
        if not len(x):
            return 0
        y, self._zi = signal.sosfilt(self._sos, x, zi=self._zi)
        if len(self._tail):
            y = np.concatenate((self._tail, y))
        n = len(y) // self.frame
        self._tail = y[n * self.frame :].copy()
        if n == 0:
            return 0
        energy = np.mean(np.square(y[: n * self.frame].reshape(n, self.frame)), axis=1)
        level = 10.0 * np.log10(energy + 1e-20)
        # Background from frames before this block (the block's pops cannot lift it).
        ready = ~np.isnan(self._bg_ring)
        background = float(np.median(self._bg_ring[ready])) if ready.sum() >= 8 else np.inf
        above = np.flatnonzero(level > background + self.config.k_db)
        found: list[float] = []
        for i in above:  # few per block: only frames already over threshold
            frame_index = self._frames + int(i)
            if frame_index - self._last_onset_frame >= self._refractory:
                self._last_onset_frame = frame_index
                found.append(frame_index * self.frame / self.sample_rate)
        self._remember_levels(level)
        self._frames += n
        if found:
            with self._lock:
                self._onsets.extend(found)
                self._recent.extend(found)
        return len(found)

    def _remember_levels(self, level: np.ndarray) -> None:
        ring = self._bg_ring
        n = len(level)
        if n >= len(ring):
            ring[:] = level[-len(ring) :]
            self._bg_pos = 0
            return
        end = self._bg_pos + n
        if end <= len(ring):
            ring[self._bg_pos : end] = level
        else:
            first = len(ring) - self._bg_pos
            ring[self._bg_pos :] = level[:first]
            ring[: n - first] = level[first:]
        self._bg_pos = end % len(ring)

    def stream_s(self) -> float:
        """Stream time covered so far, seconds."""
        return self._frames * self.frame / self.sample_rate

    def pops_per_min(self, now_s: float | None = None) -> float:
        """Onsets in the last `rate_window_s` before `now_s` (default: stream time), per minute."""
        now = self.stream_s() if now_s is None else now_s
        span = self.config.rate_window_s
        with self._lock:
            while self._recent and self._recent[0] < now - span:
                self._recent.popleft()
            inside = sum(1 for t in self._recent if t <= now)
        return inside * 60.0 / span

    def count_since(self, start_s: float | None) -> int:
        """Onsets at or after stream time `start_s` (all when None)."""
        with self._lock:
            if start_s is None:
                return len(self._onsets)
            return len(self._onsets) - bisect.bisect_left(self._onsets, start_s)


def attach(runtime: object, counter: TransientCounter) -> None:
    """Publish `pops_per_min` in telemetry and `crack_count` (since roast start) in state.

    `runtime` is an `agent.runtime.Runtime`; the count follows its roast clock,
    so `roast/set start` and `reset` restart it without any extra hook. With no
    roast running (not armed, never started) the count is None.
    """
    detector = runtime.detector  # type: ignore[attr-defined]

    def crack_count() -> int | None:
        start = detector.roast_start_s
        return None if start is None else counter.count_since(start)

    pops: Callable[[], float] = lambda: round(counter.pops_per_min(), 1)  # noqa: E731
    runtime.telemetry_extras["pops_per_min"] = pops  # type: ignore[attr-defined]
    runtime.state_extras["crack_count"] = crack_count  # type: ignore[attr-defined]
