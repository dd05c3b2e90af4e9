"""The Config kind: a Swarm config, versioned by content (most of it is `kinds.blob`'s).

Owns what differs from a Secret: the model, the engine's word (``config``) and events,
and how a version is known to hold the declared content. Configs are not secret, so a
version is named by the content's sha256 (``<name>-<10 hex digits>``, labelled with the
same digits): the manifest alone names its version. The content comes from a file,
inline ``data`` or elsewhere (``external``).
"""

from __future__ import annotations

from typing import cast

from swarm_operator.kinds.base import LiveObject
from swarm_operator.kinds.blob import BlobKind
from swarm_operator.manifests.models import BlobManifest, Config
from swarm_operator.swarm import labels


class ConfigKind(BlobKind):
    name = "Config"
    model = Config
    event_type = "config"
    noun = "config"
    needs = ("Service",)

    def target(self, m: BlobManifest, live: LiveObject | None) -> str:
        return cast(Config, m).engine_name

    def content_labels(self, m: BlobManifest) -> dict[str, str]:
        return {labels.CONTENT_HASH: cast(Config, m).content_hash}


KIND = ConfigKind()
