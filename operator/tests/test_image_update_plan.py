"""Image updates, pure: the ``imageUpdate`` field, and how a digest the registry names now
(`PlanOptions.image_digests`, resolved before planning by `engine.images`) meets the digest
a live service is pinned to. Policy digest plans an update onto the new digest; notify,
an unchanged digest, an unknown one, or another tag plan nothing more; a moved tag of
policy notify is a note of the plan (`engine.images.moved_notes`), never an action."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import captured_state, fixture, svc
from fake_swarm import DIGEST, CountingSwarm
from pydantic import ValidationError

from swarm_operator.cli import main
from swarm_operator.cli import plan as cli_plan
from swarm_operator.engine.images import followed, moved_notes
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


def _notes(desired: Any, live_image: str, digests: dict[str, str]) -> list[str]:
    return moved_notes([desired], _state(live_image), digests)


def test_a_moved_notify_tag_is_a_note_naming_the_new_digest() -> None:
    assert _notes(_minimal("notify"), f"{IMAGE}@{OLD}", {IMAGE: NEW}) == [
        f"Service minimal: image {IMAGE} moved to sha256:bbbbbbbbbbbb... "
        "(imageUpdate notify: not applied)"
    ]


@pytest.mark.parametrize(
    ("policy", "image", "live", "digests"),
    [
        ("notify", IMAGE, f"{IMAGE}@{NEW}", {IMAGE: NEW}),  # runs the tag's digest
        ("notify", IMAGE, f"{IMAGE}@{OLD}", {}),  # the registry could not say
        ("notify", IMAGE, IMAGE, {IMAGE: NEW}),  # never pinned: nothing to compare
        ("notify", IMAGE, f"fix/other:1@{OLD}", {IMAGE: NEW}),  # runs another tag
        ("digest", IMAGE, f"{IMAGE}@{OLD}", {IMAGE: NEW}),  # planned as an update instead
        (None, IMAGE, f"{IMAGE}@{OLD}", {IMAGE: NEW}),  # not followed
    ],
)
def test_no_note_otherwise(
    policy: str | None, image: str, live: str, digests: dict[str, str]
) -> None:
    assert _notes(_minimal(policy, image=image), live, digests) == []


def test_no_note_for_a_service_not_yet_created() -> None:
    assert moved_notes([_minimal("notify")], captured_state(services=[]), {IMAGE: NEW}) == []


class _MovedRegistry(CountingSwarm):
    """The stand-in Swarm whose registry names NEW for every tag (a moved tag)."""

    def image_digest(self, image: str) -> str:
        return NEW

    def close(self) -> None:
        pass


@pytest.mark.parametrize("output", ["text", "json"])
def test_plan_shows_the_note_and_keeps_actions_and_exit_code(
    output: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    desired = _minimal("notify")
    swarm = _MovedRegistry()
    swarm.adopt([desired])  # created pinned to the stand-in registry's digest then
    assert swarm.service("minimal")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == (
        f"{IMAGE}@{DIGEST}"
    )
    (tmp_path / "web.yaml").write_text(
        "apiVersion: swarm-operator/v1alpha1\nkind: Service\nmetadata: {name: minimal}\n"
        f"spec: {{image: {IMAGE}, command: [sleep, '3600'], "
        "imageUpdate: {policy: notify, interval: 1m}}\n"
    )
    monkeypatch.setattr(cli_plan, "connect", lambda *_a, **_k: swarm)
    code = main(["plan", str(tmp_path), "-o", output])
    out = capsys.readouterr().out
    note = f"Service minimal: image {IMAGE} moved to sha256:bbbbbbbbbbbb... (imageUpdate"
    assert code == 0, out  # nothing to change: the note is no action
    if output == "json":
        data = json.loads(out)
        assert [n for n in data["notes"] if n.startswith(note)] == [note + " notify: not applied)"]
        assert data["summary"]["pending"] == 0
    else:
        assert f"note: {note} notify: not applied)" in out.splitlines(), out
        assert "No changes" in out, out
