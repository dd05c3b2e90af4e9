"""How ``swarm-operator run`` behaves: `DaemonOptions`, one field per command-line option.

Owns the daemon's settings and their defaults, each with a docstring; `cli.run` fills
them from the command line, `daemon.controller` reads them and hands the reconciler its
part (`reconcile_options`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from swarm_operator.daemon.gitsource import GitOptions
from swarm_operator.daemon.reconciler import ReconcileOptions
from swarm_operator.kinds import DEFAULT_MAX_PRUNE
from swarm_operator.observe import DEFAULT_ADDR


@dataclass(frozen=True)
class DaemonOptions:
    """How ``swarm-operator run`` behaves; one field per command-line option."""

    directory: Path
    """The manifest directory (a git work tree in the GitOps set-up)."""
    metrics_addr: str = DEFAULT_ADDR
    """HOST:PORT of /metrics, /healthz, /readyz, /status."""
    resync_interval: float = 180.0
    """Seconds between full resyncs (the safety net); jittered by ``resync_jitter``."""
    resync_jitter: float = 0.1
    workers: int = 2
    self_heal: bool = True
    """Correct drift; False: only report it (also per object: reconcile: disabled)."""
    prune: bool = False
    """Delete managed objects that are no longer declared."""
    max_prune: int = DEFAULT_MAX_PRUNE
    """Refuse every prune while more objects than this would be deleted."""
    host: str | None = None
    """Docker host of a manager (default DOCKER_HOST or the local socket)."""
    lease_duration: float = 15.0
    progress_requeue: float = 2.0
    """Seconds before looking again at a service that is converging."""
    degraded_requeue: float = 15.0
    health_interval: float = 5.0
    """Seconds between the supervisor's health checks of the manager (nodes listed)."""
    events_window: float = 5.0
    """Each events request streams this long, then resumes from its cursor."""
    identity: str | None = None
    probe: bool = True
    """Probe managed overlay networks continuously (``--no-probe``: never)."""
    probe_image: str | None = None
    """Default probe image (``--probe-image``; else $SWARM_OPERATOR_PROBE_IMAGE, else the
    lab's busybox); a network's ``spec.probe.image`` wins."""
    git: GitOptions | None = None
    """The git source (``--git URL``): ``directory`` is then its ``current/PATH``."""
    webhook_addr: str | None = None
    """HOST:PORT of the webhook listener (``--webhook-addr``; off when None)."""
    notify_urls: tuple[str, ...] = ()
    """Apprise URLs (``--notify``, ``--notify-file``); none: no notifications."""
    notify_cooldown: float = 600.0
    """A problem or event of the same key is sent at most once per this many seconds."""
    webhook_secret: bytes = b""
    """The webhooks' shared secret, read from ``--webhook-secret-file``."""
    registry_auth: bool = True
    """Send the Docker client configuration's credentials for an image's registry with
    every service write (``--no-registry-auth``: never); see `swarm.client`."""

    def reconcile_options(self) -> ReconcileOptions:
        return ReconcileOptions(
            self_heal=self.self_heal,
            prune=self.prune,
            progress_requeue=self.progress_requeue,
            degraded_requeue=self.degraded_requeue,
        )
