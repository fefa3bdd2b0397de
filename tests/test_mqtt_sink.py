"""The MQTT sink against a real mosquitto: availability, discovery, `/set` commands.

Rules protected (README, "MQTT"): retained `online` with an `offline` last
will; discovery and every `/state` on connect and when Home Assistant comes
online; every `/set` validated, echoed when accepted, reported on `<base>/error`
and snapped back when rejected; nothing a client sends crashes the agent.
"""

from __future__ import annotations

# Fixtures imported from tests.mqtt_fixtures are re-bound as test arguments.
# ruff: noqa: F811
import importlib.metadata
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from firstcrack.agent.core.messages import Telemetry
from firstcrack.agent.core.settings import RUNTIME_SETTING_NAMES
from tests.mqtt_fixtures import (  # noqa: F401
    FakeHandler,
    Mosquitto,
    kill_agent,
    make_event,
    mosquitto,
    publish_once,
    sink_factory,
    spawn_agent,
    subscriber_factory,
)
from tests.test_discovery import COMMON_KEYS, REQUIRED_KEYS
from tests.test_remote import MALFORMED

BASE = "firstcrack/roaster1"


_send = publish_once


def _telemetry() -> Telemetry:
    return Telemetry(
        ts="2026-01-01T00:00:00.000Z",
        roast_s=12.0,
        audio_s=12.0,
        probability=0.25,
        threshold=0.6,
        dbfs=-30.0,
        inference_ms=40.0,
        phase="armed",
    )


def test_online_retained_and_clean_close_sends_offline(
    mosquitto: Mosquitto, sink_factory: Any, subscriber_factory: Any
) -> None:
    live = subscriber_factory(mosquitto.port, [f"{BASE}/availability"])
    sink = sink_factory(mosquitto.port)
    assert sink.wait_connected(10)
    live.wait_for(lambda m: m.text == "online")
    late = subscriber_factory(mosquitto.port, [f"{BASE}/availability"])
    online = late.wait_for(lambda m: m.topic == f"{BASE}/availability")
    assert (online.text, online.retain, online.qos) == ("online", True, 1)
    sink.close()
    assert not sink.connected
    offline = late.wait_for(lambda m: m.text == "offline")
    assert offline.topic == f"{BASE}/availability"
    after = subscriber_factory(mosquitto.port, [f"{BASE}/availability"])
    assert after.wait_for(lambda m: m.retain).text == "offline"


def test_last_will_offline_when_the_agent_process_dies(
    mosquitto: Mosquitto, subscriber_factory: Any, tmp_path: Path
) -> None:
    sub = subscriber_factory(mosquitto.port, [f"{BASE}/availability"])
    proc = spawn_agent(mosquitto.port, tmp_path / "child", "connected")
    try:
        sub.wait_for(lambda m: m.text == "online")
    finally:
        kill_agent(proc)
    sub.wait_for(lambda m: m.text == "offline")


def test_connect_publishes_discovery_then_online_and_the_runtime_resyncs_states(
    mosquitto: Mosquitto, sink_factory: Any, subscriber_factory: Any
) -> None:
    """Discovery goes first; the settings and the roast state are re-announced by the runtime
    (a Resync on connect), the state through the outbox so it is never older than a queued one."""
    sub = subscriber_factory(mosquitto.port, ["homeassistant/#", f"{BASE}/#"])
    sink = sink_factory(mosquitto.port)
    sub.wait_for(lambda m: m.topic == f"{BASE}/availability" and m.text == "online")
    sub.wait_for(lambda m: m.topic == f"{BASE}/state")
    topics = [m.topic for m in sub.messages]
    online_at = topics.index(f"{BASE}/availability")
    for name in RUNTIME_SETTING_NAMES:
        assert f"{BASE}/{name}/state" in topics
    configs = [m for m in sub.messages if m.topic.startswith("homeassistant/")]
    assert configs and all(topics.index(m.topic) < online_at for m in configs)
    unique_ids = set()
    for msg in configs:
        assert msg.qos == 1
        config = msg.json()
        component = msg.topic.split("/")[1]
        assert not (REQUIRED_KEYS[component] | COMMON_KEYS) - set(config)
        assert config["availability_topic"] == f"{BASE}/availability"
        unique_ids.add(config["unique_id"])
        for key, value in config.items():
            if key.endswith("_topic"):
                assert value.startswith(BASE + "/")
    assert len(unique_ids) == len(configs)
    assert sub.on(f"{BASE}/threshold/state")[-1].text == "0.6"
    assert sub.on(f"{BASE}/armed/state")[-1].text == "ON"
    assert sink.connected
    # Live subscribers see retain=0 (MQTT 3.1.1); a late one proves what the broker kept.
    late = subscriber_factory(mosquitto.port, ["homeassistant/#"])
    kept = late.wait_for_count(lambda m: m.retain, len(configs))
    assert {m.topic for m in kept} == {m.topic for m in configs}


