"""The leader lease protocol over a versioned store: one writer, takeover on expiry."""

from __future__ import annotations

from collections.abc import Mapping

from swarm_operator.daemon.lease import LABEL_HOLDER, Lease, SwarmLabelStore
from swarm_operator.swarm.errors import VersionConflict


class VersionedStore:
    """Compare-and-swap labels, as the Swarm object's version does."""

    def __init__(self) -> None:
        self.version = 1
        self.labels: dict[str, str] = {"team": "ops"}
        self.writes = 0

    def read(self) -> tuple[int, dict[str, str]]:
        return self.version, dict(self.labels)

    def write(self, version: int, labels: Mapping[str, str]) -> None:
        if version != self.version:
            raise VersionConflict("update out of sequence")
        self.labels = dict(labels)
        self.version += 1
        self.writes += 1


class Clocks:
    def __init__(self) -> None:
        self.wall = 1_700_000_000.0
        self.mono = 50.0

    def advance(self, s: float) -> None:
        self.wall += s
        self.mono += s


def lease(store: VersionedStore, clocks: Clocks, name: str) -> Lease:
    return Lease(
        store, name, duration=15, wall_clock=lambda: clocks.wall, clock=lambda: clocks.mono
    )


def test_first_instance_acquires_second_stands_by() -> None:
    store, clocks = VersionedStore(), Clocks()
    a, b = lease(store, clocks, "a"), lease(store, clocks, "b")
    assert a.tick() and a.held()
    assert not b.tick() and not b.held()
    assert b.holder == "a"
    assert store.labels["team"] == "ops"  # other labels kept


def test_holder_renews_and_keeps_it() -> None:
    store, clocks = VersionedStore(), Clocks()
    a, b = lease(store, clocks, "a"), lease(store, clocks, "b")
    for _ in range(10):
        assert a.tick()
        clocks.advance(5)
        assert not b.tick()
    assert a.held()


def test_standby_takes_over_only_after_expiry_and_old_holder_stopped_writing_first() -> None:
    store, clocks = VersionedStore(), Clocks()
    a, b = lease(store, clocks, "a"), lease(store, clocks, "b")
    assert a.tick()
    clocks.advance(12.5)  # a cannot renew (say, lost the manager)
    assert not a.held()  # stopped writing at 0.8 * duration
    assert not b.tick()  # not expired yet
    clocks.advance(3)
    assert b.tick() and b.held()
    assert not a.tick()
    assert a.holder == "b"


def test_a_race_has_one_winner() -> None:
    store, clocks = VersionedStore(), Clocks()
    a, b = lease(store, clocks, "a"), lease(store, clocks, "b")
    version, labels = store.read()

    # b read the same version as a; a writes first, b's write is refused.
    assert a.tick()

    class Stale:
        def read(self) -> tuple[int, dict[str, str]]:
            return version, labels

        def write(self, v: int, new: Mapping[str, str]) -> None:
            store.write(v, new)

    b.store = Stale()
    assert not b.tick()
    assert not b.held()
    assert store.labels[LABEL_HOLDER] == "a"


def test_release_frees_it_for_the_standby_at_once() -> None:
    store, clocks = VersionedStore(), Clocks()
    a, b = lease(store, clocks, "a"), lease(store, clocks, "b")
    assert a.tick()
    a.release()
    assert not a.held()
    assert store.labels[LABEL_HOLDER] == ""
    assert b.tick()


class FakeSwarmApi:
    def __init__(self) -> None:
        self.swarm = {
            "Version": {"Index": 7},
            "Spec": {"Name": "default", "Labels": {"x": "1"}, "Raft": {"SnapshotInterval": 10000}},
        }

    def inspect_swarm(self) -> dict[str, object]:
        return self.swarm

    def update_swarm(self, version: int, spec: dict[str, object]) -> None:
        if version != self.swarm["Version"]["Index"]:  # type: ignore[index]
            raise VersionConflict("update out of sequence")
        self.swarm = {"Version": {"Index": version + 1}, "Spec": spec}


def test_swarm_label_store_round_trips_the_rest_of_the_spec() -> None:
    api = FakeSwarmApi()
    store = SwarmLabelStore(api)
    version, labels = store.read()
    assert (version, labels) == (7, {"x": "1"})
    store.write(version, {**labels, "y": "2"})
    assert api.swarm["Spec"] == {
        "Name": "default",
        "Labels": {"x": "1", "y": "2"},
        "Raft": {"SnapshotInterval": 10000},
    }
