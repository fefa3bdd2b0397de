"""The roast lifecycle from a roaster controller's own MQTT messages.

A controller (Artisan's MQTT port, a PLC bridge, a Node-RED flow) already says
when the beans go in and come out. `controller.charge` / `controller.drop` in
the config name that topic and payload; a match runs `roast_command("start")`
or `("drop")`, so `roast_s`, `development_s` and `development_ratio` are
measured from the real CHARGE instead of from when the agent started.

Matching rules (simple on purpose, so a mismatch is easy to see in the log):
- the topic matches the configured subscription filter (`+`/`#` allowed);
- the payload, trimmed, equals the configured value ignoring case; with
  `json_field` set, the payload must be a JSON object whose field (a string or
  number, trimmed) equals it ignoring case;
- retained messages are ignored: a retained CHARGE would restart the roast on
  every reconnect (the same rule as `<base>/roast/set`);
- anything else on the topic (other events, bad JSON) is ignored with a debug
  log line: controller topics usually carry more than these two messages.

Subscriptions are made by `MqttSink` in `on_connect`, so they are restored on
every reconnect. Messages arrive on the MQTT network thread, which only
submits the command to the runtime's queue (agent/core/command_queue.py).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from firstcrack.agent.config import ControllerConfig, TriggerConfig

log = logging.getLogger("firstcrack.controller")

HANDLED_KEPT = 16
"""Roast commands remembered in `handled` (a roast runs two: CHARGE and DROP)."""

MAX_PAYLOAD_BYTES = 4096


@dataclass(frozen=True)
class _Trigger:
    command: str  # "start" | "drop"
    config: TriggerConfig

    def matches(self, topic: str, payload: bytes) -> bool:
        if not mqtt.topic_matches_sub(self.config.topic, topic):
            return False
        value = _payload_value(payload, self.config.json_field)
        return value is not None and value.lower() == self.config.payload.strip().lower()


def _payload_value(payload: bytes, json_field: str | None) -> str | None:
    """The text to compare: the whole payload, or one field of a JSON object payload."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return None
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    if json_field is None:
        return text
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    value = obj.get(json_field)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value).strip()


class ControllerLifecycle:
    """Turns a controller's CHARGE/DROP messages into roast commands.

    config: the validated `controller:` section.
    roast_command: submits "start" or "drop" to the runtime's command queue.
    """

    def __init__(self, config: ControllerConfig, roast_command: Callable[[str], None]) -> None:
        self._roast_command = roast_command
        self._triggers = [
            _Trigger(command, trigger)
            for command, trigger in (("start", config.charge), ("drop", config.drop))
            if trigger is not None
        ]
        self.handled: deque[str] = deque(maxlen=HANDLED_KEPT)
        """The roast commands run, oldest first, the last HANDLED_KEPT of them."""

    @property
    def enabled(self) -> bool:
        return bool(self._triggers)

    @property
    def subscriptions(self) -> list[str]:
        """The topic filters to subscribe to, without duplicates."""
        return list(dict.fromkeys(t.config.topic for t in self._triggers))

    def command_for(self, topic: str, payload: bytes) -> str | None:
        """The roast command ("start" or "drop") a message would run, or None."""
        for trigger in self._triggers:
            if trigger.matches(topic, payload):
                return trigger.command
        return None

    def on_message(self, topic: str, payload: bytes, retained: bool) -> str | None:
        """Handle one message from a controller topic; returns the roast command it ran."""
        command = self.command_for(topic, payload)
        if command is None:
            log.debug("controller topic %s: payload %r matches no trigger", topic, payload[:80])
            return None
        if retained:
            log.warning(
                "ignoring retained %s message on %s: a retained CHARGE/DROP would "
                "replay on every reconnect",
                command,
                topic,
            )
            return None
        name = "CHARGE" if command == "start" else "DROP"
        log.info("controller %s on %s", name, topic)
        self._roast_command(command)
        self.handled.append(command)
        return command
