"""Commands reach the agent across broker restarts and agent restarts, in order, once, and
never stale (README, "MQTT", "Commands while the agent is away"), against a real mosquitto.

The agent reaches the broker through a `TcpGate`, so each test decides exactly when the
agent is away while the sender talks to the broker directly.
"""

from __future__ import annotations

# Fixtures imported from tests.mqtt_fixtures are re-bound as test arguments.
# ruff: noqa: F811
import logging
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firstcrack.agent.config import ControllerConfig
from firstcrack.agent.core.command_queue import Resync, RoastCommand, SetSetting
from firstcrack.agent.demo.demo_broker import InProcessBroker
from firstcrack.agent.mqtt import connection
from firstcrack.agent.mqtt.controller import ControllerLifecycle
from firstcrack.agent.mqtt.publisher import MqttSink
from tests.agent_process import WAIT_S as AGENT_WAIT_S
from tests.agent_process import AgentProcess
from tests.mqtt_fixtures import (  # noqa: F401
    WAIT_S,
    FakeHandler,
    Mosquitto,
    mosquitto,
    mqtt_config,
    persistent_mosquitto,
    subscriber_factory,
)
from tests.mqtt_fixtures import sink_factory as sink_factory  # noqa: F401
from tests.tcp_gate import TcpGate

pytestmark = pytest.mark.integration
BASE = "firstcrack/roaster1"


@pytest.fixture
def gate_factory() -> Iterator[Callable[[int], TcpGate]]:
    made: list[TcpGate] = []

    def make(target: int) -> TcpGate:
        gate = TcpGate(target)
        made.append(gate)
        return gate

    yield make
    for gate in made:
        gate.stop()


class Sender:
    """What a Home Assistant button or a roaster controller does: QoS 1 publishes, each
    acknowledged by the broker before the next (MQTT 5 when `expiry_s` is used)."""

    def __init__(self, port: int, protocol: Any = mqtt.MQTTv311) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=protocol)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, topic: str, payload: str | bytes, expiry_s: int | None = None) -> None:
        properties = None
        if expiry_s is not None:
            properties = Properties(PacketTypes.PUBLISH)
            properties.MessageExpiryInterval = expiry_s
        info = self.client.publish(topic, payload, qos=1, properties=properties)
        info.wait_for_publish(WAIT_S)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def applied(handler: FakeHandler) -> list[Any]:
    """The commands the runtime got, without the resyncs that connects and rejections add."""
    return [c for c in handler.commands if not isinstance(c, Resync)]


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_burst_sent_before_the_agent_reconnects_after_a_broker_restart_is_applied_in_order(
    persistent_mosquitto: Mosquitto,
    sink_factory: Any,
    subscriber_factory: Any,
    gate_factory: Callable[[int], TcpGate],
) -> None:
    broker = persistent_mosquitto
    gate = gate_factory(broker.port)
    handler = FakeHandler()
    sink = sink_factory(gate.port, handler)
    assert sink.wait_connected(WAIT_S)
    errors = subscriber_factory(broker.port, [f"{BASE}/error"])

    gate.close()  # the agent stays away until the burst is in the broker
    broker.stop()
    broker.start()
    wait_until(lambda: not sink.connected, "the agent to notice the restart")
    sender = Sender(broker.port)
    burst: list[tuple[str, str]] = [
        (f"{BASE}/threshold/set", "0.61"),
        (f"{BASE}/roast/set", '{"action": "start", "id": "charge-1"}'),
        (f"{BASE}/threshold/set", "abc"),
        (f"{BASE}/confirm_s/set", "12"),
        (f"{BASE}/roast/set", "drop"),
        (f"{BASE}/roast/set", '{"action": "start", "id": "charge-1"}'),  # redelivered
        (f"{BASE}/threshold/set", "0.63"),
    ]
    for topic, payload in burst:
        sender.send(topic, payload)
    sender.close()
    assert not sink.connected  # so the broker held the whole burst for the agent
    gate.open()

    expected = [
        SetSetting("threshold", 0.61),
        RoastCommand("start"),
        SetSetting("confirm_s", 12.0),
        RoastCommand("drop"),
        SetSetting("threshold", 0.63),
    ]
    wait_until(lambda: len(applied(handler)) >= len(expected), "the burst to be applied")
    time.sleep(0.3)  # a duplicate would come right behind
    assert applied(handler) == expected
    error = errors.wait_for(lambda m: True).json()
    assert error["topic"] == f"{BASE}/threshold/set" and error["payload"] == "abc"
    assert "age_s" not in error  # invalid, not stale: held only a moment


