"""Image updates: which images the services follow (``imageUpdate``) and the digest each
of those tags names in its registry now.

Owns the one piece of I/O a plan of followed images needs, done before planning:
`follow_images` asks the registry about each followed image once (through the manager,
`SwarmClient.image_digest`, with the same registry credentials as service writes) and
puts the answers in the `PlanOptions`, so that the pure planner compares them with the
digest each live service is pinned to (`kinds.service_images.image_moved`: policy ``digest``
plans an update onto the new digest). `plan` and `apply` call it once per run; the daemon
asks per service, when its interval is due (`daemon.images`). `moved_notes` words, for the
plan, the followers of policy ``notify`` whose tag moved (the planner plans nothing for
them: the daemon only reports them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from swarm_operator.engine.live import LiveState
from swarm_operator.engine.plan import PlanOptions
from swarm_operator.kinds import normalize, registry
from swarm_operator.kinds.base import FollowedImage
from swarm_operator.kinds.service_images import image_of
from swarm_operator.manifests.models import Manifest
from swarm_operator.swarm.errors import ApiError

if TYPE_CHECKING:
    from swarm_operator.swarm.client import SwarmClient


def followed(manifests: Iterable[Manifest]) -> dict[str, list[tuple[Manifest, FollowedImage]]]:
    """Image reference -> the objects that follow it (a service's ``spec.imageUpdate``)."""
    found: dict[str, list[tuple[Manifest, FollowedImage]]] = {}
    for m in manifests:
        follow = registry.of_manifest(m).followed_image(m)
        if follow is not None:
            found.setdefault(follow.image, []).append((m, follow))
    return found


def resolve(client: SwarmClient, images: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """The digest of each image's tag now, and a problem line for each that the registry
    could not answer (unknown tag, unreachable, credentials refused): those are left out,
    so nothing is rolled because of them."""
    digests: dict[str, str] = {}
    problems: list[str] = []
    for image in sorted(set(images)):
        try:
            digest = client.image_digest(image)
        except ApiError as exc:
            problems.append(f"imageUpdate: cannot resolve {image} to a digest: {exc.explanation}")
            continue
        if digest:
            digests[image] = digest
    return digests, problems


def follow_images(
    client: SwarmClient, manifests: Iterable[Manifest], options: PlanOptions
) -> tuple[PlanOptions, list[str]]:
    """``options`` with the digests of every followed image, and the problems met."""
    images = followed(manifests)
    if not images:
        return options, []
    digests, problems = resolve(client, images)
    return replace(options, image_digests={**options.image_digests, **digests}), problems


def moved_notes(
    manifests: Iterable[Manifest], live: LiveState, digests: Mapping[str, str]
) -> list[str]:
    """A note for each follower of policy ``notify`` whose live service runs its tag
    pinned to another digest than the one the registry names now (``digests``, from
    `follow_images`): nothing is planned for it, so the plan says so in words. A service
    not yet created, never pinned, running another tag, or whose tag the registry could not
    answer for, gets none."""
    notes: list[str] = []
    for image, users in sorted(followed(manifests).items()):
        digest = digests.get(image)
        if not digest:
            continue
        for m, follow in sorted(users, key=lambda u: (u[0].kind, u[0].name)):
            obj = live.get(m.key)
            if follow.policy != "notify" or obj is None:
                continue
            running = image_of(obj)
            pinned = running.partition("@")[2]
            if not pinned or pinned == digest or not normalize.image_pins(running, image):
                continue
            notes.append(
                f"{m.kind} {m.name}: image {image} moved to {_short(digest)} "
                f"(imageUpdate notify: not applied)"
            )
    return notes


def _short(digest: str) -> str:
    algorithm, _, hexits = digest.partition(":")
    return f"{algorithm}:{hexits[:12]}..." if len(hexits) > 12 else digest
