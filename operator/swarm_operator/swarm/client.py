"""The only door to the Docker Engine API: a thin `SwarmClient` around docker-py's APIClient.

Owns every call to Docker. No other module imports ``docker`` (or ``requests``). It speaks
the Engine API's own spec dicts (``Spec`` of a service, network, node) in and out: turning
them into manifest models and back is the job of each kind's module in `kinds`.

The API version is negotiated without a call of its own: the client starts at
``MIN_API_VERSION`` (no ``GET /version`` probe when it is built), and its first read
(``info``, or a list of services, networks or nodes) goes to the engine's unversioned path,
which the engine answers at its own API version and names in the ``Api-Version`` header of
every answer; that version is then used for every later call. A write before any read
negotiates with ``GET /version`` first. So a no-op plan is three calls (services, networks,
nodes), and a worker or an engine outside any Swarm answers the first list with Docker's
"not a swarm manager" (`NotAManager`).

Registry credentials: every service create and update carries the ``X-Registry-Auth``
header for its image's registry when the Docker client configuration has credentials for
it (``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``: ``auths`` entries,
``credsStore`` and ``credHelpers``, resolved by docker-py's `docker.auth`), as
``docker stack deploy --with-registry-auth`` does: the managers keep them with the service
and hand them to the nodes that pull its image. ``registry_auth=False``
(``--no-registry-auth``) never sends any; an update without them keeps those the service
already has (the engine's ``registryAuthFrom=spec``). The configuration is read again at
most every ``AUTH_TTL`` seconds, so a ``docker login`` reaches a running daemon. The
header is built here and goes nowhere else: no log line, error, plan or status names it.

Every docker-py/requests exception is translated into the tree of `swarm.errors`
(classified there, by `errors.classify`). Every call
is reported to an optional ``observer(call_name, seconds, ok)`` hook, which the metrics
module and the benchmark use to count API calls and their duration; ``calls`` counts them
here too, per call name.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

import docker
import docker.auth
import docker.errors
import docker.utils
import requests.exceptions

from swarm_operator.swarm.api_versions import unsupported
from swarm_operator.swarm.errors import (
    DockerUnavailable,
    EngineTooOld,
    NotAManager,
    RegistryAuthError,
    SwarmOperatorError,
    classify,
)

Observer = Callable[[str, float, bool], None]
"""Called after every API call with (call name, duration in seconds, succeeded)."""

JSON = dict[str, Any]
T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0


class Distribution(NamedTuple):
    """The registry's answer for an image tag (`SwarmClient.image_distribution`)."""

    digest: str
    """``sha256:...`` (empty if the registry gave none)."""
    platforms: list[dict[str, str]]
    """Architecture and OS of each platform, as ``Placement.Platforms`` lists them."""


def _digest_of(result: Any) -> str:
    return str((result.get("Descriptor") or {}).get("digest") or "")


def _platforms_of(result: Any) -> list[dict[str, str]]:
    return [
        {"Architecture": str(p.get("architecture") or ""), "OS": str(p.get("os") or "")}
        for p in result.get("Platforms") or []
        if isinstance(p, Mapping)
    ]


_NEGOTIATING = frozenset({"version", "info", "services", "networks", "nodes", "secrets", "configs"})
"""Calls that run before the version is known: `_read`'s, and the version probe itself."""
MIN_API_VERSION = "1.41"
"""The oldest Engine API the operator speaks (Docker 20.10); the start before negotiation."""
AUTH_TTL = 30.0
"""Seconds a registry's credentials, once read from the client configuration, are reused."""


def _translate(exc: Exception) -> SwarmOperatorError:
    if isinstance(exc, docker.errors.APIError):
        status = exc.status_code
        if status is None and isinstance(exc, docker.errors.NotFound):
            status = 404
        return classify(str(exc.explanation or exc), status)
    if isinstance(exc, requests.exceptions.RequestException | ConnectionError | OSError):
        return DockerUnavailable(f"cannot reach the Docker engine: {exc}")
    if isinstance(exc, docker.errors.DockerException):
        return DockerUnavailable(str(exc))
    return SwarmOperatorError(str(exc))


