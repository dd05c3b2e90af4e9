"""crds/*.json: current with the models, and they accept what the loader accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from samples import FULL

from swarm_operator.manifests import schema
from swarm_operator.manifests.loader import load_directory
from swarm_operator.manifests.models import models_by_kind

KINDS = tuple(models_by_kind())

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"


@pytest.mark.parametrize("kind", KINDS)
def test_checked_in_schema_is_current(kind: str) -> None:
    path = CRDS / schema.file_name(kind)
    assert path.read_text(encoding="utf-8") == schema.render(kind), (
        f"{path} is stale: run `make crds` and commit the result"
    )


def test_no_other_files_in_crds() -> None:
    assert sorted(p.name for p in CRDS.iterdir()) == sorted(schema.file_name(k) for k in KINDS)


def test_rendering_is_deterministic() -> None:
    assert [schema.render(k) for k in KINDS] == [schema.render(k) for k in KINDS]


def _validator(kind: str) -> Any:
    document = json.loads((CRDS / schema.file_name(kind)).read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


@pytest.mark.parametrize("kind", KINDS)
def test_schema_metadata(kind: str) -> None:
    document = json.loads((CRDS / schema.file_name(kind)).read_text())
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == f"urn:swarm-operator:schema:v1alpha1:{kind}"
    assert kind in document["title"]
    assert document["description"]
    assert document["properties"]["kind"]["const"] == kind
    assert {"apiVersion", "kind", "metadata"} <= set(document["required"])


@pytest.mark.parametrize("kind", KINDS)
def test_schema_accepts_every_field(kind: str) -> None:
    _validator(kind).validate(FULL[kind])


def test_schema_accepts_the_example_manifests() -> None:
    result = load_directory(REPO / "manifests")
    assert result.ok
    for path in result.files:
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                _validator(document["kind"]).validate(document)


def test_schema_accepts_short_forms() -> None:
    document = {
        "apiVersion": "swarm-operator/v1alpha1",
        "kind": "Service",
        "metadata": {"name": "s", "labels": {"n": 1}},
        "spec": {
            "image": "i",
            "command": "sh -c true",
            "env": {"PORT": 8080, "DEBUG": True},
            "networks": ["app-net"],
            "healthcheck": {"test": "true", "interval": 5},
        },
    }
    _validator("Service").validate(document)


@pytest.mark.parametrize(
    ("kind", "patch"),
    [
        ("Service", {"spec": {"image": "i", "replicaz": 3}}),
        ("Service", {"spec": {"image": "i", "mode": "daemon"}}),
        ("Service", {"spec": {"image": "i", "ports": [{"target": 70000}]}}),
        ("Service", {"spec": {"image": "i", "stopGracePeriod": "soon"}}),
        ("Service", {"spec": {}}),
        ("Network", {"spec": {"mtu": 10}}),
        ("Node", {"spec": {"availability": "paused"}}),
        ("Node", {"kind": "Service"}),
        ("Node", {"apiVersion": "v1"}),
    ],
)
def test_schema_refuses_what_the_loader_refuses(kind: str, patch: dict[str, Any]) -> None:
    document = {"apiVersion": "swarm-operator/v1alpha1", "kind": kind, "metadata": {"name": "h"}}
    document.update(patch)
    with pytest.raises(jsonschema.ValidationError):
        _validator(kind).validate(document)


def test_write_all(tmp_path: Path) -> None:
    written = schema.write_all(tmp_path / "out")
    assert [p.name for p in written] == [
        "network.json",
        "service.json",
        "node.json",
        "secret.json",
        "config.json",
    ]
    for path in written:
        assert path.read_text() == (CRDS / path.name).read_text()


def test_main_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert schema.main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_readme_reference_is_current() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert schema.reference() in readme + "\n", "README.md is stale: run `make crds`"


def test_update_readme(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    stale = f"{schema.REFERENCE_BEGIN}\nSTALE-CONTENT\n{schema.REFERENCE_END}"
    readme.write_text(f"# x\n\n{stale}\n\nrest\n")
    assert schema.update_readme(readme) is True
    text = readme.read_text()
    assert text.startswith("# x\n\n" + schema.REFERENCE_BEGIN)
    assert "STALE-CONTENT" not in text
    assert text.endswith(schema.REFERENCE_END + "\n\nrest\n")
    assert "| `maxReplicasPerNode` | integer | unset |" in text
    assert schema.update_readme(readme) is False


def _properties(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for name, prop in node.get("properties", {}).items():
            found.append((f"{path}.{name}", prop))
        for key, value in node.items():
            found.extend(_properties(value, f"{path}.{key}"))
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_every_property_is_described(kind: str) -> None:
    document = schema.schema_for(kind)
    bare = [
        path
        for path, prop in _properties(document)
        if "description" not in prop and "$ref" not in prop
    ]
    assert not bare, f"add a description (models.py or schema.FIELD_DOCS) for {bare}"
