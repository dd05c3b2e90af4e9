"""The Config kind: a Swarm config, versioned by content (all of it is `kinds.blob`'s).

Owns only what differs from a Secret: the model, the engine's word (``config``) and
events. The content comes from a file, inline ``data`` or elsewhere (``external``).
"""

from __future__ import annotations

from swarm_operator.kinds.blob import BlobKind
from swarm_operator.manifests.models import Config


class ConfigKind(BlobKind):
    name = "Config"
    model = Config
    event_type = "config"
    noun = "config"
    needs = ("Service",)


KIND = ConfigKind()
