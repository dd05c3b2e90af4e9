"""Fingerprints of a Secret's content: how the operator tells that a version holds the
declared content (the engine never gives a secret back) without its labels or name
helping anyone else guess the content. Pure but for the random draws and a memo.

A version made by the operator carries a random salt (`labels.CONTENT_SALT`: 16 bytes,
hex) and the scrypt of the content with that salt (`labels.CONTENT_FINGERPRINT`:
``scrypt:n=16384,r=8,p=1:<64 hex>``); its engine name ends with random hex digits that
say nothing about the content (`new_version`). Testing one guess of the content against
one version then costs one scrypt (~30 ms and 16 MiB) instead of one sha256 for every
secret of every Swarm at once. The operator pays it once per (content, salt) and process:
`fingerprint` is memoised, so a daemon's plans check a version without paying it again.

Versions made before this format (`labels.CONTENT_HASH`: the first hex digits of the
content's sha256, also its name's suffix) are still recognised (`matches`), so an
upgrade rotates nothing; their names are not shown in plans (`shown`), since the suffix
is an unsalted fast hash of the content. Configs are not secret and keep the sha256
names (`models.Config.engine_name`).

Neighbours: `kinds.secret` (the Secret kind's versions), `swarm.labels` (the keys).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from swarm_operator.manifests.blob_blocks import HASH_LENGTH
from swarm_operator.swarm import labels

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
"""scrypt's cost: 16 MiB of memory (128 * N * r bytes) and ~30 ms on one core of a
2-core CI machine under load 2 (measured: 32-43 ms)."""
SALT_BYTES = 16
DIGEST_BYTES = 32
MEMO_SIZE = 1024
"""Fingerprints (and new versions) remembered per process: more than any stack has
secrets times the versions of each that are kept."""
HIDDEN = "(old format: name hidden)"
"""What a plan shows instead of the sha256 suffix of a version made before fingerprints."""

_FORMAT = re.compile(r"scrypt:n=(\d+),r=(\d+),p=(\d+):([0-9a-f]{64})")
_MAX_N, _MAX_R, _MAX_P = 2**16, 16, 4
"""The costs a label may ask for: a hand-written label cannot make a plan take minutes."""
_HEX = re.compile(r"[0-9a-f]+")

_lock = threading.Lock()
_fingerprints: OrderedDict[tuple[bytes, bytes, int, int, int], str] = OrderedDict()
_new: OrderedDict[tuple[str, bytes], NewVersion] = OrderedDict()


@dataclass(frozen=True)
class NewVersion:
    """The version to create for a content no live version holds."""

    suffix: str
    """Random hex digits after ``<name>-`` in the engine name."""
    salt: bytes


def _remember(memo: OrderedDict[Any, Any], key: Any) -> None:
    """``key`` was used: the last to forget, and the memo kept within `MEMO_SIZE`."""
    memo.move_to_end(key)
    while len(memo) > MEMO_SIZE:
        memo.popitem(last=False)


def _sha256(content: bytes, sha256: bytes | None) -> bytes:
    return hashlib.sha256(content).digest() if sha256 is None else sha256


def fingerprint(
    content: bytes,
    salt: bytes,
    n: int = SCRYPT_N,
    r: int = SCRYPT_R,
    p: int = SCRYPT_P,
    sha256: bytes | None = None,
) -> str:
    """scrypt(content, salt) in hex, computed once per process for the same arguments.
    The memo is keyed by the content's sha256 digest (``sha256``, if the caller has it),
    never shown, so old contents are not kept alive."""
    key = (_sha256(content, sha256), salt, n, r, p)
    with _lock:
        known = _fingerprints.get(key)
        if known is not None:
            _remember(_fingerprints, key)
            return known
    value = hashlib.scrypt(
        content, salt=salt, n=n, r=r, p=p, maxmem=256 * n * r * p + 2**20, dklen=DIGEST_BYTES
    ).hex()
    with _lock:
        _fingerprints[key] = value
        _remember(_fingerprints, key)
    return value


def new_version(name: str, content: bytes, sha256: bytes | None = None) -> NewVersion:
    """The suffix and salt of the version ``name`` would get for ``content``: drawn once
    per process, so the Secret's plan, the plans of the services rolling onto it and the
    apply all name the same version."""
    key = (name, _sha256(content, sha256))
    with _lock:
        known = _new.get(key)
        if known is None:
            known = NewVersion(secrets.token_hex(HASH_LENGTH // 2), os.urandom(SALT_BYTES))
            _new[key] = known
        _remember(_new, key)
        return known


def version_labels(content: bytes, salt: bytes, sha256: bytes | None = None) -> dict[str, str]:
    """The labels that let the operator recognise ``content`` in a version salted ``salt``."""
    digest = fingerprint(content, salt, sha256=sha256)
    return {
        labels.CONTENT_SALT: salt.hex(),
        labels.CONTENT_FINGERPRINT: f"scrypt:n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}:{digest}",
    }


def is_old_format(version_labels: Mapping[str, str]) -> bool:
    """Made before fingerprints: its name ends with a short sha256 of the content."""
    return labels.CONTENT_HASH in version_labels and labels.CONTENT_FINGERPRINT not in (
        version_labels
    )


def matches(content: bytes, version_labels: Mapping[str, str], sha256: bytes | None = None) -> bool:
    """Whether a version with these labels holds ``content`` (whose sha256 digest is
    ``sha256``, if the caller has it): its fingerprint with its own salt and costs, or
    (made before fingerprints) the sha256 its name ends with."""
    value = version_labels.get(labels.CONTENT_FINGERPRINT)
    if value is not None:
        found = _FORMAT.fullmatch(value)
        salt_hex = version_labels.get(labels.CONTENT_SALT, "")
        if found is None or not _HEX.fullmatch(salt_hex) or len(salt_hex) % 2:
            return False
        n, r, p = (int(found.group(i)) for i in (1, 2, 3))
        if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P):
            return False
        got = fingerprint(content, bytes.fromhex(salt_hex), n, r, p, sha256)
        return hmac.compare_digest(got, found.group(4))
    old = version_labels.get(labels.CONTENT_HASH, "").lower()
    if len(old) < HASH_LENGTH or not _HEX.fullmatch(old):
        return False
    return hmac.compare_digest(_sha256(content, sha256).hex()[: len(old)], old)


def shown(name: str, version_labels: Mapping[str, str]) -> str:
    """A version's name as plans and logs show it: an old-format name without its hash."""
    old = version_labels.get(labels.CONTENT_HASH, "")
    if is_old_format(version_labels) and old and name.endswith("-" + old):
        return f"{name[: -len(old)]}{HIDDEN}"
    return name
