"""Secret and Config kinds without an engine: the language and its file:line:col errors,
service references (short and long form), render -> read back with no false drift, and a
rotation planned and applied on the counting fake (new version, services roll, old ones
go keeping the one before), with the content in no plan or report output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fake_swarm import CountingSwarm

from swarm_operator.cli.output import as_json, plan_text, report_text
from swarm_operator.engine.converge import apply_plan
from swarm_operator.engine.live import read_live
from swarm_operator.engine.plan import Plan, PlanOptions, plan
from swarm_operator.kinds import registry
from swarm_operator.kinds.blob import names_by_reference
from swarm_operator.kinds.service_read import service_from_docker
from swarm_operator.kinds.service_spec import service_spec
from swarm_operator.manifests.loader import load_directory
from swarm_operator.manifests.models import Config, Manifest, Secret, Service

HEAD = "apiVersion: swarm-operator/v1alpha1\n"


def secret_doc(name: str, spec: str) -> str:
    return f"{HEAD}kind: Secret\nmetadata: {{name: {name}}}\nspec:\n{spec}"


def errors_of(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "m.yaml").write_text(text)
    return [str(e).removeprefix(str(tmp_path) + "/") for e in load_directory(tmp_path).errors]


# --------------------------------------------------------------------------- the language


def test_a_secret_file_is_read_relative_to_its_manifest(tmp_path: Path) -> None:
    (tmp_path / "sub" / "keys").mkdir(parents=True)
    (tmp_path / "sub" / "keys" / "db.txt").write_text("pw-one")
    (tmp_path / "sub" / "s.yaml").write_text(secret_doc("db", "  file: keys/db.txt\n"))
    result = load_directory(tmp_path)
    assert result.ok, result.errors
    (obj,) = result.objects
    assert isinstance(obj.manifest, Secret)
    assert obj.manifest.content == b"pw-one"
    assert obj.manifest.engine_name.startswith("db-") and len(obj.manifest.engine_name) == 13
    # the content is in no dump, repr or schema-facing form of the manifest
    assert "pw-one" not in repr(obj.manifest)
    assert "pw-one" not in json.dumps(obj.manifest.model_dump(mode="json"))


@pytest.mark.parametrize(
    ("spec", "where", "message"),
    [
        ("  file: nope.txt\n", "m.yaml:5:3", "nope.txt: no such file"),
        ("  file: sub\n", "m.yaml:5:3", "sub: is a directory, not a file"),
        ("  env: SO_TEST_UNSET_VARIABLE\n", "m.yaml:5:3", "SO_TEST_UNSET_VARIABLE is not set"),
        ("  labels: {a: b}\n", "m.yaml:4:1", "exactly one of file, env, external (got none)"),
        (
            "  file: big.txt\n  external: true\n",
            "m.yaml:4:1",
            "exactly one of file, env, external (got file and external)",
        ),
        ("  file: big.txt\n", "m.yaml:5:3", "over Swarm's limit of 500 KB"),
        ("  file: empty.txt\n", "m.yaml:5:3", "the content is empty"),
    ],
)
def test_secret_errors_are_placed(tmp_path: Path, spec: str, where: str, message: str) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "big.txt").write_bytes(b"x" * (500 * 1024 + 1))
    (tmp_path / "empty.txt").write_bytes(b"")
    (error,) = errors_of(tmp_path, secret_doc("db", spec))
    assert error.startswith(where + ": "), error
    assert message in error
    if "file:" in spec and "no such" in message:
        assert str(tmp_path / "nope.txt") in error  # the path it tried


def test_exactly_500_kb_is_fine_and_env_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "max.txt").write_bytes(b"x" * (500 * 1024))
    monkeypatch.setenv("SO_TEST_SECRET", "from-env")
    text = (
        secret_doc("a", "  file: max.txt\n") + "---\n" + secret_doc("b", "  env: SO_TEST_SECRET\n")
    )
    assert errors_of(tmp_path, text) == []


def test_a_versioned_name_over_64_characters_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("x")
    fits, over = "a" * 53, "a" * 54
    text = secret_doc(fits, "  file: x.txt\n") + "---\n" + secret_doc(over, "  file: x.txt\n")
    (error,) = errors_of(tmp_path, text)
    assert error.startswith("m.yaml:9:12") and "over Docker's 64 characters" in error
    # an external one keeps its name: no version suffix
    assert errors_of(tmp_path, secret_doc(over, "  external: true\n")) == []


def test_config_sources(tmp_path: Path) -> None:
    config = f"{HEAD}kind: Config\nmetadata: {{name: c}}\nspec:\n"
    assert errors_of(tmp_path, config + "  data: 'x'\n") == []
    (error,) = errors_of(tmp_path, config + "  env: X\n")
    assert error.startswith("m.yaml:5:3") and "env" in error  # configs have no env
    (error,) = errors_of(tmp_path, config + "  data: 'x'\n  external: true\n")
    assert "exactly one of file, data, external (got data and external)" in error


SERVICE = f"""{HEAD}kind: Service
metadata: {{name: web}}
spec:
  image: img
  secrets:
    - db
    - {{source: ghost, target: g}}
  configs:
    - conf
