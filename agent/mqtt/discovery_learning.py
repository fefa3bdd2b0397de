"""Home Assistant entities for learning from the user's roasts (docs/RECORDINGS.md).

Kept beside `discovery.py`, which adds them to the device: two buttons that
send the corrections on `roast/set`, the event entity for a withdrawn first
crack, and the recording switch. The diagnostics that say whether this roast has a
user label and how much the recordings take on disk are built from their payload
fields (agent/core/payload_schema.py).
"""

from __future__ import annotations

from typing import Any

from firstcrack.agent.mqtt.topics import Topics

Entity = tuple[str, str, dict[str, Any]]  # (component, object id, component-specific config)


def _button(topics: Topics, object_id: str, name: str, icon: str) -> Entity:
    config = {"name": name, "command_topic": topics.roast_set, "payload_press": object_id,
              "icon": icon, "qos": 1, "retain": False}
    return "button", object_id, config


def learning_entities(topics: Topics, only_event: str) -> list[Entity]:
    """The entities; `only_event` is the event template for `false_alarm` (discovery.py)."""
    return [
        _button(topics, "first_crack_now", "First crack now", "mdi:ear-hearing"),
        _button(topics, "false_alarm", "False alarm", "mdi:alarm-off"),
        (
            "event",
            "first_crack_withdrawn",
            {
                "name": "First crack false alarm",
                "state_topic": topics.event,
                "event_types": ["false_alarm"],
                "value_template": only_event,
                "qos": 1,
            },
        ),
        (
            "switch",
            "recording",
            {
                "name": "Recording",
                "command_topic": topics.setting_set("recording"),
                "state_topic": topics.setting_state("recording"),
                "payload_on": "ON",
                "payload_off": "OFF",
                "state_on": "ON",
                "state_off": "OFF",
                "icon": "mdi:record-rec",
                "entity_category": "config",
                "qos": 1,
                "retain": False,
            },
        ),
    ]
