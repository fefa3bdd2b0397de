"""Live microphone capture with sounddevice (PortAudio), surviving device loss.

Threads and their jobs:

- PortAudio's callback thread only stamps the time, counts overflows and puts
  a copy of the block into a bounded `queue.Queue` with `put_nowait`; a full
  queue drops the block and counts it. It never blocks, never resamples.
- The consumer (whoever iterates) mixes to mono, resamples to 16 kHz with a
  `StreamingResampler`, and watches the stream. When the stream dies
  (PortAudio error, stream inactive, or no callback for `STALL_S`), it closes
  it and reopens with capped exponential backoff (0.5 s doubling to 10 s).
  It never raises for a lost device; it logs and keeps trying until `close()`.

Several sources (one per roaster, each on its own device) live in one
process, and recovering one device must never disturb another. PortAudio's
device list and streams are process-wide, so every stream is opened and
closed through the process's `STREAMS` registry (`agent/sources/devices.py`):
before a reopen attempt PortAudio is re-initialised, so a device that came
back under a new card number is found, but only when no other stream is
open. Otherwise the attempt reopens by name or index from the current device
list, which finds a device back under the same PortAudio device (and every
plugin device such as `pulse`), and each later attempt asks again, so a full
re-scan happens as soon as the device is alone. `devices.py` explains why
the alternative (all sources close, re-initialise and reopen together) was
rejected.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from firstcrack.agent.config import AudioConfig
from firstcrack.agent.sources.base import (
    TARGET_RATE,
    SourceError,
    SourceStats,
    StreamingResampler,
)
from firstcrack.agent.sources.channels import MultiResampler, downmixer
from firstcrack.agent.sources.devices import STREAMS, load_sounddevice

log = logging.getLogger("firstcrack.audio")

STALL_S = 2.0
"""Seconds without a callback after which a running stream counts as lost."""
FIRST_CALLBACK_S = 5.0
"""Grace for the first callback: PulseAudio's ALSA plugin takes ~1 s to start."""
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 10.0
POLL_S = 0.1
"""Consumer wake-up period (s): bounds how long close() and stall detection take."""
MAX_DEFAULT_CHANNELS = 2
"""Virtual ALSA devices (pulse, default) advertise 32+ channels; open at most this many."""


