"""Fan-out of live messages to browser clients: never waits on a client.

The scoring thread publishes; each connected client has a bounded queue that its own
HTTP thread drains. A client whose queue is full (a slow or dead browser) is dropped at
once, so a client can never slow scoring down or make the agent hold memory for it.
"""

from __future__ import annotations

import queue
import threading

CLIENT_QUEUE = 512
"""Messages a client may fall behind by before it is dropped (minutes of telemetry)."""


class Client:
    """One browser's stream. `get` returns None once the client was dropped."""

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue(CLIENT_QUEUE)
        self.dropped = False

    def offer(self, message: bytes) -> bool:
        """Queue `message` without waiting; False (and dropped) when the client is behind."""
        if self.dropped:
            return False
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self.dropped = True
            return False
        return True

    def get(self, timeout: float) -> bytes | None:
        """The next message, b"" on timeout (a keep-alive is due), None once dropped."""
        if self.dropped:
            return None
        try:
            return self._queue.get(timeout=timeout) or b""
        except queue.Empty:
            return None if self.dropped else b""


class Hub:
    """The connected clients; `publish` is called from the scoring thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: list[Client] = []
        self.dropped = 0

    def subscribe(self) -> Client:
        client = Client()
        with self._lock:
            self._clients.append(client)
        return client

    def unsubscribe(self, client: Client) -> None:
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)

    def publish(self, message: bytes) -> None:
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            if not client.offer(message):
                self.dropped += 1
                self.unsubscribe(client)

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._clients)
