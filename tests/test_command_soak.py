"""Soak: the whole agent on roast audio at speed, commands all the while (valid, invalid,
duplicated roast commands, random bytes), and broker restarts; every command the broker
acknowledged must be applied or answered, and memory and file descriptors must stay flat.

The CI run is short (30 s of commands, one restart). The long one (10 minutes, a restart
every 2 minutes) is `scripts/test.sh -m slow -k "soak and long"`; docs/PERFORMANCE.md has
its figures.
"""

from __future__ import annotations

# Fixtures imported from tests.mqtt_fixtures are re-bound as test arguments.
# ruff: noqa: F811
import json
import os
import random
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.agent_process import WAIT_S, AgentProcess
from tests.mqtt_fixtures import Mosquitto, persistent_mosquitto, subscriber_factory  # noqa: F401

pytestmark = pytest.mark.integration
BASE = "firstcrack/roaster1"
TICK_S = 0.1
WARM_UP_S = 10.0
SPEED = 20


@dataclass
class Sent:
    """The commands the broker acknowledged, by kind."""

    thresholds: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    unknown_topics: list[str] = field(default_factory=list)
    roast_ids: list[str] = field(default_factory=list)
    duplicates: int = 0
    random_bytes: int = 0
    unacknowledged: int = 0


class Commander(threading.Thread):
    """Sends one command every TICK_S while connected to the broker, until stopped."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.sent = Sent()
        self.stop = threading.Event()
        self._rng = random.Random(7)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="soak-commander")
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _send(self, topic: str, payload: bytes | str) -> bool:
        info = self.client.publish(topic, payload, qos=1)
        try:
            info.wait_for_publish(5)
        except (RuntimeError, ValueError):
            pass
        if info.is_published():
            return True
        self.sent.unacknowledged += 1  # the broker went away mid-send: not counted
        return False

    def run(self) -> None:
        n = 0
        while not self.stop.wait(TICK_S):
            if not self.client.is_connected():
                continue
            n += 1
            kind = n % 5
            if kind == 0:
                value = f"{0.5 + (n % 400) / 1000:g}"
                if self._send(f"{BASE}/threshold/set", value):
                    self.sent.thresholds.append(value)
            elif kind == 1:
                if self._send(f"{BASE}/threshold/set", f"bad-{n}"):
                    self.sent.invalid.append(f"bad-{n}")
            elif kind == 2:
                action = "start" if n % 10 == 2 else "drop"
                body = json.dumps({"action": action, "id": f"soak-{n}"})
                if self._send(f"{BASE}/roast/set", body):
                    self.sent.roast_ids.append(f"soak-{n}")
                    if self._send(f"{BASE}/roast/set", body):  # a redelivery
                        self.sent.duplicates += 1
            elif kind == 3:
                if self._send(f"{BASE}/min_positive/set", self._rng.randbytes(16)):
                    self.sent.random_bytes += 1
            elif self._send(f"{BASE}/bogus{n}/set", "1"):
                self.sent.unknown_topics.append(f"{BASE}/bogus{n}/set")

    def close(self) -> None:
        self.stop.set()
        self.join(10)
        self.client.disconnect()
        self.client.loop_stop()


def process_figures(pid: int) -> tuple[float, int]:
    """(RSS in MB, open file descriptors) of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+)", status)
    assert found is not None, "the agent is no longer running"
    rss_kb = int(found.group(1))
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def run_soak(broker: Mosquitto, subscriber_factory: Any, state_dir: Path, seconds: float,
             restarts: int) -> dict[str, Any]:
    sub = subscriber_factory(broker.port, [f"{BASE}/error", f"{BASE}/threshold/state",
                                           f"{BASE}/availability"],
                             client_id="soak-watch", clean_session=False)
    audio_s = min(14400, int((seconds + 60) * SPEED))  # outlasts the soak: no end of file
    agent = AgentProcess(broker.port, state_dir, "--source", f"sim:4:{audio_s}", "--speed",
                         str(SPEED))
    try:
        sub.wait_for(lambda m: m.topic == f"{BASE}/availability" and m.text == "online", WAIT_S)
        commander = Commander(broker.port)
        commander.start()
        time.sleep(WARM_UP_S)
        warm = process_figures(agent.proc.pid)
        between = (seconds - WARM_UP_S) / (restarts + 1)
        for _ in range(restarts):
            time.sleep(between)
            broker.stop()
            time.sleep(1.0)
            broker.start()
        time.sleep(between)
        commander.close()
        sent = commander.sent
        answered_by = time.monotonic() + 30
        expected_errors = len(sent.invalid) + len(sent.unknown_topics) + sent.random_bytes
        while len(sub.on(f"{BASE}/error")) < expected_errors and time.monotonic() < answered_by:
            time.sleep(0.2)
        time.sleep(1.0)
        end = process_figures(agent.proc.pid)
    finally:
        agent.kill(signal.SIGTERM)
    errors = [m.json() for m in sub.on(f"{BASE}/error")]
    thresholds = [m.text for m in sub.on(f"{BASE}/threshold/state")]
    log = "".join(agent.log_lines)
    applied_ids = re.findall(r"remote roast command: \w+ \(id (soak-\d+)\)", log)
    return {
        "exit": agent.proc.returncode, "sent": sent, "errors": errors, "thresholds": thresholds,
        "applied_ids": applied_ids, "ignored": log.count("already applied; ignored"),
        "rss_mb": (warm[0], end[0]), "fds": (warm[1], end[1]), "log": log[-3000:],
    }


