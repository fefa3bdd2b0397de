"""The Artisan bridge: a WebSocket server that Artisan's WebSocket device polls.

Artisan (https://artisan-scope.org) connects to `ws://<host>:<port><path>` and
asks for data every sampling interval; the bridge answers with the latest
first-crack probability and a 0/1 first-crack flag, under configurable node
names, and pushes `addEvent` FCs/FCe when the agent confirms first crack and
decides it has ended. CHARGE/DROP from Artisan's button actions start and end
the roast. The message shapes are in `agent/artisan/protocol.py`.

Threads: the server runs on its own asyncio loop in a background thread. The
runtime calls the Sink methods from the inference thread; they only update a
small cache under a lock, or hand a push to the loop with
`call_soon_threadsafe`. Poll answers come from that cache, so they never wait
on inference. Roast commands run in the loop's executor, so a slow sink (the
MQTT outbox writes to disk) cannot delay other clients' polls.

Errors: a port that cannot be bound raises `ArtisanError` from `start()`. A
malformed message from a client is logged and ignored; it never closes the
server or another client's connection.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from firstcrack.agent.artisan.protocol import (
    FCE_EVENT,
    FCS_EVENT,
    MAX_MESSAGE_BYTES,
    SCS_EVENT,
    Incoming,
    ProtocolError,
    add_event,
    answer,
    parse_frame,
)
from firstcrack.agent.config import ArtisanConfig
from firstcrack.agent.core.crack_end import EVENT_TYPE as FIRST_CRACK_END
from firstcrack.agent.core.messages import FirstCrackEvent, RoastState, Telemetry
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.models.contracts import UserError

log = logging.getLogger("firstcrack.artisan")

START_TIMEOUT_S = 10.0
_SHOWN_CHARS = 100


class ArtisanError(UserError):
    """The bridge cannot serve (e.g. the configured port is taken); the message names it."""


class ArtisanBridge:
    """A Sink that serves Artisan's WebSocket device protocol.

    config: the validated `artisan:` section.
    roast_command: submits a roast command to the runtime's queue (non-blocking),
        called with "start" on Artisan's charge command, "drop" on its drop
        command, and the corrections "first_crack_now" / "false_alarm" on
        `artisan.first_crack_command` / `false_alarm_command` (an FCs button
        action; docs/RECORDINGS.md); None ignores them.
    """

    def __init__(
        self, config: ArtisanConfig, roast_command: Callable[[str], None] | None = None
    ) -> None:
        self._config = config
        self._roast_command = roast_command
        self._lock = threading.Lock()
        self._probability: float | None = None
        self._flag = 0
        self._clients: set[ServerConnection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._port: int | None = None
        self.requests_answered = 0
        self.rejected_messages = 0

    @property
    def url(self) -> str:
        return f"ws://{self._config.host}:{self.port}{self._config.path}"

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._port if self._port is not None else self._config.port

    def wait_listening(self, timeout: float) -> bool:
        """Wait until `start()` (maybe on another thread) has bound the port; False if not."""
        return self._ready.wait(timeout) and self._error is None and self._port is not None

    @property
    def clients(self) -> int:
        """WebSocket clients connected now."""
        return len(self._clients)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Bind and serve in a background thread; raises ArtisanError if it cannot listen."""
        if self._thread is not None:
            return
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="firstcrack-artisan", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise ArtisanError(f"Artisan bridge did not start listening on {self.url}")
        if self._error is not None:
            raise ArtisanError(f"Artisan bridge cannot listen on {self.url}: {self._error}")
        log.info("Artisan WebSocket bridge listening on %s", self.url)

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except Exception as exc:  # noqa: BLE001 - reported through start()/the log
            self._error = exc
            log.exception("Artisan bridge stopped")
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        try:
            server: Server = await serve(
                self._handle,
                self._config.host,
                self._config.port,
                process_request=self._check_path,
                max_size=MAX_MESSAGE_BYTES,
            )
        except OSError as exc:
            self._error = exc
            return
        async with server:
            self._port = int(server.sockets[0].getsockname()[1]) if server.sockets else None
            self._ready.set()
            await self._stopping.wait()

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving (pushes handed over before this still go out first)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        stopping = self._stopping
        if stopping is not None:
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # loop already closed
                pass
        thread.join(timeout)
        self._thread = None

    # ----------------------------------------------------------- Sink API

    def telemetry(self, t: Telemetry) -> None:
        with self._lock:
            self._probability = t.probability

    def event(self, e: FirstCrackEvent) -> None:
        if e.event_type == FIRST_CRACK_END:
            self._push(add_event(FCE_EVENT))
            return
        if e.event_type == "second_crack":  # SCs; no SCe: the agent does not decide one
            self._push(add_event(SCS_EVENT))
            return
        if e.event_type == "false_alarm":  # Artisan has no "unmark": the flag drops to 0
            with self._lock:
                self._flag = 0
            return
        with self._lock:
            self._flag = 1
        self._push(add_event(FCS_EVENT))

    def state(self, s: RoastState) -> None:
        with self._lock:
            self._flag = 1 if s.first_crack else 0

    def publish_settings(self, s: RuntimeSettings) -> None:
        return None

    # ------------------------------------------------------------ serving

    def data(self) -> dict[str, float | int]:
        """The `data` object of a poll answer (no probability node before the first window)."""
        cfg = self._config
        with self._lock:
            values: dict[str, float | int] = {cfg.flag_node: self._flag}
            if self._probability is not None:
                values[cfg.probability_node] = round(self._probability, 4)
        return values

    def _push(self, message: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._broadcast, message)
        except RuntimeError:  # closed between the check and the call
            pass

    def _broadcast(self, message: str) -> None:
        log.info("push to %d Artisan client(s): %s", len(self._clients), message)
        broadcast(self._clients, message)

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0].rstrip("/") or "/"
        expected = self._config.path.rstrip("/") or "/"
        if path == expected:
            return None
        log.warning("WebSocket client asked for %s; the bridge serves %s", path, expected)
        return connection.respond(HTTPStatus.NOT_FOUND, f"serving {expected}\n")

    async def _handle(self, connection: ServerConnection) -> None:
        peer = _peer(connection)
        self._clients.add(connection)
        log.info("Artisan client %s connected", peer)
        try:
            async for frame in connection:
                for item in parse_frame(frame):
                    if isinstance(item, ProtocolError):
                        self._reject(peer, frame, item)
                    else:
                        await self._dispatch(connection, item)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(connection)
            log.info("Artisan client %s disconnected", peer)

    async def _dispatch(self, connection: ServerConnection, item: Incoming) -> None:
        command = self._config.roast_commands().get(item.name)
        if command is not None and self._roast_command is not None:
            log.info("Artisan sent %s: roast %s", item.name, command)
            self._roast_command(command)  # only queued; the scoring thread applies it
        if item.request_id is None:
            return  # a push: Artisan-style pushes get no answer
        # Every request with an id gets the data: Artisan's per-channel "Request" may
        # name any command, and a `read(...)` button action waits for an answer.
        await connection.send(answer(item.request_id, self.data()))
        self.requests_answered += 1

    def _reject(self, peer: str, frame: str | bytes, error: ProtocolError) -> None:
        self.rejected_messages += 1
        shown = frame[:_SHOWN_CHARS] if isinstance(frame, str) else repr(frame[:_SHOWN_CHARS])
        log.warning("ignoring a message from Artisan client %s (%s): %r", peer, error, shown)


def _peer(connection: ServerConnection) -> str:
    address: Any = connection.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)

