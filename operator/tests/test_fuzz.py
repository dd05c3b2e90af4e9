"""Fuzzing the way in: mutated example manifests and YAML nasties, fed to the loader.

Invariants (issue "bad input, hardened"):
- no exception escapes loading, whatever the bytes;
- every error is one line, ``file:line:column: message``, at a place inside the file;
- at most `loader.MAX_ERRORS_PER_FILE` errors (+ one "more" line) per file;
- loading ends in bounded time (a generous per-example ceiling catches hangs only);
- loading uses bounded memory: the peak ``tracemalloc`` sees while one example loads stays
  under `MEMORY_BOUND` (examples peak below 1 MB; issue 10's ceiling is about 200 MB);
  traced for one example in `MEMORY_EVERY` (tracing doubles a load's cost; each seed and
  nasty is drawn hundreds of times a run) and for every seed;
- whatever validates re-plans clean after a simulated engine round trip (render, then
  read back as the engine stores it).

The seeds are the example directories under manifests/ (each as one file, with the files
its secrets and configs read placed beside the fuzzed copy), the cross-host demo's files
one by one, and one hand-written manifest of every service field. The example budget is
fixed for CI (about a minute in all); ``make fuzz`` runs a longer one through
``SWARM_OPERATOR_FUZZ_EXAMPLES``.
"""

from __future__ import annotations

import itertools
import os
import re
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_roundtrip import simulated_engine

from swarm_operator.engine.live import build_state
from swarm_operator.engine.plan import PlanOptions, plan
from swarm_operator.kinds.network import network_spec
from swarm_operator.kinds.service_spec import service_spec
from swarm_operator.manifests import loader
from swarm_operator.manifests.loader import LoadResult, load_file
from swarm_operator.manifests.models import Network, Service

EXAMPLES = Path(__file__).resolve().parents[2] / "manifests"
EXAMPLE_DIRS = [EXAMPLES / name for name in ("cross-host-demo", "shop-stack", "volumes-demo")]
Seed = tuple[str, Path | None]
"""A manifest's text and the example directory whose files (a secret's ``file:``) it reads."""


def _joined(directory: Path) -> str:
    """An example directory as one file (its references resolve within one file)."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.yaml"))]
    return "---\n".join(t if t.endswith("\n") else t + "\n" for t in texts)


# each directory whole, and the files of the first one alone as before (they need nothing
# of each other; the others' services reference secrets and configs of another file)
SEEDS: list[Seed] = [(_joined(d), d) for d in EXAMPLE_DIRS]
SEEDS += [(p.read_text(encoding="utf-8"), None) for p in sorted(EXAMPLE_DIRS[0].glob("*.yaml"))]
SEEDS.append(
    (
        """\
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: every}
spec:
  image: 10.77.0.1:5000/swarm-operator/busybox:1
  command: [sh, -c]
  args: ['exec httpd -f -p 8080']
  env: {A: "1", B: x}
  replicas: 2
  networks: [{name: app-net, aliases: [a]}]
  ports: [{target: 8080, published: 18080, mode: host}]
  endpointMode: dnsrr
  placement: {constraints: [node.role==worker], preferences: [{spread: node.labels.zone}],
              maxReplicasPerNode: 1}
  resources: {limits: {cpus: 0.5, memory: 64M}, reservations: {cpus: 0.1, memory: 8M}}
  updateConfig: {parallelism: 2, delay: 1s, failureAction: rollback, monitor: 2s}
  rollbackConfig: {parallelism: 1, failureAction: continue}
  restartPolicy: {condition: on-failure, delay: 2s, maxAttempts: 5, window: 1m}
  healthcheck: {test: [CMD, 'true'], interval: 2s, timeout: 2s, retries: 3, startPeriod: 1s}
  labels: {com.example.svc: x}
  containerLabels: {c: d}
  mounts: [{type: tmpfs, target: /tmp/t}, {type: volume, source: v1, target: /data}]
  user: "0"
  workdir: /
  stopGracePeriod: 3s
  init: true
  dns: [10.0.0.2]
  dnsOptions: ["ndots:1", rotate]
  hosts: {db.test: 10.1.2.3}
---
apiVersion: swarm-operator/v1alpha1
kind: Network
metadata: {name: app-net}
spec: {subnet: 10.10.0.0/24, gateway: 10.10.0.1, attachable: true, mtu: 1400,
       options: {com.docker.network.driver.overlay.vxlanid_list: "4097"}, labels: {a: b}}
---
apiVersion: swarm-operator/v1alpha1
kind: Network
metadata: {name: dual-net}
spec: {ipv6: true, pools: [{subnet: 10.11.0.0/24, gateway: 10.11.0.1},
                           {subnet: "fd00:11::/64", ipRange: "fd00:11::/80"}]}
