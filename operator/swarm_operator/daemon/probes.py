"""The daemon's side of overlay probing: what the reconciler tells the probes, and the client
the probes call through.

Owns `ProbeHook` (the reconciler's `Probes`: a declared object of a probed kind wants a
probe with the settings its manifest gives, or none; a network about to be deleted or
replaced loses its probe at once) and `CurrentClient` (the Docker calls of a probe, made
on whatever client the daemon holds at the time: a probe outlives a reconnect).
Neighbours: `probing.loop.OverlayProbes` does the probing; `kinds.registry` says what a
manifest's probe settings are (`Kind.probe_config`); `daemon.controller` wires it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from swarm_operator.kinds import registry
from swarm_operator.manifests.models import Manifest
from swarm_operator.probing import probe
from swarm_operator.probing.loop import OverlayProbes
from swarm_operator.swarm.errors import DockerUnavailable

if TYPE_CHECKING:
    from swarm_operator.swarm.client import SwarmClient


class ProbeHook:
    def __init__(
        self, probes: OverlayProbes, *, enabled: bool = True, default_image: str | None = None
    ) -> None:
        self.probes = probes
        self.enabled = enabled
        self.default_image = default_image

    def settings(self, manifest: Manifest | None) -> probe.ProbeSettings | None:
        if not self.enabled or manifest is None:
            return None
        config = registry.of_manifest(manifest).probe_config(manifest)
        if config is None:
            return None
        spec, driver = config
        return probe.settings_for_network(spec, driver=driver, default_image=self.default_image)

    def want(self, name: str, manifest: Manifest | None) -> None:
        self.probes.want(name, self.settings(manifest))

    def remove_now(self, name: str) -> None:
        self.probes.remove_now(name)


class CurrentClient:
    """The Docker calls of a probe (`probing.runner.ProbeClient`), on the current client."""

    def __init__(self, get: Callable[[], SwarmClient | None]) -> None:
        self._get = get

    def _client(self) -> SwarmClient:
        client = self._get()
        if client is None:
            raise DockerUnavailable("not connected to a manager")
        return client

    def nodes(self, filters: Any = None) -> list[dict[str, Any]]:
        return self._client().nodes(filters)

    def networks(self, filters: Any = None) -> list[dict[str, Any]]:
        return self._client().networks(filters)

    def inspect_network(self, network: str) -> dict[str, Any]:
        return self._client().inspect_network(network)

    def services(self, filters: Any = None) -> list[dict[str, Any]]:
        return self._client().services(filters)

    def create_service(self, spec: dict[str, Any]) -> str:
        return self._client().create_service(spec)

    def remove_service(self, service_id: str) -> None:
        self._client().remove_service(service_id)

    def tasks(self, filters: Any = None) -> list[dict[str, Any]]:
        return self._client().tasks(filters)

    def service_logs(
        self, service_id: str, *, since: float = 0, tail: int | None = None
    ) -> list[str]:
        return self._client().service_logs(service_id, since=since, tail=tail)
