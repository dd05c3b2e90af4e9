"""How the command ends (`cli.entry`): after `validate`, `plan` and `apply` without the
interpreter's teardown of every module and object (CPU a user waits for and never sees),
keeping what an exit does that can be seen: the exit code, the `atexit` callbacks and
the whole of stdout and stderr. Any other command exits the ordinary way.

Each case runs `entry` in a fresh interpreter beside a probe: an `atexit` callback and
an object whose finaliser says so when the teardown reaches it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MANIFEST = """\
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {{name: {name}}}
spec: {{image: 10.77.0.1:5000/busybox:1}}
"""

BROKEN = """\
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: bad}
spec: {image: 10.77.0.1:5000/busybox:1, replicas: many}
"""

PROBE = """\
import atexit, sys
class Probe:
    def __del__(self):
        sys.stdout.write("torn down\\n"); sys.stdout.flush()
probe = Probe()
atexit.register(lambda: print("atexit ran", flush=True))
sys.argv = ["swarm-operator", *{argv!r}]
from swarm_operator import cli
cli.entry()
"""


def run_entry(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_validate_ends_without_teardown_keeping_code_output_and_atexit(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(MANIFEST.format(name="web"))
    done = run_entry(["validate", str(tmp_path), "--output", "json"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.index('"valid": true') < done.stdout.index("atexit ran")
    assert "torn down" not in done.stdout


def test_a_failing_validate_keeps_its_exit_code_and_all_its_output(tmp_path: Path) -> None:
    for i in range(200):  # more than stdout's buffer: its last part must arrive too
        (tmp_path / f"bad-{i:03}.yaml").write_text(BROKEN)
    done = run_entry(["validate", str(tmp_path)])
    assert done.returncode == 1
    assert len(done.stdout) > 16384
    assert all(f"bad-{i:03}.yaml" in done.stdout + done.stderr for i in range(200))
    assert "atexit ran" in done.stdout
    assert "torn down" not in done.stdout


def test_other_commands_exit_the_ordinary_way(tmp_path: Path) -> None:
    # the probe's finaliser does run in an ordinary exit: the two tests above can fail
    (tmp_path / "web.yaml").write_text(MANIFEST.format(name="web"))
    done = run_entry(["convert", "--help"])
    assert done.returncode == 0
    assert "torn down" in done.stdout


def test_python_dash_m_is_the_same_command(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BROKEN)
    done = subprocess.run(
        [sys.executable, "-m", "swarm_operator", "validate", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "bad.yaml" in done.stdout + done.stderr
