"""`swarm-operator run --git` against the real lab Swarm, from a git server on loopback.

A commit pushed to ``git daemon`` becomes live (by polling, by ``swarm-operator sync``,
by a signed webhook; a webhook with a bad signature changes nothing); a commit that fails
to load keeps the last good revision in force, and ``/status``, the log and a metric name
the bad revision and its error's file:line:column; the next good commit goes live again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from receiver import Receiver
from test_daemon import (
    SERVICE,
    Daemon,
    DockerCli,
    free_port,
    note,
    replicas,
    wait_for,
    write_manifests,
    write_service,
)

from swarm_operator.lab import Lab
from swarm_operator.lab.gitserver import GitDaemon, Upstream

pytestmark = pytest.mark.lab

BROKEN = (
    "apiVersion: swarm-operator/v1alpha1\nkind: Network\nmetadata:\n  name: x\nspec:\n  subnet: [\n"
)


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[Upstream, GitDaemon]]:
    repo = Upstream(tmp_path / "srv")
    server = GitDaemon(repo.root)
    yield repo, server
    server.stop()


def git_daemon(lab: Lab, tmp_path: Path, server: GitDaemon, interval: str, *extra: str) -> Daemon:
    """`swarm-operator run --git` on the fixture's repository, directory ``prod``."""
    return Daemon(
        lab,
        None,
        tmp_path / "d.log",
        "--git", server.url("repo.git"),
        "--git-path", "prod",
        "--git-interval", interval,
        "--git-cache", str(tmp_path / "cache"),
        *extra,
    )  # fmt: skip


def source(d: Daemon) -> dict[str, Any]:
    found: dict[str, Any] = d.status()["source"] or {}
    return found


def test_a_pushed_commit_goes_live_and_a_broken_one_keeps_the_last_good_revision(
    lab: Lab,
    swarm_cleanup: None,
    docker_cli: DockerCli,
    tmp_path: Path,
    upstream: tuple[Upstream, GitDaemon],
) -> None:
    repo, server = upstream
    prod = repo.work / "prod"
    write_manifests(prod, lab.image, replicas=2)
    first = repo.commit({}, "first")
    d = git_daemon(lab, tmp_path, server, "1s")
    try:
        d.wait_ready(120)
        wait_for("the service at 2 replicas", lambda: replicas(docker_cli) == 2)
        assert source(d)["revision"] == first
        assert f'swarm_operator_source_revision_info{{revision="{first}"}} 1.0' in d.metrics()

        # A pushed commit goes live.
        write_service(prod, lab.image, 3)
        t0 = time.monotonic()
        second = repo.commit({}, "three replicas")
        wait_for("the pushed commit to be live", lambda: replicas(docker_cli) == 3)
        note(f"pushed commit live after {time.monotonic() - t0:.2f}s (polling every 1s)")
        wait_for("the revision in force", lambda: source(d)["revision"] == second)

        # A broken commit (and a replica change beside it) is not applied at all.
        write_service(prod, lab.image, 4)
        broken = repo.commit({"prod/bad.yaml": BROKEN}, "broken")
        state = wait_for(
            "the broken revision to be rejected",
            lambda: source(d) if source(d)["rejectedRevision"] == broken else None,
        )
        assert state["revision"] == second
        places = [e["source"] for e in state["rejectedErrors"]]
        assert places and all(re.match(r"^prod/bad\.yaml:\d+:\d+$", p) for p in places), places
        assert state["lastFetch"].endswith("Z") and state["lastFetchError"] is None
        metrics = d.metrics()
        assert (
            f'swarm_operator_source_revision_errors{{revision="{broken}",source="{places[0]}"}}'
            in metrics
        )
        time.sleep(3)  # a few more polls: still not applied
        assert replicas(docker_cli) == 3
        rejected = [e for e in d.logs() if e.get("event", "").startswith("git revision rejected")]
        assert len(rejected) == 1 and rejected[0]["revision"] == broken
        assert any(places[0] in err for err in rejected[0]["errors"])

        # The fix goes live; the rejection is cleared.
        fixed = repo.commit({"prod/bad.yaml": None}, "fix")
        wait_for("the fixed commit to be live", lambda: replicas(docker_cli) == 4)
        state = wait_for("the fix in force", lambda: source(d)["revision"] == fixed and source(d))
        assert state["rejectedRevision"] is None and state["rejectedErrors"] == []
        assert "swarm_operator_source_revision_errors{" not in d.metrics()
        assert "s3cr3t-value" not in d.log.read_text()
    finally:
        assert d.stop() == 0


