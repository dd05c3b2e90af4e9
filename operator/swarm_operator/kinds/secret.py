"""The Secret kind: a Swarm secret, versioned by content (all of it is `kinds.blob`'s).

Owns only what differs from a Config: the model, the engine's word (``secret``) and
events. The content comes from a file, the operator's environment or elsewhere
(``external``); it is never shown.
"""

from __future__ import annotations

from swarm_operator.kinds.blob import BlobKind
from swarm_operator.manifests.models import Secret


class SecretKind(BlobKind):
    name = "Secret"
    model = Secret
    event_type = "secret"
    noun = "secret"
    needs = ("Service",)


KIND = SecretKind()
