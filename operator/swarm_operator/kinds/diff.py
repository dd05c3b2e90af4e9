"""Field-level differences between two specs, and the rule that hides sensitive values.

Owns `Difference` (one field: ``path: before -> after``, in the manifest's own words),
`diff` (JSON-like values, deepest paths first) and sensitivity: a difference whose path
is under one of its kind's sensitive paths (``spec.env``; from the next kinds, secret
content) never carries its values out of the process. Its text is
``spec.env.DB_PASSWORD: (changed)`` and its JSON form says only whether each side is set
(`HIDDEN` or null): no hash of the value either, since an unsalted hash of a weak
password lets whoever reads a plan or a log test guesses offline. Plan output, logs,
``/status`` and metrics never see the value. Pure; used by every kind
(`kinds.base.Kind.differences`) and shown by the engine, the CLI and the daemon.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CHANGED = "(changed)"
HIDDEN = "(hidden)"


@dataclass(frozen=True)
class Difference:
    """One field that differs: ``path: before -> after`` (before = live, after = desired)."""

    path: str
    before: Any
    after: Any
    sensitive: bool = False
    """The values must never be shown (an env value, secret content)."""

    def __str__(self) -> str:
        if self.sensitive:
            return f"{self.path}: {CHANGED}"
        return f"{self.path}: {_show(self.before)} -> {_show(self.after)}"

    def to_dict(self) -> dict[str, Any]:
        if self.sensitive:
            return {
                "path": self.path,
                "sensitive": True,
                "before": hidden(self.before),
                "after": hidden(self.after),
            }
        return {"path": self.path, "before": self.before, "after": self.after}


def hidden(value: Any) -> str | None:
    """What stands in for a sensitive value: `HIDDEN` if set, None if unset."""
    return None if value is None else HIDDEN


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    return json.dumps(value, default=str)


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def child(path: str, key: str) -> str:
    return f"{path}.{key}" if _PLAIN_KEY.match(key) else f"{path}[{key!r}]"


def is_sensitive(path: str, sensitive: Sequence[str]) -> bool:
    """``path`` is one of the ``sensitive`` paths or lies under one."""
    return any(path == root or path.startswith((root + ".", root + "[")) for root in sensitive)


def diff(before: Any, after: Any, path: str = "spec") -> list[Difference]:
    """Field-level differences between two JSON-like values, deepest paths first."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[Difference] = []
        for key in sorted(set(before) | set(after)):
            out.extend(diff(before.get(key), after.get(key), child(path, str(key))))
        return out
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and len(before) == len(after)
        and all(isinstance(x, dict) for x in before + after)
    ):
        out = []
        for index, (b, a) in enumerate(zip(before, after, strict=True)):
            out.extend(diff(b, a, f"{path}[{index}]"))
        return out
    return [Difference(path, before, after)]


def mark(diffs: Sequence[Difference], sensitive: Sequence[str]) -> tuple[Difference, ...]:
    """The same differences, those on a sensitive path marked so."""
    return tuple(
        Difference(d.path, d.before, d.after, True) if is_sensitive(d.path, sensitive) else d
        for d in diffs
    )


def differences_of(
    before: Any, after: Any, sensitive: Sequence[str] = (), path: str = "spec"
) -> tuple[Difference, ...]:
    return mark(diff(before, after, path), sensitive)