class RegistryAuth:
    """The ``X-Registry-Auth`` header of each registry, from the Docker client
    configuration, kept ``AUTH_TTL`` seconds; shared by a client and its clones."""

    def __init__(self, enabled: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, str | None]] = {}

    def header(self, image: str) -> dict[str, str]:
        """``{"X-Registry-Auth": ...}`` for ``image``'s registry, or ``{}`` when sending is
        off or the configuration has no credentials for that registry."""
        if not self.enabled or not image:
            return {}
        try:
            registry, _repo = docker.auth.resolve_repository_name(image)
        except docker.errors.DockerException:
            return {}  # not a reference docker-py can split: the engine will say why
        now = self._clock()
        with self._lock:
            cached = self._cache.get(registry)
            if cached is not None and cached[0] > now:
                encoded = cached[1]
            else:
                encoded = self._read(registry)
                self._cache[registry] = (now + AUTH_TTL, encoded)
        return {"X-Registry-Auth": encoded} if encoded else {}

    @staticmethod
    def _read(registry: str) -> str | None:
        try:
            config = docker.auth.load_config()
            found = docker.auth.resolve_authconfig(config, registry)
        except docker.errors.DockerException as exc:  # a credential helper failed
            raise RegistryAuthError(
                f"cannot read the credentials for registry {registry} from the Docker "
                f"client configuration: {exc} (--no-registry-auth sends none)"
            ) from None
        return str(docker.auth.encode_header(found), "ascii") if found else None


