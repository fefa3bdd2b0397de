"""Channel handling: pick one channel instead of mixing, and fan one capture out to roasters.

A multi-channel audio interface with one microphone per roaster is opened
once (hardware devices are usually exclusive); `ChannelFanout` runs that one
capture on a pump thread and hands each roaster a mono source of its own
channel. Every child has its own bounded queue, so a slow consumer drops its
own blocks (counted) and never stalls the capture or the other roasters.

When the shared capture crashes, every child's iteration raises
`CaptureError` (the crash as its cause) after the blocks already queued, so
each roaster's capture thread reports a failure and `run` exits 1. Ending
normally instead would look like the end of a recording and exit 0.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from firstcrack.agent.sources.base import (
    CaptureError,
    SourceError,
    SourceStats,
    StreamingResampler,
    mix_to_mono,
)

log = logging.getLogger("firstcrack.audio")

Downmix = Callable[[np.ndarray], np.ndarray]
POLL_S = 0.1
"""How often a waiting child checks for close() and for the end of the shared capture."""


def downmixer(channel: int | None, channels: int, name: str) -> Downmix:
    """Mix to mono when `channel` is None, else pick that 0-based channel (checked here)."""
    if channel is None:
        return mix_to_mono
    if not 0 <= channel < channels:
        raise SourceError(f"{name} has {channels} channel(s); channel {channel} does not exist")

    def pick(block: np.ndarray) -> np.ndarray:
        if block.ndim == 1:
            return block.astype(np.float32, copy=False)
        return np.ascontiguousarray(block[:, channel], dtype=np.float32)

    return pick


class MultiResampler:
    """One `StreamingResampler` per channel: (frames, C) in, (frames', C) at the target rate."""

    def __init__(self, in_rate: int, channels: int) -> None:
        self._parts = [StreamingResampler(in_rate) for _ in range(channels)]

    def process(self, block: np.ndarray) -> np.ndarray:
        block = block.reshape(len(block), -1)
        outs = [r.process(block[:, i]) for i, r in enumerate(self._parts)]
        return np.stack(outs, axis=1)


class ChannelSource:
    """The mono stream of one channel of a shared capture."""

    realtime = True

    def __init__(self, fanout: ChannelFanout, channel: int, max_blocks: int) -> None:
        self.name = f"{fanout.name}#{channel}"
        self.channel = channel
        self._fanout = fanout
        self.queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=max_blocks)
        self.dropped = 0
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[np.ndarray]:
        """This channel's blocks until close(), or the shared capture's end.

        Raises CaptureError, after the blocks already queued, when the shared
        capture crashed.
        """
        self._fanout.start()
        while not self._closed.is_set():
            try:
                block = self.queue.get(timeout=POLL_S)
            except queue.Empty:
                block = None
            if block is not None:
                yield block
            elif self._fanout.finished and self.queue.empty():
                self._fanout.raise_if_failed()
                return

    def close(self) -> None:
        self._closed.set()
        self._fanout.release(self)

    def stats(self) -> SourceStats:
        base = self._fanout.stats()
        return SourceStats(base.overruns, base.reopens, base.dropped_blocks + self.dropped)


class ChannelFanout:
    """Runs one multi-channel capture and feeds one `ChannelSource` per wanted channel.

    `frames` yields (frames, channels) float32 blocks at 16 kHz; `close`
    stops it. The capture starts when the first child starts iterating and
    stops when the last child is closed.
    """

    def __init__(
        self,
        name: str,
        frames: Iterable[np.ndarray],
        close: Callable[[], None],
        stats: Callable[[], SourceStats],
        max_blocks: int = 50,
    ) -> None:
        self.name = name
        self._frames = frames
        self._close = close
        self.stats = stats
        self._max_blocks = max_blocks
        self._children: list[ChannelSource] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()
        self._error: BaseException | None = None

    @property
    def finished(self) -> bool:
        """True once the shared capture has ended, normally or not."""
        return self._finished.is_set()

    def raise_if_failed(self) -> None:
        """Raise a fresh CaptureError (the crash as its cause) if the shared capture crashed.

        Each child raises its own instance, so tracebacks of roasters ending
        on different threads never overwrite each other.
        """
        error = self._error
        if error is not None:
            raise CaptureError(
                f"{self.name}: shared capture failed: {type(error).__name__}: {error}"
            ) from error

    def source(self, channel: int) -> ChannelSource:
        child = ChannelSource(self, channel, self._max_blocks)
        with self._lock:
            self._children.append(child)
        return child

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._pump, name=f"fanout-{self.name}", daemon=True
                )
                self._thread.start()

    def release(self, child: ChannelSource) -> None:
        with self._lock:
            if child in self._children:
                self._children.remove(child)
            last = not self._children
        if last:
            self._close()

    def _pump(self) -> None:
        """Copy each channel of every captured block into its child's queue (pump thread)."""
        try:
            for block in self._frames:
                with self._lock:
                    children = list(self._children)
                for child in children:
                    if child.channel >= block.shape[1]:
                        log.error("%s: channel %d not captured", self.name, child.channel)
                        continue
                    try:
                        child.queue.put_nowait(np.ascontiguousarray(block[:, child.channel]))
                    except queue.Full:
                        child.dropped += 1
        except BaseException as exc:  # every child re-raises it (raise_if_failed)
            log.exception("%s: shared capture failed", self.name)
            self._error = exc
        finally:
            self._finished.set()
            with self._lock:
                children = list(self._children)
            for child in children:  # wake waiting children at once; a full queue needs none
                try:
                    child.queue.put_nowait(None)
                except queue.Full:
                    pass