def test_home_assistant_online_triggers_republish(
    mosquitto: Mosquitto, sink_factory: Any, subscriber_factory: Any
) -> None:
    sink = sink_factory(mosquitto.port)
    assert sink.wait_connected(10)
    sub = subscriber_factory(mosquitto.port, ["homeassistant/+/roaster1/#", f"{BASE}/state"])
    sub.wait_for_count(lambda m: True, 11)  # 10 configs + state
    sub.clear()
    _send(mosquitto.port, "homeassistant/status", b"online")
    sub.wait_for(lambda m: m.topic == "homeassistant/event/roaster1/first_crack/config")
    sub.wait_for(lambda m: m.topic == f"{BASE}/state")


@pytest.mark.parametrize(
    ("name", "payload", "shown", "value"),
    [
        ("threshold", b"0.72", "0.72", 0.72),
        ("min_positive", b"7", "7", 7),
        ("confirm_s", b"30", "30", 30.0),
        ("hop_s", b"1.5", "1.5", 1.5),
        ("armed", b"off", "OFF", False),
        ("recording", b"ON", "ON", True),
    ],
)
def test_set_round_trip(
    mosquitto: Mosquitto,
    sink_factory: Any,
    subscriber_factory: Any,
    name: str,
    payload: bytes,
    shown: str,
    value: object,
) -> None:
    handler = FakeHandler()
    sink = sink_factory(mosquitto.port, handler)
    assert sink.wait_connected(10)
    sub = subscriber_factory(mosquitto.port, [f"{BASE}/{name}/state", f"{BASE}/state"])
    sub.wait_for(lambda m: m.topic == f"{BASE}/{name}/state")
    sub.clear()
    _send(mosquitto.port, f"{BASE}/{name}/set", payload)
    echoed = sub.wait_for(lambda m: m.topic == f"{BASE}/{name}/state")
    assert echoed.text == shown
    sub.wait_for(lambda m: m.topic == f"{BASE}/state" and m.json()[name] == value)
    assert getattr(handler.settings(), name) == value
    retained = subscriber_factory(mosquitto.port, [f"{BASE}/{name}/state"])
    assert retained.wait_for(lambda m: m.retain).text == shown


def test_roast_start_reaches_the_handler(
    mosquitto: Mosquitto, sink_factory: Any, subscriber_factory: Any
) -> None:
    handler = FakeHandler()
    sink = sink_factory(mosquitto.port, handler)
    assert sink.wait_connected(10)
    sub = subscriber_factory(mosquitto.port, [f"{BASE}/state"])
    _send(mosquitto.port, f"{BASE}/roast/set", b"start")
    sub.wait_for(lambda m: m.json()["phase"] == "armed")
    assert handler.roast_commands == ["start"]


def test_corrections_reach_the_handler_through_the_broker(
    mosquitto: Mosquitto, sink_factory: Any, subscriber_factory: Any
) -> None:
    """What Home Assistant's "First crack now" and "False alarm" buttons send."""
    handler = FakeHandler()
    sink = sink_factory(mosquitto.port, handler)
    assert sink.wait_connected(10)
    for payload in (b"first_crack_now", b"false_alarm"):
        _send(mosquitto.port, f"{BASE}/roast/set", payload)
    deadline = time.monotonic() + 10
    while len(handler.roast_commands) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert handler.roast_commands == ["first_crack_now", "false_alarm"]


# Every third malformed payload, plus each setting at least once, through the broker.
BROKER_SUBSET = MALFORMED[::3] + [MALFORMED[-1], MALFORMED[-4]]


@pytest.mark.parametrize(("name", "payload", "word"), BROKER_SUBSET)
def test_malformed_set_is_reported_and_state_snaps_back(
    mosquitto: Mosquitto,
    sink_factory: Any,
    subscriber_factory: Any,
    name: str,
    payload: bytes,
    word: str,
) -> None:
    handler = FakeHandler()
    sink = sink_factory(mosquitto.port, handler)
    assert sink.wait_connected(10)
    sub = subscriber_factory(mosquitto.port, [f"{BASE}/error", f"{BASE}/{name}/state"])
    old = sub.wait_for(lambda m: m.topic == f"{BASE}/{name}/state").text
    sub.clear()
    _send(mosquitto.port, f"{BASE}/{name}/set", payload)
    error = sub.wait_for(lambda m: m.topic == f"{BASE}/error")
    body = error.json()
    assert set(body) == {"topic", "payload", "error"}
    assert body["topic"] == f"{BASE}/{name}/set"
    assert word.lower() in body["error"].lower()
    assert len(body["payload"]) <= 101
    assert not error.retain
    snapped = sub.wait_for(lambda m: m.topic == f"{BASE}/{name}/state")
    assert snapped.text == old
    assert handler.settings() == FakeHandler().settings()
    assert sink.connected


