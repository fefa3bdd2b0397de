"""The dashboard's HTTP server: one page, a live stream, and the roast buttons.

Routes, all relative, so the page works under any path prefix (Home Assistant ingress
serves it from `/api/hassio_ingress/<token>/`):

- `GET /` the page; `GET /static/<file>` its script and style, shipped in the package;
- `GET /api/snapshot` every roaster as the page draws it (JSON);
- `GET /api/stream` server-sent events: a `snapshot` first, then a `message` for every
  telemetry, event, state and settings announcement, and a keep-alive comment every
  `KEEPALIVE_S`. A client that falls behind is dropped (agent/dashboard/hub.py);
- `POST /api/command` `{"roaster": ID, "action": ACTION}`: a roast command into that
  roaster's command queue, the same front door as MQTT's `roast/set`. ACTION is one of
  `ACTIONS`. 202 when queued; 400 for an unknown roaster or action.

Who may write:
- bound to loopback (`dashboard.host`), anyone on this machine: no token;
- otherwise the request must carry `dashboard.token` (`Authorization: Bearer TOKEN` or
  `X-Firstcrack-Token`), else 401. A request that Home Assistant's ingress proxy
  forwarded (from `dashboard.ingress_from`, with `X-Ingress-Path`) was authenticated
  by Home Assistant and needs none;
- a browser's cross-origin write is refused (403): its `Origin` must name the host
  the page was served from (`X-Forwarded-Host`, else `Host`).

Reads never carry a secret: the config's password and token are not in any payload.
The page and its assets weigh under 250 KB and load nothing from the network.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from firstcrack.agent.config import DashboardConfig
from firstcrack.agent.core.command_queue import Command, RoastCommand, SetSetting
from firstcrack.agent.dashboard.hub import Hub
from firstcrack.agent.dashboard.roaster_view import RoasterView, sse

log = logging.getLogger("firstcrack.dashboard")

KEEPALIVE_S = 15.0
WRITE_TIMEOUT_S = 10.0
"""A client socket that accepts nothing for this long is closed (a dead browser)."""
MAX_BODY = 1024
ACTIONS: dict[str, Callable[[], Command]] = {
    "first_crack_now": lambda: RoastCommand("first_crack_now", origin="dashboard"),
    "false_alarm": lambda: RoastCommand("false_alarm", origin="dashboard"),
    "start": lambda: RoastCommand("start", origin="dashboard"),
    "drop": lambda: RoastCommand("drop", origin="dashboard"),
    "second_crack_now": lambda: RoastCommand("second_crack_now", origin="dashboard"),
    "second_crack_false_alarm": lambda: RoastCommand("second_crack_false_alarm",
                                                     origin="dashboard"),
    "arm": lambda: SetSetting("armed", True, origin="dashboard"),
    "disarm": lambda: SetSetting("armed", False, origin="dashboard"),
}
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}


@dataclass(frozen=True)
class Roaster:
    """What the server needs of one roaster: its view and its command queue."""

    view: RoasterView
    submit: Callable[[Command], None]


def _asset(name: str) -> bytes:
    return resources.files("firstcrack.agent.dashboard").joinpath("static", name).read_bytes()


class DashboardServer:
    """Serves the dashboard on `config.host:config.port` from a daemon thread."""

    def __init__(self, config: DashboardConfig, hub: Hub, roasters: Sequence[Roaster]) -> None:
        self.config = config
        self.hub = hub
        self.roasters = {r.view.agent_id: r for r in roasters}
        handler = type("Handler", (_Handler,), {"dashboard": self})
        self._http = ThreadingHTTPServer((config.host, config.port), handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="firstcrack-web",
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        host = self.config.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return f"http://{shown}:{self.port}/"

    def start(self) -> None:
        self._thread.start()
        log.info("dashboard on %s", self.url)

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def snapshot(self) -> dict[str, Any]:
        return {"roasters": [r.view.snapshot() for r in self.roasters.values()]}

    def may_write(self, headers: Any, peer: str) -> HTTPStatus | None:
        """None when the request may write, else the status that refuses it."""
        origin = headers.get("Origin")
        if origin:
            served_from = headers.get("X-Forwarded-Host") or headers.get("Host") or ""
            if urlsplit(origin).netloc.lower() != served_from.lower():
                return HTTPStatus.FORBIDDEN
        if self.config.loopback:
            return None
        ingress = self.config.ingress_from
        if ingress is not None and peer == ingress and headers.get("X-Ingress-Path"):
            return None
        token = self.config.token or ""
        given = headers.get("X-Firstcrack-Token") or ""
        auth = headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if token and given and hmac.compare_digest(given.encode(), token.encode()):
            return None
        return HTTPStatus.UNAUTHORIZED


class _Handler(BaseHTTPRequestHandler):
    dashboard: DashboardServer
    protocol_version = "HTTP/1.1"
    server_version = "firstcrack"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("%s %s", self.address_string(), format % args)

    # --- reads ---------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", self._page())
        elif path.startswith("/static/") and path[8:] in STATIC:
            name = path[8:]
            self._send(HTTPStatus.OK, f"{STATIC[name]}; charset=utf-8", _asset(name),
                       cache="max-age=300")
        elif path == "/api/snapshot":
            self._json(HTTPStatus.OK, self.dashboard.snapshot())
        elif path == "/api/stream":
            self._stream()
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})

    def _page(self) -> bytes:
        """index.html, with a `<base>` at the ingress prefix when a proxy gave one."""
        page = _asset("index.html").decode()
        prefix = (self.headers.get("X-Ingress-Path") or "").rstrip("/")
        base = f'<base href="{prefix}/">' if prefix.startswith("/") and '"' not in prefix \
            else ""
        return page.replace("<!--base-->", base).encode()

    def _stream(self) -> None:
        hub = self.dashboard.hub
        client = hub.subscribe()  # before the snapshot: nothing falls in between
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("X-Accel-Buffering", "no")
            self.end_headers()
            self.connection.settimeout(WRITE_TIMEOUT_S)
            self.wfile.write(sse("snapshot", self.dashboard.snapshot()))
            self.wfile.flush()
            while True:
                message = client.get(KEEPALIVE_S)
                if message is None:
                    break  # dropped: it fell behind
                self.wfile.write(message or b": keep-alive\n\n")
                self.wfile.flush()
        except OSError:
            pass  # the browser went away
        finally:
            hub.unsubscribe(client)
            self.close_connection = True

    # --- writes ----------------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        if urlsplit(self.path).path != "/api/command":
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such endpoint"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self.close_connection = True  # what is left of the body is not a request
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"body must be 1-{MAX_BODY} bytes"})
            return
        raw = self.rfile.read(length)  # read even when refused: the connection lives on
        refused = self.dashboard.may_write(self.headers, self.client_address[0])
        if refused is not None:
            why = "a token is required" if refused == HTTPStatus.UNAUTHORIZED \
                else "cross-origin request"
            self._json(refused, {"error": why})
            return
        try:
            body = json.loads(raw)
            roaster = self.dashboard.roasters[str(body["roaster"])]
            command = ACTIONS[str(body["action"])]()
        except (ValueError, KeyError, TypeError) as exc:
            self._json(HTTPStatus.BAD_REQUEST,
                       {"error": f"bad command ({exc}); actions: {', '.join(ACTIONS)}"})
            return
        roaster.submit(command)
        log.info("dashboard: %s for %s", body["action"], roaster.view.agent_id)
        self._json(HTTPStatus.ACCEPTED, {"ok": True})

    # --- plumbing --------------------------------------------------------------------------
    def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(body).encode())

    def _send(self, status: HTTPStatus, kind: str, body: bytes, cache: str = "no-store") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)
