"""Home Assistant MQTT discovery payloads (per-component, README, "MQTT").

One retained config message per entity on
`<discovery_prefix>/<component>/<agent_id>/<object>/config`. Per-component
discovery, not the newer single-message device discovery, so that older Home
Assistant releases work too. Every entity carries the same `device` block, the
agent's availability topic and a unique id `firstcrack_<agent_id>_<object>`.
Key names follow the Home Assistant MQTT platform pages
(https://www.home-assistant.io/integrations/<component>.mqtt/).

The device block carries `sw_version`, by default the installed package's
version (`package_version`), so Home Assistant shows which agent build runs.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any

from firstcrack.agent.core.payload_schema import FIELDS
from firstcrack.agent.mqtt.discovery_learning import Entity, learning_entities
from firstcrack.agent.mqtt.topics import Topics

PACKAGE = "firstcrack-agent"
UNKNOWN_VERSION = "0+unknown"

def package_version(dist: str = PACKAGE) -> str:
    """The installed version of `dist`, or `0+unknown` when it is not installed
    (e.g. run from a source tree without `pip install -e .`)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


@dataclass(frozen=True)
class DiscoveryMessage:
    """One discovery config: where it goes and what it says."""

    component: str
    object_id: str
    topic: str
    config: dict[str, Any]


def _device(agent_id: str, model_name: str, sw_version: str) -> dict[str, Any]:
    device: dict[str, Any] = {
        "identifiers": [f"firstcrack_{agent_id}"],
        "name": f"firstcrack {agent_id}",
        "manufacturer": "firstcrack",
        "model": model_name or "first-crack detector",
        "sw_version": sw_version or package_version(),
    }
    return device


def _only_event(event_type: str) -> str:
    """An event entity template that passes one event_type and renders others empty."""
    return f"{{{{ value if value_json.event_type == '{event_type}' else '' }}}}"


def payload_entities(topics: Topics, telemetry_expire: int) -> list[Entity]:
    """A sensor per payload field that declares an entity (agent/core/payload_schema.py).

    A telemetry sensor expires after `telemetry_expire` s without telemetry, so a dead
    agent does not show a stale value forever; a state sensor reads the retained state.
    """
    out: list[Entity] = []
    for f in FIELDS:
        entity = f.entity
        if entity is None:
            continue
        options = dict(entity.options)
        if options.pop("expire_after", False):
            options["expire_after"] = telemetry_expire
        topic = topics.telemetry if f.topic == "telemetry" else topics.state
        config = {"name": entity.name, "state_topic": topic,
                  "value_template": entity.template, **options}
        out.append((entity.component, entity.object_id, config))
    return out


def discovery_messages(
    topics: Topics,
    model_name: str = "",
    sw_version: str = "",
    probability_expire_after_s: int = 150,
) -> list[DiscoveryMessage]:
    """All entity configs for one agent, in a stable order."""
    # Telemetry-derived sensors expire so a dead agent does not show a stale value forever.
    telemetry_expire = int(probability_expire_after_s)
    entities: list[Entity] = [
        (
            "event",
            "first_crack",
            {
                "name": "First crack",
                "state_topic": topics.event,
                # HA's MQTT event reads `event_type` from the JSON payload; the rest
                # of the payload (event_id, onset_ts, ...) become event attributes.
                "event_types": ["first_crack"],
                # `first_crack_end` events share the topic; an empty render is skipped
                # quietly by HA, where an unlisted event_type would log a warning.
                "value_template": _only_event("first_crack"),
                "qos": 1,
            },
        ),
        (
            "event",
            "first_crack_end",
            {
                "name": "First crack end",
                "state_topic": topics.event,
                "event_types": ["first_crack_end"],
                "value_template": _only_event("first_crack_end"),
                "qos": 1,
            },
        ),
        (
            "event",
            "second_crack",
            {
                "name": "Second crack",
                "state_topic": topics.event,
                "event_types": ["second_crack"],
                "value_template": _only_event("second_crack"),
                "qos": 1,
            },
        ),
        *payload_entities(topics, telemetry_expire),
        (
            "number",
            "threshold",
            {
                "name": "Threshold",
                "command_topic": topics.setting_set("threshold"),
                "state_topic": topics.setting_state("threshold"),
                "min": 0,
                "max": 1,
                "step": 0.01,
                "mode": "slider",
                "entity_category": "config",
                "qos": 1,
                "retain": False,
            },
        ),
        (
            "switch",
            "armed",
            {
                "name": "Armed",
                "command_topic": topics.setting_set("armed"),
                "state_topic": topics.setting_state("armed"),
                "payload_on": "ON",
                "payload_off": "OFF",
                "state_on": "ON",
                "state_off": "OFF",
                "qos": 1,
                "retain": False,
            },
        ),
        (
            "button",
            "new_roast",
            {
                "name": "New roast",
                "command_topic": topics.roast_set,
                "payload_press": "start",
                "qos": 1,
                "retain": False,
            },
        ),
        (
            "button",
            "drop",
            {
                "name": "End roast (DROP)",
                "command_topic": topics.roast_set,
                "payload_press": "drop",
                "icon": "mdi:stop-circle-outline",
                "qos": 1,
                "retain": False,
            },
        ),
        *learning_entities(topics, _only_event("false_alarm")),
    ]
    device = _device(topics.agent_id, model_name, sw_version)
    messages = []
    for component, object_id, specific in entities:
        config: dict[str, Any] = {
            "unique_id": f"firstcrack_{topics.agent_id}_{object_id}",
            "object_id": f"{topics.agent_id}_{object_id}",
            "availability_topic": topics.availability,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
            **specific,
        }
        messages.append(
            DiscoveryMessage(component, object_id, topics.discovery(component, object_id), config)
        )
    return messages
