"""The MQTT sink: the facade the agent talks to (README, "MQTT").

Threads and modules:
- `connection.py`: a supervisor thread connects and reconnects forever (waits
  capped at `reconnect_max_s`, jittered) and runs paho's network thread for each
  connection. paho runs every callback below, wrapped (`client.guarded`) so a bug
  or a hostile payload logs instead of killing it; `on_connect` redoes all a
  fresh connection needs (subscriptions, `announce.py`, `online`).
- `sender.py`: a thread publishes the durable outbox (`outbox.py`) in order, one
  message in flight, deleting a row only after its PUBACK.
- `inbound.py` routes incoming `/set` and `roast/set`; `session.py` tells which
  of them the broker held too long (the session persists: `client.py`).
- here: telemetry (QoS 0, dropped and counted while offline), events and state
  changes into the outbox, and a bounded shutdown with a grace (`close`).

Lock rule: never call into paho while holding `self._cond` (or the sender's or
connection's condition); paho runs callbacks that take them while holding its
own locks, so the opposite order would deadlock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion

from firstcrack.agent.config import MqttConfig
from firstcrack.agent.core.command_queue import Resync
from firstcrack.agent.core.messages import FirstCrackEvent, RoastState, Telemetry, to_json
from firstcrack.agent.core.payload_schema import RoastClock, Topic
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.agent.mqtt.announce import Announcer, state_bytes
from firstcrack.agent.mqtt.backoff import FailureLog
from firstcrack.agent.mqtt.client import build_client, guarded, refuses_protocol
from firstcrack.agent.mqtt.connection import ConnectionManager
from firstcrack.agent.mqtt.discovery import package_version
from firstcrack.agent.mqtt.inbound import CommandHandler, CommandRouter
from firstcrack.agent.mqtt.outbox import KIND_EVENT, OUTBOX_FILE, Outbox
from firstcrack.agent.mqtt.sender import OutboxSender
from firstcrack.agent.mqtt.session import CommandAges
from firstcrack.agent.mqtt.topics import Topics

log = logging.getLogger("firstcrack.mqtt")

KIND_STATE = "state"
__all__ = ["CommandHandler", "MqttSink"]


class MqttSink:
    """Publishes telemetry, events and state; takes `/set` commands back.

    As the `mqtt` payload provider it adds `dropped_telemetry` to `state`.
    """

    provider = "mqtt"

    def __init__(
        self,
        config: MqttConfig,
        agent_id: str,
        state_dir: Path,
        handler: CommandHandler,
        model_name: str = "",
        sw_version: str = "",
        clock: Callable[[], float] = time.time,
        extra_subscriptions: Sequence[str] = (),
        on_external: Callable[[str, bytes, bool], None] | None = None,
        external_command: Callable[[str, bytes], str | None] | None = None,
    ) -> None:
        """`sw_version` "" means the installed package's version (discovery's device).

        `extra_subscriptions`: topic filters outside our base (e.g. a roaster controller's),
        subscribed on every (re)connect; each message on them goes to
        `on_external(topic, payload, retained)` on the network thread, unless the broker
        held it too long: then `external_command(topic, payload)` says which command it
        would have run (None: not a command), and a command is answered on `error`."""
        self._config = config
        self._extra_subscriptions = list(extra_subscriptions)
        self._on_external = on_external
        self._external_command = external_command
        self._topics = Topics(agent_id, config.discovery_prefix)
        self._handler = handler
        self._commands = CommandRouter(
            self._topics,
            handler,
            publish=lambda *args: self._announce.publish(*args),
        )
        self._outbox = Outbox(Path(state_dir) / OUTBOX_FILE, config.outbox_max, clock)
        self._cond = threading.Condition()
        self._ready = False  # CONNACK accepted and on_connect finished (online sent)
        self._dropped_telemetry = 0
        self._closing = threading.Event()
        self._started = False
        self._closed = False
        self._failures = FailureLog(log)
        self._client_id = config.client_id or f"firstcrack-{agent_id}"
        self._ages = CommandAges(Path(state_dir), config.command_max_age_s)
        self._sender = OutboxSender(
            self._outbox, lambda: self._connection.client, lambda: self._ready
        )
        self._connection = ConnectionManager(
            self._make_client,
            config.host,
            config.port,
            config.keepalive_s,
            config.reconnect_min_s,
            config.reconnect_max_s,
            self._failures,
            session_expiry_s=config.session_expiry_s,
            # The old client's message in flight is published again on the new one.
            on_client_replaced=self._sender.forget_inflight,
            protocol=config.protocol,
        )
        self._announce = Announcer(
            lambda: self._connection.client,
            self._topics,
            config,
            model_name,
            sw_version or package_version(),
        )

    def _make_client(self, protocol: MQTTProtocolVersion) -> mqtt.Client:
        client = build_client(
            self._config,
            self._client_id,
            self._topics.availability,
            protocol,
            persistent=self._config.session_expiry_s > 0,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    @property
    def _client(self) -> mqtt.Client:
        return self._connection.client

    def start(self) -> None:
        """Start connecting in the background; never raises because the broker is down."""
        if self._started:
            return
        self._started = True
        self._sender.start()
        self._connection.start()

    # ------------------------------------------------------------- callbacks

    @guarded
    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, flags: Any, reason_code: Any, _props: Any
    ) -> None:
        if reason_code.is_failure:
            self._connection.refused(str(reason_code), refuses_protocol(reason_code))
            self._set_ready(False)
            return
        t = self._topics
        # roast/set is covered by the wildcard; a second overlapping subscription could
        # make the broker deliver a `start` twice.
        own = (t.set_wildcard, t.ha_status, t.session)
        extra = [(f, 1) for f in dict.fromkeys(self._extra_subscriptions) if f not in own]
        client.subscribe([(t.set_wildcard, 1), (t.ha_status, 1), (t.session, 1), *extra])
        marker = self._ages.connected(
            bool(flags.session_present), self._connection.session_bound_s
        )
        if marker is not None:
            client.publish(t.session, marker, qos=1)  # queued behind what the broker held
        self._announce.discovery()
        # Settings and state come from the runtime's owner thread, through the outbox for
        # the state, so a retained state is never older than one already queued.
        self._handler.submit(Resync(origin="mqtt connect"))
        client.publish(t.availability, "online", qos=1, retain=True)
        log.info(
            "MQTT connected to %s:%d as %s (MQTT %s, %s)",
            self._config.host,
            self._config.port,
            t.base,
            "5" if self._connection.protocol == mqtt.MQTTv5 else "3.1.1",
            "session resumed" if flags.session_present else "new session",
        )
        self._connection.accepted()
        self._set_ready(True)

    @guarded
    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _props: Any
    ) -> None:
        was_ready = self._ready
        self._set_ready(False)
        self._ages.lost()
        self._connection.lost()
        if was_ready and not self._closing.is_set():
            self._failures.report(
                "MQTT connection lost", ConnectionError(str(reason_code)), "; reconnecting"
            )

    @guarded
    def _on_publish(
        self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: Any, _props: Any
    ) -> None:
        self._sender.on_publish(mid)

    @guarded
    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        payload = bytes(message.payload)
        t = self._topics
        if topic == t.session:
            self._ages.marker(payload)
            return
        # A retained message is a standing value the broker sends on every subscribe, not a
        # command it held for us (retained roast commands are refused anyway).
        properties = getattr(message, "properties", None)
        held = None if message.retain else self._ages.check(
            hasattr(properties, "MessageExpiryInterval")
        )
        if self._on_external is not None and any(
            mqtt.topic_matches_sub(f, topic) for f in self._extra_subscriptions
        ):
            if held is None:
                self._on_external(topic, payload, bool(message.retain))
            elif self._external_command is not None and self._external_command(topic, payload):
                self._commands.refuse_held(topic, payload, held)
        if topic == t.ha_status:
            if payload.strip().lower() == b"online":
                log.info("Home Assistant came online; republishing discovery and states")
                self._announce.discovery()
                self._handler.submit(Resync(origin="home assistant"))
            return
        self._commands.route(topic, payload, bool(message.retain), held)

    # ------------------------------------------------------------ publishing

    def telemetry(self, t: Telemetry) -> None:
        """QoS 0, not retained; dropped and counted while disconnected."""
        if self._ready:
            info = self._client.publish(self._topics.telemetry, to_json(t.to_payload()), qos=0)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                return
        with self._cond:
            self._dropped_telemetry += 1

    def event(self, e: FirstCrackEvent) -> None:
        """Durable: stored before this returns, delivered at least once (QoS 1)."""
        self._enqueue(self._topics.event, to_json(e.to_payload()).encode(), False, KIND_EVENT)

    def state(self, s: RoastState) -> None:
        """Durable and retained: every state change reaches the broker, in order."""
        self._enqueue(self._topics.state, state_bytes(s), True, KIND_STATE)

    def publish_settings(self, s: RuntimeSettings) -> None:
        """Retained `<base>/<name>/state` for each runtime setting (re-sent on every connect)."""
        self._announce.setting_states(s)

    def _enqueue(self, topic: str, payload: bytes, retain: bool, kind: str) -> None:
        self._outbox.put(topic, payload, 1, retain, kind)
        self._sender.wake()

    def _set_ready(self, ready: bool) -> None:
        with self._cond:
            self._ready = ready
            self._cond.notify_all()
        self._sender.wake()

    # ------------------------------------------------------------ inspection

    def payload_values(self, topic: Topic, clock: RoastClock) -> dict[str, Any]:
        return {"dropped_telemetry": self.dropped_telemetry} if topic == "state" else {}

    @property
    def dropped_telemetry(self) -> int:
        """Telemetry messages dropped because the broker was unreachable."""
        return self._dropped_telemetry

    @property
    def connected(self) -> bool:
        """Connected, accepted by the broker, and the on-connect publishes done."""
        return self._ready

    @property
    def pending(self) -> int:
        """Messages in the outbox not yet acknowledged by the broker."""
        return len(self._outbox)

    @property
    def connect_attempts(self) -> int:
        """Connect attempts so far (diagnostics, tests)."""
        return self._connection.attempts

    def close_budget(self, timeout: float = 5.0) -> float:
        """The longest `close(timeout)` waits: `max(timeout, mqtt.flush_grace_s)` s."""
        return max(float(timeout), float(self._config.flush_grace_s))

    def wait_connected(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._ready, timeout=timeout)

    def flush(self, timeout: float) -> bool:
        """Wait until the outbox is empty and acknowledged; False on timeout."""
        return self._sender.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what it can, publish retained `offline`, disconnect.

        Bounded by `close_budget(timeout)` = max(`timeout`, `mqtt.flush_grace_s`):
        the agent passes its generic sink timeout (5 s) and the configured grace
        (10 s by default) wins, so a broker that is down at shutdown still gets
        the final events and state if it returns within the grace. Meanwhile the
        connection keeps retrying at its usual pace. The grace is spent only while
        something is undelivered. Up to 1 s of the budget is kept for `offline`.

        The outbox is flushed before `offline` so consumers see pending events
        while the agent still counts as online. Whatever is left stays on disk
        (the outbox is durable) and goes out after the next start; a warning
        says how many messages that is. The time the connection ended is recorded
        for the next start (agent/mqtt/session.py).
        """
        if self._closed:
            return
        self._closed = True
        budget = self.close_budget(timeout)
        deadline = time.monotonic() + budget

        def left() -> float:
            return max(0.1, deadline - time.monotonic())

        if self._started:
            reserve = min(1.0, budget / 4)
            self.flush(max(0.0, deadline - time.monotonic() - reserve))
            self._sender.stop(left())
            self._warn_undelivered(budget)
            self._closing.set()
            self._connection.stop_reconnecting()
            if self._client.is_connected():
                info = self._client.publish(
                    self._topics.availability, "offline", qos=1, retain=True
                )
                try:
                    info.wait_for_publish(timeout=left())
                except (RuntimeError, ValueError):
                    log.warning("could not publish offline before shutdown")
                self._client.disconnect()
            self._connection.stop(left())
        self._ages.closed()
        self._set_ready(False)
        self._outbox.close()

    def _warn_undelivered(self, budget: float) -> None:
        remaining = len(self._outbox)
        if remaining:
            log.warning(
                "MQTT: %d message%s not delivered within %.1f s; kept in %s and sent "
                "after the next start",
                remaining,
                "" if remaining == 1 else "s",
                budget,
                self._outbox.path,
            )
