"""The operator's own exceptions: what can go wrong talking to a Swarm, in our words.

Owns the exception tree and the one place where Docker's answers are classified
(`classify`). `swarm.client` translates every docker-py / requests error into one of
these, so no other module matches Docker's message text: the planner, the executor and
the daemon decide how to react (retry, re-plan, stall, give up) by type alone.

    SwarmOperatorError
    ├── DockerUnavailable        the engine cannot be reached (socket missing, refused,
    │                            connection reset, timed out): retry later
    ├── NotAManager              the engine answers but is not a Swarm manager (or not
    │                            in a Swarm at all): terminal until someone fixes it
    ├── EngineTooOld             a spec uses a field the engine's API version does not
    │                            accept (`swarm.api_versions`); refused before writing
    ├── RegistryAuthError        the credentials for an image's registry could not be
    │                            read (a credential helper failed); nothing was written
    └── ApiError                 the engine refused a request; carries Docker's text
        ├── Transient            Raft did not commit in time, a member promoted a moment
        │                        ago is not in the Raft group yet: re-read, try again
        ├── QuorumLost           the managers have no leader: every write fails until
        │                        quorum is back; stop writing, say so in /readyz
        ├── InvalidSpec          the engine rejects the spec itself (HTTP 400): retrying
        │                        cannot help; the object is stalled until its manifest
        │                        changes (or the next resync)
        ├── NotFound             the object does not exist (any more)
        │   └── NetworkGone      a service spec names a network that no longer exists
        │                        (replaced or being removed since the plan was made)
        ├── VersionConflict      "update out of sequence": someone changed the object
        │                        since we read it; re-read, re-plan, never overwrite
        └── Conflict             name already taken, ...
            └── InUse            a network still has endpoints (tasks leaving it)

`ApiError.explanation` is Docker's own message, shown to the user unchanged.
"""

from __future__ import annotations


class SwarmOperatorError(Exception):
    """Base of every error the operator raises on purpose."""


class DockerUnavailable(SwarmOperatorError):
    """The Docker engine could not be reached."""


class NotAManager(SwarmOperatorError):
    """The engine is not a manager of a Swarm, so it cannot list or change services."""


class EngineTooOld(SwarmOperatorError):
    """The spec needs a newer Engine API than the engine negotiated; nothing was written."""


class RegistryAuthError(SwarmOperatorError):
    """The Docker client configuration names a credential helper for the image's registry
    and it failed: the write is not sent (without credentials, workers could not pull)."""


class ApiError(SwarmOperatorError):
    """The engine answered a request with an error."""

    def __init__(self, message: str, *, status: int | None = None, explanation: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.explanation = explanation or message


class Transient(ApiError):
    """The engine could not do it now but may a moment later (Raft deadline, new member)."""


class QuorumLost(ApiError):
    """The Swarm's managers have no leader: nothing can be written until quorum is back."""


class InvalidSpec(ApiError):
    """The engine rejects the spec as invalid: terminal for this spec (stalled)."""


class NotFound(ApiError):
    """The object named in the request does not exist."""


class NetworkGone(NotFound):
    """A spec names a network that does not exist (any more)."""


class VersionConflict(ApiError):
    """The object changed since it was read (optimistic concurrency failed)."""


class Conflict(ApiError):
    """The request conflicts with the current state (name taken, still in use, ...)."""


class InUse(Conflict):
    """The object is still used (a network with active endpoints)."""


# Docker's words for each class, lower case. The only place that reads Docker's text.
_QUORUM = ("does not have a leader", "no leader", "lost leader", "quorum")
_TRANSIENT = (
    # Raft did not commit in time (e.g. while the manager set changes); the change may
    # or may not have happened, which the re-read before the next try finds out
    "context deadline exceeded",
    # a node promoted a moment ago has not joined the Raft group yet
    "can't find manager in raft memberlist",
    "connection reset by peer",
)
_OUT_OF_SEQUENCE = "out of sequence"
_NOT_MANAGER = ("not a swarm manager", "not part of a swarm")
_IN_USE = ("in use", "active endpoints")


def classify(text: str, status: int | None = None) -> SwarmOperatorError:
    """The error class of one answer of the engine (its message and HTTP status)."""
    low = text.lower()
    if _OUT_OF_SEQUENCE in low:
        return VersionConflict(text, status=status, explanation=text)
    if any(m in low for m in _NOT_MANAGER):
        return NotAManager(text)
    if any(m in low for m in _QUORUM):
        return QuorumLost(text, status=status, explanation=text)
    if any(m in low for m in _TRANSIENT):
        return Transient(text, status=status, explanation=text)
    if "network" in low and "not found" in low:
        return NetworkGone(text, status=status, explanation=text)
    if status == 404:
        return NotFound(text, status=status, explanation=text)
    if any(m in low for m in _IN_USE):
        return InUse(text, status=status, explanation=text)
    if status == 409:
        return Conflict(text, status=status, explanation=text)
    if status == 400:
        return InvalidSpec(text, status=status, explanation=text)
    return ApiError(text, status=status, explanation=text)
