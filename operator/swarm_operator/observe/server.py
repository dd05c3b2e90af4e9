"""The daemon's HTTP endpoints on ``--metrics-addr`` (stdlib ``ThreadingHTTPServer``).

Owns routing and serialisation only: ``/metrics`` is the prometheus_client exposition of
the injected registry, ``/healthz`` answers 200 while the worker loop's heartbeat is
recent, ``/readyz`` 200 once connected to a manager with quorum and a full sync since connecting
is done, ``/status`` the JSON document of :meth:`StatusBoard.snapshot`; ``POST /sync[?wait=1]``
(from a loopback address only) asks the daemon for a fetch and a full pass now
(``swarm-operator sync``) through the injected ``on_sync``. The state comes from
`observe.status`; nothing here talks to Docker.

The default address is ``127.0.0.1:9786`` (loopback only: expose it deliberately).
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from swarm_operator.observe import parse_addr
from swarm_operator.observe.status import StatusBoard

SyncHandler = Callable[[bool, float], tuple[bool, dict[str, Any]]]
"""``on_sync(wait, timeout)`` -> (done in time, the JSON result)."""
MAX_SYNC_TIMEOUT = 3600.0


class _Handler(BaseHTTPRequestHandler):
    server: OperatorHTTPServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        board = self.server.board
        if path == "/metrics":
            self._send(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            alive, age = board.alive()
            text = f"{'ok' if alive else 'stalled'}: worker heartbeat {age:.1f}s ago\n"
            self._send(200 if alive else 503, text.encode(), "text/plain; charset=utf-8")
        elif path == "/readyz":
            ready, why = board.ready()
            self._send(200 if ready else 503, f"{why}\n".encode(), "text/plain; charset=utf-8")
        elif path == "/status":
            doc = json.dumps(board.snapshot(), indent=2, sort_keys=True).encode()
            self._send(200, doc + b"\n", "application/json")
        elif path == "/":
            self._send(
                200,
                b"swarm-operator: /metrics /healthz /readyz /status, POST /sync\n",
                "text/plain",
            )
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def do_POST(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 4096))
        on_sync = self.server.on_sync
        if path != "/sync" or on_sync is None:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")
            return
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            self._send(403, b"POST /sync is accepted from loopback only\n", "text/plain")
            return
        params = dict(p.partition("=")[::2] for p in query.split("&") if p)
        wait = params.get("wait") in ("1", "true")
        try:
            timeout = min(max(float(params.get("timeout") or 300), 1.0), MAX_SYNC_TIMEOUT)
        except ValueError:
            self._send(400, b"timeout is a number of seconds\n", "text/plain")
            return
        done, result = on_sync(wait, timeout)
        code = 202 if not wait else (200 if done else 504)
        doc = json.dumps(result, indent=2, sort_keys=True).encode()
        self._send(code, doc + b"\n", "application/json")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes every few seconds would drown the operator's own log


class BackgroundHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server served from a daemon thread of its own: `start`, `url`,
    `stop`. The operator's server below and the webhook receiver are both one."""

    daemon_threads = True
    thread_name = "swarm-operator-http"

    def __init__(self, addr: str, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(parse_addr(addr), handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, name=self.thread_name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class OperatorHTTPServer(BackgroundHTTPServer):
    def __init__(
        self,
        addr: str,
        registry: CollectorRegistry,
        board: StatusBoard,
        on_sync: SyncHandler | None = None,
    ) -> None:
        self.registry = registry
        self.board = board
        self.on_sync = on_sync
        super().__init__(addr, _Handler)
