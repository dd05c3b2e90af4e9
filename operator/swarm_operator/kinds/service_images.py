"""A service's image: the digest a followed tag names now, and the platforms it runs on.

Owns what `kinds.service` asks the registry (through the Swarm client) when it plans or
writes a service with ``imageUpdate``: whether the tag moved since the live service was
pinned (`image_moved`, from digests resolved before planning), and, from one registry
question per image and plan run (`resolve`), the digest to pin the write to and the
image's platforms for ``Placement.Platforms``, as ``docker service create`` resolves
them. Neighbours: `kinds.service` (the kind) calls these; `engine.images` resolves the
digests the plan compares against; `kinds.normalize.image_pins` says whether a live
image pins a tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from swarm_operator.kinds import normalize
from swarm_operator.kinds.base import ApplyContext, LiveObject
from swarm_operator.kinds.diff import Difference
from swarm_operator.manifests.models import Service
from swarm_operator.swarm.errors import ApiError

if TYPE_CHECKING:
    from swarm_operator.swarm.client import Distribution


def image_of(live: LiveObject) -> str:
    task = live.spec.get("TaskTemplate") or {}
    return str((task.get("ContainerSpec") or {}).get("Image", ""))


def image_moved(m: Service, live: LiveObject, digests: Mapping[str, str]) -> tuple[Difference, ...]:
    """``spec.image: IMG@OLD -> IMG@NEW`` when ``m`` follows its tag (``imageUpdate``
    policy digest), the live service runs that tag, and the registry's digest for it
    (``digests``, resolved before planning) is another than the one pinned; else ()."""
    follow = m.spec.image_update
    digest = digests.get(m.spec.image)
    live_image = image_of(live)
    if follow is None or follow.policy != "digest" or not digest:
        return ()
    if not normalize.image_pins(live_image, m.spec.image):
        return ()  # another tag: the comparison of spec.image already says so
    if live_image.partition("@")[2] == digest:
        return ()
    return (Difference("spec.image", live_image, f"{m.spec.image}@{digest}"),)


@dataclass(frozen=True)
class Resolved:
    """What one write of a service sends for its image, from one registry question."""

    image: str | None = None
    """The tag pinned to its digest now (``IMG@sha256:...``), for a service with
    ``imageUpdate``; None for the others (their nodes resolve the tag), or when the
    registry could not say."""
    platforms: list[Any] | None = None
    """The image's platforms for ``Placement.Platforms`` when the manifest sets none;
    None when it sets them, or when the registry could not say."""


def resolve(m: Service, ctx: ApplyContext, digest: bool = True) -> Resolved:
    """The digest to pin a write of ``m`` to (with ``digest``, for a service with
    ``imageUpdate``) and its image's platforms, as ``docker service create`` and ``docker
    stack deploy`` resolve them, from one ``GET /distribution`` (one answer names both:
    the platforms are those of the digest pinned), asked once per plan run for each
    image (`ApplyContext.once`: 100 services of one tag are one question, and all are
    pinned to the same digest). A registry that cannot answer leaves
    both to the nodes, as before (a progress line says why)."""
    pin = digest and m.spec.image_update is not None
    platforms = m.spec.placement is None or not m.spec.placement.platforms
    if not pin and not platforms:
        return Resolved()
    try:
        answer: Distribution = ctx.once(
            f"distribution {m.spec.image}", lambda: ctx.client.image_distribution(m.spec.image)
        )
    except ApiError as exc:
        if pin:
            ctx.progress(f"{m.name}: {m.spec.image} not resolved to a digest ({exc.explanation})")
        if platforms:
            ctx.progress(f"{m.name}: the platforms of {m.spec.image} are not known ({exc})")
        return Resolved()
    return Resolved(
        image=f"{m.spec.image}@{answer.digest}" if pin and answer.digest else None,
        platforms=(answer.platforms or None) if platforms else None,
    )
