"""What the operator shows about itself: metrics, /status, the HTTP server, logs, revision.

Owns every Prometheus metric (`metrics`), the status board behind /status (`status`), the
HTTP endpoints (`server`), structured logs with redaction (`logs`), the manifest
directory's git revision (`revision`). Written by the `daemon`; knows no Docker.
"""

# The metrics address and its parser, here so that `run --help` imports no HTTP server.
DEFAULT_ADDR = "127.0.0.1:9786"


def parse_addr(addr: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too; an empty host means all interfaces)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{addr!r} is not HOST:PORT (e.g. {DEFAULT_ADDR})")
    host = host.strip("[]")
    return host or "0.0.0.0", int(port)
