"""The daemon's incremental reload (`parse_cache.ParseCache`) gives what a fresh load gives.

A cached load parses only the files whose bytes changed, and does not even read those
whose stat shows them unchanged since a read well after their last change. For random
sequences of file writes (same-size rewrites included), removals, renames and symlinks,
the cached load is compared with a fresh `load_directory` after every step: objects,
errors (their order and the per-file cap included), files and counts; and a
`DesiredState` fed by each gives the same changes and the same held keys.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarm_operator.daemon.watch import DesiredState
from swarm_operator.manifests.loader import load_directory
from swarm_operator.manifests.parse_cache import ParseCache


def service(name: str, image: str = "10.77.0.1:5000/busybox:1", extra: str = "") -> str:
    return (
        "apiVersion: swarm-operator/v1alpha1\nkind: Service\n"
        f"metadata: {{name: {name}}}\nspec: {{image: {image!r}{extra}}}\n"
    )


CONTENTS: list[bytes] = [
    service("web").encode(),
    service("web", "10.77.0.1:5000/busybox:2").encode(),  # same size, other bytes
    service("db").encode(),
    (service("web") + "---\n" + service("db")).encode(),
    service("web", extra=", replicas: -1").encode(),  # invalid value
    service("web", extra=", replicaz: 1").encode(),  # unknown field
    b"apiVersion: swarm-operator/v1alpha1\nkind: Service\nmetadata: {name: [\n",  # YAML
    b"",
    b"# only a comment\n",
    b"apiVersion: swarm-operator/v1alpha1\nkind: Network\nmetadata: {name: web}\n",
    b"apiVersion: swarm-operator/v1alpha1\nkind: Servise\nmetadata: {name: x}\n",
    b"\xff\xfe not utf-8",
    "".join("---\n" + service(f"s{i}", extra=", replicas: -1") for i in range(102)).encode(),
]
NAMES = ["a.yaml", "b.yaml", "c.yml", "sub/d.yaml", "sub/deep/e.yaml", ".hidden.yaml", "f.txt"]

Op = tuple[str, str, object]
ops = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.integers(0, len(CONTENTS) - 1)),
    st.tuples(st.just("remove"), st.sampled_from(NAMES), st.none()),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("symlink"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
)


def run_op(root: Path, op: Op) -> None:
    verb, name, arg = op
    path = root / name
    if verb == "write":
        assert isinstance(arg, int)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.write_bytes(CONTENTS[arg])  # in place (through a symlink too), maybe same size
        except OSError:  # a symlink loop, or a link into a directory that is not there
            path.unlink()
            path.write_bytes(CONTENTS[arg])
    elif verb == "remove":
        if path.is_symlink() or path.is_file():
            path.unlink()
    elif verb == "rename":
        assert isinstance(arg, str)
        target = root / arg
        if (path.is_file() or path.is_symlink()) and not target.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    elif verb == "symlink":
        assert isinstance(arg, str)
        if not path.exists() and not path.is_symlink():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(root / arg, path)  # may dangle: an error, as in a fresh load


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=1, max_size=25))
def test_a_cached_load_equals_a_fresh_load_after_any_edits(steps: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cache = ParseCache()
        fed_cached, fed_fresh = DesiredState(), DesiredState()
        for step in steps:
            run_op(root, step)
            cached = load_directory(root, cache=cache)
            fresh = load_directory(root)
            assert cached == fresh, step
            assert fed_cached.apply(cached, root) == fed_fresh.apply(fresh, root), step
            assert fed_cached.index().by_key == fed_fresh.index().by_key
            assert {k: fed_cached.get(k) for k in fed_cached.declared()} == {
                k: fed_fresh.get(k) for k in fed_fresh.declared()
            }


def test_an_edit_among_many_files_parses_that_file_only(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"s{i:02d}.yaml").write_text(service(f"s{i:02d}"))
    cache = ParseCache()
    first = load_directory(tmp_path, cache=cache)
    assert first.ok and cache.parsed == 30 and len(cache) == 30
    again = load_directory(tmp_path, cache=cache)
    assert cache.parsed == 0
    # unchanged files give the very objects of the last load (cheap to compare)
    assert all(a is b for a, b in zip(first.objects, again.objects, strict=True))

    (tmp_path / "s07.yaml").write_text(service("s07", "10.77.0.1:5000/busybox:2"))
    edited = load_directory(tmp_path, cache=cache)
    assert cache.parsed == 1
    assert edited.by_key()[("Service", "s07")].manifest.spec.image.endswith(":2")

    (tmp_path / "s08.yaml").unlink()
    (tmp_path / "s09.yaml").rename(tmp_path / "s99.yaml")
    after = load_directory(tmp_path, cache=cache)
    assert cache.parsed == 1  # the renamed file, under its new name
    assert len(cache) == 29 and after == load_directory(tmp_path)


def test_a_held_key_stays_held_through_cached_loads(tmp_path: Path) -> None:
    """A file that fails keeps its objects at their last good state, cached or not."""
    (tmp_path / "web.yaml").write_text(service("web"))
    (tmp_path / "db.yaml").write_text(service("db"))
    cache, desired = ParseCache(), DesiredState()
    desired.apply(load_directory(tmp_path, cache=cache), tmp_path)
    (tmp_path / "web.yaml").write_text(service("web", extra=", replicaz: 1"))
    for _ in range(2):  # the second load takes the failed parse from the cache
        change = desired.apply(load_directory(tmp_path, cache=cache), tmp_path)
        assert change.held == {("Service", "web")}
        assert change.removed == frozenset()
    held = desired.get(("Service", "web"))
    assert held is not None and held.held
    assert held.manifest.spec.image == "10.77.0.1:5000/busybox:1"
    assert not desired.ok


def test_a_file_unchanged_since_long_before_its_read_is_not_read_again(tmp_path: Path) -> None:
    """The stat shortcut: with the read taken as long after the last change, an unchanged
    file is not read; any change shows in its stat (ctime), a same-size rewrite too."""
    later = ParseCache(clock=lambda: time.time_ns() + 10**10)  # reads "10 s later"
    for name in ("web", "db"):
        (tmp_path / f"{name}.yaml").write_text(service(name))
    load_directory(tmp_path, cache=later)
    assert later.parsed == 2
    assert load_directory(tmp_path, cache=later) == load_directory(tmp_path)
    assert later.unread == 2 and later.parsed == 0
    time.sleep(0.05)  # past the file system's timestamp tick
    (tmp_path / "web.yaml").write_text(service("web", "10.77.0.1:5000/busybox:2"))  # same size
    result = load_directory(tmp_path, cache=later)
    assert later.unread == 1 and later.parsed == 1
    assert result == load_directory(tmp_path)
    assert result.by_key()[("Service", "web")].manifest.spec.image.endswith(":2")


def test_a_file_changed_just_before_its_read_is_read_again(tmp_path: Path) -> None:
    """Within the margin of its read a file's stat is not trusted: the bytes decide."""
    cache = ParseCache()
    (tmp_path / "web.yaml").write_text(service("web"))
    load_directory(tmp_path, cache=cache)
    load_directory(tmp_path, cache=cache)
    assert cache.unread == 0 and cache.parsed == 0  # read, same bytes, not parsed


def test_a_secret_file_changed_under_an_unchanged_manifest_is_read_again(tmp_path: Path) -> None:
    # The manifest's bytes stay the same; what it means changes with the secret's file.
    (tmp_path / "s.yaml").write_text(
        "apiVersion: swarm-operator/v1alpha1\nkind: Secret\n"
        "metadata: {name: db}\nspec: {file: db.txt}\n"
    )
    cache = ParseCache(racy_ns=0, clock=lambda: time.time_ns() + 10**12)
    missing = load_directory(tmp_path, cache=cache)
    assert [e.message for e in missing.errors if "db.txt" in e.message], missing.errors
    (tmp_path / "db.txt").write_text("first\n")
    first = load_directory(tmp_path, cache=cache)
    assert not first.errors, first.errors
    (tmp_path / "db.txt").write_text("second\n")
    second = load_directory(tmp_path, cache=cache)
    (a,), (b,) = first.objects, second.objects
    assert a.manifest.content == b"first\n" and b.manifest.content == b"second\n"
    fresh = load_directory(tmp_path)
    assert fresh.objects[0].manifest.content == b"second\n"
