"""The command line starts without the heavy modules it does not need: `--help` and
`validate` never import docker (nor requests, nor structlog); only the subcommands that
talk to a Swarm do, inside their ``run()``. Each case runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MANIFEST = """\
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: web}
spec: {image: 10.77.0.1:5000/busybox:1}
"""


def imported_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint(' '.join(sorted(m.split('.')[0] for m in sys.modules)))\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(proc.stdout.split())


def test_building_the_parser_imports_no_docker() -> None:
    modules = imported_after("from swarm_operator import cli; cli.build_parser()")
    assert "swarm_operator" in modules
    assert not {"docker", "requests", "structlog"} & modules


def test_validate_imports_no_docker(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(MANIFEST)
    code = f"from swarm_operator import cli\nassert cli.main(['validate', {str(tmp_path)!r}]) == 0"
    modules = imported_after(code)
    assert "pydantic" in modules  # it did validate
    assert not {"docker", "requests"} & modules


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_the_commands_that_talk_to_a_swarm_still_reach_docker(command: str, tmp_path: Path) -> None:
    code = (
        "from swarm_operator import cli\n"
        "import contextlib, io\n"
        "quiet = contextlib.redirect_stdout(io.StringIO())\n"
        "with contextlib.redirect_stderr(io.StringIO()), quiet:\n"
        f"    cli.main([{command!r}, {str(tmp_path)!r}, '--host', 'unix:///nonexistent.sock'])"
    )
    assert "docker" in imported_after(code)
