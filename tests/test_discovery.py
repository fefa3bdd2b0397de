"""Home Assistant discovery payloads (per-component).

Rule protected: every entity HA needs is announced with the keys its MQTT
platform requires, one device, availability, unique ids, and topics that stay
under our base topic or the discovery prefix.
"""

from __future__ import annotations

import importlib.metadata
import json

import pytest

from firstcrack.agent.mqtt.discovery import discovery_messages, package_version
from firstcrack.agent.mqtt.topics import Topics

# Required configuration keys per MQTT platform, from the Home Assistant docs:
# event:         https://www.home-assistant.io/integrations/event.mqtt/  (state_topic, event_types)
# binary_sensor: https://www.home-assistant.io/integrations/binary_sensor.mqtt/  (state_topic)
# sensor:        https://www.home-assistant.io/integrations/sensor.mqtt/  (state_topic)
# number:        https://www.home-assistant.io/integrations/number.mqtt/  (command_topic)
# switch:        https://www.home-assistant.io/integrations/switch.mqtt/  (command_topic)
# button:        https://www.home-assistant.io/integrations/button.mqtt/  (command_topic)
# Keys every discovered entity needs to join one device: unique_id + device (identifiers),
# see https://www.home-assistant.io/integrations/mqtt/#discovery-messages
REQUIRED_KEYS: dict[str, set[str]] = {
    "event": {"state_topic", "event_types"},
    "binary_sensor": {"state_topic"},
    "sensor": {"state_topic"},
    "number": {"command_topic"},
    "switch": {"command_topic"},
    "button": {"command_topic"},
}
COMMON_KEYS = {"unique_id", "object_id", "availability_topic", "device", "name"}


def _messages(prefix: str = "homeassistant"):  # type: ignore[no-untyped-def]
    return discovery_messages(Topics("roaster1", prefix), "ast-demo", "1.2.3", 45)


def test_every_component_has_its_required_keys() -> None:
    for msg in _messages():
        missing = (REQUIRED_KEYS[msg.component] | COMMON_KEYS) - set(msg.config)
        assert not missing, f"{msg.component}/{msg.object_id} lacks {missing}"
        assert json.loads(json.dumps(msg.config)) == msg.config


def test_the_designed_entities_are_all_there() -> None:
    found = {(m.component, m.object_id) for m in _messages()}
    assert {
        ("event", "first_crack"),
        ("binary_sensor", "first_crack_this_roast"),
        ("sensor", "probability"),
        ("sensor", "dbfs"),
        ("sensor", "development_time"),
        ("sensor", "pops_per_minute"),
        ("sensor", "crack_count"),
        ("number", "threshold"),
        ("switch", "armed"),
        ("button", "new_roast"),
        ("sensor", "source_overruns"),
        ("sensor", "source_dropped_blocks"),
        ("sensor", "source_reopens"),
    } <= found


def test_unique_ids_one_device_and_availability() -> None:
    messages = _messages()
    ids = [m.config["unique_id"] for m in messages]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("firstcrack_roaster1_") for i in ids)
    devices = {json.dumps(m.config["device"], sort_keys=True) for m in messages}
    assert len(devices) == 1
    device = messages[0].config["device"]
    assert device["identifiers"] == ["firstcrack_roaster1"]
    assert device["model"] == "ast-demo" and device["sw_version"] == "1.2.3"
    assert {m.config["availability_topic"] for m in messages} == {
        "firstcrack/roaster1/availability"
    }


def test_topics_stay_under_base_or_discovery_prefix() -> None:
    for msg in _messages("ha_custom"):
        assert msg.topic == f"ha_custom/{msg.component}/roaster1/{msg.object_id}/config"
        for key, value in msg.config.items():
            if key.endswith("_topic"):
                assert value.startswith("firstcrack/roaster1/"), (key, value)


