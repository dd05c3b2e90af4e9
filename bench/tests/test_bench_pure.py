"""Pure parts of the benchmark: percentiles, tables, the compose/manifest equivalence and
the counting proxy (against a fake HTTP server on a unix socket, no Docker)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

import report
import stats
import workload
from countproxy import CountingProxy, RequestCounter, normalise_path


def test_percentile_interpolates_between_order_statistics() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert stats.percentile(values, 0) == 1.0
    assert stats.percentile(values, 100) == 5.0
    assert stats.median(values) == 3.0
    assert stats.median([1.0, 2.0, 3.0, 4.0]) == 2.5
    # rank = 19 * 0.95 = 18.05 -> between the 19th (19.0) and 20th (20.0) values
    assert stats.percentile([float(i) for i in range(1, 21)], 95) == pytest.approx(19.05)


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


def test_summarise_and_ratio() -> None:
    s = stats.summarise([0.2, 0.1, 0.4])
    assert s == {"n": 3, "median": 0.2, "p95": pytest.approx(0.38), "min": 0.1, "max": 0.4}
    assert stats.summarise([])["median"] is None
    assert stats.ratio(3.0, 1.5) == 2.0
    assert stats.ratio(3.0, None) is None
    assert stats.ratio(3.0, 0.0) is None


def test_markdown_table_aligns_and_checks_width() -> None:
    text = report.markdown_table(["N", "time"], [["10", "1.00 s"], ["100", "12.5 s"]])
    assert text.splitlines() == [
        "| N   |   time |",
        "| --- | -----: |",
        "| 10  | 1.00 s |",
        "| 100 | 12.5 s |",
    ]
    with pytest.raises(ValueError):
        report.markdown_table(["a", "b"], [["only one"]])


def test_render_shows_ratios_to_the_floor() -> None:
    def block(floor: float, op: float, stack: float) -> dict[str, dict[str, float]]:
        return {"floor": {"median": floor}, "operator": {"median": op}, "stack": {"median": stack}}

    results: dict[str, Any] = {
        "meta": {"started": "2026-01-01 10:00 UTC", "docker_version": "26.1.5 (API 1.45)"},
        "apply": [
            {
                "n": 10,
                "cold": {k: {**v, "n": 1} for k, v in block(0.5, 1.0, 2.0).items()},
                "converged": block(5.0, 6.0, 7.0),
                "noop": block(0.002, 0.6, 1.5),
                "startup": block(0.0, 0.5, 0.05),
                "noop_calls": {"floor": 2, "operator": 5, "stack": 32},
                "load": [1.24, 3.51, 2.0],
            }
        ],
    }
    text = report.render(results)
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| Docker ")
    ]
    # Every figure names the engine it was measured on.
    engine = "Docker 26.1.5 (API 1.45)"
    cold, converged, noop = rows
    # ... and the machine's load while it was measured
    assert cold == [engine, "10", "0.50 s", "1.00 s (x2.00)", "2.00 s (x4.00)", "1.2-3.5"]
    assert converged == [engine, "10", "5.00 s", "6.00 s (x1.20)", "7.00 s (x1.40)"]
    assert noop == [engine, "10", "0.60 s", "0.50 s", "5", "1.50 s", "50 ms", "32", "2"]
    assert "documented" not in text  # no drift section without drift results
    assert f"no-op calls for N = 10 on {engine}: 5 (the same whatever N)" in text
    grown = dict(results["apply"][0], n=50, noop_calls={"operator": 9})
    text = report.render({**results, "apply": [results["apply"][0], grown]})
    assert f"no-op calls for N = 10, 50 on {engine}: 5, 9 (GROWS with N" in text


def test_every_table_of_a_full_report_has_the_engine_column() -> None:
    summary = {"n": 3, "median": 0.04, "p95": 0.1, "max": 0.2}
    results: dict[str, Any] = {
        "meta": {"docker_version": "20.10.24+dfsg1 (API 1.41)"},
        "drift": {"summary": {"replicas 1 -> 2": summary}, "managed": 10, "poll_ms": 5},
        "edit": {"summary": {"a label value changed": summary}},
        "rest": {
            "rows": [
                {
                    "n": 100,
                    "replicas": 0,
                    "rss_mib": 50.0,
                    "cpu_percent": 0.2,
                    "window_s": 30,
                    "resync_s": 1.0,
                    "first_sync_s": 1.0,
                }
            ]
        },
    }
    text = report.render(results)
    measured = [
        line
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith(("| engine", "| peer", "| -"))
    ]
    figures = [line for line in measured if "NOT measured" not in line]
    assert len(figures) == 3, measured
    assert all(line.startswith("| Docker 20.10.24+dfsg1 (API 1.41) |") for line in figures)


def test_peers_are_marked_as_documented_not_measured() -> None:
    text = report.peers_table()
    for name in ("SwarmCD", "doco-cd", "Portainer", "Argo CD"):
        line = next(line for line in text.splitlines() if name in line)
        assert "NOT measured" in line


def test_compose_and_manifests_describe_the_same_services() -> None:
    image = "10.77.9.1:5000/x:1"
    compose = yaml.safe_load(workload.compose_file(3, image))
    files = workload.operator_manifests(3, image)
    services = [yaml.safe_load(t) for name, t in sorted(files.items()) if "service" in name]
    assert len(compose["services"]) == len(services) == 3
    for (_, c), m in zip(sorted(compose["services"].items()), services, strict=True):
        assert c["image"] == m["spec"]["image"] == image
        assert c["command"] == m["spec"]["command"]
        assert c["stop_signal"] == m["spec"]["stopSignal"]
        assert c["deploy"]["replicas"] == m["spec"]["replicas"] == 1
    net = yaml.safe_load(files["00-network.yaml"])
    assert net["spec"]["subnet"] == compose["networks"]["net"]["ipam"]["config"][0]["subnet"]
    floor = workload.floor_service(1, image, "NETID")
    assert floor["TaskTemplate"]["ContainerSpec"]["Command"] == workload.COMMAND


def test_normalise_path() -> None:
    assert normalise_path("/v1.41/services/abc123/update?version=7") == "/services/{}/update"
    assert normalise_path("/v1.41/services?filters=%7B%7D") == "/services"
    assert normalise_path("/services/create") == "/services/create"
    assert normalise_path("/_ping") == "/_ping"
    assert normalise_path("/v1.41/distribution/10.0.0.1:5000/a/b:1/json") == (
        "/distribution/{}/json"
    )


def test_request_counter_skips_bodies_and_survives_split_chunks() -> None:
    body = b'{"x": "GET /fake HTTP/1.1\\r\\n\\r\\n"}'
    stream = (
        b"GET /v1.41/services HTTP/1.1\r\nHost: x\r\n\r\n"
        + b"POST /v1.41/services/create HTTP/1.1\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
        + b"POST /v1.41/networks/create HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"
        + b"HEAD /_ping HTTP/1.1\r\n\r\n"
    )
    for size in (1, 7, len(stream)):
        counter = RequestCounter()
        for i in range(0, len(stream), size):
            counter.feed(stream[i : i + size])
        assert counter.requests == [
            ("GET", "/v1.41/services"),
            ("POST", "/v1.41/services/create"),
            ("POST", "/v1.41/networks/create"),
            ("HEAD", "/_ping"),
        ], size


def _fake_engine(path: str, stop: threading.Event) -> threading.Thread:
    """A keep-alive HTTP server on a unix socket answering every request with ``ok``."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    server.settimeout(0.1)

    def handle(conn: socket.socket) -> None:
        counter = RequestCounter()
        answered = 0
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                counter.feed(data)
                while answered < len(counter.requests):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    answered += 1

    def serve() -> None:
        with server:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def _request(sock: socket.socket, raw: bytes) -> bytes:
    sock.sendall(raw)
    reply = b""
    while not reply.endswith(b"ok"):
        chunk = sock.recv(4096)
        assert chunk, "proxy closed the connection"
        reply += chunk
    return reply


