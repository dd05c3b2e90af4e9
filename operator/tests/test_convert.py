"""`swarm-operator convert`: compose files to manifests (pure: no engine).

Interpolation in all its forms, merging several files, anchors and extension fields,
short and long syntaxes, the names of ``--namespace``, every message at its
``file:line:column``, and what comes out loads with the project's own loader.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from swarm_operator import cli
from swarm_operator.manifests.compose.convert import Result, convert_files, render
from swarm_operator.manifests.compose.interpolate import (
    InterpolationError,
    MissingVariable,
    substitute,
)
from swarm_operator.manifests.compose.merge import parse_port, parse_volume
from swarm_operator.manifests.loader import load_directory

VOTING = Path(__file__).parent / "fixtures" / "compose" / "voting-app"


def write(tmp_path: Path, text: str, name: str = "compose.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def convert(tmp_path: Path, text: str, **kwargs: Any) -> Result:
    kwargs.setdefault("env", {})
    return convert_files([write(tmp_path, text)], **kwargs)


def spec(result: Result, name: str) -> dict[str, Any]:
    found = [o for o in result.objects if o.name == name]
    assert found, [o.name for o in result.objects]
    return dict(found[0].document.get("spec", {}))


def messages(result: Result) -> list[str]:
    return [str(p) for p in result.problems]


# --------------------------------------------------------------------------- interpolation


ENV = {"SET": "value", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${SET}", "value"),
        ("$SET/x", "value/x"),
        ("a-${SET}-b", "a-value-b"),
        ("${UNSET:-dflt}", "dflt"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${EMPTY-dflt}", ""),
        ("${UNSET-dflt}", "dflt"),
        ("${SET:-dflt}", "value"),
        ("${SET:?must}", "value"),
        ("${EMPTY?must}", ""),
        ("${SET:+other}", "other"),
        ("${EMPTY:+other}", ""),
        ("${EMPTY+other}", "other"),
        ("${UNSET+other}", ""),
        ("$$SET", "$SET"),
        ("$${SET}", "${SET}"),
        ("cost: $$5", "cost: $5"),
        ("${UNSET:-${SET}}", "value"),
        ("${UNSET:-a ${UNSET2:-b} c}", "a b c"),
        ("${UNSET}", ""),
        ("no variables", "no variables"),
    ],
)
def test_interpolation_forms(text: str, expected: str) -> None:
    assert substitute(text, ENV) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("${UNSET:?say why}", "required variable UNSET is not set: say why"),
        ("${EMPTY:?}", "required variable EMPTY is empty"),
        ("${UNSET?}", "required variable UNSET is not set"),
    ],
)
def test_required_variables(text: str, error: str) -> None:
    with pytest.raises(MissingVariable, match=error):
        substitute(text, ENV)


@pytest.mark.parametrize("text", ["$", "price $5", "${", "${SET", "${1X}", "${SET!x}"])
def test_invalid_interpolation(text: str) -> None:
    with pytest.raises(InterpolationError):
        substitute(text, ENV)


def test_an_unset_variable_is_empty_with_a_warning_at_its_place(tmp_path: Path) -> None:
    result = convert(
        tmp_path,
        """\
        services:
          web:
            image: "nginx${SUFFIX}"
        """,
    )
    assert result.ok
    assert spec(result, "web")["image"] == "nginx"
    assert messages(result) == [
        f"{tmp_path}/compose.yml:3:12: warning: variable SUFFIX is not set: an empty text is used"
    ]


def test_env_file_and_dotenv_beside_the_first_file_and_the_environment_wins(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text('TAG=from-dotenv\nexport OTHER="quoted # not a comment"\n')
    compose = """\
        services:
          web:
            image: "nginx:${TAG}"
            environment: {OTHER: "${OTHER}"}
        """
    result = convert(tmp_path, compose)
    assert spec(result, "web")["image"] == "nginx:from-dotenv"
    assert spec(result, "web")["env"] == {"OTHER": "quoted # not a comment"}
    result = convert(tmp_path, compose, env={"TAG": "from-env"})
    assert spec(result, "web")["image"] == "nginx:from-env"
    other = tmp_path / "prod.env"
    other.write_text("TAG=prod # a comment\nOTHER='single'\n")
    result = convert(tmp_path, compose, env_file=other)
    assert spec(result, "web")["image"] == "nginx:prod"
    assert spec(result, "web")["env"] == {"OTHER": "single"}


def test_a_missing_env_file_is_an_error(tmp_path: Path) -> None:
    result = convert(tmp_path, "services: {web: {image: nginx}}\n", env_file=tmp_path / "nope")
    assert not result.ok
    assert "env file: no such file" in messages(result)[0]


# --------------------------------------------------------------------------- the three messages


def test_three_messages_each_at_file_and_line(tmp_path: Path) -> None:
    """A missing required variable, a key Swarm ignores and an unknown key."""
    result = convert(
        tmp_path,
        """\
        services:
          web:
            image: "nginx:${TAG:?set TAG}"
            container_name: web-1
            replicaz: 3
        """,
    )
    path = f"{tmp_path}/compose.yml"
    assert messages(result) == [
        f"{path}:3:12: required variable TAG is not set: set TAG",
        f"{path}:4:5: warning: services.web.container_name is ignored by Swarm (Swarm names "
        "the containers of a service's tasks): not converted",
        f"{path}:5:5: unknown compose key services.web.replicaz: no manifest equivalent",
    ]
    assert len(result.errors) == 2
    assert not result.ok


def test_cli_three_messages_exit_1_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        """\
        services:
          web:
            image: "nginx:${NOT_SET_ANYWHERE_13:?set it}"
            depends_on: [db]
            deploy: {replicas: 2, replicaz: 3}
          db: {image: postgres}
        """,
    )
    code = cli.main(["convert", "-f", str(path), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err[:3] == [
        f"{path}:3:12: required variable NOT_SET_ANYWHERE_13 is not set: set it",
        f"{path}:4:5: warning: services.web.depends_on is ignored by Swarm (services start in "
        "no order; make them wait for each other): not converted",
        f"{path}:5:27: unknown compose key services.web.deploy.replicaz: no manifest "
        "equivalent; did you mean 'replicas'?",
    ]
    assert err[3] == "convert: 2 errors; nothing written"
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- the voting app


def voting(namespace: str | None = "vote", prod: bool = False) -> Result:
    files = [VOTING / "docker-stack.yml"]
    if prod:
        files.append(VOTING / "docker-stack.prod.yml")
    return convert_files(files, namespace=namespace, env={"TAG": "1.0"})


def test_voting_app_converts_and_loads(tmp_path: Path) -> None:
    result = voting()
    assert result.ok, messages(result)
    names = sorted((o.kind, o.name) for o in result.objects)
    assert names == [
        ("Network", "vote_backend"),
        ("Network", "vote_default"),
        ("Network", "vote_frontend"),
        *(
            ("Service", f"vote_{s}")
            for s in ("db", "redis", "result", "visualizer", "vote", "worker")
        ),
    ]
    files = render(result.objects)
    assert sorted(files) == ["networks.yaml", "services.yaml"]
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    loaded = load_directory(tmp_path)
    assert loaded.ok, [str(e) for e in loaded.errors]
    assert len(loaded.objects) == 9


def test_voting_app_fields() -> None:
    result = voting()
    # the .env beside the file gives POSTGRES_PASSWORD; the environment's TAG wins over it
    db = spec(result, "vote_db")
    assert db["env"] == {"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "example"}
    assert db["mounts"] == [
        {
            "source": "vote_db-data",
            "target": "/var/lib/postgresql/data",
            "volumeOptions": {"labels": {"com.docker.stack.namespace": "vote"}},
        }
    ]
    assert db["healthcheck"] == {"test": ["CMD-SHELL", "pg_isready -U postgres"], "interval": "5s"}
    vote = spec(result, "vote_vote")
    assert vote["image"] == "docker.io/dockersamples/examplevotingapp_vote:1.0"
    assert vote["args"] == ["python", "app.py"]
    assert vote["ports"] == [{"target": 80, "published": 5000}]
    assert vote["networks"] == [{"name": "vote_frontend", "aliases": ["ballot", "vote"]}]
    # the anchor's restart_policy, merged into deploy with <<; deploy.labels are the service's
    assert vote["restartPolicy"] == {
        "condition": "on-failure",
        "delay": "5s",
        "maxAttempts": 3,
        "window": "2m",
    }
    assert vote["labels"] == {
        "com.example.tier": "front",
        "com.docker.stack.namespace": "vote",
        "com.docker.stack.image": vote["image"],
    }
    assert vote["containerLabels"] == {
        "com.example.app": "vote",
        "com.docker.stack.namespace": "vote",
    }
    # what docker stack deploy writes: the file's fields, zero for the others (monitor: the
    # manifest's unset monitor would be `docker service create`'s 5s)
    assert vote["updateConfig"] == {"parallelism": 2, "monitor": "0s"}
    result_spec = spec(result, "vote_result")
    assert result_spec["ports"] == [{"target": 80, "published": 5001, "mode": "host"}]
    assert result_spec["updateConfig"]["order"] == "start-first"
    worker = spec(result, "vote_worker")
    assert worker["networks"] == [
        {"name": "vote_backend", "aliases": ["worker"]},
        {"name": "vote_frontend", "aliases": ["worker"]},
    ]
    assert worker["resources"] == {
        "limits": {"cpus": "0.5", "memory": "256M"},
        "reservations": {"cpus": "0.1", "memory": "64M"},
    }
    assert worker["placement"] == {
        "constraints": ["node.role == worker"],
        "preferences": [{"spread": "node.labels.zone"}],
        "maxReplicasPerNode": 1,
    }
    assert worker["labels"]["APP"] == "VOTING"
    visualizer = spec(result, "vote_visualizer")
    assert visualizer["networks"] == [{"name": "vote_default", "aliases": ["visualizer"]}]
    assert visualizer["stopGracePeriod"] == "1m30s"
    backend = spec(result, "vote_backend")
    assert backend == {"subnet": "10.20.0.0/24", "labels": {"com.docker.stack.namespace": "vote"}}
    # every object can take a running stack over
    assert all(
        o.document["metadata"]["annotations"] == {"swarm-operator/adopt": "true"}
        for o in result.objects
    )


def test_voting_app_warnings_name_their_lines() -> None:
    result = voting()
    stack = VOTING / "docker-stack.yml"
    assert [(p.source.file, p.source.line, p.warning) for p in result.problems] == [
        (stack, 56, True),  # vote depends_on
        (stack, 77, True),  # result depends_on
    ]


def test_voting_app_with_an_override_file() -> None:
    result = voting(prod=True)
    assert result.ok, messages(result)
    vote = spec(result, "vote_vote")
    assert vote["args"] == ["gunicorn", "app:app", "-b", "0.0.0.0:80"]  # command replaced
    assert vote["replicas"] == 4
    assert vote["ports"] == [  # by published/target/protocol: 5000:80 once, 5002:81 added
        {"target": 80, "published": 5000},
        {"target": 81, "published": 5002},
    ]
    assert vote["containerLabels"]["com.example.app"] == "vote"  # maps merged
    assert vote["containerLabels"]["com.example.env"] == "prod"
    assert vote["restartPolicy"]["maxAttempts"] == 3  # untouched parts kept
    assert spec(result, "vote_worker")["env"] == {"DB_HOST": "db", "REDIS_HOST": "redis-prod"}
    # the service is placed where the first file defines it
    source = next(o.source for o in result.objects if o.name == "vote_vote")
    assert (source.file.name, source.line) == ("docker-stack.yml", 47)


def test_without_namespace_names_are_the_compose_names() -> None:
    result = voting(namespace=None)
    assert result.ok
    names = sorted(o.name for o in result.objects)
    assert "vote" in names and "default-net" in names and "backend" in names
    vote = spec(result, "vote")
    assert vote["networks"] == [{"name": "frontend", "aliases": ["ballot"]}]
    assert "com.docker.stack.namespace" not in vote.get("labels", {})
    assert all("annotations" not in o.document["metadata"] for o in result.objects)


def test_per_service_layout_and_source_comments() -> None:
    files = render(voting().objects, "per-service")
    assert sorted(files) == sorted(
        ["networks.yaml"]
        + [f"vote_{s}.yaml" for s in ("db", "redis", "result", "vote", "visualizer", "worker")]
    )
    first = files["vote_db.yaml"].splitlines()[0]
    assert first == f"# from {VOTING / 'docker-stack.yml'}:31 (services.db)"


# --------------------------------------------------------------------------- merging, anchors


def test_merge_rules(tmp_path: Path) -> None:
    base = write(
        tmp_path,
        """\
        services:
          web:
            image: nginx
            command: [a, b]
            environment: [A=1, B=2]
            volumes: ["data:/data", "/srv:/srv:ro"]
            dns: [1.1.1.1]
            healthcheck: {test: [CMD, one], interval: 5s}
            deploy: {labels: {x: "1"}, resources: {limits: {memory: 64M}}}
        volumes: {data: {}}
        """,
    )
    override = write(
        tmp_path,
        """\
        services:
          web:
            command: c
            environment: {B: "3", C: "4"}
            volumes: ["/other:/srv"]
            dns: [8.8.8.8, 1.1.1.1]
            healthcheck: {test: [CMD, two]}
            deploy: {labels: {y: "2"}, resources: {limits: {cpus: "1"}}}
        """,
        "override.yml",
    )
    result = convert_files([base, override], env={})
    assert result.ok, messages(result)
    web = spec(result, "web")
    assert web["args"] == ["c"]
    assert web["env"] == {"A": "1", "B": "3", "C": "4"}
    assert web["mounts"] == [
        {"source": "data", "target": "/data"},
        {"type": "bind", "source": "/other", "target": "/srv"},
    ]
    assert web["dns"] == ["1.1.1.1", "8.8.8.8"]
    assert web["healthcheck"] == {"test": ["CMD", "two"], "interval": "5s"}
    assert web["labels"] == {"x": "1", "y": "2"}
    assert web["resources"] == {"limits": {"memory": "64M", "cpus": "1"}}


def test_anchors_merge_keys_and_extension_fields(tmp_path: Path) -> None:
    result = convert(
        tmp_path,
        """\
        x-defaults: &defaults
          image: busybox:1
          environment: &env {LEVEL: info}
          x-note: ignored everywhere
        services:
          a:
            <<: *defaults
          b:
            <<: *defaults
            environment:
              <<: *env
              EXTRA: "1"
            x-team: shop
        """,
    )
    assert result.ok, messages(result)
    assert spec(result, "a") == {
        "image": "busybox:1",
        "env": {"LEVEL": "info"},
        "networks": ["default-net"],
    }
    assert spec(result, "b")["env"] == {"LEVEL": "info", "EXTRA": "1"}


def test_extends_in_the_same_file_and_another(tmp_path: Path) -> None:
    write(tmp_path, "services:\n  common: {image: base:1, environment: {A: '1'}}\n", "common.yml")
    result = convert(
        tmp_path,
        """\
        services:
          base: {image: busybox:1, environment: {X: "1"}, user: nobody}
          child:
            extends: base
            environment: {Y: "2"}
          other:
            extends: {file: common.yml, service: common}
          lost:
            image: busybox:1
            extends: {service: nowhere}
        """,
    )
    child = spec(result, "child")
    assert child["env"] == {"X": "1", "Y": "2"} and child["user"] == "nobody"
    assert spec(result, "other")["image"] == "base:1"
    assert messages(result) == [
        f"{tmp_path}/compose.yml:10:5: warning: extends is not resolved (no service 'nowhere' "
        "in compose.yml): the service is converted without it"
    ]


# --------------------------------------------------------------------------- syntaxes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("80", [{"target": 80, "protocol": "tcp", "mode": "ingress"}]),
        ("8080:80", [{"target": 80, "protocol": "tcp", "published": 8080, "mode": "ingress"}]),
        ("53:53/udp", [{"target": 53, "protocol": "udp", "published": 53, "mode": "ingress"}]),
        (
            "127.0.0.1:8080:80",
            [
                {
                    "target": 80,
                    "protocol": "tcp",
                    "published": 8080,
                    "host_ip": "127.0.0.1",
                    "mode": "ingress",
                }
            ],
        ),
        (
            "9000-9001:90-91",
            [
                {"target": 90, "protocol": "tcp", "published": 9000, "mode": "ingress"},
                {"target": 91, "protocol": "tcp", "published": 9001, "mode": "ingress"},
            ],
        ),
    ],
)
def test_short_ports(text: str, expected: list[dict[str, Any]]) -> None:
    assert parse_port(text) == expected


@pytest.mark.parametrize("text", ["x", "1:2:3:4", "80-79", "8000-8001:80"])
def test_bad_short_ports(text: str) -> None:
    with pytest.raises(ValueError):
        parse_port(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/data", {"type": "volume", "target": "/data"}),
        ("data:/data", {"type": "volume", "source": "data", "target": "/data"}),
        (
            "./conf:/etc/x:ro",
            {"type": "bind", "source": "./conf", "target": "/etc/x", "read_only": True},
        ),
        ("/srv:/srv:rw", {"type": "bind", "source": "/srv", "target": "/srv", "read_only": False}),
        (
            "data:/d:nocopy",
            {"type": "volume", "source": "data", "target": "/d", "volume": {"nocopy": True}},
        ),
    ],
)
def test_short_volumes(text: str, expected: dict[str, Any]) -> None:
    assert parse_volume(text) == expected


def test_long_and_short_syntaxes(tmp_path: Path) -> None:
    result = convert(
        tmp_path,
        """\
        services:
          web:
            image: nginx
            entrypoint: "sh -c 'echo a b'"
            environment: [A=1, "B=x=y", EMPTY=]
            labels: [a=1, b]
            extra_hosts: ["db:10.0.0.5", "cache=10.0.0.6"]
            dns: 9.9.9.9
            ports:
              - {target: 80, published: "8080", protocol: udp}
              - "9090:90"
            volumes:
              - {type: tmpfs, target: /tmp}
              - {type: bind, source: ./html, target: /usr/share/nginx/html, read_only: true}
            networks:
              front: {aliases: [www]}
              back:
            healthcheck: {disable: true}
            deploy:
              mode: global
              endpoint_mode: dnsrr
              update_config: {delay: 5s, failure_action: rollback, max_failure_ratio: 0.5}
              rollback_config: {parallelism: 0}
            restart: on-failure:3
            init: true
            stop_signal: SIGINT
        networks: {front: {}, back: {attachable: true, internal: true, labels: [k=v]}}
        """,
    )
    assert [p.message for p in result.errors] == [
        "services.web converts to a Service that is not valid: spec.endpointMode: endpointMode "
        "dnsrr cannot publish ports in ingress mode; use mode host"
    ]
    web = spec(result, "web")
    assert web["command"] == ["sh", "-c", "echo a b"]
    assert web["env"] == {"A": "1", "B": "x=y", "EMPTY": ""}
    assert web["containerLabels"] == {"a": "1", "b": ""}
    assert web["hosts"] == {"db": "10.0.0.5", "cache": "10.0.0.6"}
    assert web["dns"] == ["9.9.9.9"]
    assert web["ports"] == [
        {"target": 80, "published": 8080, "protocol": "udp"},
        {"target": 90, "published": 9090},
    ]
    assert web["mounts"] == [
        {"type": "tmpfs", "target": "/tmp"},
        {
            "type": "bind",
            "source": str(tmp_path / "html"),
            "target": "/usr/share/nginx/html",
            "readOnly": True,
        },
    ]
    assert web["networks"] == ["back", {"name": "front", "aliases": ["www"]}]
    assert web["healthcheck"] == {"test": ["NONE"]}
    assert web["mode"] == "global"
    assert web["updateConfig"] == {
        "delay": "5s",
        "failureAction": "rollback",
        "maxFailureRatio": 0.5,
        "parallelism": 1,
        "monitor": "0s",
    }
    assert web["rollbackConfig"] == {"parallelism": 0, "monitor": "0s"}
    assert web["restartPolicy"] == {"condition": "on-failure", "maxAttempts": 3}
    assert (web["init"], web["stopSignal"]) == (True, "SIGINT")
    assert spec(result, "back") == {"attachable": True, "internal": True, "labels": {"k": "v"}}


# --------------------------------------------------------------------------- refusals


def load_output(result: Result, out: Path) -> Any:
    """Render into ``out`` and load it with the project's own loader (links resolved)."""
    assert result.ok, messages(result)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in render(result.objects).items():
        (out / name).write_text(text)
    loaded = load_directory(out)
    assert loaded.ok, [str(e) for e in loaded.errors]
    return {(o.manifest.kind, o.manifest.name): o.manifest for o in loaded.objects}


