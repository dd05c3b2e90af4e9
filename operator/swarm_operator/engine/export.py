"""The live Swarm as manifests: what `swarm-operator export` writes. Pure.

Owns which live objects are exported (`select`), the manifest of each (`document`: the
kind's own reading of the live object, `LiveObject.manifest`, dumped with every field at
its default left out, so the files stay short and mean exactly what is live) and the
files they go in (`render_files`: one file per kind).

- An object the operator does not own is written with the adopt annotation
  (``swarm-operator/adopt: "true"``), so `apply` of the exported directory takes it over
  instead of refusing it; `plan` shows it as an adoption with no field changes.
- A digest the engine or the CLI pinned into a tagged image (``app:1@sha256:...``) is left
  out: the planner counts ``app:1@sha256:...`` live as ``app:1`` (`normalize.image_pins`),
  and an update keeps the live pin, so nothing restarts.
- The networks, secrets and configs that the exported services use are exported too,
  whatever selected them, so that the directory validates on its own.
- Secrets and configs are written as ``external: true`` references: the engine never gives
  their content back (`kinds.blob`).
- Env values are the user's own configuration and go into the files (the round trip needs
  them); they are never printed.

Round trip, checked by ``tests/lab/test_engine_export.py``: `plan` of the exported
directory against the same Swarm changes no field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from swarm_operator.engine.live import LiveState
from swarm_operator.kinds import registry
from swarm_operator.kinds.base import LiveObject
from swarm_operator.manifests.models import ANNOTATION_ADOPT, API_VERSION

STACK_NAMESPACE = "com.docker.stack.namespace"
"""The label `docker stack deploy NAME` puts on every object of the stack."""


@dataclass(frozen=True)
class Selection:
    """What to export: a stack, label selectors (all must match), or everything."""

    stack: str | None = None
    selectors: Mapping[str, str] = field(default_factory=dict)
    everything: bool = False

    def matches(self, obj: LiveObject) -> bool:
        if self.everything:
            return True
        labels = dict(obj.labels)
        if self.stack is not None and labels.get(STACK_NAMESPACE) != self.stack:
            return False
        return all(labels.get(k) == v for k, v in self.selectors.items()) and bool(
            self.stack is not None or self.selectors
        )


@dataclass(frozen=True)
class Exported:
    documents: tuple[tuple[str, str, dict[str, Any]], ...]
    """(kind, name, manifest) in apply order, then by name."""
    skipped: tuple[tuple[str, str, str], ...]
    """(kind, name, why) of selected objects that could not be read as manifests."""
    added: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...] = ()
    """Objects exported because an exported service uses them (its networks, secrets and
    configs), not by the selection."""


def document(obj: LiveObject) -> dict[str, Any] | None:
    """The manifest of a live object, defaults left out (None: it cannot be read as one)."""
    spec = registry.of(obj.kind).export_spec(obj)
    if spec is None:
        return None
    image = spec.get("image")
    if isinstance(image, str) and "@" in image:
        reference = image.split("@", 1)[0]
        if ":" in reference.rsplit("/", 1)[-1]:  # tagged: the pin is the engine's
            spec["image"] = reference
    metadata: dict[str, Any] = {"name": obj.name}
    if not obj.managed and not spec.get("external"):
        metadata["annotations"] = {ANNOTATION_ADOPT: "true"}
    return {"apiVersion": API_VERSION, "kind": obj.kind, "metadata": metadata, "spec": spec}


def _uses(obj: LiveObject) -> list[tuple[str, str]]:
    """The other objects a live object names: its networks, secrets and configs."""
    if obj.manifest is None:
        return []
    spec = obj.manifest.spec
    networks = [("Network", str(n.name)) for n in getattr(spec, "networks", ()) or ()]
    return networks + [(kind, name) for _place, kind, name in obj.manifest.references()]


def select(live: LiveState, selection: Selection) -> Exported:
    """The documents of every selected live object (and of the objects they use)."""
    chosen: dict[tuple[str, str], LiveObject] = {}
    for obj in live.objects():
        if selection.matches(obj):
            chosen[obj.key] = obj
    skipped: list[tuple[str, str, str]] = []
    docs: dict[tuple[str, str], dict[str, Any]] = {}
    added: list[tuple[str, str]] = []
    warnings: list[str] = []

    def take(obj: LiveObject) -> bool:
        doc = document(obj)
        if doc is None:
            skipped.append((*obj.key, obj.read_error or "cannot be read as a manifest"))
            return False
        docs[obj.key] = doc
        if obj.managed and doc["spec"].get("external"):
            warnings.append(
                f"{obj.kind} {obj.name} is the operator's own: exported as an external "
                "reference (its content cannot be read back); keep the manifest it came from"
            )
        return True

    for obj in chosen.values():
        take(obj)
    for key in list(docs):
        for used in _uses(chosen[key]):
            target = live.get(used)
            if used in docs or used in chosen or target is None:
                continue
            if take(target):
                added.append(used)
    order = sorted(docs, key=lambda k: (registry.rank(k[0]), k[1]))
    return Exported(
        tuple((k[0], k[1], docs[k]) for k in order),
        tuple(sorted(skipped)),
        tuple(sorted(added)),
        tuple(warnings),
    )


class _Dumper(yaml.SafeDumper):
    """Block style; long text (a command, a test) stays on one line."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(docs: Iterable[Mapping[str, Any]], header: Sequence[str] = ()) -> str:
    """YAML documents, separated by ``---``, after ``header`` as comment lines."""
    head = "".join(f"# {line}\n" for line in header)
    body = "---\n".join(
        yaml.dump(dict(d), Dumper=_Dumper, sort_keys=False, width=1 << 16, allow_unicode=True)
        for d in docs
    )
    return head + body


def file_name(kind: str) -> str:
    return f"{kind.lower()}s.yaml"


def render_files(exported: Exported, header: Sequence[str] = ()) -> dict[str, str]:
    """One file per kind: ``services.yaml`` and so on, in apply order."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for kind, _name, doc in exported.documents:
        by_kind.setdefault(kind, []).append(doc)
    return {file_name(kind): dump(docs, header) for kind, docs in by_kind.items()}
