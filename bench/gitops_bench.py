"""Part (f): a commit pushed to a git server on loopback until the service spec carries it.

``git daemon`` on 127.0.0.1 serves a bare repository; the daemon runs with
``--git git://127.0.0.1:PORT/repo.git`` against the lab. Each trial rewrites one
service's manifest with a new label value, commits and pushes it; the clock starts when
the push returns and stops when a poll of the service (raw ``GET /services/{name}``)
shows the label. Two ways:

- webhook: ``--git-interval 1h`` and a signed GitHub push hook (``/hooks/github``) sent
  right after the push (goal: p95 under 2 s);
- polling: the default ``--git-interval`` (1 min), no hook: the wait is where the push
  falls in the poll period, so few trials (``--git-poll-trials``, default 3).

Beside them, the peers' documented default intervals (not measured here).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import stats
import workload
from apply_bench import Context
from daemon_bench import TARGET, _has_label, _http_ok, _poll_until, _wait_quiet, free_port
from enginehttp import Engine
from swarm_operator.lab.gitserver import GitDaemon, Upstream

SERVICES = 3
SECRET = "bench-hook-secret"
PEERS_GIT = [
    ("Flux", "60 s", "interval of `flux bootstrap` (1 min); webhook receivers optional"),
    ("Argo CD", "180 s", "timeout.reconciliation (3 min); webhook optional"),
    ("doco-cd", "180 s", "default poll interval; webhook optional"),
    ("SwarmCD", "120 s", "default poll interval; no webhook"),
]


class _Repo:
    """The benchmark's repository: `Upstream` (``root/repo.git``, bare, and a clone to
    push from), made afresh and filled with the bench's service manifests."""

    def __init__(self, root: Path, image: str) -> None:
        self.image = image
        for old in (root / "repo.git", root / "work"):
            if old.exists():
                shutil.rmtree(old)
        self.upstream = Upstream(root)
        self.push("start")

    def push(self, value: str) -> None:
        files: dict[str, str | None] = dict(
            workload.operator_manifests(SERVICES, self.image, replicas=0, network=False)
        )
        files[f"{TARGET:03d}-service.yaml"] = workload.service_manifest(
            TARGET, self.image, replicas=0, network=False, labels={"bench.git": value}
        )
        self.upstream.commit(files, value)


def _hook(port: int) -> None:
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/github",
        data=body,
        method="POST",
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={sig}"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        if resp.status != 202:
            raise RuntimeError(f"webhook answered {resp.status}")


def _run_daemon(ctx: Context, url: str, extra: list[str], tag: str) -> tuple[Any, int, Any]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = f"unix://{ctx.manager_socket}"
    log = (ctx.workdir / f"daemon-git-{tag}.log").open("w")
    cmd = [
        sys.executable, "-m", "swarm_operator", "run", "--git", url, "--git-ref", "main",
        "--git-cache", str(ctx.workdir / f"git-cache-{tag}"), "--no-probe",
        "--metrics-addr", f"127.0.0.1:{port}", "--log-format", "json", *extra,
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not _http_ok(f"http://127.0.0.1:{port}/readyz"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the git daemon run did not become ready; see {log.name}")
        time.sleep(0.2)
    return proc, port, log


def _stop(proc: Any, log: Any) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()


def _trials(
    ctx: Context,
    repo: _Repo,
    n: int,
    poll: float,
    after_push: Callable[[], None],
    timeout: float,
    tag: str,
) -> list[float]:
    engine = Engine(ctx.manager_socket)
    name = workload.service_name(TARGET)
    out = []
    try:
        _poll_until(engine, name, _has_label("bench.git", "start"), poll, 180)
        for i in range(n):
            value = f"{tag}-{i}"
            _wait_quiet(engine, name)
            t0 = time.monotonic()
            repo.push(value)
            t_push = time.monotonic()
            after_push()
            done = _poll_until(engine, name, _has_label("bench.git", value), poll, timeout)
            out.append(done - t_push)
            ctx.progress(f"  (f) {tag} {i + 1}/{n}: {done - t_push:.3f}s (push {t_push - t0:.3f}s)")
    finally:
        engine.close()
    return out


def run(
    ctx: Context, args: argparse.Namespace, results: dict[str, Any], save: Callable[[], object]
) -> None:
    root = ctx.workdir / "gitops"
    root.mkdir(parents=True, exist_ok=True)
    secret = root / "hook-secret"
    secret.write_text(SECRET + "\n")
    poll = args.poll_ms / 1000.0
    block: dict[str, Any] = {"summary": {}, "poll_ms": args.poll_ms, "peers": PEERS_GIT}
    results["gitops"] = block
    server = GitDaemon(root)
    try:
        repo = _Repo(root, ctx.lab.image)
        url = server.url("repo.git")
        hook_port = free_port()
        proc, _port, log = _run_daemon(
            ctx, url, ["--git-interval", "1h", "--webhook-addr", f"127.0.0.1:{hook_port}",
                       "--webhook-secret-file", str(secret)], "webhook",
        )  # fmt: skip
        try:
            ctx.progress(f"(f) push to spec via webhook, {args.trials} trials")
            times = _trials(ctx, repo, args.trials, poll, lambda: _hook(hook_port), 60, "hook")
            block["summary"]["push + webhook"] = stats.summarise(times)
            save()
        finally:
            _stop(proc, log)
        repo = _Repo(root, ctx.lab.image)
        proc, _port, log = _run_daemon(ctx, url, [], "poll")
        try:
            n = args.git_poll_trials
            ctx.progress(f"(f) push to spec via polling (default 1 min), {n} trials")
            times = _trials(ctx, repo, n, poll, lambda: None, 150, "poll")
            block["summary"]["push, polling every 1 min (default)"] = stats.summarise(times)
            save()
        finally:
            _stop(proc, log)
    finally:
        server.stop()
