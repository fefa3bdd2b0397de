"""Input devices and the process-wide PortAudio state that every microphone shares.

PortAudio is one library instance per process: its device list, and every
stream it has open, belong to the whole process. Two things follow for an
agent with several roasters on several devices, which this module enforces:

- **Re-initialising PortAudio never happens while any stream is open.**
  PortAudio lists devices once, at initialisation, so finding a device that
  came back under a *new* ALSA card number needs `Pa_Terminate` +
  `Pa_Initialize`; but `Pa_Terminate` closes every stream in the process,
  and a stream closed that way leaves sounddevice holding a dangling pointer
  (the next call on it says "PortAudio not initialized" or worse). So
  `PortAudioStreams.reinit` does it only when no stream is open, and says so
  (False) otherwise. A lost device then reopens from the device list it has:
  that finds it again whenever it comes back under the same PortAudio
  device (a USB mic re-plugged into the same port gets the same card
  number; plugin devices such as `pulse`, `default` or an asoundrc PCM keep
  their name whatever happens behind them). Only a device that reappears
  under a different card while another roaster is streaming stays missing
  until every other stream is closed (or the agent restarts); naming the mic
  by a stable ALSA name (an asoundrc PCM on `hw:CARD=<id>`) avoids that.
  The alternative, making every open source close, re-initialise and reopen
  together, would interrupt the roasters whose devices are fine, which is
  exactly what must not happen.
- **One lock serialises everything that touches PortAudio's global state**:
  device queries, opening, closing and re-initialising. Without it a
  re-initialisation could run while another thread is half-way through
  opening a stream. Reading from an open stream (PortAudio's callback
  thread) needs no lock.

sounddevice has no public call to re-initialise; its private
`_terminate()`/`_initialize()` pair is used in exactly one place,
`PortAudioStreams.reinit`, and nowhere else in the agent or its tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from firstcrack.agent.sources.base import SourceError

log = logging.getLogger("firstcrack.audio")

Callback = Callable[[np.ndarray, int, Any, Any], None]


def load_sounddevice() -> Any:
    """The sounddevice module; SourceError naming PortAudio when its library is missing."""
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


class PortAudioStreams:
    """The streams this process has open in PortAudio, and the lock around its global state.

    Every microphone opens and closes its stream here, so the registry
    always knows whether re-initialising PortAudio would hurt anyone. There
    is one per process (`STREAMS`); a separate instance is only useful in
    tests with a fake sounddevice.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()  # re-entrant so `held()` can wrap resolve + open
        self._open: set[int] = set()  # id() of every started, not yet closed stream

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock across several calls, e.g. resolve a device then open it.

        Device indices can change at a re-initialisation; holding the lock
        from `resolve` to `open` makes sure the index opened is the one just
        resolved.
        """
        with self._lock:
            yield

    def open_count(self) -> int:
        """How many streams are open now (in the whole process)."""
        with self._lock:
            return len(self._open)

    def resolve(self, sd: Any, device: str | int | None) -> dict[str, Any]:
        """`resolve_device`, never concurrently with a re-initialisation."""
        with self._lock:
            return resolve_device(sd, device)

    def open(self, sd: Any, callback: Callback, **params: Any) -> Any:
        """Open and start an `sd.InputStream(callback=callback, **params)` and register it.

        Errors from PortAudio propagate (the stream, if it was created, is
        closed first); a stream that is returned counts as open until
        `close`.
        """
        with self._lock:
            stream = sd.InputStream(callback=callback, **params)
            try:
                stream.start()
            except BaseException:
                try:
                    stream.close()
                except Exception as exc:
                    log.debug("error closing a stream that failed to start: %s", exc)
                raise
            self._open.add(id(stream))
            return stream

    def close(self, stream: Any) -> None:
        """Stop and close a stream from `open`; errors (a vanished device) are logged only."""
        with self._lock:
            self._open.discard(id(stream))
            try:
                stream.abort()
                stream.close()
            except Exception as exc:  # the device is gone; closing may fail too
                log.debug("error closing input stream: %s", exc)

    def reinit(self, sd: Any) -> bool:
        """Re-initialise PortAudio so it lists devices afresh, only if no stream is open.

        Returns True when PortAudio was re-initialised, False when it was
        left alone because streams are open (their owners must not be
        disturbed) or initialisation failed (logged; the next call retries).
        """
        with self._lock:
            if self._open:
                return False
            try:
                sd._terminate()
            except Exception as exc:  # only when PortAudio was not initialised
                log.debug("PortAudio termination failed: %s", exc)
            try:
                sd._initialize()
            except Exception as exc:
                log.warning("PortAudio re-initialisation failed: %s", exc)
                return False
            return True


STREAMS = PortAudioStreams()
"""The process's one registry: every `MicSource` opens and closes its stream through it."""
