"""Retained announcements sent straight to the broker, not through the outbox.

Home Assistant discovery and each runtime setting's `<base>/<name>/state` are
published only while connected and are not queued: discovery is re-sent on
every connect and whenever Home Assistant comes online, and the settings are
re-announced then by the runtime (a `Resync` command), so losing one while
offline costs nothing. The roast `state` is not sent from here: it always goes
through the outbox, in the order the runtime took it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from firstcrack.agent.config import MqttConfig
from firstcrack.agent.core.messages import RoastState, to_json
from firstcrack.agent.core.settings import RuntimeSettings, format_setting
from firstcrack.agent.mqtt.discovery import discovery_messages
from firstcrack.agent.mqtt.topics import Topics


def state_bytes(state: RoastState) -> bytes:
    """The `<base>/state` payload."""
    return to_json(state.to_payload()).encode()


class Announcer:
    """Publishes discovery, setting states and the state snapshot for one agent."""

    def __init__(
        self,
        client: Callable[[], mqtt.Client],
        topics: Topics,
        config: MqttConfig,
        model_name: str,
        sw_version: str,
    ) -> None:
        self._client = client
        self._topics = topics
        self._config = config
        self._model_name = model_name
        self._sw_version = sw_version

    def publish(self, topic: str, payload: bytes | str, qos: int, retain: bool) -> bool:
        """Publish now if connected; False when not (the caller decides whether that matters)."""
        client = self._client()
        if not client.is_connected():
            return False
        info = client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def discovery(self) -> None:
        if not self._config.discovery:
            return
        for msg in discovery_messages(
            self._topics,
            self._model_name,
            self._sw_version,
            self._config.probability_expire_after_s,
        ):
            self.publish(msg.topic, json.dumps(msg.config, sort_keys=True), 1, True)

    def setting_states(self, settings: RuntimeSettings) -> None:
        """Retained `<base>/<name>/state` for every runtime setting."""
        for name, value in settings.runtime_values().items():
            self.publish(self._topics.setting_state(name), format_setting(value), 1, True)