def test_proxy_forwards_and_counts_requests(tmp_path: Path) -> None:
    upstream = str(tmp_path / "engine.sock")
    stop = threading.Event()
    server = _fake_engine(upstream, stop)
    try:
        with CountingProxy(str(tmp_path / "proxy.sock"), upstream) as proxy:
            assert proxy.docker_host == f"unix://{tmp_path / 'proxy.sock'}"
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as a:
                a.connect(proxy.listen_path)
                # two requests on one keep-alive connection, one with a body
                assert _request(a, b"GET /v1.41/services HTTP/1.1\r\n\r\n").endswith(b"ok")
                _request(
                    a,
                    b"POST /v1.41/services/s1/update?version=3 HTTP/1.1\r\n"
                    b"Content-Length: 4\r\n\r\n{}{}",
                )
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as b:
                b.connect(proxy.listen_path)
                _request(b, b"GET /v1.41/services HTTP/1.1\r\n\r\n")
            assert proxy.counts == {"GET /services": 2, "POST /services/{}/update": 1}
            assert proxy.total == 3
            proxy.reset()
            assert proxy.total == 0
    finally:
        stop.set()
        server.join(timeout=2)


def test_resync_passes_pair_log_lines() -> None:
    import daemon_bench

    events: list[dict[str, Any]] = [
        {"event": "starting", "timestamp": "2026-01-01T10:00:00.000000Z"},
        {"event": "resync", "objects": 3, "timestamp": "2026-01-01T10:00:01.000000Z"},
        {"event": "reconciled", "timestamp": "2026-01-01T10:00:01.200000Z"},
        {"event": "full sync done", "timestamp": "2026-01-01T10:00:01.500000Z"},
        {"event": "resync", "objects": 3, "timestamp": "2026-01-01T10:01:00.000000Z"},
        {"event": "full sync done", "timestamp": "2026-01-01T10:01:00.250000Z"},
        {"event": "resync", "objects": 3, "timestamp": "2026-01-01T10:02:00.000000Z"},
    ]
    assert daemon_bench.resync_passes(events) == [pytest.approx(0.5), pytest.approx(0.25)]
    assert daemon_bench.resync_passes([{"event": "full sync done"}]) == []


def test_proc_readers_on_this_process() -> None:
    import os

    import daemon_bench

    assert daemon_bench.proc_rss_mib(os.getpid()) > 1.0
    before = daemon_bench.proc_cpu_seconds(os.getpid())
    sum(i * i for i in range(200_000))
    assert daemon_bench.proc_cpu_seconds(os.getpid()) >= before
