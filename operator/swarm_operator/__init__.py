"""swarm-operator: keep a Docker Swarm equal to a directory of declarative manifests."""

__version__ = "0.1.0"