""",
        None,
    )
)
MEMORY_BOUND = 32 * 2**20
"""Bytes one example may allocate at its peak while it loads (`check_invariants`)."""
MEMORY_EVERY = 3
_loads = itertools.count()

DEFAULT_EXAMPLES = 3000
EXAMPLES_ENV = "SWARM_OPERATOR_FUZZ_EXAMPLES"


def budget(default: int = DEFAULT_EXAMPLES) -> Any:
    n = int(os.environ.get(EXAMPLES_ENV) or default)
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=EXAMPLES_ENV not in os.environ,  # CI: the same examples every run
        database=None,
    )


NASTY_SCALARS = [
    ".inf",
    "-.inf",
    ".nan",
    "1e400",
    "9" * 400,
    "-1",
    "0",
    "0x1F",
    "0o17",
    "1_000",
    "!!bool maybe",
    '!!int ""',
    '!!float ""',
    "!!timestamp x",
    "!!timestamp 2020-13-45",
    "!!binary '%%'",
    "!!null x",
    "!!str 1",
    "!!python/object:os.system x",
    "!custom x",
    "=",
    "~",
    "null",
    "''",
    '""',
    "[]",
    "{}",
    "'a\\nb'",
    '"\\u2028"',
    '"\\x85"',
    '"\\0"',
    "*nope",
    "&a x",
    "<<: x",
    "? x",
    "- x",
    "|\n  x",
    ">\n  x",
    "'é€😀'",
    "web.v1",
    "web-",
    "UPPER/x y",
    "node.labels.a==b c",
    "99999999999h",
    "1e-30",
    "0.0005",
    "1M",
    "5M",
    "'a b'",
    "io.swarm-operator.x",
    "[CMD]",
    "[]",
    "{test: []}",
]
NASTY_CHARS = ["\r", "\x85", "\u2028", "\u2029", "\t", "\ufeff", "\x00", "\x07", "\x1b", "é"]
NASTY_BLOCKS = [
    "x: &a [1, 2]\ny: [*a, *a, *a]\n",
    "a: " + "[" * 150 + "]" * 150 + "\n",
    "a: " + "{b: " * 120 + "1" + "}" * 120 + "\n",
    "? [a, b]\n: c\n",
    "{1: a, true: b}\n",
    '"x\\nforged.yaml:1:1: fake": 1\n',
    "b: &b [x, x, x, x, x, x, x, x]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d]\n",
    "r: &r [*r]\n",
    "%YAML 1.1\n---\n",
    "--- !!map\n",
    "...\n",
    "- - - - -\n",
]

LINE_RE = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, Path | None]:
    """An example manifest, mutated a few times (text-level, then maybe byte-level), and
    the example directory it came from."""
    text, directory = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        lines = text.split("\n")
        op = draw(st.integers(0, 7))
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if op == 0:  # replace a value after a colon
            head, sep, _ = lines[i].partition(": ")
            if sep:
                lines[i] = head + sep + draw(st.sampled_from(NASTY_SCALARS))
        elif op == 1:  # drop a line
            del lines[i]
        elif op == 2:  # duplicate a line
            lines.insert(i, lines[i])
        elif op == 3:  # insert a nasty block, indented like the line
            indent = len(lines[i]) - len(lines[i].lstrip())
            block = draw(st.sampled_from(NASTY_BLOCKS))
            lines[i:i] = [" " * indent + b for b in block.rstrip("\n").split("\n")]
        elif op == 4:  # a nasty character somewhere in the line
            pos = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:pos] + draw(st.sampled_from(NASTY_CHARS)) + lines[i][pos:]
        elif op == 5:  # re-indent
            lines[i] = " " * draw(st.integers(0, 6)) + lines[i].lstrip()
        elif op == 6:  # random text
            lines[i] += draw(st.text(max_size=8))
        else:  # swap two lines
            j = draw(st.integers(0, max(len(lines) - 1, 0)))
            lines[i], lines[j] = lines[j], lines[i]
        text = "\n".join(lines)
    if draw(st.booleans()):
        text = text.rstrip("\n")  # no final newline
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:  # a byte-level accident
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.binary(min_size=1, max_size=4)) + data[pos:]
    if draw(st.integers(0, 19)) == 0:
        data = text.encode(
            draw(st.sampled_from(["utf-16", "utf-16-be", "latin-1", "utf-32"])), "replace"
        )
    return data, directory


@st.composite
def nasties(draw: st.DrawFn) -> bytes:
    """YAML built from the nastiest pieces, with or without a manifest around them."""
    parts = draw(
        st.lists(
            st.one_of(
                st.sampled_from(NASTY_BLOCKS),
                st.sampled_from(NASTY_SCALARS).map(lambda s: f"k: {s}\n"),
                st.sampled_from(NASTY_CHARS),
                st.sampled_from(
                    [
                        "---\n",
                        "apiVersion: swarm-operator/v1alpha1\n",
                        "kind: Service\n",
                        "metadata: {name: w}\n",
                        "spec:\n",
                        "  image: a:1\n",
                        "  replicas: ",
                        "  env: ",
                        "  ",
                    ]
                ),
                st.text(max_size=6),
            ),
            max_size=12,
        )
    )
    return "".join(parts).encode("utf-8", "surrogatepass")


def beside(path: Path, directory: Path | None) -> Path:
    """``path``, with the subdirectories of ``directory`` (the files an example's secrets
    and configs read) linked beside it, so that a fuzzed copy finds them as the original."""
    for sub in sorted(directory.iterdir()) if directory is not None else ():
        if sub.is_dir():
            (path.parent / sub.name).symlink_to(sub, target_is_directory=True)
    return path


def check_invariants(
    path: Path, data: bytes, max_file_bytes: int | None = None, trace: bool = False
) -> LoadResult:
    path.write_bytes(data)
    limit = {} if max_file_bytes is None else {"max_file_bytes": max_file_bytes}
    trace = trace or next(_loads) % MEMORY_EVERY == 0
    started = time.monotonic()
    if trace:
        tracemalloc.start()
    try:
        result = load_file(path, **limit)  # must not raise
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    assert elapsed < 20, f"loading {len(data)} bytes took {elapsed:.1f}s"
    assert peak < MEMORY_BOUND, f"loading {len(data)} bytes peaked at {peak / 2**20:.0f} MB"
    lines = data.count(b"\n") + 1
    assert len(result.errors) <= loader.MAX_ERRORS_PER_FILE + 1
    for error in result.errors:
        text = str(error)
        assert "\n" not in text and "\r" not in text, text
        assert "\x85" not in text and "\u2028" not in text, text
        match = LINE_RE.match(text)
        assert match, text
        assert 0 <= int(match["line"]) <= lines, (text, lines)
        assert "Traceback" not in text and "internal error" not in text, text
    return result


def round_trip_clean(result: LoadResult) -> None:
    """Every valid object, rendered and stored as the engine would, re-plans as no-op."""
    services = [o.manifest for o in result.objects if isinstance(o.manifest, Service)]
    networks = [o.manifest for o in result.objects if isinstance(o.manifest, Network)]
    net_names = sorted({n.name for s in services for n in s.spec.networks})
    ids = {name: f"id{i:023d}" for i, name in enumerate(net_names)}
    raw_networks: list[dict[str, Any]] = [
        {"Name": name, "Id": ident, "Scope": "swarm", "Driver": "overlay", "Labels": {}}
        for name, ident in ids.items()
    ]
    for svc in services:
        stored = simulated_engine(service_spec(svc), ids, pin=False)
        live = build_state(
            {
                "Service": [{"ID": "s", "Version": {"Index": 1}, "Spec": stored}],
                "Network": raw_networks,
            }
        )
        assert live.of("Service")[svc.name].read_error is None, live.of("Service")[
            svc.name
        ].read_error
        (action,) = plan([svc], live, PlanOptions(), keys=[svc.key]).actions
        assert action.verb == "noop", (svc.name, [str(d) for d in action.differences])
    for net in networks:
        body = network_spec(net)
        options = dict(body.get("Options") or {})
        options.pop("com.docker.network.driver.overlay.vxlanid_list", None)  # never reported
        stored_net = {**body, "Options": options, "Id": "n1", "Scope": "swarm"}
        stored_net.setdefault("Driver", "overlay")
        live = build_state({"Network": [stored_net]})
        (action,) = plan([net], live, PlanOptions(), keys=[net.key]).actions
        assert action.verb == "noop", (net.name, [str(d) for d in action.differences])


@budget()
@given(mutated())
def test_mutated_examples_keep_the_invariants(
    tmp_path_factory: Any, example: tuple[bytes, Path | None]
) -> None:
    data, directory = example
    path = beside(tmp_path_factory.mktemp("fuzz") / "m.yaml", directory)
    round_trip_clean(check_invariants(path, data))


@budget()
@given(nasties())
def test_yaml_nasties_keep_the_invariants(tmp_path_factory: Any, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "n.yaml"
    round_trip_clean(check_invariants(path, data))


@budget(default=2000)
@given(st.binary(max_size=600))
def test_random_bytes_keep_the_invariants(tmp_path_factory: Any, data: bytes) -> None:
    check_invariants(tmp_path_factory.mktemp("fuzz") / "b.yaml", data)


def test_the_seeds_are_valid(tmp_path_factory: Any) -> None:
    kinds = set()
    for i, (seed, directory) in enumerate(SEEDS):
        path = beside(tmp_path_factory.mktemp("seed") / f"s{i}.yaml", directory)
        result = check_invariants(path, seed.encode(), trace=True)
        assert result.ok, [str(e) for e in result.errors]
        round_trip_clean(result)
        kinds |= {o.manifest.kind for o in result.objects}
    # every kind of the examples is fuzzed, secrets and configs read from their files too
    assert kinds == {"Node", "Network", "Service", "Secret", "Config", "Volume"}, kinds


def test_the_memory_bound_trips_on_a_blown_up_input(tmp_path: Path) -> None:
    """The bound is no formality: a file the loader is allowed to read (a raised
    ``--max-file-bytes``) whose one inline config is 40 MB peaks above it."""
    blown = b"kind: Config\nmetadata: {name: big}\nspec:\n  data: " + b"x" * (40 * 2**20)
    with pytest.raises(AssertionError, match="peaked at"):
        check_invariants(tmp_path / "big.yaml", blown, max_file_bytes=64 * 2**20, trace=True)
