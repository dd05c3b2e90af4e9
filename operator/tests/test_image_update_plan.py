"""Image updates, pure: the ``imageUpdate`` field, and how a digest the registry names now
(`PlanOptions.image_digests`, resolved before planning by `engine.images`) meets the digest
a live service is pinned to. Policy digest plans an update onto the new digest; notify,
an unchanged digest, an unknown one, or another tag plan nothing more."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import captured_state, fixture, svc
from pydantic import ValidationError

from swarm_operator.engine.images import followed
from swarm_operator.engine.plan import PlanOptions, plan

IMAGE = "fix/busybox:1"
OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64


def _state(live_image: str) -> Any:
    services = fixture("services")
    minimal = next(s for s in services if s["Spec"]["Name"] == "minimal")
    minimal["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] = live_image
    return captured_state(services=services)


def _minimal(policy: str | None, image: str = IMAGE) -> Any:
    extra = {"imageUpdate": {"policy": policy, "interval": "1m"}} if policy else {}
    return svc("minimal", image=image, command=["sleep", "3600"], **extra)


def _action(desired: Any, live_image: str, digests: dict[str, str]) -> Any:
    p = plan([desired], _state(live_image), PlanOptions(image_digests=digests))
    (action,) = [a for a in p.actions if a.key == ("Service", "minimal")]
    return action


def test_a_moved_tag_plans_an_update_onto_the_new_digest() -> None:
    action = _action(_minimal("digest"), f"{IMAGE}@{OLD}", {IMAGE: NEW})
    assert action.verb == "update"
    assert [str(d) for d in action.differences] == [
        f'spec.image: "{IMAGE}@{OLD}" -> "{IMAGE}@{NEW}"'
    ]


def test_a_tag_never_pinned_is_pinned_once() -> None:
    action = _action(_minimal("digest"), IMAGE, {IMAGE: NEW})
    assert action.verb == "update" and [d.after for d in action.differences] == [f"{IMAGE}@{NEW}"]


@pytest.mark.parametrize(
    ("policy", "live", "digests"),
    [
        ("digest", f"{IMAGE}@{NEW}", {IMAGE: NEW}),  # the pinned digest is the tag's
        ("digest", f"{IMAGE}@{OLD}", {}),  # the registry could not say: nothing rolls
        ("notify", f"{IMAGE}@{OLD}", {IMAGE: NEW}),  # notify only reports (the daemon)
        (None, f"{IMAGE}@{OLD}", {IMAGE: NEW}),  # not followed
    ],
)
def test_nothing_more_is_planned(policy: str | None, live: str, digests: dict[str, str]) -> None:
    assert _action(_minimal(policy), live, digests).verb == "noop"


def test_a_changed_tag_is_one_difference_not_two() -> None:
    action = _action(_minimal("digest", image="fix/busybox:2"), f"{IMAGE}@{OLD}", {IMAGE: NEW})
    assert [d.path for d in action.differences] == ["spec.image"]
    assert action.differences[0].after == "fix/busybox:2"


def test_image_update_is_not_compared_with_the_swarm() -> None:
    # Setting it on a service that runs its pinned tag is no drift by itself.
    assert _action(_minimal("notify"), f"{IMAGE}@{OLD}", {}).verb == "noop"


def test_followed_lists_each_image_with_its_services() -> None:
    found = followed([_minimal("digest"), svc("other", image="x/y:1"), _minimal("notify")])
    assert list(found) == [IMAGE]
    assert [(m.name, f.policy, f.interval) for m, f in found[IMAGE]] == [
        ("minimal", "digest", 60.0),
        ("minimal", "notify", 60.0),
    ]


@pytest.mark.parametrize(
    ("image_update", "image", "message"),
    [
        ({"policy": "digest", "interval": "5s"}, IMAGE, "at least 10s"),
        ({"policy": "digest"}, f"{IMAGE}@{OLD}", "pinned by digest"),
        ({"policy": "always"}, IMAGE, "digest"),
    ],
)
def test_bad_image_update_is_refused(
    image_update: dict[str, str], image: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        svc("x", image=image, imageUpdate=image_update)


def test_the_default_interval_is_five_minutes() -> None:
    m = svc("x", imageUpdate={"policy": "notify"})
    assert m.spec.image_update is not None and m.spec.image_update.interval == 300 * 10**9
