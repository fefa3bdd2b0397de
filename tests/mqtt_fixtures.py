"""Real-broker fixtures for the MQTT tests: mosquitto on a free loopback port, a recording
subscriber, a fake CommandHandler, and a subprocess entry point for kill tests.

Import the fixtures with `from tests.mqtt_fixtures import mosquitto, ...  # noqa: F401`.
Run as `python -m tests.mqtt_fixtures PORT STATE_DIR MODE` to host a sink in a child
process that a test can SIGKILL.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firstcrack.agent.config import MqttConfig
from firstcrack.agent.core.command_queue import Command, RoastCommand, SetSetting
from firstcrack.agent.core.messages import FirstCrackEvent, RoastState
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.agent.mqtt.publisher import MqttSink

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
WAIT_S = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _poll(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


class Mosquitto:
    """A real mosquitto on 127.0.0.1:`port`; `stop()`/`start()` keep the same port.

    persistent: keep sessions and queued QoS 1 messages across a restart (written on
    SIGTERM), so a persistent subscriber cannot miss what was sent while it reconnected.
    """

    def __init__(self, workdir: Path, persistent: bool = False, anonymous: bool = True) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        allow = "true" if anonymous else "false"
        lines = [f"listener {self.port} 127.0.0.1", f"allow_anonymous {allow}"]
        if os.geteuid() == 0:
            # As root mosquitto drops to user `mosquitto`, which cannot write our tmp dir.
            lines.append("user root")
        if persistent:
            lines += ["persistence true", f"persistence_location {workdir}/"]
        else:
            lines += ["persistence false"]
        self.conf.write_text("\n".join(lines) + "\n")
        self.log = workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf)], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + WAIT_S
        while not _accepts(self.port):
            if self._proc.poll() is not None:
                raise AssertionError(
                    f"mosquitto exited with {self._proc.returncode}: {self.log.read_text()[-2000:]}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"mosquitto did not accept on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        _poll(lambda: not _accepts(self.port), WAIT_S, "mosquitto to stop listening")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running, non-persistent mosquitto, stopped after the test."""
    broker = Mosquitto(_subdir(tmp_path, "broker"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def persistent_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """Like `mosquitto`, but sessions and queued messages survive a restart."""
    broker = Mosquitto(_subdir(tmp_path, "pbroker"), persistent=True)
    broker.start()
    yield broker
    broker.stop()


def _subdir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir(exist_ok=True)
    return path


@dataclass(frozen=True)
class Received:
    """One message as the subscriber got it; `dup`: the broker re-delivered it (a QoS 1
    re-send to this subscriber after, e.g., a broker restart), `at`: monotonic arrival."""

    topic: str
    payload: bytes
    retain: bool
    qos: int
    dup: bool = False
    at: float = 0.0

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A paho client that records every message on `topics` (reconnects by itself).

    client_id + clean_session=False make a persistent session (with a persistent broker).
    """

    def __init__(
        self, port: int, topics: list[str], client_id: str = "", clean_session: bool = True
    ) -> None:
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._topics = topics
        self._connected = False
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session
        )
        self.client.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.wait_connected()

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        with self._cond:
            self._connected = False  # until the broker acknowledges the subscription
        client.subscribe([(t, 1) for t in self._topics])

    def _on_subscribe(self, *_: Any) -> None:
        with self._cond:
            self._connected = True
            self._cond.notify_all()

    def _on_disconnect(self, *_: Any) -> None:
        with self._cond:
            self._connected = False

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(
                Received(
                    msg.topic,
                    bytes(msg.payload),
                    msg.retain,
                    msg.qos,
                    bool(msg.dup),
                    time.monotonic(),
                )
            )
            self._cond.notify_all()

    def wait_connected(self, timeout: float = WAIT_S) -> None:
        """Wait until connected and the broker has acknowledged the subscriptions (SUBACK)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._connected, timeout):
                raise AssertionError("subscriber could not connect and subscribe")

    def on(self, topic: str) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = WAIT_S) -> Received:
        """The first recorded message matching `predicate`, waiting for it if needed."""
        return self.wait_for_count(predicate, 1, timeout)[0]

    def wait_for_count(
        self, predicate: Callable[[Received], bool], count: int, timeout: float = WAIT_S
    ) -> list[Received]:
        def matching() -> list[Received]:
            return [m for m in self.messages if predicate(m)]

        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout):
                seen = [(m.topic, m.payload[:80]) for m in self.messages[-15:]]
                raise AssertionError(f"timed out waiting for {count} messages; last seen: {seen}")
            return matching()

    def clear(self) -> None:
        with self._cond:
            self.messages = []

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish_once(port: int, topic: str, payload: bytes, retain: bool = False) -> None:
    """Publish one QoS 1 message from a throwaway client (what a UI's button press does)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def subscriber_factory() -> Iterator[Callable[..., Subscriber]]:
    """Builds subscribers and closes them after the test."""
    made: list[Subscriber] = []

    def make(port: int, topics: list[str], **kwargs: Any) -> Subscriber:
        sub = Subscriber(port, topics, **kwargs)
        made.append(sub)
        return sub

    yield make
    for sub in made:
        sub.close()


class FakeHandler:
    """A stand-in for the runtime: applies each submitted command at once and, like the
    runtime, announces the settings and state to `sinks`."""

    def __init__(self, settings: RuntimeSettings | None = None) -> None:
        self.sinks: list[MqttSink] = []
        self._lock = threading.Lock()
        self._settings = settings or RuntimeSettings()
        self.roast_commands: list[str] = []
        self.commands: list[Command] = []  # every submitted command, in order
        self.phase = "idle"
        self.seq = 0  # the `seq` of the state a Resync announces (tests that push states)

    def submit(self, command: Command) -> None:
        with self._lock:
            self.commands.append(command)
            if isinstance(command, SetSetting):
                self._settings = dataclasses.replace(
                    self._settings, **{command.name: command.value}
                )
            elif isinstance(command, RoastCommand):
                self.roast_commands.append(command.action)
                self.phase = {"start": "armed", "drop": "idle", "reset": "idle"}.get(
                    command.action, self.phase
                )
        for sink in self.sinks:
            sink.publish_settings(self.settings())
            sink.state(self.snapshot())

    def snapshot(self) -> RoastState:
        with self._lock:
            return make_state(self.phase, self.seq, settings=self._settings)

    def settings(self) -> RuntimeSettings:
        with self._lock:
            return self._settings


def make_state(
    phase: str = "idle", seq: int = 0, settings: RuntimeSettings | None = None
) -> RoastState:
    """A RoastState whose `seq` extra lets tests check order."""
    return RoastState(
        phase=phase,
        first_crack=phase == "first_crack",
        first_crack_ts=None,
        roast_started_ts=None,
        development_s=None,
        roast_s=float(seq),
        settings=(settings or RuntimeSettings()).runtime_values(),
        extra={"seq": seq},
    )


def make_event(n: int) -> FirstCrackEvent:
    return FirstCrackEvent(
        event_id=f"evt-{n:04d}",
        ts=f"2026-01-01T00:00:{n % 60:02d}.000Z",
        onset_ts="2026-01-01T00:00:00.000Z",
        roast_s=500.0 + n,
        onset_roast_s=490.0,
        audio_s=500.0 + n,
        onset_audio_s=490.0,
        probability=0.9,
        positive_windows=5,
        model="test",
    )


def mqtt_config(port: int, **overrides: Any) -> MqttConfig:
    """Short reconnect waits and a 1 s close grace so fault tests stay fast
    (tests/test_mqtt_restart.py uses the shipped defaults instead)."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.3,
        "keepalive_s": 5,
        "flush_grace_s": 1.0,
    }
    values.update(overrides)
    return MqttConfig(**values)


