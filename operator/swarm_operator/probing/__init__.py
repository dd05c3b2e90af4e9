"""Cross-host overlay reachability: a product of its own that the engine never imports.

Owns the probe service specs and the parsing of their output (`probe`), running probes
through a Swarm client (`runner`), the daemon's continuous probe loop (`loop`), the
reasoning from a matrix to findings (`diagnose`) and the doctor run (`doctor`). Used by
the `daemon` and the `cli`; an import contract keeps `engine` and this package apart.
"""

# Here, not in `probe`, so that `run --help` and `doctor --help` import no model.
PROBE_IMAGE_ENV = "SWARM_OPERATOR_PROBE_IMAGE"
DEFAULT_PROBE_IMAGE = "busybox:1.36"
"""The official busybox image, which has every tool the probe scripts use. Override with
`--probe-image` or $SWARM_OPERATOR_PROBE_IMAGE (a mirror in a private registry; the lab's
`swarm-operator lab env` exports its own)."""
