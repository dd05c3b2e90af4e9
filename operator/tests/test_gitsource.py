"""The git source against real git servers on loopback (no Docker needed).

``git daemon`` (git://) and ``git http-backend`` behind an HTTP server that wants a token:
a pushed commit is fetched and put in force; a commit that fails to load is rejected
whole and the last good revision stays, its errors named by file:line:column; a wrong
token fetches nothing and is never shown; a flood of requests coalesces.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarm_operator.daemon.gitsource import (
    GitOptions,
    GitSource,
    GitState,
    check_path,
    git_env,
    redact,
)
from swarm_operator.lab.gitserver import GitDaemon, GitHTTPServer, Upstream

NETWORK = (
    "apiVersion: swarm-operator/v1alpha1\nkind: Network\n"
    "metadata:\n  name: {name}\nspec:\n  subnet: 10.31.0.0/24\n"
)
BROKEN = (
    "apiVersion: swarm-operator/v1alpha1\nkind: Network\nmetadata:\n  name: x\nspec:\n  subnet: [\n"
)


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    return Upstream(tmp_path / "srv")


@pytest.fixture
def daemon(upstream: Upstream) -> Iterator[GitDaemon]:
    d = GitDaemon(upstream.root)
    yield d
    d.stop()


def names(directory: Path) -> set[str]:
    return {p.name for p in directory.rglob("*.yaml")}


def test_a_pushed_commit_is_put_in_force_and_a_broken_one_is_rejected(
    upstream: Upstream, daemon: GitDaemon, tmp_path: Path
) -> None:
    first = upstream.commit({"prod/net.yaml": NETWORK.format(name="a"), "README": "x"})
    applied: list[GitState] = []
    source = GitSource(
        GitOptions(url=daemon.url("repo.git"), cache=tmp_path / "cache", path="prod"),
        on_applied=applied.append,
    )
    state = source.sync_once()
    assert state.revision == first and state.last_fetch_error is None
    assert [s.revision for s in applied] == [first]
    assert names(source.directory) == {"net.yaml"}
    assert "name: a" in (source.directory / "net.yaml").read_text()

    # Nothing new: no second apply.
    assert source.sync_once().revision == first and len(applied) == 1

    second = upstream.commit({"prod/net.yaml": NETWORK.format(name="b")})
    assert source.sync_once().revision == second
    assert "name: b" in (source.directory / "net.yaml").read_text()

    broken = upstream.commit({"prod/bad.yaml": BROKEN, "prod/net.yaml": NETWORK.format(name="c")})
    state = source.sync_once()
    assert state.revision == second, "a revision that does not load is never put in force"
    assert state.rejected == broken
    places = [place for place, _ in state.rejected_errors]
    assert places and all(p.startswith("prod/bad.yaml:") for p in places), places
    line = int(places[0].split(":")[1])
    assert line >= 6, places  # the line of the error, not of the file
    assert "name: b" in (source.directory / "net.yaml").read_text()
    assert not (source.directory / "bad.yaml").exists()
    assert len(applied) == 2
    # Fetched again, the rejected revision is neither re-applied nor re-logged.
    again = source.sync_once()
    assert again.rejected == broken and again.revision == second and len(applied) == 2

    fixed = upstream.commit({"prod/bad.yaml": None})
    state = source.sync_once()
    assert state.revision == fixed and state.rejected is None and state.rejected_errors == ()
    assert "name: c" in (source.directory / "net.yaml").read_text()

    # A restart finds the revision in force in the cache, before any fetch.
    daemon.stop()
    restarted = GitSource(
        GitOptions(url=upstream.bare.as_uri(), cache=tmp_path / "cache", path="prod")
    )
    assert restarted.state.revision == fixed


def test_an_unreachable_remote_keeps_the_revision_in_force(
    upstream: Upstream, tmp_path: Path
) -> None:
    first = upstream.commit({"net.yaml": NETWORK.format(name="a")})
    source = GitSource(GitOptions(url=str(upstream.bare), cache=tmp_path / "cache"))
    assert source.sync_once().revision == first  # a local path works too
    upstream.bare.rename(upstream.root / "gone.git")
    state = source.sync_once()
    assert state.revision == first and state.last_fetch_error
    assert "name: a" in (source.directory / "net.yaml").read_text()


def test_a_tag_and_a_commit_can_be_tracked(upstream: Upstream, tmp_path: Path) -> None:
    first = upstream.commit({"net.yaml": NETWORK.format(name="a")})
    from swarm_operator.lab.gitserver import git

    git("tag", "v1", cwd=upstream.work)
    git("push", "--quiet", str(upstream.bare), "v1", cwd=upstream.work)
    upstream.commit({"net.yaml": NETWORK.format(name="b")})
    tag = GitSource(GitOptions(url=str(upstream.bare), ref="v1", cache=tmp_path / "t"))
    assert tag.sync_once().revision == first
    sha = GitSource(GitOptions(url=str(upstream.bare), ref=first, cache=tmp_path / "s"))
    assert sha.sync_once().revision == first


def test_smart_http_with_a_token_from_a_file(upstream: Upstream, tmp_path: Path) -> None:
    token = "tok-5f1d2a9c"
    server = GitHTTPServer(upstream.root, token)
    try:
        first = upstream.commit({"net.yaml": NETWORK.format(name="a")})
        good = tmp_path / "token"
        good.write_text(token + "\n")
        source = GitSource(
            GitOptions(url=server.url("repo.git"), cache=tmp_path / "c1", token_file=good)
        )
        state = source.sync_once()
        assert state.revision == first, state.last_fetch_error

        bad = tmp_path / "bad-token"
        bad.write_text("wrong-token-77\n")
        refused = GitSource(
            GitOptions(url=server.url("repo.git"), cache=tmp_path / "c2", token_file=bad)
        )
        state = refused.sync_once()
        assert state.revision is None and state.last_fetch_error
        assert "wrong-token-77" not in state.last_fetch_error
        # No prompt was waited for, and every request carried the header.
        assert all(h.startswith("Basic ") for h in server.auth_headers)
    finally:
        server.stop()


def test_a_flood_of_requests_coalesces(
    upstream: Upstream, daemon: GitDaemon, tmp_path: Path
) -> None:
    upstream.commit({"net.yaml": NETWORK.format(name="a")})
    source = GitSource(
        GitOptions(url=daemon.url("repo.git"), cache=tmp_path / "cache", interval=3600)
    )
    source.sync_once()
    source.start()
    try:
        second = upstream.commit({"net.yaml": NETWORK.format(name="b")})
        tickets: list[int] = []
        threads = [
            threading.Thread(target=lambda: tickets.append(source.request())) for _ in range(50)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        state = source.wait(max(tickets), timeout=60)
        assert state is not None and state.revision == second
        # 1 initial fetch, then 1 for the 50 requests.
        assert state.fetches == 2, state.fetches
    finally:
        source.stop()


def test_credentials_never_reach_a_command_line_or_a_message(tmp_path: Path) -> None:
    key = tmp_path / "id key"
    options = GitOptions(url="ssh://git@h/r.git", cache=tmp_path, ssh_key_file=key)
    env = git_env(options, tmp_path, token="sekrit")
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert "sekrit" not in " ".join(env.values())  # base64 in the header, in the env only
    ssh = shlex.split(env["GIT_SSH_COMMAND"])
    assert ssh[:3] == ["ssh", "-i", str(key)]
    assert "StrictHostKeyChecking=accept-new" in ssh and "BatchMode=yes" in ssh
    strict = git_env(
        GitOptions(url="u", cache=tmp_path, ssh_key_file=key, known_hosts=tmp_path / "kh"),
        tmp_path,
    )
    assert "StrictHostKeyChecking=yes" in shlex.split(strict["GIT_SSH_COMMAND"])
    assert set(env) >= {"PATH", "HOME"} and "SSH_AUTH_SOCK" not in env
    assert (
        redact("fatal: https://bob:pw@h/r.git x", ("tok",)) == "fatal: https://[redacted]@h/r.git x"
    )
    assert redact("the key k3y-9 here", ("k3y-9",)) == "the key [redacted] here"


@pytest.mark.parametrize("bad", ["/etc", "../up", "a/../../b"])
def test_the_git_path_stays_inside_the_repository(bad: str) -> None:
    with pytest.raises(ValueError):
        check_path(bad)
    assert check_path("./prod/") == "prod"
