"""The dashboard's server over real HTTP (no browser): pages, the live stream, the buttons,
and who may press them. tests/test_dashboard_browser.py drives it in Chromium."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from firstcrack.agent.config import AgentConfig, ConfigError, load_config
from firstcrack.agent.core.command_queue import RoastCommand, SetSetting
from firstcrack.agent.dashboard.hub import CLIENT_QUEUE, Hub
from firstcrack.agent.live.app import Agent, AgentParts, serve_dashboard
from firstcrack.agent.sources.base import SourceStats
from tests.fakes import loud, score_window

STATIC = Path(__file__).resolve().parent.parent / "agent" / "dashboard" / "static"
TOKEN = "a-token-of-twenty-chars"


class Quiet:
    name = "quiet"

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        return np.full(len(windows), 0.2, np.float32)


class Stats:
    def stats(self) -> SourceStats:
        return SourceStats(overruns=0, reopens=0, dropped_blocks=0)


def _agent(tmp_path: Path, **dashboard: Any) -> tuple[Agent, Any]:
    config = AgentConfig.model_validate({
        "state_dir": str(tmp_path), "mqtt": {"enabled": False},
        "dashboard": {"port": 0, **dashboard}})
    hub = Hub()
    agent = Agent(AgentParts(config, Stats(), Quiet(), []), mqtt=False, dashboard=hub)
    server = serve_dashboard(config.dashboard, hub, [agent])
    assert server is not None
    return agent, server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Agent, Any]]:
    agent, server = _agent(tmp_path)
    yield agent, server
    server.close()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> int:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url + "api/command", data=data, method="POST",
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_page_and_its_assets_are_served_and_small(served: tuple[Agent, Any]) -> None:
    _, server = served
    status, page = _get(server.url)
    assert status == 200
    for contract in (b'id="phase"', b'id="probability"', b'id="development"',
                     b"data-roaster", b'src="static/app.js"'):
        assert contract in page
    assert _get(server.url + "static/app.js")[0] == 200
    assert _get(server.url + "static/app.css")[0] == 200
    assert _get(server.url + "static/../server.py")[0] == 404
    weight = sum(p.stat().st_size for p in STATIC.iterdir())
    assert weight <= 250 * 1024, weight
    for asset in STATIC.iterdir():  # nothing from the network: no absolute URL at all
        assert b"http://" not in asset.read_bytes().replace(b"http://www.w3.org", b"")
        assert b"https://" not in asset.read_bytes()


def test_under_an_ingress_prefix_the_page_gets_its_base(served: tuple[Agent, Any]) -> None:
    _, server = served
    _, page = _get(server.url, {"X-Ingress-Path": "/api/hassio_ingress/abc123"})
    assert b'<base href="/api/hassio_ingress/abc123/">' in page
    _, plain = _get(server.url)
    assert b"<base" not in plain


def test_the_snapshot_holds_the_roast_so_far(served: tuple[Agent, Any]) -> None:
    agent, server = served
    agent.start_sinks()
    for i in range(5):
        score_window(agent.runtime, 10.0 + 3 * i, loud(160000))
    status, body = _get(server.url + "api/snapshot")
    assert status == 200
    [roaster] = json.loads(body)["roasters"]
    assert roaster["id"] == "roaster1"
    assert [round(p[1], 1) for p in roaster["points"]] == [0.2] * 5
    assert roaster["state"]["phase"] == "armed"
    assert roaster["markers"] == [{"kind": "charge", "roast_s": 0.0}]
    assert roaster["connections"] == {"mqtt": "off"}


def test_the_stream_starts_with_a_snapshot_then_pushes_each_window(
        served: tuple[Agent, Any]) -> None:
    agent, server = served
    with urllib.request.urlopen(server.url + "api/stream", timeout=10) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        assert stream.readline() == b"event: snapshot\n"
        assert json.loads(stream.readline()[6:])["roasters"][0]["id"] == "roaster1"
        stream.readline()
        score_window(agent.runtime, 10.0, loud(160000))
        assert stream.readline() == b"event: message\n"
        message = json.loads(stream.readline()[6:])
        assert message["kind"] == "telemetry" and message["payload"]["probability"] == 0.2


def test_a_button_goes_into_the_roasters_command_queue(served: tuple[Agent, Any]) -> None:
    agent, server = served
    assert _post(server.url, {"roaster": "roaster1", "action": "first_crack_now"}) == 202
    assert _post(server.url, {"roaster": "roaster1", "action": "disarm"}) == 202
    assert agent.runtime.commands.drain() == [
        RoastCommand("first_crack_now", origin="dashboard"),
        SetSetting("armed", False, origin="dashboard")]
    assert _post(server.url, {"roaster": "roaster1", "action": "explode"}) == 400
    assert _post(server.url, {"roaster": "nobody", "action": "start"}) == 400
    assert agent.runtime.commands.drain() == []


def test_a_cross_origin_write_is_refused(served: tuple[Agent, Any]) -> None:
    agent, server = served
    evil = {"Origin": "http://evil.example"}
    assert _post(server.url, {"roaster": "roaster1", "action": "drop"}, evil) == 403
    same = {"Origin": server.url.rstrip("/")}
    assert _post(server.url, {"roaster": "roaster1", "action": "drop"}, same) == 202
    assert agent.runtime.commands.drain() == [RoastCommand("drop", origin="dashboard")]


def test_off_loopback_a_write_needs_the_token(tmp_path: Path) -> None:
    agent, server = _agent(tmp_path, host="0.0.0.0", token=TOKEN)
    try:
        press = {"roaster": "roaster1", "action": "start"}
        assert _post(server.url, press) == 401
        assert _post(server.url, press, {"Authorization": "Bearer wrong-token-of-20-chars"}) == 401
        assert _post(server.url, press, {"Authorization": f"Bearer {TOKEN}"}) == 202
        assert _post(server.url, press, {"X-Firstcrack-Token": TOKEN}) == 202
        assert len(agent.runtime.commands.drain()) == 2
        for path in ("", "api/snapshot"):
            status, body = _get(server.url + path)
            assert status == 200 and TOKEN.encode() not in body
    finally:
        server.close()


def test_off_loopback_without_a_token_the_agent_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match="dashboard.*token"):
        load_config(environ={"FIRSTCRACK_DASHBOARD__HOST": "0.0.0.0"})
    load_config(environ={"FIRSTCRACK_DASHBOARD__HOST": "0.0.0.0",
                         "FIRSTCRACK_DASHBOARD__ENABLED": "false"})  # off: nothing served


def test_a_busy_port_leaves_the_agent_running_without_a_dashboard(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = AgentConfig.model_validate({"state_dir": str(tmp_path),
                                             "mqtt": {"enabled": False},
                                             "dashboard": {"port": port}})
        hub = Hub()
        agent = Agent(AgentParts(config, Stats(), Quiet(), []), mqtt=False, dashboard=hub)
        assert serve_dashboard(config.dashboard, hub, [agent]) is None
    assert "dashboard.port" in caplog.text


def test_a_slow_client_is_dropped_and_never_waited_on() -> None:
    hub = Hub()
    slow, fast = hub.subscribe(), hub.subscribe()
    for i in range(CLIENT_QUEUE + 10):
        hub.publish(b"m%d" % i)
        assert fast.get(0.0)  # this one keeps up
    assert slow.dropped and not fast.dropped
    assert hub.clients == 1 and hub.dropped == 1
    assert slow.get(0.0) is None  # its thread ends


def test_a_refused_write_leaves_the_connection_usable(tmp_path: Path) -> None:
    """Keep-alive: the refused request's body is read, so the next request on the same
    connection is parsed as a request (a browser reuses it)."""
    import http.client

    agent, server = _agent(tmp_path, host="0.0.0.0", token=TOKEN)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        body = json.dumps({"roaster": "roaster1", "action": "start"})
        connection.request("POST", "/api/command", body=body,
                           headers={"Content-Type": "application/json"})
        first = connection.getresponse()
        first.read()
        connection.request("POST", "/api/command", body=body,
                           headers={"Content-Type": "application/json",
                                    "Authorization": f"Bearer {TOKEN}"})
        second = connection.getresponse()
        second.read()
        assert (first.status, second.status) == (401, 202)
        assert [c.action for c in agent.runtime.commands.drain()] == ["start"]
    finally:
        server.close()
