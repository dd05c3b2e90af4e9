"""A counting proxy for the Docker Engine API on a unix socket.

Owns one measurement: how many HTTP requests a client sends to the engine. It listens on
a unix socket, forwards every byte both ways to the real engine socket unchanged, and
parses only the client-to-engine stream (request line, headers, body by Content-Length or
chunked encoding) to count requests, keyed by method and a normalised path
(``GET /services``, ``POST /services/{}/update``). Both tools under test (the operator
and the docker CLI) are pointed at it through ``DOCKER_HOST``, so they are counted the
same way, whatever client library they use. Parsing is for counting only: a request it
cannot parse is still forwarded. Threads, no asyncio: one pair of threads per connection.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
from collections import Counter
from collections.abc import Callable

_VERSION_PREFIX = re.compile(r"^/v\d+\.\d+(?=/)")
# Path segments that are verbs of a collection, not object names or IDs.
_VERBS = {"create", "prune", "json", "update", "logs", "inspect", "join", "leave", "init"}
_COLLECTIONS = {"services", "networks", "nodes", "tasks", "containers", "secrets", "configs"}


def normalise_path(target: str) -> str:
    """``/v1.41/services/abc/update?version=3`` -> ``/services/{}/update``."""
    path = target.split("?", 1)[0]
    path = _VERSION_PREFIX.sub("", path)
    if path.startswith("/distribution/"):
        return "/distribution/{}/json"
    parts = path.split("/")
    out: list[str] = []
    for i, part in enumerate(parts):
        if i >= 2 and parts[i - 1] in _COLLECTIONS and part not in _VERBS:
            out.append("{}")
        else:
            out.append(part)
    return "/".join(out) or "/"


class RequestCounter:
    """Incremental parser of one client-to-server HTTP/1.x byte stream; counts requests.

    ``feed(data)`` accepts arbitrary chunks. After a request asking for a protocol
    upgrade (hijacked attach/exec streams) it stops parsing: what follows is not HTTP.
    """

    def __init__(self, on_request: Callable[[str, str], None] | None = None) -> None:
        self._buf = b""
        self._body_left = 0  # bytes of a Content-Length body still to skip
        self._chunked = False
        self._chunk_left = -1  # -1: expecting a chunk-size line
        self._trailers = False
        self._opaque = False
        self.requests: list[tuple[str, str]] = []
        self._on_request = on_request

    def feed(self, data: bytes) -> None:
        if self._opaque:
            return
        self._buf += data
        while self._step():
            pass

    def _step(self) -> bool:
        """Consume what can be consumed; True when progress was made."""
        if self._body_left:
            take = min(self._body_left, len(self._buf))
            self._buf = self._buf[take:]
            self._body_left -= take
            return take > 0 and bool(self._buf)
        if self._chunked:
            return self._step_chunked()
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = self._buf[:end].decode("latin-1")
        self._buf = self._buf[end + 4 :]
        lines = head.split("\r\n")
        request_line = lines[0].split(" ")
        if len(request_line) < 2:
            return bool(self._buf)
        method, target = request_line[0], request_line[1]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.requests.append((method, target))
        if self._on_request is not None:
            self._on_request(method, target)
        if "upgrade" in headers.get("connection", "").lower():
            self._opaque = True
            return False
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked = True
            self._chunk_left = -1
        else:
            with contextlib.suppress(ValueError):
                self._body_left = int(headers.get("content-length", "0") or 0)
        return bool(self._buf)

    def _step_chunked(self) -> bool:
        if self._trailers:
            end = self._buf.find(b"\r\n\r\n") if not self._buf.startswith(b"\r\n") else -2
            if end == -2:  # no trailers: the empty line right away
                self._buf = self._buf[2:]
            elif end >= 0:
                self._buf = self._buf[end + 4 :]
            else:
                return False
            self._trailers = False
            self._chunked = False
            return bool(self._buf)
        if self._chunk_left < 0:
            end = self._buf.find(b"\r\n")
            if end < 0:
                return False
            size_text = self._buf[:end].split(b";", 1)[0].strip()
            self._buf = self._buf[end + 2 :]
            try:
                size = int(size_text, 16)
            except ValueError:
                self._opaque = True  # not HTTP we understand: stop counting this stream
                return False
            if size == 0:
                self._trailers = True
            else:
                self._chunk_left = size + 2  # data and its CRLF
            return True
        take = min(self._chunk_left, len(self._buf))
        self._buf = self._buf[take:]
        self._chunk_left -= take
        if self._chunk_left == 0:
            self._chunk_left = -1
            return True
        return False


class CountingProxy:
    """Listen on ``listen_path``, forward to ``upstream_path``, count requests.

    Use as a context manager or call `start`/`stop`. `reset` clears the counts;
    `counts` is a Counter of ``"METHOD /normalised/path"``.
    """

    def __init__(self, listen_path: str, upstream_path: str) -> None:
        self.listen_path = listen_path
        self.upstream_path = upstream_path
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.listen_path}"

    def __enter__(self) -> CountingProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.listen_path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(self.listen_path)
        server.listen(64)
        server.settimeout(0.2)
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept_loop, name="count-proxy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._server is not None:
            self._server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.listen_path)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    @property
    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def _record(self, method: str, target: str) -> None:
        key = f"{method} {normalise_path(target)}"
        with self._lock:
            self._counts[key] += 1

    def _accept_loop(self) -> None:
        assert self._server is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(self.upstream_path)
            except OSError:
                client.close()
                continue
            pair = _Pair(client, upstream)
            parser = RequestCounter(self._record)
            threading.Thread(
                target=_pipe, args=(pair, client, upstream, parser), daemon=True
            ).start()
            threading.Thread(target=_pipe, args=(pair, upstream, client, None), daemon=True).start()


class _Pair:
    """The two sockets of one proxied connection, closed when both directions are done."""

    def __init__(self, a: socket.socket, b: socket.socket) -> None:
        self._sockets = (a, b)
        self._open = 2
        self._lock = threading.Lock()

    def done(self) -> None:
        with self._lock:
            self._open -= 1
            last = self._open == 0
        if last:
            for s in self._sockets:
                s.close()


def _pipe(
    pair: _Pair, src: socket.socket, dst: socket.socket, parser: RequestCounter | None
) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if parser is not None:
                parser.feed(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        # Pass the half-close on; close both once both directions are done.
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            src.shutdown(socket.SHUT_RD)
        pair.done()