def test_entity_specifics_match_the_contract() -> None:
    by_id = {m.object_id: m.config for m in _messages()}
    assert by_id["first_crack"]["event_types"] == ["first_crack"]
    assert by_id["first_crack"]["state_topic"] == "firstcrack/roaster1/event"
    assert by_id["probability"]["expire_after"] == 45
    assert by_id["probability"]["state_class"] == "measurement"
    assert by_id["dbfs"]["entity_category"] == "diagnostic"
    assert by_id["development_time"]["device_class"] == "duration"
    assert by_id["development_time"]["unit_of_measurement"] == "s"
    assert (by_id["threshold"]["min"], by_id["threshold"]["max"], by_id["threshold"]["step"]) == (
        0,
        1,
        0.01,
    )
    assert by_id["threshold"]["state_topic"] == "firstcrack/roaster1/threshold/state"
    assert by_id["armed"]["command_topic"] == "firstcrack/roaster1/armed/set"
    assert (by_id["armed"]["payload_on"], by_id["armed"]["payload_off"]) == ("ON", "OFF")
    assert by_id["new_roast"]["command_topic"] == "firstcrack/roaster1/roast/set"
    assert by_id["new_roast"]["payload_press"] == "start"


def test_source_statistics_are_diagnostic_counters_from_state() -> None:
    """overruns, dropped capture blocks and device reopens, read from retained `state`."""
    by_id = {m.object_id: m for m in _messages()}
    keys = {
        "source_overruns": "source_overruns",
        "source_dropped_blocks": "source_dropped_blocks",
        "source_reopens": "source_reopens",
    }
    for object_id, key in keys.items():
        msg = by_id[object_id]
        config = msg.config
        assert msg.component == "sensor"
        assert msg.topic == f"homeassistant/sensor/roaster1/{object_id}/config"
        assert config["state_topic"] == "firstcrack/roaster1/state"
        assert config["value_template"] == f"{{{{ value_json.{key} | default(None) }}}}"
        assert config["entity_category"] == "diagnostic"
        assert config["state_class"] == "total_increasing"
        assert config["unique_id"] == f"firstcrack_roaster1_{object_id}"
        assert config["icon"].startswith("mdi:") and config["name"]
        assert "unit_of_measurement" not in config  # plain counts


def test_sw_version_defaults_to_the_installed_package() -> None:
    installed = importlib.metadata.version("firstcrack-agent")
    assert package_version() == installed
    messages = discovery_messages(Topics("roaster1"), "ast-demo")  # no sw_version given
    assert {m.config["device"]["sw_version"] for m in messages} == {installed}


def test_sw_version_without_an_installed_package(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(_name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(_name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert package_version() == "0+unknown"
    device = discovery_messages(Topics("roaster1"))[0].config["device"]
    assert device["sw_version"] == "0+unknown"


def test_learning_entities_send_what_the_agent_accepts() -> None:
    """The correction buttons press payloads `roast/set` accepts; the recording switch is a
    runtime setting; the withdrawn-first-crack event passes only `false_alarm` events."""
    from firstcrack.agent.mqtt.validation import parse_roast_command, parse_setting

    by_id = {(m.component, m.object_id): m.config for m in _messages()}
    for button in ("first_crack_now", "false_alarm"):
        config = by_id[("button", button)]
        assert config["command_topic"] == "firstcrack/roaster1/roast/set"
        assert parse_roast_command(config["payload_press"].encode()).action == button
    switch = by_id[("switch", "recording")]
    assert switch["command_topic"] == "firstcrack/roaster1/recording/set"
    assert switch["state_topic"] == "firstcrack/roaster1/recording/state"
    assert parse_setting("recording", switch["payload_on"].encode()) is True
    withdrawn = by_id[("event", "first_crack_withdrawn")]
    assert withdrawn["event_types"] == ["false_alarm"]
    assert "false_alarm" in withdrawn["value_template"]
    assert by_id[("binary_sensor", "user_label")]["state_topic"] == "firstcrack/roaster1/state"
    assert by_id[("sensor", "recordings_size")]["unit_of_measurement"] == "MiB"
