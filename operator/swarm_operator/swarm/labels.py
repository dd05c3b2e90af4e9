"""The vocabulary of labels and engine options the operator reads and writes on live objects.

Owns every ``io.swarm-operator.*`` label key (ownership, spec hash, requested image, probe
services, the lease in the Swarm's own labels), the user-set protect label, and the engine
option keys more than one module needs (a network's MTU and encryption). Nothing here does
I/O or imports docker; `kinds` (ownership), `probing` (probe services) and `daemon.lease`
(the lease) read their keys from here, so a key is spelt once.
"""

from __future__ import annotations

from collections.abc import Mapping

PREFIX = "io.swarm-operator."
"""Labels the operator writes itself; never part of a manifest's labels."""

MANAGED_BY = "io.swarm-operator.managed-by"
MANAGER = "swarm-operator"
"""``MANAGED_BY=MANAGER``: the operator owns this object (it may update and prune it)."""
SPEC_HASH = "io.swarm-operator.spec-hash"
IMAGE = "io.swarm-operator.image"
"""The image as the manifest wrote it; the engine (or the CLI) may pin a digest into it."""
OBJECT = "io.swarm-operator.object"
"""On a version of a Secret or Config: the manifest's name (the engine object is called
``<name>-<10 hex digits>``, `kinds.blob`)."""
CONTENT_HASH = "io.swarm-operator.content-hash"
"""On a version of a Config (and of a Secret made before fingerprints): the short sha256
of the content that its engine name ends with."""
CONTENT_SALT = "io.swarm-operator.content-salt"
"""On a version of a Secret: the random salt of its fingerprint, hex (`kinds.fingerprint`)."""
CONTENT_FINGERPRINT = "io.swarm-operator.content-fingerprint"
"""On a version of a Secret: ``scrypt:n=..,r=..,p=..:<hex>`` of the content with that salt."""
PROTECT = "swarm-operator/protect"
"""A live label ``swarm-operator/protect=true`` keeps the object from ever being pruned."""

# Probe services (`probing`): the operator's own plumbing, never user drift, never pruned.
ROLE = "io.swarm-operator.role"
ROLE_PROBE = "probe"
PROBE_KIND = "io.swarm-operator.probe"  # "overlay" | "host"
PROBE_NETWORK = "io.swarm-operator.network"
PROBE_OWNER = "io.swarm-operator.probe-owner"  # "doctor" | "daemon"
PROBE_RUN = "io.swarm-operator.probe-run"  # a doctor run's id: what to clean up

# The daemon's lease, in the labels of the Swarm object itself (`daemon.lease`).
LEASE_HOLDER = "io.swarm-operator.lease.holder"
LEASE_RENEWED = "io.swarm-operator.lease.renewed"
LEASE_DURATION = "io.swarm-operator.lease.duration"

# Engine options of overlay networks that more than one module reads.
OPTION_ENCRYPTED = "encrypted"
OPTION_MTU = "com.docker.network.driver.mtu"


def is_managed(labels: Mapping[str, str] | None) -> bool:
    return (labels or {}).get(MANAGED_BY) == MANAGER


def is_protected(labels: Mapping[str, str] | None) -> bool:
    return str((labels or {}).get(PROTECT, "")).lower() == "true"


def is_probe(labels: Mapping[str, str] | None) -> bool:
    """A probe service (or its network) of doctor or the daemon."""
    return (labels or {}).get(ROLE) == ROLE_PROBE


def user_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """The labels a manifest may declare: all but the operator's own."""
    return {k: v for k, v in (labels or {}).items() if not k.startswith(PREFIX)}
