"""The manifest-directory trigger: watch, debounce, reload, and say which keys changed.

Owns the daemon's *desired* side between two reloads:

- :class:`DesiredState` keeps the last good desired object of every key. A reload
  (``loader.load_directory``) replaces objects of files that loaded cleanly; objects of a
  file that failed to load keep their last good version and are *held*: the daemon
  leaves them alone and reports them, it never deletes or changes them because a file
  could not be read. :meth:`DesiredState.apply` returns which keys changed, appeared,
  disappeared or became held, so that only those keys are enqueued.
- :class:`Debouncer`: an editor's burst of saves, or a ``git checkout`` touching many
  files, becomes one change: due after ``quiet`` seconds without an event, or at the
  latest ``max_wait`` seconds after the first one. Pure, clock injected.
- :class:`ManifestWatcher`: a watchdog ``Observer`` on the directory's resolved target.
  The watchdog handler only records that something happened and returns (no work in
  the dispatch thread). A thread of its own waits for the debouncer and calls
  ``on_change()``, which reloads and enqueues. It also polls cheaply (one ``stat`` and
  ``realpath`` per second) whether the directory was swapped: a symlink pointed at a
  new target (the atomic ``ln -sfn`` deploy), or the directory replaced by another
  inode; it then re-arms the observer on the new target and reports a change.
  Editors' atomic saves (write a temp file, rename over) arrive as moves and count.

The loader (`manifests.loader`) is used through the small structural types below, so this
module depends on what a load result *offers*, not on how it is built.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from swarm_operator.engine.plan import DesiredIndex
from swarm_operator.manifests.files import MANIFEST_SUFFIXES, is_ignored
from swarm_operator.manifests.models import Manifest

Key = tuple[str, str]
Clock = Callable[[], float]


class _SourceLike(Protocol):
    @property
    def file(self) -> Path: ...


class LoadedLike(Protocol):
    @property
    def manifest(self) -> Manifest: ...
    @property
    def source(self) -> _SourceLike: ...


class ErrorLike(Protocol):
    @property
    def source(self) -> _SourceLike: ...
    @property
    def message(self) -> str: ...


class LoadResultLike(Protocol):
    @property
    def objects(self) -> Sequence[LoadedLike]: ...
    @property
    def errors(self) -> Sequence[ErrorLike]: ...
    @property
    def ok(self) -> bool: ...


@dataclass(frozen=True)
class Desired:
    """The desired object of one key, where it came from, and whether it is held."""

    manifest: Manifest
    file: Path
    held: bool = False


@dataclass(frozen=True)
class Change:
    """What one reload changed. ``keys`` is what to enqueue."""

    changed: frozenset[Key]  # new, modified, or whose held flag flipped
    removed: frozenset[Key]  # no longer declared anywhere (prune candidates)
    held: frozenset[Key]  # left alone: their file failed to load
    errors: tuple[tuple[str, str], ...]  # (place, message) of every load error

    @property
    def keys(self) -> frozenset[Key]:
        return self.changed | self.removed


class DesiredState:
    """The last good desired state of every key (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[Key, Desired] = {}
        self._index = DesiredIndex(())
        self._ok = False
        self._loaded = False
        self._errors: tuple[tuple[str, str], ...] = ()

    def apply(self, result: LoadResultLike, directory: Path | None = None) -> Change:
        """Take in a fresh load of the directory; return what changed."""
        errors = tuple((str(e.source), e.message) for e in result.errors)
        with self._lock:
            old = self._objects
            new = self._merge(old, result, directory)
            changed = frozenset(
                key
                for key, desired in new.items()
                if key not in old
                or old[key].held != desired.held
                # the same object when its file was not parsed again (`manifests.parse_cache`)
                or (
                    old[key].manifest is not desired.manifest
                    and old[key].manifest != desired.manifest
                )
            )
            # A service mounts a secret by version: when the secret changes, so does what
            # the service must mount (`Manifest.references`).
            changed |= frozenset(
                key
                for key, desired in new.items()
                if any((kind, name) in changed for _, kind, name in desired.manifest.references())
            )
            removed = frozenset(old.keys() - new.keys())
            self._objects = new
            self._index = DesiredIndex(d.manifest for d in new.values())
            self._ok = bool(result.ok)
            self._loaded = True
            self._errors = errors
        held = frozenset(k for k, d in new.items() if d.held)
        return Change(changed=changed, removed=removed, held=held, errors=errors)

    def would_remove(self, result: LoadResultLike, directory: Path | None = None) -> frozenset[Key]:
        """The keys that `apply` of ``result`` would remove (nothing is changed)."""
        with self._lock:
            old = self._objects
            return frozenset(old.keys() - self._merge(old, result, directory).keys())

    @staticmethod
    def _merge(
        old: dict[Key, Desired], result: LoadResultLike, directory: Path | None
    ) -> dict[Key, Desired]:
        """The desired state after ``result``: a failed file's objects are held."""
        failed = {e.source.file for e in result.errors}
        # An error about the directory itself (missing, unreadable, mid-swap): every
        # file's objects are held at their last good state.
        whole = directory is not None and any(
            os.path.realpath(f) == os.path.realpath(directory) for f in failed
        )
        if whole:
            return {k: Desired(d.manifest, d.file, held=True) for k, d in old.items()}
        new: dict[Key, Desired] = {}
        for obj in result.objects:
            if obj.source.file not in failed:
                new.setdefault(obj.manifest.key, Desired(obj.manifest, obj.source.file))
        for key, desired in old.items():
            if desired.file in failed and key not in new:
                new[key] = Desired(desired.manifest, desired.file, held=True)
        for obj in result.objects:
            if obj.source.file in failed and obj.manifest.key not in new:
                # Never loaded cleanly before: declared, so never pruned, but held.
                new[obj.manifest.key] = Desired(obj.manifest, obj.source.file, held=True)
        return new

    def get(self, key: Key) -> Desired | None:
        with self._lock:
            return self._objects.get(key)

    def content_files(self) -> frozenset[str]:
        """Real paths of the files manifests read besides themselves (a secret's ``file``):
        a change to one is a change of the manifests."""
        with self._lock:
            found = (getattr(d.manifest, "content_file", None) for d in self._objects.values())
            return frozenset(os.path.realpath(f) for f in found if f is not None)

    def declared(self) -> frozenset[Key]:
        with self._lock:
            return frozenset(self._objects)

    def manifests(self) -> list[Manifest]:
        with self._lock:
            return [d.manifest for d in self._objects.values()]

    def index(self) -> DesiredIndex:
        """Every desired manifest by key, built once per load (never changed after)."""
        with self._lock:
            return self._index

    @property
    def ok(self) -> bool:
        """The last load had no error (pruning is allowed only then)."""
        with self._lock:
            return self._ok and self._loaded

    @property
    def errors(self) -> tuple[tuple[str, str], ...]:
        with self._lock:
            return self._errors


class Debouncer:
    """Coalesces bursts of events: due after ``quiet`` s of calm, or ``max_wait`` s at most.

    A burst that is one manifest file written and closed, or renamed into place (an
    editor's save), and nothing else, is due after ``settled_quiet`` s of calm instead:
    `touch` is told the file and whether the event left it complete. Anything else in
    the burst (another file, a removal, a directory, git, a swap) makes it wait ``quiet``.
    ``took_early`` says whether the change `take` just returned came before ``quiet``.
    """

    def __init__(
        self,
        quiet: float = 0.3,
        max_wait: float = 2.0,
        clock: Clock = time.monotonic,
        settled_quiet: float | None = None,
    ):
        self._quiet = quiet
        self._settled_quiet = quiet if settled_quiet is None else min(settled_quiet, quiet)
        self._max_wait = max_wait
        self._clock = clock
        self._lock = threading.Lock()
        self._first: float | None = None
        self._last: float | None = None
        self._path: str | None = None
        self._single = False
        self._settled = False
        self.took_early = False

    def touch(self, path: str | None = None, settled: bool = False) -> None:
        """An event; ``path``: the one manifest file it is about (None: anything else)."""
        now = self._clock()
        with self._lock:
            if self._first is None:
                self._first = now
                self._path, self._single = path, path is not None
            elif path is None or path != self._path:
                self._single = False
            self._settled = settled
            self._last = now

    def _calm(self) -> float:
        return self._settled_quiet if self._single and self._settled else self._quiet

    def wait_time(self) -> float | None:
        """Seconds until due (0 if due now), None when nothing is pending."""
        with self._lock:
            if self._first is None or self._last is None:
                return None
            now = self._clock()
            due_at = min(self._last + self._calm(), self._first + self._max_wait)
            return max(due_at - now, 0.0)

    def take(self) -> bool:
        """True (and reset) when a pending change is due."""
        with self._lock:
            if self._first is None or self._last is None:
                return False
            now = self._clock()
            calm, overdue = now - self._last >= self._quiet, now - self._first >= self._max_wait
            early = now - self._last >= self._calm() and not calm and not overdue
            if calm or overdue or early:
                self.took_early = early
                self._first = self._last = None
                return True
            return False


def _identity(directory: Path) -> tuple[str, int, int] | None:
    """What the directory currently is: resolved path, device and inode."""
    target = os.path.realpath(directory)
    try:
        st = os.stat(target)
    except OSError:
        return None
    return target, st.st_dev, st.st_ino


def relevant(event_type: str, paths: Iterable[str], is_directory: bool) -> bool:
    """Whether a filesystem event can change the manifests or the source revision
    (reads, editor swap files and git's object churn cannot)."""
    if event_type not in ("created", "modified", "deleted", "moved", "closed"):
        return False
    names = [p for p in paths if p]
    git = f"{os.sep}.git{os.sep}"
    if any(git in p or p.endswith(f"{os.sep}.git") for p in names):
        # Only a moved HEAD (checkout, pull, reset) matters: it is the source revision.
        return any(
            p.endswith((f"{git}HEAD", f"{git}packed-refs"))
            or (f"{git}refs{os.sep}heads{os.sep}" in p and not p.endswith(".lock"))
            for p in names
        )
    if is_directory:
        return event_type != "modified"
    return any(p.endswith(MANIFEST_SUFFIXES) for p in names)


def single_file(
    event_type: str, src: str, dest: str, is_directory: bool
) -> tuple[str, bool] | None:
    """The one manifest file a (relevant) event is about, and whether the event leaves it
    complete: written and closed, or a temporary file renamed over it. None when the
    event may be part of a change to several files or a removal (a directory, git, a
    deleted file, a manifest renamed to another name or away)."""
    git = f"{os.sep}.git{os.sep}"
    if is_directory or any(git in p or p.endswith(f"{os.sep}.git") for p in (src, dest)):
        return None
    if event_type == "moved":
        if _manifest_name(src) or not _manifest_name(dest):
            return None
        return dest, True
    if event_type in ("created", "modified", "closed") and _manifest_name(src):
        return src, event_type == "closed"
    return None


def _manifest_name(path: str) -> bool:
    """A file the loader would read (by its name; what is in it does not matter here)."""
    return path.endswith(MANIFEST_SUFFIXES) and not is_ignored(os.path.basename(path))


class _Handler(FileSystemEventHandler):
    """watchdog's dispatch thread calls this: record the event, return at once."""

    def __init__(self, watcher: ManifestWatcher) -> None:
        super().__init__()
        self._watcher = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        self._watcher.dispatch(event)


class ManifestWatcher:
    """Watches a manifest directory and calls ``on_change()`` once per debounced change."""

    def __init__(
        self,
        directory: Path,
        on_change: Callable[[], object],
        quiet: float = 0.3,
        max_wait: float = 2.0,
        poll_interval: float = 1.0,
        on_error: Callable[[BaseException], None] | None = None,
        content_files: Callable[[], frozenset[str]] = frozenset,
        on_early_change: Callable[[], bool] | None = None,
        settled_quiet: float = 0.05,
    ) -> None:
        self.directory = Path(directory)
        self._content_files = content_files
        self._on_change = on_change
        self._on_early_change = on_early_change
        self._on_error = on_error
        self._poll = poll_interval
        self.debouncer = Debouncer(
            quiet, max_wait, settled_quiet=settled_quiet if on_early_change else None
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._observer: Any = None
        self._identity = _identity(self.directory)
        self._thread: threading.Thread | None = None
        self.rearmed = 0

    # The watchdog handler: record and return.
    def dispatch(self, event: Any) -> None:
        src, dest = str(getattr(event, "src_path", "")), str(getattr(event, "dest_path", ""))
        kind, is_directory = str(event.event_type), bool(event.is_directory)
        if relevant(kind, [src, dest], is_directory):
            one = single_file(kind, src, dest, is_directory)
            if one is None:
                self.debouncer.touch()
            else:
                self.debouncer.touch(*one)
            self._wake.set()  # the loop sleeps until its next poll otherwise (up to 1 s)
        elif kind in ("created", "modified", "moved", "closed", "deleted") and any(
            os.path.realpath(p) in self._content_files() for p in (src, dest) if p
        ):
            self.debouncer.touch()  # a file a Secret or Config reads
            self._wake.set()

    def _arm(self) -> None:
        from watchdog.observers import Observer

        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
            self._observer = None
        ident = _identity(self.directory)
        self._identity = ident
        if ident is None:
            return  # directory missing: polled until it comes back
        observer = Observer()
        observer.schedule(_Handler(self), ident[0], recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def check_swap(self) -> bool:
        """Re-arm if the directory now resolves to something else; True if it did."""
        ident = _identity(self.directory)
        if ident == self._identity and (ident is None or self._observer is not None):
            return False
        self.rearmed += 1
        self._arm()
        self.debouncer.touch()
        self._wake.set()
        return True

    def start(self) -> None:
        self._arm()
        self._thread = threading.Thread(target=self._loop, name="swarm-operator-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_poll = time.monotonic() + self._poll
        while not self._stop.is_set():
            wait = self.debouncer.wait_time()
            until_poll = max(next_poll - time.monotonic(), 0.0)
            self._wake.wait(until_poll if wait is None else min(wait, until_poll))
            self._wake.clear()
            if self._stop.is_set():
                return
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + self._poll
                try:
                    self.check_swap()
                except Exception as exc:
                    if self._on_error is not None:
                        self._on_error(exc)
            if self.debouncer.take():
                try:
                    if self.debouncer.took_early and self._on_early_change is not None:
                        if not self._on_early_change():
                            # declined (it would remove a key): wait the whole quiet
                            self.debouncer.touch()
                            self._wake.set()
                    else:
                        self._on_change()
                except Exception as exc:
                    if self._on_error is not None:
                        self._on_error(exc)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
        if self._thread is not None:
            self._thread.join(5)
