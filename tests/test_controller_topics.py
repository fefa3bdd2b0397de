"""A roaster controller's CHARGE/DROP messages on its own MQTT topics drive the roast lifecycle.

Rules protected: the configured topic/payload (or JSON field) starts and ends the roast;
other payloads and retained messages are ignored; subscriptions survive a broker restart;
roast_s, development_s and development_ratio in `state` are measured from the real CHARGE.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from firstcrack.agent.config import ConfigError, ControllerConfig, load_config
from firstcrack.agent.live.app import Agent, AgentParts
from firstcrack.agent.mqtt.controller import ControllerLifecycle
from tests.mqtt_fixtures import (  # noqa: F401 - fixtures
    WAIT_S,
    Mosquitto,
    Received,
    Subscriber,
    mosquitto,
    subscriber_factory,
)

HOP = 3.0


def lifecycle(**config: Any) -> tuple[ControllerLifecycle, list[str]]:
    ran: list[str] = []
    return ControllerLifecycle(ControllerConfig.model_validate(config), ran.append), ran


def test_plain_payload_matches_trimmed_and_case_insensitive() -> None:
    ctl, ran = lifecycle(
        charge={"topic": "roaster/+/event", "payload": "CHARGE"},
        drop={"topic": "roaster/+/event", "payload": "DROP"},
    )
    assert ctl.subscriptions == ["roaster/+/event"]
    assert ctl.on_message("roaster/a/event", b" charge\n", False) == "start"
    assert ctl.on_message("roaster/a/event", b"FCs", False) is None
    assert ctl.on_message("other/a/event", b"CHARGE", False) is None
    assert ctl.on_message("roaster/a/event", b"Drop", False) == "drop"
    assert ran == ["start", "drop"]


def test_json_field_match_and_junk_is_ignored() -> None:
    ctl, ran = lifecycle(
        charge={"topic": "artisan/events", "payload": "charge", "json_field": "event"},
        drop={"topic": "artisan/events", "payload": "7", "json_field": "code"},
    )
    for junk in (b"CHARGE", b"{not json", b"[1,2]", b'{"event": null}', b"\xff\xfe", b"x" * 9000):
        assert ctl.on_message("artisan/events", junk, False) is None
    assert ctl.on_message("artisan/events", b'{"event": "CHARGE", "t": 1}', False) == "start"
    assert ctl.on_message("artisan/events", b'{"code": 7}', False) == "drop"
    assert ctl.on_message("artisan/events", b'{"code": true}', False) is None
    assert ran == ["start", "drop"]


def test_retained_trigger_is_ignored() -> None:
    ctl, ran = lifecycle(charge={"topic": "c/e", "payload": "CHARGE"})
    assert ctl.on_message("c/e", b"CHARGE", True) is None
    assert ran == [] and ctl.enabled
    assert not lifecycle()[0].enabled


@pytest.mark.parametrize(
    ("controller", "needle"),
    [
        ({"charge": {"topic": "a/#/b", "payload": "x"}}, "controller.charge.topic"),
        ({"charge": {"topic": "a/b+", "payload": "x"}}, "controller.charge.topic"),
        ({"drop": {"topic": "", "payload": "x"}}, "controller.drop.topic"),
        ({"drop": {"topic": "a", "payload": ""}}, "controller.drop.payload"),
        ({"charge": {"topic": "a", "payload": "x"}, "drop": {"topic": "a", "payload": "X "}},
         "controller"),
        ({"end_quiet_s": 1}, "controller.end_quiet_s"),
        ({"charge": {"topic": "a", "payload": "x", "jsonfield": "e"}}, "jsonfield"),
    ],
)
def test_bad_controller_config_names_the_key(controller: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_config(environ={}, overrides={"controller": controller})


class NullScorer:
    name = "null"

    def predict(self, windows: Any) -> Any:  # pragma: no cover - windows are pre-scored here
        raise AssertionError("not used")


def _agent(broker: Mosquitto, tmp_path: Path) -> Agent:
    config = load_config(
        environ={},
        overrides={
            "state_dir": str(tmp_path / "state"),
            # The scripted positives below are counted the published k-of-n way.
            "detector": {"auto_arm": False, "rule": "k_of_n", "min_positive": 5,
                         "confirm_s": 20.0},
            "mqtt": {
                "host": "127.0.0.1",
                "port": broker.port,
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 0.3,
                "keepalive_s": 5,
                "discovery": False,
            },
            "controller": {
                "charge": {"topic": "shop/roaster/events", "payload": "CHARGE"},
                "drop": {"topic": "shop/+/json", "payload": "drop", "json_field": "event"},
            },
        },
    )
    return Agent(AgentParts(config, source=[], scorer=NullScorer(), sinks=[]))


def _state(sub: Subscriber, predicate: Any, agent: Agent) -> dict[str, Any]:
    """Wait for a matching state, applying queued commands as the scoring thread would."""

    def match(m: Received) -> bool:
        return m.topic == "firstcrack/roaster1/state" and predicate(m.json())

    deadline = time.monotonic() + WAIT_S
    while True:
        agent.runtime.apply_pending()
        try:
            return sub.wait_for(match, timeout=0.2).json()
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def _windows(agent: Agent, probs: list[float], start: float) -> float:
    for i, p in enumerate(probs):
        agent.runtime.process_scored(start + HOP * i, p, -20.0, 1.0, silent=False)
    return start + HOP * (len(probs) - 1)


def test_charge_and_drop_over_mqtt_drive_roast_clock_and_dtr(
    mosquitto: Mosquitto,  # noqa: F811
    subscriber_factory: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    sub = subscriber_factory(mosquitto.port, ["firstcrack/roaster1/#"])
    agent = _agent(mosquitto, tmp_path)
    sink = agent.mqtt_sink
    assert sink is not None
    # A retained CHARGE is replayed (retain flag set) when the agent subscribes: ignored.
    sub.client.publish("shop/roaster/events", "CHARGE", qos=1, retain=True).wait_for_publish(5)
    sink.start()
    try:
        online = sub.wait_for(lambda m: m.topic.endswith("/availability") and m.text == "online")
        assert online  # published after the controller subscriptions (same connection, in order)
        _windows(agent, [0.9] * 5, start=10.0)  # before CHARGE: idle, nothing counts
        assert agent.runtime.roast.confirmation is None

        agent.runtime.advance(100.0)
        sub.client.publish("shop/roaster/events", b"", qos=1, retain=True)  # clears it
        sub.client.publish("shop/roaster/events", "FCs", qos=1)  # not a trigger
        sub.client.publish("shop/roaster/events", "CHARGE", qos=1)
        started = _state(sub, lambda s: s["phase"] == "armed", agent)
        assert started["roast_s"] == 0.0
        assert list(agent.controller.handled) == ["start"]

        # first crack: positives from stream 403 s -> onset 398 s = roast 298 s
        _windows(agent, [0.1] * 100 + [0.9] * 6, start=103.0)
        assert agent.runtime.roast.confirmation is not None
        agent.runtime.advance(520.0)
        sub.clear()
        sub.client.publish("shop/x/json", json.dumps({"event": "DROP"}), qos=1)
        dropped = _state(sub, lambda s: s["phase"] == "idle" and s["first_crack"], agent)
        assert dropped["roast_s"] == pytest.approx(420.0)
        assert dropped["development_s"] == pytest.approx(520.0 - 398.0)
        assert dropped["development_ratio"] == pytest.approx((520.0 - 398.0) / 420.0, abs=1e-3)
        assert list(agent.controller.handled) == ["start", "drop"]

        # the broker restarts (subscriptions lost there): the sink subscribes again
        sub.clear()
        mosquitto.stop()
        mosquitto.start()
        sub.wait_for(
            lambda m: m.topic.endswith("/availability") and m.text == "online", WAIT_S * 2
        )
        agent.runtime.advance(600.0)
        sub.client.publish("shop/roaster/events", "charge", qos=1)
        restarted = _state(sub, lambda s: s["phase"] == "armed" and not s["first_crack"], agent)
        assert restarted["development_ratio"] is None
        assert list(agent.controller.handled) == ["start", "drop", "start"]
    finally:
        agent.close(timeout=2.0)
