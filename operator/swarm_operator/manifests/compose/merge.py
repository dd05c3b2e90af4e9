"""Compose's short syntaxes into their long form, and several files merged into one.

Owns `normalize` (per file, after interpolation: ``environment``, ``labels``,
``extra_hosts``, ``sysctls`` given as lists become maps; ``networks`` as a list becomes a
map; each ``ports`` entry becomes one long-form mapping per port (ranges expanded), each
``volumes`` entry a long-form mapping, ``secrets``/``configs`` names mappings with a
``source``; one text where a list is allowed becomes a list), `merge` (compose's rules
for ``-f a.yml -f b.yml``: mappings merged key by key, ``ports`` by published port,
target and protocol, ``volumes`` by target, ``secrets``/``configs`` by target,
``command``/``entrypoint``/``healthcheck.test`` replaced, ``logging`` replaced when the
driver differs, other lists joined without repeats, scalars replaced) and `resolve_extends`
(``extends`` from the same file or another one). Every node keeps its place.
Neighbours: `convert` runs these in that order; `rules` reads the long forms only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swarm_operator.manifests.compose.tree import Diagnostic, Node
from swarm_operator.manifests.results import SourceRef

Problems = list[Diagnostic]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _kv_list(node: Node, sep: str, none_value: str | None, problems: Problems, what: str) -> None:
    """``[K=V, K]`` -> ``{K: V}`` in place (``K`` alone: ``none_value``); map values as text."""
    if node.is_list:
        result: dict[str, Node] = {}
        for item in node.value:
            if not isinstance(item.value, str | int | float) or isinstance(item.value, bool):
                problems.append(Diagnostic(item.at, f"{what}: each entry is text 'KEY{sep}VALUE'"))
                continue
            key, found, value = str(item.value).partition(sep)
            if what == "extra_hosts" and not found:  # compose also takes host=ip
                key, found, value = str(item.value).partition("=")
            result[key] = Node(value if found else none_value, item.at, item.at)
        node.value = result
    elif node.is_map:
        for child in node.value.values():
            if child.value is None:
                child.value = none_value
            elif isinstance(child.value, dict | list):
                problems.append(Diagnostic(child.at, f"{what}: a value must be text or a number"))
            else:
                child.value = _text(child.value)
    elif node.value is None:
        node.value = {}
    else:
        problems.append(Diagnostic(node.at, f"{what} must be a mapping or a list"))


def _as_list(node: Node) -> None:
    if node.value is None:
        node.value = []
    elif not node.is_list:
        node.value = [Node(node.value, node.at, node.at)]


_PORT_RANGE = re.compile(r"\d+(?:-\d+)?")


def _range(text: str) -> list[int]:
    start, _, end = text.partition("-")
    first = int(start)
    last = int(end) if end else first
    if last < first:
        raise ValueError(f"port range {text!r} ends before it starts")
    return list(range(first, last + 1))


def parse_port(text: str) -> list[dict[str, Any]]:
    """``[[ip:]published:]target[/protocol]`` (ranges ``8000-8009``) -> long-form ports."""
    usage = f"{text!r} is not a port ([[HOST_IP:]PUBLISHED:]TARGET[/PROTOCOL])"
    body, _, protocol = text.strip().partition("/")
    ip: str | None = None
    if body.startswith("["):  # [v6]:published:target
        close = body.find("]:")
        if close < 0:
            raise ValueError(usage)
        ip, body = body[1:close], body[close + 2 :]
    parts = body.split(":")
    if len(parts) == 3 and ip is None:
        ip, published_text, target_text = parts
    elif len(parts) == 2:
        published_text, target_text = parts
    elif len(parts) == 1:
        published_text, target_text = "", parts[0]
    else:
        raise ValueError(usage)
    if not _PORT_RANGE.fullmatch(target_text) or (
        published_text and not _PORT_RANGE.fullmatch(published_text)
    ):
        raise ValueError(usage)
    targets = _range(target_text)
    published = _range(published_text) if published_text else None
    if published is not None and len(published) != len(targets):
        raise ValueError(f"{text!r}: the published and target ranges differ in length")
    ports = []
    for index, target in enumerate(targets):
        port: dict[str, Any] = {"target": target, "protocol": protocol or "tcp"}
        if published is not None:
            port["published"] = published[index]
        if ip:
            port["host_ip"] = ip
        port["mode"] = "ingress"
        ports.append(port)
    return ports


_PROPAGATION = ("shared", "slave", "private", "rshared", "rslave", "rprivate")


def parse_volume(text: str) -> dict[str, Any]:
    """``[SOURCE:]TARGET[:MODE]`` -> a long-form volume (type bind, volume or anonymous)."""
    parts = text.split(":")
    if len(parts) > 3 or not all(parts[: len(parts) - (len(parts) == 3)]):
        raise ValueError(f"{text!r} is not a volume ([SOURCE:]TARGET[:MODE])")
    mode = parts[2] if len(parts) == 3 else ""
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0]}
    source, target = parts[0], parts[1]
    if len(parts) == 2 and not target.startswith("/") and source.startswith("/"):
        raise ValueError(f"{text!r}: the target {target!r} must be an absolute path")
    bind = source.startswith(("/", ".", "~"))
    volume: dict[str, Any] = {"type": "bind" if bind else "volume", "source": source}
    volume["target"] = target
    for option in filter(None, mode.split(",")):
        if option in ("ro", "rw"):
            volume["read_only"] = option == "ro"
        elif option == "nocopy" and not bind:
            volume["volume"] = {"nocopy": True}
        elif option in _PROPAGATION and bind:
            volume.setdefault("bind", {})["propagation"] = option
        elif option in ("z", "Z") and bind:
            volume.setdefault("bind", {})["selinux"] = option
        else:
            raise ValueError(f"{text!r}: unknown volume mode {option!r}")
    return volume


def _from_plain(value: Any, at: SourceRef) -> Node:
    if isinstance(value, dict):
        return Node({k: _from_plain(v, at) for k, v in value.items()}, at, at)
    return Node(value, at, at)


def _long_list(
    node: Node, parse: Callable[[str], Any], problems: Problems, many: bool, what: str
) -> None:
    _as_list(node)
    items: list[Node] = []
    for item in node.value:
        if isinstance(item.value, str | int) and not isinstance(item.value, bool):
            try:
                parsed = parse(str(item.value))
            except ValueError as exc:
                problems.append(Diagnostic(item.at, f"{what}: {exc}"))
                continue
            for one in parsed if many else [parsed]:
                items.append(_from_plain(one, item.at))
        elif item.is_map:
            items.append(item)
        else:
            problems.append(Diagnostic(item.at, f"{what}: an entry is text or a mapping"))
    node.value = items


def normalize_service(service: Node, problems: Problems) -> None:
    if not service.is_map:
        problems.append(Diagnostic(service.at, "a service must be a mapping (image: ...)"))
        service.value = {}
        return
    get = service.get
    for key in ("environment",):
        if (n := get(key)) is not None:
            _kv_list(n, "=", None, problems, key)
    for key in ("labels", "sysctls"):
        if (n := get(key)) is not None:
            _kv_list(n, "=", "", problems, key)
    if (n := get("extra_hosts")) is not None:
        _kv_list(n, ":", "", problems, "extra_hosts")
    deploy = get("deploy")
    if deploy is not None and deploy.is_map and (n := deploy.get("labels")) is not None:
        _kv_list(n, "=", "", problems, "deploy.labels")
    if (n := get("networks")) is not None and n.is_list:
        n.value = {str(item.value): Node(None, item.at, item.at) for item in n.value}
    if (n := get("ports")) is not None:
        _long_list(n, parse_port, problems, True, "ports")
    if (n := get("volumes")) is not None:
        _long_list(n, parse_volume, problems, False, "volumes")
    for key in ("secrets", "configs"):
        if (n := get(key)) is not None:
            _long_list(n, lambda s: {"source": s}, problems, False, key)
    for key in ("env_file", "dns", "dns_search", "dns_opt", "tmpfs", "cap_add", "cap_drop"):
        if (n := get(key)) is not None:
            _as_list(n)
    if (n := get("extends")) is not None and isinstance(n.value, str):
        n.value = {"service": Node(n.value, n.at, n.at)}


def normalize(root: Node, problems: Problems) -> None:
    """Every service of one file in long form, in place."""
    for section in ("networks", "volumes", "secrets", "configs"):
        declared = root.get(section)
        for name, decl in (declared.value or {}).items() if declared and declared.is_map else ():
            if decl.is_map and (labels := decl.get("labels")) is not None:
                _kv_list(labels, "=", "", problems, f"{section}.{name}.labels")
    services = root.get("services")
    if services is None:
        return
    if services.value is None:
        services.value = {}
    if not services.is_map:
        problems.append(Diagnostic(services.at, "services must be a mapping of service names"))
        services.value = {}
        return
    for service in services.value.values():
        normalize_service(service, problems)


# --------------------------------------------------------------------------- merging


def _port_key(node: Node) -> Any:
    p = node.plain() if node.is_map else node.value
    if not isinstance(p, dict):
        return repr(p)
    return (str(p.get("published")), str(p.get("target")), p.get("protocol") or "tcp")


def _target_key(node: Node) -> Any:
    p = node.plain()
    return p.get("target") if isinstance(p, dict) else repr(p)


def _ref_key(node: Node) -> Any:
    p = node.plain()
    return (p.get("target") or p.get("source")) if isinstance(p, dict) else repr(p)


_KEYED: dict[str, Callable[[Node], Any]] = {
    "ports": _port_key,
    "volumes": _target_key,
    "secrets": _ref_key,
    "configs": _ref_key,
}
_REPLACED = {("command",), ("entrypoint",), ("healthcheck", "test")}


def _merge_keyed(base: Node, over: Node, key: Callable[[Node], Any]) -> Node:
    merged: dict[Any, Node] = {key(item): item for item in base.value}
    for item in over.value:
        merged[key(item)] = item
    return Node(list(merged.values()), over.at, over.key_at or base.key_at)


def merge_service(base: Node, over: Node, path: tuple[str, ...] = ()) -> Node:
    """``over`` merged onto ``base`` (both one service, or a value inside it)."""
    if path in _REPLACED:
        return over
    if base.is_map and over.is_map:
        if path == ("logging",):
            driver = (base.get("driver"), over.get("driver"))
            if driver[0] and driver[1] and driver[0].value != driver[1].value:
                return over
        merged = dict(base.value)
        for key, value in over.value.items():
            if key in merged:
                merged[key] = merge_service(merged[key], value, (*path, key))
            else:
                merged[key] = value
        if not path:  # a whole service: it is where the first file defines it
            return Node(merged, base.at, base.key_at or over.key_at)
        return Node(merged, over.at, over.key_at or base.key_at)
    if base.is_list and over.is_list:
        if len(path) == 1 and path[0] in _KEYED:
            return _merge_keyed(base, over, _KEYED[path[0]])
        seen = [item.plain() for item in base.value]
        items = list(base.value)
        for item in over.value:
            if item.plain() not in seen:
                items.append(item)
                seen.append(item.plain())
        return Node(items, over.at, over.key_at or base.key_at)
    return over


def merge(base: Node, over: Node) -> Node:
    """Two whole compose files merged: services by name with `merge_service`, the other
    top-level sections entry by entry (an entry of the later file replaces the earlier)."""
    result = dict(base.value)
    for key, value in over.value.items():
        old = result.get(key)
        if old is None or not (old.is_map and value.is_map):
            result[key] = value
            continue
        section = dict(old.value)
        for name, entry in value.value.items():
            if key == "services" and name in section:
                section[name] = merge_service(section[name], entry)
            else:
                section[name] = entry
        result[key] = Node(section, value.at, value.key_at)
    return Node(result, over.at)


# --------------------------------------------------------------------------- extends

Loader = Callable[[Path, SourceRef], "Node | None"]


def resolve_extends(root: Node, path: Path, load: Loader, problems: Problems) -> None:
    """Replace every service's ``extends`` by the service it names, merged under it.

    ``load(file, where)`` reads another compose file (interpolated and normalized).
    What cannot be resolved (no such service or file, a cycle) is a warning at the
    ``extends`` key, and the service is converted without it.
    """
    services = root.get("services")
    if services is None or not services.is_map:
        return
    for name in list(services.value):
        services.value[name] = _extended(services.value[name], name, root, path, load, problems, ())


def _extended(
    service: Node,
    name: str,
    root: Node,
    path: Path,
    load: Loader,
    problems: Problems,
    chain: tuple[tuple[Path, str], ...],
) -> Node:
    ext = service.get("extends")
    if ext is None or not service.is_map:
        return service
    own = Node(
        {k: v for k, v in service.value.items() if k != "extends"}, service.at, service.key_at
    )

    def unresolved(why: str) -> Node:
        problems.append(
            Diagnostic(
                ext.key_place,
                f"extends is not resolved ({why}): the service is converted without it",
                warning=True,
            )
        )
        return own

    if not ext.is_map or not isinstance((ext.get("service") or Node(None, ext.at)).value, str):
        return unresolved("write extends: {service: NAME} or {file: FILE, service: NAME}")
    target_name: str = ext.value["service"].value
    file_node = ext.get("file")
    target_root, target_path = root, path
    if file_node is not None:
        target_path = (path.parent / str(file_node.value)).resolve()
        loaded = load(target_path, file_node.at)
        if loaded is None:
            return unresolved(f"cannot read {file_node.value!r}")
        target_root = loaded
    link = (target_path, target_name)
    if link in chain or (target_path == path and target_name == name and file_node is None):
        return unresolved("it extends itself")
    targets = target_root.get("services")
    target = targets.get(target_name) if targets is not None else None
    if target is None:
        return unresolved(f"no service {target_name!r} in {target_path.name}")
    base = _extended(
        target, target_name, target_root, target_path, load, problems, (*chain, (path, name))
    )
    return merge_service(base, own)
