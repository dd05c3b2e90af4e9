"""deploy/: the systemd units verify, the alert rules pass promtool's tests, the dashboard
and the rules only use metrics the operator exports, the stack and manifest are sound.

promtool (Debian package ``prometheus``) and systemd-analyze (``systemd``) are installed
by ``make deps``; when missing these tests fail and say so (they never skip).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from swarm_operator.manifests.loader import load_directory
from swarm_operator.observe.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "swarm-operator.json"
RULES = DEPLOY / "prometheus" / "rules.yml"
METRIC = re.compile(r"\bswarm_operator_[a-z_]+")
# Names a histogram or counter family exports beyond its base name.
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make deps` (it installs it)", pytrace=False)
    return path


def exported_names() -> set[str]:
    registry = CollectorRegistry()
    Metrics(registry)
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(f"{family.name}{s}" for s in SUFFIXES)
    return names


def dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]


def alert_exprs() -> list[str]:
    doc = yaml.safe_load(RULES.read_text())
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def test_promtool_rule_unit_tests_pass() -> None:
    promtool = tool("promtool")
    check = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    proc = subprocess.run(
        [promtool, "test", "rules", "rules_test.yml"],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr


def test_every_alert_has_a_promtool_test() -> None:
    tests = yaml.safe_load((DEPLOY / "prometheus" / "rules_test.yml").read_text())
    tested = {
        case["alertname"]
        for t in tests["tests"]
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert alerts - tested == set(), "alerts never seen firing in rules_test.yml"


def test_the_issue_alerts_exist() -> None:
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    for wanted in (
        "Down",
        "OutOfSync",
        "ReconcileErrors",
        "ServiceDegraded",
        "NodeDown",
        "OverlayPairUnreachable",
    ):
        assert any(wanted in a for a in alerts), wanted


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_queries_only_name_exported_metrics(source: str) -> None:
    exprs = dashboard_exprs() if source == "dashboard" else alert_exprs()
    assert exprs
    known = exported_names()
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert used
    assert used - known == set()


def test_dashboard_has_the_panels_the_issue_asks_for() -> None:
    doc = json.loads(DASHBOARD.read_text())
    titles = " | ".join(p["title"].lower() for p in doc["panels"])
    for wanted in (
        "sync status",
        "drift",
        "reconcile rate",
        "errors",
        "latency",
        "replicas",
        "nodes",
        "connectivity",
    ):
        assert wanted in titles, wanted
    assert all(p.get("targets") for p in doc["panels"])
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))


def _units(tmp_path: Path) -> list[Path]:
    """The units as shipped, with ExecStart pointing at this checkout's installed binary
    (systemd-analyze checks that the executable exists)."""
    binary = shutil.which("swarm-operator") or str(
        Path(__file__).parents[2] / ".venv/bin/swarm-operator"
    )
    out = []
    for name in (
        "swarm-operator.service",
        "swarm-operator-git.service",
        "swarm-operator-pull.service",
        "swarm-operator-pull.timer",
    ):
        text = (DEPLOY / name).read_text().replace("/usr/local/bin/swarm-operator", binary)
        (tmp_path / name).write_text(text)
        out.append(tmp_path / name)
    return out


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    units = _units(tmp_path)
    proc = subprocess.run([analyze, "verify", *map(str, units)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.strip() == "", proc.stderr


def test_operator_unit_is_hardened(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    unit = _units(tmp_path)[0]
    # Exposure scores go from 0 (locked down) to 10 (UNSAFE); the threshold is in tenths.
    proc = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=25", str(unit)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr


def test_git_unit_is_hardened_and_runs_the_git_source(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    unit = _units(tmp_path)[1]
    text = unit.read_text()
    assert "--git-token-file ${CREDENTIALS_DIRECTORY}/git-token" in text
    proc = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=25", str(unit)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr


def test_operator_manifest_is_valid() -> None:
    result = load_directory(DEPLOY / "manifests")
    assert result.ok, [str(e) for e in result.errors]
    assert [o.manifest.key for o in result.objects] == [("Service", "swarm-operator")]


def test_stack_runs_on_managers_with_the_socket_and_the_git_source() -> None:
    """The stack as the lab runs it (operator/tests/lab/test_operator_service.py): each
    command option is one the run parser takes, and no manifest directory is mounted."""
    stack = yaml.safe_load((DEPLOY / "stack.yml").read_text())
    svc = stack["services"]["operator"]
    assert "node.role == manager" in svc["deploy"]["placement"]["constraints"]
    targets = {v["target"]: v for v in svc["volumes"]}
    assert set(targets) == {"/var/run/docker.sock"}
    assert targets["/var/run/docker.sock"]["source"] == "/var/run/docker.sock"
    command = svc["command"]
    assert command[0] == "run"
    options = {arg.split("=", 1)[0] for arg in command[1:]}
    assert options == {"--git", "--git-ref", "--git-path", "--git-interval", "--git-cache",
                       "--metrics-addr", "--log-format"}  # fmt: skip
    assert "${GIT_URL:?" in (DEPLOY / "stack.yml").read_text()


def test_connectivity_panel_and_pair_alert_use_the_exported_labels() -> None:
    """The node x node panel and the broken-pair alert name the gauge's real labels."""
    labels = tuple(Metrics(CollectorRegistry()).overlay_reachable._labelnames)
    assert labels == ("network", "source_node", "target_node")
    doc = json.loads(DASHBOARD.read_text())
    (panel,) = [p for p in doc["panels"] if "connectivity" in p["title"].lower()]
    (target,) = panel["targets"]
    assert "swarm_operator_overlay_reachable" in target["expr"]
    assert "by (source_node, target_node)" in target["expr"]
    assert '{network=~"$network"}' in target["expr"]
    assert panel["repeat"] == "network"
    assert {v["name"] for v in doc["templating"]["list"]} >= {"network"}
    (matrix,) = [t for t in panel["transformations"] if t["id"] == "groupingToMatrix"]
    assert (matrix["options"]["rowField"], matrix["options"]["columnField"]) == labels[1:]
    rules = yaml.safe_load(RULES.read_text())
    (rule,) = [
        r
        for g in rules["groups"]
        for r in g["rules"]
        if r["alert"].endswith("OverlayPairUnreachable")
    ]
    assert "max by (network, source_node, target_node)" in rule["expr"]
    for label in labels:
        assert f"$labels.{label}" in rule["annotations"]["summary"]


