"""The git source of ``swarm-operator run --git URL``: fetch, check out, validate, swap.

Owns the daemon's copy of a git repository, so that no manager needs the manifests on
its disk. The client is Debian's ``git`` command (not a Python library): it speaks every
protocol (``https://``, ``ssh://``, ``git://``, local paths) and credential set-up git
supports, and it is the best-kept client there is. It runs with a clean environment
(`git_env`): no user or system configuration, ``GIT_TERMINAL_PROMPT=0`` (never waits for
a password), a timeout on every call and on slow transfers. Credentials come from files
only: the token (``--git-token-file``) becomes an ``http.extraHeader`` passed through
``GIT_CONFIG_*`` environment variables (never in a process's arguments, which any user
of the host can read), the SSH key (``--git-ssh-key-file``) goes into ``GIT_SSH_COMMAND``
with ``StrictHostKeyChecking`` against ``--git-known-hosts`` (or trust on first use in
the cache when none is given). Errors are logged with the token and any user:password of
a URL redacted.

The cache directory holds ``repo.git`` (a bare repository, fetched with ``--depth 1``
unless the ref is a commit), ``checkouts/SHA`` (one tree per revision, extracted with
``git archive``) and ``current``, a symbolic link to the revision in force. A fetched
revision is checked out and loaded (``manifests.loader``) *before* it is put in force: a
revision with any load error is rejected whole, the last good revision stays in force,
and the rejection (revision, each error's file:line:column) goes to ``/status``, the log
and ``swarm_operator_source_revision_errors``. A good revision replaces ``current``
atomically (a new link renamed over the old), the daemon's manifest directory being
``current/PATH``; ``on_applied`` then reloads it.

A single thread polls every ``interval``; `GitSource.request` (sync on demand, a webhook)
wakes it early. A request waits for ``quiet`` seconds without another one (``max_wait``
at most) and any number of requests made meanwhile, or during a fetch, are served by one
fetch: a flood coalesces into one fetch.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from swarm_operator.manifests.loader import load_directory
from swarm_operator.observe import logs

log = logs.get_logger("swarm_operator.git")

_SHA = re.compile(r"^[0-9a-f]{7,64}$")
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
TARGET_REF = "refs/swarm-operator/target"


def _extract(tar: tarfile.TarFile, into: Path) -> None:
    """Extract with the "data" filter (nothing outside ``into``, no devices, no absolute
    or escaping links). Python 3.11 before 3.11.4 (Debian 12's 3.11.2, the operator's
    image) has no filters: there every member is checked the same way by hand first."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, filter="data")
        return
    root = os.path.realpath(into)
    members = tar.getmembers()
    for m in members:
        target = os.path.realpath(os.path.join(root, m.name))
        bad = not (m.isfile() or m.isdir() or m.issym()) or os.path.isabs(m.name)
        if m.issym():
            link = os.path.join(os.path.dirname(target), m.linkname)
            bad = bad or os.path.isabs(m.linkname) or not _inside(root, link)
        if bad or not _inside(root, target):
            raise tarfile.TarError(f"refusing to extract {m.name!r} from the revision")
    tar.extractall(into, members=members)  # every member checked above


def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([root, os.path.realpath(path)]) == root


class GitError(Exception):
    """A git command failed (the message is already redacted)."""


@dataclass(frozen=True)
class GitOptions:
    """The ``--git*`` options of ``swarm-operator run``."""

    url: str
    cache: Path
    """Where the clone and the checkouts live (``--git-cache``)."""
    ref: str | None = None
    """A branch, tag or commit; None: the remote's default branch (its HEAD)."""
    path: str = "."
    """The manifest directory inside the repository (``--git-path``)."""
    interval: float = 60.0
    token_file: Path | None = None
    ssh_key_file: Path | None = None
    known_hosts: Path | None = None
    timeout: float = 120.0
    """Seconds any one git command may take."""
    quiet: float = 0.2
    """A requested fetch waits for this long without another request (at most
    ``max_wait``), so that a flood of webhooks is one fetch."""
    max_wait: float = 1.0

    @property
    def directory(self) -> Path:
        """The daemon's manifest directory: ``PATH`` of the revision in force."""
        return Path(self.cache) / "current" / self.path


@dataclass(frozen=True)
class GitState:
    """What ``/status`` shows of the git source (times are Unix wall times)."""

    url: str
    ref: str
    path: str
    revision: str | None = None
    """The revision in force."""
    fetched: str | None = None
    """The revision the last successful fetch found."""
    last_fetch: float | None = None
    last_fetch_error: str | None = None
    rejected: str | None = None
    """The last revision that failed to load (cleared once a later one is applied)."""
    rejected_errors: tuple[tuple[str, str], ...] = ()
    fetches: int = 0


