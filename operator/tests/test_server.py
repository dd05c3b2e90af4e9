"""HTTP endpoints over a real socket on loopback: metrics, health, readiness, status."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from swarm_operator.observe import parse_addr
from swarm_operator.observe.metrics import Metrics, ObjectInfo
from swarm_operator.observe.server import OperatorHTTPServer
from swarm_operator.observe.status import StatusBoard


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup() -> Iterator[tuple[OperatorHTTPServer, StatusBoard, FakeClock, Metrics]]:
    clock = FakeClock()
    board = StatusBoard(clock=clock, wall_clock=lambda: 1_700_000_000.0, heartbeat_timeout=30)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    server = OperatorHTTPServer("127.0.0.1:0", registry, board)
    server.start()
    yield server, board, clock, metrics
    server.stop()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_parse_addr() -> None:
    assert parse_addr("127.0.0.1:9786") == ("127.0.0.1", 9786)
    assert parse_addr(":9786") == ("0.0.0.0", 9786)
    assert parse_addr("[::1]:80") == ("::1", 80)
    with pytest.raises(ValueError):
        parse_addr("localhost")


def test_metrics_endpoint_exposes_the_injected_registry(setup) -> None:  # type: ignore[no-untyped-def]
    server, _, _, metrics = setup
    metrics.set_object(ObjectInfo("Service", "web", "synced", "healthy"))
    code, body = get(server.url + "/metrics")
    assert code == 200
    assert (
        'swarm_operator_object_info{health_status="healthy",kind="Service",'
        'name="web",sync_status="synced"} 1.0' in body
    )


def test_healthz_follows_the_heartbeat(setup) -> None:  # type: ignore[no-untyped-def]
    server, board, clock, _ = setup
    board.beat()
    assert get(server.url + "/healthz")[0] == 200
    clock.now += 31
    code, body = get(server.url + "/healthz")
    assert code == 503
    assert "stalled" in body
    board.beat()
    assert get(server.url + "/healthz")[0] == 200


def test_readyz_needs_connection_quorum_and_first_sync(setup) -> None:  # type: ignore[no-untyped-def]
    server, board, _, _ = setup
    code, body = get(server.url + "/readyz")
    assert code == 503
    board.set_connection(True)
    code, body = get(server.url + "/readyz")
    assert (code, body.strip()) == (503, "full sync since connecting not done yet")
    board.full_sync_done()
    assert get(server.url + "/readyz")[0] == 200
    board.set_connection(True, quorum=False)
    code, body = get(server.url + "/readyz")
    assert code == 503
    assert "quorum" in body


def test_status_is_json_with_objects_errors_and_revision(setup) -> None:  # type: ignore[no-untyped-def]
    server, board, _, _ = setup
    board.set_revision("a" * 40)
    board.set_load_errors([("web.yaml:3", "spec.replicas: not an integer")])
    board.update(
        "Service",
        "web",
        sync_status="out_of_sync",
        health_status="degraded",
        last_error="boom",
        drift=("spec.replicas",),
    )
    code, body = get(server.url + "/status")
    assert code == 200
    doc = json.loads(body)
    assert doc["sourceRevision"] == "a" * 40
    assert doc["loadErrors"] == [
        {"source": "web.yaml:3", "message": "spec.replicas: not an integer"}
    ]
    (obj,) = doc["objects"]
    assert obj["kind"] == "Service"
    assert obj["syncStatus"] == "out_of_sync"
    assert obj["lastError"] == "boom"
    assert obj["drift"] == ["spec.replicas"]
    assert doc["summary"]["outOfSync"] == 1


def test_unknown_path_is_404(setup) -> None:  # type: ignore[no-untyped-def]
    server, _, _, _ = setup
    assert get(server.url + "/nope")[0] == 404


def post(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_post_sync_calls_the_daemon_with_wait_and_timeout() -> None:
    calls: list[tuple[bool, float]] = []

    def on_sync(wait: bool, timeout: float) -> tuple[bool, dict[str, object]]:
        calls.append((wait, timeout))
        return (timeout > 5, {"done": timeout > 5})

    server = OperatorHTTPServer("127.0.0.1:0", CollectorRegistry(), StatusBoard(), on_sync)
    server.start()
    try:
        assert post(server.url + "/sync")[0] == 202
        code, body = post(server.url + "/sync?wait=1&timeout=30")
        assert code == 200 and json.loads(body) == {"done": True}
        assert post(server.url + "/sync?wait=1&timeout=2")[0] == 504  # not done in time
        assert post(server.url + "/sync?wait=1&timeout=x")[0] == 400
        assert post(server.url + "/other")[0] == 404
        assert calls == [(False, 300.0), (True, 30.0), (True, 2.0)]
    finally:
        server.stop()


def test_post_sync_without_a_daemon_handler_is_404(
    setup: tuple[OperatorHTTPServer, StatusBoard, FakeClock, Metrics],
) -> None:
    assert post(setup[0].url + "/sync")[0] == 404