def test_secrets_and_configs_become_objects_and_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_KEY", "k")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "db.txt").write_text("pw\n")
    out = tmp_path / "manifests" / "shop"
    result = convert(
        tmp_path,
        """\
        services:
          web:
            image: nginx
            secrets:
              - db
              - {source: api, target: /etc/api.key, uid: "100", gid: "101", mode: 0400}
              - outside
            configs:
              - app
              - {source: named, target: /etc/n.conf}
        secrets:
          db: {file: ./keys/db.txt, labels: {team: a}}
          api: {environment: API_KEY}
          outside: {external: true, name: made-elsewhere}
          unused: {file: keys/db.txt}
        configs:
          app: {content: "port=${PORT}"}
          named: {name: exactly-this, file: keys/db.txt}
        """,
        namespace="shop",
        env={"PORT": "80"},
        output=out,
    )
    assert result.ok, messages(result)
    # the file is relative to the output directory (where the manifests are)
    assert spec(result, "shop_db") == {
        "file": "../../keys/db.txt",
        "labels": {"team": "a", "com.docker.stack.namespace": "shop"},
    }
    assert spec(result, "shop_api") == {
        "env": "API_KEY",
        "labels": {"com.docker.stack.namespace": "shop"},
    }
    assert spec(result, "made-elsewhere") == {"external": True}
    assert "file" in spec(result, "shop_unused")  # stack deploy creates every declared one
    assert spec(result, "shop_app")["data"] == "port=80"
    assert spec(result, "exactly-this")["file"] == "../../keys/db.txt"
    web = spec(result, "shop_web")
    # the file in the task is named after the compose key, as docker stack deploy names it
    assert web["secrets"] == [
        {"source": "made-elsewhere", "target": "outside"},
        {
            "source": "shop_api",
            "target": "/etc/api.key",
            "uid": "100",
            "gid": "101",
            "mode": "0400",
        },
        {"source": "shop_db", "target": "db"},
    ]
    assert web["configs"] == [
        {"source": "exactly-this", "target": "/etc/n.conf"},
        {"source": "shop_app", "target": "app"},
    ]
    [warning] = result.warnings
    assert (warning.source.line, "operator's environment" in warning.message) == (13, True)
    loaded = load_output(result, out)
    refs = loaded[("Service", "shop_web")].spec
    assert [(r.source, r.target, r.uid, r.gid, r.mode) for r in refs.secrets] == [
        ("made-elsewhere", "/run/secrets/outside", "0", "0", 0o444),
        ("shop_api", "/etc/api.key", "100", "101", 0o400),
        ("shop_db", "/run/secrets/db", "0", "0", 0o444),
    ]
    assert [(r.source, r.target) for r in refs.configs] == [
        ("exactly-this", "/etc/n.conf"),
        ("shop_app", "/app"),
    ]
    assert loaded[("Secret", "shop_db")].content == b"pw\n"
    assert loaded[("Config", "shop_app")].content == b"port=80"