class MicSource:
    """A live input device as an endless stream of 16 kHz mono chunks (until `close()`).

    The device is resolved in the constructor (unknown device -> SourceError);
    the stream opens when iteration starts, so nothing queues up before a
    consumer exists.
    """

    realtime = True

    def __init__(
        self, device: str | int | None, audio: AudioConfig, channel: int | None = None
    ) -> None:
        self._sd = load_sounddevice()
        self._wanted = device
        self._audio = audio
        self._channel = channel
        info = STREAMS.resolve(self._sd, device)
        self.name = f"mic:{info['name']}"
        if channel is not None:
            downmixer(channel, int(info["max_input_channels"]), self.name)  # validates
        self._closed = threading.Event()
        self._lock = threading.Lock()  # guards _stream open/close against close()
        self._stream: Any = None
        self._rate = 0
        self._channels = 1
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=1)
        self._last_callback = 0.0
        self._got_callback = False
        self._overruns = 0
        self._dropped = 0
        self._reopens = 0

    # --- PortAudio callback thread: no blocking, no per-sample work ------------------

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        self._last_callback = time.monotonic()
        self._got_callback = True
        if status.input_overflow:
            self._overruns += 1
        try:
            self._queue.put_nowait(indata.copy())
        except queue.Full:
            self._dropped += 1

    # --- consumer side -----------------------------------------------------------------

    def _open(self) -> bool:
        """Open and start a stream on the wanted device; False (logged) on failure."""
        sd = self._sd
        with self._lock, STREAMS.held():
            if self._closed.is_set():
                return False
            try:
                info = STREAMS.resolve(sd, self._wanted)
                rate = int(self._audio.sample_rate or round(info["default_samplerate"]))
                channels = int(
                    self._audio.channels or min(info["max_input_channels"], MAX_DEFAULT_CHANNELS)
                )
                if self._channel is not None:
                    channels = max(channels, self._channel + 1)
                blocksize = max(1, round(self._audio.block_s * rate))
                max_blocks = max(2, round(self._audio.queue_s / self._audio.block_s))
                self._queue = queue.Queue(maxsize=max_blocks)
                self._got_callback = False
                self._last_callback = time.monotonic()
                stream = STREAMS.open(
                    sd,
                    self._callback,
                    device=info["index"],
                    samplerate=rate,
                    channels=channels,
                    dtype="float32",
                    blocksize=blocksize,
                    latency="low",
                )
            except (SourceError, sd.PortAudioError, ValueError, OSError) as exc:
                log.warning("cannot open input device %r: %s", self._wanted, exc)
                return False
            self._stream = stream
            self._rate = rate
            self._channels = channels
            log.info(
                "capturing from [%d] %s at %d Hz, %d channel(s)",
                info["index"],
                info["name"],
                rate,
                channels,
            )
            return True

    def _close_stream(self) -> None:
        with self._lock:
            stream, self._stream = self._stream, None
            if stream is not None:
                STREAMS.close(stream)

    def _stalled(self) -> str | None:
        """Why the current stream is considered lost, or None while it is healthy."""
        with self._lock:  # never ask a stream that close() is closing on another thread
            stream = self._stream
            if stream is None:
                return "no stream"
            try:
                if not stream.active:
                    return "stream stopped"
            except Exception as exc:
                return f"stream error: {exc}"
        limit = STALL_S if self._got_callback else FIRST_CALLBACK_S
        if time.monotonic() - self._last_callback > limit:
            return f"no audio for {limit:.1f} s"
        return None

    def _rescan(self, announce: bool) -> None:
        """Re-list devices before a reopen attempt, unless that would disturb other streams.

        announce: log (once per loss) when the re-scan is skipped for others' sake.
        """
        if STREAMS.reinit(self._sd):
            return
        others = STREAMS.open_count()
        if others and announce:
            log.info(
                "not re-scanning devices for %r: %d other input stream(s) open; "
                "reopening from the current device list",
                self._wanted,
                others,
            )

    def _reopen(self) -> bool:
        """Close and reopen until it works or close() is called; True when streaming again."""
        delay = BACKOFF_MIN_S
        first = True
        while not self._closed.is_set():
            self._close_stream()
            if self._closed.wait(delay):
                return False
            self._reopens += 1
            log.warning(
                "reopening input device %r (attempt %d overall, after %.1f s)",
                self._wanted,
                self._reopens,
                delay,
            )
            self._rescan(announce=first)
            first = False
            if self._open():
                return True
            delay = min(delay * 2, BACKOFF_MAX_S)
        return False

    def __iter__(self) -> Iterator[np.ndarray]:
        """Mono 16 kHz chunks (the configured channel, or all channels mixed)."""

        def mono(rate: int, channels: int) -> Callable[[np.ndarray], np.ndarray]:
            resampler = StreamingResampler(rate, TARGET_RATE)
            pick = downmixer(self._channel, channels, self.name)
            return lambda block: resampler.process(pick(block))

        return self._blocks(mono)

    def frames(self) -> Iterator[np.ndarray]:
        """All captured channels as (frames, channels) 16 kHz blocks (for `ChannelFanout`)."""

        def multi(rate: int, channels: int) -> Callable[[np.ndarray], np.ndarray]:
            return MultiResampler(rate, channels).process

        return self._blocks(multi)

    def _blocks(
        self, converter: Callable[[int, int], Callable[[np.ndarray], np.ndarray]]
    ) -> Iterator[np.ndarray]:
        if self._closed.is_set():
            return
        if self._stream is None and not self._open() and not self._reopen():
            return
        convert = converter(self._rate, self._channels)
        try:
            while not self._closed.is_set():
                try:
                    block = self._queue.get(timeout=POLL_S)
                except queue.Empty:
                    reason = self._stalled()
                    if reason is None or self._closed.is_set():
                        continue
                    log.warning("input device %r lost (%s)", self._wanted, reason)
                    if not self._reopen():
                        return
                    convert = converter(self._rate, self._channels)
                    continue
                out = convert(block)
                if len(out):
                    yield out
        finally:
            self._close_stream()

    def close(self) -> None:
        """Stop capture and end iteration within ~POLL_S; safe from any thread."""
        self._closed.set()
        self._close_stream()

    def stats(self) -> SourceStats:
        return SourceStats(
            overruns=self._overruns, reopens=self._reopens, dropped_blocks=self._dropped
        )
