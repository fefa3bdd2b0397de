"""The Artisan WebSocket bridge, tested with a client that plays Artisan's side of wsport.py.

Rules protected: getData requests are answered with the same id and the configured data
nodes, from cached values; FCs/FCe go out as `addEvent` pushes without an id, once each,
to every client; Artisan's CHARGE/DROP commands start and end the roast; malformed input
is ignored without closing anything; a wrong path or a taken port is a clear error.
End to end: a simulated roast through `Agent` (real mosquitto, scripted scorer following
the simulator's truth) gives exactly one FCs and one FCe, consistent with ground truth.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from firstcrack.agent.artisan.bridge import ArtisanBridge, ArtisanError
from firstcrack.agent.artisan.protocol import FCE_EVENT, FCS_EVENT
from firstcrack.agent.config import ArtisanConfig, load_config
from firstcrack.agent.core.crack_end import FirstCrackEndEvent
from firstcrack.agent.core.messages import FalseAlarmEvent, FirstCrackEvent, RoastState, Telemetry
from firstcrack.agent.live.app import Agent, AgentParts
from firstcrack.agent.sources import FileSource
from firstcrack.models.sim.simulator import draw_timeline
from tests.mqtt_fixtures import (  # noqa: F401 - fixtures
    Mosquitto,
    Subscriber,
    free_port,
    mosquitto,
    subscriber_factory,
)

WAIT_S = 10.0
POLL_S = 0.2
SR = 16000


# ------------------------------------------------------------------ Artisan's side


@dataclass
class ArtisanClient:
    """Artisan's WebSocket device: requests with random-looking ids, replies matched by id."""

    ws: ClientConnection
    next_id: int = 100
    pending: dict[Any, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    pushes: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    async def reader(self) -> None:
        async for frame in self.ws:
            for line in str(frame).strip().split("\n"):
                msg = json.loads(line)
                if "id" in msg:  # wsport: any message with an id is an answer
                    future = self.pending.pop(msg["id"], None)
                    if future is not None and not future.done():
                        future.set_result(msg)
                elif "pushMessage" in msg:
                    self.pushes.append((time.time(), msg))
                else:
                    self.other.append(line)

    async def request(self, command: str, timeout: float = WAIT_S) -> dict[str, Any]:
        self.next_id += 7
        request_id = self.next_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        started = time.monotonic()
        await self.ws.send(json.dumps({"command": command, "id": request_id, "roasterID": 0}))
        reply = await asyncio.wait_for(future, timeout)
        self.latencies.append(time.monotonic() - started)
        assert reply["id"] == request_id
        return reply

    def events(self) -> list[str]:
        return [m["data"]["event"] for _, m in self.pushes if m["pushMessage"] == "addEvent"]


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def run_client(url: str, script: Callable[[ArtisanClient], Any], clients: int = 1) -> Any:
    """Connect `clients` Artisan clients, run `script(client, ...)`, return its result."""

    async def main() -> Any:
        sockets = [await connect(url, compression="deflate") for _ in range(clients)]
        artisans = [ArtisanClient(ws) for ws in sockets]
        readers = [asyncio.create_task(a.reader()) for a in artisans]
        try:
            return await script(*artisans)
        finally:
            for ws in sockets:
                await ws.close()
            await asyncio.gather(*readers, return_exceptions=True)

    return asyncio.run(main())


# ------------------------------------------------------------------ bridge-level tests


@pytest.fixture
def bridge_factory():  # type: ignore[no-untyped-def]
    made: list[ArtisanBridge] = []

    def make(roast: Callable[[str], None] | None = None, **config: Any) -> ArtisanBridge:
        bridge = ArtisanBridge(ArtisanConfig(host="127.0.0.1", port=free_port(), **config), roast)
        bridge.start()
        made.append(bridge)
        return bridge

    yield make
    for bridge in made:
        bridge.close(2.0)


def _url(bridge: ArtisanBridge, path: str = "/WebSocket") -> str:
    return f"ws://127.0.0.1:{bridge.port}{path}"


def _telemetry(p: float) -> Telemetry:
    return Telemetry("2026-01-01T00:00:00.000Z", 1.0, 1.0, p, 0.6, -20.0, 1.0, "armed")


def _state(first_crack: bool) -> RoastState:
    phase = "first_crack" if first_crack else "armed"
    return RoastState(phase, first_crack, None, None, None, 1.0, {})


def test_get_data_answers_same_id_with_configured_nodes(bridge_factory: Any) -> None:
    bridge = bridge_factory(probability_node="p1", flag_node="fcflag")

    async def script(a: ArtisanClient) -> None:
        first = await a.request("getData")
        assert first["data"] == {"fcflag": 0}  # no window yet: Artisan reads the node as -1
        bridge.telemetry(_telemetry(0.4321))
        assert (await a.request("getData"))["data"] == {"fcflag": 0, "p1": 0.4321}
        # a per-channel "Request" name is answered with the same data
        assert (await a.request("getFC"))["data"]["p1"] == 0.4321
        bridge.state(_state(True))
        assert (await a.request("getData"))["data"]["fcflag"] == 1
        bridge.state(_state(False))
        assert (await a.request("getData"))["data"]["fcflag"] == 0

    run_client(_url(bridge), script)
    assert bridge.requests_answered == 5


def test_pushes_reach_every_client_once_without_id(bridge_factory: Any) -> None:
    bridge = bridge_factory()
    fc = FirstCrackEvent("e1", "t", "t", 1.0, 1.0, 1.0, 1.0, 0.9, 5, "m")
    end = FirstCrackEndEvent("e2", "t", "t", 1.0, 1.0, 1.0, 1.0, 0.1, 0, "m", end_ts="t")

    async def script(a: ArtisanClient, b: ArtisanClient) -> None:
        await wait_until(lambda: bridge.clients == 2, WAIT_S, "two clients")
        bridge.event(fc)
        bridge.event(end)
        for client in (a, b):
            await wait_until(lambda c=client: len(c.pushes) == 2, WAIT_S, "two pushes")
            assert client.events() == [FCS_EVENT, FCE_EVENT]
            assert all("id" not in m for _, m in client.pushes)
        assert (await a.request("getData"))["data"]["fc"] == 1

    run_client(_url(bridge), script, clients=2)


def test_charge_and_drop_commands_and_pushes_drive_the_roast(bridge_factory: Any) -> None:
    commands: list[str] = []
    bridge = bridge_factory(commands.append)

    async def script(a: ArtisanClient) -> None:
        # a "WebSocket Command" button action: send({"command": "startRoasting"})
        await a.request("startRoasting")
        assert commands == ["start"]
        # the push form is accepted too, and gets no answer
        await a.ws.send(json.dumps({"pushMessage": "endRoasting"}))
        await wait_until(lambda: commands == ["start", "drop"], WAIT_S, "drop")

    run_client(_url(bridge), script)


def test_malformed_messages_are_ignored_and_the_connection_survives(bridge_factory: Any) -> None:
    commands: list[str] = []
    bridge = bridge_factory(commands.append)

    async def script(a: ArtisanClient) -> None:
        for junk in ("not json", "[1, 2]", '{"id": [1], "command": "getData"}', '{"id": 3}',
                     '{"command": 5, "id": 4}', '{"pushMessage": "startRoasting', "{}"):
            await a.ws.send(junk)
        await a.ws.send(b"\xff\xfe\x00")
        await a.ws.send(json.dumps({"pushMessage": "setBurnerCapacity", "data": {"b": 5}}))
        # two requests in one frame, as wsport's reader splits on newlines
        futures = [asyncio.get_running_loop().create_future() for _ in range(2)]
        a.pending[1], a.pending[2] = futures
        await a.ws.send('{"command":"getData","id":1}\n{"command":"getData","id":2}\n')
        assert [(await f)["id"] for f in futures] == [1, 2]
        await a.request("getData")

    run_client(_url(bridge), script)
    assert bridge.rejected_messages == 8
    assert commands == [] and bridge.requests_answered == 3


def test_wrong_path_is_refused_and_a_taken_port_is_an_error(bridge_factory: Any) -> None:
    bridge = bridge_factory()

    async def attempt() -> None:
        async with connect(_url(bridge, "/other")):
            pass

    with pytest.raises(InvalidStatus):
        asyncio.run(attempt())
    clash = ArtisanBridge(ArtisanConfig(host="127.0.0.1", port=bridge.port))
    with pytest.raises(ArtisanError, match=f"127.0.0.1:{bridge.port}"):
        clash.start()


# ------------------------------------------------------------------ end to end


class MarkerScorer:
    """A stand-in model that follows the truth: p=0.9 when at least half the window is crack.

    The synthetic roast carries a +0.5 offset during the true first crack, so the score
    depends only on the audio in the window (dropped windows cannot shift it in time).
    """

    name = "truth-marker"

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        share = (windows > 0.25).mean(axis=1)
        return np.where(share >= 0.5, 0.9, 0.05).astype(np.float32)


def _synthetic_roast(path: Path, seed: int = 1) -> tuple[float, float]:
    truth = draw_timeline(seed, duration_s=300)
    onset, end = float(truth.first_crack_onset_s), float(truth.first_crack_end_s)
    duration = max(truth.duration, end + 80.0)
    audio = 0.02 * np.random.default_rng(seed).standard_normal(int(duration * SR))
    audio[int(onset * SR) : int(end * SR)] += 0.5
    sf.write(path, audio.astype(np.float32), SR, subtype="FLOAT")
    return onset, end


def _iso_epoch(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def test_simulated_roast_gives_one_fcs_and_one_fce_at_true_times(
    mosquitto: Mosquitto,  # noqa: F811
    subscriber_factory: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    onset, end = _synthetic_roast(tmp_path / "roast.wav")
    sub: Subscriber = subscriber_factory(mosquitto.port, ["firstcrack/roaster1/event"])
    config = load_config(
        environ={},
        overrides={
            "state_dir": str(tmp_path / "state"),
            "detector": {"auto_arm": False},
            "mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "reconnect_min_s": 0.05},
            "artisan": {"enabled": True, "host": "127.0.0.1", "port": free_port()},
            "controller": {"end_quiet_s": 30.0},
        },
    )
    source = FileSource(tmp_path / "roast.wav", speed=30.0)
    agent = Agent(AgentParts(config, source, MarkerScorer(), []))
    assert agent.artisan is not None
    runner = threading.Thread(target=agent.run, kwargs={"install_signals": False}, daemon=True)
    runner.start()
    try:
        assert agent.artisan.wait_listening(WAIT_S)

        async def artisan(a: ArtisanClient) -> ArtisanClient:
            await a.request("startRoasting")  # CHARGE button action
            polls_after_end = 0
            while polls_after_end < 5:  # a few more polls: nothing else may be pushed
                assert runner.is_alive(), "the roast ended before first crack ended"
                await a.request("getData")
                await asyncio.sleep(POLL_S)
                polls_after_end += FCE_EVENT in a.events()
            await a.request("endRoasting")  # DROP button action
            return a

        client: ArtisanClient = run_client(agent.artisan.url, artisan)
    finally:
        agent.stop()
        runner.join(WAIT_S)
    assert not runner.is_alive()

    assert client.events() == [FCS_EVENT, FCE_EVENT]
    # Poll answers never wait on inference: each came back within one poll interval
    # (Artisan gives up after 0.5 s by default; 1 s keeps this a conformance bound).
    assert len(client.latencies) > 20 and max(client.latencies) < 1.0

    events = {m.json()["event_type"]: m.json() for m in sub.wait_for_count(lambda m: True, 2)}
    fc, fce = events["first_crack"], events["first_crack_end"]
    tolerance = config.detector.window_s / 2 + config.detector.hop_s
    assert fc["onset_audio_s"] == pytest.approx(onset, abs=tolerance)
    assert fce["end_audio_s"] == pytest.approx(end, abs=tolerance)
    # Each push left when the agent decided, with the MQTT event's timestamp.
    fcs_at, fce_at = (t for t, m in client.pushes if m["pushMessage"] == "addEvent")
    assert 0.0 <= fcs_at - _iso_epoch(fc["ts"]) < 1.0
    assert 0.0 <= fce_at - _iso_epoch(fce["ts"]) < 1.0

    state = agent.runtime.snapshot().to_payload()
    assert state["phase"] == "idle" and state["first_crack"]  # DROP came from Artisan
    assert state["first_crack_end_roast_s"] is not None
    assert state["development_ratio"] == pytest.approx(
        state["development_s"] / state["roast_s"], abs=1e-3
    )


def test_fcs_and_false_alarm_button_actions_are_corrections(bridge_factory: Any) -> None:
    """Artisan's FCs pressed by hand (a button action) and a "false alarm" button."""
    commands: list[str] = []
    bridge = bridge_factory(commands.append)
    fc = FirstCrackEvent("e1", "t", "t", 1.0, 1.0, 1.0, 1.0, 0.9, 5, "m")
    withdrawn = FalseAlarmEvent("e2", "t", "t", 2.0, 1.0, 2.0, 1.0, 0.9, 5, "m", retracts="e1")

    async def script(a: ArtisanClient) -> None:
        await a.request("firstCrack")  # send({"command": "firstCrack"}) on the FCs button
        await a.request("falseAlarm")
        assert commands == ["first_crack_now", "false_alarm"]
        bridge.event(fc)
        assert (await a.request("getData"))["data"]["fc"] == 1
        bridge.event(withdrawn)  # the flag drops; no push (Artisan cannot unmark FCs)
        assert (await a.request("getData"))["data"]["fc"] == 0
        await asyncio.sleep(0.2)
        assert a.events() == [FCS_EVENT]

    run_client(_url(bridge), script)


def test_artisan_command_names_must_differ() -> None:
    with pytest.raises(ValueError, match="first_crack_command and false_alarm_command"):
        ArtisanConfig(first_crack_command="x", false_alarm_command="x")