"""


def test_a_reference_to_an_undeclared_object_is_an_error_at_the_reference(
    tmp_path: Path,
) -> None:
    (tmp_path / "x.txt").write_text("x")
    declared = secret_doc("db", "  file: x.txt\n") + "---\n"
    declared += f"{HEAD}kind: Config\nmetadata: {{name: conf}}\nspec: {{external: true}}\n---\n"
    errors = errors_of(tmp_path, declared + SERVICE)
    assert errors == [
        "m.yaml:19:7: Secret 'ghost' is declared nowhere: add a Secret manifest "
        "(with external: true if it is made outside swarm-operator)"
    ]


def test_reference_forms() -> None:
    spec: dict[str, Any] = {
        "image": "img",
        "secrets": ["db", {"source": "tls", "target": "certs/tls.pem", "mode": "0400"}],
        "configs": ["conf", {"source": "c2", "target": "/etc/c2", "mode": 0o440, "uid": 33}],
    }
    svc = Service.model_validate({"metadata": {"name": "web"}, "spec": spec})
    assert [(r.target, r.mode, r.uid) for r in svc.spec.secrets] == [
        ("/run/secrets/db", 0o444, "0"),
        ("/run/secrets/certs/tls.pem", 0o400, "0"),
    ]
    assert [(r.target, r.mode, r.uid) for r in svc.spec.configs] == [
        ("/conf", 0o444, "0"),
        ("/etc/c2", 0o440, "33"),
    ]
    for bad, message in (
        ({"secrets": [{"source": "a", "mode": "rw"}]}, "not octal text"),
        ({"secrets": ["a", {"source": "b", "target": "a"}]}, "two secrets on target"),
        ({"configs": [{"source": "a", "mode": 0o17777}]}, "less than or equal"),
    ):
        with pytest.raises(ValueError, match=message):
            Service.model_validate({"metadata": {"name": "w"}, "spec": {"image": "i", **bad}})


# --------------------------------------------------------------------------- engine form


def _blob(model: type[Manifest], name: str, content: bytes, **spec: Any) -> Any:
    m = model.model_validate({"metadata": {"name": name}, "spec": spec or {"data": "x"}})
    m.with_content(content)  # type: ignore[attr-defined]
    return m


def test_render_and_read_back_is_clean_and_names_versions() -> None:
    svc = Service.model_validate(
        {
            "metadata": {"name": "web"},
            "spec": {
                "image": "img",
                "secrets": ["db", {"source": "tls", "target": "/etc/tls.pem", "gid": "7"}],
                "configs": [{"source": "conf", "target": "/etc/app.conf", "mode": "0440"}],
            },
        }
    )
    refs = {("Secret", "db"): "db-aaaa", ("Secret", "tls"): "tls", ("Config", "conf"): "conf-b"}
    ids = {"Secret": {"db-aaaa": "S1", "tls": "S2"}, "Config": {"conf-b": "C1"}}
    spec = service_spec(svc, references=refs, reference_ids=ids)
    container = spec["TaskTemplate"]["ContainerSpec"]
    assert container["Secrets"] == [
        {"File": {"Name": "tls.pem".join(["/etc/", ""]), "UID": "0", "GID": "7", "Mode": 0o444},
         "SecretID": "S2", "SecretName": "tls"},
        {"File": {"Name": "db", "UID": "0", "GID": "0", "Mode": 0o444},
         "SecretID": "S1", "SecretName": "db-aaaa"},
    ]  # fmt: skip
    assert container["Configs"] == [
        {"File": {"Name": "/etc/app.conf", "UID": "0", "GID": "0", "Mode": 0o440},
         "ConfigID": "C1", "ConfigName": "conf-b"},
    ]  # fmt: skip
    own = "io.swarm-operator.object"
    engine_objects = {
        "Secret": names_by_reference(
            [
                {"ID": "S1", "Spec": {"Name": "db-aaaa", "Labels": {own: "db"}}},
                {"ID": "S2", "Spec": {"Name": "tls"}},
            ]
        ),
        "Config": names_by_reference(
            [{"ID": "C1", "Spec": {"Name": "conf-b", "Labels": {own: "conf"}}}]
        ),
    }
    back = service_from_docker(spec, reference_names=engine_objects)
    assert registry.of("Service").differences(svc, back) == ()


# --------------------------------------------------------------------------- a rotation


def _stack(content: bytes) -> list[Manifest]:
    return [
        _blob(Secret, "db", content, env="DB"),
        _blob(Config, "conf", b"listen 80\n", data="listen 80\n"),
        Service.model_validate(
            {
                "metadata": {"name": "web"},
                "spec": {"image": "img", "secrets": ["db"], "configs": ["conf"]},
            }
        ),
        Service.model_validate(
            {"metadata": {"name": "other"}, "spec": {"image": "img", "configs": ["conf"]}}
        ),
    ]


def _outputs(the_plan: Plan) -> str:
    return plan_text(the_plan, colour=False) + as_json(the_plan.to_dict())


def _secret_names(swarm: CountingSwarm) -> list[str]:
    return sorted(s["Spec"]["Name"] for s in swarm.secrets())


def test_a_rotation_rolls_the_services_using_it_and_keeps_the_version_before() -> None:
    swarm = CountingSwarm()
    contents = [b"pw-alpha-1", b"pw-bravo-2", b"pw-charlie-3"]
    shown: list[str] = []

    def apply(manifests: list[Manifest]) -> Plan:
        the_plan = plan(manifests, read_live(swarm), PlanOptions())  # type: ignore[arg-type]
        report = apply_plan(swarm, manifests, PlanOptions(), the_plan)  # type: ignore[arg-type]
        assert report.ok, report_text(report)
        shown.extend([_outputs(the_plan), report_text(report), as_json(report.to_dict())])
        return the_plan

    first = apply(_stack(contents[0]))
    assert [(a.verb, a.kind) for a in first.actions] == [
        ("create", "Secret"),
        ("create", "Config"),
        ("create", "Service"),
        ("create", "Service"),
    ]
    again = plan(_stack(contents[0]), read_live(swarm), PlanOptions())  # type: ignore[arg-type]
    assert not again.pending, _outputs(again)
    (v1,) = _secret_names(swarm)
    mounted = swarm.service("web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert mounted[0]["SecretName"] == v1 and mounted[0]["SecretID"].startswith("s")

    second = apply(_stack(contents[1]))
    pending = {(a.verb, a.kind, a.name) for a in second.pending}
    assert pending == {("rotate", "Secret", "db"), ("update", "Service", "web")}
    rotate = next(a for a in second.pending if a.verb == "rotate")
    assert rotate.disrupts == ("web",)
    text = plan_text(second, colour=False)
    assert "rotate Secret db  (content changed)" in text and "rolls services: web" in text
    (v2,) = set(_secret_names(swarm)) - {v1}
    mounted = swarm.service("web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert mounted[0]["SecretName"] == v2
    assert _secret_names(swarm) == sorted([v1, v2])  # the one before stays

    apply(_stack(contents[2]))
    (v3,) = set(_secret_names(swarm)) - {v1, v2}
    assert _secret_names(swarm) == sorted([v2, v3])  # the first, unused, is gone
    clean = plan(_stack(contents[2]), read_live(swarm), PlanOptions())  # type: ignore[arg-type]
    assert not clean.pending, _outputs(clean)
    assert any(v3 in s for s in shown)  # the outputs searched are the real ones
    for content in contents:
        assert not [s for s in shown if content.decode() in s]


def test_labels_are_set_in_place_and_prune_goes_after_the_services() -> None:
    swarm = CountingSwarm()
    stack = _stack(b"pw")
    apply_plan(swarm, stack, PlanOptions(), plan(stack, read_live(swarm), PlanOptions()))  # type: ignore[arg-type]
    relabelled = [_blob(Secret, "db", b"pw", env="DB", labels={"team": "shop"}), *stack[1:]]
    the_plan = plan(relabelled, read_live(swarm), PlanOptions())  # type: ignore[arg-type]
    (action,) = the_plan.pending
    assert (action.verb, action.kind, action.reason) == ("update", "Secret", "labels differ")
    assert [str(d) for d in action.differences] == ['spec.labels.team: (unset) -> "shop"']
    report = apply_plan(swarm, relabelled, PlanOptions(), the_plan)  # type: ignore[arg-type]
    assert report.ok and swarm.calls["relabel_secret"] == 1 and swarm.calls["create_secret"] == 1
    (secret,) = swarm.secrets()
    assert secret["Spec"]["Labels"]["team"] == "shop"
    assert not plan(relabelled, read_live(swarm), PlanOptions()).pending  # type: ignore[arg-type]

    keep = Service.model_validate({"metadata": {"name": "keep"}, "spec": {"image": "img"}})
    pruning = plan([keep], read_live(swarm), PlanOptions(prune=True))  # type: ignore[arg-type]
    order = [(a.verb, a.kind, a.name) for a in pruning.pending if a.verb == "delete"]
    assert order == [
        ("delete", "Service", "other"),
        ("delete", "Service", "web"),
        ("delete", "Config", "conf"),
        ("delete", "Secret", "db"),
    ]
    assert not pruning.blocked


def test_external_must_exist_and_is_never_written_or_pruned() -> None:
    swarm = CountingSwarm()
    ext = Secret.model_validate({"metadata": {"name": "vault"}, "spec": {"external": True}})
    (action,) = plan([ext], read_live(swarm), PlanOptions()).actions  # type: ignore[arg-type]
    assert action.verb == "create" and action.blocked and "never creates" in action.blocked
    swarm.create_secret("vault", b"made elsewhere", {})
    (action,) = plan([ext], read_live(swarm), PlanOptions()).actions  # type: ignore[arg-type]
    assert action.verb == "noop"
    pruning = plan([], read_live(swarm), PlanOptions(prune=True))  # type: ignore[arg-type]
    assert not pruning.actions  # unlabelled: not ours to delete


def test_a_yaml_mode_number_is_octal_as_in_compose(tmp_path: Path) -> None:
    text = f"{HEAD}kind: Config\nmetadata: {{name: c}}\nspec: {{data: x}}\n---\n"
    text += f"{HEAD}kind: Service\nmetadata: {{name: web}}\nspec:\n  image: img\n"
    text += "  configs: [{source: c, mode: 0440}, {source: c, target: /b, mode: '0o440'}]\n"
    (tmp_path / "m.yaml").write_text(text)
    result = load_directory(tmp_path)
    assert result.ok, result.errors
    svc = result.by_key()[("Service", "web")].manifest
    assert isinstance(svc, Service)
    assert [r.mode for r in svc.spec.configs] == [0o440, 0o440]
    assert svc.model_dump(mode="json")["spec"]["configs"][0]["mode"] == "0440"


def test_the_daemon_reloads_on_a_secret_file_and_rolls_its_users(tmp_path: Path) -> None:
    from swarm_operator.daemon.watch import DesiredState, ManifestWatcher

    (tmp_path / "db.txt").write_text("one")
    text = secret_doc("db", "  file: db.txt\n") + "---\n"
    text += f"{HEAD}kind: Service\nmetadata: {{name: web}}\nspec: {{image: i, secrets: [db]}}\n"
    text += f"---\n{HEAD}kind: Service\nmetadata: {{name: other}}\nspec: {{image: i}}\n"
    (tmp_path / "m.yaml").write_text(text)
    desired = DesiredState()
    desired.apply(load_directory(tmp_path), tmp_path)
    assert desired.content_files() == {str((tmp_path / "db.txt").resolve())}
    (tmp_path / "db.txt").write_text("two")
    change = desired.apply(load_directory(tmp_path), tmp_path)
    assert change.changed == {("Secret", "db"), ("Service", "web")}  # not "other"

    class Event:
        event_type = "modified"
        is_directory = False

        def __init__(self, path: Path) -> None:
            self.src_path = str(path)

    watcher = ManifestWatcher(tmp_path, lambda: None, content_files=desired.content_files)
    watcher.dispatch(Event(tmp_path / "notes.txt"))
    assert watcher.debouncer.wait_time() is None  # not a file any manifest reads
    watcher.dispatch(Event(tmp_path / "db.txt"))
    assert watcher.debouncer.wait_time() is not None