def default_cache(url: str, ref: str | None) -> Path:
    """``$XDG_CACHE_HOME/swarm-operator/git-HASH`` (one per URL and ref)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(f"{url}\n{ref or ''}".encode()).hexdigest()[:12]
    return base / "swarm-operator" / f"git-{digest}"


def check_path(path: str) -> str:
    """A relative path inside the repository (no ``..``, not absolute)."""
    parts = Path(path).parts
    if Path(path).is_absolute() or ".." in parts:
        raise ValueError(f"--git-path {path!r} must be a relative path inside the repository")
    return str(Path(*parts)) if parts else "."


def read_secret(path: Path) -> str:
    """The first line of a secret file, stripped (a trailing newline is common)."""
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise ValueError(f"{path} is empty")
    return text.splitlines()[0].strip()


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` without any of ``secrets`` nor the user:password of a URL."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}[redacted]@", text)


def git_env(options: GitOptions, home: Path, token: str | None = None) -> dict[str, str]:
    """The whole environment of every git command: nothing inherited but PATH."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOME": str(home),
        "LC_ALL": "C",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
    }
    config = [
        ("protocol.version", "2"),
        # A transfer slower than 1 KiB/s for 30 s is abandoned (the timeout is the cap).
        ("http.lowSpeedLimit", "1024"),
        ("http.lowSpeedTime", "30"),
    ]
    if token is not None:
        basic = base64.b64encode(f"swarm-operator:{token}".encode()).decode()
        config.append(("http.extraHeader", f"Authorization: Basic {basic}"))
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    if options.ssh_key_file is not None:
        known = options.known_hosts or home / "known_hosts"
        strict = "yes" if options.known_hosts is not None else "accept-new"
        env["GIT_SSH_COMMAND"] = shlex.join(
            [
                "ssh",
                "-i",
                str(options.ssh_key_file),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                f"StrictHostKeyChecking={strict}",
                "-o",
                f"UserKnownHostsFile={known}",
                "-o",
                "ConnectTimeout=15",
            ]
        )
    return env


def token_header_secrets(token: str | None) -> tuple[str, ...]:
    """The strings a log must never show for this token (itself and its Basic form)."""
    if token is None:
        return ()
    return (token, base64.b64encode(f"swarm-operator:{token}".encode()).decode())


@dataclass
class _Requests:
    asked: int = 0
    served: int = 0


