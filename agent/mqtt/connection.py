"""Connecting and reconnecting the paho client (README, "MQTT").

One supervisor thread owns the connection for the agent's whole life:

    connect() -> paho network thread (loop_start) -> connection lost -> wait -> connect() ...

paho's own automatic reconnect is switched off (`reconnect_on_failure=False`, so
its network thread ends when the connection does) and the first connect and
every later reconnect follow one policy, for three reasons:

- Bounded, jittered waits. After the broker comes back the outbox is delivered
  within about `reconnect_max_s`, whatever the length of the outage: waits grow
  exponentially from `reconnect_min_s` and never exceed `reconnect_max_s`
  (`backoff.reconnect_wait`). paho's `reconnect_delay_set` caps the wait too but has no
  jitter, so agents restarted together would reconnect in lockstep.
- Never give up. paho's `loop_forever` only retries `OSError`; anything else
  raised while reconnecting (a hostname that is not valid IDNA raises
  `UnicodeError`, for one) ends its thread and the agent would stay offline
  without a word. Here every exception is retried for as long as the agent runs.
- Visible failures. paho retries silently; here each distinct failure is logged
  once at WARNING and its repeats at most once a minute (`backoff.FailureLog`).

After a connection that the broker had accepted is lost, the waits start from
the bottom again, after a random pause of up to `reconnect_min_s` (so a client
that the broker keeps dropping, e.g. two agents sharing one client id, does
not reconnect in a tight loop).

The manager owns the paho client: it builds it through `make_client(protocol)`
and connects it with `client.connect_options`. It starts with MQTT 5; when a
broker refuses that with "unsupported protocol version", or leaves the CONNECT
unanswered for `CONNACK_TIMEOUT_S` (a connection closed at once is not taken
as a refusal: a broker that is restarting, or a proxy in front of it, does
that too), it builds a 3.1.1 client instead (once, for
the rest of the agent's life), logs the fallback and
calls `on_client_replaced` so the outbox sender re-publishes what was in
flight on the old client. Everyone else reaches the client through `client`.

Lock rule: no call into paho is made while holding `self._cond`; the callbacks
below are run by paho's network thread and take `self._cond`.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from firstcrack.agent.mqtt.backoff import FailureLog, reconnect_wait
from firstcrack.agent.mqtt.client import connect_options

log = logging.getLogger("firstcrack.mqtt")

CONNACK_TIMEOUT_S = 10.0
"""A connection whose CONNECT the broker has not answered by then is given up."""


class BrokerRefused(ConnectionError):
    """The broker answered CONNECT with a failure (bad credentials, ...)."""


class ConnectionClosed(ConnectionError):
    """The connection ended before the broker accepted it."""


class ConnectionManager:
    """Connects the client and keeps it connected until `stop()`; never gives up.

    The sink forwards paho's callbacks: `accepted()` from a successful on_connect,
    `refused(reason, unsupported_protocol)` from a failed one, `lost()` from
    on_disconnect.
    """

    def __init__(
        self,
        make_client: Callable[[MQTTProtocolVersion], mqtt.Client],
        host: str,
        port: int,
        keepalive_s: int,
        min_s: float,
        max_s: float,
        failures: FailureLog | None = None,
        session_expiry_s: int = 0,
        on_client_replaced: Callable[[], None] | None = None,
        protocol: str = "auto",
    ) -> None:
        """`make_client(protocol)` builds a client with its callbacks set, not connected;
        `session_expiry_s` 0 means a clean session; `protocol` "auto" (MQTT 5, falling
        back to 3.1.1), "5" or "3.1.1"."""
        self._make_client = make_client
        self._fallback = protocol == "auto"
        self._protocol: MQTTProtocolVersion = mqtt.MQTTv311 if protocol == "3.1.1" else mqtt.MQTTv5
        self._client = make_client(self._protocol)
        self._session_expiry_s = session_expiry_s
        self._on_client_replaced = on_client_replaced
        self._host, self._port, self._keepalive = host, port, keepalive_s
        self._min_s, self._max_s = min_s, max_s
        self._failures = failures or FailureLog(log)
        self._cond = threading.Condition()
        self._stopping = False  # no new connect attempts
        self._closing = False  # end the current connection too
        self._accepted = False  # in the current session
        self._ended = False  # the current session's connection is gone
        self._refusal: str | None = None
        self._unsupported_protocol = False
        self.attempts = 0  # connect attempts so far (tests and diagnostics)
        self._thread = threading.Thread(
            target=self._run, name="firstcrack-mqtt-connect", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    @property
    def client(self) -> mqtt.Client:
        """The paho client in use (replaced once if the broker refuses MQTT 5)."""
        return self._client

    @property
    def protocol(self) -> MQTTProtocolVersion:
        return self._protocol

    @property
    def session_bound_s(self) -> float | None:
        """The longest the broker keeps the session after a disconnect: MQTT 5's session
        expiry; None under 3.1.1, where the broker's own settings decide."""
        if self._protocol != mqtt.MQTTv5 or self._session_expiry_s <= 0:
            return None
        return float(self._session_expiry_s)

    # ---------------------------------------------- called from paho's callbacks

    def accepted(self) -> None:
        with self._cond:
            self._accepted = True
            self._cond.notify_all()

    def refused(self, reason: str, unsupported_protocol: bool = False) -> None:
        with self._cond:
            self._refusal = reason
            self._unsupported_protocol = unsupported_protocol

    def lost(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    # --------------------------------------------------------------- shutdown

    def stop_reconnecting(self) -> None:
        """No new connect attempt from now on; a live connection is left alone
        (the sink still publishes `offline` on it and disconnects)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def stop(self, timeout: float) -> None:
        """Stop reconnecting, end the connection (if any) and paho's network thread.

        Only the supervisor thread calls connect/loop_start/loop_stop, so this
        just asks it to finish and waits at most `timeout` s (it is a daemon).
        """
        with self._cond:
            self._stopping = self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=max(0.1, timeout))

    @property
    def stopped(self) -> bool:
        """The supervisor thread has finished (or never started)."""
        return not self._thread.is_alive()

    # ------------------------------------------------------------ the thread

    def _is_stopping(self) -> bool:
        with self._cond:
            return self._stopping

    def _sleep(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._stopping, timeout=seconds)

    def _run(self) -> None:
        while not self._is_stopping():
            retrying = Retrying(
                retry=retry_if_exception_type(Exception),
                wait=reconnect_wait(self._min_s, self._max_s),
                stop=lambda _state: self._is_stopping(),
                sleep=self._sleep,
                before_sleep=self._report,
                reraise=True,
            )
            try:
                retrying(self._session)
            except Exception:  # noqa: BLE001 - only reached when stopping, or a bug here
                if not self._is_stopping():
                    log.exception("MQTT connection supervisor failed; retrying")
                    self._sleep(self._max_s)
                continue
            # A connection the broker had accepted was lost: start the waits again.
            self._sleep(random.uniform(0, self._min_s))

    def _report(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is None:
            return
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        self._failures.report(
            f"MQTT broker {self._host}:{self._port} unreachable",
            exc,
            f"; retrying in {wait:.1f} s",
        )

    def _join_network_thread(self) -> None:
        """Wait for paho's network thread, which ends with the connection (paho does
        not reconnect by itself here)."""
        try:
            self._client.loop_stop()
        except AttributeError:
            # paho 2.x's loop_stop checks its thread attribute, then joins it; the
            # thread clears that attribute as it exits, so one that ended in between
            # makes loop_stop call None.join(). It has ended, which is all we need.
            log.debug("paho network thread ended during loop_stop")

    def _session(self) -> None:
        """One connection, from connect() to its loss. Raises when the broker never
        accepted it (so the waits grow); returns after an accepted one ends."""
        with self._cond:
            if self._stopping:
                return
            self._accepted = self._ended = False
            self._refusal = None
            self._unsupported_protocol = False
        self.attempts += 1
        self._client.connect(
            self._host,
            self._port,
            keepalive=self._keepalive,
            **connect_options(self._protocol, self._session_expiry_s),
        )
        self._client.loop_start()
        try:
            with self._cond:
                answered = self._cond.wait_for(
                    lambda: self._ended or self._closing or self._accepted or self._refusal,
                    timeout=CONNACK_TIMEOUT_S,
                )
                if answered:
                    self._cond.wait_for(lambda: self._ended or self._closing)
                accepted, refusal, stopping = self._accepted, self._refusal, self._stopping
                unsupported = self._unsupported_protocol
            if not answered:
                self._client.disconnect()  # a broker that never answers our CONNECT
        finally:
            with self._cond:
                closing = self._closing
            if closing:
                try:
                    self._client.disconnect()  # no-op when the sink already disconnected
                except Exception:  # noqa: BLE001 - shutting down; nothing more to do
                    log.debug("disconnect at shutdown failed", exc_info=True)
            self._join_network_thread()
        if stopping or accepted:
            return
        if self._fallback and self._protocol == mqtt.MQTTv5 and (unsupported or not answered):
            self._fall_back_to_311(unsupported)
            return
        if refusal is not None:
            raise BrokerRefused(f"broker refused the connection: {refusal}")
        raise ConnectionClosed("connection closed before the broker accepted it")

    def _fall_back_to_311(self, said_so: bool) -> None:
        """Use MQTT 3.1.1 from now on, with the same persistence: the broker refused MQTT 5
        (`said_so`), or never answered it (some 3.1.1-only brokers misread an MQTT 5 CONNECT
        and wait for bytes that never come)."""
        persistent = self._session_expiry_s > 0
        log.info(
            "MQTT broker %s:%d %s; using MQTT 3.1.1 until the agent restarts%s",
            self._host,
            self._port,
            "does not speak MQTT 5" if said_so else "did not answer an MQTT 5 CONNECT",
            ", with a persistent session (clean_session=False): the broker's own settings, "
            "not mqtt.session_expiry_s, decide how long it keeps commands for the agent"
            if persistent
            else ", with a clean session",
        )
        self._protocol = mqtt.MQTTv311
        self._client = self._make_client(self._protocol)
        if self._on_client_replaced is not None:
            self._on_client_replaced()
