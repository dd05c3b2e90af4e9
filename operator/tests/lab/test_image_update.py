"""Image updates on the lab: two services follow one tag of the lab registry
(``imageUpdate``, interval 10s), run by `swarm-operator run`. Both are created pinned to
the tag's digest; a new image is pushed under the same tag; the follower of policy
``digest`` rolls onto the new digest (its task runs it), the one of policy ``notify``
keeps its digest and is only reported: in `/status`, by the metric, and by one
notification each, on a real receiver on loopback, and as a note of `plan` (text and
json), which plans nothing for it.

Not a ``test_engine_*`` file: it runs on the CI pass of the default engine only.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from receiver import Receiver
from test_daemon import Daemon, note, wait_for

from swarm_operator.cli import main
from swarm_operator.lab import Lab
from swarm_operator.swarm.client import SwarmClient

pytestmark = pytest.mark.lab
DockerCli = Callable[..., subprocess.CompletedProcess[str]]

FOLLOWER = """\
apiVersion: swarm-operator/v1alpha1
kind: Service
metadata: {name: NAME}
spec:
  image: IMAGE
  command: [sleep, "3600"]
  imageUpdate: {policy: POLICY, interval: 10s}
"""


def test_a_moved_tag_rolls_the_digest_follower_and_is_only_reported_for_notify(
    lab: Lab,
    swarm_cleanup: None,
    docker_cli: DockerCli,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = SwarmClient(lab.manager.docker_host)
    image = f"{lab.registry}/so-imgupd/app-{secrets.token_hex(3)}:1"
    docker_cli("pull", lab.image, timeout=300)
    docker_cli("tag", lab.image, image)
    docker_cli("push", image, timeout=300)
    old = client.image_digest(image)
    manifests = tmp_path / "m"
    manifests.mkdir()
    for policy in ("digest", "notify"):
        text = FOLLOWER.replace("NAME", f"imgupd-{policy}").replace("POLICY", policy)
        (manifests / f"{policy}.yaml").write_text(text.replace("IMAGE", image))

    def spec_image(name: str) -> str:
        return str(client.inspect_service(name)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"])

    def running(name: str) -> set[str]:
        tasks = client.tasks(filters={"service": name, "desired-state": "running"})
        return {
            str(t["Spec"]["ContainerSpec"]["Image"])
            for t in tasks
            if t["Status"]["State"] == "running"
        }

    receiver = Receiver()
    d = Daemon(lab, manifests, tmp_path / "d.log", "--notify", receiver.url)
    try:
        d.wait_ready(120)
        for name in ("imgupd-digest", "imgupd-notify"):  # pinned on create, as docker does
            wait_for(f"{name} running {old}", lambda n=name: running(n) == {f"{image}@{old}"})

        context = tmp_path / "v2"
        context.mkdir()
        (context / "Dockerfile").write_text(f"FROM {image}\nLABEL so-imgupd=2\n")
        docker_cli("build", "-q", "-t", image, str(context), timeout=300)
        docker_cli("push", image, timeout=300)
        pushed = time.monotonic()
        new = client.image_digest(image)
        assert new != old

        wait_for(
            "the digest follower's spec on the new digest",
            lambda: spec_image("imgupd-digest") == f"{image}@{new}",
            timeout=120,
        )
        written = time.monotonic() - pushed
        wait_for(
            "the digest follower's task running the new digest",
            lambda: running("imgupd-digest") == {f"{image}@{new}"},
            timeout=120,
        )
        note(
            f"imageUpdate digest (interval 10s): spec written {written:.1f}s, task running "
            f"{time.monotonic() - pushed:.1f}s after the push"
        )
        metric = 'swarm_operator_image_update_available{service="imgupd-notify"} 1.0'
        wait_for("the notify follower reported", lambda: metric in d.metrics())
        assert spec_image("imgupd-notify") == f"{image}@{old}"
        assert running("imgupd-notify") == {f"{image}@{old}"}
        status = d.obj("Service", "imgupd-notify") or {}
        assert status["imageUpdate"] == f"{image} now names {new}; the service runs {old}"
        assert (d.obj("Service", "imgupd-digest") or {})["imageUpdate"] is None
        assert re.search(r'image_update_available\{service="imgupd-digest"\}', d.metrics()) is None
        # plan says so too, as a note: no action, exit code 0 (both services are as declared)
        moved = (
            f"Service imgupd-notify: image {image} moved to {new[:19]}... "
            "(imageUpdate notify: not applied)"
        )
        argv = ["plan", str(manifests), "--host", lab.manager.docker_host]
        capsys.readouterr()
        assert main(argv) == 0
        text = capsys.readouterr().out
        assert f"note: {moved}" in text.splitlines(), text
        assert "No changes" in text and "imgupd-digest: image" not in text, text
        assert main([*argv, "-o", "json"]) == 0
        plan_json = json.loads(capsys.readouterr().out)
        assert moved in plan_json["notes"], plan_json["notes"]
        assert plan_json["summary"]["pending"] == 0

        def titled(prefix: str) -> list[str]:
            return [t for t in receiver.titles() if t.startswith(prefix)]

        wait_for("both notifications", lambda: titled("image update") and titled("image updated"))
        time.sleep(12)  # one more interval: the registry is asked again, nothing is re-sent
        assert titled("image update available") == ["image update available: Service/imgupd-notify"]
        assert titled("image updated") == ["image updated: Service/imgupd-digest"]
        assert not titled("drift corrected"), receiver.titles()
        assert spec_image("imgupd-notify") == f"{image}@{old}"
    finally:
        assert d.stop() == 0
        receiver.stop()
