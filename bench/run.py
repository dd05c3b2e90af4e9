"""`python bench/run.py`: swarm-operator against `docker stack deploy` and the raw API floor.

Brings the lab up if needed (index from ``--index``, else ``SWARM_OPERATOR_LAB_INDEX``,
else 0; engine from ``--engine``, else ``SWARM_OPERATOR_LAB_ENGINE``, else 26.1), runs
the parts asked for, prints progress and the tables (every figure beside the engine
version it was measured on), and writes
``results.md``, ``results.json`` and ``apply.png`` into ``--out`` (default
``bench-results/``, git-ignored). Parts:

  a, b  cold apply and no-op re-apply of N services (apply_bench.py)
  c, d  drift-correction and manifest-edit latency with the daemon running (daemon_bench.py)
  e     the daemon at rest with 100 and 2,000 managed services: RSS, CPU, full resync pass
  f     GitOps: a commit pushed to a git server on loopback until the service spec
        carries it, via webhook and via polling at the default interval (gitops_bench.py)
  g     the lab grown to --matrix-hosts hosts (7): doctor's node x node matrix (49 pairs)
        and the daemon probe's time to see 4789/udp dropped on one host (multihost_bench.py)

Every figure that depends on the machine is shown beside a baseline measured in the
same run (the floor, or the peers' documented intervals), since the absolute numbers
move with the machine's load. See README "Benchmarks".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # `python bench/run.py` from anywhere; also `-m` style imports
    sys.path.insert(0, str(HERE))

import apply_bench  # noqa: E402
import benchlab  # noqa: E402
import report  # noqa: E402
from swarm_operator.lab import index_from_env  # noqa: E402
from swarm_operator.lab.engine import docker_cli  # noqa: E402
from swarm_operator.lab.engines import (  # noqa: E402
    DEFAULT_ENGINE,
    ENGINE_ENV,
    ENGINES,
    engine_from_env,
)

PARTS = "abcdefg"


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a list like 10,50,100") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: sizes must be positive integers")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark swarm-operator on the lab against docker stack deploy and "
        "the raw Engine API floor.",
    )
    p.add_argument("--sizes", type=_int_list, default=[10, 50, 100], help="N for (a), (b)")
    p.add_argument("--trials", type=int, default=20, help="trials per latency in (c), (d)")
    p.add_argument("--repeats", type=int, default=1, help="cold applies per contender and N")
    p.add_argument("--noop-repeats", type=int, default=3, help="timed no-op runs per N")
    p.add_argument("--rest-sizes", type=_int_list, default=[100, 2000], help="N for (e)")
    p.add_argument("--rest-window", type=float, default=30.0, help="CPU window in (e), seconds")
    p.add_argument(
        "--rest-edits", type=int, default=5, help="manifest edits timed per N in (e) (median)"
    )
    p.add_argument("--poll-ms", type=float, default=5.0, help="spec poll interval in (c), (d)")
    p.add_argument(
        "--git-poll-trials", type=int, default=3, help="trials of (f) by polling (1 min each)"
    )
    p.add_argument(
        "--matrix-hosts", type=int, default=7, help="hosts of the lab in (g) (default 7)"
    )
    p.add_argument("--parts", default=PARTS, help=f"which parts to run (default {PARTS})")
    p.add_argument("--out", type=Path, default=Path("bench-results"), help="output directory")
    p.add_argument(
        "--from-json",
        type=Path,
        default=None,
        metavar="RESULTS",
        help="measure nothing: render the tables and plot of a results.json again into --out",
    )
    p.add_argument("--index", type=int, default=None, help="lab index (default: env or 0)")
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help=f"Docker engine of the lab (default ${ENGINE_ENV} or {DEFAULT_ENGINE}); "
        "a lab of another engine is recreated",
    )
    args = p.parse_args(argv)
    bad = set(args.parts) - set(PARTS)
    if bad:
        p.error(f"--parts: unknown part(s) {''.join(sorted(bad))}")
    if args.trials < 1:
        p.error("--trials must be at least 1")
    if args.rest_edits < 1:
        p.error("--rest-edits must be at least 1")
    return args


def progress(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def _docker_version(docker: str, sock: str) -> str:
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    proc = subprocess.run(
        [docker, "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or "?"


def write_outputs(results: dict[str, Any], out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report.render(results)
    (out / "results.md").write_text(text)
    if report.plot(results, out / "apply.png"):
        progress(f"wrote {out / 'apply.png'}")
    elif results.get("apply"):
        progress("no plot: matplotlib is missing (pip install -e '.[bench]')")
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json is not None:
        print(write_outputs(json.loads(args.from_json.read_text()), args.out))
        return 0
    index = args.index if args.index is not None else index_from_env()
    engine = args.engine or engine_from_env()
    lab = benchlab.ensure_lab(index, progress, engine)
    docker = docker_cli()
    results: dict[str, Any] = {
        "meta": {
            "started": time.strftime("%Y-%m-%d %H:%M %Z"),
            "lab_index": index,
            "hosts": len(lab.hosts),
            "engine": lab.engine,
            "docker_version": _docker_version(docker, lab.manager.socket),
            "python": platform.python_version(),
            "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.release()}",
            "sizes": args.sizes,
            "trials": args.trials,
            "repeats": args.repeats,
            "load_start": list(os.getloadavg()),
        }
    }
    ctx = apply_bench.make_context(lab, docker, progress)
    try:
        if "a" in args.parts or "b" in args.parts:
            results["apply"] = []
            for n in args.sizes:
                size = apply_bench.run_size(ctx, n, args.repeats, args.noop_repeats)
                results["apply"].append(size.to_dict())
                write_outputs(results, args.out)  # partial results survive an interruption
        if set("cde") & set(args.parts):
            import daemon_bench

            daemon_bench.run(ctx, args, results, lambda: write_outputs(results, args.out))
        if "f" in args.parts:
            import gitops_bench

            gitops_bench.run(ctx, args, results, lambda: write_outputs(results, args.out))
        if "g" in args.parts:
            import multihost_bench

            multihost_bench.run(ctx, args, results, lambda: write_outputs(results, args.out))
    finally:
        benchlab.cleanup(lab, ctx.engine)
    results["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M %Z")
    results["meta"]["load_end"] = list(os.getloadavg())
    text = write_outputs(results, args.out)
    print()
    print(text)
    progress(f"wrote {args.out / 'results.md'} and {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
