"""Compose files in, manifest documents and located messages out (`convert_files`).

Owns the whole run of a conversion: read each ``-f`` file (`tree`), substitute its
variables (`interpolate`, the environment over the ``.env`` file), put it in long form
and resolve ``extends`` (`merge`), merge the files in order, check the top level
(``version`` 3.x or none), walk every service and every network a service uses through
the table (`rules`), name the objects as ``docker stack deploy NAMESPACE`` would, check
each document with the manifest models (what comes out always loads), and render the
files (`render`): one per kind or one per service, each object under a comment naming
the compose file and line it came from. Neighbours: `cli.convert` prints the messages
and writes the files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from swarm_operator.manifests.compose import rules
from swarm_operator.manifests.compose.interpolate import interpolate_tree, read_dotenv
from swarm_operator.manifests.compose.merge import merge, normalize, resolve_extends
from swarm_operator.manifests.compose.tree import Diagnostic, Node, read_file
from swarm_operator.manifests.locate import did_you_mean
from swarm_operator.manifests.models import (
    ANNOTATION_ADOPT,
    API_VERSION,
    models_by_kind,
)
from swarm_operator.manifests.results import SourceRef, display_path


@dataclass(frozen=True)
class Converted:
    """One manifest document and the compose place it came from."""

    kind: str
    name: str
    document: dict[str, Any]
    source: SourceRef
    origin: str
    """The compose key it came from: ``services.web``, ``networks.back``."""


@dataclass
class Result:
    objects: list[Converted] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [p for p in self.problems if p.warning]

    @property
    def ok(self) -> bool:
        return not self.errors


def environment(
    files: list[Path], env_file: Path | None, base: Mapping[str, str], problems: list[Diagnostic]
) -> dict[str, str]:
    """The variables of the run: the ``.env`` file (``--env-file``, or the one beside the
    first compose file if there is one) under the process's environment (which wins)."""
    env: dict[str, str] = {}
    if env_file is not None:
        if not env_file.is_file():
            problems.append(Diagnostic(SourceRef(env_file, 0, 0), "env file: no such file"))
        else:
            env.update(read_dotenv(env_file, problems))
    elif files:
        dotenv = files[0].parent / ".env"
        if dotenv.is_file():
            env.update(read_dotenv(dotenv, problems))
    env.update(base)
    return env


def _read(path: Path, env: Mapping[str, str], problems: list[Diagnostic]) -> Node | None:
    root = read_file(path, problems)
    if root is None:
        return None
    interpolate_tree(root, env, problems)
    _check_version(root, problems)
    normalize(root, problems)
    return root


def _check_version(root: Node, problems: list[Diagnostic]) -> None:
    version = root.get("version")
    if version is None:
        return
    if isinstance(version.value, dict | list | bool) or version.value is None:
        problems.append(Diagnostic(version.at, 'version must be text such as "3.8"'))
        return
    text = str(version.value)
    if not (text == "3" or text.startswith("3.")):
        problems.append(
            Diagnostic(
                version.at,
                f"compose file version {text!r}: only version 3.x (or no version) is the "
                "Swarm format that docker stack deploy reads",
            )
        )


