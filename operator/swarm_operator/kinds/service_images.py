"""A service's image: the digest a followed tag names now, and the platforms it runs on.

Owns what `kinds.service` asks the registry (through the Swarm client) when it plans or
writes a service with ``imageUpdate``: whether the tag moved since the live service was
pinned (`image_moved`, from digests resolved before planning), the digest to pin a write
to (`resolved_image`), and the image's platforms for ``Placement.Platforms``
(`resolved_platforms`), as ``docker service create`` resolves them. Neighbours:
`kinds.service` (the kind) calls these; `engine.images` resolves the digests the plan
compares against; `kinds.normalize.image_pins` says whether a live image pins a tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from swarm_operator.kinds import normalize
from swarm_operator.kinds.base import ApplyContext, LiveObject
from swarm_operator.kinds.diff import Difference
from swarm_operator.manifests.models import Service
from swarm_operator.swarm.errors import ApiError, NotFound


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


def resolved_image(m: Service, ctx: ApplyContext) -> str | None:
    """``m``'s image pinned to the digest its tag names now, as ``docker service create``
    pins it, for a service with ``imageUpdate``; None for the others (their nodes resolve
    the tag), and when the registry cannot say (a progress line tells why)."""
    if m.spec.image_update is None:
        return None
    try:
        digest = ctx.client.image_digest(m.spec.image)
    except ApiError as exc:
        ctx.progress(f"{m.name}: {m.spec.image} not resolved to a digest ({exc.explanation})")
        return None
    return f"{m.spec.image}@{digest}" if digest else None


def resolved_platforms(m: Service, ctx: ApplyContext, image: str | None) -> list[Any] | None:
    """The platforms of the image a write sends, when the manifest sets none: what
    ``docker service create`` and ``docker stack deploy`` put in ``Placement.Platforms``
    (the scheduler then places tasks only on nodes the image runs on). None when the
    registry cannot say (a progress line tells why): the nodes decide, as before."""
    if m.spec.placement is not None and m.spec.placement.platforms:
        return None
    wanted = image or m.spec.image
    try:
        return ctx.client.image_platforms(wanted) or None
    except (ApiError, NotFound) as exc:
        ctx.progress(f"{m.name}: the platforms of {wanted} are not known ({exc})")
        return None