def test_the_git_unit_and_the_stack_give_options_the_daemon_accepts(tmp_path: Path) -> None:
    """ExecStart of the git unit and the stack's command, parsed as `swarm-operator run`
    parses them (the token read from the credential the unit names)."""
    import shlex

    from swarm_operator.cli import build_parser
    from swarm_operator.cli.run import _git_options

    (tmp_path / "git-token").write_text("t0ken\n")
    text = (DEPLOY / "swarm-operator-git.service").read_text()
    exec_start = re.search(r"^ExecStart=(.*?[^\\])$", text, re.M | re.S)
    assert exec_start is not None
    unit_argv = shlex.split(exec_start.group(1).replace("\\\n", " "))[1:]
    unit_argv = [a.replace("${CREDENTIALS_DIRECTORY}", str(tmp_path)) for a in unit_argv]
    stack = yaml.safe_load((DEPLOY / "stack.yml").read_text())
    stack_argv = [
        re.sub(r"\$\{(\w+):[-?][^}]*\}", lambda m: {"GIT_URL": "git://10.0.0.5/m.git"}.get(
            m.group(1), "5s" if m.group(1) == "GIT_INTERVAL" else "main"), a)
        for a in stack["services"]["operator"]["command"]
    ]  # fmt: skip
    for argv in (unit_argv, stack_argv):
        args = build_parser().parse_args(argv)
        options = _git_options(args)
        assert options is not None and options.url.startswith(("https://", "git://")), argv
    assert build_parser().parse_args(unit_argv).git_token_file == tmp_path / "git-token"