def convert_files(
    files: list[Path],
    *,
    namespace: str | None = None,
    env_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    output: Path | None = None,
) -> Result:
    """Convert compose ``files`` (merged in order) into manifest documents.

    ``output``: the directory the manifests go to; a secret's or config's ``file:`` is
    written relative to it (the manifest's ``file`` is relative to the manifest's own
    file), or absolute when it is not given."""
    result = Result()
    problems = result.problems
    variables = environment(files, env_file, os.environ if env is None else env, problems)
    cache: dict[Path, Node | None] = {}

    def load_other(path: Path, where: SourceRef) -> Node | None:
        if not path.is_file():
            return None  # said once, as an unresolved extends
        if path not in cache:
            cache[path] = None
            other_problems: list[Diagnostic] = []
            node = _read(path, variables, other_problems)
            problems.extend(other_problems)
            cache[path] = node
        return cache[path]

    merged: Node | None = None
    for path in files:
        root = _read(path, variables, problems)
        if root is None:
            continue
        cache[path.resolve()] = root
        resolve_extends(root, path.resolve(), load_other, problems)
        merged = root if merged is None else merge(merged, root)
    if merged is None:
        return result
    directory = files[0].resolve().parent
    project = rules.Project(namespace, directory, variables, output=output)
    _top_level(merged, project, problems)
    services = merged.get("services")
    if services is None or not services.is_map or not services.value:
        problems.append(Diagnostic(merged.at, "no services: nothing to convert"))
        return result
    for name, service in services.value.items():
        converted = _service(name, service, project, problems)
        if converted is not None:
            result.objects.append(converted)
    result.objects[:0] = [
        *_networks(project, problems),
        *_volumes(project, problems),
        *_blobs(project, problems),
    ]
    if result.ok:  # (an object with an error is checked again once that is fixed)
        for obj in result.objects:
            _check(obj, problems)
    # a value reached through several YAML aliases is one place: one message
    problems[:] = dict.fromkeys(problems)
    problems.sort(key=lambda p: (str(p.source.file), p.source.line, p.source.column))
    return result


def _top_level(root: Node, project: rules.Project, problems: list[Diagnostic]) -> None:
    for key, node in root.value.items():
        if key.startswith("x-"):
            continue
        if key not in rules.TOP_LEVEL:
            hint = did_you_mean(key, rules.TOP_LEVEL)
            problems.append(
                Diagnostic(
                    node.key_place, f"unknown compose key {key}: no manifest equivalent{hint}"
                )
            )
        elif key == "name" and node.value:
            problems.append(
                Diagnostic(
                    node.key_place,
                    "name is ignored (docker stack deploy takes the stack's name on its "
                    "command line): use --namespace",
                    warning=True,
                )
            )
    sections = (
        ("networks", project.networks),
        ("volumes", project.volumes),
        ("secrets", project.secrets),
        ("configs", project.configs),
    )
    for section, target in sections:
        node = root.get(section)
        if node is None or node.value is None:
            continue
        if not node.is_map:
            problems.append(Diagnostic(node.at, f"{section} must be a mapping of names"))
            continue
        for name, decl in node.value.items():
            if decl.value is None:
                decl.value = {}
            if not decl.is_map:
                problems.append(Diagnostic(decl.at, f"{section}.{name} must be a mapping"))
                continue
            if not name.startswith("x-"):
                target[name] = decl


def _metadata(name: str, project: rules.Project) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if project.namespace:
        metadata["annotations"] = {ANNOTATION_ADOPT: "true"}
    return metadata


def _service(
    name: str, service: Node, project: rules.Project, problems: list[Diagnostic]
) -> Converted | None:
    ctx = rules.Ctx(project, problems, name)
    if not service.is_map:
        return None
    for key, rule in rules.SERVICE.items():  # in the table's order
        node = service.get(key)
        if node is not None:
            rule(ctx, f"services.{name}.{key}", node)
    unknown = Node({k: v for k, v in service.value.items() if k not in rules.SERVICE}, service.at)
    rules.walk(ctx, rules.SERVICE, unknown, f"services.{name}.")
    spec = ctx.target
    if "networks" not in spec:
        project.used_networks.setdefault(rules.DEFAULT_NETWORK, service)
        attach: Any = project.network_name(rules.DEFAULT_NETWORK)
        if project.namespace:
            attach = {"name": attach, "aliases": [name]}
        spec["networks"] = [attach]
    if "image" not in spec:
        problems.append(
            Diagnostic(
                service.key_place,
                f"services.{name} has no image: Swarm runs images, it does not build them",
            )
        )
        return None
    if project.namespace:
        spec.setdefault("labels", {})[rules.STACK_NAMESPACE_LABEL] = project.namespace
        spec["labels"][rules.STACK_IMAGE_LABEL] = spec["image"]
        spec.setdefault("containerLabels", {})[rules.STACK_NAMESPACE_LABEL] = project.namespace
    for empty in ("env", "mounts", "ports", "labels", "containerLabels"):
        if spec.get(empty) in ({}, []):
            del spec[empty]
    ordered = {"image": spec.pop("image"), **spec}
    document = {
        "apiVersion": API_VERSION,
        "kind": "Service",
        "metadata": _metadata(project.scope(name), project),
        "spec": ordered,
    }
    return Converted(
        "Service", project.scope(name), document, service.key_place, f"services.{name}"
    )