class SwarmClient:
    """Low-level Swarm calls with our error types, a call counter and a timing hook."""

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        observer: Observer | None = None,
        registry_auth: bool | RegistryAuth = True,
    ) -> None:
        self.host = host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        self.observer = observer
        self.registry_auth = (
            registry_auth
            if isinstance(registry_auth, RegistryAuth)
            else RegistryAuth(registry_auth)
        )
        self.timeout = timeout
        self.calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        self._negotiated = False
        try:
            # Any: docker-py's stubs are partial; the spec dicts are checked by the engine.
            # A fixed version: docker-py makes no call here; see `_unversioned_get`.
            self._api: Any = docker.APIClient(
                base_url=self.host, version=MIN_API_VERSION, timeout=int(timeout)
            )
        except Exception as exc:  # e.g. a malformed DOCKER_HOST
            raise DockerUnavailable(
                f"cannot reach the Docker engine at {self.host}: {exc}"
            ) from exc

    def close(self) -> None:
        self._api.close()

    def clone(self) -> SwarmClient:
        """Another client of the same engine on a connection of its own, for one worker
        of a concurrent apply (docker-py's clients are not safe to share between threads).
        It speaks the API version already negotiated (no call to learn it again) and
        counts its calls in this client's ``calls``."""
        self._negotiate()
        other = SwarmClient(
            self.host,
            timeout=self.timeout,
            observer=self.observer,
            registry_auth=self.registry_auth,
        )
        other._adopt(str(self._api.api_version))
        other.calls = self.calls
        other._calls_lock = self._calls_lock
        return other

    @property
    def api_version(self) -> str:
        """The Engine API version negotiated with the engine (its own, e.g. 1.41, 1.45)."""
        self._negotiate()
        return str(self._api.api_version)

    @property
    def negotiated_api_version(self) -> str | None:
        """The API version, if a call already negotiated it (None: no call made yet);
        unlike `api_version`, never asks the engine."""
        return str(self._api.api_version) if self._negotiated else None

    def _negotiate(self) -> None:
        """Learn the engine's API version with ``GET /version`` unless a read already did."""
        if not self._negotiated:
            version = self._call("version", lambda: self._api.version(api_version=False))
            self._adopt(str(version.get("ApiVersion") or ""))

    def _adopt(self, version: str) -> None:
        if version:
            self._api._version = version
            self._negotiated = True

    def _read(self, name: str, path: str, fn: Callable[[], T], filters: Mapping[str, Any]) -> T:
        """A read; the first one also negotiates the API version (see the module docstring)."""
        if self._negotiated:
            return self._call(name, fn)

        def unversioned() -> Any:
            params = {"filters": docker.utils.convert_filters(dict(filters))} if filters else {}
            response = self._api._get(f"{self._api.base_url}{path}", params=params)
            result = self._api._result(response, json=True)
            self._adopt(str(response.headers.get("Api-Version") or ""))
            return result

        return self._call(name, unversioned)  # type: ignore[no-any-return]

    def _require_fields(self, spec: JSON) -> None:
        """Refuse a service spec with fields this engine's API version does not accept
        (`api_versions.SERVICE_FIELDS`), before anything is written."""
        problems = unsupported(spec, self.api_version)
        if problems:
            name = spec.get("Name") or "service"
            raise EngineTooOld(f"{name}: " + "; ".join(problems))

    def _call(self, name: str, fn: Callable[[], T]) -> T:
        if not self._negotiated and name not in _NEGOTIATING:
            self._negotiate()
        with self._calls_lock:
            self.calls[name] += 1
        start = time.perf_counter()
        ok = False
        try:
            result = fn()
            ok = True
            return result
        except SwarmOperatorError:
            raise
        except Exception as exc:
            raise _translate(exc) from exc
        finally:
            if self.observer is not None:
                self.observer(name, time.perf_counter() - start, ok)

    # ------------------------------------------------------------------ swarm

    def info(self) -> JSON:
        return self._read("info", "/info", self._api.info, {})

    def require_manager(self) -> JSON:
        """Return ``info()['Swarm']``; raise NotAManager unless this engine is a manager."""
        swarm: JSON = self.info().get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active":
            raise NotAManager(
                f"the engine at {self.host} is not part of a Swarm "
                f"(state {swarm.get('LocalNodeState') or 'inactive'!r})"
            )
        if not swarm.get("ControlAvailable"):
            raise NotAManager(f"the engine at {self.host} is a Swarm worker, not a manager")
        return swarm

    def inspect_swarm(self) -> JSON:
        """The Swarm object (``Spec``, ``Version``); the daemon keeps its lease in its labels."""
        return dict(self._call("inspect_swarm", self._api.inspect_swarm))

    def update_swarm(self, version: int, spec: JSON) -> None:
        """Replace the Swarm's spec if it is still at ``version`` (else VersionConflict)."""
        self._call("update_swarm", lambda: self._api.update_swarm(version=version, swarm_spec=spec))

    # ------------------------------------------------------------------ services

    def services(self, filters: Mapping[str, Any] | None = None) -> list[JSON]:
        wanted = dict(filters or {})
        return self._read(
            "services", "/services", lambda: self._api.services(filters=wanted), wanted
        )

    def inspect_service(self, service: str) -> JSON:
        return self._call("inspect_service", lambda: self._api.inspect_service(service))

    def _image_auth(self, spec: JSON) -> dict[str, str]:
        image = str(((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", ""))
        return self.registry_auth.header(image)

    def _post_spec(
        self, spec: JSON, path: str, *args: str, params: Mapping[str, Any] | None = None
    ) -> Any:
        """POST a whole ``ServiceSpec`` with the image's registry credentials, if any.
        (docker-py's own create and update would read the client configuration
        themselves, once, and could not be told not to send it.)"""
        headers = self._image_auth(spec)
        response = self._api._post_json(
            self._api._url(path, *args), data=spec, params=dict(params or {}), headers=headers
        )
        return self._api._result(response, json=True)

    def create_service(self, spec: JSON) -> str:
        """Create a service from a full ``ServiceSpec`` dict; return its ID."""
        self._require_fields(spec)
        result = self._call("create_service", lambda: self._post_spec(spec, "/services/create"))
        return str(result["ID"])

    def update_service(self, service_id: str, version: int, spec: JSON) -> JSON:
        """Replace the service's spec with ``spec`` if it is still at ``version``."""
        self._require_fields(spec)
        body = {**spec, "Labels": spec.get("Labels") or {}}
        body["EndpointSpec"] = spec.get("EndpointSpec") or {}
        result = self._call(
            "update_service",
            lambda: self._post_spec(
                body, "/services/{0}/update", service_id, params={"version": version}
            ),
        )
        return dict(result or {})

    def image_digest(self, image: str) -> str:
        """The digest (``sha256:...``) that ``image``'s tag names in its registry now, asked
        through the manager (``GET /distribution/{image}/json``, the call ``docker service
        create`` resolves a tag with), with the same registry credentials as service
        writes. `NotFound` if the registry has no such tag; an unreachable registry or
        refused credentials is an `ApiError` naming it."""

        result = self._call("image_digest", lambda: self._distribution(image))
        return _digest_of(result)

    def image_distribution(self, image: str) -> Distribution:
        """The digest ``image``'s tag names now and the platforms it is built for, from one
        question to the registry (asked like `image_digest`): a service write that pins
        the digest and fills in ``Placement.Platforms`` asks once."""
        result = self._call("image_distribution", lambda: self._distribution(image))
        return Distribution(_digest_of(result), _platforms_of(result))

    def _distribution(self, image: str) -> Any:
        headers = self.registry_auth.header(image)
        response = self._api._get(self._api._url("/distribution/{0}/json", image), headers=headers)
        return self._api._result(response, json=True)

    def remove_service(self, service_id: str) -> None:
        self._call("remove_service", lambda: self._api.remove_service(service_id))

    def tasks(self, filters: Mapping[str, Any] | None = None) -> list[JSON]:
        return self._call("tasks", lambda: self._api.tasks(filters=dict(filters or {})))

    def service_logs(
        self, service_id: str, *, since: float = 0, tail: int | None = None
    ) -> list[str]:
        """Lines the service's tasks printed on every node (stdout and stderr), read through
        the manager, oldest first; ``since`` is a Unix time (fractions allowed). The probe
        (`probing.runner`) reads its measurements this way."""

        def read() -> list[str]:
            frames = self._api.service_logs(
                service_id,
                stdout=True,
                stderr=True,
                follow=False,
                since=since,
                tail="all" if tail is None else str(tail),
                is_tty=False,
            )
            data = frames if isinstance(frames, bytes) else b"".join(frames)
            return data.decode("utf-8", "replace").splitlines()

        return self._call("service_logs", read)

    # ------------------------------------------------------------------ networks

    def networks(self, filters: Mapping[str, Any] | None = None) -> list[JSON]:
        wanted = dict(filters or {})
        return self._read(
            "networks", "/networks", lambda: self._api.networks(filters=wanted), wanted
        )

    def inspect_network(self, network: str) -> JSON:
        return self._call("inspect_network", lambda: self._api.inspect_network(network))

    def create_network(self, spec: JSON) -> str:
        """Create a network from a ``NetworkCreate`` dict (Name, Driver, IPAM, ...)."""
        result = self._call(
            "create_network",
            lambda: self._api.create_network(
                spec["Name"],
                driver=spec.get("Driver"),
                options=spec.get("Options") or None,
                ipam=spec.get("IPAM"),
                check_duplicate=True,
                internal=bool(spec.get("Internal")),
                labels=spec.get("Labels") or None,
                enable_ipv6=bool(spec.get("EnableIPv6")),
                attachable=bool(spec.get("Attachable")),
                scope=spec.get("Scope"),
            ),
        )
        return str(result["Id"])

    def remove_network(self, network_id: str) -> None:
        self._call("remove_network", lambda: self._api.remove_network(network_id))

    # ------------------------------------------------------------------ secrets, configs

    def secrets(self, filters: Mapping[str, Any] | None = None) -> list[JSON]:
        """Secrets as the engine lists them (metadata only: the engine never returns data)."""
        wanted = dict(filters or {})
        return self._read("secrets", "/secrets", lambda: self._api.secrets(filters=wanted), wanted)

    def create_secret(self, name: str, data: bytes, labels: Mapping[str, str]) -> str:
        result = self._call(
            "create_secret", lambda: self._api.create_secret(name, data, labels=dict(labels))
        )
        return str(result["ID"])

    def remove_secret(self, secret_id: str) -> None:
        self._call("remove_secret", lambda: self._api.remove_secret(secret_id))

    def relabel_secret(self, secret_id: str, labels: Mapping[str, str]) -> None:
        """Set a secret's labels (the only thing Swarm lets change in one)."""
        self._relabel("secret", secret_id, labels)

    def relabel_config(self, config_id: str, labels: Mapping[str, str]) -> None:
        self._relabel("config", config_id, labels)

    def _relabel(self, noun: str, object_id: str, labels: Mapping[str, str]) -> None:
        def update() -> None:
            raw = getattr(self._api, f"inspect_{noun}")(object_id)
            spec = {**raw["Spec"], "Labels": dict(labels)}
            url = self._api._url(f"/{noun}s/{{0}}/update", object_id)
            version = int((raw.get("Version") or {}).get("Index", 0))
            response = self._api._post_json(url, data=spec, params={"version": version})
            self._api._raise_for_status(response)

        self._call(f"relabel_{noun}", update)

    def configs(self, filters: Mapping[str, Any] | None = None) -> list[JSON]:
        wanted = dict(filters or {})
        return self._read("configs", "/configs", lambda: self._api.configs(filters=wanted), wanted)

    def create_config(self, name: str, data: bytes, labels: Mapping[str, str]) -> str:
        result = self._call(
            "create_config", lambda: self._api.create_config(name, data, labels=dict(labels))
        )
        return str(result["ID"])

    def remove_config(self, config_id: str) -> None:
        self._call("remove_config", lambda: self._api.remove_config(config_id))

    # ------------------------------------------------------------------ nodes

    def nodes(self, filters: Mapping[str, Any] | None = None) -> list[JSON]:
        wanted = dict(filters or {})
        return self._read("nodes", "/nodes", lambda: self._api.nodes(filters=wanted), wanted)

    def inspect_node(self, node_id: str) -> JSON:
        return self._call("inspect_node", lambda: self._api.inspect_node(node_id))

    def update_node(self, node_id: str, version: int, spec: JSON) -> None:
        """Replace the node's whole spec (merge into the live one first) at ``version``."""
        self._call(
            "update_node",
            lambda: self._api.update_node(node_id, version, node_spec=spec),
        )

    # ------------------------------------------------------------------ events

    def events(
        self,
        since: float | None = None,
        until: float | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> Iterator[JSON]:
        """Engine events as dicts (those ``filters`` select; the daemon asks for the event
        types of its kinds).

        Blocks while waiting for events (until ``until`` if given). Errors while reading
        the stream are raised as `DockerUnavailable`.
        """
        wanted = dict(filters or {})
        stream = self._call(
            "events",
            lambda: self._api.events(since=since, until=until, filters=wanted, decode=True),
        )
        try:
            yield from stream
        except SwarmOperatorError:
            raise
        except Exception as exc:
            raise _translate(exc) from exc
