"""A Secret's fingerprint without an engine: salted scrypt labels recognised (and nothing
else), computed once per (content, salt) in a process, version names that carry no
digest of the content; on the counting fake a new-format stack re-plans clean and puts no
hash of the content in any output, and a version made before fingerprints (the short
sha256 in its name and label) is kept as current, with no rotation, until the content
changes; then the rotation shows its name without the hash."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import pytest
from fake_swarm import CountingSwarm

from swarm_operator.cli.output import as_json, plan_text, report_text
from swarm_operator.engine.converge import apply_plan
from swarm_operator.engine.live import read_live
from swarm_operator.engine.plan import Plan, PlanOptions, plan
from swarm_operator.kinds import fingerprint
from swarm_operator.manifests.models import Manifest, Secret, Service
from swarm_operator.swarm import labels

SALT = bytes(range(16))


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The salts scrypt is run with (the memo emptied first)."""
    monkeypatch.setattr(fingerprint, "_fingerprints", type(fingerprint._fingerprints)())
    calls: list[bytes] = []
    real = hashlib.scrypt

    def counting(password: bytes, **kwargs: Any) -> bytes:
        calls.append(kwargs["salt"])
        return real(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


# --------------------------------------------------------------------------- pure parts


def test_the_fingerprint_is_salted_and_computed_once_per_content_and_salt(
    scrypt_calls: list[bytes],
) -> None:
    one = fingerprint.fingerprint(b"hunter2", SALT)
    assert one == fingerprint.fingerprint(b"hunter2", SALT)
    assert scrypt_calls == [SALT]  # the second one came from the memo
    assert one != fingerprint.fingerprint(b"hunter2", SALT[::-1])  # another salt
    assert one != fingerprint.fingerprint(b"hunter3", SALT)  # another content
    assert one == hashlib.scrypt(b"hunter2", salt=SALT, n=2**14, r=8, p=1, dklen=32).hex()
    assert hashlib.sha256(b"hunter2").hexdigest()[:10] not in one


def test_labels_made_for_a_content_match_it_and_nothing_else(scrypt_calls: list[bytes]) -> None:
    made = fingerprint.version_labels(b"pw-one", SALT)
    assert set(made) == {labels.CONTENT_SALT, labels.CONTENT_FINGERPRINT}
    assert made[labels.CONTENT_SALT] == SALT.hex()
    assert re.fullmatch(r"scrypt:n=16384,r=8,p=1:[0-9a-f]{64}", made[labels.CONTENT_FINGERPRINT])
    assert fingerprint.matches(b"pw-one", made)
    assert not fingerprint.matches(b"pw-two", made)
    assert not fingerprint.matches(b"pw-one", {**made, labels.CONTENT_SALT: SALT[::-1].hex()})
    digest = made[labels.CONTENT_FINGERPRINT].rsplit(":", 1)[1]
    for bad in ("scrypt:n=16384,r=8,p=1:" + "0" * 64, "sha256:" + digest, "", digest):
        assert not fingerprint.matches(b"pw-one", {**made, labels.CONTENT_FINGERPRINT: bad})
    assert not fingerprint.matches(b"pw-one", {**made, labels.CONTENT_SALT: "xyz"})
    assert not fingerprint.matches(
        b"pw-one", {labels.CONTENT_FINGERPRINT: made[labels.CONTENT_FINGERPRINT]}
    )
    before = len(scrypt_calls)
    for costly in ("n=1048576,r=8,p=1", "n=16384,r=64,p=1", "n=16384,r=8,p=9", "n=1000,r=8,p=1"):
        forged = {**made, labels.CONTENT_FINGERPRINT: f"scrypt:{costly}:{digest}"}
        assert not fingerprint.matches(b"pw-one", forged)
    assert len(scrypt_calls) == before  # refused without running scrypt
    # other costs within bounds are read from the label (a later default still matches)
    cheaper = fingerprint.fingerprint(b"pw-one", SALT, n=2**10, r=4, p=1)
    label = {**made, labels.CONTENT_FINGERPRINT: f"scrypt:n=1024,r=4,p=1:{cheaper}"}
    assert fingerprint.matches(b"pw-one", label)


def test_an_old_format_label_matches_by_its_sha256() -> None:
    sha = hashlib.sha256(b"pw-old").hexdigest()
    assert fingerprint.matches(b"pw-old", {labels.CONTENT_HASH: sha[:10]})
    assert fingerprint.matches(b"pw-old", {labels.CONTENT_HASH: sha})  # a full one too
    assert not fingerprint.matches(b"pw-new", {labels.CONTENT_HASH: sha[:10]})
    assert not fingerprint.matches(b"pw-old", {labels.CONTENT_HASH: sha[:4]})  # too short
    assert not fingerprint.matches(b"pw-old", {})
    assert fingerprint.is_old_format({labels.CONTENT_HASH: sha[:10]})
    assert not fingerprint.is_old_format(fingerprint.version_labels(b"pw-old", SALT))


def test_a_new_version_is_random_once_per_content() -> None:
    first = fingerprint.new_version("db", b"pw-one")
    assert fingerprint.new_version("db", b"pw-one") == first  # plan, service plans, apply
    assert re.fullmatch(r"[0-9a-f]{10}", first.suffix) and len(first.salt) == 16
    others = {fingerprint.new_version("db", b"pw-two"), fingerprint.new_version("db2", b"pw-one")}
    assert first not in others and len({v.suffix for v in others}) == 2
    assert first.suffix != hashlib.sha256(b"pw-one").hexdigest()[:10]


def test_an_old_format_name_is_shown_without_its_hash() -> None:
    sha = hashlib.sha256(b"pw-old").hexdigest()[:10]
    shown = fingerprint.shown(f"db-{sha}", {labels.CONTENT_HASH: sha})
    assert sha not in shown and shown.startswith("db-") and "old format" in shown
    new = fingerprint.version_labels(b"pw", SALT)
    assert fingerprint.shown("db-0123456789", new) == "db-0123456789"


def test_the_cost_of_one_fingerprint_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    content = b"x" * 64
    times = []
    for i in range(3):
        start = time.perf_counter()
        fingerprint.fingerprint(content, bytes([i]) * 16)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    fingerprint.fingerprint(content, bytes([0]) * 16)
    memo = time.perf_counter() - start
    with capsys.disabled():
        ms = [round(t * 1000, 1) for t in times]
        print(f"\nscrypt fingerprint: {ms} ms; from the memo {memo * 1e6:.0f} us")


# --------------------------------------------------------------------------- on the fake


def _secret(content: bytes, **spec: Any) -> Secret:
    m = Secret.model_validate({"metadata": {"name": "db"}, "spec": {"env": "DB", **spec}})
    m.with_content(content)
    return m


def _stack(content: bytes, **spec: Any) -> list[Manifest]:
    web = {"metadata": {"name": "web"}, "spec": {"image": "img", "secrets": ["db"]}}
    return [_secret(content, **spec), Service.model_validate(web)]


def _run(swarm: CountingSwarm, stack: list[Manifest], shown: list[str]) -> Plan:
    the_plan = plan(stack, read_live(swarm), PlanOptions())  # type: ignore[arg-type]
    report = apply_plan(swarm, stack, PlanOptions(), the_plan)  # type: ignore[arg-type]
    assert report.ok, report_text(report)
    shown += [plan_text(the_plan, colour=False), as_json(the_plan.to_dict())]
    shown += [report_text(report), as_json(report.to_dict())]
    return the_plan


def _mounted(swarm: CountingSwarm) -> str:
    (ref,) = swarm.service("web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
    return str(ref["SecretName"])


def test_a_new_version_carries_a_fingerprint_and_no_hash_of_the_content(
    scrypt_calls: list[bytes],
) -> None:
    swarm, shown = CountingSwarm(), list[str]()
    content = b"pw-" + bytes(range(48, 58))
    _run(swarm, _stack(content), shown)
    (secret,) = swarm.secrets()
    name, made = secret["Spec"]["Name"], secret["Spec"]["Labels"]
    assert re.fullmatch(r"db-[0-9a-f]{10}", name) and _mounted(swarm) == name
    assert labels.CONTENT_HASH not in made and fingerprint.matches(content, made)
    salt = bytes.fromhex(made[labels.CONTENT_SALT])
    calls = len(scrypt_calls)
    for _ in range(3):  # re-plans clean, and the fingerprint is not computed again
        again = plan(_stack(content), read_live(swarm), PlanOptions())  # type: ignore[arg-type]
        assert not again.pending, plan_text(again, colour=False)
    assert len(scrypt_calls) == calls and scrypt_calls.count(salt) == 1
    sha = hashlib.sha256(content).hexdigest()
    assert any(name in text for text in shown)  # the outputs searched are the real ones
    for text in shown:
        assert sha[:10] not in text and made[labels.CONTENT_FINGERPRINT][-64:] not in text
        assert content.decode() not in text


def _old_format(swarm: CountingSwarm, content: bytes) -> str:
    """A version as operators before fingerprints made it (by hand: the old labels)."""
    sha = hashlib.sha256(content).hexdigest()[:10]
    swarm.create_secret(
        f"db-{sha}",
        content,
        {
            labels.MANAGED_BY: labels.MANAGER,
            labels.SPEC_HASH: "0123456789abcdef",
            labels.OBJECT: "db",
            labels.CONTENT_HASH: sha,
        },
    )
    return f"db-{sha}"


def test_an_old_format_version_is_kept_until_the_content_changes() -> None:
    swarm, shown = CountingSwarm(), list[str]()
    old = _old_format(swarm, b"pw-old")
    first = _run(swarm, _stack(b"pw-old"), shown)
    assert [(a.verb, a.kind) for a in first.pending] == [("create", "Service")]
    assert swarm.calls["create_secret"] == 1 and _mounted(swarm) == old  # no new version
    assert not plan(_stack(b"pw-old"), read_live(swarm), PlanOptions()).pending  # type: ignore[arg-type]

    # a label change relabels it in place and keeps its format
    relabel = _run(swarm, _stack(b"pw-old", labels={"team": "shop"}), shown)
    assert [(a.verb, a.kind) for a in relabel.pending] == [("update", "Secret")]
    (secret,) = swarm.secrets()
    assert secret["Spec"]["Labels"][labels.CONTENT_HASH] == old[3:]
    assert labels.CONTENT_SALT not in secret["Spec"]["Labels"] and _mounted(swarm) == old

    # the content changes: a rotation onto a new-format version; the old one is kept
    rotate = _run(swarm, _stack(b"pw-new", labels={"team": "shop"}), shown)
    assert {(a.verb, a.kind) for a in rotate.pending} == {
        ("rotate", "Secret"),
        ("update", "Service"),
    }
    new = _mounted(swarm)
    assert new != old and sorted(s["Spec"]["Name"] for s in swarm.secrets()) == sorted([old, new])
    text = plan_text(rotate, colour=False)
    assert fingerprint.HIDDEN in text and new in text
    for output in shown:
        assert old[3:] not in output  # the old name's sha256 is never shown
    live = read_live(swarm)  # type: ignore[arg-type]
    assert not plan(_stack(b"pw-new", labels={"team": "shop"}), live, PlanOptions()).pending


def test_a_service_waiting_for_its_new_version_sees_it_once_made() -> None:
    """The daemon reconciles the Secret and its services as separate keys: a service may
    be written while the new version is still being made; it must then list the versions
    again (it once kept the first listing, and waited for a minute in vain)."""
    swarm = CountingSwarm()
    _run(swarm, _stack(b"pw-one"), [])
    stack = _stack(b"pw-two")
    the_plan = plan(stack, read_live(swarm), PlanOptions())  # type: ignore[arg-type]
    (secret,) = [a for a in the_plan.pending if a.kind == "Secret"]
    (service,) = [a for a in the_plan.pending if a.kind == "Service"]
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the Secret's own reconcile, meanwhile
        waits.append(seconds)
        if len(waits) == 1:
            apply_plan(swarm, stack, PlanOptions(), Plan((secret,)))  # type: ignore[arg-type]

    only_service = Plan((service,))
    report = apply_plan(swarm, stack, PlanOptions(), only_service, sleep=sleep)  # type: ignore[arg-type]
    assert report.ok, report_text(report)
    assert len(waits) == 1 and _mounted(swarm) == service.references[("Secret", "db")]
