"""Prune on the lab: only labelled, undeclared objects go; every guard deletes nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_lab import Engine, engine

pytestmark = pytest.mark.lab
__all__ = ["engine"]
DockerCli = Callable[..., subprocess.CompletedProcess[str]]

TWO = """
apiVersion: swarm-operator/v1alpha1
kind: Network
metadata: {name: eng-prune-net}
---
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: eng-keep}
spec: {image: "{image}", command: [sleep, "3600"], stopGracePeriod: 1s, networks: [eng-prune-net]}
---
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: eng-gone}
spec: {image: "{image}", command: [sleep, "3600"], stopGracePeriod: 1s}
"""
KEEP_ONLY = """
apiVersion: swarm-operator/v1alpha1
kind: Network
metadata: {name: eng-prune-net}
---
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: eng-keep}
spec: {image: "{image}", command: [sleep, "3600"], stopGracePeriod: 1s, networks: [eng-prune-net]}
"""


@pytest.fixture
def applied(engine: Engine, docker_cli: DockerCli) -> Engine:
    engine.write("all.yaml", TWO)
    assert engine.apply().code == 0
    # An unmanaged service made by hand: prune must never touch it.
    docker_cli(
        "service", "create", "--detach", "--name", "eng-handmade", engine.lab.image, "sleep", "3600"
    )
    return engine


def test_prune_deletes_only_labelled_undeclared(applied: Engine) -> None:
    applied.write("all.yaml", KEEP_ONLY)
    without = applied.plan()
    assert without.code == 0 and "apply --prune deletes them" in without.out
    assert applied.apply().code == 0 and "eng-gone" in applied.service_names()
    plan = applied.plan("--prune")
    assert plan.code == 2 and "- delete Service eng-gone" in plan.out
    assert "eng-handmade" not in plan.out
    done = applied.apply("--prune")
    assert done.code == 0, done.out
    assert {"eng-keep", "eng-handmade"} <= applied.service_names()
    assert "eng-gone" not in applied.service_names()
    assert applied.plan("--prune").code == 0


@pytest.mark.parametrize("layout", ["empty", "missing", "broken", "unreadable"])
def test_prune_guards_delete_nothing(applied: Engine, tmp_path: Path, layout: str) -> None:
    target = tmp_path / "other"
    if layout != "missing":
        target.mkdir()
    if layout == "broken":
        (target / "all.yaml").write_text(
            KEEP_ONLY.replace("{image}", applied.lab.image) + "\n---\nkind: Service\nspec: [\n"
        )
    if layout == "unreadable":
        # root reads any mode, so: a valid file next to one that cannot be read at all
        (target / "all.yaml").write_text(KEEP_ONLY.replace("{image}", applied.lab.image))
        (target / "gone.yaml").symlink_to(tmp_path / "nowhere" / "gone.yaml")
    before = applied.service_names(), applied.network_names()
    result = applied.apply("--prune", directory=target)
    assert result.code == 1, result.out
    assert "nothing deleted" in result.out or "error" in (result.out + result.err)
    assert (applied.service_names(), applied.network_names()) == before
    assert {"eng-keep", "eng-gone"} <= before[0]


def test_empty_directory_says_why(applied: Engine, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = applied.apply("--prune", directory=empty)
    assert result.code == 1
    assert "prune refused: the manifest directory declares no objects" in result.out
    assert "nothing deleted" in result.out
    assert {"eng-keep", "eng-gone"} <= applied.service_names()


def test_max_prune(applied: Engine) -> None:
    applied.write("all.yaml", KEEP_ONLY.split("---")[0])  # only the network stays
    refused = applied.apply("--prune", "--max-prune", "1")
    assert refused.code == 1 and "more than --max-prune 1" in refused.out
    assert {"eng-keep", "eng-gone"} <= applied.service_names()
    assert applied.apply("--prune", "--max-prune", "2").code == 0
    assert not {"eng-keep", "eng-gone"} & applied.service_names()


def test_protect_label_keeps_the_object(applied: Engine, docker_cli: DockerCli) -> None:
    docker_cli(
        "service", "update", "--detach", "--label-add", "swarm-operator/protect=true", "eng-gone"
    )
    applied.write("all.yaml", KEEP_ONLY)
    result = applied.apply("--prune")
    assert result.code == 0, result.out
    assert "kept (label swarm-operator/protect=true)" in result.out
    assert "eng-gone" in applied.service_names()


def test_network_used_by_unmanaged_service_is_not_removed(
    applied: Engine, docker_cli: DockerCli
) -> None:
    docker_cli("service", "update", "--detach", "--network-add", "eng-prune-net", "eng-handmade")
    applied.write("all.yaml", TWO.split("---")[2])  # only eng-gone stays declared
    result = applied.apply("--prune")
    assert result.code == 1, result.out
    assert "network still used by services eng-handmade" in result.out
    assert "not managed here: eng-handmade" in result.out
    assert "eng-prune-net" in applied.network_names()
    assert "eng-keep" not in applied.service_names()  # the service delete itself went ahead
