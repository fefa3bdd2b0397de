"""Live microphone capture with sounddevice (PortAudio), surviving device loss.

Threads and their jobs:

- PortAudio's callback thread only stamps the time, counts overflows and puts
  a copy of the block into a bounded `queue.Queue` with `put_nowait`; a full
  queue drops the block and counts it. It never blocks, never resamples.
- The consumer (whoever iterates) mixes to mono, resamples to 16 kHz with a
  `StreamingResampler`, and watches the stream. When the stream dies
  (PortAudio error, stream inactive, or no callback for `STALL_S`), it closes
  it and reopens with capped exponential backoff (0.5 s doubling to 10 s),
  re-initialising PortAudio first so a re-plugged USB mic is found again.
  It never raises for a lost device; it logs and keeps trying until `close()`.

Re-initialising PortAudio terminates every PortAudio stream in the process;
the agent has exactly one, this one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from agent.config import AudioConfig
from agent.sources.base import (
    TARGET_RATE,
    SourceError,
    SourceStats,
    StreamingResampler,
)
from agent.sources.channels import MultiResampler, downmixer

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


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # libportaudio missing
        raise SourceError(f"microphone capture needs PortAudio (libportaudio2): {exc}") from exc
    return sounddevice


def input_devices(sd: Any) -> list[dict[str, Any]]:
    """PortAudio devices that can record, each a dict with at least index and name."""
    return [dict(d) for d in sd.query_devices() if d["max_input_channels"] > 0]


def _describe(devices: list[dict[str, Any]]) -> str:
    if not devices:
        return "no input devices found"
    return "available input devices: " + ", ".join(f"[{d['index']}] {d['name']}" for d in devices)


def resolve_device(sd: Any, device: str | int | None) -> dict[str, Any]:
    """Find the input device by index or case-insensitive name substring (exact name first).

    Raises SourceError listing the available input devices when nothing matches.
    """
    devices = input_devices(sd)
    if device is None:
        try:
            return dict(sd.query_devices(kind="input"))
        except (sd.PortAudioError, ValueError) as exc:
            raise SourceError(f"no default input device ({exc}); {_describe(devices)}") from exc
    if isinstance(device, int):
        for d in devices:
            if d["index"] == device:
                return d
        raise SourceError(f"no input device with index {device}; {_describe(devices)}")
    wanted = device.strip().lower()
    exact = [d for d in devices if d["name"].lower() == wanted]
    partial = [d for d in devices if wanted in d["name"].lower()]
    if exact or partial:
        chosen = (exact or partial)[0]
        if not exact and len(partial) > 1:
            log.warning(
                "device %r matches several inputs; using [%d] %s",
                device,
                chosen["index"],
                chosen["name"],
            )
        return chosen
    raise SourceError(f"no input device matching {device!r}; {_describe(devices)}")


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
        self._sd = _sounddevice()
        self._wanted = device
        self._audio = audio
        self._channel = channel
        info = resolve_device(self._sd, device)
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
        with self._lock:
            if self._closed.is_set():
                return False
            try:
                info = resolve_device(sd, self._wanted)
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
                stream = sd.InputStream(
                    device=info["index"],
                    samplerate=rate,
                    channels=channels,
                    dtype="float32",
                    blocksize=blocksize,
                    latency="low",
                    callback=self._callback,
                )
                stream.start()
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
            if stream is None:
                return
            try:
                stream.abort()
                stream.close()
            except Exception as exc:  # the device is gone; closing may fail too
                log.debug("error closing input stream: %s", exc)

    def _stalled(self) -> str | None:
        """Why the current stream is considered lost, or None while it is healthy."""
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

    def _reinit_portaudio(self) -> None:
        """Re-enumerate devices so a re-plugged (or restarted) device is found again."""
        try:
            self._sd._terminate()
            self._sd._initialize()
        except Exception as exc:
            log.warning("PortAudio re-initialisation failed: %s", exc)

    def _reopen(self) -> bool:
        """Close and reopen until it works or close() is called; True when streaming again."""
        delay = BACKOFF_MIN_S
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
            self._reinit_portaudio()
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
