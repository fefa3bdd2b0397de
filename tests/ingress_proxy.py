"""A stand-in for Home Assistant's ingress proxy: serves an upstream under a path prefix.

Requests to `/api/hassio_ingress/<token>/<rest>` go to `upstream/<rest>` with the
`X-Ingress-Path` header set to the prefix, as the Supervisor's proxy does; responses come
back as they arrive, so server-sent events stream through.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class IngressProxy:
    def __init__(self, upstream_port: int, token: str = "f1rstcrack") -> None:
        self.prefix = f"/api/hassio_ingress/{token}"
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                self._forward("GET", None)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                self._forward("POST", self.rfile.read(length))

            def _forward(self, method: str, body: bytes | None) -> None:
                if not self.path.startswith(proxy.prefix + "/"):
                    self.send_error(404)
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                headers["X-Ingress-Path"] = proxy.prefix
                headers["X-Forwarded-Host"] = self.headers.get("Host", "")
                upstream.request(method, self.path[len(proxy.prefix):], body=body,
                                 headers=headers)
                reply = upstream.getresponse()
                self.send_response(reply.status)
                streaming = reply.getheader("Content-Type", "").startswith("text/event-stream")
                for key, value in reply.getheaders():
                    if key.lower() not in HOP_HEADERS:
                        self.send_header(key, value)
                if streaming:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    try:
                        while line := reply.readline():
                            self.wfile.write(line)
                            self.wfile.flush()
                    except OSError:
                        pass
                    self.close_connection = True
                else:
                    data = reply.read()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                upstream.close()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.prefix}/"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
