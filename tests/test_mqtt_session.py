"""Unit tests of the persistent session's bookkeeping: which held commands are too old
(agent/mqtt/session.py), the connect options (agent/mqtt/client.py), and the fallback
to MQTT 3.1.1 (agent/mqtt/connection.py). The real-broker tests are in
tests/test_command_delivery.py."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from firstcrack.agent.config import MqttConfig
from firstcrack.agent.config.errors import ConfigError
from firstcrack.agent.config.loading import load_config
from firstcrack.agent.mqtt import session as session_module
from firstcrack.agent.mqtt.client import connect_options, refuses_protocol
from firstcrack.agent.mqtt.connection import ConnectionManager
from firstcrack.agent.mqtt.session import SESSION_FILE, CommandAges, Held


class Clocks:
    """A monotonic and a wall clock that tests move by hand."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = 1_800_000_000.0

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


def ages(tmp_path: Path, clocks: Clocks, max_age_s: float = 60.0) -> CommandAges:
    return CommandAges(tmp_path, max_age_s, lambda: clocks.mono, lambda: clocks.wall)


def go_away(tracker: CommandAges, clocks: Clocks, seconds: float) -> None:
    """Connected, then the connection is lost for `seconds`."""
    tracker.connected(False)
    tracker.lost()
    clocks.advance(seconds)


def test_a_new_session_holds_nothing(tmp_path: Path) -> None:
    clocks = Clocks()
    tracker = ages(tmp_path, clocks)
    assert tracker.connected(session_present=False) is None
    assert tracker.check(has_expiry=False) is None


def test_held_commands_after_a_short_absence_are_applied(tmp_path: Path) -> None:
    clocks = Clocks()
    tracker = ages(tmp_path, clocks)
    go_away(tracker, clocks, 20)
    token = tracker.connected(session_present=True)
    assert token
    assert tracker.check(has_expiry=False) is None


def test_held_commands_after_a_long_absence_are_refused_until_the_marker(tmp_path: Path) -> None:
    clocks = Clocks()
    tracker = ages(tmp_path, clocks, max_age_s=60)
    go_away(tracker, clocks, 30)
    tracker.lost()  # a failed reconnect: the absence still counts from the first loss
    clocks.advance(45)
    token = tracker.connected(session_present=True)
    assert token is not None
    held = tracker.check(has_expiry=False)
    assert held == Held(75.0, 60.0)
    assert "75.0 s" in held.reason() and "command_max_age_s = 60 s" in held.reason()
    # A sender's own message expiry: the broker vouches for it.
    assert tracker.check(has_expiry=True) is None
    tracker.marker(b"someone else's token")
    assert tracker.check(has_expiry=False) is not None
    tracker.marker(token.encode())
    assert tracker.check(has_expiry=False) is None  # live from here on


def test_a_marker_that_never_returns_ends_the_held_stretch(tmp_path: Path) -> None:
    clocks = Clocks()
    tracker = ages(tmp_path, clocks, max_age_s=1)
    go_away(tracker, clocks, 5)
    tracker.connected(True)
    assert tracker.check(False) is not None
    clocks.advance(session_module.MARKER_WAIT_S + 0.1)
    assert tracker.check(False) is None


def test_a_clean_shutdown_is_remembered_once_across_a_restart(tmp_path: Path) -> None:
    clocks = Clocks()
    first = ages(tmp_path, clocks, max_age_s=60)
    first.connected(False)
    first.closed()  # still connected at shutdown: the absence starts now
    assert json.loads((tmp_path / SESSION_FILE).read_text())["disconnected_at"] == clocks.wall
    clocks.advance(90)
    second = ages(tmp_path, clocks, max_age_s=60)
    assert not (tmp_path / SESSION_FILE).exists()  # used once: a crash leaves no record
    second.connected(True)
    assert second.check(False) == Held(90.0, 60.0)
    clocks.advance(1)
    third = ages(tmp_path, clocks, max_age_s=60)
    third.connected(True, 300.0)  # after a crash: unknown; a 300 s session expiry is too long
    assert third.check(False) == Held(None, 60.0)
    assert "unknown" in Held(None, 60.0).reason()


def test_a_shutdown_while_away_records_when_the_connection_ended(tmp_path: Path) -> None:
    clocks = Clocks()
    first = ages(tmp_path, clocks)
    lost_at = clocks.wall
    go_away(first, clocks, 40)
    first.closed()
    assert json.loads((tmp_path / SESSION_FILE).read_text())["disconnected_at"] == lost_at


