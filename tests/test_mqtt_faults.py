"""Faults: broker away at start, broker restarted mid-roast, agent killed while offline.

Rule protected (README, "MQTT"): nothing is lost while the broker is away.
Events and state changes go through the durable outbox and arrive in order,
with their original `event_id`, exactly once in a normal broker restart.

A persistent mosquitto and a persistent-session subscriber are used where the
subscriber must not miss what the agent sends while both are reconnecting.
"""

from __future__ import annotations

# Fixtures imported from tests.mqtt_fixtures are re-bound as test arguments.
# ruff: noqa: F811
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tenacity import RetryCallState, Retrying

from firstcrack.agent.mqtt.backoff import FailureLog, reconnect_wait
from firstcrack.agent.mqtt.connection import ConnectionManager
from tests.mqtt_fixtures import (  # noqa: F401
    FakeHandler,
    Mosquitto,
    Received,
    kill_agent,
    make_event,
    make_state,
    mosquitto,
    persistent_mosquitto,
    sink_factory,
    spawn_agent,
    subscriber_factory,
)

BASE = "firstcrack/roaster1"


def _key(m: Received) -> str:
    body = json.loads(m.payload)
    if m.topic.endswith("/event"):
        return body["event_id"]
    return f"state-{body['seq']}"


def _from_outbox(m: Received) -> bool:
    """Events and numbered state changes as the agent sent them.

    Skipped: the handler's own snapshot (seq 0, never queued) and retained replays,
    which the broker sends again whenever the subscriber (re)subscribes.
    """
    if m.retain or m.topic not in (f"{BASE}/event", f"{BASE}/state"):
        return False
    return _key(m) != "state-0"


def _outbox_messages(sub: Any, count: int) -> list[str]:
    return [_key(m) for m in sub.wait_for_count(_from_outbox, count)]


def test_broker_down_at_start_then_everything_arrives_in_order(
    persistent_mosquitto: Mosquitto, sink_factory: Any, subscriber_factory: Any
) -> None:
    broker = persistent_mosquitto
    sub = subscriber_factory(
        broker.port, [f"{BASE}/event", f"{BASE}/state"], client_id="watcher", clean_session=False
    )
    broker.stop()
    sink = sink_factory(broker.port)  # must not raise with no broker
    sink.event(make_event(0))
    sink.state(make_state("first_crack", 1))
    sink.event(make_event(1))
    sink.state(make_state("idle", 2))
    assert not sink.connected
    assert sink.pending == 4
    broker.start()
    assert sink.wait_connected(15)
    assert sink.flush(15)
    assert _outbox_messages(sub, 4) == ["evt-0000", "state-1", "evt-0001", "state-2"]


def test_broker_restart_mid_roast_delivers_exactly_once(
    persistent_mosquitto: Mosquitto, sink_factory: Any, subscriber_factory: Any
) -> None:
    broker = persistent_mosquitto
    sub = subscriber_factory(
        broker.port, [f"{BASE}/event", f"{BASE}/state"], client_id="watcher", clean_session=False
    )
    # The runtime (here a fake) re-announces its current state on every connect.
    handler = FakeHandler()
    handler.phase, handler.seq = "armed", 1
    sink = sink_factory(broker.port, handler)
    assert sink.wait_connected(10)
    sink.state(make_state("armed", 1))
    assert sink.flush(10)
    sub.wait_for(lambda m: m.topic == f"{BASE}/state" and m.json().get("seq") == 1)
    broker.stop()
    deadline = time.monotonic() + 10
    while sink.connected and time.monotonic() < deadline:
        sink.flush(0.05)  # a bounded wait on the sink's own condition
    assert not sink.connected
    sink.event(make_event(5))
    handler.phase, handler.seq = "first_crack", 2
    sink.state(make_state("first_crack", 2))
    broker.start()
    assert sink.wait_connected(15)
    assert sink.flush(15)
    sink.event(make_event(6))  # a later marker: anything duplicated would arrive before it
    assert sink.flush(10)
    sub.wait_for(lambda m: m.topic == f"{BASE}/event" and m.json()["event_id"] == "evt-0006")
    keys = [_key(m) for m in sub.messages if _from_outbox(m)]
    events = [k for k in keys if k.startswith("evt")]
    assert events == ["evt-0005", "evt-0006"]
    states = [k for k in keys if k.startswith("state")]
    assert states[0] == "state-1" and "state-2" in states
    assert keys.index("evt-0005") < keys.index("state-2")
    fresh = subscriber_factory(broker.port, [f"{BASE}/state"])
    assert fresh.wait_for(lambda m: m.retain).json()["seq"] == 2


def test_agent_killed_while_offline_delivers_after_restart(
    mosquitto: Mosquitto, sink_factory: Any, subscriber_factory: Any, tmp_path: Path
) -> None:
    state_dir = tmp_path / "agent-state"
    mosquitto.stop()
    child = spawn_agent(mosquitto.port, state_dir, "offline-events")
    kill_agent(child)
    mosquitto.start()
    sub = subscriber_factory(mosquitto.port, [f"{BASE}/event"])
    sink = sink_factory(mosquitto.port, state_dir=state_dir)
    assert sink.wait_connected(10)
    assert sink.flush(10)
    got = sub.wait_for_count(lambda m: True, 3)
    assert [m.json()["event_id"] for m in got] == ["evt-0000", "evt-0001", "evt-0002"]
    assert all(m.json()["ts"] == make_event(i).ts for i, m in enumerate(got))


