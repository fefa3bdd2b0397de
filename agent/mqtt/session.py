"""How old a command the broker held for the agent may be (README, "MQTT", "Commands
while the agent is away").

The agent's MQTT session persists (agent/mqtt/client.py): while it reconnects or
restarts, the broker keeps the QoS 1 commands sent to it and delivers them when
it is back. Late is not always better than never: a "first crack now" ten
minutes late marks the wrong moment, so a held command older than
`mqtt.command_max_age_s` is refused (logged and answered on `<base>/error`).

Which messages were held. After a connect that resumed a session (CONNACK
"session present") the broker first delivers what it held, in order. The agent
then publishes a marker (a fresh token) to its own `<base>/session` topic,
right after subscribing; the broker queues it behind the held messages, so
everything received before the marker comes back was held, and everything
after it is live. A marker that never comes back (an ACL that forbids the
topic) ends the held stretch after `MARKER_WAIT_S`.

How old a held message is. MQTT 3.1.1 and most MQTT 5 senders say nothing of
when a message was sent, so its age is bounded by how long the agent was away:
from the connection's loss (in this process), or from the last clean shutdown
(written to `<state_dir>/mqtt_session.json` by `closed()`), to the new
connection. A held command is refused when that exceeds the limit, even if it
was sent a moment before the agent came back: the agent cannot tell, and
applying a stale command is the worse mistake. After a crash nothing records
the shutdown: for MQTT 5 the session expiry bounds the age (the broker
discards a session, and its messages, that long after the agent left); for
3.1.1 the age is unknown and held commands are refused.

A sender that sets an MQTT 5 Message Expiry Interval decides its command's
lifetime itself: the broker discards it once expired, so whatever it still
delivers is applied, however long the agent was away.

All methods are called from paho's network thread, `closed()` from shutdown;
a lock keeps them consistent.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("firstcrack.mqtt")

SESSION_FILE = "mqtt_session.json"
MARKER_WAIT_S = 10.0
"""How long after a resumed connect the held stretch lasts when the marker never returns."""


@dataclass(frozen=True)
class Held:
    """A held command too old to apply: `age_s` bounds its age (None: unknown)."""

    age_s: float | None
    max_age_s: float

    def reason(self) -> str:
        """The error text answered on `<base>/error`."""
        if self.age_s is None:
            age = "for an unknown time (the agent did not shut down cleanly)"
        else:
            age = f"for up to {self.age_s:.1f} s while the agent was away"
        return (
            f"stale: the broker held this command {age}; commands older than "
            f"mqtt.command_max_age_s = {self.max_age_s:g} s are not applied"
        )


@dataclass
class _HeldStretch:
    """The messages delivered after a resumed connect, until the marker returns."""

    token: str
    away_s: float | None
    session_bound_s: float | None  # the longest the broker keeps a session (None: it decides)
    until: float  # monotonic: the stretch ends here even without the marker


class CommandAges:
    """Tells which incoming commands the broker held too long to apply."""

    def __init__(
        self,
        state_dir: Path,
        max_age_s: float,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._path = Path(state_dir) / SESSION_FILE
        self._max_age_s = max_age_s
        self._monotonic = monotonic
        self._wall = wall
        self._lock = threading.Lock()
        self._online = False
        self._lost_at: float | None = None  # monotonic, in this process
        self._stopped_at = self._read_stopped_at()  # wall clock, from the last clean shutdown
        self._stretch: _HeldStretch | None = None

    def _read_stopped_at(self) -> float | None:
        """The last clean shutdown's time; the record is used once (a crash leaves none)."""
        try:
            body = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", self._path, exc)
            return None
        finally:
            self._path.unlink(missing_ok=True)
        value = body.get("disconnected_at") if isinstance(body, dict) else None
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
        log.warning("ignoring %s: no disconnected_at time in it", self._path)
        return None

    def lost(self) -> None:
        """The connection ended; the first loss since the last connect counts."""
        with self._lock:
            self._online = False
            if self._lost_at is None:
                self._lost_at = self._monotonic()

    def connected(
        self, session_present: bool, session_bound_s: float | None = None
    ) -> str | None:
        """A connect was accepted. Returns the marker token to publish to `<base>/session`
        when the broker resumed a session (it may hold commands), else None.

        `session_bound_s`: the longest this broker keeps a session (MQTT 5's session
        expiry), or None when the broker alone decides (MQTT 3.1.1)."""
        with self._lock:
            away = self._away_s()
            self._online = True
            self._lost_at = self._stopped_at = None
            if not session_present:
                self._stretch = None
                return None
            token = secrets.token_hex(8)
            self._stretch = _HeldStretch(
                token, away, session_bound_s, self._monotonic() + MARKER_WAIT_S
            )
        if away is not None:
            log.info("MQTT session resumed after %.1f s away", away)
        else:
            log.info("MQTT session resumed; how long the agent was away is unknown")
        return token

    def _away_s(self) -> float | None:
        if self._lost_at is not None:
            return max(0.0, self._monotonic() - self._lost_at)
        if self._stopped_at is not None:
            away = self._wall() - self._stopped_at
            return away if away >= 0 else None  # a clock set back since: unknown
        return None

    def marker(self, payload: bytes) -> None:
        """A message on `<base>/session`: our marker ends the held stretch."""
        token = payload.decode("utf-8", "replace")
        with self._lock:
            if self._stretch is not None and token == self._stretch.token:
                self._stretch = None

    def check(self, has_expiry: bool) -> Held | None:
        """For a command just received: None to apply it, or why it is too old."""
        with self._lock:
            stretch = self._stretch
            if stretch is None or has_expiry:
                return None
            if self._monotonic() > stretch.until:
                self._stretch = None
                return None
            age = stretch.away_s
            if age is None:
                # Unknown absence: nothing outlives a session the broker discards in time.
                bound = stretch.session_bound_s
                if bound is not None and bound <= self._max_age_s:
                    return None
                return Held(None, self._max_age_s)
            return None if age <= self._max_age_s else Held(age, self._max_age_s)

    def closed(self) -> None:
        """A clean shutdown: record when the agent's last connection ended (now, if it is
        still up), so the next start knows how long it was away. Nothing is recorded when
        that is unknown (never connected since a crash)."""
        with self._lock:
            if self._online:
                at: float | None = self._wall()
            else:
                away = self._away_s()
                at = None if away is None else self._wall() - away
        if at is None:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._path.write_text(json.dumps({"disconnected_at": at}), encoding="utf-8")
        except OSError as exc:
            log.warning("could not record the shutdown time in %s: %s", self._path, exc)
