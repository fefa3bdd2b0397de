"""Building the paho client from `MqttConfig`, and guarding its callbacks.

MQTT 3.1.1 with a clean session: what must survive a disconnect lives in our
own durable outbox, not in broker-side session state. paho's automatic
reconnect is off; `connection.py` reconnects (capped, jittered, never giving
up). The last will is a retained `offline` on the availability topic.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firstcrack.agent.config import MqttConfig

log = logging.getLogger("firstcrack.mqtt")


def build_client(config: MqttConfig, client_id: str, will_topic: str) -> mqtt.Client:
    """A paho client with credentials, TLS and last will set; not connected."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=True,
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
