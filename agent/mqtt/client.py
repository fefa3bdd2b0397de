"""Building the paho client from `MqttConfig`, and guarding its callbacks.

The agent speaks MQTT 5 with a persistent session: `clean_start=False` and a
Session Expiry Interval of `mqtt.session_expiry_s`, so the broker keeps the
agent's QoS 1 subscriptions, and the commands sent to them, while the agent
reconnects or restarts (agent/mqtt/session.py says which of those are too old
to apply). A broker that speaks only MQTT 3.1.1 answers the MQTT 5 CONNECT with
"unsupported protocol version"; the connection then falls back to 3.1.1 with
`clean_session=False` (`connection.py`), where the broker's own settings decide
how long it keeps the session. `session_expiry_s: 0` turns persistence off
(a clean session in either version).

What the agent publishes does not depend on the session: it lives in our own
durable outbox. paho's automatic reconnect is off; `connection.py` reconnects
(capped, jittered, never giving up). The last will is a retained `offline` on
the availability topic.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firstcrack.agent.config import MqttConfig

log = logging.getLogger("firstcrack.mqtt")

UNSUPPORTED_PROTOCOL_VERSION = 0x84
"""The CONNACK reason code paho reports when a 3.1.1-only broker refuses an MQTT 5 CONNECT."""


def build_client(
    config: MqttConfig,
    client_id: str,
    will_topic: str,
    protocol: MQTTProtocolVersion = mqtt.MQTTv311,
    persistent: bool = False,
) -> mqtt.Client:
    """A paho client with credentials, TLS and last will set; not connected.

    `persistent` asks the broker to keep the session; for MQTT 5 that is decided at
    connect time (`connect_options`), for 3.1.1 here (`clean_session=False`)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        clean_session=None if protocol == mqtt.MQTTv5 else not persistent,
        reconnect_on_failure=False,
    )
    if config.username is not None:
        password = config.password.get_secret_value() if config.password is not None else None
        client.username_pw_set(config.username, password)
    tls = config.tls
    if tls.enabled or tls.ca_certs or tls.certfile:
        client.tls_set(
            ca_certs=str(tls.ca_certs) if tls.ca_certs else None,
            certfile=str(tls.certfile) if tls.certfile else None,
            keyfile=str(tls.keyfile) if tls.keyfile else None,
        )
        if tls.insecure:
            client.tls_insecure_set(True)
    client.will_set(will_topic, "offline", qos=1, retain=True)
    return client


def connect_options(protocol: MQTTProtocolVersion, session_expiry_s: int) -> dict[str, Any]:
    """The keyword arguments for `client.connect`: MQTT 5's clean start and session expiry.

    MQTT 5 with `session_expiry_s > 0`: `clean_start=False` on every connect, the first
    one included, so a session the broker kept across an agent restart is resumed.
    """
    if protocol != mqtt.MQTTv5:
        return {}
    if session_expiry_s <= 0:
        return {"clean_start": True}
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = session_expiry_s
    return {"clean_start": False, "properties": properties}


def refuses_protocol(reason_code: Any) -> bool:
    """Whether a failed CONNACK says the broker does not speak the protocol we asked for."""
    return getattr(reason_code, "value", None) == UNSUPPORTED_PROTOCOL_VERSION


def guarded(method: Callable[..., None]) -> Callable[..., None]:
    """Wrap a paho callback method: an exception is logged, never raised into paho's
    network thread (which would end it, and with it the connection)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any) -> None:
        try:
            method(self, *args)
        except Exception:  # noqa: BLE001 - the network thread must survive any bug
            log.exception("MQTT callback %s failed", method.__name__)

    return wrapper
