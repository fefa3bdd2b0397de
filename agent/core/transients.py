"""A cheap per-block pop counter: onsets of short broadband transients above the roaster noise.

It runs in the capture thread on every audio block and gives two payload figures and
one cadence signal:

- `pops_per_min`: onsets in the last `rate_window_s` seconds of stream time, scaled to
  a minute (telemetry, and the adaptive cadence's early warning);
- `crack_count`: onsets since the roast started (state; it resets when the roast clock
  restarts, i.e. on `roast/set start` or `reset`).

What one onset is, the same on real and simulated audio: a 2 ms frame in which the
sound jumps up across a whole band group at once. The main group is `n_high_bands`
log-spaced sub-bands from `split_hz` to `high_hz`: averaged over them, the frame is at
least `k_db` over each sub-band's background level *and* at least `rise_db` over the
loudest frame of the previous `rise_window_ms`. The low group, `n_low_bands` sub-bands
from `low_hz` to `split_hz`, counts too, but only with the stricter `low_k_db` and
`low_rise_db`. Onsets closer than `refractory_ms` count once. A ringing decay, a slow
level change or a narrow tone never counts; other short broadband transients (a clank,
a knock) do, and the AST, not this counter, tells them apart.

Background: per sub-band, the median level of the last `background_s` of frames,
recomputed every `background_hop_ms` on a fixed grid of stream time, so the result does
not depend on how the stream is cut into blocks. Nothing is counted before `warmup_s`
of stream time, and never before a full `background_s` of frames has set the background.

Filters: each sub-band is an order-2 Butterworth band-pass, run as its impulse response
(cut where it has decayed under 1e-12 of its peak) convolved by FFT, all sub-bands off
one forward FFT per block (`agent.core.dsp.FirBank`). Its output equals
`scipy.signal.sosfilt`'s to ~1e-12 of the signal scale, without importing scipy.

Why these bands and thresholds, and what the counter costs and scores on real and
simulated audio: docs/PERFORMANCE.md, "Pops per minute and crack count".
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from firstcrack.agent.core.dsp import FirBank, butter_bandpass, impulse_response
from firstcrack.agent.core.payload_schema import RoastClock, Topic
from firstcrack.models.contracts import SAMPLE_RATE


class TransientConfigError(ValueError):
    """A transient-detector parameter is out of range (the message names it)."""


@dataclass(frozen=True)
class TransientConfig:
    """Parameters of the pop counter (units in the names).

    Chosen on real recordings (bowerhaus coffee cracks and background, two
    hand-labelled popcorn recordings) and checked on simulated roasts; see
    docs/PERFORMANCE.md for the figures and the data behind each.
    """

    low_hz: float = 500.0
    split_hz: float = 2000.0
    high_hz: float = 7600.0
    n_low_bands: int = 3
    n_high_bands: int = 4
    frame_ms: float = 2.0
    background_s: float = 1.0
    background_hop_ms: float = 100.0
    k_db: float = 6.0
    rise_db: float = 5.0
    low_k_db: float = 10.0
    low_rise_db: float = 8.0
    rise_window_ms: float = 20.0
    refractory_ms: float = 60.0
    warmup_s: float = 2.0
    rate_window_s: float = 20.0

    def validate(self, sample_rate: int) -> None:
        """Raise TransientConfigError naming the first parameter out of range."""
        if not 0 < self.low_hz < self.split_hz < self.high_hz < sample_rate / 2:
            raise TransientConfigError(
                f"need 0 < low_hz < split_hz < high_hz < {sample_rate / 2:g}, got "
                f"low_hz={self.low_hz}, split_hz={self.split_hz}, high_hz={self.high_hz}"
            )
        for name, least in (("n_low_bands", 0), ("n_high_bands", 1)):
            n = getattr(self, name)
            if not (isinstance(n, int) and least <= n <= 16):
                raise TransientConfigError(f"{name} must be an int in {least}..16, got {n}")
        for name in (
            "frame_ms",
            "background_s",
            "background_hop_ms",
            "k_db",
            "rise_db",
            "low_k_db",
            "low_rise_db",
            "rise_window_ms",
            "refractory_ms",
            "rate_window_s",
        ):
            if not getattr(self, name) > 0:
                raise TransientConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.warmup_s >= 0:
            raise TransientConfigError(f"warmup_s must be >= 0, got {self.warmup_s}")
        if self.rise_window_ms > 1000 * self.background_s:
            raise TransientConfigError(
                f"rise_window_ms must not exceed background_s, got {self.rise_window_ms} ms"
            )

    def band_edges_hz(self) -> list[tuple[float, float]]:
        """Sub-bands (Hz), low group first: log-spaced edges in each group."""
        low = np.geomspace(self.low_hz, self.split_hz, self.n_low_bands + 1)
        high = np.geomspace(self.split_hz, self.high_hz, self.n_high_bands + 1)
        return [
            (float(a), float(b))
            for edges in (low, high)
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]


class TransientCounter:
    """Counts pop onsets in a 16 kHz mono stream fed block by block.

    `push(block)` is called by one thread (capture); the read-outs
    (`pops_per_min`, `count_since`, `onset_times`) may be called from others.
    Stream time is samples pushed / sample_rate, the same clock as the windower.
    Onset times are the start of the frame that crossed, in stream seconds.

    As a payload provider it publishes `pops_per_min` in telemetry and `crack_count`
    (onsets since the roast started) in state: the count follows the roast clock, so
    `roast/set start` and `reset` restart it; with no roast running it is None.
    """

    provider = "transients"

    def __init__(self, sample_rate: int = SAMPLE_RATE,
                 config: TransientConfig | None = None) -> None:
        self.config = config or TransientConfig()
        self.config.validate(sample_rate)
        cfg = self.config
        self.sample_rate = sample_rate
        bands = [butter_bandpass(2, lo, hi, sample_rate) for lo, hi in cfg.band_edges_hz()]
        n_bands = len(bands)
        self._bank = FirBank([impulse_response(*zpk) for zpk in bands])  # state: last input
        self.frame = max(1, int(round(cfg.frame_ms * sample_rate / 1000)))
        frames_per_s = sample_rate / self.frame
        # Filtered samples not yet a whole frame, one row per sub-band.
        self._tail = np.zeros((n_bands, 0))
        self._n_bg = max(8, int(round(cfg.background_s * frames_per_s)))
        self._bg_hop = max(1, int(round(cfg.background_hop_ms * frames_per_s / 1000)))
        self._n_rise = max(1, int(round(cfg.rise_window_ms * frames_per_s / 1000)))
        self._warm = max(self._n_bg, int(round(cfg.warmup_s * frames_per_s)))
        self._refractory = max(1, int(round(cfg.refractory_ms * frames_per_s / 1000)))
        # Levels (dB) of the last n_bg frames, oldest first; NaN before the stream has them.
        self._history = np.full((n_bands, self._n_bg), np.nan)
        self._background = np.full(n_bands, np.nan)  # per sub-band, dB
        self._frames = 0  # whole frames seen
        self._last_onset_frame = -(10**9)
        self._lock = threading.Lock()
        self._onsets: list[float] = []  # stream seconds, ascending
        self._recent: deque[float] = deque()

    @property
    def total_onsets(self) -> int:
        """Onsets counted since the counter was made."""
        with self._lock:
            return len(self._onsets)

    def onset_times(self) -> list[float]:
        """All onsets so far, stream seconds (a copy)."""
        with self._lock:
            return list(self._onsets)

    def push(self, block: np.ndarray) -> int:
        """Feed one audio block; returns how many onsets it contained."""
        x = np.asarray(block, dtype=np.float64).reshape(-1)
        if not len(x):
            return 0
        y = np.concatenate((self._tail, self._filter(x)), axis=1)
        n = y.shape[1] // self.frame
        self._tail = y[:, n * self.frame :].copy()
        if n == 0:
            return 0
        frames = y[:, : n * self.frame].reshape(y.shape[0], n, self.frame)
        energy = np.mean(np.square(frames), axis=2)
        level = 10.0 * np.log10(energy + 1e-20)  # (bands, n) dB
        found = self._onsets_in(level)
        if found:
            with self._lock:
                self._onsets.extend(found)
                self._recent.extend(found)
        return len(found)

    def _filter(self, x: np.ndarray) -> np.ndarray:
        """The sub-band signals of the next block of input: (bands, len(x)), state carried."""
        return self._bank.process(x)

    def _onsets_in(self, level: np.ndarray) -> list[float]:
        """Detect onsets in `level` (bands x n frames, dB), the frames after those seen so far."""
        cfg = self.config
        n = level.shape[1]
        first = self._frames
        hist = np.concatenate((self._history, level), axis=1)  # frame first-n_bg .. first+n-1
        background = np.empty_like(level)
        start = 0
        # Background grid points inside this block: frames that are multiples of the hop.
        for g in range(-(-first // self._bg_hop) * self._bg_hop, first + n, self._bg_hop):
            i = g - first
            background[:, start:i] = self._background[:, None]
            if g >= self._n_bg:
                self._background = np.median(hist[:, i : i + self._n_bg], axis=1)
            start = i
        background[:, start:] = self._background[:, None]
        # Loudest level in the rise window before each frame, per sub-band.
        window = hist[:, self._n_bg - self._n_rise : self._n_bg + n - 1]
        before = np.lib.stride_tricks.sliding_window_view(window, self._n_rise, axis=1).max(axis=2)
        excess = level - background
        rise = level - before
        split = cfg.n_low_bands
        hit = (np.mean(excess[split:], axis=0) > cfg.k_db) & (
            np.mean(rise[split:], axis=0) > cfg.rise_db
        )
        if split:
            hit |= (np.mean(excess[:split], axis=0) > cfg.low_k_db) & (
                np.mean(rise[:split], axis=0) > cfg.low_rise_db
            )
        hit[: max(0, self._warm - first)] = False
        found: list[float] = []
        for i in np.flatnonzero(hit):  # few per block: only frames already over threshold
            frame_index = first + int(i)
            if frame_index - self._last_onset_frame >= self._refractory:
                self._last_onset_frame = frame_index
                found.append(frame_index * self.frame / self.sample_rate)
        self._history = hist[:, -self._n_bg :].copy()
        self._frames += n
        return found

    def stream_s(self) -> float:
        """Stream time covered so far by whole frames, seconds."""
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

    def payload_values(self, topic: Topic, clock: RoastClock) -> dict[str, Any]:
        if topic == "telemetry":
            return {"pops_per_min": round(self.pops_per_min(), 1)}
        start = clock.roast_start_s
        return {"crack_count": None if start is None else self.count_since(start)}
