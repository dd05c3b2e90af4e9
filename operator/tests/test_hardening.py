"""Bad input, hardened: every class of problem found by fuzzing the loader is an error at
file:line:column on one line (or valid and re-planning clean), never a traceback or a hang,
and the errors of the other files are still reported."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swarm_operator.cli.validate import summary
from swarm_operator.engine.live import build_state
from swarm_operator.engine.plan import PlanOptions, plan
from swarm_operator.kinds import registry
from swarm_operator.kinds.network import network_spec
from swarm_operator.kinds.service_spec import service_spec
from swarm_operator.manifests import loader, yaml_tree
from swarm_operator.manifests.loader import LoadResult, load_directory, load_file
from swarm_operator.manifests.models import Network, Service

HEAD = "apiVersion: swarm-operator/v1alpha1\n"
SVC = HEAD + "kind: Service\nmetadata: {name: web}\nspec:\n  image: app:1\n"


def svc(extra: str, name: str = "web") -> str:
    return SVC.replace("name: web", f"name: {name}") + extra


def load_text(tmp_path: Path, text: str, name: str = "m.yaml") -> LoadResult:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_file(path)


def messages(result: LoadResult) -> list[str]:
    return [str(e) for e in result.errors]


def assert_one_error(result: LoadResult, needle: str) -> str:
    texts = messages(result)
    assert len(texts) == 1, texts
    assert needle in texts[0], texts
    assert "\n" not in texts[0]
    return texts[0]


# --------------------------------------------------------------------------- tracebacks


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1e400", "9" * 400, "10" + "0" * 40])
@pytest.mark.parametrize(
    "field",
    [
        "  stopGracePeriod: {v}\n",
        "  resources: {{limits: {{cpus: {v}}}}}\n",
        "  healthcheck: {{interval: {v}}}\n",
        "  replicas: {v}\n",
        "  resources: {{limits: {{memory: {v}}}}}\n",
    ],
)
def test_infinite_and_huge_numbers_are_errors(tmp_path: Path, value: str, field: str) -> None:
    result = load_text(tmp_path, svc(field.format(v=value)))
    text = assert_one_error(result, "m.yaml:")
    assert ":6:" in text or ":5:" in text, text


@pytest.mark.parametrize("value", [".inf", "1e400", "9" * 400])
def test_probe_interval_huge_is_an_error(tmp_path: Path, value: str) -> None:
    text = HEAD + f"kind: Network\nmetadata: {{name: n}}\nspec: {{probe: {{interval: {value}}}}}\n"
    assert_one_error(load_text(tmp_path, text), "spec.probe.interval")


@pytest.mark.parametrize(
    "tagged", ["!!bool maybe", '!!int ""', '!!float ""', "!!timestamp x", "!!timestamp 2020-13-45"]
)
def test_impossible_core_tags_are_errors(tmp_path: Path, tagged: str) -> None:
    text = assert_one_error(load_text(tmp_path, svc(f"  replicas: {tagged}\n")), "invalid ")
    assert text.startswith(f"{tmp_path / 'm.yaml'}:6:13:"), text


def test_one_bad_file_keeps_the_other_files_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(svc("  replicas: !!bool maybe\n"))
    (tmp_path / "b.yaml").write_text(svc("  replicas: x\n", name="db"))
    (tmp_path / "c.yaml").write_text(svc("", name="ok"))
    result = load_directory(tmp_path)
    assert [e.source.file.name for e in result.errors] == ["a.yaml", "b.yaml"]
    assert [o.manifest.name for o in result.objects] == ["ok"]


def _cli(*args: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, "-m", "swarm_operator", *args],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
        **kw,  # type: ignore[arg-type]
    )


def test_huge_max_file_bytes_allocates_nothing_up_front(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(svc(""))
    done = _cli("validate", str(tmp_path), "--max-file-bytes", str(10**18))
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr


def test_broken_pipe_is_quiet(tmp_path: Path) -> None:
    for i in range(300):
        (tmp_path / f"f{i:03}.yaml").write_text(svc("  replicas: x\n", name=f"s{i}"))
    done = subprocess.run(
        f"{sys.executable} -m swarm_operator validate {tmp_path} | head -1",
        shell=True,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.count(b"\n") == 1
    assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr, done.stderr


def test_file_name_that_is_not_utf8_is_printed_escaped(tmp_path: Path) -> None:
    bad = os.fsencode(tmp_path) + b"/bad\xff.yaml"
    with open(bad, "w") as fh:
        fh.write(svc("  replicas: x\n"))
    done = _cli("validate", str(tmp_path))
    assert done.returncode == 1
    assert b"Traceback" not in done.stderr, done.stderr
    assert b"bad\\xff.yaml:6:13:" in done.stdout, done.stdout


# --------------------------------------------------------------------------- cost and caps


def test_many_invalid_documents_cost_linear_time(tmp_path: Path) -> None:
    doc = "---\n" + svc("  replicas: x\n")
    result = load_text(tmp_path, doc * 8000)
    # capped: the first errors, then one line with how many more
    assert len(result.errors) == loader.MAX_ERRORS_PER_FILE + 1
    assert result.errors[-1].message.startswith("... and 7900 more errors in this file")
    assert result.error_count == 8000
    assert "8000 errors in 1 of 1 file" in summary(result)


def test_alias_cap_is_per_file(tmp_path: Path) -> None:
    bomb = "---\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
    bomb += "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n"
    result = load_text(tmp_path, bomb * 40)  # each ~4,700 nodes, 40 of them: ~190,000
    assert any("aliases expand to more than" in m for m in messages(result))


def test_alias_fan_out_errors_are_capped(tmp_path: Path) -> None:
    text = svc("  env: &e {A: [1]}\n  labels: {}\n")
    text += "  x: &x [" + ", ".join(["*e"] * 50) + "]\n  y: [" + ", ".join(["*x"] * 50) + "]\n"
    result = load_text(tmp_path, text)
    assert len(result.errors) <= loader.MAX_ERRORS_PER_FILE + 1


def test_a_document_with_too_many_nodes_is_refused_before_it_is_built(tmp_path: Path) -> None:
    # 1 MiB of `[a,a,a,...]` is half a million nodes: about 300 MB composed, 700 MB as errors
    n = yaml_tree.MAX_NODES_PER_DOCUMENT
    text = svc("", name="ok") + "---\n" + svc("  args: [" + ",".join(["[]"] * n) + "]\n")
    result = load_text(tmp_path, text)
    assert [o.manifest.name for o in result.objects] == ["ok"]
    line = assert_one_error(result, f"more than {n} YAML nodes")
    assert line.startswith(f"{tmp_path / 'm.yaml'}:12:9: "), line  # the list that is too long
    assert "syntax" not in line
    exact = svc("  args: [" + ",".join(["a"] * (n - 15)) + "]\n")  # 15 other nodes: at the cap
    assert load_text(tmp_path, exact).ok
    assert not load_text(tmp_path, exact.replace("[a,", "[a,a,")).ok


def test_errors_of_many_documents_are_counted_not_kept(tmp_path: Path) -> None:
    # each document has more errors than are kept while the file is read (`_trim`)
    per_doc = 3 * loader.MAX_ERRORS_PER_FILE * 5
    doc = "---\n" + svc("  args: [" + ",".join(["[]"] * per_doc) + "]\n")
    result = load_text(tmp_path, doc * 4 + "---\n" + svc("  replicas: x\n", name="db"))
    total = 4 * per_doc + 1
    assert result.error_count == total
    assert len(result.errors) == loader.MAX_ERRORS_PER_FILE + 1
    shown = result.errors[:-1]
    assert [e.source.column for e in shown] == list(range(10, 10 + 3 * len(shown), 3))
    assert {e.source.line for e in shown} == {7}
    more = result.errors[-1]
    assert more.message.startswith(f"... and {total - loader.MAX_ERRORS_PER_FILE} more errors")
    assert (more.source.line, more.source.column) == (7, 10 + 3 * loader.MAX_ERRORS_PER_FILE)
    assert f"{total} errors in 1 of 1 file" in summary(result)


@pytest.mark.parametrize("target", ["/proc/kmsg", "/proc/self/status", "/sys/kernel/notes"])
def test_a_file_named_through_a_symlink_into_proc_is_not_read(tmp_path: Path, target: str) -> None:
    # /proc files claim size 0 and read as text; /proc/kmsg is drained by reading it
    os.symlink(target, tmp_path / "k.yaml")
    assert_one_error(load_file(tmp_path / "k.yaml"), "is a kernel file, not a manifest")


def test_fifo_is_refused_not_waited_for(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    started = time.monotonic()
    result = load_directory(tmp_path)
    assert time.monotonic() - started < 5
    assert_one_error(result, "not a regular file")


# --------------------------------------------------------------------------- engine rules


@pytest.mark.parametrize("name", ["web.v1", "web-", "web_", "-web", "a" * 64])
def test_names_swarmkit_refuses(tmp_path: Path, name: str) -> None:
    assert_one_error(load_text(tmp_path, svc("", name=name)), "metadata")
    net = HEAD + f"kind: Network\nmetadata: {{name: {name}}}\n"
    assert_one_error(load_text(tmp_path, net), "metadata")


@pytest.mark.parametrize("name", ["web", "web-1", "a_b", "a--b", "A9"])
def test_names_swarmkit_accepts(tmp_path: Path, name: str) -> None:
    assert load_text(tmp_path, svc("", name=name)).ok


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("  replicas: 18446744073709551616\n", "spec.replicas"),
        ("  stopGracePeriod: 99999999999h\n", "too long"),
        ("  resources: {limits: {cpus: 0.0005}}\n", "minimum 0.001"),
        ('  resources: {limits: {cpus: "1e-30"}}\n', "minimum 0.001"),
        ("  resources: {reservations: {memory: 1M}}\n", "minimum of 4M"),
        ("  resources: {limits: {memory: 5M}}\n", "minimum of 6M"),
        ("  healthcheck: {test: [CMD, 'true'], interval: 500us}\n", "minimum of 1ms"),
        ("  healthcheck: {test: [CMD, 'true'], timeout: 1ns}\n", "minimum of 1ms"),
        ("  placement: {constraints: ['node.labels.a==b c=d']}\n", "value"),
        ("  placement: {constraints: ['x==y']}\n", "key"),
        ("  placement: {constraints: ['node.zone==a']}\n", "unknown key"),
        ("  placement: {constraints: ['node.role']}\n", "KEY==VALUE"),
        ("  placement: {constraints: ['node.role!=a==b']}\n", "invalid"),
        ("  mounts: [{type: tmpfs, target: /a}, {type: volume, target: /a/}]\n", "two mounts"),
        ("  mode: replicated-job\n  updateConfig: {parallelism: 1}\n", "updateConfig"),
        ("  mode: global-job\n  updateConfig: {}\n", "updateConfig"),
    ],
)
def test_values_the_engine_refuses(tmp_path: Path, extra: str, needle: str) -> None:
    assert_one_error(load_text(tmp_path, svc(extra)), needle)


@pytest.mark.parametrize(
    "image", ["UPPER/x y", "app:1 ", "App", "a//b", "a:", "x@sha256:zz", "a" * 64, "-a"]
)
def test_malformed_images(tmp_path: Path, image: str) -> None:
    text = SVC.replace("image: app:1", f"image: {image!r}")
    assert_one_error(load_text(tmp_path, text), "image")


@pytest.mark.parametrize(
    "image",
    [
        "app:1",
        "10.77.0.1:5000/swarm-operator/busybox:1",
        "localhost/a_b/c-d.e:v1.2",
        "x/y@sha256:" + "c" * 64,
        "Registry.Example:443/a/b:T",
    ],
)
def test_good_images(tmp_path: Path, image: str) -> None:
    text = SVC.replace("image: app:1", f"image: {image!r}")
    assert load_text(tmp_path, text).ok, messages(load_text(tmp_path, text))


@pytest.mark.parametrize(
    "constraint",
    [
        "node.role==manager",
        "node.labels.zone != a",
        "engine.labels.os==linux",
        "node.hostname==h-1",
        "node.platform.arch==x86_64",
        "NODE.ROLE==worker",
    ],
)
def test_constraints_swarmkit_accepts(tmp_path: Path, constraint: str) -> None:
    assert load_text(tmp_path, svc(f"  placement: {{constraints: ['{constraint}']}}\n")).ok


# --------------------------------------------------------------------------- endless drift


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ('  hosts: {"a b": 10.0.0.1}\n', "hosts"),
        ('  hosts: {"": 10.0.0.1}\n', "hosts"),
        ("  labels: {io.swarm-operator.x: y}\n", "namespace"),
        ("  healthcheck: {test: []}\n", "test is empty"),
    ],
)
def test_endless_drift_is_refused(tmp_path: Path, extra: str, needle: str) -> None:
    assert_one_error(load_text(tmp_path, svc(extra)), needle)


def test_network_label_in_the_operators_namespace_is_refused(tmp_path: Path) -> None:
    text = HEAD + "kind: Network\nmetadata: {name: n}\nspec: {labels: {io.swarm-operator.a: b}}\n"
    assert_one_error(load_text(tmp_path, text), "namespace")


def _replan_service(desired: Service, stored: dict[str, object]) -> str:
    live = build_state({"Service": [{"ID": "s", "Version": {"Index": 1}, "Spec": stored}]})
    (action,) = plan([desired], live, PlanOptions()).actions
    return action.verb


def test_dns_option_order_is_not_drift() -> None:
    a = Service.model_validate(
        {"metadata": {"name": "w"}, "spec": {"image": "a:1", "dnsOptions": ["ndots:1", "rotate"]}}
    )
    stored = service_spec(a)
    stored["TaskTemplate"]["ContainerSpec"]["DNSConfig"]["Options"] = ["rotate", "ndots:1"]
    assert _replan_service(a, stored) == "noop"


def test_tmpfs_source_empty_is_unset() -> None:
    a = Service.model_validate(
        {
            "metadata": {"name": "w"},
            "spec": {"image": "a:1", "mounts": [{"type": "tmpfs", "source": "", "target": "/t"}]},
        }
    )
    stored = service_spec(a)
    stored["TaskTemplate"]["ContainerSpec"]["Mounts"][0].pop("Source", None)
    assert _replan_service(a, stored) == "noop"


def test_vxlanid_list_option_does_not_replace_forever() -> None:
    opt = "com.docker.network.driver.overlay.vxlanid_list"
    net = Network.model_validate({"metadata": {"name": "n"}, "spec": {"options": {opt: "4097"}}})
    body = network_spec(net)
    body.pop("Options")  # the engine never reports it back
    body.update({"Id": "x", "Scope": "swarm"})
    live = build_state({"Network": [body]}).of("Network")["n"]
    assert live.manifest is not None
    d, lv = registry.of_manifest(net).comparable(net, live.manifest)
    assert d == lv


# --------------------------------------------------------------------------- output that lies


def test_newline_in_a_key_cannot_forge_an_error_line(tmp_path: Path) -> None:
    text = svc('  labels: {"x\\nforged.yaml:1:1: fake": [1]}\n')
    line = assert_one_error(load_text(tmp_path, text), "spec.labels")
    assert "x\\nforged.yaml" in line


@pytest.mark.parametrize(
    "text",
    [
        svc("  args: [a,\n  labels: {}\n"),  # a syntax error with its context on another line
        svc('  user: "a\\nb\\rc\\u2028d"\n  replicas: "x\\ny"\n'),  # values quoted in errors
        SVC.replace("image: app:1", 'image: "a\\nb"'),
    ],
)
def test_every_error_is_one_line(tmp_path: Path, text: str) -> None:
    result = load_text(tmp_path, text)
    assert result.errors
    for line in messages(result):
        assert line.startswith(f"{tmp_path / 'm.yaml'}:")
        assert not any(c in line for c in "\n\r\x85\u2028\u2029"), repr(line)


def test_column_after_multibyte_characters(tmp_path: Path) -> None:
    text = svc("  env: {'ü€': 1, B: x, ü€: 2}\n")
    assert_one_error(load_text(tmp_path, text), "m.yaml:6:24: duplicate key")
    # the reader's own errors come as byte offsets: shown as characters
    text = svc("  labels: {a: 'ééééé'}\n  user: x\x07y\n")
    assert_one_error(load_text(tmp_path, text), "m.yaml:7:10: YAML cannot contain")


def test_error_at_end_of_file_without_newline(tmp_path: Path) -> None:
    result = load_text(tmp_path, svc("  args: [a, b"))
    text = assert_one_error(result, "YAML syntax error")
    line = int(text.split(":")[1])
    assert line == 6, text


@pytest.mark.parametrize("brk", ["\r", "\x85", "\u2028"])
def test_lone_cr_nel_ls_are_not_line_breaks_for_line_numbers(tmp_path: Path, brk: str) -> None:
    text = svc(f"  user: 'one{brk}two'\n  replicas: x\n")
    assert_one_error(load_text(tmp_path, text), "m.yaml:7:13:")


def test_int_and_bool_keys_are_not_duplicates(tmp_path: Path) -> None:
    result = load_text(tmp_path, svc("  env: {1: a, true: b}\n"))
    text = assert_one_error(result, "different in YAML but one key here")
    assert "duplicate" not in text


def test_plain_equals_is_text(tmp_path: Path) -> None:
    result = load_text(tmp_path, svc("  args: [test, =]\n"))
    assert result.ok, messages(result)
    assert result.objects[0].manifest.spec.args == ["test", "="]  # type: ignore[union-attr]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_is_not_utf8_not_binary(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(svc("").encode(encoding))
    assert_one_error(load_file(path), "not UTF-8")


def test_summary_counts_places_that_failed(tmp_path: Path) -> None:
    os.symlink(tmp_path / "nowhere", tmp_path / "a.yaml")
    os.symlink(tmp_path / "nowhere2", tmp_path / "b.yaml")
    result = load_directory(tmp_path)
    assert "2 errors in 2 of 2 files" in summary(result), summary(result)


def test_deep_nesting_is_an_error_and_the_rest_of_the_file_is_read(tmp_path: Path) -> None:
    deep = "a: " + "[" * 999 + "]" * 999 + "\n"
    text = "---\n" + deep + "---\n" + svc("  replicas: x\n") + "---\n" + svc("", name="ok")
    result = load_text(tmp_path, text)
    texts = messages(result)
    assert any("nesting is deeper" in t for t in texts), texts
    assert any("spec.replicas" in t for t in texts), texts
    assert [o.manifest.name for o in result.objects] == ["ok"]


# --------------------------------------------------------------------------- mode change


def _mode_change_plan(opts: PlanOptions, annotate: bool = False) -> tuple[str, str | None]:
    old = Service.model_validate({"metadata": {"name": "w"}, "spec": {"image": "a:1"}})
    meta: dict[str, object] = {"name": "w"}
    if annotate:
        meta["annotations"] = {"swarm-operator/allow-replace": "true"}
    new = Service.model_validate({"metadata": meta, "spec": {"image": "a:1", "mode": "global"}})
    live = build_state(
        {"Service": [{"ID": "s", "Version": {"Index": 1}, "Spec": service_spec(old)}]}
    )
    (action,) = plan([new], live, opts).actions
    return action.verb, action.blocked


def test_mode_change_is_a_replace_gated_like_a_network_replace() -> None:
    verb, blocked = _mode_change_plan(PlanOptions())
    assert verb == "replace"
    assert blocked is not None and "--allow-replace" in blocked
    assert _mode_change_plan(PlanOptions(allow_replace=True)) == ("replace", None)
    assert _mode_change_plan(PlanOptions(), annotate=True) == ("replace", None)


# --------------------------------------------------------------------------- found by make fuzz


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (HEAD + "kind: Network\nmetadata: {name: n}\nspec: {driver: ''}\n", "spec.driver"),
        (svc("  mounts: [{type: volume, target: data}]\n"), "absolute path"),
        (svc("  mounts: [{type: bind, source: rel, target: /d}]\n"), "absolute path"),
        (svc("  networks: ['']\n"), "spec.networks"),
    ],
)
def test_values_that_render_away_are_refused(tmp_path: Path, text: str, needle: str) -> None:
    assert_one_error(load_text(tmp_path, text), needle)