class GitSource:
    """Keeps ``directory`` (``cache/current/PATH``) at the last good fetched revision."""

    def __init__(
        self,
        options: GitOptions,
        on_applied: Callable[[GitState], object] | None = None,
        on_state: Callable[[GitState], object] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.options = options
        self._on_applied = on_applied
        self._on_state = on_state
        self._wall = wall
        self.cache = Path(options.cache)
        self.repo = self.cache / "repo.git"
        self.checkouts = self.cache / "checkouts"
        self.current = self.cache / "current"
        self.directory = options.directory
        self._lock = threading.Lock()  # one fetch at a time
        self._cond = threading.Condition()
        self._requests = _Requests()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = GitState(url=redact(options.url), ref=options.ref or "HEAD", path=options.path)
        self.state = replace(self.state, revision=self._in_force())

    # ------------------------------------------------------------------ git

    def _token(self) -> str | None:
        if self.options.token_file is None:
            return None
        return read_secret(self.options.token_file)

    def _git(self, *args: str, token: str | None = None, stdout: int | None = None) -> str:
        env = git_env(self.options, self.cache, token)
        command = next((a for a in args if not a.startswith("-")), "")
        try:
            proc = subprocess.run(
                ["git", *args],
                env=env,
                cwd=self.cache,
                stdin=subprocess.DEVNULL,
                stdout=stdout if stdout is not None else subprocess.PIPE,
                stderr=subprocess.PIPE,
                timeout=self.options.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GitError(f"git {command} timed out after {self.options.timeout:g}s") from None
        except OSError as exc:
            raise GitError(f"cannot run git: {exc}") from None
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip().splitlines()
            message = "; ".join(line for line in err if line.strip())[-500:] or "no output"
            raise GitError(redact(f"git {command} failed: {message}", token_header_secrets(token)))
        return proc.stdout.decode(errors="replace") if proc.stdout else ""

    def _ensure_repo(self) -> None:
        self.cache.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not (self.repo / "HEAD").is_file():
            shutil.rmtree(self.repo, ignore_errors=True)
            self._git("init", "--quiet", "--bare", str(self.repo))
        # The URL lives in the repository's config, not in each fetch's arguments.
        git_dir = f"--git-dir={self.repo}"
        current = subprocess.run(
            ["git", git_dir, "config", "--get", "remote.origin.url"],
            env=git_env(self.options, self.cache),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout.strip()
        if current != self.options.url:
            if current:
                self._git(git_dir, "remote", "set-url", "origin", self.options.url)
            else:
                self._git(git_dir, "remote", "add", "origin", self.options.url)

    def fetch(self) -> str:
        """Fetch the tracked ref; return the commit it points at."""
        self._ensure_repo()
        token = self._token()
        git_dir = f"--git-dir={self.repo}"
        ref = self.options.ref
        if ref is not None and _SHA.match(ref):
            self._git(git_dir, "fetch", "--quiet", "--no-tags", "origin",
                      "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*",
                      token=token)  # fmt: skip
            target = ref
        else:
            self._git(git_dir, "fetch", "--quiet", "--no-tags", "--depth=1", "origin",
                      f"+{ref or 'HEAD'}:{TARGET_REF}", token=token)  # fmt: skip
            target = TARGET_REF
        return self._git(git_dir, "rev-parse", "--verify", f"{target}^{{commit}}").strip()

    def _checkout(self, sha: str) -> Path:
        """Extract the tree of ``sha`` into ``checkouts/SHA`` (idempotent)."""
        final = self.checkouts / sha
        if final.is_dir():
            return final
        self.checkouts.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=self.checkouts))
        try:
            with tempfile.TemporaryFile(dir=self.cache) as archive:
                self._git(f"--git-dir={self.repo}", "archive", "--format=tar", sha,
                          stdout=archive.fileno())  # fmt: skip
                archive.seek(0)
                with tarfile.open(fileobj=archive, mode="r:") as tar:
                    _extract(tar, tmp)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def _in_force(self) -> str | None:
        try:
            target = os.readlink(self.current)
        except OSError:
            return None
        name = Path(target).name
        return name if _SHA.match(name) and (self.checkouts / name).is_dir() else None

    def _swap(self, sha: str) -> None:
        link = self.cache / ".current.tmp"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        os.symlink(Path("checkouts") / sha, link)
        os.replace(link, self.current)

    def _prune_checkouts(self, keep: set[str]) -> None:
        for entry in self.checkouts.iterdir():
            if entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)

    # ------------------------------------------------------------------ one pass

    def sync_once(self) -> GitState:
        """Fetch, and put the fetched revision in force if it loads cleanly."""
        with self._lock:
            state = self._pass()
            self.state = state
        if self._on_state is not None:
            self._on_state(state)
        return state

    def _pass(self) -> GitState:
        state = replace(self.state, fetches=self.state.fetches + 1, last_fetch=self._wall())
        try:
            sha = self.fetch()
        except (GitError, OSError, ValueError) as exc:
            message = redact(str(exc))
            if message != self.state.last_fetch_error:
                log.error("git fetch failed; the revision in force stays", error=message)
            return replace(state, last_fetch_error=message)
        state = replace(state, fetched=sha, last_fetch_error=None)
        if sha == state.revision or sha == state.rejected:
            return state
        try:
            tree = self._checkout(sha)
        except (GitError, OSError, tarfile.TarError) as exc:
            message = redact(str(exc))
            log.error("git checkout failed; the revision in force stays", revision=sha,
                      error=message)  # fmt: skip
            return replace(state, last_fetch_error=message)
        directory = tree / self.options.path
        result = load_directory(directory)
        if result.errors:
            errors = tuple(
                (str(e.source).replace(str(tree) + os.sep, ""), e.message) for e in result.errors
            )
            log.error(
                "git revision rejected: it does not load; the last good revision stays",
                revision=sha,
                in_force=state.revision,
                errors=[f"{place}: {message}" for place, message in errors],
            )
            self._prune_checkouts({r for r in (state.revision,) if r})
            return replace(state, rejected=sha, rejected_errors=errors)
        previous = state.revision
        self._swap(sha)
        # The previous tree is kept one pass longer: a reload may be reading it.
        self._prune_checkouts({sha, *((previous,) if previous else ())})
        state = replace(state, revision=sha, rejected=None, rejected_errors=())
        log.info(
            "git revision in force",
            revision=sha,
            previous=previous,
            objects=len(result.objects),
        )
        if self._on_applied is not None:
            self._on_applied(state)
        return state

    # ------------------------------------------------------------------ the thread

    def request(self) -> int:
        """Ask for a fetch as soon as possible; returns a ticket for :meth:`wait`."""
        with self._cond:
            self._requests.asked += 1
            ticket = self._requests.asked
        self._wake.set()
        return ticket

    def wait(self, ticket: int, timeout: float) -> GitState | None:
        """The state after the fetch that served ``ticket`` (None on timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._requests.served >= ticket, timeout):
                return None
            return self.state

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="swarm-operator-git", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        """Started after a first pass (`sync_once`): waits first, then fetches."""
        while not self._stop.is_set():
            with self._cond:
                pending = self._requests.asked > self._requests.served
            if not pending:
                self._wake.wait(self.options.interval)
            if self._stop.is_set():
                return
            self._settle()
            with self._cond:
                serving = self._requests.asked
            self._wake.clear()
            try:
                self.sync_once()
            except Exception:  # a bug must not end the polling
                log.exception("git source pass crashed")
            with self._cond:
                self._requests.served = max(self._requests.served, serving)
                self._cond.notify_all()

    def asked(self) -> int:
        """The ticket of the latest request."""
        with self._cond:
            return self._requests.asked

    def _settle(self) -> None:
        """Wait for the requests to calm down: ``quiet`` s without one, ``max_wait`` s at most."""
        deadline = time.monotonic() + self.options.max_wait
        with self._cond:
            seen = self._requests.asked
            if seen <= self._requests.served:
                return  # woken by the interval, not by a request
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._stop.wait(min(self.options.quiet, left))
            with self._cond:
                if self._requests.asked == seen:
                    return
                seen = self._requests.asked

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.options.timeout + 5)
