"""Sliding windows over a stream of audio chunks.

The windower owns a ring buffer of the last `window_s + history_s` seconds.
It emits a window whenever the stream reaches the next due end: the first
when the buffer is full, then every `hop` samples. The extra `history_s` lets
the adaptive cadence re-score windows its idle hop passed over
(`window_at`, agent/core/cadence.py "lookback"). Due ends are counted in samples
from the start of the stream, so the windows are identical whatever the
chunk sizes (tests/test_windower.py holds that). `hop_s` may change between
windows (runtime `/set`, adaptive cadence); the change applies to the next
due end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """One analysis window.

    end_sample: stream sample index one past the window's last sample.
    samples: mono float32 audio, exactly `window_samples` long.
    sample_rate: Hz.
    skipped: windows on the fixed-hop grid that the idle cadence passed over
        since the previous window, oldest first (scored only if this one wakes
        the cadence; see agent/core/cadence.py).
    wake: the cadence was already dense when this window came due, so its
        `skipped` windows are scored whatever this window scores.
    """

    end_sample: int
    samples: np.ndarray
    sample_rate: int
    skipped: tuple[Window, ...] = ()
    wake: bool = False

    @property
    def end_s(self) -> float:
        """Stream time of the window end, seconds."""
        return self.end_sample / self.sample_rate


class Windower:
    """Ring buffer that yields due windows from arbitrary-sized chunks."""

    def __init__(
        self, sample_rate: int, window_s: float, hop_s: float, history_s: float = 0.0
    ) -> None:
        self.sample_rate = sample_rate
        self.window_samples = int(round(window_s * sample_rate))
        self._size = self.window_samples + max(0, int(round(history_s * sample_rate)))
        self._ring = np.zeros(self._size, dtype=np.float32)
        self._total = 0  # samples seen so far
        self._hop = 0
        self.hop_s = hop_s
        self._next_end = self.window_samples

    @property
    def hop_s(self) -> float:
        return self._hop / self.sample_rate

    @hop_s.setter
    def hop_s(self, value: float) -> None:
        self._hop = max(1, int(round(value * self.sample_rate)))

    @property
    def total_samples(self) -> int:
        """Samples pushed since the start of the stream."""
        return self._total

    @property
    def next_end_sample(self) -> int:
        return self._next_end

    def defer_to(self, end_sample: int) -> None:
        """Move the next due end (never earlier than one full window)."""
        self._next_end = max(self.window_samples, end_sample)

    def push(self, chunk: np.ndarray) -> Iterator[Window]:
        """Add a chunk; yield every window that became due, oldest first.

        The next due end is computed after each yield, so a caller that
        changes `hop_s` while iterating changes the very next window.
        """
        data = np.asarray(chunk, dtype=np.float32).reshape(-1)
        offset = 0
        while offset < len(data):
            take = min(len(data) - offset, self._next_end - self._total)
            if take <= 0:  # the due end was moved into the past: catch up now
                take = 0
            else:
                self._write(data[offset : offset + take])
                offset += take
            if self._total >= self._next_end:
                yield Window(self._total, self.samples_ending(self._total), self.sample_rate)
                self._next_end = max(self._next_end + self._hop, self._total + 1)

    def _write(self, data: np.ndarray) -> None:
        n = len(data)
        size = self._size
        if n >= size:
            self._ring[:] = data[-size:]
            start = 0
            self._ring = np.roll(self._ring, (self._total + n) % size)
        else:
            start = self._total % size
            first = min(n, size - start)
            self._ring[start : start + first] = data[:first]
            self._ring[: n - first] = data[first:]
        self._total += n

    def samples_ending(self, end_sample: int) -> np.ndarray:
        """A copy of the `window_samples` samples before `end_sample` (zeros before the stream).

        Raises ValueError when that audio has already left the ring buffer.
        """
        oldest = self._total - self._size
        if end_sample > self._total or end_sample - self.window_samples < oldest:
            raise ValueError(
                f"window ending at sample {end_sample} is not in the ring "
                f"(holds {max(0, oldest)}..{self._total})"
            )
        start = (end_sample - self.window_samples) % self._size
        first = min(self.window_samples, self._size - start)
        # Two slices at most (the window may wrap around the ring); never the whole ring.
        return np.concatenate(
            (self._ring[start : start + first], self._ring[: self.window_samples - first])
        )

    def window_at(self, end_sample: int) -> Window:
        """The window ending at `end_sample`, re-cut from the ring (see `samples_ending`)."""
        return Window(end_sample, self.samples_ending(end_sample), self.sample_rate)
