"""The webhook listener over real HTTP on loopback, and a flood of hooks against a real
git source (``git daemon``): one fetch, not fifty."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm_operator.daemon.gitsource import GitOptions, GitSource
from swarm_operator.daemon.webhooks import MAX_BODY, WebhookServer, tracked
from swarm_operator.lab.gitserver import GitDaemon, Upstream

SECRET = b"hook-secret-3b7f"


class Hooks:
    def __init__(self, ref: str | None = "main") -> None:
        self.pushes = 0
        self.results: list[tuple[str, str]] = []
        self.server = WebhookServer(
            "127.0.0.1:0",
            SECRET,
            ref=lambda: ref,
            on_push=self.pushed,
            on_result=lambda p, r: self.results.append((p, r)),
            request_timeout=1.0,
        )
        self.server.start()

    def pushed(self) -> None:
        self.pushes += 1


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    h = Hooks()
    yield h
    h.server.stop()


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        err.close()
        return int(err.code)


def push_body(ref: str = "refs/heads/main", default: str = "main") -> bytes:
    return json.dumps({"ref": ref, "repository": {"default_branch": default}}).encode()


def signed(provider: str, body: bytes, secret: bytes = SECRET) -> dict[str, str]:
    if provider == "github":
        return {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={sign(body, secret)}"}
    if provider == "gitea":
        return {"X-Gitea-Event": "push", "X-Gitea-Signature": sign(body, secret)}
    if provider == "gitlab":
        return {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret.decode()}
    return {"X-Signature-256": f"sha256={sign(body, secret)}"}


@pytest.mark.parametrize("provider", ["github", "gitea", "gitlab", "generic"])
def test_a_signed_push_to_the_tracked_ref_fetches_and_a_bad_signature_does_not(
    hooks: Hooks, provider: str
) -> None:
    url = f"{hooks.server.url}/hooks/{provider}"
    body = push_body()
    assert post(url, body, signed(provider, body)) == 202
    assert hooks.pushes == 1
    # Wrong secret, missing signature, a body changed after signing: 401, nothing fetched.
    assert post(url, body, signed(provider, body, b"wrong")) == 401
    assert post(url, body, {}) == 401
    if provider != "gitlab":  # GitLab's token does not sign the body
        tampered = push_body("refs/heads/main", "other")
        assert post(url, tampered, signed(provider, body)) == 401
    assert hooks.pushes == 1
    # A push to another branch: verified, ignored.
    other = push_body("refs/heads/feature")
    assert post(url, other, signed(provider, other)) == 200
    assert hooks.pushes == 1
    assert (provider, "unauthorized") in hooks.results and (provider, "fetch") in hooks.results


def test_other_events_methods_and_paths(hooks: Hooks) -> None:
    url = hooks.server.url
    ping = b'{"zen": "hi"}'
    assert post(f"{url}/hooks/github", ping, {"X-GitHub-Event": "ping",
                "X-Hub-Signature-256": f"sha256={sign(ping)}"}) == 200  # fmt: skip
    assert post(f"{url}/hooks/bitbucket", ping, {}) == 404
    bad = b"not json"
    assert post(f"{url}/hooks/generic", bad, {"X-Signature-256": f"sha256={sign(bad)}"}) == 400
    empty = b"{}"  # a generic hook without a ref fetches what is tracked
    assert post(f"{url}/hooks/generic", empty, {"X-Signature-256": f"sha256={sign(empty)}"}) == 202
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{url}/hooks/github", timeout=10)
    assert err.value.code == 405
    err.value.close()
    assert hooks.pushes == 1


def test_a_large_body_is_refused_unread_and_a_silent_client_is_dropped(hooks: Hooks) -> None:
    host, port = hooks.server.server_address[:2]
    with socket.create_connection((str(host), port), timeout=10) as s:
        s.sendall(
            f"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n"
            .encode()
        )  # fmt: skip
        assert s.recv(100).startswith(b"HTTP/1.1 413")
    t0 = time.monotonic()
    with socket.create_connection((str(host), port), timeout=10) as s:
        s.sendall(b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12")
        assert s.recv(100) == b""  # closed by the server after its 1 s request timeout
    assert time.monotonic() - t0 < 9
    assert hooks.pushes == 0


def test_the_tracked_ref() -> None:
    assert tracked("main", "refs/heads/main", None)
    assert tracked("v1", "refs/tags/v1", None)
    assert tracked("refs/heads/main", "refs/heads/main", None)
    assert not tracked("main", "refs/heads/mainline", None)
    assert tracked(None, "refs/heads/trunk", "trunk")
    assert not tracked(None, "refs/heads/trunk", None)
    assert not tracked("0123abcd" * 5, "refs/heads/main", "main")


def test_a_flood_of_hooks_coalesces_into_one_fetch(tmp_path: Path) -> None:
    upstream = Upstream(tmp_path / "srv")
    net = "apiVersion: swarm-operator/v1alpha1\nkind: Network\nmetadata:\n  name: {}\n"
    upstream.commit({"net.yaml": net.format("a")})
    daemon = GitDaemon(upstream.root)
    source = GitSource(
        GitOptions(url=daemon.url("repo.git"), ref="main", cache=tmp_path / "c", interval=3600)
    )
    server = WebhookServer("127.0.0.1:0", SECRET, ref=lambda: "main", on_push=source.request)
    try:
        source.sync_once()
        source.start()
        server.start()
        second = upstream.commit({"net.yaml": net.format("b")})
        body = push_body()
        codes: list[int] = []
        threads = [
            threading.Thread(
                target=lambda: codes.append(
                    post(f"{server.url}/hooks/github", body, signed("github", body))
                )
            )
            for _ in range(50)
        ]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        spread = time.monotonic() - t0
        assert codes == [202] * 50
        state = source.wait(source.asked(), timeout=60)  # the fetch that served the last hook
        assert state is not None and state.revision == second
        time.sleep(1.5)
        # 1 initial fetch, then 1 for the 50 hooks if they all came within max_wait (1 s),
        # and never more than one per max_wait while they keep coming.
        allowed = 2 + int(spread / source.options.max_wait)
        print(f"50 hooks in {spread:.2f}s: {source.state.fetches - 1} fetch(es)")
        assert 2 <= source.state.fetches <= allowed, (source.state.fetches, spread)
    finally:
        server.stop()
        source.stop()
        daemon.stop()
