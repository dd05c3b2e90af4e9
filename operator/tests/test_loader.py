"""The loader: files found and skipped, and every error class with its file, line and column."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import FULL, write_samples

from swarm_operator.manifests import yaml_tree
from swarm_operator.manifests.loader import (
    LoadResult,
    ManifestError,
    SourceRef,
    load_directory,
    load_file,
)

HEAD = "apiVersion: swarm-operator/v1alpha1\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def service(name: str, extra: str = "") -> str:
    return f"{HEAD}kind: Service\nmetadata:\n  name: {name}\nspec:\n  image: busybox\n{extra}"


def only_error(result: LoadResult) -> ManifestError:
    assert len(result.errors) == 1, [str(e) for e in result.errors]
    return result.errors[0]


def located(result: LoadResult) -> list[tuple[str, int, int]]:
    return [(e.source.file.name, e.source.line, e.source.column) for e in result.errors]


# --------------------------------------------------------------------------- public types


def test_source_and_error_text() -> None:
    ref = SourceRef(Path("m/a.yaml"), 3, 7)
    assert str(ref) == "m/a.yaml:3:7"
    assert str(ManifestError(ref, "bad")) == "m/a.yaml:3:7: bad"


def test_valid_directory(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", service("web") + "---\n" + service("db"))
    write(tmp_path / "sub" / "n.yml", f"{HEAD}kind: Node\nmetadata:\n  name: host1\n")
    result = load_directory(tmp_path)
    assert result.ok
    assert result.errors == ()
    assert result.failed_files == set()
    assert result.files == (tmp_path / "a.yaml", tmp_path / "sub" / "n.yml")
    assert sorted(result.by_key()) == [("Node", "host1"), ("Service", "db"), ("Service", "web")]
    web = result.by_key()[("Service", "web")]
    assert web.source == SourceRef(tmp_path / "a.yaml", 1, 1)
    db = result.by_key()[("Service", "db")]
    assert db.source == SourceRef(tmp_path / "a.yaml", 8, 1)


def test_every_kind_with_every_field(tmp_path: Path) -> None:
    docs = [yaml.safe_dump(FULL[kind], sort_keys=False) for kind in FULL]
    write(tmp_path / "all.yaml", "---\n".join(docs))
    write_samples(tmp_path)
    result = load_directory(tmp_path)
    assert result.ok, [str(e) for e in result.errors]
    assert {k for k, _ in result.by_key()} == {"Network", "Service", "Node", "Secret", "Config"}


def test_empty_files_and_documents_are_fine(tmp_path: Path) -> None:
    write(tmp_path / "empty.yaml", "")
    write(tmp_path / "comments.yaml", "# nothing here yet\n")
    write(tmp_path / "docs.yaml", "---\n---\n" + service("web") + "---\n...\n")
    result = load_directory(tmp_path)
    assert result.ok
    assert len(result.files) == 3
    assert [o.manifest.name for o in result.objects] == ["web"]


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + service("web").encode())
    assert load_directory(tmp_path).ok


# --------------------------------------------------------------------------- finding files


def test_hidden_files_and_editor_temporaries_are_ignored(tmp_path: Path) -> None:
    write(tmp_path / "real.yaml", service("web"))
    broken = "{{{ not yaml"
    for name in [
        ".hidden.yaml",
        "real.yaml~",
        ".#real.yaml",
        ".real.yaml.swp",
        "real.yaml.swp",
        "4913",
        "notes.txt",
        "README.md",
        "#real.yaml#",
    ]:
        write(tmp_path / name, broken)
    write(tmp_path / ".git" / "x.yaml", broken)
    write(tmp_path / ".hidden-dir" / "x.yaml", broken)
    result = load_directory(tmp_path)
    assert result.ok, [str(e) for e in result.errors]
    assert result.files == (tmp_path / "real.yaml",)


def test_files_are_read_in_sorted_order(tmp_path: Path) -> None:
    for name in ["b.yaml", "a.yml", "c/z.yaml", "c/a.yaml", "0.yaml"]:
        write(tmp_path / name, "")
    names = [str(p.relative_to(tmp_path)) for p in load_directory(tmp_path).files]
    assert names == ["0.yaml", "a.yml", "b.yaml", "c/a.yaml", "c/z.yaml"]


def test_symlinked_directories_are_followed_once(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "real" / "a.yaml", service("web"))
    os.symlink(root / "real", root / "link")  # the same directory twice
    os.symlink(root, root / "real" / "loop")  # a loop back to the top
    result = load_directory(root)
    assert result.ok, [str(e) for e in result.errors]
    assert sorted(o.manifest.name for o in result.objects) == ["web"]


def test_symlinked_directories_outside_the_root_are_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "a.yaml", service("web"))
    outside = tmp_path / "outside"
    write(outside / "b.yaml", service("db"))
    os.symlink(outside, root / "ext")  # a directory elsewhere
    os.symlink(tmp_path, root / "up")  # a directory above the root
    os.symlink("/", root / "slash")
    os.symlink("/proc/kmsg", root / "kmsg.yaml")  # would block forever on read
    os.symlink("/dev/zero", root / "zero.yaml")
    result = load_directory(root)
    assert [o.manifest.name for o in result.objects] == ["web"]
    messages = sorted(str(e) for e in result.errors)
    assert len(messages) == 5, messages
    assert all("leaves the manifest directory: not followed" in m for m in messages)


def test_symlinked_file_counted_once(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", service("web"))
    os.symlink(tmp_path / "a.yaml", tmp_path / "b.yaml")
    result = load_directory(tmp_path)
    assert result.ok
    assert len(result.objects) == 1


def test_missing_path(tmp_path: Path) -> None:
    error = only_error(load_directory(tmp_path / "nope"))
    assert error.source == SourceRef(tmp_path / "nope", 0, 0)
    assert "no such directory" in error.message


def test_path_that_is_a_file(tmp_path: Path) -> None:
    file = write(tmp_path / "a.yaml", service("web"))
    error = only_error(load_directory(file))
    assert error.source.file == file
    assert "not a directory" in error.message


@pytest.mark.timeout(30)
def test_fifo_is_refused_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")  # opening it for reading would block forever
    error = only_error(load_directory(tmp_path))
    assert error.source == SourceRef(tmp_path / "pipe.yaml", 0, 0)
    assert error.message == "not a regular file: refused"
    assert "not a regular file" in only_error(load_file(tmp_path / "pipe.yaml")).message


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    os.symlink(tmp_path / "a.yaml", tmp_path / "a.yaml")
    error = only_error(load_directory(tmp_path))
    assert error.source == SourceRef(tmp_path / "a.yaml", 0, 0)
    assert "cannot read" in error.message


def test_broken_symlink_is_an_error(tmp_path: Path) -> None:
    os.symlink(tmp_path / "gone.yaml", tmp_path / "a.yaml")
    error = only_error(load_directory(tmp_path))
    assert error.source == SourceRef(tmp_path / "a.yaml", 0, 0)
    assert "cannot read" in error.message


def test_load_file(tmp_path: Path) -> None:
    file = write(tmp_path / "manifest.txt", service("web"))
    result = load_file(file)
    assert result.ok
    assert result.files == (file,)
    assert "no such file" in only_error(load_file(tmp_path / "x.yaml")).message
    assert "is a directory" in only_error(load_file(tmp_path)).message


# --------------------------------------------------------------------------- YAML level


def test_yaml_syntax_error(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", service("web", "  replicas: [1, 2\n  labels: {}\n"))
    error = only_error(load_directory(tmp_path))
    assert (error.source.file.name, error.source.line) == ("a.yaml", 8)
    assert error.message.startswith("YAML syntax error: did not find expected ',' or ']'")
    assert "at line 7" in error.message


def test_yaml_syntax_error_bad_indentation(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", f"{HEAD}kind: Service\nmetadata:\n  name: web\n   bad: 1\n")
    error = only_error(load_directory(tmp_path))
    assert (error.source.line, error.source.column) == (5, 7)
    assert "mapping values are not allowed" in error.message


def test_documents_before_a_syntax_error_are_kept(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", service("web") + "---\nkey: [unclosed\n")
    result = load_directory(tmp_path)
    assert [o.manifest.name for o in result.objects] == ["web"]
    assert located(result) == [("a.yaml", 9, 1)]
    assert result.failed_files == {tmp_path / "a.yaml"}


def test_tab_indentation(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", f"{HEAD}kind: Node\nmetadata:\n\tname: h\n")
    error = only_error(load_directory(tmp_path))
    assert (error.source.line, error.source.column) == (4, 1)
    assert "YAML syntax error" in error.message
    assert "tabs cannot indent YAML: use spaces" in error.message


def test_duplicate_key(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", service("web", "  replicas: 2\n  replicas: 3\n"))
    error = only_error(load_directory(tmp_path))
    assert (error.source.line, error.source.column) == (8, 3)
    assert error.message.startswith("duplicate key 'replicas' (first at line 7)")


def test_unknown_tag(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", service("web", "  user: !Ref admin\n"))
    error = only_error(load_directory(tmp_path))
    assert (error.source.line, error.source.column) == (7, 9)
    assert error.message == "unsupported YAML tag '!Ref'"


def test_python_tags_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "!!python/object/apply:os.system ['true']\n")
    error = only_error(load_directory(tmp_path))
    assert error.source.line == 1
    assert "unsupported YAML tag" in error.message


def test_invalid_explicit_scalar(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", service("web", "  replicas: !!int many\n"))
    error = only_error(load_directory(tmp_path))
    assert error.source.line == 7
    assert error.message.startswith("invalid int value")


def test_merge_keys_and_aliases(tmp_path: Path) -> None:
    text = """\
    apiVersion: swarm-operator/v1alpha1
    kind: Service
    metadata:
      name: web
      labels: &common {app: shop, tier: web}
    spec:
      image: busybox
      labels:
        <<: *common
        tier: front
      containerLabels: *common
    """
    write(tmp_path / "a.yaml", text)
    result = load_directory(tmp_path)
    assert result.ok, [str(e) for e in result.errors]
    spec = result.objects[0].manifest.spec
    assert spec.labels == {"app": "shop", "tier": "front"}  # explicit keys win
    assert spec.container_labels == {"app": "shop", "tier": "web"}


def test_error_inside_an_alias_points_at_the_anchor(tmp_path: Path) -> None:
    text = """\
    apiVersion: swarm-operator/v1alpha1
    kind: Service
    metadata:
      name: web
      labels: &common
        a: [1]
    spec:
      image: busybox
      labels:
        <<: *common
      containerLabels: *common
    """
    write(tmp_path / "a.yaml", text)
    result = load_directory(tmp_path)
    assert located(result) == [("a.yaml", 6, 5)] * 3
    assert [e.message.split(":")[0] for e in result.errors] == [
        "metadata.labels.a",
        "spec.labels.a",
        "spec.containerLabels.a",
    ]


def test_missing_and_misspelled_field_both_reported(tmp_path: Path) -> None:
    write(tmp_path / "m.yaml", HEAD + "kind: Node\nmetdata: {name: h}\n")
    result = load_directory(tmp_path)
    assert [(e.source.line, e.source.column, e.message) for e in result.errors] == [
        (1, 1, "missing required field 'metadata'"),
        (3, 1, "unknown field 'metdata'; did you mean 'metadata'?"),
    ]


@pytest.mark.timeout(30)
def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    write(tmp_path / "bomb.yaml", "\n".join(lines) + "\n")
    error = only_error(load_directory(tmp_path))
    assert error.source.file.name == "bomb.yaml"
    assert f"aliases expand to more than {yaml_tree.MAX_ALIAS_EXPANSION} nodes" in error.message
    assert 1 <= error.source.line <= 10


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "a: &x [1, *x]\n")
    error = only_error(load_directory(tmp_path))
    assert error.source.line == 1
    assert "recursive YAML alias" in error.message


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "[" * 5000 + "]" * 5000 + "\n")
    error = only_error(load_directory(tmp_path))
    assert error.source.file.name == "a.yaml"
    assert "nesting" in error.message or "depth" in error.message


@pytest.mark.timeout(30)
def test_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(service("web") + "# " + "x" * (2 * 1024 * 1024) + "\n")
    write(tmp_path / "ok.yaml", service("db"))
    result = load_directory(tmp_path)
    error = only_error(result)
    assert error.source == SourceRef(big, 1, 1)
    assert "more than the limit of 1048576" in error.message
    assert [o.manifest.name for o in result.objects] == ["db"]
    assert load_directory(tmp_path, max_file_bytes=4 * 1024 * 1024).ok


def test_binary_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"apiVersion: x\nkind: \x00\x01\x02\n")
    error = only_error(load_directory(tmp_path))
    assert error.source.line == 2 and error.source.column == 7
    assert "binary file" in error.message


def test_non_utf8_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(service("caf\xe9").encode("latin-1"))
    error = only_error(load_directory(tmp_path))
    assert (error.source.line, error.source.column) == (4, 12)
    assert "not UTF-8" in error.message
    assert "0xe9" in error.message


def test_control_character_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", service("web", "  user: a\x07b\n"))
    error = only_error(load_directory(tmp_path))
    assert (error.source.line, error.source.column) == (7, 10)
    assert error.message == "YAML cannot contain the character U+0007"


# --------------------------------------------------------------------------- manifest level


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("- a\n- b\n", 1, 1, "a manifest must be a mapping (apiVersion, kind, ...), got a list"),
        ("just text\n", 1, 1, "a manifest must be a mapping"),
        (
            "kind: Node\nmetadata: {name: h}\n",
            1,
            1,
            "missing apiVersion: add 'apiVersion: swarm-operator/v1alpha1'",
        ),
        (
            "apiVersion: v1\nkind: Node\nmetadata: {name: h}\n",
            1,
            1,
            "apiVersion 'v1' is not supported: use 'swarm-operator/v1alpha1'",
        ),
        (HEAD + "metadata: {name: h}\n", 1, 1, "missing kind: one of Network, Service, Node"),
        (
            HEAD + "kind: Servce\nmetadata: {name: h}\n",
            2,
            1,
            "unknown kind 'Servce' (known: Network, Service, Node, Secret, Config); "
            "did you mean 'Service'?",
        ),
        (HEAD + "kind: Deployment\n", 2, 1, "unknown kind 'Deployment' (known: Network"),
        (HEAD + "kind: Node\n", 1, 1, "missing required field 'metadata'"),
        (HEAD + "kind: Service\nmetadata: {name: a}\n", 1, 1, "missing required field 'spec'"),
        (
            HEAD + "kind: Service\nmetadata: {name: a}\nspec:\n  replicas: 1\n",
            4,
            1,
            "missing required field 'image' in spec",
        ),
        (
            HEAD + "kind: Node\nmetadata: {name: h, label: {}}\n",
            3,
            21,
            "unknown field 'label' in metadata; did you mean 'labels'?",
        ),
        (
            HEAD + "kind: Node\nmetadata: {name: h}\nspec: {availability: paused}\n",
            4,
            22,
            "spec.availability: 'paused' is not allowed (use one of: active, pause, drain); "
            "did you mean 'pause'?",
        ),
        (
            HEAD + "kind: Node\nmetadata: {name: h_1}\n",
            3,
            1,
            "metadata: 'h_1' is not a valid hostname",
        ),
        (
            HEAD + "kind: Node\nmetadata: {name: 'a b'}\n",
            3,
            18,
            "metadata.name: 'a b' is not a valid name",
        ),
    ],
)
def test_manifest_errors(tmp_path: Path, text: str, line: int, column: int, message: str) -> None:
    write(tmp_path / "m.yaml", text)
    error = only_error(load_directory(tmp_path))
    assert error.source == SourceRef(tmp_path / "m.yaml", line, column)
    assert error.message.startswith(message), error.message


@pytest.mark.parametrize(
    ("extra", "line", "column", "message"),
    [
        ("  replicaz: 3\n", 7, 3, "unknown field 'replicaz' in spec; did you mean 'replicas'?"),
        (
            "  endpoint-mode: dnsrr\n",
            7,
            3,
            "unknown field 'endpoint-mode' in spec; did you mean 'endpointMode'?",
        ),
        ("  zzz: 1\n", 7, 3, "unknown field 'zzz' in spec (valid: image, command, args, env"),
        (
            "  ports:\n    - target: 80\n      publishd: 8080\n",
            9,
            7,
            "unknown field 'publishd' in spec.ports[0]; did you mean 'published'?",
        ),
        (
            "  updateConfig:\n    paralelism: 2\n",
            8,
            5,
            "unknown field 'paralelism' in spec.updateConfig; did you mean 'parallelism'?",
        ),
        ("  replicas: -1\n", 7, 13, "spec.replicas: must be greater than or equal to 0"),
        ("  replicas: three\n", 7, 13, "spec.replicas: must be a valid integer"),
        (
            "  ports:\n    - target: 80\n      published: 70000\n",
            9,
            18,
            "spec.ports[0].published: must be less than or equal to 65535, got 70000",
        ),
        (
            "  ports:\n    - {target: 80, protocol: tpc}\n",
            8,
            30,
            "spec.ports[0].protocol: 'tpc' is not allowed (use one of: tcp, udp, sctp); "
            "did you mean 'tcp'?",
        ),
        (
            "  mode: global\n  replicas: 2\n",
            8,
            13,
            "spec.replicas: replicas cannot be set with mode 'global'",
        ),
        (
            "  env:\n    A: 1\n    B:\n",
            9,
            7,
            "spec.env.B: must be a valid string, got null (empty)",
        ),
        (
            "  stopGracePeriod: 10 seconds\n",
            7,
            20,
            "spec.stopGracePeriod: invalid duration '10 seconds'",
        ),
        (
            "  resources:\n    limits: {memory: 1M}\n",
            8,
            5,
            "spec.resources.limits: memory limit 1M is below Docker's minimum of 6M",
        ),
        (
            "  endpointMode: dnsrr\n  ports: [{target: 80, published: 80}]\n",
            7,
            17,
            "spec.endpointMode: endpointMode dnsrr cannot publish ports in ingress mode",
        ),
        (
            "  networks: [a, b, a]\n",
            7,
            3,
            "spec.networks: network 'a' is listed twice",
        ),
        (
            "  networks: [{aliases: [x]}]\n",
            7,
            14,
            "missing required field 'name' in spec.networks[0]",
        ),
        ("  command: 42\n", 7, 12, "spec.command: must be a valid list, got 42"),
        (
            "  networks: [42]\n",
            7,
            14,
            "spec.networks[0]: must be a mapping (key: value), got 42",
        ),
        ("  placement: [a]\n", 7, 3, "spec.placement: must be a mapping (key: value)"),
        ("  mounts: [{type: bind, target: /x}]\n", 7, 12, "spec.mounts[0]: a bind mount needs"),
    ],
)
def test_service_errors(tmp_path: Path, extra: str, line: int, column: int, message: str) -> None:
    write(tmp_path / "s.yaml", service("web", extra))
    error = only_error(load_directory(tmp_path))
    assert (error.source.file.name, error.source.line, error.source.column) == (
        "s.yaml",
        line,
        column,
    )
    assert error.message.startswith(message), error.message


@pytest.mark.parametrize(
    ("spec", "line", "column", "message"),
    [
        ("  subnet: 10.10.0.0/33\n", 6, 11, "spec.subnet: '10.10.0.0/33' is not a network in CIDR"),
        ("  subnet: not-a-net\n", 6, 11, "spec.subnet: 'not-a-net' is not a network in CIDR"),
        (
            "  subnet: 10.10.0.0/24\n  gateway: 10.10.1.254\n",
            7,
            12,
            "spec.gateway: gateway 10.10.1.254 is outside subnet 10.10.0.0/24",
        ),
        ("  gateway: 10.0.0.1\n", 6, 12, "spec.gateway: a gateway needs a subnet"),
        ("  mtu: 20\n", 6, 8, "spec.mtu: must be greater than or equal to 68"),
        ("  attachable: maybe\n", 6, 15, "spec.attachable: must be a valid boolean"),
        ("  atachable: true\n", 6, 3, "unknown field 'atachable' in spec; did you mean"),
    ],
)
def test_network_errors(tmp_path: Path, spec: str, line: int, column: int, message: str) -> None:
    text = f"{HEAD}kind: Network\nmetadata:\n  name: app-net\nspec:\n{spec}"
    write(tmp_path / "n.yaml", text)
    error = only_error(load_directory(tmp_path))
    assert error.source == SourceRef(tmp_path / "n.yaml", line, column)
    assert error.message.startswith(message), error.message


def test_all_errors_of_all_files_are_collected(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", service("web", "  replicaz: 3\n  replicas: -1\n"))
    write(tmp_path / "b.yaml", "key: [unclosed\n")
    write(
        tmp_path / "sub" / "c.yaml",
        f"{HEAD}kind: Network\nmetadata: {{name: n}}\nspec: {{subnet: 300.1.0.0/24}}\n---\n"
        + service("ok"),
    )
    result = load_directory(tmp_path)
    assert located(result) == [
        ("a.yaml", 7, 3),
        ("a.yaml", 8, 13),
        ("b.yaml", 2, 1),
        ("c.yaml", 4, 16),
    ]
    assert result.failed_files == {
        tmp_path / "a.yaml",
        tmp_path / "b.yaml",
        tmp_path / "sub/c.yaml",
    }
    assert [o.manifest.name for o in result.objects] == ["ok"]
    assert not result.ok


def test_duplicate_across_files_names_both_places(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", service("web"))
    write(tmp_path / "b" / "b.yaml", "# another copy\n" + service("web"))
    result = load_directory(tmp_path)
    error = only_error(result)
    assert error.source == SourceRef(tmp_path / "b" / "b.yaml", 2, 1)
    assert error.message == f"duplicate Service 'web': also defined at {tmp_path / 'a.yaml'}:1:1"
    assert len(result.objects) == 1
    assert result.by_key()[("Service", "web")].source.file == tmp_path / "a.yaml"


def test_same_name_in_different_kinds_is_fine(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", service("web"))
    write(tmp_path / "b.yaml", f"{HEAD}kind: Network\nmetadata: {{name: web}}\n")
    assert load_directory(tmp_path).ok


def test_duplicate_in_one_file(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", service("web") + "---\n" + service("web"))
    error = only_error(load_directory(tmp_path))
    assert error.source.line == 8
    assert error.message.endswith(f"also defined at {tmp_path / 'a.yaml'}:1:1")


def test_many_manifests_load(tmp_path: Path) -> None:
    # Not a timing test (benchmarks measure speed): a big directory loads completely.
    for f in range(50):
        docs = [service(f"s{f}-{i}", f"  replicas: {i}\n") for i in range(40)]
        write(tmp_path / f"f{f:02}.yaml", "---\n".join(docs))
    result = load_directory(tmp_path)
    assert result.ok
    assert len(result.objects) == 2000


def test_yaml_1_2_booleans_keep_text_as_text(tmp_path: Path) -> None:
    extra = (
        "  env: {COUNTRY: NO, FLAG: on, PORTS: 22:22, REAL: true, COUNT: 12}\n"
        "  init: yes\n"  # boolean fields still read yes/on
    )
    write(tmp_path / "a.yaml", service("web", extra))
    result = load_directory(tmp_path)
    assert result.ok, [str(e) for e in result.errors]
    spec = result.objects[0].manifest.spec
    assert spec.env == {
        "COUNTRY": "NO",
        "FLAG": "on",
        "PORTS": "22:22",
        "REAL": "true",
        "COUNT": "12",
    }
    assert spec.init is True


# --------------------------------------------------------------------------- never raises

_YAMLISH = st.text(
    alphabet=st.sampled_from(list("abkindspecmetadataapiVersion:-[]{},&*!<>|'\"#%@`\n\t 0123.\\?")),
    max_size=300,
)
_FIELD_NAMES = st.sampled_from(
    [
        "apiVersion",
        "kind",
        "metadata",
        "spec",
        "name",
        "image",
        "replicas",
        "ports",
        "target",
        "labels",
        "env",
        "mode",
        "subnet",
        "gateway",
        "networks",
        "x",
    ]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["swarm-operator/v1alpha1", "Service", "Network", "Node", "10.10.0.0/24"]),
)
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(_FIELD_NAMES, inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_YAMLISH)
def test_any_text_gives_a_result_not_an_exception(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    result = load_file(path)
    assert result.files == (path,)
    for error in result.errors:
        assert error.source.file == path
        assert error.message
        assert error.source.line >= 0


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(documents=st.lists(_DOCUMENTS, min_size=1, max_size=3))
def test_any_structure_gives_a_result_not_an_exception(
    tmp_path: Path, documents: list[object]
) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    result = load_file(path)
    lines = path.read_text().count("\n") + 1
    for error in result.errors:
        assert 1 <= error.source.line <= lines, str(error)
        assert error.source.column >= 1
