"""Source revision: read from a real git work tree, packed refs, worktrees, none."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from swarm_operator.observe.revision import read_revision


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "manifests").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "manifests" / "a.yaml").write_text("x: 1\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "one")
    return root


def test_not_a_work_tree(tmp_path: Path) -> None:
    assert read_revision(tmp_path) is None


def test_loose_ref_from_a_subdirectory(repo: Path) -> None:
    assert read_revision(repo / "manifests") == git(repo, "rev-parse", "HEAD")


def test_follows_new_commits_and_packed_refs(repo: Path) -> None:
    (repo / "manifests" / "b.yaml").write_text("y: 2\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "two")
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert read_revision(repo) == git(repo, "rev-parse", "HEAD")


def test_detached_head(repo: Path) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "--detach")
    assert read_revision(repo) == sha


def test_linked_worktree(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "side", str(other))
    assert read_revision(other / "manifests") == git(other, "rev-parse", "HEAD")
