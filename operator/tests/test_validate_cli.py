"""`swarm-operator validate`: exit codes, output formats, the shipped examples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swarm_operator import cli

REPO = Path(__file__).resolve().parents[2]
HEAD = "apiVersion: swarm-operator/v1alpha1\n"


def bad_directory(root: Path) -> Path:
    """A typo'd field, a bad subnet and a YAML syntax error, in three files."""
    (root / "nested").mkdir(parents=True)
    (root / "typo.yaml").write_text(
        HEAD + "kind: Service\nmetadata:\n  name: web\nspec:\n  image: busybox\n  replicaz: 3\n"
    )
    (root / "nested" / "net.yaml").write_text(
        HEAD + "kind: Network\nmetadata:\n  name: app-net\nspec:\n  subnet: 10.10.0.0/33\n"
    )
    (root / "broken.yml").write_text(HEAD + "kind: Node\nmetadata: {name: host1\n")
    return root


DEMO = REPO / "manifests" / "cross-host-demo"


def test_shipped_manifests_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(REPO / "manifests")]) == 0
    assert capsys.readouterr().out.startswith("valid: ")
    assert cli.main(["validate", str(DEMO)]) == 0
    out = capsys.readouterr().out
    assert out == "valid: 9 objects in 3 files (1 Network, 5 Service, 3 Node)\n"


def test_invalid_directory_lists_every_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = bad_directory(tmp_path)
    assert cli.main(["validate", str(root)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{root}/broken.yml:4:1: YAML syntax error: did not find expected ',' or '}}' "
        "(while parsing a flow mapping at line 3)",
        f"{root}/typo.yaml:7:3: unknown field 'replicaz' in spec; did you mean 'replicas'?",
        f"{root}/nested/net.yaml:6:11: spec.subnet: '10.10.0.0/33' is not a network in CIDR "
        "form (e.g. 10.10.0.0/24): '10.10.0.0/33' does not appear to be an IPv4 or IPv6 network",
    ]
    assert captured.err == "invalid: 3 errors in 3 of 3 files (0 valid objects)\n"


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = bad_directory(tmp_path)
    assert cli.main(["validate", str(root), "--output", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    assert report["files"] == 3
    assert report["objects"] == 0
    assert [(e["file"], e["line"], e["column"]) for e in report["errors"]] == [
        (f"{root}/broken.yml", 4, 1),
        (f"{root}/typo.yaml", 7, 3),
        (f"{root}/nested/net.yaml", 6, 11),
    ]
    assert report["errors"][1]["message"].endswith("did you mean 'replicas'?")


def test_json_output_when_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(DEMO), "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "valid": True,
        "files": 3,
        "objects": 9,
        "kinds": {"Network": 1, "Service": 5, "Node": 3},
        "errors": [],
    }


def test_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = bad_directory(tmp_path)
    assert cli.main(["validate", str(root / "typo.yaml")]) == 1
    assert capsys.readouterr().out.startswith(f"{root}/typo.yaml:7:3: unknown field")


def test_max_file_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = bad_directory(tmp_path)
    assert cli.main(["validate", str(root), "--max-file-bytes", "10"]) == 1
    out = capsys.readouterr().out
    assert out.count("more than the limit of 10: refused") == 3


def test_empty_directory_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "valid: 0 objects in 0 files\n"


def test_missing_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["validate", str(tmp_path / "nope")]) == 2
    assert "no such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["validate"],
        ["validate", "x", "--output", "yaml"],
        ["validate", "a", "b"],
        ["validate", "x", "--max-file-bytes", "0"],
        ["validate", "x", "--max-file-bytes", "1M"],
        ["nope"],
        [],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "usage: swarm-operator" in capsys.readouterr().err


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["validate", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "swarm-operator validate manifests/" in out
    assert "exit status: 0 all valid, 1 some manifest is invalid, 2 usage error" in out


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "operator"))
    return subprocess.run(
        [sys.executable, "-m", "swarm_operator", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_real_process_exit_codes(tmp_path: Path) -> None:
    ok = _run("validate", str(DEMO))
    assert (ok.returncode, ok.stdout) == (
        0,
        "valid: 9 objects in 3 files (1 Network, 5 Service, 3 Node)\n",
    )
    bad = _run("validate", str(bad_directory(tmp_path)))
    assert bad.returncode == 1
    assert len(bad.stdout.splitlines()) == 3
    for name, line in [("broken.yml", 4), ("typo.yaml", 7), ("nested/net.yaml", 6)]:
        assert f"{tmp_path}/{name}:{line}:" in bad.stdout
    usage = _run("validate")
    assert usage.returncode == 2
    assert "the following arguments are required: DIR" in usage.stderr
