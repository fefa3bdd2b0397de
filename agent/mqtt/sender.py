"""Delivers the durable outbox to the broker (README, "MQTT").

Exactly once, in order, per outbox row (within one normal broker restart):

- one message in flight: the oldest row is published only while connected,
  and the next only after the broker's PUBACK for it;
- the row is deleted only after that PUBACK, so a crash or an outage before it
  leaves the row for a later re-send (with its original payload, hence the
  same `event_id`);
- a row is published once per client: if the connection drops while it is
  in flight, paho keeps the message and re-sends it itself after reconnecting
  (with the same packet id), so re-publishing it here would deliver it twice.
  Only when the client is replaced (a broker that speaks only MQTT 3.1.1,
  `connection.py`) is the row in flight published again, on the new client
  (`forget_inflight`); consumers deduplicate by `event_id`.

PUBACKs are tracked through paho's public `on_publish(mid)` callback rather
than `MQTTMessageInfo` internals. paho calls `on_publish` before it marks the
message info as published, and a PUBACK can arrive before `publish()` has
returned the mid to this thread; so acks seen between "about to publish" and
"in flight registered" are kept in a small set that is cleared for every new
message (a stale ack cannot match: paho never reuses a mid still in flight).

Lock rule: never call into paho while holding `self._cond`. paho runs
`on_publish` while holding its own message lock and `on_publish` takes
`self._cond`, so the opposite order would deadlock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from firstcrack.agent.mqtt.backoff import FailureLog
from firstcrack.agent.mqtt.outbox import Outbox, OutboxEntry

log = logging.getLogger("firstcrack.mqtt")


@dataclass(frozen=True)
class InFlight:
    """The outbox row published and not yet acknowledged, with paho's message id."""

    entry: OutboxEntry
    mid: int


class OutboxSender:
    """A thread that publishes `outbox` in order, one message in flight."""

    def __init__(
        self, outbox: Outbox, client: Callable[[], mqtt.Client], ready: Callable[[], bool]
    ) -> None:
        """`client()`: the paho client in use; `ready()`: connected, accepted and the
        on-connect publishes done."""
        self._outbox = outbox
        self._client = client
        self._ready = ready
        self._cond = threading.Condition()
        self._generation = 0  # bumped by wake() so the sender never misses one
        self._inflight: InFlight | None = None
        self._acked = False  # the broker acknowledged self._inflight
        self._publishing = False  # between "about to publish" and "in flight registered"
        self._early_acks: set[int] = set()
        self._stop = threading.Event()
        self._failures = FailureLog(log)
        self._thread = threading.Thread(
            target=self._loop, name="firstcrack-mqtt-outbox", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Something changed (a new row, connected or not): look again."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def forget_inflight(self) -> None:
        """The client was replaced: what was in flight on the old one is published again."""
        with self._cond:
            self._inflight = None
            self._acked = False
            self._generation += 1
            self._cond.notify_all()

    def on_publish(self, mid: int) -> None:
        """paho's on_publish (network thread): the broker acknowledged `mid`."""
        with self._cond:
            if self._inflight is not None and self._inflight.mid == mid:
                self._acked = True
                self._cond.notify_all()
            elif self._publishing:
                self._early_acks.add(mid)

    @property
    def idle(self) -> bool:
        """Nothing in flight and nothing stored."""
        with self._cond:
            if self._inflight is not None:
                return False
        return len(self._outbox) == 0

    def flush(self, timeout: float) -> bool:
        """Wait until the outbox is empty and acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        while not self.idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._cond:
                self._cond.wait(timeout=min(remaining, 0.2))
        return True

    def stop(self, timeout: float) -> None:
        """Publish nothing more; a row still in flight stays in the outbox."""
        self._stop.set()
        self.wake()
        if self._thread.is_alive():
            self._thread.join(timeout=max(0.1, timeout))

    # ------------------------------------------------------------ the thread

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception as exc:  # noqa: BLE001 - keep delivering after an unexpected error
                self._failures.report("outbox sender failed; retrying", exc)
                self._stop.wait(0.5)

    def _step(self) -> None:
        with self._cond:
            inflight = self._inflight
            generation = self._generation
        if inflight is None:
            entry = self._outbox.first() if self._ready() else None
            if entry is None:
                with self._cond:
                    self._cond.notify_all()  # flush() waiters look again
                    self._cond.wait_for(
                        lambda: self._generation != generation or self._stop.is_set(),
                        timeout=1.0,
                    )
                return
            inflight = self._publish(entry)
            if inflight is None:
                self._stop.wait(0.5)
                return
        with self._cond:
            acked = (
                self._cond.wait_for(lambda: self._acked or self._stop.is_set(), timeout=1.0)
                and self._acked
            )
        if acked:
            self._outbox.ack(inflight.entry.id)
            with self._cond:
                self._inflight = None
                self._acked = False
                self._cond.notify_all()

    def _publish(self, entry: OutboxEntry) -> InFlight | None:
        with self._cond:
            self._early_acks.clear()
            self._publishing = True
        try:
            info = self._client().publish(
                entry.topic, entry.payload, qos=entry.qos, retain=entry.retain
            )
        except BaseException:
            with self._cond:
                self._publishing = False
            raise
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            with self._cond:
                self._publishing = False
            # Not stored by paho (queue full or packet id clash): try again shortly.
            self._failures.report("outbox message not queued by paho", RuntimeError(info.rc))
            return None
        # Any other rc (e.g. NO_CONN: the connection dropped during the call) means paho
        # keeps the message and sends it after reconnecting; its PUBACK is awaited.
        inflight = InFlight(entry, info.mid)
        with self._cond:
            self._inflight = inflight
            self._publishing = False
            self._acked = info.mid in self._early_acks
            self._early_acks.clear()
        return inflight
