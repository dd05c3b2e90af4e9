"""Notifications (``run --notify URL``) through Apprise: one library for Slack, Teams,
Matrix, e-mail, ntfy, generic JSON webhooks and a hundred more, each a URL.

Owns what is sent and when, never how the daemon works: the daemon and its reporter call
`Notifier.problem` (a condition that holds: a sync that failed, a service degraded, a
node down, an overlay pair unreachable), `Notifier.resolved` (it no longer holds) and
`Notifier.event` (a one-off: a revision applied, drift corrected).

- **Deduplicated:** a problem is sent when it starts, not again while it holds; once
  resolved, it is sent again only after ``cooldown`` seconds (default 10 min) since its
  last message, so a flapping object sends one message, not hundreds. An event with the
  same key is sent at most once per ``cooldown``.
- **Rate-limited:** at most ``burst`` messages per minute for all keys together; more are
  dropped and counted (``swarm_operator_notifications_total{result="dropped"}``).
- **Never blocks a reconcile:** calls only put a message into a bounded queue (full:
  dropped and counted); a thread of its own sends them, each with Apprise's own network
  timeouts. A notifier that fails is logged (never with its URL: URLs carry tokens) and
  counted, and nothing else happens.
- **Never carries a secret:** messages are built from kinds, names, revisions, counts and
  the operator's own error texts (which never hold env values; `kinds.diff`), each cut
  to ``MAX_BODY`` characters.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from swarm_operator.observe import logs

log = logs.get_logger("swarm_operator.notify")

MAX_BODY = 1000
QUEUE_SIZE = 100


@dataclass(frozen=True)
class Message:
    key: str
    title: str
    body: str
    level: str = "info"
    """info | success | warning | failure (Apprise's notify types)."""


Sender = Callable[[Message], bool]


def apprise_sender(urls: Sequence[str]) -> Sender:
    """Send with Apprise to every URL; True when all of them took it."""
    import apprise

    app = apprise.Apprise()
    for i, url in enumerate(urls):
        if not app.add(url):
            raise ValueError(f"notification URL #{i + 1} is not one Apprise knows")
    kinds = {
        "info": apprise.NotifyType.INFO,
        "success": apprise.NotifyType.SUCCESS,
        "warning": apprise.NotifyType.WARNING,
        "failure": apprise.NotifyType.FAILURE,
    }

    def send(message: Message) -> bool:
        return bool(
            app.notify(title=message.title, body=message.body, notify_type=kinds[message.level])
        )

    return send


class Notifier:
    """Deduplicates, rate-limits and queues messages; a thread sends them."""

    def __init__(
        self,
        send: Sender,
        cooldown: float = 600.0,
        burst: int = 20,
        clock: Callable[[], float] = time.monotonic,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        self._send = send
        self._cooldown = cooldown
        self._burst = burst
        self._clock = clock
        self._on_result = on_result
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._last_sent: dict[str, float] = {}
        self._window: list[float] = []
        self._queue: queue.Queue[Message | None] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ the rules

    def problem(self, key: str, title: str, body: str, level: str = "failure") -> bool:
        """A condition holds: sent when it starts (unless it flapped within the cooldown)."""
        with self._lock:
            if key in self._active:
                return False
            self._active.add(key)
        return self._offer(Message(key, title, body, level))

    def resolved(self, key: str) -> None:
        """The condition no longer holds (nothing is sent: the next start may be)."""
        with self._lock:
            self._active.discard(key)

    def event(self, key: str, title: str, body: str, level: str = "info") -> bool:
        """A one-off, sent at most once per cooldown for the same key."""
        return self._offer(Message(key, title, body, level))

    def _offer(self, message: Message) -> bool:
        now = self._clock()
        with self._lock:
            last = self._last_sent.get(message.key)
            if last is not None and now - last < self._cooldown:
                self._count("suppressed")
                return False
            self._window = [t for t in self._window if now - t < 60.0]
            if len(self._window) >= self._burst:
                self._count("dropped")
                return False
            self._window.append(now)
            self._last_sent[message.key] = now
        body = message.body or message.title  # Apprise sends nothing without a body
        body = body if len(body) <= MAX_BODY else body[:MAX_BODY] + "…"
        try:
            self._queue.put_nowait(Message(message.key, message.title, body, message.level))
        except queue.Full:
            self._count("dropped")
            return False
        return True

    def _count(self, result: str) -> None:
        if self._on_result is not None:
            self._on_result(result)

    # ------------------------------------------------------------------ the thread

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name="swarm-operator-notify", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                return
            try:
                ok = self._send(message)
            except Exception as exc:  # a notifier's bug must not end the thread
                log.warning("notification failed", key=message.key, error=type(exc).__name__)
                ok = False
            if not ok:
                log.warning("a notifier did not take the message", key=message.key)
            self._count("sent" if ok else "failed")

    def stop(self, timeout: float = 10.0) -> None:
        """Send what is queued (for ``timeout`` s at most), then end the thread."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def pending(self) -> int:
        return self._queue.qsize()


def object_counts(kinds: Sequence[str]) -> str:
    """``3 objects (Network 1, Service 2)``."""
    counts: dict[str, int] = {}
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    inner = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
    return f"{len(kinds)} objects" + (f" ({inner})" if inner else "")


def describe(**fields: Any) -> str:
    """``a: 1, b: x`` of the fields that are set."""
    return ", ".join(f"{k}: {v}" for k, v in fields.items() if v not in (None, "", ()))
