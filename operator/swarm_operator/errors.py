"""The operator's own exceptions: what can go wrong talking to a Swarm, in our words.

Owns the exception tree. `docker_api.py` translates every docker-py / requests error
into one of these, so no other module needs to know docker-py's exceptions, and the
planner, executor and daemon decide how to react (retry, re-plan, give up) by type:

    SwarmOperatorError
    ├── DockerUnavailable        the engine cannot be reached (socket missing, refused,
    │                            timed out): transient, retry later
    ├── NotAManager              the engine answers but is not a Swarm manager (or not
    │                            in a Swarm at all): terminal until someone fixes it
    ├── EngineTooOld             a spec uses a field the engine's API version does not
    │                            accept (`api_versions`); refused before writing
    └── ApiError                 the engine refused a request; carries Docker's text
        ├── NotFound             the object does not exist (any more)
        ├── VersionConflict      "update out of sequence": someone changed the object
        │                        since we read it; re-read, re-plan, never overwrite
        └── Conflict             name already taken, network still in use, ...

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


class ApiError(SwarmOperatorError):
    """The engine answered a request with an error."""

    def __init__(self, message: str, *, status: int | None = None, explanation: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.explanation = explanation or message


class NotFound(ApiError):
    """The object named in the request does not exist."""


class VersionConflict(ApiError):
    """The object changed since it was read (optimistic concurrency failed)."""


class Conflict(ApiError):
    """The request conflicts with the current state (name taken, still in use, ...)."""