@pytest.fixture
def sink_factory(tmp_path: Path) -> Iterator[Callable[..., MqttSink]]:
    """Builds started sinks (default state_dir tmp/state) and closes them after the test."""
    made: list[MqttSink] = []

    def make(
        port: int,
        handler: FakeHandler | None = None,
        state_dir: Path | None = None,
        agent_id: str = "roaster1",
        sw_version: str = "0.0.1",
        **config: Any,
    ) -> MqttSink:
        """`config` overrides `mqtt_config`; `sw_version=""` means the package's version."""
        handler = handler or FakeHandler()
        sink = MqttSink(
            mqtt_config(port, **config),
            agent_id,
            state_dir or tmp_path / "state",
            handler,
            model_name="test-model",
            sw_version=sw_version,
        )
        handler.sinks.append(sink)
        sink.start()
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.close(timeout=2.0)


def spawn_agent(port: int, state_dir: Path, mode: str) -> subprocess.Popen[str]:
    """Run `main()` below in a child process; it prints READY when its work is done."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.mqtt_fixtures", str(port), str(state_dir), mode],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = _readline(proc, WAIT_S * 2)
    if line.strip() != "READY":
        proc.kill()
        raise AssertionError(f"agent child said {line!r}; stderr: {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
    return proc


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


def kill_agent(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=WAIT_S)


def main(argv: list[str]) -> int:
    """Child process: `connected` waits for the broker; `offline-events` queues 3 events."""
    port, state_dir, mode = int(argv[0]), Path(argv[1]), argv[2]
    sink = MqttSink(mqtt_config(port), "roaster1", state_dir, FakeHandler())
    sink.start()
    if mode == "connected":
        if not sink.wait_connected(WAIT_S):
            print("NOT CONNECTED", flush=True)
            return 1
    elif mode == "offline-events":
        for n in range(3):
            sink.event(make_event(n))  # durable once event() returns
    else:
        print(f"unknown mode {mode}", flush=True)
        return 2
    print("READY", flush=True)
    threading.Event().wait()  # until SIGKILL
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
