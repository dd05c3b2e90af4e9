"""Turning results into tables: Markdown (also what the terminal shows) and the PNG plot.

Owns presentation only. `markdown_table` is pure; `render` builds every section from
the results dict that run.py also writes as JSON; `plot` draws time against N with
matplotlib (the optional ``bench`` extra), imported only when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stats import ratio

PEERS_DOCUMENTED = [
    ("SwarmCD", "120 s", "default poll interval"),
    ("doco-cd", "180 s", "default poll interval"),
    ("Argo CD", "180 s", "default reconciliation timeout (3 min)"),
    ("Portainer (GitOps)", "300 s", "default polling interval (5 min)"),
    ("docker stack deploy", "never", "no drift correction at all"),
]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub Markdown table; first column left-aligned, the others right-aligned."""
    cells = [list(headers), *[list(r) for r in rows]]
    for row in cells:
        if len(row) != len(headers):
            raise ValueError(f"row {row!r} has {len(row)} cells, expected {len(headers)}")
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(row):
            out.append(str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i]))
        return "| " + " | ".join(out) + " |"

    rule = ["-" * w if i == 0 else "-" * (w - 1) + ":" for i, w in enumerate(widths)]
    return "\n".join([line(cells[0]), "| " + " | ".join(rule) + " |", *[line(r) for r in rows]])


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 0.1:
        return f"{value * 1000:.0f} ms"
    if value < 10:
        return f"{value:.2f} s"
    return f"{value:.1f} s"


def times(value: float | None) -> str:
    return "-" if value is None else f"x{value:.2f}"


def load_range(samples: Sequence[float]) -> str:
    """The machine's load average over a part, as ``min-max`` (or ``-``)."""
    if not samples:
        return "-"
    low, high = min(samples), max(samples)
    return f"{low:.1f}" if abs(high - low) < 0.05 else f"{low:.1f}-{high:.1f}"


def _med(block: dict[str, Any], tool: str) -> float | None:
    entry = block.get(tool) or {}
    value = entry.get("median")
    return None if value is None else float(value)


def engine_of(results: dict[str, Any]) -> str:
    """The engine every figure of a run was measured on, e.g. ``Docker 26.1.5 (API 1.45)``."""
    return f"Docker {results.get('meta', {}).get('docker_version') or '?'}"


def with_engine(
    engine: str, headers: Sequence[str], rows: Sequence[Sequence[str]]
) -> tuple[list[str], list[list[str]]]:
    """Headers and rows with an ``engine`` column first, so every figure names its engine
    (results of runs on different engines can then be put side by side)."""
    return ["engine", *headers], [[engine, *row] for row in rows]


def apply_tables(sizes: list[dict[str, Any]], engine: str = "Docker ?") -> str:
    cold_rows = []
    conv_rows = []
    noop_rows = []
    for s in sizes:
        cold, conv, noop = s["cold"], s["converged"], s["noop"]
        startup = s.get("startup") or {}
        floor = _med(cold, "floor")
        op, st = _med(cold, "operator"), _med(cold, "stack")
        cold_rows.append(
            [
                str(s["n"]),
                seconds(floor),
                f"{seconds(op)} ({times(ratio(op, floor))})",
                f"{seconds(st)} ({times(ratio(st, floor))})",
                load_range(s.get("load") or []),
            ]
        )
        cf, co, cs = _med(conv, "floor"), _med(conv, "operator"), _med(conv, "stack")
        conv_rows.append(
            [
                str(s["n"]),
                seconds(cf),
                f"{seconds(co)} ({times(ratio(co, cf))})",
                f"{seconds(cs)} ({times(ratio(cs, cf))})",
            ]
        )
        calls = s.get("noop_calls") or {}
        noop_rows.append(
            [
                str(s["n"]),
                seconds(_med(noop, "operator")),
                seconds(_med(startup, "operator")),
                str(calls.get("operator", "-")),
                seconds(_med(noop, "stack")),
                seconds(_med(startup, "stack")),
                str(calls.get("stack", "-")),
                str(calls.get("floor", "-")),
            ]
        )
    op_calls = [(s.get("noop_calls") or {}).get("operator") for s in sizes]
    known = [c for c in op_calls if c is not None]
    ns = ", ".join(str(s["n"]) for s in sizes)
    if len(known) > 1 and max(known) > min(known):
        verdict = "GROWS with N: the no-op should cost a few list calls whatever N"
    else:
        verdict = "the same whatever N"
    calls_line = (
        f"swarm-operator no-op calls for N = {ns} on {engine}: "
        f"{', '.join(str(c) for c in op_calls)} ({verdict})."
    )
    reps = max((cold.get("floor") or {}).get("n", 0) for cold in (s["cold"] for s in sizes))
    parts = [
        "### (a) Cold apply: N services (1 replica) on one overlay network",
        "",
        "Seconds from start to the command's exit (API calls accepted), median of "
        f"{reps} run(s); in brackets the ratio to the floor (raw Engine API calls issued "
        "in-process on one connection: 1 network create + N service creates).",
        "",
        markdown_table(
            *with_engine(
                engine,
                [
                    "N",
                    "floor (raw API)",
                    "swarm-operator apply",
                    "docker stack deploy",
                    "load (1 min)",
                ],
                cold_rows,
            )
        ),
        "",
        "Same runs, seconds until all N tasks are running (scheduling and container start "
        "included; ratio to the floor's):",
        "",
        markdown_table(
            *with_engine(
                engine,
                ["N", "floor (raw API)", "swarm-operator apply", "docker stack deploy"],
                conv_rows,
            )
        ),
        "",
        "### (b) No-op re-apply of the same N services",
        "",
        "Seconds (median) and Engine API requests counted by a proxy on the socket. "
        "Floor: the least needed to know nothing changed (list services, list networks). "
        "Start-up: the same program run with `--help` (talks to no engine), so the part of "
        "the no-op that is process start-up is visible.",
        "",
        markdown_table(
            *with_engine(
                engine,
                [
                    "N",
                    "swarm-operator",
                    "(start-up)",
                    "calls",
                    "docker stack deploy",
                    "(start-up)",
                    "calls",
                    "floor calls",
                ],
                noop_rows,
            )
        ),
        "",
        calls_line,
    ]
    return "\n".join(parts)


