"""A real HTTP receiver on loopback for notifications (Apprise's ``json://`` URL posts
a JSON document per message): it keeps what it was sent, or answers 500 when failing."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.messages.append(json.loads(body))
        code = 500 if self.server.failing else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.failing = False
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server_address[1]}/hook"

    def titles(self) -> list[str]:
        with self.lock:
            return [str(m.get("title")) for m in self.messages]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
