"""A plain HTTP/1.1 client for the Docker Engine API on a unix socket, for the benchmark.

Owns the bench's own Engine API calls: the floor (the minimal raw calls that create the
same objects the tools create), the polls that time convergence and drift correction,
and clean-up. It keeps one keep-alive connection, so a call costs what the engine costs
and not a new connection. Not thread-safe: one `Engine` per thread. The bench does not
import the ``docker`` package (in the operator only ``swarm_operator.swarm.client`` does).
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import Any

from swarm_operator.lab.engine import UnixHTTPConnection

API_VERSION = "v1.41"


class EngineError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        super().__init__(f"{method} {path}: HTTP {status} {body[:300]!r}")
        self.status = status


class Engine:
    """``Engine("/path/docker.sock").get("/services")`` -> decoded JSON."""

    def __init__(self, socket_path: str, timeout: float = 60.0) -> None:
        self.socket_path = socket_path.removeprefix("unix://")
        self.timeout = timeout
        self._conn: UnixHTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        url = f"/{API_VERSION}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(
                {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in query.items()}
            )
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        for attempt in (1, 2):  # one retry on a keep-alive connection the engine closed
            if self._conn is None:
                self._conn = UnixHTTPConnection(self.socket_path, self.timeout)
            try:
                self._conn.request(method, url, body=payload, headers=headers)
                resp = self._conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, ConnectionError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
        if resp.status >= 300:
            raise EngineError(method, path, resp.status, data)
        if not data.strip():
            return None
        return json.loads(data)

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query or None)

    def post(self, path: str, body: Any = None, **query: Any) -> Any:
        return self.request("POST", path, body=body, query=query or None)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