def test_refused_connect_is_not_connected(
    tmp_path: Path, sink_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broker = Mosquitto(tmp_path, anonymous=False)
    broker.start()
    try:
        with caplog.at_level(logging.WARNING, logger="firstcrack.mqtt"):
            sink = sink_factory(broker.port)
            deadline = time.monotonic() + 10
            while "refused" not in caplog.text and time.monotonic() < deadline:
                sink.wait_connected(0.05)
        assert "refused" in caplog.text
        assert not sink.connected
    finally:
        broker.stop()


# ------------------------------------------------- reconnect policy and failure logging


def test_reconnect_waits_grow_with_jitter_and_never_pass_the_cap() -> None:
    """The shipped 0.5..3 s: every wait <= 3 s, so a waiting event is late by at most
    about 3 s whatever the outage; jitter spreads the waits at the cap as well."""
    wait = reconnect_wait(0.5, 3.0)
    samples = [[wait(_attempt(n)) for n in range(1, 40)] for _ in range(30)]
    assert all(0.5 <= s <= 3.0 for run in samples for s in run)
    firsts = [run[0] for run in samples]
    assert max(firsts) <= 1.0
    at_cap = [run[-1] for run in samples]
    assert min(at_cap) >= 2.5 and max(at_cap) - min(at_cap) > 0.05  # jittered, not lockstep
    assert max(reconnect_wait(5.0, 3.0)(_attempt(n)) for n in range(1, 20)) <= 3.0


def _attempt(n: int) -> Any:
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = n
    return state


def test_failure_log_once_then_at_most_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    failures = FailureLog(logging.getLogger("firstcrack.mqtt"), clock=lambda: now[0])
    with caplog.at_level(logging.DEBUG, logger="firstcrack.mqtt"):
        for step in range(130):  # 130 s of one failure every second, another one twice
            now[0] = float(step)
            failures.report("broker x", ConnectionRefusedError("refused"))
            if step in (10, 11):
                failures.report("broker x", ValueError("bad host"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "refused" in w]) == 3  # at 0, 60 and 120 s
    assert len([w for w in warnings if "ValueError: bad host" in w]) == 1
    assert "60 times since the last report" in [w for w in warnings if "refused" in w][1]


class _FlakyClient:
    """Stands in for paho: `connect` raises the queued exceptions, then succeeds."""

    def __init__(self, errors: list[BaseException]) -> None:
        self.errors = errors
        self.manager: ConnectionManager | None = None
        self.connects = 0

    def connect(self, host: str, port: int, keepalive: int, **_options: Any) -> None:
        self.connects += 1
        if self.errors:
            raise self.errors.pop(0)

    def loop_start(self) -> None:
        assert self.manager is not None
        threading.Timer(0.01, self.manager.accepted).start()

    def loop_stop(self) -> None:
        return None

    def disconnect(self) -> None:
        assert self.manager is not None
        self.manager.lost()


def test_connection_never_gives_up_on_any_exception(caplog: pytest.LogCaptureFixture) -> None:
    """Not only OSError: a TLS or hostname problem, or a bug, is retried too."""
    errors: list[BaseException] = [ValueError("bad"), RuntimeError("boom"), ValueError("bad")]
    errors += [ConnectionRefusedError("refused")] * 3
    client = _FlakyClient(errors)
    manager = ConnectionManager(
        lambda _protocol: client, "broker", 1883, 30, 0.01, 0.05  # type: ignore[arg-type,return-value]
    )
    client.manager = manager
    with caplog.at_level(logging.WARNING, logger="firstcrack.mqtt"):
        manager.start()
        deadline = time.monotonic() + 10
        while client.connects < 7 and time.monotonic() < deadline:
            time.sleep(0.01)
        manager.stop(2.0)
    assert client.connects == 7 and manager.stopped
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings  # each distinct failure once
    assert sum("ValueError: bad" in w for w in warnings) == 1
    assert "permanently" not in caplog.text


def test_sink_keeps_retrying_a_host_paho_cannot_even_encode(
    sink_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A 70-character DNS label raises UnicodeError (not OSError) inside paho's connect;
    it used to stop the connector for good ("failed permanently")."""
    with caplog.at_level(logging.WARNING, logger="firstcrack.mqtt"):
        sink = sink_factory(1883, host="a" * 70 + ".invalid", reconnect_max_s=0.1)
        deadline = time.monotonic() + 10
        while sink.connect_attempts < 4 and time.monotonic() < deadline:
            sink.wait_connected(0.05)
    assert sink.connect_attempts >= 4 and not sink.connected
    unicode_warnings = [r for r in caplog.records if "UnicodeError" in r.getMessage()]
    assert len(unicode_warnings) == 1


def test_no_private_paho_attributes() -> None:
    """PUBACKs are tracked through on_publish; nothing reads MQTTMessageInfo internals."""
    package = Path(__file__).resolve().parent.parent / "agent" / "mqtt"
    for path in package.glob("*.py"):
        text = path.read_text()
        assert "SLF001" not in text, path
        assert "._condition" not in text and "._published" not in text, path
