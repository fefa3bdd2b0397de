"""How the MQTT connection waits between attempts, and how it reports failing ones.

`reconnect_wait` is the wait policy of `connection.py`'s supervisor;
`FailureLog` keeps a broker that stays down, or a message that cannot be
sent, from flooding the log (the connection and the outbox sender share it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from tenacity import wait_exponential
from tenacity.wait import wait_base, wait_random


def reconnect_wait(min_s: float, max_s: float) -> wait_base:
    """Exponential from `min_s`, never above `max_s`, with up to `min_s` of jitter.

    `wait_exponential_jitter` caps *after* adding its jitter, so every wait at the
    cap is exactly `max_s` (no jitter where it matters most) and its keyword names
    changed between tenacity 8 and 9; the sum of two stable strategies avoids both.
    Defaults (0.5, 3.0) give 0.5-1.0, 1.0-1.5, 2.0-2.5, then 2.5-3.0 s.
    """
    max_s = max(max_s, 1e-3)
    jitter = min(min_s, max_s / 2)
    return wait_exponential(multiplier=min(min_s, max_s), max=max_s - jitter) + wait_random(
        0, jitter
    )


class FailureLog:
    """Logs each distinct failure (type and message) once at WARNING, then its
    repeats at most once per `every_s` with a count; the rest go to DEBUG."""

    def __init__(
        self,
        logger: logging.Logger,
        every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_kinds: int = 64,
    ) -> None:
        self._log = logger
        self._every_s = every_s
        self._clock = clock
        self._max_kinds = max_kinds
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}  # key -> (logged at, repeats)
        self._lock = threading.Lock()

    def report(self, what: str, exc: BaseException, suffix: str = "") -> bool:
        """Log `what: Type: message suffix` if due; True when it went out at WARNING."""
        key = (type(exc).__name__, str(exc))
        now = self._clock()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last[0] < self._every_s:
                self._seen[key] = (last[0], last[1] + 1)
                due, repeats = False, 0
            else:
                if last is None and len(self._seen) >= self._max_kinds:
                    self._seen.pop(next(iter(self._seen)))  # forget the oldest kind
                self._seen[key] = (now, 0)
                due, repeats = True, 0 if last is None else last[1]
        text = f"{what}: {key[0]}: {key[1]}{suffix}"
        if not due:
            self._log.debug("%s", text)
        elif last is None:
            self._log.warning("%s (repeats logged at most every %.0f s)", text, self._every_s)
        else:
            self._log.warning("%s (%d times since the last report)", text, repeats + 1)
        return due
