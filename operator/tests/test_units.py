"""Durations, byte sizes and CPU amounts: what people write, and one canonical form back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarm_operator.manifests import units

S = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("0s", 0),
        ("10s", 10 * S),
        ("1m30s", 90 * S),
        ("90s", 90 * S),
        ("500ms", S // 2),
        ("1.5s", 3 * S // 2),
        ("2h", 7200 * S),
        ("1h1m1s1ms1us1ns", 3661 * S + 1_001_001),
        ("3µs", 3000),
        (" 5s ", 5 * S),
        (5, 5 * S),
        (0.25, S // 4),
    ],
)
def test_parse_duration(text: str | int | float, ns: int) -> None:
    assert units.parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "10", "s", "10 s", "1m 30s", "-5s", "5d", "1.s", "abc"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        units.parse_duration(text)


@pytest.mark.parametrize("value", [-1, -0.5, True])
def test_parse_duration_refuses_negative_and_bool(value: int | float) -> None:
    with pytest.raises(ValueError, match=r"negative|expected a duration"):
        units.parse_duration(value)


@pytest.mark.parametrize(
    ("ns", "text"),
    [(0, "0s"), (90 * S, "1m30s"), (S // 2, "500ms"), (3661 * S, "1h1m1s"), (1, "1ns")],
)
def test_format_duration(ns: int, text: str) -> None:
    assert units.format_duration(ns) == text


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("512M", 512 * 1024**2),
        ("512m", 512 * 1024**2),
        ("1G", 1024**3),
        ("1.5g", 1536 * 1024**2),
        ("64KiB", 64 * 1024),
        ("64kb", 64 * 1024),
        ("2T", 2 * 1024**4),
        ("100", 100),
        ("100b", 100),
        (" 8 M ", 8 * 1024**2),
        (4096, 4096),
    ],
)
def test_parse_bytes(text: str | int, count: int) -> None:
    assert units.parse_bytes(text) == count


@pytest.mark.parametrize("text", ["", "M", "12X", "1.2.3M", "-1M", "lots"])
def test_parse_bytes_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        units.parse_bytes(text)


def test_parse_bytes_refuses_negative_int_and_bool() -> None:
    with pytest.raises(ValueError, match="negative"):
        units.parse_bytes(-1)
    with pytest.raises(ValueError, match="expected a size"):
        units.parse_bytes(True)


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0"),
        (100, "100"),
        (1024, "1K"),
        (1536, "1536"),
        (512 * 1024**2, "512M"),
        (1024**3, "1G"),
    ],
)
def test_format_bytes(count: int, text: str) -> None:
    assert units.format_bytes(count) == text


@pytest.mark.parametrize(
    ("value", "nano"),
    [(0.5, S // 2), ("1.5", 3 * S // 2), (2, 2 * S), ("0.001", 1_000_000), (0, 0)],
)
def test_parse_cpus(value: str | int | float, nano: int) -> None:
    assert units.parse_cpus(value) == nano


@pytest.mark.parametrize("value", ["lots", "-1", -0.5, True])
def test_parse_cpus_refuses(value: str | float) -> None:
    with pytest.raises(ValueError, match="CPU"):
        units.parse_cpus(value)


@pytest.mark.parametrize(
    ("nano", "text"), [(S // 2, "0.5"), (2 * S, "2"), (0, "0"), (1, "0.000000001")]
)
def test_format_cpus(nano: int, text: str) -> None:
    assert units.format_cpus(nano) == text


def test_large_values_are_exact() -> None:
    # 2502h is beyond a float's exact range in nanoseconds (regression: floats lost 1ns).
    assert units.parse_duration("2502h1ns") == 2502 * 3600 * S + 1
    assert units.parse_bytes("9007199254740993") == 9007199254740993


def test_negative_values_cannot_be_formatted() -> None:
    with pytest.raises(ValueError):
        units.format_duration(-1)
    with pytest.raises(ValueError):
        units.format_bytes(-1)


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_duration_round_trip(ns: int) -> None:
    assert units.parse_duration(units.format_duration(ns)) == ns


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_bytes_round_trip(count: int) -> None:
    assert units.parse_bytes(units.format_bytes(count)) == count


@given(st.one_of(st.just(0), st.integers(min_value=10**6, max_value=10**12)))
def test_cpus_round_trip(nano: int) -> None:
    assert units.parse_cpus(units.format_cpus(nano)) == nano


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10_000), st.sampled_from(list(units.NS_PER_UNIT))
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_written_duration_is_its_sum(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{unit}" for n, unit in parts)
    assert units.parse_duration(text) == sum(n * units.NS_PER_UNIT[u] for n, u in parts)