def test_unknown_setting_and_retained_roast_are_errors(
    mosquitto: Mosquitto, sink_factory: Any, subscriber_factory: Any
) -> None:
    # A retained `start` left on the broker would restart the roast on every reconnect.
    _send(mosquitto.port, f"{BASE}/roast/set", b"start", retain=True)
    sub = subscriber_factory(mosquitto.port, ["#"])
    handler = FakeHandler()
    sink = sink_factory(mosquitto.port, handler)
    assert sink.wait_connected(10)
    sub.wait_for(lambda m: m.topic == f"{BASE}/error" and "retained" in m.text)
    _send(mosquitto.port, f"{BASE}/roast/set", b"", retain=True)  # clear it
    _send(mosquitto.port, f"{BASE}/window_s/set", b"10")
    sub.wait_for(lambda m: m.topic == f"{BASE}/error" and "unknown setting" in m.text)
    _send(mosquitto.port, f"{BASE}/roast/set", b"\xff\xfe")
    bad = sub.wait_for(lambda m: m.topic == f"{BASE}/error" and "UTF-8" in m.text).json()
    assert bad["payload"] == repr(b"\xff\xfe")
    assert handler.roast_commands == []
    published = {m.topic for m in sub.messages if m.topic.startswith(BASE)}
    ours = {"error", "state", "availability"} | {f"{n}/state" for n in RUNTIME_SETTING_NAMES}
    allowed = {f"{BASE}/{t}" for t in ours}
    assert published - allowed <= {
        f"{BASE}/window_s/set",
        f"{BASE}/min_positive/set",
        f"{BASE}/roast/set",
    }
    assert sink.connected


def test_telemetry_is_qos0_and_counted_when_dropped(
    mosquitto: Mosquitto, sink_factory: Any, subscriber_factory: Any
) -> None:
    sink = sink_factory(mosquitto.port)
    assert sink.wait_connected(10)
    sub = subscriber_factory(mosquitto.port, [f"{BASE}/telemetry"])
    sink.telemetry(_telemetry())
    got = sub.wait_for(lambda m: True)
    assert not got.retain and got.json()["probability"] == 0.25
    assert sink.dropped_telemetry == 0
    mosquitto.stop()
    assert _wait_false(lambda: sink.connected)
    sink.telemetry(_telemetry())
    sink.telemetry(_telemetry())
    assert sink.dropped_telemetry == 2


def test_event_payload_keeps_its_event_id(
    mosquitto: Mosquitto, sink_factory: Any, subscriber_factory: Any
) -> None:
    sink = sink_factory(mosquitto.port)
    assert sink.wait_connected(10)
    sub = subscriber_factory(mosquitto.port, [f"{BASE}/event"])
    sink.event(make_event(7))
    assert sink.flush(10)
    got = sub.wait_for(lambda m: True)
    assert not got.retain and got.qos == 1
    assert json.loads(got.payload)["event_id"] == "evt-0007"
    assert json.loads(got.payload)["event_type"] == "first_crack"


def _wait_false(predicate: Any, timeout: float = 10.0) -> bool:
    """Poll `predicate` until it is false; False if it never became false."""
    end = time.monotonic() + timeout
    while predicate():
        if time.monotonic() > end:
            return False
        threading.Event().wait(0.02)
    return True


def test_discovery_carries_the_package_version_by_default(
    mosquitto: Mosquitto, sink_factory: Any, subscriber_factory: Any
) -> None:
    """agent/live/app.py gives no sw_version: the device shows the installed version."""
    sub = subscriber_factory(mosquitto.port, ["homeassistant/#"])
    sink_factory(mosquitto.port, sw_version="")
    got = sub.wait_for(lambda m: m.topic.endswith("/source_reopens/config"))
    assert got.json()["device"]["sw_version"] == importlib.metadata.version("firstcrack-agent")


def test_a_roast_command_with_an_id_is_applied_once(
    mosquitto: Mosquitto, sink_factory: Any
) -> None:
    """QoS 1 may deliver a message twice: a JSON command with an `id` is applied once;
    plain text keeps working (and, carrying no id, is applied each time)."""
    handler = FakeHandler()
    sink = sink_factory(mosquitto.port, handler)
    assert sink.wait_connected(10)
    once = b'{"action": "start", "id": "charge-2026-12-06T07:40"}'
    for payload in (once, once, b"drop", b'{"action": "DROP"}', once):
        _send(mosquitto.port, f"{BASE}/roast/set", payload)
    deadline = time.monotonic() + 10
    while len(handler.roast_commands) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a repeat, had it been applied, would have arrived by now
    assert handler.roast_commands == ["start", "drop", "drop"]
