"""The kind registry: every kind the operator knows, once, in the order objects are applied.

Owns the list of kinds and the lookups the rest of the operator uses instead of ever
naming a kind: by name (`of`), by model (`of_manifest`), by engine event type
(`by_event_type`), and the apply order (`rank`: nodes first, then networks, secrets
and configs, then the services using them; deletes in the reverse order). A kind that is
not listed here is an error wherever it turns up (`UnknownKind`), never a fall-through to
another kind.

Adding a kind: its model in `manifests.models`, one module in this package, one line in
``KINDS`` below. Defining the model makes the loader read it; a model with no kind listed
here, or a kind listed twice, stops the import.
"""

from __future__ import annotations

from swarm_operator.kinds import config, network, node, secret, service
from swarm_operator.kinds.base import Kind, UnknownKind
from swarm_operator.manifests.models import Manifest, models_by_kind

KINDS: tuple[Kind, ...] = (
    node.KIND,
    network.KIND,
    secret.KIND,
    config.KIND,
    service.KIND,
)
"""Every kind, in apply order."""

NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)
_BY_NAME = {k.name: k for k in KINDS}
_BY_EVENT = {k.event_type: k for k in KINDS}


def _check() -> None:
    models = models_by_kind()
    if len(_BY_NAME) != len(KINDS):
        raise TypeError(f"a kind is listed twice in the registry: {NAMES}")
    missing = sorted(set(models) - set(_BY_NAME))
    if missing:
        raise TypeError(f"models without a kind module in the registry: {missing}")
    for kind in KINDS:
        if models.get(kind.name) is not kind.model:
            raise TypeError(f"kind {kind.name}: its model is not the one the loader reads")


_check()


def of(name: str) -> Kind:
    """The kind called ``name``; `UnknownKind` if there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownKind(f"unknown kind {name!r} (known: {', '.join(NAMES)})") from None


def of_manifest(manifest: Manifest) -> Kind:
    kind = of(manifest.kind)
    if not isinstance(manifest, kind.model):
        raise UnknownKind(f"{type(manifest).__name__} is not the model of kind {kind.name}")
    return kind


def by_event_type(event_type: str) -> Kind | None:
    """The kind whose engine events have this ``Type`` (None: not an object we keep)."""
    return _BY_EVENT.get(event_type)


def rank(name: str, deleting: bool = False) -> int:
    """Position in apply order; deletes come after every create and update, reversed."""
    index = NAMES.index(of(name).name)
    return len(NAMES) + (len(NAMES) - index) if deleting else index


def prunable() -> tuple[Kind, ...]:
    return tuple(k for k in KINDS if k.prunable)
