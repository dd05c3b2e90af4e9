"""Helpers for the engine's lab tests: write manifests, run plan/apply, read the Swarm."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from swarm_operator.cli import main
from swarm_operator.lab import Lab
from swarm_operator.swarm.client import SwarmClient


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Engine:
    """plan/apply against the lab manager, on manifests written into a temp directory."""

    def __init__(self, lab: Lab, directory: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.lab = lab
        self.dir = directory
        self.capsys = capsys
        self.client = SwarmClient(lab.manager.docker_host)

    def write(self, name: str, text: str) -> Path:
        """Write a manifest file; ``{image}`` and ``{registry}`` are the lab's."""
        body = textwrap.dedent(text).replace("{image}", self.lab.image)
        body = body.replace("{registry}", self.lab.registry)
        path = self.dir / name
        path.write_text(body)
        return path

    def run(self, command: str, *args: str, directory: Path | None = None) -> Run:
        self.capsys.readouterr()
        argv = [command, str(directory or self.dir), "--host", self.lab.manager.docker_host]
        code = main([*argv, *args])
        captured = self.capsys.readouterr()
        return Run(code, captured.out, captured.err)

    def plan(self, *args: str, directory: Path | None = None) -> Run:
        return self.run("plan", *args, directory=directory)

    def apply(self, *args: str, directory: Path | None = None) -> Run:
        return self.run("apply", *args, directory=directory)

    def service(self, name: str) -> dict[str, Any]:
        return self.client.inspect_service(name)

    def service_names(self) -> set[str]:
        return {s["Spec"]["Name"] for s in self.client.services()}

    def network_names(self) -> set[str]:
        return {n["Name"] for n in self.client.networks() if n.get("Scope") == "swarm"}

    def node(self, hostname: str) -> dict[str, Any]:
        (found,) = [n for n in self.client.nodes() if n["Description"]["Hostname"] == hostname]
        return found


@pytest.fixture
def engine(
    lab: Lab, swarm_cleanup: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Engine:
    directory = tmp_path / "manifests"
    directory.mkdir()
    return Engine(lab, directory, capsys)
