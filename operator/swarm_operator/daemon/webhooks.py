"""The webhook listener of ``swarm-operator run --git URL --webhook-addr HOST:PORT``.

Owns verifying a forge's push notification and turning it into a fetch request of the
git source (`daemon.gitsource.GitSource.request`, which coalesces any number of requests
into one fetch). A listener of its own, off by default: it faces the network while
``/metrics`` stays on loopback. Endpoints (POST only):

- ``/hooks/github``: ``X-Hub-Signature-256: sha256=HEX``, HMAC-SHA256 of the body;
- ``/hooks/gitea`` (Gitea and Forgejo): ``X-Gitea-Signature`` (or
  ``X-Forgejo-Signature``): HEX, HMAC-SHA256 of the body;
- ``/hooks/gitlab``: ``X-Gitlab-Token``: the secret itself;
- ``/hooks/generic``: ``X-Signature-256: sha256=HEX``, HMAC-SHA256 of the body, and an
  optional JSON ``{"ref": "refs/heads/main"}``.

Every comparison is constant-time (`hmac.compare_digest`); the signature is checked
before the body is parsed, and a bad or missing one gets 401 and fetches nothing. Bodies
larger than ``MAX_BODY`` get 413 without being read, and a request must arrive within
``REQUEST_TIMEOUT`` seconds. Only a push to the tracked ref requests a fetch (202); any
other verified event is answered 200 and ignored (a ping, a push to another branch).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from swarm_operator.observe import logs
from swarm_operator.observe.server import BackgroundHTTPServer

log = logs.get_logger("swarm_operator.webhooks")

MAX_BODY = 1 << 20  # 1 MiB: GitHub caps payloads at 25 MB, pushes are far smaller
REQUEST_TIMEOUT = 10.0
PROVIDERS = ("github", "gitea", "gitlab", "generic")


def _hmac_hex(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(provider: str, secret: bytes, headers: Any, body: bytes) -> bool:
    """Whether the request is signed (or, for GitLab, carries the token) with ``secret``."""
    if provider in ("github", "generic"):
        header = "X-Hub-Signature-256" if provider == "github" else "X-Signature-256"
        given = str(headers.get(header) or "")
        return hmac.compare_digest(given.encode(), f"sha256={_hmac_hex(secret, body)}".encode())
    if provider == "gitea":
        given = str(headers.get("X-Gitea-Signature") or headers.get("X-Forgejo-Signature") or "")
        return hmac.compare_digest(given.encode(), _hmac_hex(secret, body).encode())
    if provider == "gitlab":
        given = str(headers.get("X-Gitlab-Token") or "")
        return hmac.compare_digest(given.encode(), secret)
    return False


def tracked(ref: str | None, pushed: str, default_branch: str | None) -> bool:
    """Whether a push to ``pushed`` (``refs/heads/X``, ``refs/tags/Y``) moves ``ref``.

    ``ref`` None means the remote's default branch (known from the payload); a commit
    never moves."""
    if ref is None:
        return default_branch is not None and pushed == f"refs/heads/{default_branch}"
    return pushed in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}")


def push_of(provider: str, headers: Any, payload: dict[str, Any]) -> tuple[str, str | None] | None:
    """(pushed ref, default branch) of a push event, None for any other event."""
    event = {
        "github": headers.get("X-GitHub-Event"),
        "gitea": headers.get("X-Gitea-Event") or headers.get("X-Forgejo-Event"),
        "gitlab": headers.get("X-Gitlab-Event"),
        "generic": "push",
    }[provider]
    if event not in ("push", "Push Hook", "Tag Push Hook"):
        return None
    ref = payload.get("ref")
    if not isinstance(ref, str):
        return None
    repo = payload.get("repository") or payload.get("project") or {}
    default = repo.get("default_branch") if isinstance(repo, dict) else None
    return ref, default if isinstance(default, str) else None


class _Handler(BaseHTTPRequestHandler):
    server: WebhookServer
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT  # the socket's: a slow or silent client is dropped

    def do_POST(self) -> None:
        provider = self.path.split("?", 1)[0].removeprefix("/hooks/")
        if not self.path.startswith("/hooks/") or provider not in PROVIDERS:
            self._reply(404, {"error": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or "-1")
        except ValueError:
            length = -1
        if length < 0:
            self._reply(411, {"error": "Content-Length required"}, close=True)
            return
        if length > MAX_BODY:
            self.server.count(provider, "too_large")
            self._reply(413, {"error": f"body larger than {MAX_BODY} bytes"}, close=True)
            return
        body = self.rfile.read(length)
        if not verify(provider, self.server.secret, self.headers, body):
            self.server.count(provider, "unauthorized")
            log.warning("webhook refused: bad or missing signature", provider=provider,
                        peer=self.client_address[0])  # fmt: skip
            self._reply(401, {"error": "bad or missing signature"})
            return
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self.server.count(provider, "bad_request")
            self._reply(400, {"error": "the body is not a JSON object"})
            return
        push = push_of(provider, self.headers, payload)
        if provider == "generic" and not isinstance(payload.get("ref"), str):
            fetch = True  # a generic hook without a ref: fetch whatever is tracked
        elif push is None:
            self.server.count(provider, "ignored")
            self._reply(200, {"ignored": "not a push event"})
            return
        else:
            fetch = tracked(self.server.ref(), push[0], push[1])
        if not fetch:
            self.server.count(provider, "ignored")
            self._reply(200, {"ignored": f"push to {push[0] if push else '?'}: not tracked"})
            return
        self.server.count(provider, "fetch")
        self.server.on_push()
        self._reply(202, {"fetch": "requested"})

    def do_GET(self) -> None:
        self._reply(405, {"error": "POST only"})

    def _reply(self, code: int, doc: dict[str, Any], close: bool = False) -> None:
        body = json.dumps(doc).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class WebhookServer(BackgroundHTTPServer):
    """Listens on ``addr``; a verified push to the tracked ref calls ``on_push()``."""

    thread_name = "swarm-operator-webhooks"
    request_queue_size = 128  # a burst of hooks waits to be accepted instead of being reset

    def __init__(
        self,
        addr: str,
        secret: bytes,
        ref: Callable[[], str | None],
        on_push: Callable[[], object],
        on_result: Callable[[str, str], None] | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        if not secret:
            raise ValueError("the webhook secret is empty")
        self.secret = secret
        self.ref = ref
        self.on_push = on_push
        self._on_result = on_result
        handler = type("_TimedHandler", (_Handler,), {"timeout": request_timeout})
        super().__init__(addr, handler)

    def count(self, provider: str, result: str) -> None:
        if self._on_result is not None:
            self._on_result(provider, result)
