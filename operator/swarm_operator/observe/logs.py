"""Structured logging for the daemon: structlog set-up, secret redaction, reconcile context.

Owns how log lines look and what they must never contain. Named ``logs`` so that the
package never shadows the standard library's ``logging``.

- :func:`configure`: JSON lines when stderr is not a terminal (journald, docker logs,
  Loki), a readable console renderer when it is.
- :func:`redact`: a processor that replaces the values of secret-looking keys (``env``,
  ``password``, ``token``, ``secret``, ``auth``...) at any depth, and the old/new values
  of diff items whose field path points into the environment, by ``"[redacted]"``.
  Env *names* may be logged; env *values* never.
- :func:`reconcile_context`: binds ``kind``, ``name`` and a fresh ``reconcile_id`` to
  every line logged during one reconcile (contextvars, so each worker thread has its own).
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

REDACTED = "[redacted]"

_SECRET_KEY = re.compile(
    r"(?i)(^|[._\-\[])(env|environment|password|passwd|secret|secrets|token|auth|"
    r"authorization|credentials?|registry_auth|api_key|apikey)($|[._\-\]])"
)
_VALUE_KEYS = ("old", "new", "desired", "live", "value", "before", "after")
_PATH_KEYS = ("path", "field")


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key))


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 12:
        return value
    if isinstance(value, Mapping):
        path = next((value[k] for k in _PATH_KEYS if isinstance(value.get(k), str)), None)
        secret_path = path is not None and _is_secret_key(path)
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if _is_secret_key(key) or (secret_path and key in _VALUE_KEYS):
                out[key] = REDACTED
            else:
                out[key] = _scrub(item, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return type(value)(_scrub(item, depth + 1) for item in value)
    return value


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: never let an env value or another secret reach a log line."""
    for key in list(event_dict):
        if key == "event":
            continue
        if _is_secret_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def configure(json: bool | None = None, level: str = "INFO") -> None:
    """Set structlog up for this process; ``json=None`` picks by whether stderr is a tty."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def new_reconcile_id() -> str:
    return uuid.uuid4().hex[:12]


@contextmanager
def reconcile_context(kind: str, name: str, reconcile_id: str | None = None) -> Iterator[str]:
    """Bind kind, name and a reconcile id to every log line inside the block."""
    rid = reconcile_id or new_reconcile_id()
    with structlog.contextvars.bound_contextvars(kind=kind, name=name, reconcile_id=rid):
        yield rid


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
