"""The Secret kind: a Swarm secret, versioned by content (most of it is `kinds.blob`'s).

Owns what differs from a Config: the model, the engine's word (``secret``) and events,
and how a version is known to hold the declared content. A secret's name and labels must
not help anyone who can list secrets guess its content, so a version is named
``<name>-<random hex>`` and labelled with a random salt and the salted scrypt of the
content (`kinds.fingerprint`); the version that holds the content is the live one whose
fingerprint matches (or, made before fingerprints, whose sha256 label matches: an upgrade
rotates nothing), else a new one. The content comes from a file, the operator's
environment or elsewhere (``external``); it is never shown.
"""

from __future__ import annotations

from swarm_operator.kinds import fingerprint
from swarm_operator.kinds.base import LiveObject
from swarm_operator.kinds.blob import BlobKind, Version
from swarm_operator.manifests.models import BlobManifest, Secret


class SecretKind(BlobKind):
    name = "Secret"
    model = Secret
    event_type = "secret"
    noun = "secret"
    needs = ("Service",)

    def target(self, m: BlobManifest, live: LiveObject | None) -> str:
        versions: tuple[Version, ...] = live.detail if live is not None and live.managed else ()
        for version in reversed(versions):  # the newest first: usually the one
            if fingerprint.matches(m.content, version.labels, m.content_sha256):
                return version.name
        return f"{m.name}-{fingerprint.new_version(m.name, m.content, m.content_sha256).suffix}"

    def content_labels(self, m: BlobManifest) -> dict[str, str]:
        new = fingerprint.new_version(m.name, m.content, m.content_sha256)
        return fingerprint.version_labels(m.content, new.salt, m.content_sha256)

    def shown(self, version: Version) -> str:
        return fingerprint.shown(version.name, version.labels)


KIND = SecretKind()
