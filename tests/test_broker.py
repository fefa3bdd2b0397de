"""The in-process broker used by `firstcrack demo`.

Rule protected: a plain paho client can publish and subscribe through it,
retained messages included, with no mosquitto installed.
"""

from __future__ import annotations

from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firstcrack.agent.demo.demo_broker import BrokerError, InProcessBroker
from tests.mqtt_fixtures import Subscriber


@pytest.fixture
def broker() -> Iterator[InProcessBroker]:
    b = InProcessBroker(port=0)
    b.start()
    yield b
    b.stop()


def _publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def test_publish_subscribe_and_retained(broker: InProcessBroker) -> None:
    assert broker.port > 0
    pub = _publisher(broker.port)
    try:
        pub.publish("demo/retained", b"kept", qos=1, retain=True).wait_for_publish(5)
        live = Subscriber(broker.port, ["demo/#"])
        try:
            pub.publish("demo/live", b"now", qos=1).wait_for_publish(5)
            got = live.wait_for(lambda m: m.topic == "demo/live")
            assert got.payload == b"now"
        finally:
            live.close()
        late = Subscriber(broker.port, ["demo/retained"])
        try:
            kept = late.wait_for(lambda m: m.topic == "demo/retained")
            assert kept.payload == b"kept" and kept.retain
        finally:
            late.close()
    finally:
        pub.disconnect()
        pub.loop_stop()


def test_a_taken_port_is_a_clear_error(broker: InProcessBroker) -> None:
    with pytest.raises(BrokerError, match=str(broker.port)):
        InProcessBroker(port=broker.port).start()
