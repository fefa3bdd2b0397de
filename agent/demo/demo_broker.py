"""An in-process MQTT broker for `firstcrack demo` (no mosquitto, no network beyond loopback).

amqtt runs on its own asyncio loop in a daemon thread, so the rest of the agent
stays synchronous and talks to it through an ordinary paho client.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from firstcrack.models.extras import require

require("demo")  # names the extra to install instead of a bare ModuleNotFoundError
from amqtt.broker import Broker  # noqa: E402 - after the check above

log = logging.getLogger("firstcrack.broker")


class BrokerError(Exception):
    """The in-process broker could not start (e.g. the port is taken)."""


class InProcessBroker:
    """`start()` returns the bound port (use port=0 for a free one); `stop()` shuts it down."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Broker | None = None

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            # Anonymous only, and no $SYS publisher: a demo broker on loopback.
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }

    def start(self, timeout: float = 10.0) -> int:
        """Start the broker thread; returns the actual port. Raises BrokerError on failure."""
        if self._thread is not None:
            return self.port
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        async def boot() -> None:
            broker = Broker(self._config(), loop=loop)
            await broker.start()
            self._broker = broker

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(boot())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller of start()
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="firstcrack-broker", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise BrokerError(f"in-process broker did not start within {timeout:.0f} s")
        if failure or self._broker is None:
            self._thread.join(timeout=1.0)
            self._thread = None
            reason = failure[0] if failure else "unknown error"
            raise BrokerError(f"in-process broker on {self.host}:{self.port} failed: {reason}")
        self.port = self._bound_port()
        log.info("in-process MQTT broker listening on %s:%d", self.host, self.port)
        return self.port

    def _bound_port(self) -> int:
        assert self._broker is not None
        server = self._broker._servers["default"]  # noqa: SLF001 - amqtt has no public accessor
        sockets = server.instance.sockets  # type: ignore[union-attr]
        return int(sockets[0].getsockname()[1])

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the broker down and join its thread."""
        loop, thread, broker = self._loop, self._thread, self._broker
        if loop is None or thread is None:
            return
        if broker is not None:
            future = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
            try:
                future.result(timeout)
            except Exception as exc:  # noqa: BLE001 - shutting down anyway
                log.warning("in-process broker shutdown: %s", exc)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = self._broker = None

    def __enter__(self) -> InProcessBroker:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