def test_without_output_a_secret_file_is_absolute_and_names_are_the_keys(tmp_path: Path) -> None:
    result = convert(
        tmp_path,
        """\
        services:
          web: {image: nginx, secrets: [db], configs: [app]}
        secrets:
          db: {file: db.txt}
        configs:
          app: {file: ~/app.conf}
        """,
        env={"HOME": "/home/someone"},
    )
    assert result.ok, messages(result)
    assert spec(result, "db") == {"file": str(tmp_path / "db.txt")}
    assert spec(result, "web")["secrets"] == [{"source": "db"}]
    assert spec(result, "web")["configs"] == [{"source": "app"}]


def test_secret_and_config_mistakes_are_located_errors(tmp_path: Path) -> None:
    result = convert(
        tmp_path,
        """\
        services:
          web:
            image: nginx
            secrets: [nope]
            credential_spec: {config: gmsa}
        secrets:
          two: {file: a, environment: B}
          none: {labels: {a: b}}
          driven: {driver: vault, file: a}
        configs:
          fromenv: {environment: X}
        """,
    )
    path = f"{tmp_path}/compose.yml"
    assert messages(result) == [
        f"{path}:4:15: services.web.secrets: undefined secret 'nope' (declare it under secrets:)",
        f"{path}:5:23: services.web.credential_spec.config: docker stack deploy writes the "
        "config's engine ID here, which a manifest cannot name before the config exists: use "
        "file or registry",
        f"{path}:7:3: secrets.two: give exactly one of file, environment or external (got file "
        "and environment)",
        f"{path}:8:3: secrets.none: give exactly one of file, environment or external (got none)",
        f"{path}:9:12: secrets.driven.driver has no manifest equivalent: secret drivers are not "
        "in the manifest language",
        f"{path}:11:13: configs.fromenv.environment has no manifest equivalent: a Config's "
        "content is a file or inline data: write content: ${VARIABLE}",
    ]


