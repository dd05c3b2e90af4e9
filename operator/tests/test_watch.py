"""Manifest watching: debounce, event filtering, last-good desired state, directory swaps."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from swarm_operator.daemon.watch import (
    Debouncer,
    DesiredState,
    ManifestWatcher,
    relevant,
    single_file,
)
from swarm_operator.manifests.models import Network, Service


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_debouncer_waits_for_quiet() -> None:
    clock = FakeClock()
    d = Debouncer(quiet=0.3, max_wait=2.0, clock=clock)
    assert not d.take()
    assert d.wait_time() is None
    d.touch()
    clock.now = 0.2
    d.touch()
    clock.now = 0.4
    assert not d.take()
    assert abs((d.wait_time() or 0) - 0.1) < 1e-9
    clock.now = 0.5
    assert d.take()
    assert not d.take()


def test_debouncer_fires_at_max_wait_during_an_endless_burst() -> None:
    clock = FakeClock()
    d = Debouncer(quiet=0.3, max_wait=2.0, clock=clock)
    fired = []
    for step in range(40):
        clock.now = step * 0.1
        d.touch()
        if d.take():
            fired.append(clock.now)
    assert fired == [2.0]


def test_one_file_saved_is_due_after_the_settled_quiet() -> None:
    clock = FakeClock()
    d = Debouncer(quiet=0.3, max_wait=2.0, clock=clock, settled_quiet=0.05)
    d.touch("/m/web.yaml", settled=False)  # written, not closed yet: the whole quiet
    clock.now = 0.1
    assert not d.take()
    d.touch("/m/web.yaml", settled=True)  # closed
    clock.now = 0.14
    assert not d.take()
    clock.now = 0.16
    assert d.take() and d.took_early
    # a file renamed into place: the same
    d.touch("/m/db.yaml", settled=True)
    clock.now = 0.22
    assert d.take() and d.took_early


def test_anything_more_than_one_saved_file_waits_the_whole_quiet() -> None:
    clock = FakeClock()
    d = Debouncer(quiet=0.3, max_wait=2.0, clock=clock, settled_quiet=0.05)
    for second in ("/m/b.yaml", None):  # another file; a removal, a directory, git
        clock.now += 10
        start = clock.now
        d.touch("/m/a.yaml", settled=True)
        d.touch(second, settled=True)
        clock.now = start + 0.29
        assert not d.take()
        assert abs((d.wait_time() or 0) - 0.01) < 1e-9
        clock.now = start + 0.3
        assert d.take() and not d.took_early
    # without a settled quiet (the default) a saved file waits the whole quiet too
    plain = Debouncer(quiet=0.3, clock=clock)
    start = clock.now
    plain.touch("/m/a.yaml", settled=True)
    clock.now = start + 0.2
    assert not plain.take()
    clock.now = start + 0.3
    assert plain.take() and not plain.took_early


def test_which_events_are_one_saved_file() -> None:
    assert single_file("closed", "/m/web.yaml", "", False) == ("/m/web.yaml", True)
    assert single_file("modified", "/m/web.yaml", "", False) == ("/m/web.yaml", False)
    assert single_file("created", "/m/web.yaml", "", False) == ("/m/web.yaml", False)
    assert single_file("moved", "/m/.web.yaml.tmp", "/m/web.yaml", False) == ("/m/web.yaml", True)
    assert single_file("moved", "/m/4913", "/m/web.yml", False) == ("/m/web.yml", True)
    assert single_file("moved", "/m/a.yaml", "/m/b.yaml", False) is None  # a rename
    assert single_file("moved", "/m/a.yaml", "/m/a.yaml~", False) is None  # moved away
    assert single_file("deleted", "/m/web.yaml", "", False) is None
    assert single_file("created", "/m/sub", "", True) is None
    assert single_file("moved", "/m/.git/HEAD.lock", "/m/.git/HEAD", False) is None
    assert single_file("closed", "/m/.#web.yaml", "", False) is None  # the loader skips it
    assert single_file("closed", "/m/.gitx/web.yaml", "", False) == ("/m/.gitx/web.yaml", True)


def test_relevant_events() -> None:
    assert relevant("modified", ["/m/web.yaml"], False)
    assert relevant("moved", ["/m/.web.yaml.swp", "/m/web.yaml"], False)
    assert relevant("deleted", ["/m/sub"], True)
    assert not relevant("opened", ["/m/web.yaml"], False)
    assert not relevant("closed_no_write", ["/m/web.yaml"], False)
    assert not relevant("modified", ["/m/README.md"], False)
    assert not relevant("created", ["/m/.git/objects/ab/cdef"], False)
    assert not relevant("modified", ["/m/.git/FETCH_HEAD"], False)
    assert not relevant("created", ["/m/.git/refs/heads/main.lock"], False)
    assert relevant("moved", ["/m/.git/HEAD.lock", "/m/.git/HEAD"], False)
    assert relevant("moved", ["/m/.git/refs/heads/main.lock", "/m/.git/refs/heads/main"], False)
    assert not relevant("modified", ["/m/sub"], True)


# ---------------------------------------------------------------- desired state


@dataclass(frozen=True)
class Src:
    file: Path
    line: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Obj:
    manifest: Service | Network
    source: Src


@dataclass(frozen=True)
class Err:
    source: Src
    message: str


@dataclass(frozen=True)
class Result:
    objects: list[Obj] = field(default_factory=list)
    errors: list[Err] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def svc(name: str, replicas: int = 1) -> Service:
    return Service.model_validate(
        {"metadata": {"name": name}, "spec": {"image": "i", "replicas": replicas}}
    )


A, B = Path("/m/a.yaml"), Path("/m/b.yaml")


def test_first_load_reports_every_key_as_changed() -> None:
    state = DesiredState()
    change = state.apply(Result([Obj(svc("web"), Src(A)), Obj(svc("db"), Src(B))]))
    assert change.changed == {("Service", "web"), ("Service", "db")}
    assert change.removed == frozenset()
    assert state.ok


def test_only_modified_and_removed_keys_are_reported() -> None:
    state = DesiredState()
    state.apply(Result([Obj(svc("web"), Src(A)), Obj(svc("db"), Src(B))]))
    change = state.apply(Result([Obj(svc("web", 3), Src(A))]))
    assert change.changed == {("Service", "web")}
    assert change.removed == {("Service", "db")}
    assert state.get(("Service", "web")).manifest.spec.replicas == 3  # type: ignore[union-attr]
    unchanged = state.apply(Result([Obj(svc("web", 3), Src(A))]))
    assert unchanged.keys == frozenset()


def test_a_broken_file_keeps_its_last_good_objects_held() -> None:
    state = DesiredState()
    state.apply(Result([Obj(svc("web"), Src(A)), Obj(svc("db"), Src(B))]))
    change = state.apply(
        Result([Obj(svc("db", 5), Src(B))], [Err(Src(A, 7), "spec.replicas: bad")])
    )
    assert change.removed == frozenset()  # never a prune because a file broke
    assert change.held == {("Service", "web")}
    web = state.get(("Service", "web"))
    assert web is not None and web.held and web.manifest.spec.replicas == 1
    assert not state.ok
    assert change.errors == (("/m/a.yaml:7", "spec.replicas: bad"),)
    # Fixed again: released, and the new version is taken.
    change = state.apply(Result([Obj(svc("web", 2), Src(A)), Obj(svc("db", 5), Src(B))]))
    assert ("Service", "web") in change.changed
    assert not state.get(("Service", "web")).held  # type: ignore[union-attr]
    assert state.ok


def test_the_valid_part_of_a_broken_file_is_held_not_applied() -> None:
    state = DesiredState()
    state.apply(Result([Obj(svc("web"), Src(A))]))
    state.apply(Result([Obj(svc("web", 9), Src(A))], [Err(Src(A, 20), "bad")]))
    web = state.get(("Service", "web"))
    assert web is not None and web.held and web.manifest.spec.replicas == 1


def test_a_missing_directory_holds_everything() -> None:
    state = DesiredState()
    state.apply(Result([Obj(svc("web"), Src(A))]))
    change = state.apply(Result([], [Err(Src(Path("/m"), 0), "no such directory")]), Path("/m"))
    assert change.removed == frozenset()
    assert change.held == {("Service", "web")}


# ---------------------------------------------------------------- the watcher, on a real fs


def wait_for(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            self.n += 1


def test_a_burst_of_saves_is_one_change(tmp_path: Path) -> None:
    calls = Counter()
    w = ManifestWatcher(tmp_path, calls, quiet=0.5, max_wait=30)
    w.start()
    try:
        for i in range(20):
            (tmp_path / f"s{i}.yaml").write_text(f"n: {i}\n")
        assert wait_for(lambda: calls.n >= 1)
        # Another quiet period passes without a second call for the same burst.
        time.sleep(1.0)
        assert calls.n == 1
    finally:
        w.stop()


def test_an_atomic_rename_save_is_seen(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text("a: 1\n")
    calls = Counter()
    w = ManifestWatcher(tmp_path, calls, quiet=0.1)
    w.start()
    try:
        tmp = tmp_path / ".web.yaml.tmp"
        tmp.write_text("a: 2\n")
        os.replace(tmp, tmp_path / "web.yaml")
        assert wait_for(lambda: calls.n >= 1)
    finally:
        w.stop()


def test_a_saved_file_is_reloaded_early_and_a_declined_one_after_the_quiet(
    tmp_path: Path,
) -> None:
    (tmp_path / "web.yaml").write_text("a: 1\n")
    calls, early = Counter(), []
    answer = [True]

    def on_early() -> bool:
        early.append(answer[0])
        return answer[0]

    # The quiet is long so that a loaded machine, waking the watcher late, still takes
    # the early path (with quiet=1.0 it missed it two runs in three at load 7 on 2 cores).
    w = ManifestWatcher(tmp_path, calls, quiet=5.0, max_wait=10.0, on_early_change=on_early)
    w.start()
    try:
        tmp = tmp_path / ".web.yaml.tmp"
        tmp.write_text("a: 2\n")
        os.replace(tmp, tmp_path / "web.yaml")  # an atomic save
        assert wait_for(lambda: early == [True]), (early, calls.n)
        assert calls.n == 0
        answer[0] = False  # declined (it would remove a key): the whole quiet, then on_change
        (tmp_path / "web.yaml").write_text("a: 3\n")  # in place: modified, then closed
        assert wait_for(lambda: calls.n == 1, timeout=30.0)
        assert early == [True, False]
    finally:
        w.stop()


def test_a_directory_swapped_behind_a_symlink_is_followed(tmp_path: Path) -> None:
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    v1.mkdir()
    v2.mkdir()
    link = tmp_path / "current"
    link.symlink_to(v1)
    calls = Counter()
    w = ManifestWatcher(link, calls, quiet=0.1, poll_interval=0.1)
    w.start()
    try:
        tmp_link = tmp_path / "current.new"
        tmp_link.symlink_to(v2)
        os.replace(tmp_link, link)  # the atomic `ln -sfn` deploy
        assert wait_for(lambda: calls.n >= 1)
        assert wait_for(lambda: w.rearmed >= 1)
        before = calls.n
        # Edits in the new target are now seen; edits in the old one are not.
        (v2 / "x.yaml").write_text("a: 1\n")
        assert wait_for(lambda: calls.n > before)
    finally:
        w.stop()


def test_a_new_commit_is_seen_even_without_manifest_changes(tmp_path: Path) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "main")
    (tmp_path / "a.yaml").write_text("a: 1\n")
    git("add", ".")
    git("commit", "-qm", "one")
    calls = Counter()
    w = ManifestWatcher(tmp_path, calls, quiet=0.1)
    w.start()
    try:
        (tmp_path / "NOTES.md").write_text("not a manifest\n")
        git("add", ".")
        git("commit", "-qm", "two")  # moves refs/heads/main: the source revision changed
        assert wait_for(lambda: calls.n >= 1)
    finally:
        w.stop()


def test_a_manifest_event_wakes_the_loop_instead_of_waiting_for_its_poll(tmp_path: Path) -> None:
    # Without the wake the loop slept until its next directory poll (1 s): every edit
    # went live up to a second late. Not timed: the wake itself is what is checked.
    w = ManifestWatcher(tmp_path, Counter(), quiet=0.3, poll_interval=1.0)
    for kind, src, dest in (
        ("moved", tmp_path / ".web.yaml.tmp", tmp_path / "web.yaml"),  # an atomic save
        ("modified", tmp_path / "web.yaml", ""),
        ("deleted", tmp_path / "db.yaml", ""),
    ):
        w._wake.clear()
        w.dispatch(
            SimpleNamespace(
                event_type=kind, src_path=str(src), dest_path=str(dest), is_directory=False
            )
        )
        assert w._wake.is_set(), kind
        assert w.debouncer.wait_time() is not None