def latency_table(
    title: str, rows: list[tuple[str, dict[str, Any]]], engine: str = "Docker ?"
) -> str:
    body = []
    for name, summary in rows:
        body.append(
            [
                name,
                str(summary.get("n", 0)),
                seconds(summary.get("median")),
                seconds(summary.get("p95")),
                seconds(summary.get("max")),
            ]
        )
    return "\n".join(
        [
            title,
            "",
            markdown_table(
                *with_engine(engine, ["change", "trials", "median", "p95", "max"], body)
            ),
        ]
    )


def peers_table() -> str:
    rows = [
        [name, value, f"{what} (documented, NOT measured here)"]
        for name, value, what in PEERS_DOCUMENTED
    ]
    return markdown_table(["peer", "time to notice drift", "source"], rows)


def _loads(value: Any) -> str:
    return "/".join(f"{x:.1f}" for x in value) if value else "?"


def render(results: dict[str, Any]) -> str:
    meta = results.get("meta", {})
    engine = engine_of(results)
    out = [
        f"## swarm-operator benchmark, {meta.get('started', '?')}",
        "",
        f"Lab index {meta.get('lab_index')}: {meta.get('hosts')} hosts (one dockerd each, "
        f"one manager), Docker {meta.get('docker_version')}, on {meta.get('machine')}; "
        f"load average (1, 5, 15 min) {_loads(meta.get('load_start'))} at the start and "
        f"{_loads(meta.get('load_end'))} at the end. "
        "Absolute seconds depend on the machine and its load; read the ratios.",
        "",
    ]
    if results.get("apply"):
        out += [apply_tables(results["apply"], engine), ""]
    drift = results.get("drift")
    if drift:
        out += [
            latency_table(
                "### (c) Drift correction with the daemon running: a hand-made "
                "`docker service update` until the operator has restored the spec",
                [(k, v) for k, v in drift["summary"].items()],
                engine,
            ),
            "",
            f"Measured on one service among {drift.get('managed', '?')} managed. The change is "
            "the request `docker service update` sends (update at the inspected version); the "
            "clock runs from that request until a poll of the service (every "
            f"{drift.get('poll_ms', '?')} ms) shows the declared spec again. Beside it, what "
            "the peers document (defaults, not measured here):",
            "",
            peers_table(),
            "",
        ]
    edit = results.get("edit")
    if edit:
        out += [
            latency_table(
                "### (d) Manifest edit to service spec updated, daemon running",
                [(k, v) for k, v in edit["summary"].items()],
                engine,
            ),
            "",
        ]
    gitops = results.get("gitops")
    if gitops:
        peers = [[n, v, f"{w} (documented, NOT measured here)"] for n, v, w in gitops["peers"]]
        out += [
            latency_table(
                "### (f) GitOps: a commit pushed to a git server on loopback until the "
                "service spec carries it",
                [(k, v) for k, v in gitops["summary"].items()],
                engine,
            ),
            "",
            "The clock runs from the end of `git push` (to a `git daemon` on 127.0.0.1) until a "
            f"poll of the service (every {gitops.get('poll_ms', '?')} ms) shows the pushed "
            "label. Webhook: a signed GitHub push hook sent after the push (goal: p95 under "
            "2 s). Polling waits for the next fetch, up to the whole interval. The peers' "
            "default intervals, beside it:",
            "",
            markdown_table(["peer", "default git poll", "source"], peers),
            "",
        ]
    rest = results.get("rest")
    if rest:
        rows = [
            [
                str(r["n"]),
                str(r["replicas"]),
                f"{r['rss_mib']:.1f} MiB",
                f"{r['cpu_percent']:.2f} %",
                f"{r['window_s']:.0f} s",
                seconds(r.get("resync_s")),
                seconds(r.get("first_sync_s")),
                seconds(r.get("apply_s")),
                seconds(r.get("plan_s")),
                seconds(r.get("edit_s")),
                load_range(r.get("load") or []),
            ]
            for r in rest["rows"]
        ]
        out += [
            "### (e) Daemon at rest",
            "",
            markdown_table(
                *with_engine(
                    engine,
                    [
                        "managed services",
                        "replicas each",
                        "RSS",
                        "CPU (of one core)",
                        "window",
                        "full resync pass",
                        "first sync",
                        "cold apply",
                        "plan (no-op)",
                        "one manifest edit live",
                        "load (1 min)",
                    ],
                    rows,
                )
            ),
            "",
            rest.get("note", ""),
            "",
        ]
    multi = results.get("multihost")
    if multi:
        out += multihost_lines(multi, engine_of(results))
    return "\n".join(out).rstrip() + "\n"