def _networks(project: rules.Project, problems: list[Diagnostic]) -> list[Converted]:
    objects = []
    for key, declared in project.networks.items():
        if key not in project.used_networks:
            problems.append(
                Diagnostic(
                    declared.key_place,
                    f"networks.{key} is used by no service: not converted (docker stack "
                    "deploy does not create it either)",
                    warning=True,
                )
            )
    for key, first_use in project.used_networks.items():
        decl = project.networks.get(key)
        ctx = rules.Ctx(project, problems, key)
        if decl is not None and rules.is_external(decl):
            objects.append(_external_object("Network", project.network_name(key), decl, key))
            continue
        if decl is not None:
            rules.walk(ctx, rules.NETWORK, decl, f"networks.{key}.")
        spec = ctx.target
        if project.namespace:
            spec.setdefault("labels", {})[rules.STACK_NAMESPACE_LABEL] = project.namespace
        if spec.get("driver") == "overlay":
            del spec["driver"]
        name = project.network_name(key)
        document: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Network",
            "metadata": _metadata(name, project),
        }
        if spec:
            document["spec"] = spec
        where = decl.key_place if decl is not None else first_use.key_place
        objects.append(Converted("Network", name, document, where, f"networks.{key}"))
    return objects


def _external_object(kind: str, name: str, decl: Node, key: str) -> Converted:
    """A Network, Secret or Config made elsewhere: it must exist, and is never changed.
    (docker stack deploy passes only an external object's name.)"""
    document = {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name},
        "spec": {"external": True},
    }
    section = {"Network": "networks", "Secret": "secrets", "Config": "configs"}[kind]
    return Converted(kind, name, document, decl.key_place, f"{section}.{key}")


def _volumes(project: rules.Project, problems: list[Diagnostic]) -> list[Converted]:
    """A Volume manifest for each mounted stack volume declared with a driver or driver
    options (its labels go with it); the others are only the mounts' names and labels,
    as docker stack deploy writes them."""
    objects = []
    for key, decl in project.volumes.items():
        if key not in project.used_volumes or rules.is_external(decl):
            continue
        spec = rules.volume_spec(rules.Ctx(project, [], key), key, decl)
        if not rules.has_driver(spec):
            continue
        spec.setdefault("driver", "local")  # the engine's default (docker: no name: local)
        name = project.object_name(decl, key)
        document = {
            "apiVersion": API_VERSION,
            "kind": "Volume",
            "metadata": {"name": name},
            "spec": spec,
        }
        objects.append(Converted("Volume", name, document, decl.key_place, f"volumes.{key}"))
    return objects


BLOB: dict[str, rules.Table] = {
    "secrets": {
        "file": rules.skip,
        "environment": rules.skip,
        "external": rules.skip,
        "name": rules.skip,
        "labels": rules.to(("labels",), rules.text_map),
        "driver": rules.refused("secret drivers are not in the manifest language"),
        "driver_opts": rules.refused("secret drivers are not in the manifest language"),
        "template_driver": rules.refused("templated secrets are not in the manifest language"),
    },
    "configs": {
        "file": rules.skip,
        "content": rules.skip,
        "environment": rules.refused(
            "a Config's content is a file or inline data: write content: ${VARIABLE}"
        ),
        "external": rules.skip,
        "name": rules.skip,
        "labels": rules.to(("labels",), rules.text_map),
        "template_driver": rules.refused("templated configs are not in the manifest language"),
    },
}


def _blob_file(project: rules.Project, node: Node) -> str:
    """A ``file:`` (relative to the compose file's directory) as the manifest's ``file``
    (relative to the manifest's own file: the output directory)."""
    path = Path(os.path.expanduser(rules.text(node)))
    if not path.is_absolute():
        path = project.directory / path
    path = Path(os.path.normpath(path))
    if project.output is None:
        return str(path)
    return os.path.relpath(path, project.output.resolve())  # both with symlinks resolved