def sync(d: Daemon, *extra: str) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).with_name("swarm-operator")
    return subprocess.run(
        [str(binary), "sync", "--addr", f"127.0.0.1:{d.port}", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sync_on_demand_fetches_and_reconciles_now(
    lab: Lab,
    swarm_cleanup: None,
    docker_cli: DockerCli,
    tmp_path: Path,
    upstream: tuple[Upstream, GitDaemon],
) -> None:
    repo, server = upstream
    prod = repo.work / "prod"
    write_manifests(prod, lab.image, replicas=2)
    repo.commit({}, "first")
    d = git_daemon(lab, tmp_path, server, "1h")  # only sync fetches
    try:
        d.wait_ready(120)
        wait_for("the service at 2 replicas", lambda: replicas(docker_cli) == 2)
        write_service(prod, lab.image, 3)
        second = repo.commit({}, "three replicas")
        t0 = time.monotonic()
        proc = sync(d, "--wait")
        note(f"sync --wait returned after {time.monotonic() - t0:.2f}s")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"revision: {second}" in proc.stdout
        assert re.search(rf"Service\s+{SERVICE}\s+synced", proc.stdout), proc.stdout
        # The pass it waited for has applied the commit: the spec says 3 already.
        assert replicas(docker_cli) == 3

        # A broken commit: sync says so and exits 1; nothing changes.
        write_service(prod, lab.image, 5)
        broken = repo.commit({"prod/bad.yaml": BROKEN}, "broken")
        proc = sync(d, "--wait")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert f"revision {broken} rejected" in proc.stderr
        assert "prod/bad.yaml:" in proc.stdout
        assert replicas(docker_cli) == 3

        # Without --wait: accepted at once (202).
        proc = sync(d)
        assert proc.returncode == 0 and "sync requested" in proc.stdout
    finally:
        assert d.stop() == 0
    # A daemon that is not there: exit 2 with a message, no traceback.
    proc = sync(d, "--wait")
    assert proc.returncode == 2 and "cannot reach the daemon" in proc.stderr


def hook(url: str, body: bytes, secret: bytes) -> int:
    signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={signature}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        err.close()
        return int(err.code)


def test_a_signed_webhook_makes_a_push_live_and_a_bad_signature_changes_nothing(
    lab: Lab,
    swarm_cleanup: None,
    docker_cli: DockerCli,
    tmp_path: Path,
    upstream: tuple[Upstream, GitDaemon],
) -> None:
    repo, server = upstream
    prod = repo.work / "prod"
    write_manifests(prod, lab.image, replicas=2)
    repo.commit({}, "first")
    secret_file = tmp_path / "hook-secret"
    secret_file.write_text("whsec-41c9\n")
    port = free_port()
    d = git_daemon(
        lab,
        tmp_path,
        server,
        "1h",
        "--git-ref",
        "main",
        "--webhook-addr",
        f"127.0.0.1:{port}",
        "--webhook-secret-file",
        str(secret_file),
    )  # only the webhook fetches
    url = f"http://127.0.0.1:{port}/hooks/github"
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    try:
        d.wait_ready(120)
        wait_for("the service at 2 replicas", lambda: replicas(docker_cli) == 2)

        # A bad signature: 401, nothing fetched, nothing changed.
        write_service(prod, lab.image, 3)
        second = repo.commit({}, "three replicas")
        fetches = source(d)["lastFetch"]
        assert hook(url, body, b"wrong-secret") == 401
        time.sleep(2)
        assert source(d)["lastFetch"] == fetches and source(d)["revision"] != second
        assert replicas(docker_cli) == 2

        # A signed push to the tracked branch: live within seconds.
        t0 = time.monotonic()
        assert hook(url, body, b"whsec-41c9") == 202
        wait_for("the pushed commit to be live", lambda: replicas(docker_cli) == 3, 30)
        note(f"push live {time.monotonic() - t0:.2f}s after a signed webhook")
        assert source(d)["revision"] == second
        metrics = d.metrics()
        assert 'swarm_operator_webhooks_total{provider="github",result="unauthorized"} 1.0' in (
            metrics
        )
        assert 'swarm_operator_webhooks_total{provider="github",result="fetch"} 1.0' in metrics
        assert "whsec-41c9" not in d.log.read_text()
    finally:
        assert d.stop() == 0


def test_notifications_reach_a_loopback_receiver_once_per_flapping_failure(
    lab: Lab,
    swarm_cleanup: None,
    docker_cli: DockerCli,
    tmp_path: Path,
    upstream: tuple[Upstream, GitDaemon],
) -> None:
    repo, server = upstream
    receiver = Receiver()
    prod = repo.work / "prod"
    write_manifests(prod, lab.image, replicas=2)
    first = repo.commit({}, "first")
    d = git_daemon(lab, tmp_path, server, "1s", "--notify", receiver.url)
    try:
        d.wait_ready(120)
        wait_for("the service at 2 replicas", lambda: replicas(docker_cli) == 2)

        def titled(prefix: str) -> list[dict[str, Any]]:
            with receiver.lock:
                return [m for m in receiver.messages if str(m["title"]).startswith(prefix)]

        applied = wait_for("the revision notification", lambda: titled("revision "))
        assert applied[0]["title"] == f"revision {first[:12]} applied"
        assert "3 objects (Network 1, Node 1, Service 1)" in applied[0]["message"]

        # Drift corrected by self-heal.
        docker_cli("service", "scale", "--detach", f"{SERVICE}=4")
        wait_for("the scale to be reverted", lambda: replicas(docker_cli) == 2)
        drift = wait_for("the drift notification", lambda: titled("drift corrected"))
        assert drift[0]["title"] == f"drift corrected: Service/{SERVICE}"

        # A broken commit, fetched again every second: one message.
        broken = repo.commit({"prod/bad.yaml": BROKEN}, "broken")
        wait_for("the rejection", lambda: source(d)["rejectedRevision"] == broken)
        rejected = wait_for("the rejection notification", lambda: titled("sync failed: rev"))
        assert "prod/bad.yaml:" in rejected[0]["message"]

        # The git server flaps: down, up, down again: one message.
        for _ in range(2):
            server.stop()
            wait_for("a failed fetch", lambda: source(d)["lastFetchError"])
            time.sleep(2)
            server.__init__(repo.root, port=server.port)  # type: ignore[misc]
            wait_for("a good fetch", lambda: source(d)["lastFetchError"] is None)
        time.sleep(2)
        assert len(titled("sync failed: cannot fetch")) == 1, receiver.titles()
        assert len(titled("sync failed: rev")) == 1, receiver.titles()
        assert len(titled("revision ")) == 1, receiver.titles()
        with receiver.lock:
            assert "s3cr3t-value" not in json.dumps(receiver.messages)
        note(f"notifications received: {receiver.titles()}")
        assert "swarm_operator_notifications_total" in d.metrics()
    finally:
        assert d.stop() == 0
        receiver.stop()