def multihost_lines(multi: dict[str, Any], engine: str) -> list[str]:
    """Part (g): the doctor's matrix and the daemon's probe on the larger lab."""
    doctor = multi.get("doctor") or {}
    probe = multi.get("probe") or {}
    rows = []
    for m in doctor.get("matrices") or []:
        rows.append(
            [
                "doctor -o json (start to exit)",
                f"{m.get('network')}: {m.get('pairs')} pairs, {m.get('ok')} ok",
                seconds(doctor.get("seconds")),
                _loads(doctor.get("load")),
            ]
        )
    if doctor.get("error"):
        rows.append(["doctor -o json", f"failed: {doctor['error'][-120:]}", "", ""])
    pairs = f"{probe.get('pairs')} ordered pairs of distinct hosts"
    load = f"{_loads(probe.get('load_before'))} .. {_loads(probe.get('load_after'))}"
    for what, key in (
        ("daemon probe: every pair reachable after start", "all_up_s"),
        (f"4789/udp dropped on {probe.get('blocked')}: its pairs 0, the others 1", "detect_s"),
        ("unblocked: every pair back at 1", "recover_s"),
    ):
        if key in probe:
            value = probe.get(key)
            shown = seconds(value) if value is not None else "timed out"
            rows.append([what, pairs, shown, load if key == "detect_s" else ""])
    if probe.get("error"):
        rows.append(["daemon probe", f"failed: {probe['error']}", "", ""])
    return [
        f"### {multi.get('hosts')} hosts: the doctor's matrix and the daemon's probe ({engine})",
        "",
        f"Lab grown to {multi.get('hosts')} hosts in {seconds(multi.get('lab_up_s'))}; the "
        "probe at its default interval (5 s), its matrix read from /metrics every 0.2 s.",
        "",
        markdown_table(["measure", "what", "seconds", "load (1, 5, 15 min)"], rows),
        "",
    ]


def plot(results: dict[str, Any], path: Path) -> bool:
    """Draw cold-apply and no-op seconds against N; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = results.get("apply") or []
    if not sizes:
        return False
    ns = [s["n"] for s in sizes]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.2))
    labels = {
        "floor": "floor (raw API)",
        "operator": "swarm-operator apply",
        "stack": "docker stack deploy",
    }
    for tool, style in (("floor", "k--o"), ("operator", "b-o"), ("stack", "r-s")):
        ys = [_med(s["cold"], tool) for s in sizes]
        ax1.plot(ns, [y if y is not None else float("nan") for y in ys], style, label=labels[tool])
        ys = [_med(s["noop"], tool) for s in sizes]
        ax2.plot(ns, [y if y is not None else float("nan") for y in ys], style, label=labels[tool])
        calls = [(s.get("noop_calls") or {}).get(tool) for s in sizes]
        ax3.plot(
            ns, [c if c is not None else float("nan") for c in calls], style, label=labels[tool]
        )
    ax1.set_title("Cold apply: seconds to create N services")
    ax2.set_title("No-op re-apply: seconds")
    ax3.set_title("No-op re-apply: Engine API calls")
    for ax in (ax1, ax2, ax3):
        ax.set_xlabel("N services")
        ax.set_ylabel("calls" if ax is ax3 else "seconds")
        ax.grid(True, alpha=0.3)
        ax.legend()
    meta = results.get("meta", {})
    fig.suptitle(
        f"swarm-operator bench {meta.get('started', '')} on {engine_of(results)} "
        f"({meta.get('machine', '')})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
