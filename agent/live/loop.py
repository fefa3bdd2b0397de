"""The live loop: capture thread -> windower -> latest-window slot -> inference worker.

The capture thread only moves audio: it iterates the source, pushes chunks
into the windower and drops each due window into a one-place slot. The
inference worker takes the newest window from the slot. When inference is
slower than the hop, a window still waiting in the slot is replaced by a
newer one and counted as dropped: the agent stays current instead of
building a backlog (README, "What runs where").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import numpy as np

from firstcrack.agent.core.messages import Telemetry
from firstcrack.agent.core.windower import Window
from firstcrack.agent.live.chain import Chain

log = logging.getLogger("firstcrack.live")


class LatestSlot:
    """A one-place mailbox that keeps the newest item and counts what it replaced.

    Several slots may share one condition, so one worker can wait on all of them.
    """

    def __init__(self, cond: threading.Condition | None = None) -> None:
        self.condition = cond or threading.Condition()  # shared by a worker's slots
        self._item: Window | None = None
        self._replaced = 0
        self._closed = False

    def put(self, item: Window) -> None:
        with self.condition:
            if self._item is not None:
                self._replaced += 1
            self._item = item
            self.condition.notify_all()

    def close(self) -> None:
        with self.condition:
            self._closed = True
            self.condition.notify_all()

    def take(self, timeout: float = 0.5) -> tuple[Window | None, int, bool]:
        """(window or None, windows replaced since the last take, closed-and-empty)."""
        with self.condition:
            if self._item is None and not self._closed:
                self.condition.wait(timeout)
            return self.take_nowait()

    def take_nowait(self) -> tuple[Window | None, int, bool]:
        """`take` without waiting; call with the condition held or from one consumer."""
        with self.condition:
            item, replaced = self._item, self._replaced
            self._item, self._replaced = None, 0
            return item, replaced, self._closed and item is None

    @property
    def ready(self) -> bool:
        """An item is waiting, or the slot is closed (for waiting on a shared condition)."""
        return self._item is not None or self._closed


class LiveLoop:
    """Runs one source through one chain until the source ends or `stop()` is called."""

    def __init__(
        self,
        source: Iterable[np.ndarray],
        chain: Chain,
        on_window: Callable[[Window], None] | None = None,
        cond: threading.Condition | None = None,
    ) -> None:
        """`chain` comes from `agent.live.chain.build_chain`: windower, cadence, pop counter
        and runtime. `on_window` hears each window after it was scored (tests)."""
        self.source = source
        self.chain = chain
        self.runtime = chain.runtime
        self.driver = chain.driver
        self.key = chain.key
        self.name = getattr(source, "name", "source")
        self.windower = chain.windower
        self.slot = LatestSlot(cond)
        self._stop = threading.Event()
        self._on_window = on_window
        self.capture_error: BaseException | None = None
        self.windows_processed = 0
        # Called with every block on the capture thread, before windowing (the recorder);
        # each must return at once.
        self.audio_taps: list[Callable[[np.ndarray], None]] = []

    def stop(self) -> None:
        self._stop.set()
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
        self.slot.close()

    def _capture(self) -> None:
        try:
            for chunk in self.source:
                if self._stop.is_set():
                    break
                for tap in self.audio_taps:
                    tap(chunk)
                for window in self.chain.due_windows(chunk):
                    self.slot.put(window)
        except BaseException as exc:  # reported by run(); the worker must still end
            self.capture_error = exc
        finally:
            self.slot.close()

    def start_capture(self) -> threading.Thread:
        capture = threading.Thread(target=self._capture, name="firstcrack-capture", daemon=True)
        capture.start()
        return capture

    def scored(self, window: Window, telemetry: Telemetry) -> None:
        """Bookkeeping after the worker scored one of this loop's windows."""
        self.chain.scored(window, telemetry)
        self.windows_processed += 1
        if self._on_window is not None:
            self._on_window(window)

    def run(self) -> None:
        """Block until the source is exhausted (or stopped) and every due window is scored."""
        from firstcrack.agent.live.worker import SharedInference

        SharedInference([self], self.runtime.scorer).run()
