"""The pre-roll: the last `size` samples of the stream, addressed by absolute sample position."""

from __future__ import annotations

import numpy as np


class Ring:
    """A circular float32 buffer of the most recent samples.

    `end` is the absolute position after the last sample appended; samples
    from `available` (the later of the last restart and `end - size`) up to
    `end` can be read back. Only the writer thread uses it.
    """

    def __init__(self, size: int) -> None:
        self._buf = np.zeros(size, np.float32)
        self.origin = self.end = 0

    @property
    def size(self) -> int:
        return len(self._buf)

    @property
    def available(self) -> int:
        return max(self.origin, self.end - len(self._buf))

    def restart(self, position: int) -> None:
        """Forget everything; the next sample appended is at `position`."""
        self.origin = self.end = position

    def append(self, block: np.ndarray) -> None:
        """Append a block no longer than the ring."""
        size, n = len(self._buf), len(block)
        i = self.end % size
        first = min(n, size - i)
        self._buf[i : i + first] = block[:first]
        self._buf[: n - first] = block[first:]
        self.end += n

    def parts(self, a: int, b: int) -> list[np.ndarray]:
        """Samples [a, b) as one or two views (no copy), valid until the next append;
        the caller keeps `available <= a <= b <= end`."""
        size = len(self._buf)
        i, j = a % size, b % size
        if a == b:
            return []
        if i < j:
            return [self._buf[i:j]]
        return [self._buf[i:], self._buf[:j]] if j else [self._buf[i:]]

    def read(self, a: int, b: int) -> np.ndarray:
        """A copy of samples [a, b) (same bounds as `parts`)."""
        parts = self.parts(a, b)
        return np.concatenate(parts) if parts else self._buf[:0].copy()