def test_a_command_held_longer_than_the_limit_is_refused_with_its_age(
    mosquitto: Mosquitto,
    sink_factory: Any,
    subscriber_factory: Any,
    gate_factory: Callable[[int], TcpGate],
) -> None:
    gate = gate_factory(mosquitto.port)
    handler = FakeHandler()
    sink = sink_factory(gate.port, handler, command_max_age_s=1.0)
    assert sink.wait_connected(WAIT_S)
    errors = subscriber_factory(mosquitto.port, [f"{BASE}/error"])

    gate.close()
    wait_until(lambda: not sink.connected, "the agent to be away")
    time.sleep(1.5)  # away longer than command_max_age_s
    sender = Sender(mosquitto.port)
    sender.send(f"{BASE}/threshold/set", "0.7")
    sender.send(f"{BASE}/roast/set", "first_crack_now")
    expiring = Sender(mosquitto.port, protocol=mqtt.MQTTv5)
    expiring.send(f"{BASE}/confirm_s/set", "9", expiry_s=30)  # its sender vouches for it
    expiring.close()
    assert not sink.connected
    gate.open()

    refused = errors.wait_for_count(lambda m: True, 2)
    bodies = [m.json() for m in refused]
    assert [b["payload"] for b in bodies] == ["0.7", "first_crack_now"]
    for body in bodies:
        assert body["age_s"] >= 1.5 and body["max_age_s"] == 1.0, body
        assert "stale" in body["error"] and "command_max_age_s" in body["error"]
    wait_until(lambda: SetSetting("confirm_s", 9.0) in applied(handler), "the expiring command")
    # After the held stretch, commands are live again.
    sender.send(f"{BASE}/threshold/set", "0.9")
    sender.close()
    wait_until(lambda: SetSetting("threshold", 0.9) in applied(handler), "a live command")
    assert applied(handler) == [SetSetting("confirm_s", 9.0), SetSetting("threshold", 0.9)]


def test_the_agent_restarted_within_the_session_expiry_gets_what_was_sent_meanwhile(
    mosquitto: Mosquitto, subscriber_factory: Any, tmp_path: Path
) -> None:
    sub = subscriber_factory(mosquitto.port, [f"{BASE}/#"])
    args = ("--source", "sim:3:900", "--speed", "1")
    first = AgentProcess(mosquitto.port, tmp_path, *args)
    sub.wait_for(lambda m: m.topic == f"{BASE}/availability" and m.text == "online",
                 AGENT_WAIT_S)
    first.kill(signal.SIGTERM)
    assert first.proc.returncode == 0, first.stderr()
    sub.wait_for(lambda m: m.topic == f"{BASE}/availability" and m.text == "offline")

    sender = Sender(mosquitto.port)
    sender.send(f"{BASE}/threshold/set", "0.77")
    sender.send(f"{BASE}/roast/set", '{"action": "start", "id": "restart-charge"}')
    sender.close()
    sub.clear()
    second = AgentProcess(mosquitto.port, tmp_path, *args)
    try:
        sub.wait_for(lambda m: m.topic == f"{BASE}/threshold/state" and m.text == "0.77",
                     AGENT_WAIT_S)
        wait_until(lambda: "remote roast command: start (id restart-charge)"
                   in "".join(second.log_lines), "the held roast command")
        assert "session resumed after" in "".join(second.log_lines)
    finally:
        second.kill(signal.SIGTERM)
    assert second.proc.returncode == 0, second.stderr()
    assert not sub.on(f"{BASE}/error")


