"""Durations, byte sizes and CPU amounts: parse what people write, print one canonical form.

Owns the unit grammar of the manifest language. Pure functions only; the models
(`manifests.models`) use them so that ``90s`` and ``1m30s`` are the same value, and the
planner never sees two spellings of one quantity. Docker's API speaks integers
(nanoseconds, bytes, nano-CPUs); these functions convert both ways.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from swarm_operator.manifests.engine_rules import INT64_MAX, MAX_DURATION_NS, MIN_NANO_CPUS

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


def _number(value: int | float, what: str) -> Fraction:
    """An exact YAML number; infinities and NaN are refused (``round(inf)`` would raise)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return Fraction(value)


def _show_number(value: int | float | str) -> str:
    text = repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


def _duration_ns(total: Fraction, value: int | float | str) -> int:
    ns = round(total)
    if ns > MAX_DURATION_NS:
        raise ValueError(
            f"duration {_show_number(value)} is too long: the engine's limit is about 292 years"
        )
    return ns


def parse_duration(value: str | int | float) -> int:
    """Return nanoseconds for ``"1m30s"``, ``"500ms"``, ``"0"`` (or a bare number of seconds).

    Raises ValueError with a message a person can act on (also beyond the engine's int64
    nanoseconds).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '10s' or '1m30s', got {value!r}")
    if isinstance(value, int | float):
        amount = _number(value, "a duration")
        if amount < 0:
            raise ValueError(f"duration must not be negative, got {_show_number(value)}")
        return _duration_ns(amount * NS_PER_UNIT["s"], value)
    text = value.strip()
    if text == "0":
        return 0
    pos = 0
    total = Fraction(0)  # exact: a float loses nanoseconds beyond ~104 days
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        if len(match.group(1)) > 40:  # far beyond any int64 of nanoseconds
            raise ValueError(f"duration {_show_number(value)} is too long")
        total += Fraction(match.group(1)) * NS_PER_UNIT[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(
            f"invalid duration {_show_number(value)}: use a number with a unit "
            "(ns, us, ms, s, m, h), e.g. '10s', '1m30s', '500ms'"
        )
    return _duration_ns(total, value)


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
            raise ValueError(f"size must not be negative, got {_show_number(value)}")
        count = value
    else:
        match = _SIZE.match(value)
        if not match or match.group(2).lower() not in BYTES_PER_UNIT or len(value) > 60:
            raise ValueError(
                f"invalid size {_show_number(value)}: use a number with an optional unit "
                "(b, k, m, g, t; binary), e.g. '512M', '1G'"
            )
        count = round(Fraction(match.group(1)) * BYTES_PER_UNIT[match.group(2).lower()])
    if count > INT64_MAX:
        raise ValueError(f"size {_show_number(value)} is beyond the engine's limit (8 EiB)")
    return count


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
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 40 or not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?", text):
            raise ValueError(
                f"invalid CPU amount {_show_number(value)}: use a number such as 0.5 or 2"
            )
        amount = Fraction(text)
    else:
        amount = _number(value, "a CPU amount")
    if amount < 0:
        raise ValueError(f"CPU amount must not be negative, got {_show_number(value)}")
    nano = amount * NANO_CPUS
    if 0 < nano < MIN_NANO_CPUS:
        # the engine refuses less; rounded to 0 it would silently mean "no limit"
        raise ValueError(f"CPU amount {_show_number(value)} is below the engine's minimum 0.001")
    if nano > INT64_MAX:
        raise ValueError(f"CPU amount {_show_number(value)} is beyond the engine's limit")
    return round(nano)


def format_cpus(nano: int) -> str:
    """Canonical text for nano-CPUs: ``500_000_000`` -> ``"0.5"``, ``2e9`` -> ``"2"``."""
    text = f"{nano / NANO_CPUS:.9f}".rstrip("0").rstrip(".")
    return text or "0"