def summary(result: dict[str, Any]) -> str:
    sent: Sent = result["sent"]
    return (f"soak: {len(sent.thresholds)} valid /set, {len(sent.invalid)} invalid, "
            f"{len(sent.roast_ids)} roast ids (+{sent.duplicates} repeats), {sent.random_bytes} "
            f"random, {len(sent.unknown_topics)} unknown topics, {sent.unacknowledged} unacked; "
            f"{len(result['errors'])} errors answered; "
            f"RSS {result['rss_mb'][0]:.1f} -> {result['rss_mb'][1]:.1f} MB, "
            f"fds {result['fds'][0]} -> {result['fds'][1]}")


def check(result: dict[str, Any]) -> None:
    sent: Sent = result["sent"]
    assert result["exit"] == 0, result["log"]
    assert len(sent.thresholds) > 20 and len(sent.invalid) > 20, sent
    shown = [e["payload"] for e in result["errors"]]
    assert not set(sent.invalid) - set(shown), "invalid commands never answered"
    assert not set(sent.unknown_topics) - {e["topic"] for e in result["errors"]}
    random_answers = [e for e in result["errors"] if e["topic"] == f"{BASE}/min_positive/set"]
    assert len(random_answers) >= sent.random_bytes
    assert not [e for e in result["errors"] if "stale" in e["error"]], "a short outage is fresh"
    assert not set(sent.thresholds) - set(result["thresholds"]), "valid commands not applied"
    assert sorted(result["applied_ids"]) == sorted(sent.roast_ids), "each roast id once"
    assert result["ignored"] >= sent.duplicates
    warm_rss, end_rss = result["rss_mb"]
    assert end_rss - warm_rss < 40, result["rss_mb"]
    warm_fds, end_fds = result["fds"]
    assert end_fds - warm_fds <= 2, result["fds"]


@pytest.mark.parametrize(
    ("seconds", "restarts"),
    [
        pytest.param(30.0, 1, id="short"),
        pytest.param(600.0, 4, id="long", marks=[pytest.mark.slow, pytest.mark.timeout(1200)]),
    ],
)
def test_soak_every_command_answered_across_broker_restarts(
    persistent_mosquitto: Mosquitto, subscriber_factory: Any, tmp_path: Path, seconds: float,
    restarts: int,
) -> None:
    result = run_soak(persistent_mosquitto, subscriber_factory, tmp_path, seconds, restarts)
    print(summary(result))
    check(result)