def _blobs(project: rules.Project, problems: list[Diagnostic]) -> list[Converted]:
    """Every declared secret and config (docker stack deploy creates them all, used or
    not), named as it names them."""
    objects = []
    for section, kind, declared in (
        ("secrets", "Secret", project.secrets),
        ("configs", "Config", project.configs),
    ):
        for key, decl in declared.items():
            name = project.object_name(decl, key)
            if rules.is_external(decl):
                objects.append(_external_object(kind, name, decl, key))
                continue
            ctx = rules.Ctx(project, problems, key)
            before = len(problems)
            rules.walk(ctx, BLOB[section], decl, f"{section}.{key}.")
            spec = ctx.target
            allowed = ("file", "environment") if section == "secrets" else ("file", "content")
            sources = [s for s in allowed if decl.get(s) is not None]
            if not sources and any(not p.warning for p in problems[before:]):
                continue  # said already (a source the manifest has not)
            if len(sources) != 1:
                problems.append(
                    Diagnostic(
                        decl.key_place,
                        f"{section}.{key}: give exactly one of file, "
                        + ("environment" if section == "secrets" else "content")
                        + f" or external (got {' and '.join(sources) or 'none'})",
                    )
                )
                continue
            source = decl.get(sources[0])
            assert source is not None
            try:
                if sources[0] == "file":
                    spec["file"] = _blob_file(project, source)
                elif sources[0] == "environment":
                    spec["env"] = rules.text(source)
                    problems.append(
                        Diagnostic(
                            source.key_place,
                            f"{section}.{key}.environment: the manifest reads "
                            f"{spec['env']} from the operator's environment when it loads, "
                            "not from yours now: set it there",
                            warning=True,
                        )
                    )
                else:
                    spec["data"] = rules.text(source)
            except rules.Bad as exc:
                problems.append(Diagnostic(source.at, f"{section}.{key}.{sources[0]}: {exc}"))
                continue
            if project.namespace:
                spec.setdefault("labels", {})[rules.STACK_NAMESPACE_LABEL] = project.namespace
            ordered = {k: spec[k] for k in ("file", "env", "data", "labels") if k in spec}
            document = {
                "apiVersion": API_VERSION,
                "kind": kind,
                "metadata": {"name": name},
                "spec": ordered,
            }
            objects.append(Converted(kind, name, document, decl.key_place, f"{section}.{key}"))
    return objects


def _check(obj: Converted, problems: list[Diagnostic]) -> None:
    """What comes out must load: each document through its kind's model."""
    model = models_by_kind()[obj.kind]
    try:
        model.model_validate(obj.document)
    except ValidationError as exc:
        for item in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in item["loc"] if not str(p).startswith("function-"))
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(
                Diagnostic(
                    obj.source,
                    f"{obj.origin} converts to a {obj.kind} that is not valid: {loc}: {message}",
                )
            )


# --------------------------------------------------------------------------- rendering


LAYOUTS = ("per-kind", "per-service")
_KIND_FILES = {"Network": "networks.yaml", "Service": "services.yaml"}


def _kind_file(kind: str) -> str:
    return _KIND_FILES.get(kind, kind.lower() + "s.yaml")


def render(objects: list[Converted], layout: str = "per-kind") -> dict[str, str]:
    """File name -> text: each object as one YAML document under its source comment."""
    files: dict[str, list[str]] = {}
    for obj in objects:
        if layout == "per-service" and obj.origin.startswith("services."):
            # what a compose service became goes in a file of its own
            name = obj.name + ".yaml"
        else:
            name = _kind_file(obj.kind)
        comment = f"# from {display_path(obj.source.file)}:{obj.source.line} ({obj.origin})\n"
        body = yaml.safe_dump(
            obj.document, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
        )
        files.setdefault(name, []).append(comment + body)
    return {name: "---\n".join(docs) for name, docs in files.items()}
