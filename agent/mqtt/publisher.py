"""The MQTT sink: paho client and durable outbox sender (README, "MQTT").

Incoming `/set` and `roast/set` commands are routed by `agent/mqtt/commands.py`.

Threads:
- paho's network thread (`loop_start`) runs every callback. Callbacks are
  wrapped so that a bug or a hostile payload logs instead of killing it.
- a connector thread retries the first connect forever with tenacity (capped
  exponential backoff with jitter); later drops are retried by paho itself
  with `reconnect_delay_set`, and everything is (re)done in `on_connect`.
- an outbox sender thread publishes the outbox strictly in order, one message
  in flight, and deletes a row only after its PUBACK.

Lock rule: never call into paho while holding `self._cond`; paho runs
`on_publish` while holding its own lock, so the opposite order would deadlock.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from tenacity import Retrying, retry_if_exception_type, wait_exponential_jitter

from agent.config import MqttConfig
from agent.core.messages import FirstCrackEvent, RoastState, Telemetry, to_json
from agent.core.settings import DetectorSettings, format_setting
from agent.mqtt.commands import CommandHandler, CommandRouter
from agent.mqtt.discovery import discovery_messages
from agent.mqtt.outbox import KIND_EVENT, OUTBOX_FILE, Outbox, OutboxEntry
from agent.mqtt.topics import Topics

log = logging.getLogger("firstcrack.mqtt")

KIND_STATE = "state"
__all__ = ["CommandHandler", "MqttSink"]


def _guarded(method: Callable[..., None]) -> Callable[..., None]:
    """Wrap a paho callback: an exception is logged, never raised into paho's thread."""

    def wrapper(self: MqttSink, *args: Any) -> None:
        try:
            method(self, *args)
        except Exception:  # noqa: BLE001 - the network thread must survive any bug
            log.exception("MQTT callback %s failed", method.__name__)

    wrapper.__name__ = method.__name__
    return wrapper