def test_a_broker_that_speaks_only_311_gets_a_persistent_311_session(
    sink_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """amqtt (the demo's broker) speaks only 3.1.1, and does not even answer an MQTT 5
    CONNECT that carries a last will; the agent gives up waiting and falls back."""
    monkeypatch.setattr(connection, "CONNACK_TIMEOUT_S", 1.0)
    broker = InProcessBroker()
    port = broker.start()
    try:
        handler = FakeHandler()
        with caplog.at_level(logging.INFO, logger="firstcrack.mqtt"):
            sink = sink_factory(port, handler)
            assert sink.wait_connected(WAIT_S)
        assert "using MQTT 3.1.1 until the agent restarts" in caplog.text
        assert "clean_session=False" in caplog.text
        assert "(MQTT 3.1.1, new session)" in caplog.text
        sender = Sender(port)
        sender.send(f"{BASE}/threshold/set", "0.66")
        sender.close()
        wait_until(lambda: SetSetting("threshold", 0.66) in applied(handler), "the command")
        sink.close(timeout=2.0)  # before the broker: amqtt's stop waits on live clients
    finally:
        broker.stop()


def test_session_expiry_zero_asks_for_a_clean_session(
    mosquitto: Mosquitto, sink_factory: Any, gate_factory: Callable[[int], TcpGate],
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = gate_factory(mosquitto.port)
    handler = FakeHandler()
    with caplog.at_level(logging.INFO, logger="firstcrack.mqtt"):
        sink = sink_factory(gate.port, handler, session_expiry_s=0)
        assert sink.wait_connected(WAIT_S)
        gate.close()
        wait_until(lambda: not sink.connected, "the agent to be away")
        sender = Sender(mosquitto.port)
        sender.send(f"{BASE}/threshold/set", "0.71")  # nobody holds it
        sender.close()
        gate.open()
        assert sink.wait_connected(WAIT_S)
    assert "session resumed" not in caplog.text
    time.sleep(0.5)
    assert SetSetting("threshold", 0.71) not in applied(handler)


def test_a_controller_charge_held_too_long_is_refused_and_other_traffic_ignored(
    mosquitto: Mosquitto, subscriber_factory: Any, gate_factory: Callable[[int], TcpGate],
    tmp_path: Path,
) -> None:
    gate = gate_factory(mosquitto.port)
    controller = ControllerLifecycle(
        ControllerConfig.model_validate(
            {"charge": {"topic": "roaster/events", "payload": "CHARGE"}}
        ),
        lambda _action: None,
    )
    handler = FakeHandler()
    sink = MqttSink(
        mqtt_config(gate.port, command_max_age_s=1.0),
        "roaster1",
        tmp_path,
        handler,
        extra_subscriptions=controller.subscriptions,
        on_external=controller.on_message,
        external_command=controller.command_for,
    )
    sink.start()
    try:
        assert sink.wait_connected(WAIT_S)
        errors = subscriber_factory(mosquitto.port, [f"{BASE}/error"])
        gate.close()
        wait_until(lambda: not sink.connected, "the agent to be away")
        time.sleep(1.5)
        sender = Sender(mosquitto.port)
        sender.send("roaster/events", "BT=180.5")  # controller telemetry: not a command
        sender.send("roaster/events", "CHARGE")
        gate.open()
        body = errors.wait_for(lambda m: True).json()
        assert body["topic"] == "roaster/events" and body["payload"] == "CHARGE"
        assert body["age_s"] >= 1.5
        assert list(controller.handled) == []
        sender.send("roaster/events", "CHARGE")  # live again: applied
        sender.close()
        wait_until(lambda: list(controller.handled) == ["start"], "the live CHARGE")
        assert len(errors.messages) == 1
    finally:
        sink.close(timeout=2.0)
