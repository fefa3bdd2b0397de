"""A TCP forwarder a test can shut: the agent reaches the broker through it, so a test
decides exactly when the agent is away, while other clients talk to the broker directly.

`close()` cuts every forwarded connection and refuses new ones (accepted, then closed at
once, as a broker that is not there yet); `open()` lets connections through again.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.mqtt_fixtures import free_port


class TcpGate:
    """Listens on 127.0.0.1:`port` and forwards to 127.0.0.1:`target`."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self._open = True
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stopped = False
        threading.Thread(target=self._accept, name="tcp-gate", daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                inside, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                admitted = self._open
            if not admitted:
                inside.close()
                continue
            try:
                outside = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            except OSError:
                inside.close()
                continue
            outside.settimeout(None)
            with self._lock:
                self._pairs.append((inside, outside))
            for a, b in ((inside, outside), (outside, inside)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Cut every forwarded connection; refuse new ones until `open()`."""
        with self._lock:
            self._open = False
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def open(self) -> None:
        with self._lock:
            self._open = True

    def stop(self) -> None:
        self._stopped = True
        self.close()
        self._listener.close()
