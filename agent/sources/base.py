"""What every audio source shares: the protocol, errors, stats, pacing and resampling.

Every source yields mono float32 chunks at `TARGET_RATE` (16 kHz), the rate the
AST feature extractor expects, so the windower never has to know where audio
came from. Chunks may have any length.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from firstcrack.agent.core.dsp import firwin_kaiser, polyphase_filter, polyphase_taps
from firstcrack.models.contracts import SAMPLE_RATE, UserError

TARGET_RATE = SAMPLE_RATE
"""Every source yields audio at the contract's rate (models/contracts.py)."""
"""Sample rate (Hz) of every chunk a source yields."""

log = logging.getLogger("firstcrack.audio")


class SourceError(UserError):
    """A user-facing source problem (missing/corrupt file, unknown device, bad spec).

    The message always names the offending file, device or spec, so the CLI can
    print it as one line and exit 2.
    """


class CaptureError(RuntimeError):
    """Capture failed while audio was flowing (not a user mistake): the run fails, exit 1.

    Deliberately not a `SourceError`, which the CLI reports as bad usage
    (exit 2). The original exception is its `__cause__`.
    """


@dataclass(frozen=True)
class SourceStats:
    """Health counters of a source since it was opened.

    overruns: blocks the audio driver flagged as input overflow (samples lost in the driver).
    reopens: attempts to reopen a lost input device (successful or not).
    dropped_blocks: whole blocks thrown away because the consumer fell behind
        and the bounded capture queue was full.
    """

    overruns: int
    reopens: int
    dropped_blocks: int


@runtime_checkable
class AudioSource(Protocol):
    """A stream of mono float32 16 kHz chunks.

    name: human-readable description for logs ("file:roast.wav", "mic:pulse").
    realtime: True when chunks arrive paced at (a multiple of) real time; False
        for `speed=0` replays that run as fast as the consumer can take them.
    """

    name: str
    realtime: bool

    def __iter__(self) -> Iterator[np.ndarray]: ...

    def close(self) -> None: ...

    def stats(self) -> SourceStats: ...


def mix_to_mono(block: np.ndarray) -> np.ndarray:
    """Average channels of a (frames, channels) or (frames,) block into float32 mono."""
    if block.ndim == 1:
        return block.astype(np.float32, copy=False)
    if block.shape[1] == 1:
        return block[:, 0].astype(np.float32, copy=False)
    return block.mean(axis=1, dtype=np.float32)


class StreamingResampler:
    """Stateful polyphase resampler: chunked output equals `resample_poly` on the whole signal.

    It uses the same anti-aliasing filter as `scipy.signal.resample_poly`
    (Kaiser-windowed sinc, beta 5, 10 zero crossings per side) and computes
    output sample m as the filter centred on upsampled position m*down, one
    polyphase dot product per output (`firstcrack.agent.core.dsp`, numpy only: importing
    scipy.signal would cost the agent ~75 MB of resident memory). Input
    history that later outputs still need is carried between calls, so chunk
    boundaries are invisible (no clicks) and the total delay is zero: the
    output is time-aligned with the input, as with `resample_poly`.

    `process()` returns the outputs whose input support is complete; `flush()`
    pads the end with zeros (as `resample_poly` does) and returns the rest, for
    a total of ceil(n_in * out_rate / in_rate) samples.
    """

    def __init__(self, in_rate: int, out_rate: int = TARGET_RATE) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
        g = math.gcd(int(in_rate), int(out_rate))
        self.up = int(out_rate) // g
        self.down = int(in_rate) // g
        self.passthrough = self.up == 1 and self.down == 1
        max_rate = max(self.up, self.down)
        self._half = 10 * max_rate
        h = (
            np.ones(1)
            if self.passthrough
            else firwin_kaiser(2 * self._half + 1, 1.0 / max_rate, 5.0) * self.up
        )
        self._taps = len(h)
        self._phases = polyphase_taps(h, self.up)
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # absolute input index of _buf[0]
        self._n_in = 0  # input samples received
        self._m_next = 0  # next output index to produce

    def _first_input_needed(self, m: int) -> int:
        return max(0, -((-(m * self.down + self._half - (self._taps - 1))) // self.up))

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed mono input samples; return the float32 outputs that are now complete."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        if self.passthrough:
            self._n_in += len(x)
            self._m_next += len(x)
            return x.copy()
        self._buf = np.concatenate([self._buf, x]) if len(self._buf) else x.copy()
        self._n_in += len(x)
        # outputs m with last needed input <= n_in - 1
        m_end = ((self._n_in - 1) * self.up + self.up - 1 - self._half) // self.down + 1
        return self._emit(max(m_end, self._m_next))

    def flush(self) -> np.ndarray:
        """End of stream: zero-pad the tail and return the remaining outputs."""
        total = -((-self._n_in * self.up) // self.down)  # ceil(n_in * up / down)
        if self.passthrough or total <= self._m_next:
            return np.zeros(0, dtype=np.float32)
        return self._emit(total)  # `polyphase_filter` reads zeros past the end of the buffer

    def _emit(self, m_end: int) -> np.ndarray:
        m0 = self._m_next
        if m_end <= m0:
            return np.zeros(0, dtype=np.float32)
        # Output m is full-convolution index m*down + half of the whole (upsampled) input;
        # counted from the buffer's start, that is this index (>= 0: the buffer begins at
        # the first input m0 needs).
        first = m0 * self.down + self._half - self._buf_start * self.up
        y = polyphase_filter(self._phases, self._buf, self.up, self.down, first, m_end - m0)
        self._m_next = m_end
        keep_from = self._first_input_needed(m_end)
        if keep_from > self._buf_start:
            self._buf = self._buf[keep_from - self._buf_start :]
            self._buf_start = keep_from
        return y.astype(np.float32)


class Pacer:
    """Releases audio no earlier than its real-time (or `speed` x real-time) moment.

    A chunk ending at audio time t is released at start + t / speed on the
    monotonic clock. Targets are computed from the absolute audio position, so
    scheduling jitter never accumulates into drift. `speed <= 0` disables
    pacing. Waiting uses the close event, so `close()` interrupts it at once.
    """

    def __init__(self, speed: float, closed: threading.Event) -> None:
        self.speed = speed
        self._closed = closed
        self._start: float | None = None

    def wait_until(self, audio_end_s: float) -> bool:
        """Block until the chunk ending at `audio_end_s` is due; False if closed meanwhile."""
        if self.speed <= 0:
            return not self._closed.is_set()
        now = time.monotonic()
        if self._start is None:
            self._start = now
        delay = self._start + audio_end_s / self.speed - now
        if delay > 0:
            return not self._closed.wait(delay)
        return not self._closed.is_set()
