"""Logging: reconcile context on every line, secrets never logged, JSON output."""

from __future__ import annotations

import json

import structlog
from structlog.testing import capture_logs

from swarm_operator.observe import logs


def test_reconcile_context_binds_kind_name_and_id() -> None:
    log = structlog.get_logger()
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as captured:
        with logs.reconcile_context("Service", "web") as rid:
            log.info("planned", actions=1)
        log.info("outside")
    assert captured[0]["kind"] == "Service"
    assert captured[0]["name"] == "web"
    assert captured[0]["reconcile_id"] == rid
    assert len(rid) == 12
    assert "reconcile_id" not in captured[1]


def test_two_reconciles_get_different_ids() -> None:
    with logs.reconcile_context("Node", "h1") as a, logs.reconcile_context("Node", "h2") as b:
        assert a != b


def test_redact_hides_env_values_and_secrets_at_any_depth() -> None:
    event = {
        "event": "applying",
        "env": {"DB_PASSWORD": "hunter2"},
        "spec": {"image": "x", "env": {"A": "1"}, "labels": {"team": "a"}},
        "token": "abc",
        "diff": [
            {"path": "spec.env.DB_PASSWORD", "old": "hunter2", "new": "hunter3"},
            {"path": "spec.replicas", "old": 1, "new": 3},
        ],
    }
    out = logs.redact(None, "info", dict(event))
    text = json.dumps(out)
    assert "hunter" not in text
    assert '"abc"' not in text
    assert out["spec"]["image"] == "x"
    assert out["spec"]["labels"] == {"team": "a"}
    assert out["diff"][1] == {"path": "spec.replicas", "old": 1, "new": 3}
    assert out["diff"][0]["path"] == "spec.env.DB_PASSWORD"


def test_redact_runs_in_the_configured_pipeline(capsys: object) -> None:
    with capture_logs(processors=[logs.redact]) as captured:
        structlog.get_logger().info("x", env={"K": "secret-value"}, password="p")
    assert captured[0]["env"] == logs.REDACTED
    assert captured[0]["password"] == logs.REDACTED


def test_configure_json_writes_json_lines(capsys) -> None:  # type: ignore[no-untyped-def]
    logs.configure(json=True)
    try:
        with logs.reconcile_context("Service", "web"):
            structlog.get_logger().info("reconciled", env={"K": "v"})
        err = capsys.readouterr().err.strip().splitlines()
        line = json.loads(err[-1])
        assert line["event"] == "reconciled"
        assert line["kind"] == "Service"
        assert line["env"] == logs.REDACTED
        assert line["level"] == "info"
    finally:
        structlog.reset_defaults()