def test_volumes_become_volume_objects_and_mount_labels(tmp_path: Path) -> None:
    result = convert(
        tmp_path,
        """\
        services:
          web:
            image: nginx
            volumes:
              - {type: volume, source: cache, target: /cache, volume: {nocopy: true}}
              - labelled:/l
              - outside:/o
              - {type: volume, target: /anon, volume: {nocopy: true}}
              - {type: tmpfs, target: /tmp, tmpfs: {size: 64m, mode: 01777}}
              - {type: bind, source: /srv, target: /srv, bind: {propagation: rslave}}
        volumes:
          cache:
            driver_opts: {type: tmpfs, device: tmpfs}
            labels: {kept: "yes"}
          labelled: {labels: {team: a}}
          outside: {external: true, driver: ignored}
          unused: {driver: local}
        """,
        namespace="ns",
    )
    assert [(o.kind, o.name) for o in result.objects if o.kind == "Volume"] == [
        ("Volume", "ns_cache")
    ]
    assert spec(result, "ns_cache") == {
        "driverOptions": {"type": "tmpfs", "device": "tmpfs"},
        "labels": {"kept": "yes"},
        "driver": "local",
    }
    stack = {"com.docker.stack.namespace": "ns"}
    assert spec(result, "ns_web")["mounts"] == [
        {
            "source": "ns_cache",
            "target": "/cache",
            "volumeOptions": {"noCopy": True, "labels": stack},
        },
        {
            "source": "ns_labelled",
            "target": "/l",
            "volumeOptions": {"labels": {"team": "a", **stack}},
        },
        {"source": "outside", "target": "/o"},
        {"target": "/anon", "volumeOptions": {"noCopy": True}},
        {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": "64m", "mode": "1777"}},
        {"type": "bind", "source": "/srv", "target": "/srv", "bind": {"propagation": "rslave"}},
    ]
    [warning] = result.warnings
    assert warning.message.startswith("volumes.outside.driver is ignored: the volume is external")
    # linked as docker stack deploy writes each mount: the driver, its options, all labels
    loaded = load_output(result, tmp_path / "out")
    cache = loaded[("Service", "ns_web")].spec.mounts[0].volume_options
    assert (cache.driver, cache.driver_options, cache.labels, cache.no_copy) == (
        "local",
        {"type": "tmpfs", "device": "tmpfs"},
        {"kept": "yes", **stack},
        True,
    )
    labelled = loaded[("Service", "ns_web")].spec.mounts[1].volume_options
    assert (labelled.driver, labelled.labels) == (None, {"team": "a", **stack})


def test_container_fields_of_a_service(tmp_path: Path) -> None:
    result = convert(
        tmp_path,
        """\
        services:
          web:
            image: nginx
            logging: {driver: json-file, options: {max-size: 10m}}
            cap_add: [NET_ADMIN]
            cap_drop: [ALL]
            sysctls: [net.core.somaxconn=1024]
            ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 100}
            read_only: true
            tty: true
            stdin_open: true
            isolation: default
            group_add: ["100", staff]
            credential_spec: {file: spec.json}
            networks:
              front: {driver_opts: {com.docker.network.driver.mtu: "1400"}}
            deploy:
              resources:
                limits: {pids: 100}
                reservations:
                  generic_resources:
                    - discrete_resource_spec: {kind: gpu, value: 2}
          quiet:
            image: nginx
            logging: {options: {max-size: 1m}}
        networks:
          front: {}
        """,
    )
    web = spec(result, "web")
    assert {k: v for k, v in web.items() if k not in ("image", "networks")} == {
        "logging": {"driver": "json-file", "options": {"max-size": "10m"}},
        "capAdd": ["NET_ADMIN"],
        "capDrop": ["ALL"],
        "sysctls": {"net.core.somaxconn": "1024"},
        "ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "nproc": 100},
        "readOnly": True,
        "tty": True,
        "stdinOpen": True,
        "isolation": "default",
        "groups": ["100", "staff"],
        "privileges": {"credentialSpec": {"file": "spec.json"}},
        "resources": {
            "limits": {"pids": 100},
            "reservations": {
                "genericResources": [{"discreteResourceSpec": {"kind": "gpu", "value": 2}}]
            },
        },
    }
    assert web["networks"] == [
        {"name": "front", "driverOpts": {"com.docker.network.driver.mtu": "1400"}}
    ]
    # docker stack deploy would send a log driver with no name; the manifest needs one
    assert messages(result) == [
        f"{tmp_path}/compose.yml:25:14: services.quiet.logging: options need a driver (write "
        "driver: json-file, or the one in use)"
    ]
    del result.objects[[o.name for o in result.objects].index("quiet")]
    result.problems.clear()
    loaded = load_output(result, tmp_path / "out")
    loaded_web = loaded[("Service", "web")].spec
    assert (loaded_web.cap_add, loaded_web.cap_drop) == (["CAP_NET_ADMIN"], ["ALL"])


def test_refused_and_ignored_keys(tmp_path: Path) -> None:
    result = convert(
        tmp_path,
        """\
        version: "3.8"
        name: shop
        services:
          web:
            image: nginx
            mem_limit: 64m
            build: .
            privileged: true
            networks: [nowhere]
            volumes: ["missing:/data"]
        nope: {}
        """,
    )
    path = f"{tmp_path}/compose.yml"
    assert messages(result) == [
        f"{path}:2:1: warning: name is ignored (docker stack deploy takes the stack's name on "
        "its command line): use --namespace",
        f"{path}:6:5: services.web.mem_limit has no manifest equivalent: set "
        "deploy.resources.limits.memory",
        f"{path}:7:5: warning: services.web.build is ignored by Swarm (Swarm does not build "
        "images; build and push it, and set image): not converted",
        f"{path}:8:5: warning: services.web.privileged is ignored by Swarm (services cannot "
        "run privileged): not converted",
        f"{path}:9:16: services.web.networks: undefined network 'nowhere' (declare it under "
        "networks:)",
        f"{path}:10:15: services.web.volumes: undefined volume 'missing' (declare it under "
        "volumes:)",
        f"{path}:11:1: unknown compose key nope: no manifest equivalent",
    ]


def test_version_2_and_a_service_without_image(tmp_path: Path) -> None:
    result = convert(tmp_path, 'version: "2.4"\nservices:\n  web: {build: .}\n')
    assert [p.message for p in result.errors] == [
        "compose file version '2.4': only version 3.x (or no version) is the Swarm format "
        "that docker stack deploy reads",
        "services.web has no image: Swarm runs images, it does not build them",
    ]


def test_yaml_errors_are_located(tmp_path: Path) -> None:
    result = convert(tmp_path, "services:\n  web: {image: a\n  b: c\n")
    assert len(result.errors) == 1 and result.errors[0].source.line >= 2
    result = convert(tmp_path, "services:\n  web: {image: a, image: b}\n")
    assert "duplicate key 'image'" in messages(result)[0]


# --------------------------------------------------------------------------- the command


def test_cli_writes_files_that_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = ["convert", "-f", str(VOTING / "docker-stack.yml"), "--namespace", "vote"]
    assert cli.main([*argv, "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("converted: 9 objects (3 Network, 6 Service) into 2 files")
    assert cli.main(["validate", str(out)]) == 0
    assert capsys.readouterr().out.startswith("valid: 9 objects in 2 files")
    assert cli.main([*argv, "-o", str(out)]) == 2  # the files exist
    assert "--force" in capsys.readouterr().err
    assert cli.main([*argv, "-o", str(out), "--force"]) == 0


def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["convert", "-f", str(tmp_path / "none.yml"), "-o", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["convert", "-o", str(tmp_path)])
    assert exc.value.code == 2


# --------------------------------------------------------------------------- the loader


def test_a_compose_file_in_a_manifest_directory_gets_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text("version: '3.8'\nservices:\n  web: {image: a}\n")
    (tmp_path / "web.yaml").write_text(
        "apiVersion: swarm-operator/v1alpha1\nkind: Service\nmetadata: {name: web}\n"
        "spec: {image: nginx}\n"
    )
    result = load_directory(tmp_path)
    assert [str(e) for e in result.errors] == [
        f"{tmp_path}/docker-compose.yml:1:1: this is a compose file; convert it with "
        f"`swarm-operator convert -f {tmp_path}/docker-compose.yml`"
    ]
    assert len(result.objects) == 1


@pytest.mark.parametrize(
    "text",
    [
        "services: {web: {image: a}}\nnetworks: {}\nx-any: 1\n",  # unversioned
        "version: '3'\nvolumes: {data: {}}\n",  # an override file with no services
    ],
)
def test_compose_detection(tmp_path: Path, text: str) -> None:
    (tmp_path / "c.yaml").write_text(text)
    errors = [e.message for e in load_directory(tmp_path).errors]
    assert len(errors) == 1 and errors[0].startswith("this is a compose file")


def test_a_manifest_missing_its_header_is_not_taken_for_compose(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("metadata: {name: web}\nspec: {image: a}\nservices: 1\n")
    errors = [e.message for e in load_directory(tmp_path).errors]
    assert errors and not any("compose" in e for e in errors)


def test_networks_unused_external_and_restart_with_a_policy(tmp_path: Path) -> None:
    result = convert(
        tmp_path,
        """\
        services:
          web:
            image: nginx
            networks: [outside]
            restart: always
            deploy: {restart_policy: {condition: none}}
        networks:
          spare: {}
          outside: {external: true}
        """,
    )
    path = f"{tmp_path}/compose.yml"
    assert messages(result) == [
        f"{path}:5:5: warning: services.web.restart is ignored: deploy.restart_policy is set "
        "and wins",
        f"{path}:8:3: warning: networks.spare is used by no service: not converted (docker "
        "stack deploy does not create it either)",
    ]
    assert spec(result, "web")["restartPolicy"] == {"condition": "none"}
    assert spec(result, "outside") == {"external": True}


def test_an_external_network_keeps_its_external_name_under_a_namespace(tmp_path: Path) -> None:
    result = convert(
        tmp_path,
        """\
        services:
          web: {image: nginx, networks: [edge, old]}
        networks:
          edge: {external: true, name: traefik-public}
          old: {external: {name: legacy}}
        """,
        namespace="ns",
    )
    assert result.ok, messages(result)
    networks = {o.name: o.document for o in result.objects if o.kind == "Network"}
    assert sorted(networks) == ["legacy", "traefik-public"]
    assert networks["legacy"]["spec"] == {"external": True}
    assert "annotations" not in networks["legacy"]["metadata"]  # never adopted nor changed
    assert [n["name"] for n in spec(result, "ns_web")["networks"]] == ["legacy", "traefik-public"]


def test_a_value_used_through_aliases_gets_one_message(tmp_path: Path) -> None:
    result = convert(
        tmp_path,
        """\
        x-image: &image "busybox:${MISSING:?set MISSING}"
        services:
          a: {image: *image}
          b: {image: *image}
        """,
    )
    assert messages(result) == [
        f"{tmp_path}/compose.yml:1:10: required variable MISSING is not set: set MISSING"
    ]


def test_volume_names_with_a_namespace(tmp_path: Path) -> None:
    result = convert(
        tmp_path,
        """\
        services:
          web:
            image: nginx
            volumes: ["data:/a", "shared:/b", "named:/c", "/anonymous", "old:/d"]
        volumes:
          data: {}
          shared: {external: true}
          named: {name: exactly-this}
          old: {external: {name: legacy}}
        """,
        namespace="ns",
    )
    stack = {"volumeOptions": {"labels": {"com.docker.stack.namespace": "ns"}}}
    assert spec(result, "ns_web")["mounts"] == [
        {"source": "ns_data", "target": "/a", **stack},
        {"source": "shared", "target": "/b"},
        {"source": "exactly-this", "target": "/c", **stack},
        {"target": "/anonymous"},
        {"source": "legacy", "target": "/d"},
    ]
    assert result.ok and not result.problems, messages(result)


@pytest.mark.parametrize(
    "text",
    [
        "services: []",
        "services: {web: 3}",
        "services: {web: {image: a, deploy: 3}}",
        "services: {web: {image: a, networks: 3}}",
        "services: {web: {image: a, volumes: [{}]}}",
        "services: {web: {image: a, environment: 5}}",
        "services: {web: {image: a, healthcheck: true}}",
        "services: {web: {image: a, ports: [[1]]}}",
        "networks: [a]\nservices: {web: {image: a}}",
        "services: {web: {image: [a]}}",
        "services: {web: {image: a, labels: [1, [2]]}}",
        "services: {web: {image: a, deploy: {placement: {preferences: [3]}}}}",
        "services: {web: {image: a, env_file: [{}]}}",
        "volumes: 3\nservices: {web: {image: a, volumes: ['x:/y']}}",
        "services: {web: {image: a, networks: {n: 3}}}\nnetworks: {n: {}}",
        "services: {web: {image: a, networks: [n]}}\nnetworks: {n: {ipam: {config: [3]}}}",
        "services: {web: {image: a, networks: [n]}}\nnetworks: {n: {ipam: 3, labels: 3}}",
        "services: {web: {image: a, healthcheck: {disable: maybe}}}",
        "version: [1]\nservices: {web: {image: a}}",
        "services: {web: {image: a, ports: [{target: x}]}}",
        "services: {web: {image: a, volumes: [{type: bind}]}}",
        "services: {web: {image: a, extra_hosts: {a: [1]}}}",
        "? [a]\n: b",
    ],
)
def test_bad_input_is_a_located_error_never_an_exception(tmp_path: Path, text: str) -> None:
    result = convert(tmp_path, text + "\n", namespace="ns")
    assert not result.ok
    assert all(p.source.file == tmp_path / "compose.yml" for p in result.problems)
    assert all(p.source.line >= 1 for p in result.errors), messages(result)


def test_an_extends_of_a_missing_file_is_one_warning(tmp_path: Path) -> None:
    result = convert(
        tmp_path, "services: {web: {image: a, extends: {file: nope.yml, service: x}}}\n"
    )
    assert result.ok
    assert [p.message for p in result.problems] == [
        "extends is not resolved (cannot read 'nope.yml'): the service is converted without it"
    ]


def test_ipam_config_lists_become_pools_and_enable_ipv6_ipv6(tmp_path: Path) -> None:
    result = convert(
        tmp_path,
        """\
        services:
          web: {image: nginx, networks: [one, two, dual, inert]}
        networks:
          one: {ipam: {config: [{subnet: 10.1.0.0/24}]}}
          two: {ipam: {config: [{subnet: 10.2.0.0/24}, {subnet: 10.3.0.0/24}]}}
          dual:
            enable_ipv6: true
            ipam: {config: [{subnet: 10.4.0.0/24}, {subnet: "fd00:4::/64"}]}
          inert: {ipam: {config: [{subnet: "fd00:5::/64"}]}}
        """,
    )
    path = f"{tmp_path}/compose.yml"
    assert messages(result) == [
        f"{path}:7:5: warning: networks.dual.enable_ipv6: docker stack deploy refuses this "
        "key (compose file format 3 has no enable_ipv6); converted as ipv6: true",
        f"{path}:9:3: networks.inert converts to a Network that is not valid: spec: IPv6 pool "
        "fd00:5::/64 needs ipv6: true (without it the engine gives no task an IPv6 address)",
    ]
    assert spec(result, "one") == {"subnet": "10.1.0.0/24"}
    assert spec(result, "two") == {"pools": [{"subnet": "10.2.0.0/24"}, {"subnet": "10.3.0.0/24"}]}
    assert spec(result, "dual") == {
        "ipv6": True,
        "pools": [{"subnet": "10.4.0.0/24"}, {"subnet": "fd00:4::/64"}],
    }