class MqttSink:
    """Publishes telemetry, events and state; takes `/set` commands back."""

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
    ) -> None:
        """`extra_subscriptions`: topic filters outside our base (e.g. a roaster controller's),
        subscribed on every (re)connect; each message on them goes to
        `on_external(topic, payload, retained)` on the network thread."""
        self._config = config
        self._extra_subscriptions = list(extra_subscriptions)
        self._on_external = on_external
        self._topics = Topics(agent_id, config.discovery_prefix)
        self._handler = handler
        self._commands = CommandRouter(
            self._topics,
            handler,
            publish=self._publish_direct,
            publish_setting=lambda settings, name: self._publish_setting_states(settings, name),
        )
        self._model_name = model_name
        self._sw_version = sw_version
        self._outbox = Outbox(Path(state_dir) / OUTBOX_FILE, config.outbox_max, clock)
        self._cond = threading.Condition()
        self._ready = False  # CONNACK accepted and on_connect finished (online sent)
        self._generation = 0  # bumped on every put/connect so the sender never misses a wake-up
        self._inflight: tuple[OutboxEntry, mqtt.MQTTMessageInfo] | None = None
        self._dropped_telemetry = 0
        self._closing = threading.Event()
        self._stop_sender = threading.Event()
        self._started = False
        self._client = self._build_client(config.client_id or f"firstcrack-{agent_id}")
        self._connector = threading.Thread(
            target=self._connect_forever, name="firstcrack-mqtt-connect", daemon=True
        )
        self._sender = threading.Thread(
            target=self._send_loop, name="firstcrack-mqtt-outbox", daemon=True
        )

    # ----------------------------------------------------------------- setup

    def _build_client(self, client_id: str) -> mqtt.Client:
        cfg = self._config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if cfg.username is not None:
            password = cfg.password.get_secret_value() if cfg.password is not None else None
            client.username_pw_set(cfg.username, password)
        tls = cfg.tls
        if tls.enabled or tls.ca_certs or tls.certfile:
            client.tls_set(
                ca_certs=str(tls.ca_certs) if tls.ca_certs else None,
                certfile=str(tls.certfile) if tls.certfile else None,
                keyfile=str(tls.keyfile) if tls.keyfile else None,
            )
            if tls.insecure:
                client.tls_insecure_set(True)
        client.will_set(self._topics.availability, "offline", qos=1, retain=True)
        # Later drops: paho reconnects by itself within these bounds (seconds).
        client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)  # type: ignore[arg-type]
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def start(self) -> None:
        """Start connecting in the background; never raises because the broker is down."""
        if self._started:
            return
        self._started = True
        self._sender.start()
        self._connector.start()

    def _connect_forever(self) -> None:
        cfg = self._config
        retrying = Retrying(
            retry=retry_if_exception_type(OSError),
            wait=wait_exponential_jitter(
                multiplier=cfg.reconnect_min_s, max=cfg.reconnect_max_s, jitter=cfg.reconnect_min_s
            ),
            stop=lambda _state: self._closing.is_set(),
            sleep=self._closing.wait,
            before_sleep=lambda state: log.warning(
                "MQTT broker %s:%d unreachable (%s); retrying in %.1f s",
                cfg.host,
                cfg.port,
                state.outcome.exception() if state.outcome else "?",
                state.next_action.sleep if state.next_action else 0.0,
            ),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    if self._closing.is_set():
                        return
                    self._client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        except OSError:
            return  # closing while still unreachable
        except Exception:  # noqa: BLE001 - e.g. a TLS setup error; logged, agent keeps running
            log.exception("MQTT connect to %s:%d failed permanently", cfg.host, cfg.port)
            return
        if self._closing.is_set():
            return
        self._client.loop_start()

    # ------------------------------------------------------------- callbacks

    @_guarded
    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _props: Any
    ) -> None:
        if reason_code.is_failure:
            log.warning("MQTT broker refused the connection: %s", reason_code)
            self._set_ready(False)
            return
        t = self._topics
        # roast/set is covered by the wildcard; a second overlapping subscription could
        # make the broker deliver a `start` twice.
        own = (t.set_wildcard, t.ha_status)
        extra = [(f, 1) for f in dict.fromkeys(self._extra_subscriptions) if f not in own]
        client.subscribe([(t.set_wildcard, 1), (t.ha_status, 1), *extra])
        self._publish_discovery()
        self._publish_setting_states(self._handler.settings())
        if self._outbox.count(KIND_STATE) == 0:
            # Otherwise the outbox carries newer-than-retained states, in order.
            self._publish_direct(t.state, self._state_bytes(self._handler.snapshot()), 1, True)
        client.publish(t.availability, "online", qos=1, retain=True)
        self._set_ready(True)
        log.info("MQTT connected to %s:%d as %s", self._config.host, self._config.port, t.base)

    @_guarded
    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _props: Any
    ) -> None:
        was_ready = self._ready
        self._set_ready(False)
        if was_ready and not self._closing.is_set():
            log.warning("MQTT connection lost (%s); reconnecting", reason_code)

    @_guarded
    def _on_publish(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, _reason: Any, _props: Any
    ) -> None:
        with self._cond:
            self._cond.notify_all()

    @_guarded
    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        payload = bytes(message.payload)
        t = self._topics
        if self._on_external is not None and any(
            mqtt.topic_matches_sub(f, topic) for f in self._extra_subscriptions
        ):
            self._on_external(topic, payload, bool(message.retain))
        if topic == t.ha_status:
            if payload.strip().lower() == b"online":
                log.info("Home Assistant came online; republishing discovery and states")
                self._republish_all()
            return
        self._commands.route(topic, payload, bool(message.retain))

    # ------------------------------------------------------------ publishing

    def _publish_direct(self, topic: str, payload: bytes | str, qos: int, retain: bool) -> bool:
        """Publish now if connected; False when not (the caller decides whether that matters)."""
        if not self._client.is_connected():
            return False
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def _publish_discovery(self) -> None:
        if not self._config.discovery:
            return
        for msg in discovery_messages(
            self._topics,
            self._model_name,
            self._sw_version,
            self._config.probability_expire_after_s,
        ):
            self._publish_direct(msg.topic, json.dumps(msg.config, sort_keys=True), 1, True)

    def _publish_setting_states(self, settings: DetectorSettings, only: str | None = None) -> None:
        for name, value in settings.runtime_values().items():
            if only is None or name == only:
                self._publish_direct(
                    self._topics.setting_state(name), format_setting(value), 1, True
                )

    def _republish_all(self) -> None:
        self._publish_discovery()
        self._publish_setting_states(self._handler.settings())
        self._publish_direct(
            self._topics.state, self._state_bytes(self._handler.snapshot()), 1, True
        )

    @staticmethod
    def _state_bytes(s: RoastState) -> bytes:
        return to_json(s.to_payload()).encode()

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
        self._enqueue(self._topics.state, self._state_bytes(s), True, KIND_STATE)

    def publish_settings(self, s: DetectorSettings) -> None:
        """Retained `<base>/<name>/state` for each runtime setting (re-sent on every connect)."""
        self._publish_setting_states(s)

    def _enqueue(self, topic: str, payload: bytes, retain: bool, kind: str) -> None:
        self._outbox.put(topic, payload, 1, retain, kind)
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def _set_ready(self, ready: bool) -> None:
        with self._cond:
            self._ready = ready
            self._generation += 1
            self._cond.notify_all()

    # ---------------------------------------------------------- outbox sender

    def _send_loop(self) -> None:
        while not self._stop_sender.is_set():
            try:
                self._send_step()
            except Exception:  # noqa: BLE001 - keep delivering after an unexpected error
                log.exception("outbox sender failed; retrying")
                self._stop_sender.wait(0.5)

    def _send_step(self) -> None:
        with self._cond:
            inflight = self._inflight
            generation = self._generation
            ready = self._ready
        if inflight is None:
            entry = self._outbox.first() if ready else None
            if entry is None:
                with self._cond:
                    self._cond.notify_all()  # wakes flush() waiters
                    self._cond.wait_for(
                        lambda: self._generation != generation or self._stop_sender.is_set(),
                        timeout=1.0,
                    )
                return
            info = self._client.publish(
                entry.topic, entry.payload, qos=entry.qos, retain=entry.retain
            )
            inflight = (entry, info)
            with self._cond:
                self._inflight = inflight
        entry, info = inflight
        if _acknowledged(info):
            self._outbox.ack(entry.id)
            with self._cond:
                self._inflight = None
                self._cond.notify_all()
            return
        with self._cond:
            self._cond.wait(timeout=0.2)

    # ------------------------------------------------------------ inspection

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

    def wait_connected(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._ready, timeout=timeout)

    def flush(self, timeout: float) -> bool:
        """Wait until the outbox is empty and acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                if self._inflight is None and len(self._outbox) == 0:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(timeout=min(remaining, 0.2))

    def close(self, timeout: float = 5.0) -> None:
        """Flush what it can, publish retained `offline`, disconnect; bounded by `timeout` s.

        The outbox is flushed before `offline` so consumers see pending events
        while the agent still counts as online. Whatever is left stays on disk
        for the next start.
        """
        deadline = time.monotonic() + timeout
        self._closing.set()
        if self._ready:
            self.flush(max(0.0, deadline - time.monotonic() - 0.5))
        self._stop_sender.set()
        with self._cond:
            self._cond.notify_all()
        if self._sender.is_alive():
            self._sender.join(timeout=max(0.1, deadline - time.monotonic()))
        if self._client.is_connected():
            info = self._client.publish(self._topics.availability, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=max(0.1, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                log.warning("could not publish offline before shutdown")
            self._client.disconnect()
        self._client.loop_stop()
        if self._connector.is_alive():
            self._connector.join(timeout=max(0.1, deadline - time.monotonic()))
        self._set_ready(False)
        self._outbox.close()


def _acknowledged(info: mqtt.MQTTMessageInfo) -> bool:
    """Whether the broker acknowledged this QoS 1 message (PUBACK)."""
    try:
        return info.is_published()
    except RuntimeError:
        # Published in the instant the connection dropped (rc NO_CONN): paho still holds
        # the message and sends it after reconnecting, so wait for its PUBACK rather than
        # re-publishing (which would deliver it twice).
        with info._condition:  # noqa: SLF001 - paho 2.x exposes no other way to ask
            return bool(info._published)  # noqa: SLF001
