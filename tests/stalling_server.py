"""A tiny HTTP server for what pytest-httpserver cannot do: answer late, or send a body one byte at a time.

pytest-httpserver serves one request at a time and writes each answer whole; a client timing out on a stalled
answer needs a server that keeps accepting while an earlier answer is still held back.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StallingServer:
    """Serves ``body`` as JSON on every GET. The first ``stall_first`` answers (or all, with ``stall_first=None``)
    wait ``stall_seconds`` before their headers; with ``trickle_seconds`` the body goes out one byte at a time.
    ``.arrivals`` counts the requests received."""

    def __init__(self, body: Any, *, stall_first: int | None = 0, stall_seconds: float = 0.0,
                 trickle_seconds: float = 0.0) -> None:
        self.payload = json.dumps(body).encode()
        self.stall_first, self.stall_seconds, self.trickle_seconds = stall_first, stall_seconds, trickle_seconds
        self.arrivals = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.base_url = ""

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.arrivals += 1
            number = self.arrivals
        if self.stall_first is None or number <= self.stall_first:
            time.sleep(self.stall_seconds)
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(self.payload)))
            handler.end_headers()
            if not self.trickle_seconds:
                handler.wfile.write(self.payload)
                return
            for i in range(len(self.payload)):
                handler.wfile.write(self.payload[i:i + 1])
                handler.wfile.flush()
                time.sleep(self.trickle_seconds)
        except OSError:  # the client gave up on purpose
            handler.close_connection = True

    def __enter__(self) -> "StallingServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                owner._answer(self)

            def log_message(self, format, *args):  # noqa: A002
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # clients time out on purpose

        self._server = Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
