"""The source revision of a manifest directory: the git commit it was checked out at.

Owns reading a git work tree without git: find the ``.git`` directory (or the
``gitdir:`` file of a linked worktree or submodule) upwards from the manifest
directory, read ``HEAD``, follow a symbolic ref to a loose ref or ``packed-refs``.
Falls back to ``git rev-parse HEAD`` only if that fails and ``git`` exists.
Returns None when the directory is not in a git work tree. Used by the daemon for
``/status``, logs and ``swarm_operator_source_revision_info``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def find_git_dir(path: Path) -> Path | None:
    """The git directory of the work tree holding ``path``, if any."""
    current = Path(os.path.realpath(path))
    for candidate in (current, *current.parents):
        dot_git = candidate / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text.split(":", 1)[1].strip())
                if not target.is_absolute():
                    target = (candidate / target).resolve()
                return target
    return None


def _common_dir(git_dir: Path) -> Path:
    common = git_dir / "commondir"
    if common.is_file():
        target = Path(common.read_text(encoding="utf-8").strip())
        return target if target.is_absolute() else (git_dir / target).resolve()
    return git_dir


def _resolve_ref(git_dir: Path, ref: str, depth: int = 0) -> str | None:
    if depth > 5:
        return None
    for base in (git_dir, _common_dir(git_dir)):
        loose = base / ref
        if loose.is_file():
            value = loose.read_text(encoding="utf-8").strip()
            if value.startswith("ref:"):
                return _resolve_ref(git_dir, value[4:].strip(), depth + 1)
            return value if _SHA.match(value) else None
        packed = base / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8").splitlines():
                if line.startswith(("#", "^")):
                    continue
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref and _SHA.match(parts[0]):
                    return parts[0]
    return None


def read_revision(path: Path) -> str | None:
    """The commit checked out in the work tree holding ``path``, or None."""
    git_dir = find_git_dir(path)
    if git_dir is None:
        return None
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
        if _SHA.match(head):
            return head
        if head.startswith("ref:"):
            found = _resolve_ref(git_dir, head[4:].strip())
            if found:
                return found
    except OSError:
        pass
    return _git_rev_parse(path)


def _git_rev_parse(path: Path) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        out = subprocess.run(
            [git, "-C", str(path), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return value if out.returncode == 0 and _SHA.match(value) else None