def test_unknown_absence_within_a_short_session_expiry_is_applied(tmp_path: Path) -> None:
    clocks = Clocks()
    tracker = ages(tmp_path, clocks, max_age_s=60)
    tracker.connected(True, 30.0)  # the broker drops the session 30 s after the agent left
    assert tracker.check(False) is None
    mqtt311 = ages(tmp_path, clocks, max_age_s=60)
    mqtt311.connected(True, None)
    assert mqtt311.check(False) == Held(None, 60.0)


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"disconnected_at": "yesterday"}'])
def test_a_damaged_session_record_is_ignored_with_a_warning(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / SESSION_FILE).write_text(content)
    clocks = Clocks()
    with caplog.at_level(logging.WARNING, logger="firstcrack.mqtt"):
        tracker = ages(tmp_path, clocks, max_age_s=60)
    assert SESSION_FILE in caplog.text
    tracker.connected(True)
    assert tracker.check(False) == Held(None, 60.0)


def test_a_clock_set_back_makes_the_absence_unknown(tmp_path: Path) -> None:
    clocks = Clocks()
    first = ages(tmp_path, clocks)
    first.connected(False)
    first.closed()
    clocks.wall -= 3600  # a Pi without a real-time clock, before NTP
    second = ages(tmp_path, clocks)
    second.connected(True)
    assert second.check(False) == Held(None, 60.0)


def test_connect_options_per_protocol() -> None:
    v5 = connect_options(mqtt.MQTTv5, 300)
    assert v5["clean_start"] is False and v5["properties"].SessionExpiryInterval == 300
    assert connect_options(mqtt.MQTTv5, 0) == {"clean_start": True}
    assert connect_options(mqtt.MQTTv311, 300) == {}


def test_session_settings_are_validated(tmp_path: Path) -> None:
    def load(text: str) -> Any:
        path = tmp_path / "agent.yaml"
        path.write_text(text)
        return load_config(path, environ={})

    config = MqttConfig(session_expiry_s=0, command_max_age_s=5, protocol=5)  # type: ignore[arg-type]
    assert config.protocol == "5"
    assert load("mqtt:\n  protocol: 3.1.1\n").mqtt.protocol == "3.1.1"
    assert load("mqtt:\n  protocol: 5\n").mqtt.protocol == "5"
    with pytest.raises(ConfigError, match="protocol"):
        load("mqtt:\n  protocol: 4\n")
    with pytest.raises(ConfigError, match="command_max_age_s"):
        load("mqtt:\n  command_max_age_s: 0\n")
    with pytest.raises(ConfigError, match="session_expiry_s"):
        load("mqtt:\n  session_expiry_s: -1\n")


class _RefusingClient:
    """Stands in for paho: the broker answers MQTT 5 with "unsupported protocol version"."""

    def __init__(self, protocol: Any, log: list[str]) -> None:
        self.protocol = protocol
        self.log = log
        self.manager: ConnectionManager | None = None

    def connect(self, host: str, port: int, keepalive: int, **options: Any) -> None:
        self.log.append(f"connect {self.protocol} {sorted(options)}")

    def loop_start(self) -> None:
        manager = self.manager
        assert manager is not None
        if self.protocol == mqtt.MQTTv5:
            manager.refused("Unsupported protocol version", unsupported_protocol=True)
            threading.Timer(0.01, manager.lost).start()
        else:
            threading.Timer(0.01, manager.accepted).start()

    def loop_stop(self) -> None:
        return None

    def disconnect(self) -> None:
        assert self.manager is not None
        self.manager.lost()


def test_a_broker_that_refuses_mqtt5_gets_311_with_the_same_client_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    made: list[_RefusingClient] = []
    replaced: list[bool] = []
    managers: list[ConnectionManager] = []

    def make(protocol: Any) -> Any:
        client = _RefusingClient(protocol, calls)
        client.manager = managers[0] if managers else None
        made.append(client)
        return client

    manager = ConnectionManager(make, "broker", 1883, 30, 0.01, 0.05, session_expiry_s=300,
                                on_client_replaced=lambda: replaced.append(True))
    managers.append(manager)
    made[0].manager = manager
    assert manager.session_bound_s == 300.0  # MQTT 5: the session expiry bounds it
    with caplog.at_level(logging.INFO, logger="firstcrack.mqtt"):
        manager.start()
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        manager.stop(2.0)
    assert calls[0] == f"connect {mqtt.MQTTv5} ['clean_start', 'properties']"
    assert calls[1] == f"connect {mqtt.MQTTv311} []"
    assert manager.protocol == mqtt.MQTTv311 and manager.client is made[1] and replaced == [True]
    assert manager.session_bound_s is None  # MQTT 3.1.1: the broker decides
    assert "does not speak MQTT 5" in caplog.text and "clean_session=False" in caplog.text


def test_refuses_protocol_reads_the_reason_code() -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    assert refuses_protocol(ReasonCode(PacketTypes.CONNACK, "Unsupported protocol version"))
    assert not refuses_protocol(ReasonCode(PacketTypes.CONNACK, "Not authorized"))
