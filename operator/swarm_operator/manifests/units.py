"""Durations, byte sizes and CPU amounts: parse what people write, print one canonical form.

Owns the unit grammar of the manifest language. Pure functions only; the models
(`manifests.models`) use them so that ``90s`` and ``1m30s`` are the same value, and the
planner never sees two spellings of one quantity. Docker's API speaks integers
(nanoseconds, bytes, nano-CPUs); these functions convert both ways.
"""

from __future__ import annotations

import re
from fractions import Fraction

NS_PER_UNIT: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")

BYTES_PER_UNIT: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1024**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")

NANO_CPUS = 1_000_000_000


def parse_duration(value: str | int | float) -> int:
    """Return nanoseconds for ``"1m30s"``, ``"500ms"``, ``"0"`` (or a bare number of seconds).

    Raises ValueError with a message a person can act on.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '10s' or '1m30s', got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration must not be negative, got {value!r}")
        return round(value * NS_PER_UNIT["s"])
    text = value.strip()
    if text == "0":
        return 0
    pos = 0
    total = Fraction(0)  # exact: a float loses nanoseconds beyond ~104 days
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += Fraction(match.group(1)) * NS_PER_UNIT[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(
            f"invalid duration {value!r}: use a number with a unit (ns, us, ms, s, m, h), "
            "e.g. '10s', '1m30s', '500ms'"
        )
    return round(total)


def format_duration(ns: int) -> str:
    """Canonical text for a duration: ``90_000_000_000`` -> ``"1m30s"``; 0 -> ``"0s"``."""
    if ns < 0:
        raise ValueError(f"duration must not be negative, got {ns}")
    if ns == 0:
        return "0s"
    parts: list[str] = []
    rest = ns
    for unit in ("h", "m", "s", "ms", "us", "ns"):
        size = NS_PER_UNIT[unit]
        if rest >= size:
            count, rest = divmod(rest, size)
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_bytes(value: str | int) -> int:
    """Return bytes for ``"512M"``, ``"1.5g"``, ``"64KiB"`` or a bare integer (binary units)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size like '512M', got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"size must not be negative, got {value}")
        return value
    match = _SIZE.match(value)
    if not match or match.group(2).lower() not in BYTES_PER_UNIT:
        raise ValueError(
            f"invalid size {value!r}: use a number with an optional unit "
            "(b, k, m, g, t; binary), e.g. '512M', '1G'"
        )
    return round(Fraction(match.group(1)) * BYTES_PER_UNIT[match.group(2).lower()])


def format_bytes(count: int) -> str:
    """Canonical text for a size: the largest binary unit that divides it exactly (``"512M"``)."""
    if count < 0:
        raise ValueError(f"size must not be negative, got {count}")
    for unit in ("T", "G", "M", "K"):
        size = BYTES_PER_UNIT[unit.lower()]
        if count and count % size == 0:
            return f"{count // size}{unit}"
    return str(count)


def parse_cpus(value: str | int | float) -> int:
    """Return nano-CPUs for ``0.5``, ``"1.5"`` or ``2``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number of CPUs like 0.5, got {value!r}")
    try:
        amount = float(value)
    except ValueError:
        raise ValueError(f"invalid CPU amount {value!r}: use a number such as 0.5 or 2") from None
    if amount < 0:
        raise ValueError(f"CPU amount must not be negative, got {value!r}")
    return round(amount * NANO_CPUS)


def format_cpus(nano: int) -> str:
    """Canonical text for nano-CPUs: ``500_000_000`` -> ``"0.5"``, ``2e9`` -> ``"2"``."""
    text = f"{nano / NANO_CPUS:.9f}".rstrip("0").rstrip(".")
    return text or "0"
