"""What the operator shows about itself: metrics, /status, the HTTP server, logs, revision.

Owns every Prometheus metric (`metrics`), the status board behind /status (`status`), the
HTTP endpoints (`server`), structured logs with redaction (`logs`), the manifest
directory's git revision (`revision`). Written by the `daemon`; knows no Docker.
"""
