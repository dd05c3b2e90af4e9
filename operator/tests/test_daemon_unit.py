"""The daemon's triggers without a Swarm: reloads enqueue only changed keys, a broken
file holds its objects, events map to keys, the source revision is reported.

Nothing here connects to Docker (the Daemon is built, not run); the reconcile itself is
tested against the real lab in tests/lab/test_daemon.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from swarm_operator.daemon.controller import Daemon, DaemonOptions

SERVICE = """\
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata:
  name: {name}
spec:
  image: 10.77.0.1:5000/busybox:1
  replicas: {replicas}
"""
NODE = """\
apiVersion: swarm-operator/v1alpha1
kind: Node
metadata:
  name: host2
spec:
  labels: {zone: b}
"""


def drain(d: Daemon) -> list[tuple[str, str]]:
    keys = []
    while (key := d.queue.get(timeout=0)) is not None:
        keys.append(key)
        d.queue.done(key)
    return keys


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Daemon, CollectorRegistry, Path]:
    manifests = tmp_path / "m"
    manifests.mkdir()
    (manifests / "web.yaml").write_text(SERVICE.format(name="web", replicas=2))
    (manifests / "db.yaml").write_text(SERVICE.format(name="db", replicas=1))
    (manifests / "node.yaml").write_text(NODE)
    registry = CollectorRegistry()
    return Daemon(DaemonOptions(directory=manifests), registry), registry, manifests


def test_first_reload_enqueues_everything_then_only_what_changed(setup) -> None:  # type: ignore[no-untyped-def]
    d, _, manifests = setup
    d.reload()
    assert sorted(drain(d)) == [("Node", "host2"), ("Service", "db"), ("Service", "web")]
    d.reload()
    assert drain(d) == []
    (manifests / "web.yaml").write_text(SERVICE.format(name="web", replicas=3))
    (manifests / "db.yaml").unlink()
    d.reload()
    assert sorted(drain(d)) == [("Service", "db"), ("Service", "web")]
    assert d.desired.get(("Service", "db")) is None


def test_a_broken_file_is_held_reported_and_counted(setup) -> None:  # type: ignore[no-untyped-def]
    d, registry, manifests = setup
    d.reload()
    drain(d)
    (manifests / "web.yaml").write_text("kind: Service\nmetadata: {name: web}\nspec: [\n")
    change = d.reload()
    assert ("Service", "web") in change.held
    assert change.removed == frozenset()
    held = d.desired.get(("Service", "web"))
    assert held is not None and held.held
    assert registry.get_sample_value("swarm_operator_manifest_load_errors") >= 1
    status = d.board.snapshot()
    assert status["loadErrors"] and "web.yaml" in status["loadErrors"][0]["source"]
    (web,) = [o for o in status["objects"] if o["name"] == "web"]
    assert web["held"] and web["syncStatus"] == "unknown"
    assert (
        registry.get_sample_value(
            "swarm_operator_object_info",
            {
                "kind": "Service",
                "name": "web",
                "sync_status": "unknown",
                "health_status": "missing",
            },
        )
        == 1
    )


def test_events_enqueue_the_key_they_are_about(setup) -> None:  # type: ignore[no-untyped-def]
    d, registry, _ = setup
    d.reload()
    drain(d)
    d.events.on_event(
        {
            "Type": "service",
            "Action": "update",
            "Actor": {"Attributes": {"name": "web"}},
            "timeNano": 1_700_000_000_000_000_000,
        }
    )
    assert drain(d) == [("Service", "web")]
    assert d.events.cursor == pytest.approx(1_700_000_000.0)
    # Not declared and no --prune: nothing to do with it.
    d.events.on_event({"Type": "service", "Actor": {"Attributes": {"name": "stranger"}}})
    assert drain(d) == []
    d.events.on_event({"Type": "node", "Actor": {"ID": "abc", "Attributes": {"name": "host2"}}})
    assert drain(d) == [("Node", "host2")]
    d.events.on_event({"Type": "node", "Actor": {"ID": "abd", "Attributes": {"name": "host9"}}})
    assert drain(d) == []  # not declared
    d.events.on_event({"Type": "node", "Actor": {"ID": "abc", "Attributes": {}}})
    assert drain(d) == [("Node", "host2")]  # no name: every declared node
    d.events.on_event({"Type": "container", "Actor": {"Attributes": {"name": "x"}}})
    assert drain(d) == []
    assert (
        registry.get_sample_value("swarm_operator_events_received_total", {"type": "service"}) == 2
    )
    assert registry.get_sample_value("swarm_operator_events_received_total", {"type": "other"}) == 1


def test_with_prune_undeclared_objects_are_enqueued(tmp_path: Path) -> None:
    d = Daemon(DaemonOptions(directory=tmp_path, prune=True), CollectorRegistry())
    d.events.on_event({"Type": "service", "Actor": {"Attributes": {"name": "stranger"}}})
    assert drain(d) == [("Service", "stranger")]


def test_the_source_revision_is_the_checked_out_commit(setup) -> None:  # type: ignore[no-untyped-def]
    d, registry, manifests = setup
    git = ["git", "-C", str(manifests), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    sha = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    d.reload()
    assert registry.get_sample_value("swarm_operator_source_revision_info", {"revision": sha}) == 1
    assert d.board.snapshot()["sourceRevision"] == sha


def test_removing_more_than_max_prune_files_blocks_every_prune(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.yaml").write_text(SERVICE.format(name=name, replicas=1))
    d = Daemon(DaemonOptions(directory=tmp_path, prune=True, max_prune=1), CollectorRegistry())
    d.reload()
    assert d.prune_blocker is None
    (tmp_path / "a.yaml").unlink()
    d.reload()
    assert d.prune_blocker is None  # one removal: within --max-prune
    (tmp_path / "b.yaml").unlink()
    (tmp_path / "c.yaml").unlink()
    d.reload()
    assert d.prune_blocker is not None and "--max-prune 1" in d.prune_blocker


def test_an_early_reload_is_declined_when_it_would_remove_a_key(setup) -> None:  # type: ignore[no-untyped-def]
    """The watcher's early reload (one file saved) never removes a key: a removal waits
    the whole debounce (it may be half of an object moved to another file)."""
    d, _, manifests = setup
    d.reload()
    drain(d)
    (manifests / "web.yaml").write_text(SERVICE.format(name="web", replicas=3))
    assert d.reload_early()
    assert drain(d) == [("Service", "web")]
    (manifests / "db.yaml").write_text("# moved to another file, not written there yet\n")
    assert not d.reload_early()
    assert drain(d) == []
    assert d.desired.get(("Service", "db")) is not None  # still declared
    d.reload()  # after the whole quiet: taken
    assert drain(d) == [("Service", "db")]
    assert d.desired.get(("Service", "db")) is None
